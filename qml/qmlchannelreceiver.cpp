#include "qmlchannelreceiver.h"

namespace Qonduit {

QmlChannelReceiver::QmlChannelReceiver(QObject *parent)
    : QmlMessageSource(parent)
    , m_connector(ChannelConnector::Watched::Receiver)
{
    reportFrom(m_connector);
    connect(&m_connector, &ChannelConnector::channelOpened, this, &QmlChannelReceiver::hookReceiver);
    m_connector.setOptions(queueOptions());
}

void QmlChannelReceiver::setSource(const QUrl &source)
{
    if (m_connector.setUrl(source))
        Q_EMIT sourceChanged();
}

void QmlChannelReceiver::setReconnectInterval(int milliseconds)
{
    if (m_connector.setReconnectInterval(milliseconds))
        Q_EMIT reconnectIntervalChanged();
}

void QmlChannelReceiver::applyQueueOptions()
{
    m_connector.setOptions(queueOptions());
    if (ChannelReceiver *receiver = m_connector.receiver()) {
        receiver->setCapacity(queueOptions().capacity);
        receiver->setOverflowPolicy(queueOptions().overflowPolicy);
    }
}

void QmlChannelReceiver::hookReceiver()
{
    ChannelReceiver *receiver = m_connector.receiver();
    connect(receiver, &ChannelReceiver::messageReceived, this, &QmlChannelReceiver::arrive);
    connect(receiver, &ChannelReceiver::rawMessageReceived, this,
            [this](const QByteArray &data) { arrive(QVariant(data)); });
    connect(receiver, &ChannelReceiver::lagged, this, &QmlChannelReceiver::addDropped);
}

} // namespace Qonduit
