// What only shared-key channels (ChannelOptions::sharedKey on tcp:// and
// local:) do: the Noise_NNpsk0 handshake, a wrong or unusable key on either
// side, peers with and without a key, and a man-in-the-middle that flips,
// drops, duplicates, swaps, replays or reflects handshake messages and
// records, and counters at the end of the nonce space (SECURITY.md
// "Authentication").
// The behaviour every transport shares runs with a shared key in
// tst_conformance (rows local+psk and tcp+psk).
#include <Qonduit/certificateauthority.h>
#include <Qonduit/channelserver.h>

#include "security/noisestreamlistener_p.h"
#include "security/noisestreamsocket_p.h"
#include "transport/endpoint_p.h"
#include "transport/transportregistry_p.h"

#include <QtCore/QtEndian>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <functional>
#include <memory>

using namespace Qonduit;

namespace {

const QByteArray goodKey = QByteArray(32, '\x5a');
const QByteArray otherKey = QByteArray(31, '\x5a') + 'x';

Endpoint endpointOf(const QUrl &url)
{
    Endpoint endpoint;
    QString text;
    const Error error = Endpoint::parse(url, endpoint, text);
    Q_ASSERT_X(error == Error::NoError, "endpointOf", qPrintable(text));
    return endpoint;
}

ChannelOptions keyed(const QByteArray &key)
{
    ChannelOptions options;
    options.sharedKey = key;
    options.heartbeatIntervalMs = 0; // no PING records in the way
    return options;
}

// A man in the middle made of two QTcpSocket pairs: the client connects to
// it, it connects to the target. Bytes from the client are cut into
// length-prefixed units (unit 0: the handshake's message 1, then one unit
// per record) and each goes through tamper(), which returns what to forward
// instead. Bytes from the server pass as they are, unless a server tamper is
// set: then they are cut the same way (unit 0: message 2). toClient() and
// toServer() send a unit back the way it came (a reflection).
class Proxy : public QObject
{
public:
    using Tamper = std::function<QByteArrayList(int index, const QByteArray &unit)>;

    Proxy(quint16 targetPort, Tamper tamper) : m_targetPort(targetPort), m_tamper(std::move(tamper))
    {
        QObject::connect(&m_server, &QTcpServer::newConnection, this, [this] { accept(); });
        m_server.listen(QHostAddress::LocalHost, 0);
    }

    QUrl url() const { return QUrl(QStringLiteral("tcp://127.0.0.1:%1").arg(m_server.serverPort())); }
    int unitsSeen() const { return m_units; }
    // Every byte the client sent, as it sent it.
    QByteArray recorded() const { return m_recorded; }
    void setServerTamper(Tamper tamper) { m_serverTamper = std::move(tamper); }
    void toClient(const QByteArray &bytes) { m_down->write(bytes); }
    void toServer(const QByteArray &bytes) { m_up->write(bytes); }

private:
    void accept()
    {
        m_down = m_server.nextPendingConnection();
        m_up = new QTcpSocket(this);
        QObject::connect(m_down, &QTcpSocket::readyRead, this, [this] {
            const QByteArray bytes = m_down->readAll();
            m_recorded += bytes;
            cut(m_buffer, bytes, m_tamper, m_units, m_up);
        });
        QObject::connect(m_up, &QTcpSocket::readyRead, this, [this] {
            if (m_serverTamper)
                cut(m_serverBuffer, m_up->readAll(), m_serverTamper, m_serverUnits, m_down);
            else
                m_down->write(m_up->readAll());
        });
        QObject::connect(m_down, &QTcpSocket::disconnected, this, [this] { m_up->disconnectFromHost(); });
        QObject::connect(m_up, &QTcpSocket::disconnected, this, [this] { m_down->disconnectFromHost(); });
        m_up->connectToHost(QHostAddress::LocalHost, m_targetPort);
    }

    static void cut(QByteArray &buffer, const QByteArray &bytes, const Tamper &tamper, int &units, QTcpSocket *to)
    {
        buffer += bytes;
        while (buffer.size() >= 2) {
            const qsizetype length = qFromBigEndian<quint16>(buffer.constData());
            if (buffer.size() < 2 + length)
                break;
            const QByteArray unit = buffer.left(2 + length);
            buffer.remove(0, 2 + length);
            for (const QByteArray &out : tamper(units++, unit))
                to->write(out);
        }
    }

    QTcpServer m_server;
    quint16 m_targetPort;
    Tamper m_tamper;
    Tamper m_serverTamper;
    QTcpSocket *m_down = nullptr;
    QTcpSocket *m_up = nullptr;
    QByteArray m_buffer;
    QByteArray m_serverBuffer;
    QByteArray m_recorded;
    int m_units = 0;
    int m_serverUnits = 0;
};

// A shared-key listener on tcp://127.0.0.1:0 that keeps every socket it
// admits, what they reported when they failed, and how many closed.
struct KeyedListener
{
    explicit KeyedListener(const ChannelOptions &options)
    {
        const Endpoint endpoint = endpointOf(QUrl(QStringLiteral("tcp://127.0.0.1:0")));
        listener = Transports::makeListener(endpoint, options);
        noise = qobject_cast<NoiseStreamListener *>(listener.get());
        listener->setOptionsSource([options] { return options; });
        Error error = Error::NoError;
        QString text;
        listening = listener->listen(endpoint, error, text);
        QObject::connect(listener.get(), &StreamListener::incoming, listener.get(), [this](StreamSocket *socket) {
            admitted.emplace_back(socket);
            QObject::connect(socket, &StreamSocket::failed, listener.get(),
                             [this](Error error, const QString &text) { failures.append({error, text}); });
            QObject::connect(socket, &StreamSocket::disconnected, listener.get(), [this] { ++closed; });
        });
    }
    quint16 port() const { return quint16(listener->address().port()); }

    std::unique_ptr<StreamListener> listener;
    NoiseStreamListener *noise = nullptr;
    bool listening = false;
    std::vector<std::unique_ptr<StreamSocket>> admitted;
    QList<std::pair<Error, QString>> failures;
    int closed = 0;
};

} // namespace

class tst_NoiseStreamSocket : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void wrongKeyIsRefusedOnBothSides_data();
    void wrongKeyIsRefusedOnBothSides();
    void mismatchedClientIsRefusedAndTheServerServesOthers_data();
    void mismatchedClientIsRefusedAndTheServerServesOthers();
    void keyOfAnotherLengthIsRefused();
    void silentClientIsDroppedAtTheHandshakeTimeout();
    void bytesOnTheWireAreNotPlain();
    void largeAndManySmallMessagesArriveIntact_data();
    void largeAndManySmallMessagesArriveIntact();
    void tamperingClosesAndDeliversNothingAfter_data();
    void tamperingClosesAndDeliversNothingAfter();
    void replayedSessionIsRefused();
    void reflectionClosesOnBothSides_data();
    void reflectionClosesOnBothSides();
    void usedUpNoncesCloseTheConnection_data();
    void usedUpNoncesCloseTheConnection();
    void sharedKeyOnTlsOrInprocIsRefused_data();
    void sharedKeyOnTlsOrInprocIsRefused();
    void closingWhileThePeerSendsIsNoFailure();

private:
    QUrl serverUrl(const QString &scheme) const;
};

QUrl tst_NoiseStreamSocket::serverUrl(const QString &scheme) const
{
    static int counter = 0;
    if (scheme == u"tcp")
        return QUrl(QStringLiteral("tcp://127.0.0.1:0"));
    return QUrl(QStringLiteral("local:tst_noisestreamsocket-%1-%2").arg(QCoreApplication::applicationPid()).arg(++counter));
}

void tst_NoiseStreamSocket::wrongKeyIsRefusedOnBothSides_data()
{
    QTest::addColumn<QString>("scheme");
    QTest::newRow("tcp") << QStringLiteral("tcp");
    QTest::newRow("local") << QStringLiteral("local");
}

void tst_NoiseStreamSocket::wrongKeyIsRefusedOnBothSides()
{
    QFETCH(QString, scheme);
    const Endpoint endpoint = endpointOf(serverUrl(scheme));
    auto listener = Transports::makeListener(endpoint, keyed(goodKey));
    auto *noise = qobject_cast<NoiseStreamListener *>(listener.get());
    QVERIFY(noise);
    listener->setOptionsSource([] { return keyed(goodKey); });
    Error error = Error::NoError;
    QString text;
    QVERIFY2(listener->listen(endpoint, error, text), qPrintable(text));
    std::vector<std::unique_ptr<StreamSocket>> admitted;
    connect(listener.get(), &StreamListener::incoming, this,
            [&admitted](StreamSocket *socket) { admitted.emplace_back(socket); });
    QSignalSpy refused(noise, &NoiseStreamListener::refused);

    auto wrong = Transports::connectTo(endpointOf(listener->address()), keyed(otherKey));
    QSignalSpy wrongFailed(wrong.get(), &StreamSocket::failed);
    QSignalSpy wrongConnected(wrong.get(), &StreamSocket::connected);
    QSignalSpy wrongClosed(wrong.get(), &StreamSocket::disconnected);
    QVERIFY(wrongClosed.wait(10000));
    QCOMPARE(wrongConnected.count(), 0);
    QCOMPARE(wrongFailed.count(), 1);
    QCOMPARE(wrongFailed.at(0).at(0).value<Error>(), Error::AuthenticationError);
    const QString clientText = wrongFailed.at(0).at(1).toString();
    QVERIFY2(clientText.contains(u"the server refused the shared key (the keys differ)"), qPrintable(clientText));
    QTRY_COMPARE(refused.count(), 1);
    QCOMPARE(refused.at(0).at(0).value<Error>(), Error::AuthenticationError);
    QVERIFY2(refused.at(0).at(1).toString().contains(u"shared key differs"),
             qPrintable(refused.at(0).at(1).toString()));
    QCOMPARE(noise->handshakingCount(), 0);
    QVERIFY(admitted.empty());

    // The server goes on serving a client with the right key.
    auto good = Transports::connectTo(endpointOf(listener->address()), keyed(goodKey));
    QSignalSpy goodConnected(good.get(), &StreamSocket::connected);
    QVERIFY(goodConnected.wait(10000));
    QTRY_COMPARE(admitted.size(), size_t(1));
    QSignalSpy arrived(admitted.front()->device(), &QIODevice::readyRead);
    good->device()->write("hello");
    QVERIFY(arrived.wait(10000));
    QCOMPARE(admitted.front()->device()->readAll(), QByteArray("hello"));
    QCOMPARE(noise->refusedCount(), 1);
}

void tst_NoiseStreamSocket::mismatchedClientIsRefusedAndTheServerServesOthers_data()
{
    QTest::addColumn<QByteArray>("serverKey");
    QTest::addColumn<QByteArray>("clientKey");
    QTest::addColumn<Error>("error");
    QTest::addColumn<QString>("fragment");
    QTest::newRow("wrong key") << goodKey << otherKey << Error::AuthenticationError
                               << QStringLiteral("the server refused the shared key (the keys differ)");
    QTest::newRow("client without a key") << goodKey << QByteArray() << Error::ProtocolError
                                          << QStringLiteral("does not speak the Qonduit protocol");
    QTest::newRow("server without a key") << QByteArray() << goodKey << Error::RemoteClosedError
                                          << QStringLiteral("during the shared-key handshake");
}

void tst_NoiseStreamSocket::mismatchedClientIsRefusedAndTheServerServesOthers()
{
    QFETCH(QByteArray, serverKey);
    QFETCH(QByteArray, clientKey);
    QFETCH(Error, error);
    QFETCH(QString, fragment);
    ChannelServer server;
    server.setChannelOptions(keyed(serverKey));
    QVERIFY2(server.listen(serverUrl(QStringLiteral("tcp"))), qPrintable(server.errorString()));
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);

    auto refused = Channel::connectTo(server.address(), keyed(clientKey));
    QSignalSpy refusedError(refused.receiver.get(), &ChannelReceiver::errorOccurred);
    QSignalSpy refusedConnected(refused.receiver.get(), &ChannelReceiver::connected);
    QVERIFY(refusedError.wait(10000));
    QCOMPARE(refusedError.at(0).at(0).value<Error>(), error);
    QVERIFY2(refused.receiver->errorString().contains(fragment), qPrintable(refused.receiver->errorString()));
    QCOMPARE(refusedConnected.count(), 0);
    QCOMPARE(newChannel.count(), 0);

    auto good = Channel::connectTo(server.address(), keyed(serverKey));
    QVERIFY(newChannel.wait(10000));
    ChannelPair pair = server.nextPendingChannel();
    QSignalSpy atServer(pair.receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(good.sender->send(QStringLiteral("still here")));
    QTRY_COMPARE(atServer.count(), 1);
    QCOMPARE(atServer.at(0).at(0).value<QVariant>().toString(), QStringLiteral("still here"));
}

void tst_NoiseStreamSocket::keyOfAnotherLengthIsRefused()
{
    ChannelServer server;
    server.setChannelOptions(keyed(QByteArray(16, 'k')));
    QVERIFY(!server.listen(serverUrl(QStringLiteral("tcp"))));
    QCOMPARE(server.error(), Error::AuthenticationError);
    QVERIFY2(server.errorString().contains(u"exactly 32"), qPrintable(server.errorString()));

    ChannelServer plain;
    QVERIFY(plain.listen(serverUrl(QStringLiteral("local"))));
    auto client = Channel::connectTo(plain.address(), keyed(QByteArray(33, 'k')));
    QSignalSpy error(client.receiver.get(), &ChannelReceiver::errorOccurred);
    QVERIFY(error.wait(10000));
    QCOMPARE(error.at(0).at(0).value<Error>(), Error::AuthenticationError);
    QVERIFY2(client.receiver->errorString().contains(u"has 33 bytes"), qPrintable(client.receiver->errorString()));
}

void tst_NoiseStreamSocket::silentClientIsDroppedAtTheHandshakeTimeout()
{
    const Endpoint endpoint = endpointOf(serverUrl(QStringLiteral("tcp")));
    ChannelOptions options = keyed(goodKey);
    options.handshakeTimeoutMs = 200;
    auto listener = Transports::makeListener(endpoint, options);
    auto *noise = qobject_cast<NoiseStreamListener *>(listener.get());
    QVERIFY(noise);
    listener->setOptionsSource([options] { return options; });
    Error error = Error::NoError;
    QString text;
    QVERIFY2(listener->listen(endpoint, error, text), qPrintable(text));
    QSignalSpy refused(noise, &NoiseStreamListener::refused);

    QTcpSocket silent;
    silent.connectToHost(QHostAddress::LocalHost, quint16(listener->address().port()));
    QVERIFY(silent.waitForConnected(10000));
    QTRY_COMPARE_WITH_TIMEOUT(refused.count(), 1, 10000);
    QCOMPARE(refused.at(0).at(0).value<Error>(), Error::TimeoutError);
    QVERIFY2(refused.at(0).at(1).toString().contains(u"did not complete the shared-key handshake within 200 ms"),
             qPrintable(refused.at(0).at(1).toString()));
    QTRY_COMPARE(silent.state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(noise->handshakingCount(), 0);
}

void tst_NoiseStreamSocket::bytesOnTheWireAreNotPlain()
{
    ChannelServer server;
    server.setChannelOptions(keyed(goodKey));
    QVERIFY(server.listen(serverUrl(QStringLiteral("tcp"))));
    Proxy proxy(quint16(server.address().port()), [](int, const QByteArray &unit) { return QByteArrayList{unit}; });
    auto client = Channel::connectTo(proxy.url(), keyed(goodKey));
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);
    QVERIFY(newChannel.wait(10000));
    ChannelPair pair = server.nextPendingChannel();
    QSignalSpy atServer(pair.receiver.get(), &ChannelReceiver::rawMessageReceived);
    const QByteArray secret = QByteArrayLiteral("a secret that must not travel in clear");
    QVERIFY(client.sender->sendRaw(secret));
    QTRY_COMPARE(atServer.count(), 1);
    QCOMPARE(atServer.at(0).at(0).toByteArray(), secret);
    QVERIFY(!proxy.recorded().contains(secret));
    QVERIFY(!proxy.recorded().contains(QByteArrayLiteral("QND")));
    // Message 1 of NNpsk0: 2 bytes of length, then 32 + 16.
    QCOMPARE(qFromBigEndian<quint16>(proxy.recorded().constData()), quint16(48));
}

void tst_NoiseStreamSocket::largeAndManySmallMessagesArriveIntact_data()
{
    wrongKeyIsRefusedOnBothSides_data();
}

void tst_NoiseStreamSocket::largeAndManySmallMessagesArriveIntact()
{
    QFETCH(QString, scheme);
    ChannelServer server;
    server.setChannelOptions(keyed(goodKey));
    QVERIFY(server.listen(serverUrl(scheme)));
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);
    auto client = Channel::connectTo(server.address(), keyed(goodKey));
    QVERIFY(newChannel.wait(10000));
    ChannelPair pair = server.nextPendingChannel();
    QByteArrayList received;
    connect(pair.receiver.get(), &ChannelReceiver::rawMessageReceived, this,
            [&received](const QByteArray &bytes) { received.append(bytes); });

    QByteArrayList sent;
    QByteArray large(3 * 1024 * 1024 + 7, Qt::Uninitialized); // spans many records
    for (qsizetype i = 0; i < large.size(); ++i)
        large[i] = char((i * 131 + 7) & 0xff);
    sent.append(large);
    for (int i = 0; i < 20000; ++i)
        sent.append(QByteArray::number(i).rightJustified(64, '.'));
    sent.append(QByteArray(NoiseStreamSocket::maxRecordPlaintext + 1, 'x'));
    for (const QByteArray &message : std::as_const(sent))
        QVERIFY(client.sender->sendRaw(message));
    QTRY_COMPARE_WITH_TIMEOUT(received.size(), sent.size(), 30000);
    QVERIFY(received == sent);
}

void tst_NoiseStreamSocket::tamperingClosesAndDeliversNothingAfter_data()
{
    QTest::addColumn<QString>("attack");
    // How many of the messages 0, 1, 2, ... arrive when the record of
    // message 3 is attacked.
    QTest::addColumn<int>("expectedDelivered");
    QTest::newRow("flip a bit") << QStringLiteral("flip") << 3;
    QTest::newRow("flip a length bit") << QStringLiteral("flipLength") << 3;
    QTest::newRow("a length of 0") << QStringLiteral("zeroLength") << 3;
    QTest::newRow("drop a record") << QStringLiteral("drop") << 3;
    QTest::newRow("duplicate a record") << QStringLiteral("duplicate") << 4;
    QTest::newRow("swap two records") << QStringLiteral("swap") << 3;
}

void tst_NoiseStreamSocket::tamperingClosesAndDeliversNothingAfter()
{
    QFETCH(QString, attack);
    QFETCH(int, expectedDelivered);
    int target = -1; // the record of message 3, once known
    ChannelServer server;
    server.setChannelOptions(keyed(goodKey));
    QVERIFY(server.listen(serverUrl(QStringLiteral("tcp"))));
    QByteArray held;
    Proxy proxy(quint16(server.address().port()), [&](int index, const QByteArray &unit) -> QByteArrayList {
        if (index == target) {
            QByteArray changed = unit;
            if (attack == u"flip") {
                changed[2 + 5] = char(changed[2 + 5] ^ 0x10);
                return {changed};
            }
            if (attack == u"flipLength") {
                changed[1] = char(changed[1] ^ 0x01);
                return {changed};
            }
            if (attack == u"zeroLength") {
                changed[0] = changed[1] = 0;
                return {changed};
            }
            if (attack == u"drop")
                return {};
            if (attack == u"duplicate")
                return {unit, unit};
            if (attack == u"swap") {
                held = unit;
                return {};
            }
        }
        if (index == target + 1 && attack == u"swap")
            return {unit, held};
        return {unit};
    });

    auto client = Channel::connectTo(proxy.url(), keyed(goodKey));
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);
    QVERIFY(newChannel.wait(10000));
    ChannelPair pair = server.nextPendingChannel();
    QStringList received;
    connect(pair.receiver.get(), &ChannelReceiver::messageReceived, this,
            [&received](const QVariant &message) { received.append(message.toString()); });
    QSignalSpy serverError(pair.receiver.get(), &ChannelReceiver::errorOccurred);
    QSignalSpy serverClosed(pair.receiver.get(), &ChannelReceiver::closed);
    QTRY_COMPARE(client.sender->state(), ChannelState::ConnectedState);
    // The server has its channel, so every unit of the set-up (the
    // handshake's message 1, the preface, HELLO, OPEN) has passed: the next
    // units are the records of the messages sent below, one each, since the
    // next goes out only once the proxy saw the last.
    const int base = proxy.unitsSeen();
    target = base + 3;
    QStringList sent;
    for (int i = 0; i < 8 && serverError.isEmpty(); ++i) {
        const QString message = QStringLiteral("message %1").arg(i);
        if (!client.sender->send(message))
            break;
        sent.append(message);
        QTRY_VERIFY(proxy.unitsSeen() > base + i || !serverError.isEmpty()
                    || client.sender->state() != ChannelState::ConnectedState);
    }
    QTRY_COMPARE(serverError.count(), 1);
    const Error error = serverError.at(0).at(0).value<Error>();
    QVERIFY2(error == Error::AuthenticationError || error == Error::ProtocolError,
             qPrintable(pair.receiver->errorString()));
    QTRY_COMPARE(serverClosed.count(), 1);
    QCOMPARE(received, sent.mid(0, expectedDelivered));
    // The client learns that the connection is gone.
    QTRY_COMPARE(client.sender->state(), ChannelState::UnconnectedState);
}

void tst_NoiseStreamSocket::replayedSessionIsRefused()
{
    ChannelServer server;
    server.setChannelOptions(keyed(goodKey));
    QVERIFY(server.listen(serverUrl(QStringLiteral("tcp"))));
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);
    QByteArray recorded;
    {
        Proxy proxy(quint16(server.address().port()), [](int, const QByteArray &unit) { return QByteArrayList{unit}; });
        auto client = Channel::connectTo(proxy.url(), keyed(goodKey));
        QVERIFY(newChannel.wait(10000));
        ChannelPair pair = server.nextPendingChannel();
        QSignalSpy atServer(pair.receiver.get(), &ChannelReceiver::messageReceived);
        for (int i = 0; i < 5; ++i)
            QVERIFY(client.sender->send(QStringLiteral("transfer %1").arg(i)));
        QTRY_COMPARE(atServer.count(), 5);
        recorded = proxy.recorded();
    }
    QVERIFY(recorded.size() > 100);
    QCOMPARE(newChannel.count(), 1);

    // The same bytes again, from a new connection: message 1 passes (NNpsk0
    // cannot tell a replayed first message), but the server's fresh ephemeral
    // key makes every recorded record fail.
    QTcpSocket replay;
    replay.connectToHost(QHostAddress::LocalHost, quint16(server.address().port()));
    QVERIFY(replay.waitForConnected(10000));
    replay.write(recorded);
    QTRY_COMPARE_WITH_TIMEOUT(replay.state(), QAbstractSocket::UnconnectedState, 10000);
    QCOMPARE(newChannel.count(), 1);
    QVERIFY(!server.hasPendingChannels());
}

void tst_NoiseStreamSocket::reflectionClosesOnBothSides_data()
{
    // What the man in the middle sends back the way it came.
    QTest::addColumn<QString>("reflect");
    QTest::newRow("message 1 to the initiator") << QStringLiteral("message1");
    QTest::newRow("message 1 and message 2 to their senders") << QStringLiteral("both");
    QTest::newRow("a record to its sender") << QStringLiteral("record");
}

void tst_NoiseStreamSocket::reflectionClosesOnBothSides()
{
    QFETCH(QString, reflect);
    KeyedListener server(keyed(goodKey));
    QVERIFY(server.listening);
    QSignalSpy refused(server.noise, &NoiseStreamListener::refused);
    Proxy *proxy = nullptr;
    QByteArray message1;
    Proxy middle(server.port(), [&](int index, const QByteArray &unit) -> QByteArrayList {
        if (reflect == u"message1" && index == 0) {
            proxy->toClient(unit); // the initiator reads its own message as the answer
            return {};
        }
        if (reflect == u"both" && index == 0)
            message1 = unit; // back to the initiator once message 2 is back at the responder
        if (reflect == u"record" && index == 1) {
            proxy->toClient(unit); // the client's first record, back to the client
            return {};
        }
        return {unit};
    });
    proxy = &middle;
    middle.setServerTamper([&](int index, const QByteArray &unit) -> QByteArrayList {
        if (reflect == u"both" && index == 0) {
            proxy->toServer(unit); // the responder reads its own message 2 as a record
            proxy->toClient(message1);
            return {};
        }
        return {unit};
    });

    auto client = Transports::connectTo(endpointOf(middle.url()), keyed(goodKey));
    QSignalSpy clientFailed(client.get(), &StreamSocket::failed);
    QSignalSpy clientConnected(client.get(), &StreamSocket::connected);
    QSignalSpy clientClosed(client.get(), &StreamSocket::disconnected);
    if (reflect == u"record") {
        QVERIFY(clientConnected.wait(10000));
        client->device()->write("never delivered");
        client->flush();
    }
    QTRY_COMPARE_WITH_TIMEOUT(clientClosed.count(), 1, 10000);
    QCOMPARE(clientFailed.count(), 1);
    QCOMPARE(clientFailed.at(0).at(0).value<Error>(), Error::AuthenticationError);
    const QString clientText = clientFailed.at(0).at(1).toString();
    if (reflect == u"record") {
        QVERIFY2(clientText.contains(u"failed authentication: the connection was tampered with"), qPrintable(clientText));
    } else {
        QCOMPARE(clientConnected.count(), 0);
        QVERIFY2(clientText.contains(u"its answer did not authenticate"), qPrintable(clientText));
    }
    QCOMPARE(client->device()->bytesAvailable(), qint64(0));

    if (reflect == u"message1") {
        // The responder never saw a handshake message: the connection closed
        // during its handshake.
        QTRY_COMPARE(refused.count(), 1);
        QCOMPARE(refused.at(0).at(0).value<Error>(), Error::RemoteClosedError);
        QVERIFY(server.admitted.empty());
    } else {
        // The responder finished its handshake (message 1 was genuine), then
        // met a record it cannot authenticate, or the close.
        QTRY_COMPARE(server.admitted.size(), size_t(1));
        QTRY_COMPARE_WITH_TIMEOUT(server.closed, 1, 10000);
        QCOMPARE(server.admitted.front()->device()->bytesAvailable(), qint64(0));
        QCOMPARE(server.failures.size(), qsizetype(1));
        if (reflect == u"both") {
            QCOMPARE(server.failures.at(0).first, Error::AuthenticationError);
            QVERIFY2(server.failures.at(0).second.contains(u"failed authentication"),
                     qPrintable(server.failures.at(0).second));
        } else {
            QCOMPARE(server.failures.at(0).first, Error::RemoteClosedError);
        }
    }
    QCOMPARE(server.noise->handshakingCount(), 0);
}

void tst_NoiseStreamSocket::usedUpNoncesCloseTheConnection_data()
{
    // The counters each side starts from; the client sends "last" and then
    // "one too many".
    QTest::addColumn<quint64>("clientSend");
    QTest::addColumn<quint64>("serverReceive");
    QTest::addColumn<QByteArray>("delivered");
    QTest::addColumn<bool>("clientRunsOut"); // else the server does
    constexpr quint64 reserved = Security::NoiseCipherState::reservedNonce;
    QTest::newRow("the sender's counter") << reserved - 1 << reserved - 1 << QByteArray("last") << true;
    QTest::newRow("the receiver's counter") << reserved - 1 << reserved << QByteArray() << false;
}

void tst_NoiseStreamSocket::usedUpNoncesCloseTheConnection()
{
    QFETCH(quint64, clientSend);
    QFETCH(quint64, serverReceive);
    QFETCH(QByteArray, delivered);
    QFETCH(bool, clientRunsOut);
    KeyedListener server(keyed(goodKey));
    QVERIFY(server.listening);
    auto client = Transports::connectTo(endpointOf(server.listener->address()), keyed(goodKey));
    QSignalSpy clientFailed(client.get(), &StreamSocket::failed);
    QSignalSpy clientClosed(client.get(), &StreamSocket::disconnected);
    QSignalSpy clientConnected(client.get(), &StreamSocket::connected);
    QVERIFY(clientConnected.wait(10000));
    QTRY_COMPARE(server.admitted.size(), size_t(1));
    auto *admitted = qobject_cast<NoiseStreamSocket *>(server.admitted.front().get());
    QVERIFY(admitted);
    QVERIFY(admitted->isConnected());
    qobject_cast<NoiseStreamSocket *>(client.get())->setNoncesForTesting(clientSend, 0);
    admitted->setNoncesForTesting(0, serverReceive);

    client->device()->write("last");
    client->flush();
    QByteArray arrived; // readAll() consumes: QTRY_* evaluates its expression once more after success
    if (!delivered.isEmpty())
        QTRY_VERIFY((arrived += admitted->device()->readAll()) == delivered);
    client->device()->write("one too many");
    client->flush();
    QTRY_COMPARE_WITH_TIMEOUT(clientClosed.count(), 1, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(server.closed, 1, 10000);
    QCOMPARE(admitted->device()->readAll(), QByteArray());
    const auto &[error, text] = clientRunsOut ? std::pair(clientFailed.at(0).at(0).value<Error>(),
                                                          clientFailed.at(0).at(1).toString())
                                              : server.failures.value(0);
    QCOMPARE(error, Error::ProtocolError);
    QVERIFY2(text.contains(u"has used up its nonces and was closed"), qPrintable(text));
}

void tst_NoiseStreamSocket::sharedKeyOnTlsOrInprocIsRefused_data()
{
    QTest::addColumn<QUrl>("url");
    QTest::newRow("tls") << QUrl(QStringLiteral("tls://127.0.0.1:0"));
    QTest::newRow("inproc") << QUrl(QStringLiteral("inproc:tst_noisestreamsocket-%1").arg(QCoreApplication::applicationPid()));
}

void tst_NoiseStreamSocket::sharedKeyOnTlsOrInprocIsRefused()
{
    QFETCH(QUrl, url);
    const QString advice = QStringLiteral("shared keys work on tcp:// and local: only; tls:// authenticates with "
                                          "certificates");
    ChannelServer server;
    server.setChannelOptions(keyed(goodKey));
    QSignalSpy serverError(&server, &ChannelServer::errorOccurred);
    QVERIFY(!server.listen(url));
    QVERIFY(!server.isListening());
    QCOMPARE(server.error(), Error::AuthenticationError);
    QCOMPARE(serverError.count(), 1);
    QVERIFY2(server.errorString().contains(advice), qPrintable(server.errorString()));

    // A client is refused before it reaches any server: one listens there
    // without a key.
    ChannelServer plain;
    ChannelOptions serverOptions;
    if (url.scheme() == u"tls") {
        CertificateAuthority ca;
        QVERIFY2(ca.create(QStringLiteral("tst_noisestreamsocket CA")), qPrintable(ca.errorString()));
        serverOptions.tls.credentials = ca.issue(QStringLiteral("127.0.0.1"), CertificateAuthority::Purpose::Server);
    }
    plain.setChannelOptions(serverOptions);
    QVERIFY2(plain.listen(url), qPrintable(plain.errorString()));
    QSignalSpy newChannel(&plain, &ChannelServer::newChannel);
    auto client = Channel::connectTo(plain.address(), keyed(goodKey));
    QSignalSpy clientError(client.receiver.get(), &ChannelReceiver::errorOccurred);
    QSignalSpy clientConnected(client.receiver.get(), &ChannelReceiver::connected);
    QVERIFY(clientError.wait(10000));
    QCOMPARE(clientError.at(0).at(0).value<Error>(), Error::AuthenticationError);
    QVERIFY2(client.receiver->errorString().contains(advice), qPrintable(client.receiver->errorString()));
    QVERIFY(!client.sender->send(QStringLiteral("never")));
    QCOMPARE(clientConnected.count(), 0);
    QCOMPARE(newChannel.count(), 0);
}

void tst_NoiseStreamSocket::closingWhileThePeerSendsIsNoFailure()
{
    KeyedListener server(keyed(goodKey));
    QVERIFY(server.listening);
    auto client = Transports::connectTo(endpointOf(server.listener->address()), keyed(goodKey));
    QSignalSpy connected(client.get(), &StreamSocket::connected);
    QVERIFY(connected.wait(10000));
    QTRY_COMPARE(server.admitted.size(), size_t(1));
    StreamSocket *closing = server.admitted.front().get();

    // The server closes with more to write than the client reads for now,
    // and the client goes on sending: the server's inner socket drops that
    // input while the close lingers, cutting records in half, and the
    // closing side must not take what is left of one for tampering.
    client->setReadBufferSize(1024);
    qint64 sentDuringClose = 0;
    connect(client->device(), &QIODevice::bytesWritten, this, [&](qint64 bytes) { sentDuringClose += bytes; });
    QTimer sending;
    connect(&sending, &QTimer::timeout, this, [&client] {
        if (client->isConnected() && client->device()->bytesToWrite() < (1 << 20))
            client->device()->write(QByteArray(256 << 10, 'x'));
    });
    sending.start(0);
    closing->device()->write(QByteArray(16 << 20, 'y'));
    closing->disconnectFromPeer();
    sentDuringClose = 0;
    QTRY_VERIFY_WITH_TIMEOUT(sentDuringClose > (32 << 20) || !server.failures.isEmpty(), 20000);
    for (const auto &[error, text] : std::as_const(server.failures))
        QFAIL(qPrintable(text));
    // Now the client reads: the server's bytes go out, and the close ends.
    client->setReadBufferSize(0);
    QObject reader;
    connect(client->device(), &QIODevice::readyRead, &reader, [&client] { client->device()->readAll(); });
    client->device()->readAll();
    QTRY_COMPARE_WITH_TIMEOUT(server.closed, 1, 20000);
    sending.stop();
    for (const auto &[error, text] : std::as_const(server.failures))
        QFAIL(qPrintable(text));
}

QTEST_MAIN(tst_NoiseStreamSocket)
#include "tst_noisestreamsocket.moc"
