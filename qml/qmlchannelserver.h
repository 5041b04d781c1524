#ifndef QONDUIT_QMLCHANNELSERVER_H
#define QONDUIT_QMLCHANNELSERVER_H

#include "qmlmessagesource.h"

#include <Qonduit/channelserver.h>

#include <QtCore/qurl.h>
#include <QtQml/qjsvalue.h>

#include <vector>

namespace Qonduit {

// ChannelServer { endpoint: "tcp://127.0.0.1:7000" }: a QML app that serves.
// What any client sends arrives as messageReceived (and latest, count, ...);
// send() goes to every connected client.
class QmlChannelServer : public Qonduit::QmlMessageSource
{
    Q_OBJECT
    Q_PROPERTY(QUrl endpoint READ endpoint WRITE setEndpoint NOTIFY endpointChanged)
    Q_PROPERTY(QUrl address READ address NOTIFY listeningChanged)
    Q_PROPERTY(bool listening READ isListening NOTIFY listeningChanged)
    Q_PROPERTY(int clientCount READ clientCount NOTIFY clientCountChanged)
    QML_NAMED_ELEMENT(ChannelServer)

public:
    explicit QmlChannelServer(QObject *parent = nullptr);
    ~QmlChannelServer() override;

    QUrl endpoint() const { return m_endpoint; }
    // Stops serving (every client sees its channel close) and, for a
    // non-empty endpoint, listens there.
    void setEndpoint(const QUrl &endpoint);
    // Where clients reach the server: endpoint with the port a tcp:// port 0 got.
    QUrl address() const { return m_server.address(); }
    bool isListening() const { return m_server.isListening(); }
    int clientCount() const { return int(m_clients.size()); }

    // Queues value for every connected client; false, with error and
    // errorString set, when the value cannot travel or a client refused it.
    Q_INVOKABLE bool send(const QJSValue &value);

Q_SIGNALS:
    void endpointChanged();
    void listeningChanged();
    void clientCountChanged();

protected:
    void applyQueueOptions() override;

private:
    void acceptClients();
    void dropClient(const ChannelReceiver *receiver);
    void closeClients();

    QUrl m_endpoint;
    ChannelServer m_server;
    std::vector<ChannelPair> m_clients;
};

} // namespace Qonduit

#endif // QONDUIT_QMLCHANNELSERVER_H
