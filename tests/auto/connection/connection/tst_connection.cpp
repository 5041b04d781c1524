// The connection layer below the channels: several streams on one socket.
#include <Qonduit/channelserver.h>

#include "connection/connection_p.h"
#include "transport/endpoint_p.h"
#include "transport/transportregistry_p.h"

#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <QtCore/QThread>
#include <QtNetwork/QLocalServer>
#include <QtNetwork/QTcpServer>

#include <atomic>
#include <future>

using namespace Qonduit;

class tst_Connection : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void stalledStreamDoesNotBlockTheOthers_data();
    void stalledStreamDoesNotBlockTheOthers();
    void goodbyeCutShortByTheThreadsEndIsDeleted();
    void sendQueueHoldsWhatItsTransportTakes_data();
    void sendQueueHoldsWhatItsTransportTakes();

private:
    // A client connection with two streams to a server that took both.
    struct TwoStreams
    {
        std::shared_ptr<Connection> connection;
        ChannelPair clientA, clientB, serverA, serverB;
    };
    bool openTwoStreams(ChannelServer &server, const ChannelOptions &clientOptions, TwoStreams &streams);
};

bool tst_Connection::openTwoStreams(ChannelServer &server, const ChannelOptions &clientOptions, TwoStreams &s)
{
    Endpoint endpoint;
    QString text;
    if (Endpoint::parse(server.address(), endpoint, text) != Error::NoError)
        return false;
    s.connection = Connection::create(Connection::Role::Client, Transports::connectTo(endpoint),
                                      Connection::Settings::from(clientOptions), endpoint.toUrl(), clientOptions);
    s.clientA = s.connection->openStream();
    s.clientB = s.connection->openStream();
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);
    while (newChannel.count() < 2) {
        if (!newChannel.wait(10000))
            return false;
    }
    s.serverA = server.nextPendingChannel();
    s.serverB = server.nextPendingChannel();
    return s.serverA.receiver && s.serverB.receiver;
}

void tst_Connection::stalledStreamDoesNotBlockTheOthers_data()
{
    QTest::addColumn<QUrl>("url");
    QTest::newRow("tcp") << QUrl(QStringLiteral("tcp://127.0.0.1:0"));
    QTest::newRow("local") << QUrl(QStringLiteral("local:qonduit-tst-connection-stalled-%1")
                                       .arg(QCoreApplication::applicationPid()));
}

void tst_Connection::stalledStreamDoesNotBlockTheOthers()
{
    QFETCH(QUrl, url);
    // The server's receiving window per stream is 64 KiB (its capacityBytes).
    ChannelServer server;
    ChannelOptions serverOptions;
    serverOptions.capacity = 16;
    serverOptions.capacityBytes = 64 * 1024;
    server.setChannelOptions(serverOptions);
    QVERIFY2(server.listen(url), qPrintable(server.errorString()));
    ChannelOptions clientOptions;
    clientOptions.capacity = 64;
    TwoStreams s;
    QVERIFY(openTwoStreams(server, clientOptions, s));

    // Stream A's receiver lives on a thread that is stuck: it consumes nothing.
    QThread stuck;
    stuck.start();
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    QList<int> receivedA;
    QObject::connect(s.serverA.receiver.get(), &ChannelReceiver::messageReceived, s.serverA.receiver.get(),
                     [&receivedA](const QVariant &m) { receivedA.append(m.toByteArray().left(8).toInt()); },
                     Qt::DirectConnection);
    s.serverA.receiver->moveToThread(&stuck);
    QMetaObject::invokeMethod(s.serverA.receiver.get(), [released] { released.wait(); });

    // A's producer fills the window, then its own queue, then is told so.
    const QByteArray padding(1024 - 8, 'a');
    int acceptedA = 0;
    while (s.clientA.sender->send(QByteArray::number(acceptedA).leftJustified(8, ' ') + padding)) {
        ++acceptedA;
        if (acceptedA % 16 == 0)
            QCoreApplication::processEvents();
        QVERIFY2(acceptedA < 10000, "stream A was never throttled");
    }
    QVERIFY2(s.clientA.sender->error() == Error::QueueFullError, qPrintable(s.clientA.sender->errorString()));

    // Meanwhile stream B, on the same socket, keeps full service.
    constexpr int totalB = 20000;
    int receivedB = 0;
    connect(s.serverB.receiver.get(), &ChannelReceiver::messageReceived, this, [&] { ++receivedB; });
    for (int i = 0; i < totalB; ++i) {
        while (!s.clientB.sender->send(i))
            QCoreApplication::processEvents(); // B's own queue may fill: let it drain
    }
    QTRY_COMPARE_WITH_TIMEOUT(receivedB, totalB, 30000);
    QCOMPARE(receivedA.size(), 0);

    // Unstuck, A gets everything it accepted, in order.
    release.set_value();
    QTRY_COMPARE_WITH_TIMEOUT(receivedA.size(), acceptedA, 30000);
    for (int i = 0; i < acceptedA; ++i)
        QCOMPARE(receivedA.at(i), i);
    QMetaObject::invokeMethod(s.serverA.receiver.release(), &QObject::deleteLater);
    stuck.quit();
    QVERIFY(stuck.wait(5000));
}

// A worker thread releases its connection and ends its loop in the same turn:
// the goodbye can never finish there, so the thread's end deletes it.
void tst_Connection::goodbyeCutShortByTheThreadsEndIsDeleted()
{
    ChannelServer server;
    QVERIFY(server.listen(QUrl(QStringLiteral("tcp://127.0.0.1:0"))));
    Endpoint endpoint;
    QString text;
    QCOMPARE(Endpoint::parse(server.address(), endpoint, text), Error::NoError);

    QThread worker;
    QObject inWorker;
    inWorker.moveToThread(&worker);
    worker.start();
    std::atomic<bool> connected{false};
    std::atomic<bool> deleted{false};
    std::shared_ptr<Connection> connection;
    ChannelPair client;
    QMetaObject::invokeMethod(&inWorker, [&] {
        ChannelOptions options;
        options.heartbeatIntervalMs = 0;
        connection = Connection::create(Connection::Role::Client, Transports::connectTo(endpoint),
                                        Connection::Settings::from(options), endpoint.toUrl(), options);
        QObject::connect(connection.get(), &QObject::destroyed, [&deleted] { deleted = true; });
        client = connection->openStream();
        QObject::connect(client.sender.get(), &ChannelSender::connected, [&connected] { connected = true; });
    });
    QTRY_VERIFY(connected.load());
    QTRY_VERIFY(server.hasPendingChannels());
    ChannelPair serverSide = server.nextPendingChannel();

    QMetaObject::invokeMethod(&inWorker, [&] {
        QThread::currentThread()->quit();
        client = {};
        connection.reset(); // the last owner: the goodbye starts, and the loop ends
    });
    QVERIFY(worker.wait(10000));
    QVERIFY2(deleted.load(), "the connection outlived its thread");
    // The server sees the socket close.
    QTRY_COMPARE(serverSide.receiver->state(), ChannelState::UnconnectedState);
}

void tst_Connection::sendQueueHoldsWhatItsTransportTakes_data()
{
    QTest::addColumn<QString>("scheme");
    QTest::addColumn<qint64>("capacityBytes");
    QTest::addColumn<int>("fits");
    QTest::addColumn<bool>("sharedKey");
    const qint64 defaultBytes = ChannelOptions().capacityBytes;
    QTest::newRow("tcp, default 64 MiB") << QStringLiteral("tcp") << defaultBytes << 8 << false;
    QTest::newRow("tcp, 2 MiB") << QStringLiteral("tcp") << qint64(2) * 1024 * 1024 << 2 << false;
    QTest::newRow("tls, default 64 MiB") << QStringLiteral("tls") << defaultBytes << 8 << false;
    QTest::newRow("local, default 64 MiB") << QStringLiteral("local") << defaultBytes << 2 << false;
    QTest::newRow("local, 1 MiB") << QStringLiteral("local") << qint64(1024) * 1024 << 1 << false;
    // Encrypted, the records wait where the plain payloads would.
    QTest::newRow("local with a key") << QStringLiteral("local") << defaultBytes << 2 << true;
    QTest::newRow("tcp with a key") << QStringLiteral("tcp") << defaultBytes << 8 << true;
}

// A peer that accepts the connection but never answers (HELLO, or the TLS or
// shared-key handshake): everything sent stays in the send queue, whose byte
// bound is then exact: 8 MiB at most on tcp:// and tls://, 2 MiB on local:
// (D44, D56), capacityBytes when smaller.
void tst_Connection::sendQueueHoldsWhatItsTransportTakes()
{
    QFETCH(QString, scheme);
    QFETCH(qint64, capacityBytes);
    QFETCH(int, fits);
    QFETCH(bool, sharedKey);
    QTcpServer silentTcp;
    QLocalServer silentLocal;
    QUrl url;
    if (scheme != u"local") {
        QVERIFY(silentTcp.listen(QHostAddress::LocalHost));
        url = QUrl(QStringLiteral("%1://127.0.0.1:%2").arg(scheme).arg(silentTcp.serverPort()));
    } else {
        const QString name = QStringLiteral("qonduit-tst-connection-%1-%2")
                                     .arg(QCoreApplication::applicationPid())
                                     .arg(QTest::currentDataTag())
                                     .replace(QLatin1Char(' '), QLatin1Char('-'))
                                     .remove(QLatin1Char(','));
        QLocalServer::removeServer(name); // a file left by a crashed run with the same pid
        QVERIFY2(silentLocal.listen(name), qPrintable(silentLocal.errorString()));
        url = QUrl(QStringLiteral("local:") + name);
    }
    ChannelOptions options;
    options.capacityBytes = capacityBytes;
    options.overflowPolicy = OverflowPolicy::Reject;
    if (sharedKey)
        options.sharedKey = QByteArray(32, 'k');
    ChannelPair client = Channel::connectTo(url, options);
    QTRY_VERIFY(silentTcp.hasPendingConnections() || silentLocal.hasPendingConnections());

    const QByteArray mebibyte(1024 * 1024, 'x');
    for (int i = 0; i < fits; ++i)
        QVERIFY2(client.sender->sendRaw(mebibyte), qPrintable(client.sender->errorString()));
    QVERIFY(!client.sender->sendRaw(mebibyte));
    QCOMPARE(client.sender->error(), Error::QueueFullError);
}

QTEST_GUILESS_MAIN(tst_Connection)
#include "tst_connection.moc"

