// What only tls:// does: the TLS 1.3 handshake, certificates, pins and
// mutual TLS, each refusal of SECURITY.md "Authentication" that applies to
// TLS, a stock TLS client (openssl s_client), and bytes that are not TLS.
// The behaviour every transport shares runs over tls:// in tst_conformance.
//
// Certificates are made here, at test time, by CertificateAuthority; every
// server listens on 127.0.0.1 port 0.
#include <Qonduit/certificateauthority.h>
#include <Qonduit/channelserver.h>

#include "transport/endpoint_p.h"
#include "transport/tlsstreamlistener_p.h"
#include "transport/tlsstreamsocket_p.h"
#include "transport/transportregistry_p.h"
#include "wire/frame_p.h"
#include "wire/messagecodec_p.h"

#include <QtCore/QCborMap>
#include <QtCore/QDateTime>
#include <QtCore/QFile>
#include <QtCore/QMutex>
#include <QtCore/QProcess>
#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>
#include <QtCore/QStandardPaths>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtNetwork/QSslSocket>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <functional>
#include <memory>
#include <vector>

using namespace Qonduit;

namespace {

// What qonduit.transport.tls logged: the server's account of the clients it
// dropped.
QMutex logMutex;
QStringList tlsLog;
QtMessageHandler previousHandler = nullptr;

void captureTlsLog(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (context.category && qstrcmp(context.category, "qonduit.transport.tls") == 0) {
        QMutexLocker locker(&logMutex);
        tlsLog.append(message);
    }
    previousHandler(type, context, message);
}

bool tlsLogContains(const QString &fragment)
{
    QMutexLocker locker(&logMutex);
    return std::any_of(tlsLog.cbegin(), tlsLog.cend(), [&](const QString &line) { return line.contains(fragment); });
}

QString dateText(const QDateTime &time)
{
    return time.toUTC().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"));
}

// The options of one side of a scenario.
struct Sides
{
    ChannelOptions server;
    ChannelOptions client;
};

} // namespace

class tst_TlsTransport : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void init();

    void accepted_data();
    void accepted();
    void refused_data();
    void refused();
    void tls13OnlyAndLowDelayOnBothEnds();
    void peerAddressesAreTls();
    void listenNeedsCredentials();
    void opensslClientCompletesTheHandshake();
    void opensslTls12IsRefused();
    void notTlsIsRefused_data();
    void notTlsIsRefused();
    void silentClientIsDroppedAtTheHandshakeTimeout();
    void plainTcpServerIsNotTls();
    void floodBothWays();
    void claimInHelloWithoutCertificates_data();
    void claimInHelloWithoutCertificates();

private:
    // A server with these options, listening on tls://127.0.0.1:0.
    std::unique_ptr<ChannelServer> listen(const ChannelOptions &options);
    // Connects with options and exchanges one message each way.
    void exchange(ChannelServer &server, const ChannelOptions &options);
    // Runs openssl s_client against 127.0.0.1:port; fails the test when it
    // cannot.
    static void runSClient(quint16 port, const QStringList &arguments, QString &output, int &exitCode);

    CertificateAuthority m_ca;
    CertificateAuthority m_other;
    Credentials m_server;          // 127.0.0.1, by m_ca
    Credentials m_client;          // alice, by m_ca
    struct Scenario
    {
        QString tag;
        std::function<Sides()> sides;
        // A refusal only:
        QStringList clientText = {}; // fragments of the client's errorString()
        QString serverLog = {};      // a fragment the server logs
        // Turns the refused client's options into ones the server accepts;
        // none where the server's own certificate is what is wrong.
        std::function<void(ChannelOptions &)> repair = nullptr;
    };
    static void addRows(const std::vector<Scenario> &scenarios);
    std::vector<Scenario> m_accepted;
    std::vector<Scenario> m_refused;
};

void tst_TlsTransport::initTestCase()
{
    previousHandler = qInstallMessageHandler(captureTlsLog);
    QVERIFY2(m_ca.create(QStringLiteral("Test CA")), qPrintable(m_ca.errorString()));
    QVERIFY2(m_other.create(QStringLiteral("Other CA")), qPrintable(m_other.errorString()));
    using Purpose = CertificateAuthority::Purpose;
    m_server = m_ca.issue(QStringLiteral("127.0.0.1"), Purpose::Server);
    m_client = m_ca.issue(QStringLiteral("alice"), Purpose::Client);
    QVERIFY(!m_server.isNull() && !m_client.isNull());

    const QDateTime now = QDateTime::currentDateTimeUtc();
    const Credentials selfSignedServer = CertificateAuthority::selfSigned(QStringLiteral("127.0.0.1"), Purpose::Server);
    const Credentials otherSelfSigned = CertificateAuthority::selfSigned(QStringLiteral("127.0.0.1"), Purpose::Server);
    const Credentials otherServer = m_other.issue(QStringLiteral("127.0.0.1"), Purpose::Server);
    const Credentials expiredServer = m_ca.issue(QStringLiteral("127.0.0.1"), Purpose::Server, now.addDays(-30),
                                                 now.addDays(-2));
    const Credentials futureServer = m_ca.issue(QStringLiteral("127.0.0.1"), Purpose::Server, now.addDays(2),
                                                now.addDays(30));
    const Credentials namedServer = m_ca.issue(QStringLiteral("server.example"), Purpose::Server);
    const Credentials clientAsServer = m_ca.issue(QStringLiteral("127.0.0.1"), Purpose::Client);
    const Credentials otherClient = m_other.issue(QStringLiteral("alice"), Purpose::Client);
    const Credentials serverAsClient = m_ca.issue(QStringLiteral("alice"), Purpose::Server);
    const Credentials selfSignedClient = CertificateAuthority::selfSigned(QStringLiteral("alice"), Purpose::Client);
    const Credentials expiredClient = m_ca.issue(QStringLiteral("alice"), Purpose::Client, now.addDays(-30),
                                                 now.addDays(-2));
    const Credentials futureClient = m_ca.issue(QStringLiteral("alice"), Purpose::Client, now.addDays(2),
                                                now.addDays(30));
    for (const Credentials *made : {&selfSignedServer, &otherSelfSigned, &otherServer, &expiredServer, &futureServer,
                                    &namedServer, &clientAsServer, &otherClient, &serverAsClient, &selfSignedClient,
                                    &expiredClient, &futureClient})
        QVERIFY(!made->isNull());

    const QSslCertificate ca = m_ca.certificate();
    // The usual set-up: the server has m_ca's certificate, the client trusts
    // m_ca; server(), client() change one thing.
    const auto usual = [this, ca] {
        Sides sides;
        sides.server.tls.credentials = m_server;
        sides.client.tls.trustedAuthorities = {ca};
        return sides;
    };
    const auto mutual = [usual, ca, this] {
        Sides sides = usual();
        sides.server.tls.requireClientCertificate = true;
        sides.server.tls.trustedAuthorities = {ca};
        sides.client.tls.credentials = m_client;
        return sides;
    };
    // The server presents credentials; the client pins pins, and trusts m_ca
    // too when trusting.
    const auto pinning = [usual](const Credentials &credentials, const QList<QSslCertificate> &pins, bool trusting) {
        return [=] {
            Sides sides = trusting ? usual() : Sides();
            sides.server.tls.credentials = credentials;
            sides.client.tls.pinnedCertificates = pins;
            return sides;
        };
    };

    m_accepted = {
        {QStringLiteral("trusted authority"), usual},
        {QStringLiteral("pinned self-signed"),
         pinning(selfSignedServer, {otherSelfSigned.certificate, selfSignedServer.certificate}, false)},
        {QStringLiteral("pinned and trusted"),
         pinning(m_server, {m_server.certificate}, true)},
        {QStringLiteral("peer name"),
         [=] {
             Sides sides = usual();
             sides.server.tls.credentials = namedServer;
             sides.client.tls.peerName = QStringLiteral("server.example");
             return sides;
         }},
        {QStringLiteral("pinned self-signed, authorities set"),
         pinning(selfSignedServer, {selfSignedServer.certificate}, true)},
        // The pin stands in for the authority the client does not trust.
        {QStringLiteral("pinned, from an untrusted authority"),
         pinning(otherServer, {otherServer.certificate}, true)},
        {QStringLiteral("mutual TLS"), mutual},
        {QStringLiteral("mutual TLS, claimed name"),
         [=] {
             Sides sides = mutual();
             sides.client.tls.clientName = QStringLiteral("alice");
             return sides;
         }},
        {QStringLiteral("client certificate not asked for"),
         [=] {
             Sides sides = usual();
             sides.client.tls.credentials = otherClient;
             return sides;
         }},
    };

    const auto withServer = [usual](const Credentials &credentials) {
        return [usual, credentials] {
            Sides sides = usual();
            sides.server.tls.credentials = credentials;
            return sides;
        };
    };
    const auto withClient = [mutual](const Credentials &credentials) {
        return [mutual, credentials] {
            Sides sides = mutual();
            sides.client.tls.credentials = credentials;
            return sides;
        };
    };
    const QString clientClosed = QStringLiteral("closed the connection during the TLS handshake");
    // Repairs: what the refused client needed.
    const auto trustOther = [otherCa = m_other.certificate()](ChannelOptions &c) {
        c.tls.trustedAuthorities = {otherCa};
    };
    const auto pinSelfSigned = [selfSignedServer](ChannelOptions &c) {
        c.tls.pinnedCertificates = {selfSignedServer.certificate};
    };
    const auto pinServer = [this](ChannelOptions &c) { c.tls.pinnedCertificates = {m_server.certificate}; };
    const auto expectServerExample = [](ChannelOptions &c) { c.tls.peerName = QStringLiteral("server.example"); };
    const auto expectUrlHost = [](ChannelOptions &c) { c.tls.peerName.clear(); };
    const auto goodClientCertificate = [this](ChannelOptions &c) { c.tls.credentials = m_client; };
    const auto claimAlice = [](ChannelOptions &c) { c.tls.clientName = QStringLiteral("alice"); };
    const auto claimNothing = [](ChannelOptions &c) { c.tls.clientName.clear(); };
    m_refused = {
        // The client refuses the server.
        {QStringLiteral("untrusted server certificate"), withServer(otherServer),
         {QStringLiteral("Cannot trust tls://127.0.0.1:"),
          QStringLiteral("signed by \"Other CA\", which is not trusted"),
          QStringLiteral("\"Test CA\"")},
         clientClosed, trustOther},
        {QStringLiteral("expired server certificate"), withServer(expiredServer),
         {QStringLiteral("Cannot trust tls://127.0.0.1:"),
          QStringLiteral("expired on %1").arg(dateText(expiredServer.certificate.expiryDate())),
          dateText(expiredServer.certificate.effectiveDate())},
         clientClosed, nullptr},
        {QStringLiteral("server certificate not yet valid"), withServer(futureServer),
         {QStringLiteral("Cannot trust tls://127.0.0.1:"),
          QStringLiteral("valid only from %1").arg(dateText(futureServer.certificate.effectiveDate())),
          dateText(futureServer.certificate.expiryDate())},
         clientClosed, nullptr},
        {QStringLiteral("wrong host"), withServer(namedServer),
         {QStringLiteral("Cannot trust tls://127.0.0.1:"),
          QStringLiteral("is for \"server.example\", not for \"127.0.0.1\"")},
         clientClosed, expectServerExample},
        {QStringLiteral("wrong peer name"),
         [=] {
             Sides sides = usual();
             sides.client.tls.peerName = QStringLiteral("elsewhere.example");
             return sides;
         },
         {QStringLiteral("is for \"127.0.0.1\", not for \"elsewhere.example\"")}, clientClosed, expectUrlHost},
        {QStringLiteral("client certificate as server certificate"), withServer(clientAsServer),
         {QStringLiteral("Cannot trust tls://127.0.0.1:"), QStringLiteral("may not be used by a TLS server")},
         clientClosed, nullptr},
        {QStringLiteral("pin mismatch, trusted authority"),
         pinning(m_server, {otherSelfSigned.certificate}, true),
         {QStringLiteral("Cannot trust tls://127.0.0.1:"), QStringLiteral("none of the 1 pinned certificates"),
          QString::fromLatin1(m_server.certificate.digest(QCryptographicHash::Sha256).toHex(':').toUpper())},
         QString(), pinServer},
        {QStringLiteral("pin mismatch, self-signed"),
         pinning(selfSignedServer, {otherSelfSigned.certificate}, false),
         {QStringLiteral("Cannot trust tls://127.0.0.1:"), QStringLiteral("none of the 1 pinned certificates")},
         clientClosed, pinSelfSigned},
        {QStringLiteral("self-signed server, not pinned"), withServer(selfSignedServer),
         {QStringLiteral("Cannot trust tls://127.0.0.1:"), QStringLiteral("is self-signed and not pinned")},
         clientClosed, pinSelfSigned},
        // The server refuses the client.
        {QStringLiteral("no client certificate"),
         [=] {
             Sides sides = mutual();
             sides.client.tls.credentials = Credentials();
             return sides;
         },
         {QStringLiteral("tls://127.0.0.1:"),
          QStringLiteral("requires a client certificate, and this client presented none")},
         QStringLiteral("it presented no certificate, and this server requires one"), goodClientCertificate},
        {QStringLiteral("client certificate from another authority"), withClient(otherClient),
         {QStringLiteral("tls://127.0.0.1:"), QStringLiteral("refused this client's certificate \"alice\""),
          QStringLiteral("does not trust \"Other CA\"")},
         QStringLiteral("its certificate \"alice\" was signed by \"Other CA\", which is not trusted"),
         goodClientCertificate},
        {QStringLiteral("server certificate as client certificate"), withClient(serverAsClient),
         {QStringLiteral("refused this client's certificate \"alice\""),
          QStringLiteral("may not be used by a TLS client")},
         QStringLiteral("may not be used by a TLS client"), goodClientCertificate},
        {QStringLiteral("self-signed client certificate"), withClient(selfSignedClient),
         {QStringLiteral("refused this client's certificate \"alice\""), QStringLiteral("it is self-signed")},
         QStringLiteral("is self-signed, and this server accepts only certificates signed by"), goodClientCertificate},
        {QStringLiteral("expired client certificate"), withClient(expiredClient),
         {QStringLiteral("refused this client's certificate \"alice\""),
          QStringLiteral("expired on %1").arg(dateText(expiredClient.certificate.expiryDate()))},
         QStringLiteral("expired on %1").arg(dateText(expiredClient.certificate.expiryDate())), goodClientCertificate},
        {QStringLiteral("client certificate not yet valid"), withClient(futureClient),
         {QStringLiteral("refused this client's certificate \"alice\""),
          QStringLiteral("valid only from %1").arg(dateText(futureClient.certificate.effectiveDate()))},
         QStringLiteral("valid only from %1").arg(dateText(futureClient.certificate.effectiveDate())),
         goodClientCertificate},
        // A valid client certificate for alice, a claim to be bob.
        {QStringLiteral("claimed name not in the client certificate (SAN)"),
         [=] {
             Sides sides = mutual();
             sides.client.tls.clientName = QStringLiteral("bob");
             return sides;
         },
         {QStringLiteral("Refused the client tls://127.0.0.1:"),
          QStringLiteral("it claims the name \"bob\" (TlsOptions::clientName), but its certificate \"alice\" is "
                         "for \"alice\"")},
         QStringLiteral("it claims the name \"bob\" (TlsOptions::clientName), but its certificate \"alice\" is for "
                        "\"alice\""),
         claimAlice},
        {QStringLiteral("claimed name, client certificates not checked"),
         [=] {
             Sides sides = usual();
             sides.client.tls.credentials = m_client;
             sides.client.tls.clientName = QStringLiteral("alice");
             return sides;
         },
         {QStringLiteral("Refused the client tls://127.0.0.1:"),
          QStringLiteral("this server does not check client certificates")},
         QStringLiteral("it claims the name \"alice\" (TlsOptions::clientName), but this server does not check "
                        "client certificates"),
         claimNothing},
    };
}

void tst_TlsTransport::cleanupTestCase()
{
    qInstallMessageHandler(previousHandler);
}

void tst_TlsTransport::init()
{
    QMutexLocker locker(&logMutex);
    tlsLog.clear();
}

std::unique_ptr<ChannelServer> tst_TlsTransport::listen(const ChannelOptions &options)
{
    auto server = std::make_unique<ChannelServer>();
    server->setChannelOptions(options);
    if (!server->listen(QUrl(QStringLiteral("tls://127.0.0.1:0"))))
        qWarning() << "listen failed:" << server->errorString();
    return server;
}

void tst_TlsTransport::exchange(ChannelServer &server, const ChannelOptions &options)
{
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);
    ChannelPair client = Channel::connectTo(server.address(), options);
    QSignalSpy connected(client.receiver.get(), &ChannelReceiver::connected);
    QSignalSpy clientErrors(client.receiver.get(), &ChannelReceiver::errorOccurred);
    QVERIFY2(connected.wait(10000), qPrintable(client.receiver->errorString()));
    QVERIFY(client.sender->send(QStringLiteral("ping")));
    QTRY_VERIFY(server.hasPendingChannels());
    ChannelPair serverSide = server.nextPendingChannel();
    QSignalSpy atServer(serverSide.receiver.get(), &ChannelReceiver::messageReceived);
    QSignalSpy atClient(client.receiver.get(), &ChannelReceiver::messageReceived);
    QTRY_COMPARE(atServer.count(), 1);
    QCOMPARE(atServer.at(0).at(0).value<QVariant>(), QVariant(QStringLiteral("ping")));
    // A proved name (TlsOptions::clientName) is the user of the server side's peer address.
    QCOMPARE(serverSide.receiver->peerAddress().userName(), options.tls.clientName);
    QCOMPARE(serverSide.sender->peerAddress().userName(), options.tls.clientName);
    QVERIFY(serverSide.sender->send(QStringLiteral("pong")));
    QTRY_COMPARE(atClient.count(), 1);
    QCOMPARE(atClient.at(0).at(0).value<QVariant>(), QVariant(QStringLiteral("pong")));
    QCOMPARE(clientErrors.count(), 0);
}

void tst_TlsTransport::addRows(const std::vector<Scenario> &scenarios)
{
    QTest::addColumn<int>("index");
    for (size_t i = 0; i < scenarios.size(); ++i)
        QTest::newRow(qPrintable(scenarios[i].tag)) << int(i);
}

void tst_TlsTransport::accepted_data()
{
    addRows(m_accepted);
}

void tst_TlsTransport::accepted()
{
    QFETCH(int, index);
    const Sides sides = m_accepted[size_t(index)].sides();
    auto server = listen(sides.server);
    QVERIFY(server->isListening());
    exchange(*server, sides.client);
    // Twice: a second client of the same server works as well.
    exchange(*server, sides.client);
}

void tst_TlsTransport::refused_data()
{
    addRows(m_refused);
}

// Each refusal: AuthenticationError on the client, exactly once, with a text
// that names the peer and the reason; nothing reaches the server's
// application; the server logs why and keeps serving a good client.
void tst_TlsTransport::refused()
{
    QFETCH(int, index);
    const Scenario &refusal = m_refused[size_t(index)];
    const Sides sides = refusal.sides();
    auto server = listen(sides.server);
    QVERIFY(server->isListening());
    QSignalSpy newChannel(server.get(), &ChannelServer::newChannel);

    ChannelPair client = Channel::connectTo(server->address(), sides.client);
    QVERIFY(client.sender->send(QStringLiteral("must not arrive")));
    QSignalSpy errors(client.receiver.get(), &ChannelReceiver::errorOccurred);
    QSignalSpy senderErrors(client.sender.get(), &ChannelSender::errorOccurred);
    QSignalSpy closed(client.receiver.get(), &ChannelReceiver::closed);
    QSignalSpy connected(client.receiver.get(), &ChannelReceiver::connected);
    QVERIFY(closed.wait(10000));
    QCOMPARE(errors.count(), 1);
    QCOMPARE(errors.at(0).at(0).value<Error>(), Error::AuthenticationError);
    QCOMPARE(client.receiver->error(), Error::AuthenticationError);
    const QString text = client.receiver->errorString();
    for (const QString &fragment : refusal.clientText)
        QVERIFY2(text.contains(fragment), qPrintable(QStringLiteral("\"%1\" lacks \"%2\"").arg(text, fragment)));
    QVERIFY2(text.contains(server->address().toString()), qPrintable(text));
    QTRY_COMPARE(senderErrors.count(), 1);
    QCOMPARE(senderErrors.at(0).at(0).value<Error>(), Error::AuthenticationError);
    QTRY_COMPARE(client.sender->state(), ChannelState::UnconnectedState);
    QCOMPARE(connected.count(), 0);
    QVERIFY(!client.sender->send(1));

    if (!refusal.serverLog.isEmpty())
        QTRY_VERIFY2(tlsLogContains(refusal.serverLog), qPrintable(tlsLog.join(u'\n')));
    QCOMPARE(newChannel.count(), 0);
    QVERIFY(!server->hasPendingChannels());

    // The server still serves a client it accepts.
    if (refusal.repair) {
        ChannelOptions good = sides.client;
        refusal.repair(good);
        exchange(*server, good);
    }
}

void tst_TlsTransport::tls13OnlyAndLowDelayOnBothEnds()
{
    TlsStreamListener listener;
    ChannelOptions serverOptions;
    serverOptions.tls.credentials = m_server;
    listener.setOptionsSource([serverOptions] { return serverOptions; });
    Error error = Error::NoError;
    QString text;
    Endpoint endpoint;
    QCOMPARE(Endpoint::parse(QUrl(QStringLiteral("tls://127.0.0.1:0")), endpoint, text), Error::NoError);
    QVERIFY2(listener.listen(endpoint, error, text), qPrintable(text));
    std::vector<std::unique_ptr<StreamSocket>> accepted;
    connect(&listener, &StreamListener::incoming, this, [&](StreamSocket *socket) { accepted.emplace_back(socket); });

    Endpoint target;
    QCOMPARE(Endpoint::parse(listener.address(), target, text), Error::NoError);
    ChannelOptions clientOptions;
    clientOptions.tls.trustedAuthorities = {m_ca.certificate()};
    auto client = Transports::connectTo(target, clientOptions);
    QSignalSpy connected(client.get(), &StreamSocket::connected);
    QVERIFY(connected.wait(10000));
    QTRY_COMPARE(accepted.size(), size_t(1));

    auto *clientSide = qobject_cast<TlsStreamSocket *>(client.get());
    auto *serverSide = qobject_cast<TlsStreamSocket *>(accepted.front().get());
    QVERIFY(clientSide && serverSide);
    QVERIFY(clientSide->sslSocket()->isEncrypted());
    QVERIFY(serverSide->sslSocket()->isEncrypted());
    QCOMPARE(clientSide->sslSocket()->sessionProtocol(), QSsl::TlsV1_3);
    QCOMPARE(serverSide->sslSocket()->sessionProtocol(), QSsl::TlsV1_3);
    QCOMPARE(clientSide->sslSocket()->socketOption(QAbstractSocket::LowDelayOption).toInt(), 1);
    QCOMPARE(serverSide->sslSocket()->socketOption(QAbstractSocket::LowDelayOption).toInt(), 1);
    QCOMPARE(listener.refusedCount(), 0);

    // Plaintext in, plaintext out; encrypted on the wire.
    QByteArray received;
    connect(serverSide->device(), &QIODevice::readyRead, this,
            [&] { received += serverSide->device()->readAll(); });
    client->device()->write("secret");
    QTRY_COMPARE(received, QByteArray("secret"));
}

void tst_TlsTransport::peerAddressesAreTls()
{
    ChannelOptions options;
    options.tls.credentials = m_server;
    auto server = listen(options);
    const QUrl address = server->address();
    QCOMPARE(address.scheme(), QStringLiteral("tls"));
    QCOMPARE(address.host(), QStringLiteral("127.0.0.1"));
    QVERIFY(address.port() > 0);

    ChannelOptions clientOptions;
    clientOptions.tls.trustedAuthorities = {m_ca.certificate()};
    ChannelPair client = Channel::connectTo(address, clientOptions);
    QSignalSpy connected(client.receiver.get(), &ChannelReceiver::connected);
    QVERIFY(connected.wait(10000));
    QCOMPARE(client.receiver->peerAddress(), address);
    QTRY_VERIFY(server->hasPendingChannels());
    ChannelPair serverSide = server->nextPendingChannel();
    QCOMPARE(serverSide.receiver->peerAddress().scheme(), QStringLiteral("tls"));
    QCOMPARE(serverSide.receiver->peerAddress().host(), QStringLiteral("127.0.0.1"));
}

void tst_TlsTransport::listenNeedsCredentials()
{
    ChannelServer server;
    QSignalSpy errors(&server, &ChannelServer::errorOccurred);
    QVERIFY(!server.listen(QUrl(QStringLiteral("tls://127.0.0.1:0"))));
    QCOMPARE(server.error(), Error::CertificateError);
    QVERIFY2(server.errorString().contains(QStringLiteral("tls://127.0.0.1:0")), qPrintable(server.errorString()));
    QVERIFY2(server.errorString().contains(QStringLiteral("tls.credentials")), qPrintable(server.errorString()));
    QCOMPARE(errors.count(), 1);
    QVERIFY(!server.isListening());

    ChannelOptions options;
    options.tls.credentials = m_server;
    options.tls.requireClientCertificate = true;
    server.setChannelOptions(options);
    QVERIFY(!server.listen(QUrl(QStringLiteral("tls://127.0.0.1:0"))));
    QCOMPARE(server.error(), Error::CertificateError);
    QVERIFY2(server.errorString().contains(QStringLiteral("tls.trustedAuthorities")),
             qPrintable(server.errorString()));

    options.tls.trustedAuthorities = {m_ca.certificate()};
    server.setChannelOptions(options);
    QVERIFY2(server.listen(QUrl(QStringLiteral("tls://127.0.0.1:0"))), qPrintable(server.errorString()));
}

void tst_TlsTransport::runSClient(quint16 port, const QStringList &arguments, QString &output, int &exitCode)
{
    const QString program = QStandardPaths::findExecutable(QStringLiteral("openssl"));
    QVERIFY2(!program.isEmpty(),
             "the openssl command is not on PATH: install it (Debian: apt-get install openssl); this test needs a "
             "TLS client that is not Qt");
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    QSignalSpy finished(&process, &QProcess::finished);
    // Not waitForFinished(): the server answers from this thread's event loop.
    process.start(program, QStringList{QStringLiteral("s_client"), QStringLiteral("-connect"),
                                       QStringLiteral("127.0.0.1:%1").arg(port)}
                                   + arguments);
    QVERIFY2(process.waitForStarted(10000),
             qPrintable(QStringLiteral("%1 did not start: %2").arg(program, process.errorString())));
    process.closeWriteChannel(); // s_client quits after the handshake
    QVERIFY2(finished.wait(20000), "openssl s_client did not finish within 20 s");
    output = QString::fromLocal8Bit(process.readAll());
    exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
}

void tst_TlsTransport::opensslClientCompletesTheHandshake()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString caFile = dir.filePath(QStringLiteral("ca.pem"));
    {
        QFile file(caFile);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(m_ca.certificate().toPem());
    }
    ChannelOptions options;
    options.tls.credentials = m_server;
    auto server = listen(options);
    QVERIFY(server->isListening());

    QString output;
    int exitCode = -1;
    runSClient(quint16(server->address().port()),
               {QStringLiteral("-tls1_3"), QStringLiteral("-CAfile"), caFile, QStringLiteral("-verify_return_error"),
                QStringLiteral("-verify_ip"), QStringLiteral("127.0.0.1")},
               output, exitCode);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(exitCode == 0, qPrintable(output));
    QVERIFY2(output.contains(QStringLiteral("TLSv1.3")), qPrintable(output));
    QVERIFY2(QRegularExpression(QStringLiteral("Cipher is TLS_(AES_256_GCM_SHA384|AES_128_GCM_SHA256|"
                                               "CHACHA20_POLY1305_SHA256)"))
                     .match(output)
                     .hasMatch(),
             qPrintable(output));
    QVERIFY2(output.contains(QStringLiteral("Verify return code: 0 (ok)")), qPrintable(output));

    // The server is still there for a Qonduit client.
    ChannelOptions clientOptions;
    clientOptions.tls.trustedAuthorities = {m_ca.certificate()};
    exchange(*server, clientOptions);
}

void tst_TlsTransport::opensslTls12IsRefused()
{
    ChannelOptions options;
    options.tls.credentials = m_server;
    auto server = listen(options);
    QString output;
    int exitCode = -1;
    runSClient(quint16(server->address().port()), {QStringLiteral("-tls1_2")}, output, exitCode);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(exitCode != 0, qPrintable(output));
    QVERIFY2(!output.contains(QStringLiteral("Cipher is ECDHE")), qPrintable(output));
    QTRY_VERIFY2(tlsLogContains(QStringLiteral("sent the TLS alert \"protocol version\"")),
                 qPrintable(tlsLog.join(u'\n')));
}

void tst_TlsTransport::notTlsIsRefused_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("plain HTTP") << QByteArray("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    QByteArray random(4096, Qt::Uninitialized);
    QRandomGenerator generator(4);
    for (char &byte : random)
        byte = char(generator.bounded(256));
    QTest::newRow("random bytes") << random;
    // A record header that looks like TLS, then nonsense.
    QTest::newRow("fake TLS record") << QByteArray::fromHex("160301ffff") + QByteArray(64, 'x');
    QTest::newRow("Qonduit preface") << QByteArray("\x89QND\r\n\x1a\n", 8);
}

// O2: a good client connected before the attack is still served after it;
// the attacker is closed, counted and logged.
void tst_TlsTransport::notTlsIsRefused()
{
    QFETCH(QByteArray, bytes);
    ChannelOptions options;
    options.tls.credentials = m_server;
    auto server = listen(options);
    QVERIFY(server->isListening());

    ChannelOptions clientOptions;
    clientOptions.tls.trustedAuthorities = {m_ca.certificate()};
    ChannelPair good = Channel::connectTo(server->address(), clientOptions);
    QSignalSpy goodConnected(good.receiver.get(), &ChannelReceiver::connected);
    QVERIFY(goodConnected.wait(10000));
    QTRY_VERIFY(server->hasPendingChannels());
    ChannelPair goodServerSide = server->nextPendingChannel();

    QTcpSocket attacker;
    QSignalSpy attackerGone(&attacker, &QTcpSocket::disconnected);
    attacker.connectToHost(QHostAddress::LocalHost, quint16(server->address().port()));
    QVERIFY(attacker.waitForConnected(10000));
    const quint16 attackerPort = attacker.localPort();
    attacker.write(bytes);
    QVERIFY2(attackerGone.wait(10000), "the server did not close a connection that does not speak TLS");
    QTRY_VERIFY2(tlsLogContains(QStringLiteral("TLS handshake with the client tls://127.0.0.1:%1 failed")
                                        .arg(attackerPort)),
                 qPrintable(tlsLog.join(u'\n')));
    QVERIFY(!server->hasPendingChannels());

    QSignalSpy atServer(goodServerSide.receiver.get(), &ChannelReceiver::messageReceived);
    QSignalSpy atClient(good.receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(good.sender->send(QStringLiteral("still here")));
    QTRY_COMPARE(atServer.count(), 1);
    QVERIFY(goodServerSide.sender->send(QStringLiteral("and so am I")));
    QTRY_COMPARE(atClient.count(), 1);
    exchange(*server, clientOptions);
}

void tst_TlsTransport::silentClientIsDroppedAtTheHandshakeTimeout()
{
    TlsStreamListener listener;
    ChannelOptions options;
    options.tls.credentials = m_server;
    options.handshakeTimeoutMs = 300;
    listener.setOptionsSource([options] { return options; });
    Endpoint endpoint;
    QString text;
    Error error = Error::NoError;
    QCOMPARE(Endpoint::parse(QUrl(QStringLiteral("tls://127.0.0.1:0")), endpoint, text), Error::NoError);
    QVERIFY2(listener.listen(endpoint, error, text), qPrintable(text));
    int handedOut = 0;
    connect(&listener, &StreamListener::incoming, this, [&](StreamSocket *socket) {
        ++handedOut;
        delete socket;
    });

    QTcpSocket silent;
    QSignalSpy gone(&silent, &QTcpSocket::disconnected);
    silent.connectToHost(QHostAddress::LocalHost, quint16(listener.address().port()));
    QVERIFY(silent.waitForConnected(10000));
    const quint16 silentPort = silent.localPort();
    QTRY_COMPARE(listener.handshakingCount(), 1);
    QVERIFY(gone.wait(10000));
    QCOMPARE(listener.refusedCount(), 1);
    QCOMPARE(listener.handshakingCount(), 0);
    QCOMPARE(handedOut, 0);
    QVERIFY2(tlsLogContains(QStringLiteral("Refused the client tls://127.0.0.1:%1: it did not complete the TLS "
                                           "handshake within 300 ms")
                                    .arg(silentPort)),
             qPrintable(tlsLog.join(u'\n')));

    // A client that closes at once is counted too, and close() drops one
    // still in its handshake.
    QTcpSocket quitter;
    quitter.connectToHost(QHostAddress::LocalHost, quint16(listener.address().port()));
    QVERIFY(quitter.waitForConnected(10000));
    quitter.abort();
    QTRY_COMPARE(listener.refusedCount(), 2);
    QTcpSocket pending;
    QSignalSpy pendingGone(&pending, &QTcpSocket::disconnected);
    pending.connectToHost(QHostAddress::LocalHost, quint16(listener.address().port()));
    QVERIFY(pending.waitForConnected(10000));
    QTRY_COMPARE(listener.handshakingCount(), 1);
    listener.close();
    QCOMPARE(listener.handshakingCount(), 0);
    QVERIFY(pendingGone.wait(10000));
}

// A tls:// client at a tcp:// server: no TLS there, and the client says so.
void tst_TlsTransport::plainTcpServerIsNotTls()
{
    ChannelServer server;
    QVERIFY(server.listen(QUrl(QStringLiteral("tcp://127.0.0.1:0"))));
    QUrl address = server.address();
    address.setScheme(QStringLiteral("tls"));
    ChannelOptions options;
    options.tls.trustedAuthorities = {m_ca.certificate()};
    ChannelPair client = Channel::connectTo(address, options);
    QSignalSpy errors(client.receiver.get(), &ChannelReceiver::errorOccurred);
    QSignalSpy closed(client.receiver.get(), &ChannelReceiver::closed);
    QVERIFY(closed.wait(10000));
    QCOMPARE(errors.count(), 1);
    const Error error = errors.at(0).at(0).value<Error>();
    QVERIFY2(error == Error::RemoteClosedError || error == Error::AuthenticationError,
             qPrintable(client.receiver->errorString()));
    QVERIFY2(client.receiver->errorString().contains(address.toString()), qPrintable(client.receiver->errorString()));
    QVERIFY2(client.receiver->errorString().contains(QStringLiteral("tls:// server")),
             qPrintable(client.receiver->errorString()));
}

// Small messages both ways as fast as they go: each side's writer runs while
// the other side's frames and CREDIT keep arriving. QSslSocket::flush()
// decrypts what arrived and emits readyRead() from inside; that once
// re-entered the connection's writer in the middle of a pass (a crash).
void tst_TlsTransport::floodBothWays()
{
    ChannelOptions serverOptions;
    serverOptions.tls.credentials = m_server;
    auto server = listen(serverOptions);
    QVERIFY(server->isListening());
    QSignalSpy newChannel(server.get(), &ChannelServer::newChannel);
    ChannelOptions clientOptions;
    clientOptions.tls.trustedAuthorities = {m_ca.certificate()};
    ChannelPair client = Channel::connectTo(server->address(), clientOptions);
    QVERIFY(newChannel.wait(10000));
    ChannelPair serverSide = server->nextPendingChannel();

    constexpr int count = 200000;
    const QByteArray payload(64, 'x');
    struct Side
    {
        ChannelSender *sender;
        int sent = 0;
        int received = 0;
    };
    Side sides[] = {{client.sender.get()}, {serverSide.sender.get()}};
    connect(serverSide.receiver.get(), &ChannelReceiver::rawMessageReceived, this,
            [&sides](const QByteArray &) { ++sides[0].received; });
    connect(client.receiver.get(), &ChannelReceiver::rawMessageReceived, this,
            [&sides](const QByteArray &) { ++sides[1].received; });
    QTimer pump;
    pump.setInterval(0);
    connect(&pump, &QTimer::timeout, this, [&] {
        for (Side &side : sides) {
            // A full queue (QueueFullError) is tried again next turn.
            for (int i = 0; i < 1024 && side.sent < count && side.sender->sendRaw(payload); ++i)
                ++side.sent;
        }
    });
    pump.start();
    QTRY_COMPARE_WITH_TIMEOUT(sides[0].received, count, 60000);
    QTRY_COMPARE_WITH_TIMEOUT(sides[1].received, count, 60000);
    QCOMPARE(client.receiver->error(), Error::NoError);
    QCOMPARE(serverSide.receiver->error(), Error::NoError);
}

void tst_TlsTransport::claimInHelloWithoutCertificates_data()
{
    QTest::addColumn<QCborValue>("claim");
    QTest::addColumn<int>("code"); // the ERROR the server answers with
    QTest::addColumn<QString>("fragment");
    const int refused = int(Wire::WireError::Refused);
    const int protocolError = int(Wire::WireError::ProtocolError);
    QTest::newRow("a name") << QCborValue(QStringLiteral("alice")) << refused
                            << QStringLiteral("only a tls:// server that requires client certificates can check");
    QTest::newRow("not text") << QCborValue(5) << protocolError << QStringLiteral("is not a name of 1 to 255 bytes");
    QTest::newRow("empty") << QCborValue(QString()) << protocolError << QStringLiteral("is not a name");
    QTest::newRow("too long") << QCborValue(QString(256, u'a')) << protocolError << QStringLiteral("is not a name");
}

// The HELLO key "client" (TlsOptions::clientName) reaches every server, from
// any peer: one that cannot verify it (here tcp://) refuses the claim, and a
// key that is not a name is a protocol error; nothing reaches the application.
void tst_TlsTransport::claimInHelloWithoutCertificates()
{
    QFETCH(QCborValue, claim);
    QFETCH(int, code);
    QFETCH(QString, fragment);
    ChannelServer server;
    QVERIFY(server.listen(QUrl(QStringLiteral("tcp://127.0.0.1:0"))));
    QSignalSpy newChannel(&server, &ChannelServer::newChannel);

    Wire::Hello hello;
    hello.versions = {1};
    QCborMap map = QCborValue::fromCbor(Wire::encodeHello(hello, Wire::FrameType::Hello)).toMap();
    map.insert(QLatin1String("client"), claim);
    QByteArray bytes = Wire::preface().toByteArray();
    Wire::appendFrame(bytes, Wire::FrameType::Hello, 0, 0, map.toCborValue().toCbor());
    Wire::appendFrame(bytes, Wire::FrameType::Open, 0, 1, {});
    QTcpSocket raw;
    QByteArray answer;
    connect(&raw, &QTcpSocket::readyRead, this, [&] { answer += raw.readAll(); });
    raw.connectToHost(QHostAddress::LocalHost, quint16(server.address().port()));
    QVERIFY(raw.waitForConnected(10000));
    raw.write(bytes);
    QTRY_COMPARE_WITH_TIMEOUT(raw.state(), QAbstractSocket::UnconnectedState, 10000);
    answer += raw.readAll();

    Wire::MemorySource source(answer);
    Wire::FrameDecoder decoder;
    Wire::Frame frame;
    QCOMPARE(decoder.next(source, frame), Wire::FrameDecoder::Status::Frame);
    QCOMPARE(frame.type, Wire::FrameType::Error);
    QCOMPARE(frame.stream, 0u);
    Wire::WireError error = Wire::WireError::None;
    QString text;
    QVERIFY(Wire::decodeError(frame.payload, error, text));
    QCOMPARE(int(error), code);
    QVERIFY2(text.contains(fragment), qPrintable(text));
    QCOMPARE(newChannel.count(), 0);
    QVERIFY(!server.hasPendingChannels());
}

QTEST_GUILESS_MAIN(tst_TlsTransport)
#include "tst_tlstransport.moc"
