#ifndef QONDUIT_QMLCHANNELRECEIVER_H
#define QONDUIT_QMLCHANNELRECEIVER_H

#include "channelconnector.h"
#include "qmlmessagesource.h"

#include <QtCore/qurl.h>

namespace Qonduit {

// ChannelReceiver { source: "tcp://localhost:7000"; onMessageReceived: (message) => ... }
// Connects to the ChannelServer at source and delivers what it sends.
class QmlChannelReceiver : public Qonduit::QmlMessageSource
{
    Q_OBJECT
    Q_PROPERTY(QUrl source READ source WRITE setSource NOTIFY sourceChanged)
    Q_PROPERTY(int reconnectInterval READ reconnectInterval WRITE setReconnectInterval
                   NOTIFY reconnectIntervalChanged)
    QML_NAMED_ELEMENT(ChannelReceiver)

public:
    explicit QmlChannelReceiver(QObject *parent = nullptr);

    QUrl source() const { return m_connector.url(); }
    void setSource(const QUrl &source);
    int reconnectInterval() const { return m_connector.reconnectInterval(); }
    void setReconnectInterval(int milliseconds);

Q_SIGNALS:
    void sourceChanged();
    void reconnectIntervalChanged();

protected:
    void applyQueueOptions() override;

private:
    void hookReceiver();

    ChannelConnector m_connector;
};

} // namespace Qonduit

#endif // QONDUIT_QMLCHANNELRECEIVER_H
