// The conformance suite: one body per behaviour, run once for every socket
// transport through initTestCase_data().

#include "transporttest.h"

#include "transport/localsocketfile_p.h"

#include <QtCore/qdir.h>
#include <QtCore/qelapsedtimer.h>
#include <QtCore/qfile.h>
#include <QtCore/qtimer.h>
#include <QtTest/qsignalspy.h>
#include <QtTest/qtest.h>

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
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

// A peer on a plain blocking descriptor: the test decides exactly when it
// writes and reads, with no event loop of its own in between.
class RawClient
{
public:
    explicit RawClient(const QUrl &url)
    {
        if (url.scheme() == u"local") {
            const QByteArray path = QFile::encodeName(LocalSocketFile::pathFor(url.path()));
            sockaddr_un address {};
            address.sun_family = AF_UNIX;
            std::strcpy(address.sun_path, path.constData());
            m_fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            m_connected = ::connect(m_fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0;
        } else {
            sockaddr_in address {};
            address.sin_family = AF_INET;
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            address.sin_port = htons(quint16(url.port()));
            m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
            m_connected = ::connect(m_fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0;
        }
        const timeval timeout{10, 0};
        ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    ~RawClient() { close(); }
    void close()
    {
        if (m_fd >= 0)
            ::close(std::exchange(m_fd, -1));
    }

    bool isConnected() const { return m_connected; }
    bool send(const QByteArray &bytes)
    {
        return ::send(m_fd, bytes.constData(), size_t(bytes.size()), MSG_NOSIGNAL) == bytes.size();
    }
    // Without reading: whether the server closed or shut its sending side.
    bool sawEndOfStream() const
    {
        pollfd watched{m_fd, POLLRDHUP, 0};
        return ::poll(&watched, 1, 0) == 1 && (watched.revents & (POLLRDHUP | POLLHUP | POLLERR));
    }
    // Reads until the end of the stream; errorNumber is 0 after an orderly
    // end, errno after a reset or the timeout.
    QByteArray readToEnd(int &errorNumber)
    {
        QByteArray all;
        char chunk[4096];
        for (;;) {
            const ssize_t got = ::recv(m_fd, chunk, sizeof chunk, 0);
            if (got > 0) {
                all.append(chunk, got);
                continue;
            }
            errorNumber = got == 0 ? 0 : errno;
            return all;
        }
    }

private:
    int m_fd = -1;
    bool m_connected = false;
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
    void closeWithUnreadInputKeepsTheLastBytes();
    void lingeringCloseEndsAtItsDeadline();
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
    // A listener and one RawClient connected to it, accepted as server.
    struct RawPair
    {
        std::unique_ptr<StreamListener> listener;
        std::unique_ptr<Acceptor> acceptor;
        std::unique_ptr<RawClient> client;
        StreamSocket *server = nullptr;
        std::unique_ptr<SignalLog> serverLog;
    };
    void acceptRawClient(RawPair &pair);
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

void tst_StreamSocket::acceptRawClient(RawPair &pair)
{
    startListening(pair.listener);
    if (QTest::currentTestFailed())
        return;
    pair.acceptor = std::make_unique<Acceptor>(pair.listener.get());
    pair.client = std::make_unique<RawClient>(pair.listener->address());
    QVERIFY(pair.client->isConnected());
    QTRY_COMPARE(pair.acceptor->sockets.size(), size_t(1));
    pair.server = pair.acceptor->sockets.front().get();
    pair.serverLog = std::make_unique<SignalLog>(pair.server);
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

void tst_StreamSocket::closeWithUnreadInputKeepsTheLastBytes()
{
    RawPair pair;
    acceptRawClient(pair);
    if (QTest::currentTestFailed())
        return;
    auto &[listener, acceptor, client, server, serverLog] = pair;

    // The server closes (after an error, say) while input it never read
    // waits in the kernel, and the client goes on sending after the close:
    // neither may reset the connection before the client read the last
    // bytes, or those bytes are lost.
    server->setReadBufferSize(16);
    QVERIFY(client->send(pattern(32 << 10, 9)));
    QTRY_COMPARE(server->device()->bytesAvailable(), qint64(16));
    server->device()->write("LAST WORDS");
    server->disconnectFromPeer();
    QTRY_VERIFY(client->sawEndOfStream());
    QVERIFY(client->send("late"));
    int errorNumber = -1;
    const QByteArray received = client->readToEnd(errorNumber);
    QCOMPARE(received, QByteArray("LAST WORDS"));
    QVERIFY2(errorNumber == 0, std::strerror(errorNumber));
    QVERIFY(serverLog->events.isEmpty()); // the server waits for the client's end

    // The client's close ends the server's, which was no failure.
    client->close();
    QTRY_COMPARE(serverLog->events, QStringList{u"disconnected"_qs});
}

void tst_StreamSocket::lingeringCloseEndsAtItsDeadline()
{
    RawPair pair;
    acceptRawClient(pair);
    if (QTest::currentTestFailed())
        return;
    auto &[listener, acceptor, client, server, serverLog] = pair;

    // A client that sees the end of the stream but never closes, and keeps
    // sending: the server's close is over after lingerTimeout regardless.
    QElapsedTimer clock;
    clock.start();
    server->disconnectFromPeer();
    QTRY_VERIFY(client->sawEndOfStream());
    QTimer sender;
    connect(&sender, &QTimer::timeout, this, [&client = client] { client->send("still talking"); });
    sender.start(20);
    QTRY_COMPARE_WITH_TIMEOUT(serverLog->events, QStringList{u"disconnected"_qs}, 10000);
    QVERIFY2(clock.elapsed() >= StreamSocket::lingerTimeout.count() - 100,
             qPrintable(QString::number(clock.elapsed())));
    sender.stop();
    QVERIFY(!server->device()->bytesAvailable());
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
