#ifndef QONDUIT_CERTIFICATES_P_H
#define QONDUIT_CERTIFICATES_P_H

#include <QtCore/qbytearray.h>
#include <QtCore/qdatetime.h>
#include <QtCore/qstring.h>

// X.509 certificates and P-256 keys, made with OpenSSL 3: the certificate part
// of src/security's interface. Everything goes in and out as PEM, so that no
// OpenSSL type leaves security/certificates.cpp and Qt's QSslCertificate and
// QSslKey load the results as they are.
namespace Qonduit::Security {

enum class CertificateKind {
    Authority, // CA:TRUE, keyCertSign + cRLSign
    Server,    // CA:FALSE, digitalSignature, extendedKeyUsage serverAuth
    Client,    // CA:FALSE, digitalSignature, extendedKeyUsage clientAuth
};

struct CertificateSpec
{
    // The subject's common name, and its subjectAltName: an IP address
    // entry when it parses as one, a DNS name otherwise.
    QString name;
    CertificateKind kind = CertificateKind::Server;
    QDateTime notBefore;
    QDateTime notAfter;
};

struct PemPair
{
    QByteArray certificate;
    QByteArray privateKey; // PKCS#8, unencrypted
};

// A new P-256 key and a certificate for it, signed by issuer's key, or by
// the new key itself when issuer is empty (a self-signed certificate, or a
// CA's own). Empty certificate on failure, with *error saying why.
PemPair makeCertificate(const CertificateSpec &spec, const PemPair &issuer, QString *error);

// The private key as PKCS#8 PEM, encrypted with AES-256-CBC under passphrase
// when it is not empty. Empty on failure.
QByteArray encryptPrivateKey(const QByteArray &keyPem, const QByteArray &passphrase, QString *error);
// Reads a PEM private key, encrypted or not, and returns it unencrypted.
// Empty on failure (a wrong passphrase among them).
QByteArray decryptPrivateKey(const QByteArray &keyPem, const QByteArray &passphrase, QString *error);

// Whether keyPem (unencrypted) is the private key of certificatePem.
bool keyMatchesCertificate(const QByteArray &certificatePem, const QByteArray &keyPem);

} // namespace Qonduit::Security

#endif // QONDUIT_CERTIFICATES_P_H
