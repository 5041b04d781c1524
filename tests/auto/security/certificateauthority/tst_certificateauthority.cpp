#include <Qonduit/certificateauthority.h>

#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QTemporaryDir>
#include <QtNetwork/QSslCertificateExtension>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslServer>
#include <QtNetwork/QSslSocket>

using namespace Qonduit;
using Purpose = CertificateAuthority::Purpose;

namespace {

// The two ends of one real TLS 1.3 handshake over loopback.
struct Handshake
{
    bool clientEncrypted = false;
    bool serverAccepted = false; // the server finished its side, client certificate judged
    QList<QSslError::SslError> clientErrors;
    QList<QSslError::SslError> serverErrors;
};

struct HandshakeSetup
{
    Credentials server;
    QList<QSslCertificate> clientTrusts; // the client's only CA certificates
    QString peerName = QStringLiteral("localhost");
    Credentials client;                  // presented when not null
    QList<QSslCertificate> serverTrusts; // when not empty, the server requires a client certificate
};

QList<QSslError::SslError> codes(const QList<QSslError> &errors)
{
    QList<QSslError::SslError> result;
    for (const QSslError &error : errors)
        result.append(error.error());
    return result;
}

Handshake runHandshake(const HandshakeSetup &setup)
{
    Handshake result;
    QSslConfiguration serverConfig = QSslConfiguration::defaultConfiguration();
    serverConfig.setProtocol(QSsl::TlsV1_3OrLater);
    serverConfig.setLocalCertificate(setup.server.certificate);
    serverConfig.setPrivateKey(setup.server.privateKey);
    if (!setup.serverTrusts.isEmpty()) {
        serverConfig.setCaCertificates(setup.serverTrusts);
        serverConfig.setPeerVerifyMode(QSslSocket::VerifyPeer);
    } else {
        serverConfig.setPeerVerifyMode(QSslSocket::VerifyNone);
    }
    QSslServer server;
    server.setSslConfiguration(serverConfig);
    QObject::connect(&server, &QSslServer::sslErrors, [&](QSslSocket *, const QList<QSslError> &errors) {
        result.serverErrors += codes(errors);
    });
    bool serverDone = false;
    QObject::connect(&server, &QSslServer::errorOccurred, [&] { serverDone = true; });
    QObject::connect(&server, &QSslServer::pendingConnectionAvailable, [&] {
        result.serverAccepted = true;
        serverDone = true;
    });
    if (!server.listen(QHostAddress::LocalHost, 0))
        return result;

    QSslConfiguration clientConfig = QSslConfiguration::defaultConfiguration();
    clientConfig.setProtocol(QSsl::TlsV1_3OrLater);
    clientConfig.setCaCertificates(setup.clientTrusts);
    if (!setup.client.isNull()) {
        clientConfig.setLocalCertificate(setup.client.certificate);
        clientConfig.setPrivateKey(setup.client.privateKey);
    }
    QSslSocket client;
    client.setSslConfiguration(clientConfig);
    bool clientDone = false;
    QObject::connect(&client, &QSslSocket::sslErrors, [&](const QList<QSslError> &errors) {
        result.clientErrors += codes(errors);
    });
    QObject::connect(&client, &QSslSocket::encrypted, [&] {
        result.clientEncrypted = true;
        clientDone = true;
    });
    QObject::connect(&client, &QSslSocket::errorOccurred, [&] { clientDone = true; });
    client.connectToHostEncrypted(QStringLiteral("127.0.0.1"), server.serverPort(), setup.peerName);
    // A client that failed never gets as far as the server's verdict.
    if (!QTest::qWaitFor([&] { return clientDone && (serverDone || !result.clientEncrypted); }, 10000))
        qWarning("the handshake did not finish within 10 s");
    return result;
}

QDateTime daysFromNow(int days)
{
    return QDateTime::currentDateTimeUtc().addDays(days);
}

} // namespace

class tst_CertificateAuthority : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void authorityCertificateIsACa();
    void issuedServerCertificateHandshakes();
    void ipAddressNameHandshakes();
    void mutualTlsWithIssuedClientCertificate();
    void serverCertificateIsRefusedAsAClientCertificate();
    void clientFromAnotherAuthorityIsRefused();
    void untrustedAuthorityIsRefused();
    void expiredCertificateIsRefused();
    void notYetValidCertificateIsRefused();
    void wrongHostNameIsRefused();
    void selfSignedIsRefusedUnlessTrusted();
    void saveWritesTheKeyForItsOwnerOnly();
    void saveAndLoadWithPassphrase();
    void loadReportsWhatIsWrong();
    void badRequestsAreErrors();

private:
    CertificateAuthority m_ca;
};

void tst_CertificateAuthority::initTestCase()
{
    QVERIFY2(QSslSocket::supportsSsl(), "Qt's TLS backend is missing");
    QVERIFY2(m_ca.create(QStringLiteral("Qonduit Test CA")), qPrintable(m_ca.errorString()));
    QCOMPARE(m_ca.error(), Error::NoError);
}

void tst_CertificateAuthority::authorityCertificateIsACa()
{
    const QSslCertificate ca = m_ca.certificate();
    QVERIFY(m_ca.isValid());
    QCOMPARE(ca.subjectInfo(QSslCertificate::CommonName), QStringList{QStringLiteral("Qonduit Test CA")});
    QVERIFY(ca.isSelfSigned());
    QCOMPARE(ca.publicKey().algorithm(), QSsl::Ec);
    bool isCa = false;
    for (const QSslCertificateExtension &extension : ca.extensions()) {
        if (extension.name() == u"basicConstraints")
            isCa = extension.value().toMap().value(QStringLiteral("ca")).toBool();
    }
    QVERIFY(isCa);
    QVERIFY(ca.expiryDate() > daysFromNow(3000));
}

void tst_CertificateAuthority::issuedServerCertificateHandshakes()
{
    const Credentials server = m_ca.issue(QStringLiteral("localhost"), Purpose::Server);
    QVERIFY2(!server.isNull(), qPrintable(m_ca.errorString()));
    QCOMPARE(server.privateKey.algorithm(), QSsl::Ec);
    QCOMPARE(server.certificate.issuerInfo(QSslCertificate::CommonName), QStringList{QStringLiteral("Qonduit Test CA")});
    QVERIFY(server.certificate.subjectAlternativeNames().values(QSsl::DnsEntry).contains(QStringLiteral("localhost")));
    const Handshake h = runHandshake({server, {m_ca.certificate()}});
    QVERIFY2(h.clientErrors.isEmpty(), qPrintable(QDebug::toString(h.clientErrors)));
    QVERIFY(h.clientEncrypted);
    QVERIFY(h.serverAccepted);
}

void tst_CertificateAuthority::ipAddressNameHandshakes()
{
    const Credentials server = m_ca.issue(QStringLiteral("127.0.0.1"), Purpose::Server);
    QVERIFY(server.certificate.subjectAlternativeNames().values(QSsl::IpAddressEntry).contains(QStringLiteral("127.0.0.1")));
    HandshakeSetup setup{server, {m_ca.certificate()}};
    setup.peerName = QStringLiteral("127.0.0.1");
    const Handshake h = runHandshake(setup);
    QVERIFY2(h.clientErrors.isEmpty(), qPrintable(QDebug::toString(h.clientErrors)));
    QVERIFY(h.clientEncrypted);
}

void tst_CertificateAuthority::mutualTlsWithIssuedClientCertificate()
{
    HandshakeSetup setup{m_ca.issue(QStringLiteral("localhost"), Purpose::Server), {m_ca.certificate()}};
    setup.client = m_ca.issue(QStringLiteral("alice"), Purpose::Client);
    setup.serverTrusts = {m_ca.certificate()};
    const Handshake h = runHandshake(setup);
    QVERIFY2(h.serverErrors.isEmpty(), qPrintable(QDebug::toString(h.serverErrors)));
    QVERIFY(h.serverAccepted);
    QVERIFY(h.clientEncrypted);
}

void tst_CertificateAuthority::serverCertificateIsRefusedAsAClientCertificate()
{
    HandshakeSetup setup{m_ca.issue(QStringLiteral("localhost"), Purpose::Server), {m_ca.certificate()}};
    setup.client = m_ca.issue(QStringLiteral("alice"), Purpose::Server); // wrong extended key usage
    setup.serverTrusts = {m_ca.certificate()};
    const Handshake h = runHandshake(setup);
    QVERIFY(!h.serverAccepted);
    QVERIFY2(h.serverErrors.contains(QSslError::InvalidPurpose), qPrintable(QDebug::toString(h.serverErrors)));
}

void tst_CertificateAuthority::clientFromAnotherAuthorityIsRefused()
{
    CertificateAuthority other;
    QVERIFY(other.create(QStringLiteral("Another CA")));
    HandshakeSetup setup{m_ca.issue(QStringLiteral("localhost"), Purpose::Server), {m_ca.certificate()}};
    setup.client = other.issue(QStringLiteral("mallory"), Purpose::Client);
    setup.serverTrusts = {m_ca.certificate()};
    const Handshake h = runHandshake(setup);
    QVERIFY(!h.serverAccepted);
    QVERIFY2(!h.serverErrors.isEmpty(), "a client certificate from an unknown authority was accepted");
}

void tst_CertificateAuthority::untrustedAuthorityIsRefused()
{
    CertificateAuthority other;
    QVERIFY(other.create(QStringLiteral("Another CA")));
    const Handshake h = runHandshake({other.issue(QStringLiteral("localhost"), Purpose::Server), {m_ca.certificate()}});
    QVERIFY(!h.clientEncrypted);
    QVERIFY2(h.clientErrors.contains(QSslError::UnableToGetLocalIssuerCertificate)
                 || h.clientErrors.contains(QSslError::CertificateUntrusted),
             qPrintable(QDebug::toString(h.clientErrors)));
}

void tst_CertificateAuthority::expiredCertificateIsRefused()
{
    const Credentials expired = m_ca.issue(QStringLiteral("localhost"), Purpose::Server, daysFromNow(-30), daysFromNow(-1));
    QVERIFY2(!expired.isNull(), qPrintable(m_ca.errorString()));
    const Handshake h = runHandshake({expired, {m_ca.certificate()}});
    QVERIFY(!h.clientEncrypted);
    QVERIFY2(h.clientErrors.contains(QSslError::CertificateExpired), qPrintable(QDebug::toString(h.clientErrors)));
}

void tst_CertificateAuthority::notYetValidCertificateIsRefused()
{
    const Credentials future = m_ca.issue(QStringLiteral("localhost"), Purpose::Server, daysFromNow(1), daysFromNow(30));
    const Handshake h = runHandshake({future, {m_ca.certificate()}});
    QVERIFY(!h.clientEncrypted);
    QVERIFY2(h.clientErrors.contains(QSslError::CertificateNotYetValid), qPrintable(QDebug::toString(h.clientErrors)));
}

void tst_CertificateAuthority::wrongHostNameIsRefused()
{
    HandshakeSetup setup{m_ca.issue(QStringLiteral("a.example"), Purpose::Server), {m_ca.certificate()}};
    setup.peerName = QStringLiteral("b.example");
    const Handshake h = runHandshake(setup);
    QVERIFY(!h.clientEncrypted);
    QVERIFY2(h.clientErrors.contains(QSslError::HostNameMismatch), qPrintable(QDebug::toString(h.clientErrors)));
}

void tst_CertificateAuthority::selfSignedIsRefusedUnlessTrusted()
{
    QString error;
    const Credentials self = CertificateAuthority::selfSigned(QStringLiteral("localhost"), Purpose::Server,
                                                              CertificateAuthority::DefaultCertificateDays, &error);
    QVERIFY2(!self.isNull(), qPrintable(error));
    QVERIFY(self.certificate.isSelfSigned());

    const Handshake refused = runHandshake({self, {m_ca.certificate()}});
    QVERIFY(!refused.clientEncrypted);
    QVERIFY2(refused.clientErrors.contains(QSslError::SelfSignedCertificate),
             qPrintable(QDebug::toString(refused.clientErrors)));

    // A client that pins exactly this certificate (trusts it alone) connects.
    const Handshake pinned = runHandshake({self, {self.certificate}});
    QVERIFY2(pinned.clientErrors.isEmpty(), qPrintable(QDebug::toString(pinned.clientErrors)));
    QVERIFY(pinned.clientEncrypted);
}

void tst_CertificateAuthority::saveWritesTheKeyForItsOwnerOnly()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString certFile = dir.filePath(QStringLiteral("server.pem"));
    const QString keyFile = dir.filePath(QStringLiteral("server.key"));
    // A key file that exists with wider permissions is narrowed, not kept.
    QFile existing(keyFile);
    QVERIFY(existing.open(QIODevice::WriteOnly));
    existing.close();
    QVERIFY(existing.setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ReadGroup | QFile::ReadOther));

    const Credentials server = m_ca.issue(QStringLiteral("localhost"), Purpose::Server);
    QString error;
    QVERIFY2(server.save(certFile, keyFile, {}, &error), qPrintable(error));
    QCOMPARE(QFileInfo(keyFile).permissions() & (QFile::ReadGroup | QFile::WriteGroup | QFile::ExeGroup | QFile::ReadOther
                                                  | QFile::WriteOther | QFile::ExeOther),
             QFile::Permissions());
    QFile key(keyFile);
    QVERIFY(key.open(QIODevice::ReadOnly));
    QVERIFY(key.readAll().contains("-----BEGIN PRIVATE KEY-----"));

    const Credentials loaded = Credentials::load(certFile, keyFile, {}, &error);
    QVERIFY2(!loaded.isNull(), qPrintable(error));
    QCOMPARE(loaded.certificate, server.certificate);
    QCOMPARE(loaded.privateKey.toDer(), server.privateKey.toDer());
}

void tst_CertificateAuthority::saveAndLoadWithPassphrase()
{
    QTemporaryDir dir;
    const QString certFile = dir.filePath(QStringLiteral("ca.pem"));
    const QString keyFile = dir.filePath(QStringLiteral("ca.key"));
    const QByteArray passphrase("correct horse battery staple");
    QVERIFY2(m_ca.save(certFile, keyFile, passphrase), qPrintable(m_ca.errorString()));
    QFile key(keyFile);
    QVERIFY(key.open(QIODevice::ReadOnly));
    const QByteArray pem = key.readAll();
    QVERIFY(pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    QVERIFY(!pem.contains("-----BEGIN PRIVATE KEY-----"));

    CertificateAuthority wrong;
    QVERIFY(!wrong.load(certFile, keyFile, "wrong"));
    QCOMPARE(wrong.error(), Error::CertificateError);
    QVERIFY2(wrong.errorString().contains(QStringLiteral("passphrase")), qPrintable(wrong.errorString()));
    QVERIFY(!wrong.isValid());
    QVERIFY(!wrong.load(certFile, keyFile));
    QVERIFY2(wrong.errorString().contains(QStringLiteral("passphrase")), qPrintable(wrong.errorString()));

    // The loaded authority issues certificates that its saved certificate verifies.
    CertificateAuthority loaded;
    QVERIFY2(loaded.load(certFile, keyFile, passphrase), qPrintable(loaded.errorString()));
    QCOMPARE(loaded.certificate(), m_ca.certificate());
    const Handshake h = runHandshake({loaded.issue(QStringLiteral("localhost"), Purpose::Server), {m_ca.certificate()}});
    QVERIFY2(h.clientErrors.isEmpty(), qPrintable(QDebug::toString(h.clientErrors)));
    QVERIFY(h.clientEncrypted);
}

void tst_CertificateAuthority::loadReportsWhatIsWrong()
{
    QTemporaryDir dir;
    const QString missing = dir.filePath(QStringLiteral("missing.pem"));
    QString error;
    QVERIFY(Credentials::load(missing, missing, {}, &error).isNull());
    QVERIFY2(error.contains(missing), qPrintable(error));

    // A key that belongs to another certificate.
    const QString certFile = dir.filePath(QStringLiteral("a.pem"));
    const QString keyFile = dir.filePath(QStringLiteral("a.key"));
    const Credentials a = m_ca.issue(QStringLiteral("a"), Purpose::Client);
    const Credentials b = m_ca.issue(QStringLiteral("b"), Purpose::Client);
    QVERIFY(a.save(certFile, keyFile));
    QVERIFY(b.save(dir.filePath(QStringLiteral("b.pem")), dir.filePath(QStringLiteral("b.key"))));
    QVERIFY(Credentials::load(certFile, dir.filePath(QStringLiteral("b.key")), {}, &error).isNull());
    QVERIFY2(error.contains(QStringLiteral("does not belong")), qPrintable(error));

    // Not PEM at all.
    QFile garbage(dir.filePath(QStringLiteral("garbage.pem")));
    QVERIFY(garbage.open(QIODevice::WriteOnly));
    garbage.write("not a certificate\n");
    garbage.close();
    QVERIFY(Credentials::load(garbage.fileName(), keyFile, {}, &error).isNull());
    QVERIFY2(error.contains(QStringLiteral("no PEM certificate")), qPrintable(error));
    QVERIFY(Credentials::load(certFile, garbage.fileName(), {}, &error).isNull());
    QVERIFY2(error.contains(QStringLiteral("cannot be read")), qPrintable(error));
}

void tst_CertificateAuthority::badRequestsAreErrors()
{
    CertificateAuthority empty;
    QVERIFY(empty.issue(QStringLiteral("x"), Purpose::Client).isNull());
    QCOMPARE(empty.error(), Error::CertificateError);
    QVERIFY2(empty.errorString().contains(QStringLiteral("create()")), qPrintable(empty.errorString()));
    QTemporaryDir dir;
    QVERIFY(!empty.save(dir.filePath(QStringLiteral("c.pem")), dir.filePath(QStringLiteral("c.key"))));
    QCOMPARE(empty.error(), Error::CertificateError);

    QVERIFY(m_ca.issue(QString(), Purpose::Client).isNull());
    QCOMPARE(m_ca.error(), Error::CertificateError);
    QVERIFY(m_ca.issue(QStringLiteral("x"), Purpose::Client, daysFromNow(2), daysFromNow(1)).isNull());
    QVERIFY2(m_ca.errorString().contains(QStringLiteral("validity")), qPrintable(m_ca.errorString()));
    // A name cannot smuggle further subjectAltName entries in.
    const Credentials odd = m_ca.issue(QStringLiteral("x, DNS:evil.example"), Purpose::Server);
    QVERIFY2(!odd.isNull(), qPrintable(m_ca.errorString()));
    QCOMPARE(odd.certificate.subjectAlternativeNames().values(QSsl::DnsEntry),
             QStringList{QStringLiteral("x, DNS:evil.example")});
    QCOMPARE(m_ca.error(), Error::NoError);
}

QTEST_GUILESS_MAIN(tst_CertificateAuthority)
#include "tst_certificateauthority.moc"
