// The conformance suite: one body per behaviour, run once for every socket
// transport through initTestCase_data().

#include "transporttest.h"

#include "transport/localsocketfile_p.h"

#include <QtCore/qdir.h>
#include <QtCore/qfile.h>
#include <QtTest/qsignalspy.h>
#include <QtTest/qtest.h>

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace Qonduit;
using namespace TransportTest;

namespace {

// A server that listens with a full backlog and never accepts: a connect
// to it neither succeeds nor fails (a Unix-domain connect gets EAGAIN, which
// QLocalSocket retries; a TCP SYN is dropped, which the client retransmits).
class Blackhole
{
public:
    explicit Blackhole(const QString &scheme)
    {
        if (scheme == u"local")
            openLocal();
        else
            openTcp();
    }
    ~Blackhole()
    {
        for (int fd : m_fds)
            ::close(fd);
        if (!m_path.isEmpty())
            ::unlink(m_path.constData());
    }
    QUrl url;

private:
    void openLocal()
    {
        const QString name = uniqueLocalName(QStringLiteral("blackhole"));
        m_path = QFile::encodeName(LocalSocketFile::pathFor(name));
        sockaddr_un address {};
        address.sun_family = AF_UNIX;
        std::strcpy(address.sun_path, m_path.constData());
        const int server = ::socket(AF_UNIX, SOCK_STREAM, 0);
        m_fds.push_back(server);
        if (::bind(server, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 || ::listen(server, 0) != 0)
            qFatal("blackhole: %s", std::strerror(errno));
        // Fill the backlog until the kernel says EAGAIN.
        for (int i = 0; i < 16; ++i) {
            const int client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
            m_fds.push_back(client);
            if (::connect(client, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
                if (errno != EAGAIN)
                    qFatal("blackhole fill: %s", std::strerror(errno));
                url = QUrl(u"local:"_qs + name);
                return;
            }
        }
        qFatal("blackhole: the backlog never filled");
    }
    void openTcp()
    {
        sockaddr_in address {};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const int server = ::socket(AF_INET, SOCK_STREAM, 0);
        m_fds.push_back(server);
        socklen_t length = sizeof address;
        if (::bind(server, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 || ::listen(server, 0) != 0
            || ::getsockname(server, reinterpret_cast<sockaddr *>(&address), &length) != 0) {
            qFatal("blackhole: %s", std::strerror(errno));
        }
        // A backlog of 0 holds one connection; with it queued the kernel drops
        // every further SYN (tcp_abort_on_overflow is off by default).
        const int client = ::socket(AF_INET, SOCK_STREAM, 0);
        m_fds.push_back(client);
        if (::connect(client, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0)
            qFatal("blackhole fill: %s", std::strerror(errno));
        url = QUrl(QStringLiteral("tcp://127.0.0.1:%1").arg(ntohs(address.sin_port)));
    }

    QByteArray m_path;
    std::vector<int> m_fds;
};

} // namespace

class tst_StreamSocket : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase_data();

    void connectedFromTheEventLoop();
    void exchangeBothWays();
    void largeTransferBothWays();
    void peerCloseFailsWithRemoteClosedThenDisconnects();
    void disconnectFromPeerFlushesThenCloses();
    void receivedBytesStayReadableAfterDisconnected();
    void disconnectWhileConnecting();
    void noSignalAfterAbort();
    void abortDropsQueuedSignals();
    void deleteInFailedSlot();
    void connectionRefused();
    void connectTimeout();
    void manyConnectionsAtOnce();
    void readBufferSizeHoldsBackReading();
    void closedListenerKeepsItsSockets();
    void incomingWithoutReceiverIsClosed();

private:
    QUrl listenUrl() const;
    void startListening(std::unique_ptr<StreamListener> &listener);
    void connectPair(StreamListener &listener, Acceptor &acceptor, std::unique_ptr<StreamSocket> &client);
};

void tst_StreamSocket::initTestCase_data()
{
    QTest::addColumn<QString>("scheme");
    QTest::newRow("local") << u"local"_qs;
    QTest::newRow("tcp") << u"tcp"_qs;
}

QUrl tst_StreamSocket::listenUrl() const
{
    QFETCH_GLOBAL(QString, scheme);
    if (scheme == u"local")
        return QUrl(u"local:"_qs + uniqueLocalName(QStringLiteral("streamsocket")));
    return QUrl(u"tcp://127.0.0.1:0"_qs);
}

void tst_StreamSocket::startListening(std::unique_ptr<StreamListener> &listener)
{
    const Endpoint endpoint = endpointOf(listenUrl());
    listener = Transports::makeListener(endpoint);
    QVERIFY(listener);
    Error error = Error::NoError;
    QString text;
    QVERIFY2(listener->listen(endpoint, error, text), qPrintable(text));
    QCOMPARE(error, Error::NoError);
    QVERIFY(listener->isListening());
    QVERIFY(!listener->address().isEmpty());
}

void tst_StreamSocket::connectPair(StreamListener &listener, Acceptor &acceptor, std::unique_ptr<StreamSocket> &client)
{
    const size_t before = acceptor.sockets.size();
    client = Transports::connectTo(endpointOf(listener.address()));
    QVERIFY(client);
    QSignalSpy connected(client.get(), &StreamSocket::connected);
    QVERIFY(connected.wait(10000));
    QVERIFY(client->isConnected());
    QTRY_COMPARE(acceptor.sockets.size(), before + 1);
    QVERIFY(acceptor.sockets.back()->isConnected());
}

void tst_StreamSocket::connectedFromTheEventLoop()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());

    // A signal emitted inside connectTo() would be lost to this spy.
    auto client = Transports::connectTo(endpointOf(listener->address()));
    QVERIFY(client);
    QVERIFY(!client->isConnected());
    SignalLog log(client.get());
    QTRY_COMPARE(log.events, QStringList{u"connected"_qs});
    QVERIFY(client->isConnected());
    QCOMPARE(client->peerAddress(), listener->address());
    QTRY_COMPARE(acceptor.sockets.size(), size_t(1));
}

void tst_StreamSocket::exchangeBothWays()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());
    std::unique_ptr<StreamSocket> client;
    connectPair(*listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    StreamSocket *server = acceptor.sockets.front().get();

    Reader atServer(server);
    Reader atClient(client.get());
    client->device()->write("hello, server");
    server->device()->write("hello, client");
    QTRY_COMPARE(atServer.data, QByteArray("hello, server"));
    QTRY_COMPARE(atClient.data, QByteArray("hello, client"));
    QVERIFY(server->isConnected());
    QVERIFY(!server->peerAddress().isEmpty());
}

void tst_StreamSocket::largeTransferBothWays()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());
    std::unique_ptr<StreamSocket> client;
    connectPair(*listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    StreamSocket *server = acceptor.sockets.front().get();

    const QByteArray up = pattern(4 << 20, 1);
    const QByteArray down = pattern(3 << 20, 7);
    Reader atServer(server);
    Reader atClient(client.get());
    client->device()->write(up);
    server->device()->write(down);
    QTRY_COMPARE_WITH_TIMEOUT(atServer.data.size(), up.size(), 30000);
    QTRY_COMPARE_WITH_TIMEOUT(atClient.data.size(), down.size(), 30000);
    QVERIFY(atServer.data == up);
    QVERIFY(atClient.data == down);
}

void tst_StreamSocket::peerCloseFailsWithRemoteClosedThenDisconnects()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());
    std::unique_ptr<StreamSocket> client;
    connectPair(*listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    StreamSocket *server = acceptor.sockets.front().get();

    SignalLog atClient(client.get());
    SignalLog atServer(server);
    server->disconnectFromPeer();
    QVERIFY(!server->isConnected());
    // The side that closes hears disconnected() only; the other side learns
    // that its peer went away.
    QTRY_COMPARE(atServer.events, QStringList{u"disconnected"_qs});
    QTRY_COMPARE(atClient.events, (QStringList{u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(atClient.errors.front(), Error::RemoteClosedError);
    QVERIFY2(atClient.texts.front().contains(client->peerAddress().toDisplayString()),
             qPrintable(atClient.texts.front()));
    QVERIFY(!client->isConnected());

    // At most once each: nothing more follows.
    std::unique_ptr<StreamSocket> another;
    connectPair(*listener, acceptor, another);
    QCOMPARE(atClient.events.size(), 2);
    QCOMPARE(atServer.events.size(), 1);
}

void tst_StreamSocket::disconnectFromPeerFlushesThenCloses()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());
    std::unique_ptr<StreamSocket> client;
    connectPair(*listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    StreamSocket *server = acceptor.sockets.front().get();

    // More than any socket buffer: most of it is still queued in Qt when
    // disconnectFromPeer() is called.
    const QByteArray payload = pattern(8 << 20, 3);
    Reader atServer(server);
    SignalLog serverLog(server);
    SignalLog clientLog(client.get());
    client->device()->write(payload);
    client->disconnectFromPeer();
    QTRY_COMPARE_WITH_TIMEOUT(serverLog.events, (QStringList{u"failed"_qs, u"disconnected"_qs}), 30000);
    QCOMPARE(atServer.data.size(), payload.size());
    QVERIFY(atServer.data == payload);
    QCOMPARE(serverLog.errors.front(), Error::RemoteClosedError);
    QTRY_COMPARE(clientLog.events, QStringList{u"disconnected"_qs});
}

void tst_StreamSocket::receivedBytesStayReadableAfterDisconnected()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());
    std::unique_ptr<StreamSocket> client;
    connectPair(*listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    StreamSocket *server = acceptor.sockets.front().get();

    // The last frames before a close must not be lost to a reader that reads
    // only when it gets round to it.
    SignalLog clientLog(client.get());
    server->device()->write("GOODBYE");
    server->disconnectFromPeer();
    QTRY_COMPARE(clientLog.events, (QStringList{u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(client->device()->readAll(), QByteArray("GOODBYE"));
}

void tst_StreamSocket::disconnectWhileConnecting()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());

    auto client = Transports::connectTo(endpointOf(listener->address()));
    SignalLog log(client.get());
    client->disconnectFromPeer();
    QTRY_COMPARE(log.events, QStringList{u"disconnected"_qs});
    QVERIFY(!client->isConnected());

    // A connection made after it still works, and the given-up one never
    // reports connected().
    std::unique_ptr<StreamSocket> other;
    connectPair(*listener, acceptor, other);
    QCOMPARE(log.events, QStringList{u"disconnected"_qs});
}

void tst_StreamSocket::noSignalAfterAbort()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());
    std::unique_ptr<StreamSocket> client;
    connectPair(*listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    StreamSocket *server = acceptor.sockets.front().get();

    SignalLog clientLog(client.get());
    QSignalSpy readyRead(client->device(), &QIODevice::readyRead);
    SignalLog serverLog(server);
    server->device()->write("data the client will never see");
    client->abort();
    QVERIFY(!client->isConnected());
    // The server sees the connection end; by then anything the client could
    // still have emitted has had its chance.
    QTRY_VERIFY(serverLog.events.contains(u"disconnected"_qs));
    server->device()->write("more");
    std::unique_ptr<StreamSocket> another;
    connectPair(*listener, acceptor, another);
    QVERIFY(clientLog.events.isEmpty());
    QCOMPARE(readyRead.count(), 0);

    // Calls after abort() are harmless.
    client->disconnectFromPeer();
    client->abort();
}

void tst_StreamSocket::abortDropsQueuedSignals()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());

    // A refused or given-up connect has failed()/disconnected() queued by the
    // time abort() comes; none of them may arrive.
    auto client = Transports::connectTo(endpointOf(listener->address()));
    SignalLog log(client.get());
    client->disconnectFromPeer(); // queues disconnected()
    client->abort();
    std::unique_ptr<StreamSocket> other;
    connectPair(*listener, acceptor, other);
    QVERIFY(log.events.isEmpty());

    // Destroying a socket with signals queued is just as quiet.
    auto doomed = Transports::connectTo(endpointOf(listener->address()));
    doomed->disconnectFromPeer();
    doomed.reset();
    connectPair(*listener, acceptor, other);
}

void tst_StreamSocket::deleteInFailedSlot()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());
    std::unique_ptr<StreamSocket> client;
    connectPair(*listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;

    int failures = 0;
    QObject context;
    connect(client.get(), &StreamSocket::failed, &context, [&] {
        ++failures;
        client.reset();
    });
    acceptor.sockets.front()->disconnectFromPeer();
    QTRY_VERIFY(!client);
    QCOMPARE(failures, 1);
    std::unique_ptr<StreamSocket> other;
    connectPair(*listener, acceptor, other);
}

void tst_StreamSocket::connectionRefused()
{
    QFETCH_GLOBAL(QString, scheme);
    QUrl url;
    if (scheme == u"local") {
        url = QUrl(u"local:"_qs + uniqueLocalName(QStringLiteral("nobody")));
    } else {
        // A port that was just free: listen, note it, close.
        std::unique_ptr<StreamListener> listener;
        startListening(listener);
        if (QTest::currentTestFailed())
            return;
        url = listener->address();
        listener->close();
    }

    auto client = Transports::connectTo(endpointOf(url));
    QVERIFY(client);
    SignalLog log(client.get());
    QTRY_COMPARE(log.events, (QStringList{u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(log.errors.front(), Error::ConnectionRefusedError);
    QVERIFY2(log.texts.front().contains(url.toString()), qPrintable(log.texts.front()));
    QVERIFY(!client->isConnected());
}

void tst_StreamSocket::connectTimeout()
{
    QFETCH_GLOBAL(QString, scheme);
    Blackhole blackhole(scheme);

    auto client = Transports::connectTo(endpointOf(blackhole.url));
    QCOMPARE(client->connectTimeout(), StreamSocket::defaultConnectTimeout);
    QCOMPARE(client->connectTimeout(), std::chrono::milliseconds(10000));
    client->setConnectTimeout(std::chrono::milliseconds(300));
    SignalLog log(client.get());
    QTRY_COMPARE_WITH_TIMEOUT(log.events, (QStringList{u"failed"_qs, u"disconnected"_qs}), 5000);
    QCOMPARE(log.errors.front(), Error::TimeoutError);
    QVERIFY2(log.texts.front().contains(blackhole.url.toString()), qPrintable(log.texts.front()));
    QVERIFY2(log.texts.front().contains(u"300 ms"_qs), qPrintable(log.texts.front()));

    // Set once the attempt is under way, it moves the running deadline.
    auto late = Transports::connectTo(endpointOf(blackhole.url));
    SignalLog lateLog(late.get());
    QCoreApplication::processEvents(); // the attempt starts
    late->setConnectTimeout(std::chrono::milliseconds(200));
    QTRY_COMPARE_WITH_TIMEOUT(lateLog.events, (QStringList{u"failed"_qs, u"disconnected"_qs}), 5000);
    QCOMPARE(lateLog.errors.front(), Error::TimeoutError);
}

void tst_StreamSocket::manyConnectionsAtOnce()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());

    constexpr int count = 200;
    const Endpoint endpoint = endpointOf(listener->address());
    std::vector<std::unique_ptr<StreamSocket>> clients;
    int connectedCount = 0;
    int failedCount = 0;
    QObject context;
    for (int i = 0; i < count; ++i) {
        clients.push_back(Transports::connectTo(endpoint));
        StreamSocket *client = clients.back().get();
        connect(client, &StreamSocket::connected, &context, [&connectedCount, client, i] {
            ++connectedCount;
            client->device()->write(QByteArray::number(i).rightJustified(4, '0'));
        });
        connect(client, &StreamSocket::failed, &context, [&failedCount] { ++failedCount; });
    }
    QTRY_COMPARE_WITH_TIMEOUT(connectedCount, count, 30000);
    QTRY_COMPARE_WITH_TIMEOUT(acceptor.sockets.size(), size_t(count), 30000);
    QCOMPARE(failedCount, 0);

    // Every accepted socket is a working one: each carries one client's id.
    QSet<QByteArray> ids;
    for (const auto &server : acceptor.sockets) {
        QTRY_COMPARE(server->device()->bytesAvailable(), qint64(4));
        ids.insert(server->device()->readAll());
    }
    QCOMPARE(ids.size(), count);
}

void tst_StreamSocket::readBufferSizeHoldsBackReading()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());
    std::unique_ptr<StreamSocket> client;
    connectPair(*listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    StreamSocket *server = acceptor.sockets.front().get();

    client->setReadBufferSize(1024);
    const QByteArray payload = pattern(256 << 10, 5);
    server->device()->write(payload);
    QTRY_COMPARE(client->device()->bytesAvailable(), qint64(1024));
    QByteArray received;
    while (received.size() < payload.size()) {
        QTRY_VERIFY(client->device()->bytesAvailable() > 0);
        QVERIFY(client->device()->bytesAvailable() <= 1024);
        received += client->device()->readAll();
    }
    QVERIFY(received == payload);
}

void tst_StreamSocket::closedListenerKeepsItsSockets()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;
    Acceptor acceptor(listener.get());
    std::unique_ptr<StreamSocket> client;
    connectPair(*listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    const QUrl address = listener->address();
    listener.reset();

    Reader atClient(client.get());
    acceptor.sockets.front()->device()->write("still here");
    QTRY_COMPARE(atClient.data, QByteArray("still here"));

    auto late = Transports::connectTo(endpointOf(address));
    SignalLog log(late.get());
    QTRY_COMPARE(log.events, (QStringList{u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(log.errors.front(), Error::ConnectionRefusedError);
}

void tst_StreamSocket::incomingWithoutReceiverIsClosed()
{
    std::unique_ptr<StreamListener> listener;
    startListening(listener);
    if (QTest::currentTestFailed())
        return;

    auto client = Transports::connectTo(endpointOf(listener->address()));
    SignalLog log(client.get());
    QTRY_COMPARE(log.events, (QStringList{u"connected"_qs, u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(log.errors.front(), Error::RemoteClosedError);
}

QTEST_GUILESS_MAIN(tst_StreamSocket)

#include "tst_streamsocket.moc"
