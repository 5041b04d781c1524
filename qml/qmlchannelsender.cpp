#include "qmlchannelsender.h"

#include <QtCore/qcoreapplication.h>

namespace Qonduit {

QmlChannelSender::QmlChannelSender(QObject *parent)
    : QmlEndpoint(parent)
    , m_connector(ChannelConnector::Watched::Sender)
{
    reportFrom(m_connector);
    connect(&m_connector, &ChannelConnector::channelOpened, this, &QmlChannelSender::hookSender);
}

void QmlChannelSender::setTarget(const QUrl &target)
{
    if (m_connector.setUrl(target))
        Q_EMIT targetChanged();
}

void QmlChannelSender::setReconnectInterval(int milliseconds)
{
    if (m_connector.setReconnectInterval(milliseconds))
        Q_EMIT reconnectIntervalChanged();
}

bool QmlChannelSender::send(const QJSValue &value)
{
    const std::optional<JsValues::Outgoing> outgoing = outgoingMessage(value, m_connector.isInProcess());
    if (!outgoing)
        return false;
    m_connector.ensureChannel();
    ChannelSender *sender = m_connector.sender();
    if (!sender) {
        setError(Qonduit::Error::ChannelClosedError,
                 QCoreApplication::translate("Qonduit::ChannelSender", "send() needs a target to send to."));
        return false;
    }
    const bool queued = outgoing->sendThrough(*sender);
    if (queued) {
        ++m_sentCount;
        Q_EMIT sentCountChanged();
    }
    return queued;
}

void QmlChannelSender::hookSender()
{
    connect(m_connector.sender(), &ChannelSender::readyToSend, this, &QmlChannelSender::readyToSend);
}

} // namespace Qonduit
