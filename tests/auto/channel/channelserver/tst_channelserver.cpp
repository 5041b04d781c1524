#include <Qonduit/channelserver.h>

#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <QtCore/QThread>

#include <thread>
#include <vector>

using namespace Qonduit;

namespace {

// Tests run in parallel processes and reuse names within one: make each unique.
QUrl uniqueEndpoint(const char *tag)
{
    static int counter = 0;
    return QUrl(QStringLiteral("inproc:tst_channelserver-%1-%2-%3")
                    .arg(QLatin1String(tag))
                    .arg(QCoreApplication::applicationPid())
                    .arg(++counter));
}

} // namespace

class tst_ChannelServer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void requestAndReply();
    void acceptsManyClients();
    void takenNameIsRefusedAndDoesNotHijack();
    void listenRejectsBadEndpoints_data();
    void listenRejectsBadEndpoints();
    void listenTwiceFails();
    void closeFreesTheName();
    void unclaimedChannelsCloseWithTheServer();
    void serverOptionsBoundAcceptedChannels();
    void clientOnAnotherThread();
    void cloneWhileConnectingIsConnected();
    void connectedComesBeforeTheServersFirstMessage();
    void fullPendingChannelDoesNotBlockTheServersThread();
};

void tst_ChannelServer::requestAndReply()
{
    ChannelServer server;
    QSignalSpy listening(&server, &ChannelServer::listeningChanged);
    const QUrl url = uniqueEndpoint("reply");
    QVERIFY(server.listen(url));
    QVERIFY(server.isListening());
    QCOMPARE(server.address(), url);
    QCOMPARE(listening.count(), 1);

    QSignalSpy newChannel(&server, &ChannelServer::newChannel);
    auto client = Channel::connectTo(url);
    QSignalSpy connected(client.receiver.get(), &ChannelReceiver::connected);
    QSignalSpy senderConnected(client.sender.get(), &ChannelSender::connected);
    QCOMPARE(newChannel.count(), 0); // signals come from the event loop
    QVERIFY(newChannel.wait());
    QTRY_COMPARE(connected.count(), 1);
    QTRY_COMPARE(senderConnected.count(), 1);
    QCOMPARE(client.receiver->peerAddress(), url);
    QVERIFY(server.hasPendingChannels());
    ChannelPair serverSide = server.nextPendingChannel();
    QVERIFY(serverSide.sender && serverSide.receiver);
    QVERIFY(!server.hasPendingChannels());
    QVERIFY(!server.nextPendingChannel().sender);
    QCOMPARE(serverSide.receiver->state(), ChannelState::ConnectedState);

    // The server doubles every request.
    connect(serverSide.receiver.get(), &ChannelReceiver::messageReceived, this,
            [s = serverSide.sender.get()](const QVariant &request) { s->send(request.toInt() * 2); });
    QSignalSpy replies(client.receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(client.sender->send(21));
    QVERIFY(replies.wait());
    QCOMPARE(replies.at(0).at(0).value<QVariant>().toInt(), 42);

    // Each direction closes on its own.
    QSignalSpy serverClosed(serverSide.receiver.get(), &ChannelReceiver::closed);
    client.sender.reset();
    QVERIFY(serverClosed.wait());
    QVERIFY(serverSide.sender->send(1));
}

void tst_ChannelServer::acceptsManyClients()
{
    ChannelServer server;
    const QUrl url = uniqueEndpoint("many");
    QVERIFY(server.listen(url));
    constexpr int clients = 100;
    std::vector<ChannelPair> clientSides;
    for (int i = 0; i < clients; ++i) {
        clientSides.push_back(Channel::connectTo(url));
        QVERIFY(clientSides.back().sender->send(i));
    }
    std::vector<ChannelPair> serverSides;
    QList<int> received;
    connect(&server, &ChannelServer::newChannel, this, [&] {
        while (server.hasPendingChannels()) {
            serverSides.push_back(server.nextPendingChannel());
            connect(serverSides.back().receiver.get(), &ChannelReceiver::messageReceived, this,
                    [&](const QVariant &message) { received.append(message.toInt()); });
        }
    });
    QTRY_COMPARE(received.size(), clients);
    std::sort(received.begin(), received.end());
    for (int i = 0; i < clients; ++i)
        QCOMPARE(received.at(i), i);
}

void tst_ChannelServer::takenNameIsRefusedAndDoesNotHijack()
{
    ChannelServer first;
    const QUrl url = uniqueEndpoint("taken");
    QVERIFY(first.listen(url));
    ChannelServer second;
    QSignalSpy errors(&second, &ChannelServer::errorOccurred);
    QVERIFY(!second.listen(url));
    QCOMPARE(errors.count(), 1);
    QCOMPARE(second.error(), Error::AddressInUseError);
    QVERIFY(second.errorString().contains(url.toString()));
    QVERIFY(!second.isListening());

    // Clients still reach the first server.
    QSignalSpy firstNew(&first, &ChannelServer::newChannel);
    QSignalSpy secondNew(&second, &ChannelServer::newChannel);
    auto client = Channel::connectTo(url);
    QVERIFY(firstNew.wait());
    QCOMPARE(secondNew.count(), 0);
}

void tst_ChannelServer::listenRejectsBadEndpoints_data()
{
    QTest::addColumn<QUrl>("url");
    QTest::addColumn<Error>("error");
    QTest::newRow("empty") << QUrl() << Error::InvalidEndpointError;
    QTest::newRow("empty name") << QUrl(QStringLiteral("inproc:")) << Error::InvalidEndpointError;
    QTest::newRow("NUL in name") << QUrl(QStringLiteral("inproc:a%00b")) << Error::InvalidEndpointError;
    QTest::newRow("long name") << QUrl(QStringLiteral("inproc:") + QString(256, u'n')) << Error::InvalidEndpointError;
    QTest::newRow("unknown scheme") << QUrl(QStringLiteral("smoke-signal:hill")) << Error::UnsupportedSchemeError;
}

void tst_ChannelServer::listenRejectsBadEndpoints()
{
    QFETCH(QUrl, url);
    QFETCH(Error, error);
    ChannelServer server;
    QSignalSpy errors(&server, &ChannelServer::errorOccurred);
    QVERIFY(!server.listen(url));
    QCOMPARE(errors.count(), 1);
    QCOMPARE(server.error(), error);
    QVERIFY(!server.errorString().isEmpty());
    QVERIFY(!server.isListening());
}

void tst_ChannelServer::listenTwiceFails()
{
    ChannelServer server;
    const QUrl url = uniqueEndpoint("twice");
    QVERIFY(server.listen(url));
    QVERIFY(!server.listen(uniqueEndpoint("twice-other")));
    QCOMPARE(server.error(), Error::AddressInUseError);
    QCOMPARE(server.address(), url); // still on the first name
}

void tst_ChannelServer::closeFreesTheName()
{
    ChannelServer server;
    const QUrl url = uniqueEndpoint("close");
    QVERIFY(server.listen(url));
    server.close();
    QVERIFY(!server.isListening());
    QVERIFY(server.address().isEmpty());
    auto refused = Channel::connectTo(url);
    QSignalSpy errors(refused.receiver.get(), &ChannelReceiver::errorOccurred);
    QVERIFY(errors.wait());
    QCOMPARE(refused.receiver->error(), Error::ConnectionRefusedError);
    ChannelServer again;
    QVERIFY(again.listen(url));
}

void tst_ChannelServer::unclaimedChannelsCloseWithTheServer()
{
    auto server = std::make_unique<ChannelServer>();
    const QUrl url = uniqueEndpoint("unclaimed");
    QVERIFY(server->listen(url));
    auto client = Channel::connectTo(url);
    QSignalSpy connected(client.receiver.get(), &ChannelReceiver::connected);
    QVERIFY(connected.wait());
    QSignalSpy closed(client.receiver.get(), &ChannelReceiver::closed);
    server.reset();
    QVERIFY(closed.wait());
    QVERIFY(!client.sender->send(1));
    QCOMPARE(client.sender->error(), Error::ChannelClosedError);
}

void tst_ChannelServer::serverOptionsBoundAcceptedChannels()
{
    ChannelServer server;
    ChannelOptions options;
    options.capacity = 2;
    options.overflowPolicy = OverflowPolicy::DropOldest;
    server.setChannelOptions(options);
    QCOMPARE(server.channelOptions().capacity, 2);
    const QUrl url = uniqueEndpoint("options");
    QVERIFY(server.listen(url));
    auto client = Channel::connectTo(url);
    for (int i = 0; i < 5; ++i)
        QVERIFY(client.sender->send(i));
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);
    QVERIFY(newChannel.wait());
    ChannelPair serverSide = server.nextPendingChannel();
    QCOMPARE(serverSide.receiver->capacity(), 2);
    QCOMPARE(serverSide.receiver->droppedCount(), 3);
}

void tst_ChannelServer::clientOnAnotherThread()
{
    ChannelServer server;
    const QUrl url = uniqueEndpoint("thread");
    QVERIFY(server.listen(url));
    QThread *serverThread = QThread::currentThread();
    QThread *acceptedOn = nullptr;
    QList<int> received;
    ChannelPair serverSide;
    connect(&server, &ChannelServer::newChannel, this, [&] {
        serverSide = server.nextPendingChannel();
        acceptedOn = serverSide.receiver->thread();
        connect(serverSide.receiver.get(), &ChannelReceiver::messageReceived, this,
                [&](const QVariant &message) { received.append(message.toInt()); });
    });
    std::thread client([url] {
        // A thread without an event loop: a blocking client.
        auto pair = Channel::connectTo(url);
        for (int i = 0; i < 100; ++i)
            pair.sender->send(i);
    });
    client.join();
    QTRY_COMPARE(received.size(), 100);
    QCOMPARE(acceptedOn, serverThread);
    for (int i = 0; i < 100; ++i)
        QCOMPARE(received.at(i), i);
}

void tst_ChannelServer::cloneWhileConnectingIsConnected()
{
    ChannelServer server;
    const QUrl url = uniqueEndpoint("clone");
    QVERIFY(server.listen(url));
    auto client = Channel::connectTo(url);
    QCOMPARE(client.sender->state(), ChannelState::ConnectingState);
    auto clone = client.sender->clone();
    QCOMPARE(clone->state(), ChannelState::ConnectedState);
    QCOMPARE(clone->peerAddress(), url);
    QVERIFY(clone->send(1));
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);
    QVERIFY(newChannel.wait());
    ChannelPair serverSide = server.nextPendingChannel();
    QSignalSpy messages(serverSide.receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(messages.wait());
}

void tst_ChannelServer::connectedComesBeforeTheServersFirstMessage()
{
    // The server greets and hangs up at once; the client must still see a
    // connection that opened, carried the greeting and closed, in that order.
    ChannelServer server;
    const QUrl url = uniqueEndpoint("greet");
    QVERIFY(server.listen(url));
    std::vector<ChannelPair> accepted;
    connect(&server, &ChannelServer::newChannel, this, [&] {
        ChannelPair pair = server.nextPendingChannel();
        pair.sender->send(QStringLiteral("hello"));
        pair.sender.reset();
        accepted.push_back(std::move(pair));
    });
    auto client = Channel::connectTo(url);
    QStringList events;
    connect(client.receiver.get(), &ChannelReceiver::connected, this, [&] { events.append(QStringLiteral("connected")); });
    connect(client.receiver.get(), &ChannelReceiver::messageReceived, this,
            [&](const QVariant &message) { events.append(message.toString()); });
    connect(client.receiver.get(), &ChannelReceiver::disconnected, this,
            [&] { events.append(QStringLiteral("disconnected")); });
    connect(client.receiver.get(), &ChannelReceiver::closed, this, [&] { events.append(QStringLiteral("closed")); });
    QTRY_COMPARE(events.size(), 4);
    QCOMPARE(events, QStringList({QStringLiteral("connected"), QStringLiteral("hello"),
                                  QStringLiteral("disconnected"), QStringLiteral("closed")}));
    QCOMPARE(client.receiver->state(), ChannelState::UnconnectedState);
}

void tst_ChannelServer::fullPendingChannelDoesNotBlockTheServersThread()
{
    // Nobody took the server's end yet, and this thread will drain it: the
    // Block policy must refuse rather than wait for ever.
    ChannelServer server;
    ChannelOptions options;
    options.capacity = 2;
    server.setChannelOptions(options);
    const QUrl url = uniqueEndpoint("pending-full");
    QVERIFY(server.listen(url));
    auto client = Channel::connectTo(url);
    QVERIFY(client.sender->send(1));
    QVERIFY(client.sender->send(2));
    QVERIFY(!client.sender->send(3));
    QCOMPARE(client.sender->error(), Error::QueueFullError);
}

QTEST_GUILESS_MAIN(tst_ChannelServer)
#include "tst_channelserver.moc"
