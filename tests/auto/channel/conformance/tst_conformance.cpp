// One behaviour suite for every transport: each test runs once per row of
// initTestCase_data() (inproc, local, tcp, tls, and local and tcp with a
// shared key; later transports add a row).
#include <Qonduit/certificateauthority.h>
#include <Qonduit/channelserver.h>

#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <QtCore/QCborMap>
#include <QtCore/QDataStream>

#include <algorithm>
#include <vector>

using namespace Qonduit;

namespace {

struct Reading
{
    QString sensor;
    double value = 0;
    friend bool operator==(const Reading &a, const Reading &b) { return a.sensor == b.sensor && a.value == b.value; }
    friend QDataStream &operator<<(QDataStream &out, const Reading &r) { return out << r.sensor << r.value; }
    friend QDataStream &operator>>(QDataStream &in, Reading &r) { return in >> r.sensor >> r.value; }
};

// A type Qt can hold but not stream.
struct Opaque
{
    int value = 0;
};

} // namespace

Q_DECLARE_METATYPE(Reading)
Q_DECLARE_METATYPE(Opaque)

class tst_Conformance : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase_data();
    void initTestCase();
    void init();
    void cleanup();

    void connectsAndReportsConnected();
    void exchangesTypedMessagesBothWays();
    void customTypesTravel();
    void rawMessagesTravelAsTheyAre();
    void cborMessagesTravel();
    void orderIsKeptUnderLoad();
    void smallMessagesNeverOvertakeLargeOnes();
    void largeMessageTravels();
    void senderGoesOnAtReadyToSend();
    void dropsAreReportedWhereTheyHappen();
    void closingTheSenderClosesTheRemoteReceiver();
    void droppingTheClientStillDeliversWhatItSent();
    void manyClientsAtOnce();
    void serverGoneClosesTheClient();
    void connectionRefusedWithoutServer();

private:
    QUrl serverUrl() const;
    bool isInproc() const;
    // options, plus what the row's transport needs on that side (tls: the
    // server's certificate, the client's trusted authority; +psk: the key).
    ChannelOptions serverOptions(ChannelOptions options = {}) const;
    ChannelOptions clientOptions(ChannelOptions options = {}) const;
    // A listening server and one connected client with the server's pair.
    bool connectPair(ChannelPair &client, ChannelPair &server, const ChannelOptions &clientOptions = {});

    std::unique_ptr<ChannelServer> m_server;
    CertificateAuthority m_ca;
    Credentials m_serverCredentials;
    const QByteArray m_sharedKey = QByteArray(32, 'k');
};

void tst_Conformance::initTestCase_data()
{
    QTest::addColumn<QString>("scheme");
    QTest::addColumn<bool>("sharedKey");
    QTest::newRow("inproc") << QStringLiteral("inproc") << false;
    QTest::newRow("local") << QStringLiteral("local") << false;
    QTest::newRow("tcp") << QStringLiteral("tcp") << false;
    QTest::newRow("tls") << QStringLiteral("tls") << false;
    QTest::newRow("local+psk") << QStringLiteral("local") << true;
    QTest::newRow("tcp+psk") << QStringLiteral("tcp") << true;
}

void tst_Conformance::initTestCase()
{
    qRegisterMetaType<Reading>();
    QVERIFY2(m_ca.create(QStringLiteral("tst_conformance CA")), qPrintable(m_ca.errorString()));
    m_serverCredentials = m_ca.issue(QStringLiteral("127.0.0.1"), CertificateAuthority::Purpose::Server);
    QVERIFY2(!m_serverCredentials.isNull(), qPrintable(m_ca.errorString()));
}

QUrl tst_Conformance::serverUrl() const
{
    static int counter = 0;
    QFETCH_GLOBAL(QString, scheme);
    const QString name = QStringLiteral("tst_conformance-%1-%2").arg(QCoreApplication::applicationPid()).arg(++counter);
    if (scheme == u"tcp" || scheme == u"tls")
        return QUrl(scheme + QStringLiteral("://127.0.0.1:0"));
    return QUrl(scheme + u':' + name);
}

ChannelOptions tst_Conformance::serverOptions(ChannelOptions options) const
{
    QFETCH_GLOBAL(QString, scheme);
    QFETCH_GLOBAL(bool, sharedKey);
    if (scheme == u"tls")
        options.tls.credentials = m_serverCredentials;
    if (sharedKey)
        options.sharedKey = m_sharedKey;
    return options;
}

ChannelOptions tst_Conformance::clientOptions(ChannelOptions options) const
{
    QFETCH_GLOBAL(QString, scheme);
    QFETCH_GLOBAL(bool, sharedKey);
    if (scheme == u"tls")
        options.tls.trustedAuthorities = {m_ca.certificate()};
    if (sharedKey)
        options.sharedKey = m_sharedKey;
    return options;
}

bool tst_Conformance::isInproc() const
{
    QFETCH_GLOBAL(QString, scheme);
    return scheme == u"inproc";
}

void tst_Conformance::init()
{
    m_server = std::make_unique<ChannelServer>();
    m_server->setChannelOptions(serverOptions());
    QVERIFY2(m_server->listen(serverUrl()), qPrintable(m_server->errorString()));
}

void tst_Conformance::cleanup()
{
    m_server.reset();
}

bool tst_Conformance::connectPair(ChannelPair &client, ChannelPair &server, const ChannelOptions &clientOptions)
{
    QSignalSpy newChannel(m_server.get(), &ChannelServer::newChannel);
    client = Channel::connectTo(m_server->address(), this->clientOptions(clientOptions));
    QSignalSpy connected(client.receiver.get(), &ChannelReceiver::connected);
    if (!m_server->hasPendingChannels() && !newChannel.wait(10000))
        return false;
    server = m_server->nextPendingChannel();
    if (client.receiver->state() != ChannelState::ConnectedState && !connected.wait(10000))
        return false;
    return server.sender && server.receiver;
}

void tst_Conformance::connectsAndReportsConnected()
{
    auto client = Channel::connectTo(m_server->address(), clientOptions());
    QCOMPARE(client.sender->state(), ChannelState::ConnectingState);
    QCOMPARE(client.receiver->state(), ChannelState::ConnectingState);
    QSignalSpy receiverConnected(client.receiver.get(), &ChannelReceiver::connected);
    QSignalSpy senderConnected(client.sender.get(), &ChannelSender::connected);
    QVERIFY(receiverConnected.wait(10000));
    QTRY_COMPARE(senderConnected.count(), 1);
    QCOMPARE(client.receiver->peerAddress(), m_server->address());
    QTRY_VERIFY(m_server->hasPendingChannels());
    ChannelPair server = m_server->nextPendingChannel();
    QCOMPARE(server.receiver->state(), ChannelState::ConnectedState);
    if (!isInproc())
        QVERIFY(!server.receiver->peerAddress().isEmpty());
}

void tst_Conformance::exchangesTypedMessagesBothWays()
{
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    QSignalSpy atServer(server.receiver.get(), &ChannelReceiver::messageReceived);
    QSignalSpy atClient(client.receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(client.sender->send(42));
    QVERIFY(client.sender->send(QStringLiteral("héllo")));
    const QVariantMap map{{QStringLiteral("a"), 1}, {QStringLiteral("b"), QVariantList{true, 2.5}}};
    QVERIFY(client.sender->send(map));
    QTRY_COMPARE(atServer.count(), 3);
    QCOMPARE(atServer.at(0).at(0).value<QVariant>(), QVariant(42));
    QCOMPARE(atServer.at(1).at(0).value<QVariant>(), QVariant(QStringLiteral("héllo")));
    QCOMPARE(atServer.at(2).at(0).value<QVariant>().toMap(), map);
    QVERIFY(server.sender->send(QByteArrayLiteral("reply")));
    QTRY_COMPARE(atClient.count(), 1);
    QCOMPARE(atClient.at(0).at(0).value<QVariant>(), QVariant(QByteArrayLiteral("reply")));
}

void tst_Conformance::customTypesTravel()
{
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    QSignalSpy atServer(server.receiver.get(), &ChannelReceiver::messageReceived);
    const Reading reading{QStringLiteral("boiler"), 71.5};
    QVERIFY(client.sender->send(reading));
    QTRY_COMPARE(atServer.count(), 1);
    QCOMPARE(atServer.at(0).at(0).value<QVariant>().value<Reading>(), reading);

    // A type without stream operators can only travel in-process.
    const bool sent = client.sender->send(Opaque{7});
    if (isInproc()) {
        QVERIFY(sent);
    } else {
        QVERIFY(!sent);
        QCOMPARE(client.sender->error(), Error::MessageEncodeError);
        QVERIFY(client.sender->errorString().contains(QStringLiteral("Opaque")));
    }
}

void tst_Conformance::rawMessagesTravelAsTheyAre()
{
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    QSignalSpy raw(server.receiver.get(), &ChannelReceiver::rawMessageReceived);
    QSignalSpy typed(server.receiver.get(), &ChannelReceiver::messageReceived);
    QByteArray bytes;
    for (int i = 0; i < 256; ++i)
        bytes.append(char(i));
    QVERIFY(client.sender->sendRaw(bytes));
    QVERIFY(client.sender->sendRaw(QByteArray()));
    QTRY_COMPARE(raw.count(), 2);
    QCOMPARE(raw.at(0).at(0).toByteArray(), bytes);
    QCOMPARE(raw.at(1).at(0).toByteArray(), QByteArray());
    QCOMPARE(typed.count(), 0);
}

void tst_Conformance::cborMessagesTravel()
{
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    QSignalSpy atServer(server.receiver.get(), &ChannelReceiver::messageReceived);
    QCborMap map;
    map.insert(QStringLiteral("temperature"), 21.5);
    map.insert(QStringLiteral("tags"), QCborArray{QStringLiteral("a"), QStringLiteral("b")});
    QVERIFY(client.sender->send(map));
    QTRY_COMPARE(atServer.count(), 1);
    const QVariant received = atServer.at(0).at(0).value<QVariant>();
    // Across processes CBOR arrives as plain Qt values, as a non-Qt peer's would.
    const QVariantMap expected{{QStringLiteral("temperature"), 21.5},
                               {QStringLiteral("tags"), QVariantList{QStringLiteral("a"), QStringLiteral("b")}}};
    if (isInproc())
        QCOMPARE(received.value<QCborMap>(), map);
    else
        QCOMPARE(received.toMap(), expected);
}

void tst_Conformance::orderIsKeptUnderLoad()
{
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    constexpr int total = 50000;
    int received = 0;
    bool ordered = true;
    connect(server.receiver.get(), &ChannelReceiver::messageReceived, this, [&](const QVariant &message) {
        ordered &= message.toInt() == received;
        ++received;
    });
    for (int i = 0; i < total; ++i) {
        QVERIFY(client.sender->send(i));
        if (i % 5000 == 0)
            QCoreApplication::processEvents();
    }
    QTRY_COMPARE_WITH_TIMEOUT(received, total, 30000);
    QVERIFY(ordered);
}

// Over a socket, small messages are copied into the connection's batch and
// large ones (64 KiB and more) handed to the socket as they are: alternating
// sizes switches between the two at every message, and none may overtake
// another. The 7 MiB sent fit every queue at once but a local: send queue
// (2 MiB, D56): there the sender goes on at readyToSend(), as an
// application would.
void tst_Conformance::smallMessagesNeverOvertakeLargeOnes()
{
    QFETCH_GLOBAL(QString, scheme);
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    constexpr int total = 300;
    const QByteArray large(70 * 1024, 'L');
    int sent = 0;
    int refusals = 0;
    int received = 0;
    bool ordered = true;
    bool otherError = false;
    connect(server.receiver.get(), &ChannelReceiver::rawMessageReceived, this, [&](const QByteArray &message) {
        const int index = received++;
        const bool isLarge = index % 3 == 2;
        ordered &= isLarge ? message == large : message == QByteArray::number(index);
    });
    const auto sendUntilFull = [&] {
        for (; sent < total; ++sent) {
            if (!client.sender->sendRaw(sent % 3 == 2 ? large : QByteArray::number(sent))) {
                otherError |= client.sender->error() != Error::QueueFullError;
                ++refusals;
                return;
            }
        }
    };
    connect(client.sender.get(), &ChannelSender::readyToSend, this, sendUntilFull);
    sendUntilFull();
    QTRY_VERIFY_WITH_TIMEOUT(received == total || otherError, 30000);
    QVERIFY2(!otherError, qPrintable(client.sender->errorString()));
    QVERIFY(ordered);
    if (scheme == u"local")
        QVERIFY2(refusals > 0, "the send queue took 7 MiB: the test did not exercise readyToSend()");
    else
        QCOMPARE(refusals, 0);
}

void tst_Conformance::largeMessageTravels()
{
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    QSignalSpy raw(server.receiver.get(), &ChannelReceiver::rawMessageReceived);
    QByteArray big(8 * 1024 * 1024, Qt::Uninitialized);
    for (qsizetype i = 0; i < big.size(); ++i)
        big[i] = char(i * 7);
    QVERIFY(client.sender->sendRaw(big));
    QVERIFY(client.sender->sendRaw(QByteArrayLiteral("after")));
    QTRY_COMPARE_WITH_TIMEOUT(raw.count(), 2, 30000);
    QCOMPARE(raw.at(0).at(0).toByteArray(), big);
    QCOMPARE(raw.at(1).at(0).toByteArray(), QByteArrayLiteral("after"));
}

// A producer on a thread that may not block (this one runs the event loop)
// sends until the queue is full, then goes on at readyToSend(): everything
// arrives, in order, with no timer and no lost message.
void tst_Conformance::senderGoesOnAtReadyToSend()
{
    ChannelOptions options;
    options.capacity = 64;
    // In-process the receiver's queue is the one the sender fills; over a
    // socket the sender's own queue comes first.
    m_server->setChannelOptions(serverOptions(options));
    ChannelPair client, server;
    QVERIFY(connectPair(client, server, options));
    constexpr int total = 20000;
    int sent = 0;
    int refusals = 0;
    int received = 0;
    bool ordered = true;
    bool otherError = false;
    connect(server.receiver.get(), &ChannelReceiver::messageReceived, this, [&](const QVariant &message) {
        ordered &= message.toInt() == received;
        ++received;
    });
    const auto sendUntilFull = [&] {
        while (sent < total) {
            if (!client.sender->send(sent)) {
                otherError |= client.sender->error() != Error::QueueFullError;
                ++refusals;
                return;
            }
            ++sent;
        }
    };
    connect(client.sender.get(), &ChannelSender::readyToSend, this, sendUntilFull);
    sendUntilFull();
    QTRY_COMPARE_WITH_TIMEOUT(received, total, 30000);
    QVERIFY(ordered);
    QVERIFY(!otherError);
    QVERIFY2(refusals > 0, "the queue never filled: the test did not exercise readyToSend()");
}

void tst_Conformance::dropsAreReportedWhereTheyHappen()
{
    // A burst sent within one event-loop turn into a queue of 8 that drops
    // its oldest: in-process the receiver's queue drops and lagged() counts;
    // over a socket the sender's own queue drops first, and its senders hear
    // the count through errorOccurred(QueueFullError).
    ChannelOptions options;
    options.capacity = 8;
    options.overflowPolicy = OverflowPolicy::DropOldest;
    // In-process the server's receiving queue is the one the sender fills;
    // over a socket it keeps its default bound, so that only the sender's
    // queue drops.
    if (isInproc())
        m_server->setChannelOptions(serverOptions(options));
    ChannelPair client, server;
    QVERIFY(connectPair(client, server, options));
    QList<int> received;
    qint64 lagged = 0;
    qint64 reportedToSender = 0;
    bool otherError = false;
    connect(server.receiver.get(), &ChannelReceiver::messageReceived, this,
            [&](const QVariant &message) { received << message.toInt(); });
    connect(server.receiver.get(), &ChannelReceiver::lagged, this, [&](qint64 count) { lagged += count; });
    connect(client.sender.get(), &ChannelSender::errorOccurred, this, [&](Error error) {
        otherError |= error != Error::QueueFullError;
        reportedToSender += client.sender->errorString().section(u' ', 0, 0).toLongLong();
    });
    constexpr int total = 100;
    for (int i = 0; i < total; ++i)
        QVERIFY(client.sender->send(i));
    QTRY_COMPARE(received.size() + lagged + reportedToSender, total);
    QVERIFY(!otherError);
    QVERIFY(std::is_sorted(received.cbegin(), received.cend()));
    QCOMPARE(received.last(), total - 1); // the newest are kept
    if (isInproc()) {
        QVERIFY(lagged > 0);
        QCOMPARE(reportedToSender, 0);
    } else {
        QVERIFY2(reportedToSender > 0, qPrintable(client.sender->errorString()));
        QCOMPARE(lagged, 0);
    }
}

void tst_Conformance::closingTheSenderClosesTheRemoteReceiver()
{
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    QStringList events;
    connect(server.receiver.get(), &ChannelReceiver::messageReceived, this,
            [&](const QVariant &message) { events.append(message.toString()); });
    connect(server.receiver.get(), &ChannelReceiver::closed, this, [&] { events.append(QStringLiteral("closed")); });
    connect(server.receiver.get(), &ChannelReceiver::errorOccurred, this,
            [&](Error error) { events.append(QStringLiteral("error %1").arg(int(error))); });
    QVERIFY(client.sender->send(QStringLiteral("one")));
    QVERIFY(client.sender->send(QStringLiteral("two")));
    client.sender.reset();
    QTRY_COMPARE(events.size(), 3);
    QCOMPARE(events, QStringList({QStringLiteral("one"), QStringLiteral("two"), QStringLiteral("closed")}));
    // The other direction is still open.
    QSignalSpy atClient(client.receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(server.sender->send(QStringLiteral("still here")));
    QTRY_COMPARE(atClient.count(), 1);
}

void tst_Conformance::droppingTheClientStillDeliversWhatItSent()
{
    // "Send and quit": the client's objects go away at once, yet what they
    // queued reaches the server, followed by a clean close.
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    constexpr int total = 1000;
    int received = 0;
    QList<Error> errors;
    connect(server.receiver.get(), &ChannelReceiver::messageReceived, this, [&] { ++received; });
    connect(server.receiver.get(), &ChannelReceiver::errorOccurred, this, [&](Error error) { errors.append(error); });
    QSignalSpy closed(server.receiver.get(), &ChannelReceiver::closed);
    for (int i = 0; i < total; ++i)
        QVERIFY(client.sender->send(i));
    client = {};
    QVERIFY(closed.wait(10000));
    QCOMPARE(received, total);
    QCOMPARE(errors, QList<Error>());
}

void tst_Conformance::manyClientsAtOnce()
{
    constexpr int clients = 50;
    std::vector<ChannelPair> clientSides;
    for (int i = 0; i < clients; ++i) {
        clientSides.push_back(Channel::connectTo(m_server->address(), clientOptions()));
        QVERIFY(clientSides.back().sender->send(i));
    }
    std::vector<ChannelPair> serverSides;
    QList<int> received;
    const auto take = [&] {
        while (m_server->hasPendingChannels()) {
            serverSides.push_back(m_server->nextPendingChannel());
            connect(serverSides.back().receiver.get(), &ChannelReceiver::messageReceived, this,
                    [&](const QVariant &message) { received.append(message.toInt()); });
        }
    };
    connect(m_server.get(), &ChannelServer::newChannel, this, take);
    take();
    QTRY_COMPARE_WITH_TIMEOUT(received.size(), clients, 30000);
    std::sort(received.begin(), received.end());
    for (int i = 0; i < clients; ++i)
        QCOMPARE(received.at(i), i);
}

void tst_Conformance::serverGoneClosesTheClient()
{
    ChannelPair client, server;
    QVERIFY(connectPair(client, server));
    QSignalSpy closed(client.receiver.get(), &ChannelReceiver::closed);
    QSignalSpy messages(client.receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(server.sender->send(QStringLiteral("bye")));
    server = {};
    m_server.reset();
    QVERIFY(closed.wait(10000));
    QCOMPARE(messages.count(), 1);
    QTRY_VERIFY(!client.sender->send(1));
    QCOMPARE(client.sender->error(), Error::ChannelClosedError);
}

void tst_Conformance::connectionRefusedWithoutServer()
{
    const QUrl address = m_server->address();
    m_server.reset();
    auto client = Channel::connectTo(address, clientOptions());
    QSignalSpy errors(client.receiver.get(), &ChannelReceiver::errorOccurred);
    QSignalSpy closed(client.receiver.get(), &ChannelReceiver::closed);
    QVERIFY(errors.wait(10000));
    QCOMPARE(errors.count(), 1);
    QCOMPARE(errors.at(0).at(0).value<Error>(), Error::ConnectionRefusedError);
    QVERIFY2(client.receiver->errorString().contains(address.toString().section(u':', 0, 0)),
             qPrintable(client.receiver->errorString()));
    QTRY_COMPARE(closed.count(), 1);
    QCOMPARE(client.receiver->state(), ChannelState::UnconnectedState);
    QTRY_COMPARE(client.sender->state(), ChannelState::UnconnectedState);
}

QTEST_GUILESS_MAIN(tst_Conformance)
#include "tst_conformance.moc"
