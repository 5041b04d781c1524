#ifndef QONDUIT_TESTS_PEER_H
#define QONDUIT_TESTS_PEER_H

#include <Qonduit/channel.h>
#include <Qonduit/channelserver.h>

#include <QtCore/qobject.h>
#include <QtCore/qurl.h>
#include <QtQml/qqml.h>

#include <memory>
#include <vector>

// The C++ side of the QML tests (import QonduitTest; Peer.…): real servers on
// tcp://127.0.0.1:0, a local: name and an inproc: name, and a C++ client for
// QML ChannelServers. What it receives it describes by C++ type and echoes
// to every client of the same server, so a QML receiver sees a QML sender's
// values come back.
class Peer : public QObject
{
    Q_OBJECT
    Q_PROPERTY(QUrl tcpUrl READ tcpUrl CONSTANT)
    Q_PROPERTY(QUrl localUrl READ localUrl CONSTANT)
    Q_PROPERTY(QUrl inprocUrl READ inprocUrl CONSTANT)
    Q_PROPERTY(int clientCount READ clientCount NOTIFY clientCountChanged)
    Q_PROPERTY(int acceptedCount READ acceptedCount NOTIFY clientCountChanged)
    Q_PROPERTY(int receivedCount READ receivedCount NOTIFY received)
    Q_PROPERTY(QString lastTypes READ lastTypes NOTIFY received)
    Q_PROPERTY(QVariant lastReceived READ lastReceived NOTIFY received)
    QML_ELEMENT
    QML_SINGLETON

public:
    explicit Peer(QObject *parent = nullptr);
    ~Peer() override;

    QUrl tcpUrl() const { return m_servers[0]->address(); }
    QUrl localUrl() const { return m_servers[1]->address(); }
    QUrl inprocUrl() const { return m_servers[2]->address(); }
    int clientCount() const { return int(m_clients.size()); }
    // Clients its servers accepted so far.
    int acceptedCount() const { return m_acceptedCount; }
    int receivedCount() const { return m_receivedCount; }
    QString lastTypes() const { return m_lastTypes; }
    QVariant lastReceived() const { return m_lastReceived; }

    // Sends to every client of every server (or of the C++ client, toward a
    // QML ChannelServer): "nested" a QVariantMap built in C++ (a list, a
    // date, a double, a string, a bool, null), "cbor" the same as a QCborMap,
    // "raw" three bytes.
    Q_INVOKABLE void sendSample(const QString &kind);
    // Sends {seq: first .. first + count - 1, name: "m<seq>"} in one burst.
    Q_INVOKABLE void sendSequence(int first, int count);
    // A unique local: name nobody listens on until listenOn() is called.
    Q_INVOKABLE QUrl spareUrl();
    Q_INVOKABLE bool listenOn(const QUrl &url);
    // A C++ client of a QML ChannelServer.
    Q_INVOKABLE void connectClient(const QUrl &url);
    Q_INVOKABLE void disconnectClient();
    Q_INVOKABLE static QString describe(const QVariant &value);

Q_SIGNALS:
    void clientCountChanged();
    void received();

private:
    void accept(Qonduit::ChannelServer *server);
    void hook(Qonduit::ChannelPair &pair, Qonduit::ChannelServer *server);
    void sendToAll(const QVariant &message, bool raw);

    struct Client
    {
        Qonduit::ChannelPair pair;
        Qonduit::ChannelServer *server = nullptr; // nullptr: this peer's own client
    };
    std::vector<std::unique_ptr<Qonduit::ChannelServer>> m_servers;
    std::vector<std::unique_ptr<Client>> m_clients;
    int m_acceptedCount = 0;
    int m_receivedCount = 0;
    QString m_lastTypes;
    QVariant m_lastReceived;
};

#endif // QONDUIT_TESTS_PEER_H
