#ifndef QONDUIT_QMLCHANNELSENDER_H
#define QONDUIT_QMLCHANNELSENDER_H

#include "channelconnector.h"
#include "qmlendpoint.h"

#include <QtCore/qurl.h>
#include <QtQml/qjsvalue.h>

namespace Qonduit {

// ChannelSender { id: out; target: "local:chat" }  ...  out.send({text: "hi"})
// Connects to the ChannelServer at target and sends JavaScript values to it.
class QmlChannelSender : public Qonduit::QmlEndpoint
{
    Q_OBJECT
    Q_PROPERTY(QUrl target READ target WRITE setTarget NOTIFY targetChanged)
    Q_PROPERTY(int reconnectInterval READ reconnectInterval WRITE setReconnectInterval
                   NOTIFY reconnectIntervalChanged)
    Q_PROPERTY(double sentCount READ sentCount NOTIFY sentCountChanged)
    QML_NAMED_ELEMENT(ChannelSender)

public:
    explicit QmlChannelSender(QObject *parent = nullptr);

    QUrl target() const { return m_connector.url(); }
    void setTarget(const QUrl &target);
    int reconnectInterval() const { return m_connector.reconnectInterval(); }
    void setReconnectInterval(int milliseconds);
    qint64 sentCount() const { return m_sentCount; }

    // Queues value (docs/qml.md, "Values"); false, with error and
    // errorString set, when it was not queued: no target, the value cannot
    // travel, the channel is closed or full. Messages sent while connecting
    // wait in the queue.
    Q_INVOKABLE bool send(const QJSValue &value);

Q_SIGNALS:
    void targetChanged();
    void reconnectIntervalChanged();
    void sentCountChanged();
    // Sending failed with QueueFullError earlier; there is room again.
    void readyToSend();

private:
    void hookSender();

    ChannelConnector m_connector;
    qint64 m_sentCount = 0;
};

} // namespace Qonduit

#endif // QONDUIT_QMLCHANNELSENDER_H
