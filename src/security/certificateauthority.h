#ifndef QONDUIT_CERTIFICATEAUTHORITY_H
#define QONDUIT_CERTIFICATEAUTHORITY_H

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qdatetime.h>
#include <QtNetwork/qsslcertificate.h>
#include <QtNetwork/qsslkey.h>

#include <memory>

namespace Qonduit {

// A certificate with its private key: what one end of a tls:// channel
// presents to the other.
struct QONDUIT_EXPORT Credentials
{
    QSslCertificate certificate = QSslCertificate();
    QSslKey privateKey = QSslKey();

    bool isNull() const { return certificate.isNull() || privateKey.isNull(); }

    // Writes two PEM files. The key file is created readable and writable by
    // its owner only (mode 0600, also when it existed), and encrypted with
    // AES-256 when passphrase is not empty.
    bool save(const QString &certificateFile, const QString &keyFile, const QByteArray &passphrase = {},
              QString *errorString = nullptr) const;
    // Reads what save() wrote (or any PEM certificate and P-256 key, the key
    // encrypted or not); null on failure, with *errorString saying why. The
    // key must belong to the certificate.
    static Credentials load(const QString &certificateFile, const QString &keyFile,
                            const QByteArray &passphrase = {}, QString *errorString = nullptr);
};

class CertificateAuthorityPrivate;

// Makes the certificates tls:// channels use: a certificate authority (a
// P-256 key and a self-signed CA certificate), certificates it issues for a
// name, and self-signed certificates. The name becomes the certificate's
// common name and its subjectAltName (an IP address entry when it is one),
// which is what a TLS peer checks. Everything it makes loads in
// QSslCertificate / QSslKey and works in real handshakes; it uses OpenSSL 3.
//
//     CertificateAuthority ca;
//     if (!ca.create(QStringLiteral("My Org CA")))
//         qWarning() << ca.errorString();
//     const Credentials server = ca.issue(QStringLiteral("server.example"),
//                                         CertificateAuthority::Purpose::Server);
class QONDUIT_EXPORT CertificateAuthority
{
public:
    // What a certificate may be used for (its extended key usage).
    enum class Purpose { Server, Client };
    static constexpr int DefaultAuthorityDays = 3650;
    static constexpr int DefaultCertificateDays = 825;

    CertificateAuthority();
    ~CertificateAuthority();
    CertificateAuthority(CertificateAuthority &&other) noexcept;
    CertificateAuthority &operator=(CertificateAuthority &&other) noexcept;

    // Makes a new authority named name, valid from now for validDays.
    bool create(const QString &name, int validDays = DefaultAuthorityDays);
    // The authority's certificate and key, as save() wrote them.
    bool load(const QString &certificateFile, const QString &keyFile, const QByteArray &passphrase = {});
    bool save(const QString &certificateFile, const QString &keyFile, const QByteArray &passphrase = {});
    bool isValid() const;

    // What peers that trust this authority add to their CA certificates.
    QSslCertificate certificate() const;

    // A new key and a certificate for name, signed by this authority, valid
    // from now for validDays. Null on failure, with error() set.
    Credentials issue(const QString &name, Purpose purpose, int validDays = DefaultCertificateDays);
    // The same for a given validity period (say, one already over).
    Credentials issue(const QString &name, Purpose purpose, const QDateTime &notBefore, const QDateTime &notAfter);

    // A new key and a certificate for name signed by that key, for a peer
    // that pins it rather than trusting an authority.
    static Credentials selfSigned(const QString &name, Purpose purpose, int validDays = DefaultCertificateDays,
                                  QString *errorString = nullptr);

    // CertificateError, or NoError after a call that succeeded.
    Error error() const;
    QString errorString() const;

private:
    std::unique_ptr<CertificateAuthorityPrivate> d;
};

} // namespace Qonduit

#endif // QONDUIT_CERTIFICATEAUTHORITY_H
