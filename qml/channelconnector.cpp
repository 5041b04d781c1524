#include "channelconnector.h"

#include "jsvalues.h"

#include <utility>

namespace Qonduit {

ChannelConnector::ChannelConnector(Watched watched, QObject *parent)
    : QObject(parent)
    , m_watched(watched)
{
    m_connectTimer.setSingleShot(true);
    connect(&m_connectTimer, &QTimer::timeout, this, &ChannelConnector::connectNow);
}

ChannelConnector::~ChannelConnector()
{
    closeChannel();
}

bool ChannelConnector::setUrl(const QUrl &url)
{
    if (m_url == url)
        return false;
    m_url = url;
    closeChannel();
    if (m_url.isEmpty()) {
        m_connectTimer.stop();
        Q_EMIT errorReport(Error::NoError, QString());
        Q_EMIT statusReport(QmlEndpoint::Null);
        return true;
    }
    Q_EMIT statusReport(QmlEndpoint::Connecting);
    m_connectTimer.start(0);
    return true;
}

bool ChannelConnector::setReconnectInterval(int milliseconds)
{
    milliseconds = qMax(0, milliseconds);
    return std::exchange(m_reconnectInterval, milliseconds) != milliseconds;
}

void ChannelConnector::ensureChannel()
{
    if (!m_pair.sender && !m_url.isEmpty()) {
        m_connectTimer.stop();
        connectNow();
    }
}

bool ChannelConnector::isInProcess() const
{
    return JsValues::isInProcess(m_url);
}

void ChannelConnector::connectNow()
{
    closeChannel();
    m_pair = Channel::connectTo(m_url, m_options);
    follow(watchedEnd());
    Q_EMIT statusReport(QmlEndpoint::Connecting);
    Q_EMIT channelOpened();
}

void ChannelConnector::closeChannel()
{
    for (ChannelEndpoint *end : std::initializer_list<ChannelEndpoint *>{m_pair.sender.get(), m_pair.receiver.get()}) {
        if (end)
            end->disconnect(this);
    }
    m_pair = {};
}

ChannelEndpoint *ChannelConnector::watchedEnd() const
{
    return m_watched == Watched::Receiver ? static_cast<ChannelEndpoint *>(m_pair.receiver.get())
                                          : static_cast<ChannelEndpoint *>(m_pair.sender.get());
}

// A receiver that closes (every sender of the server's side gone) becomes
// Unconnected first, so stateChanged() covers that end too.
void ChannelConnector::follow(ChannelEndpoint *end)
{
    connect(end, &ChannelEndpoint::stateChanged, this, &ChannelConnector::onStateChanged);
    connect(end, &ChannelEndpoint::errorOccurred, this,
            [this, end](Error error) { Q_EMIT errorReport(error, end->errorString()); });
}

void ChannelConnector::onStateChanged(ChannelState state)
{
    switch (state) {
    case ChannelState::ConnectingState:
        Q_EMIT statusReport(QmlEndpoint::Connecting);
        break;
    case ChannelState::ConnectedState:
        Q_EMIT errorReport(Error::NoError, QString());
        Q_EMIT statusReport(QmlEndpoint::Connected);
        break;
    case ChannelState::UnconnectedState: {
        const ChannelEndpoint *end = watchedEnd();
        if (end->error() != Error::NoError) {
            Q_EMIT errorReport(end->error(), end->errorString());
            Q_EMIT statusReport(QmlEndpoint::Error);
        } else {
            Q_EMIT statusReport(QmlEndpoint::Closed);
        }
        scheduleReconnect();
        break;
    }
    }
}

void ChannelConnector::scheduleReconnect()
{
    if (m_reconnectInterval > 0 && !m_url.isEmpty() && !m_connectTimer.isActive())
        m_connectTimer.start(m_reconnectInterval);
}

} // namespace Qonduit
