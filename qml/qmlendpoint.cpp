#include "qmlendpoint.h"

#include "channelconnector.h"

namespace Qonduit {

void QmlEndpoint::setStatus(Status status)
{
    if (m_status == status)
        return;
    m_status = status;
    Q_EMIT statusChanged();
}

void QmlEndpoint::setError(Qonduit::Error error, const QString &text)
{
    if (m_error == error && m_errorString == text)
        return;
    m_error = error;
    m_errorString = text;
    Q_EMIT errorChanged();
}

void QmlEndpoint::reportFrom(ChannelConnector &connector)
{
    connect(&connector, &ChannelConnector::statusReport, this, &QmlEndpoint::setStatus);
    connect(&connector, &ChannelConnector::errorReport, this, &QmlEndpoint::setError);
}

std::optional<JsValues::Outgoing> QmlEndpoint::outgoingMessage(const QJSValue &value, bool inProcess)
{
    QString errorText;
    std::optional<JsValues::Outgoing> outgoing = JsValues::fromJs(value, inProcess, errorText);
    if (!outgoing)
        setError(Qonduit::Error::MessageEncodeError, errorText);
    return outgoing;
}

} // namespace Qonduit
