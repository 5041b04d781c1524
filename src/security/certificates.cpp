#include "security/certificates_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtNetwork/qhostaddress.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <memory>

namespace Qonduit::Security {

namespace {

template <typename T, void (*Free)(T *)>
struct Deleter
{
    void operator()(T *p) const { Free(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Certificate = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Name = std::unique_ptr<X509_NAME, Deleter<X509_NAME, X509_NAME_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using BigNumber = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

void freeGeneralNames(GENERAL_NAMES *names)
{
    GENERAL_NAMES_free(names);
}
using GeneralNames = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, freeGeneralNames>>;

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::CertificateAuthority", text);
}

// Sets *error to what, followed by OpenSSL's reason, and empties OpenSSL's
// error queue of this thread (what is left there would be blamed on the next
// failure, here or in Qt's TLS backend).
void fail(QString *error, const QString &what)
{
    QString reason;
    while (const unsigned long code = ERR_get_error()) {
        if (reason.isEmpty()) {
            char text[256];
            ERR_error_string_n(code, text, sizeof text);
            reason = QString::fromLatin1(text);
        }
    }
    if (error)
        *error = reason.isEmpty() ? what : tr("%1 (%2)").arg(what, reason);
}

QByteArray drain(BIO *bio)
{
    char *data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return size > 0 ? QByteArray(data, size) : QByteArray();
}

Bio readOnly(const QByteArray &bytes)
{
    return Bio(BIO_new_mem_buf(bytes.constData(), int(bytes.size())));
}

// Hands OpenSSL the passphrase instead of letting it prompt on a terminal.
int passphraseCallback(char *buffer, int size, int, void *user)
{
    const auto *passphrase = static_cast<const QByteArray *>(user);
    if (passphrase->size() > size)
        return -1;
    std::memcpy(buffer, passphrase->constData(), size_t(passphrase->size()));
    return int(passphrase->size());
}

Key readKey(const QByteArray &pem, const QByteArray &passphrase)
{
    const Bio bio = readOnly(pem);
    QByteArray copy = passphrase;
    return Key(PEM_read_bio_PrivateKey(bio.get(), nullptr, passphraseCallback, &copy));
}

QByteArray writeKey(EVP_PKEY *key, const QByteArray &passphrase)
{
    const Bio bio(BIO_new(BIO_s_mem()));
    const EVP_CIPHER *cipher = passphrase.isEmpty() ? nullptr : EVP_aes_256_cbc();
    QByteArray copy = passphrase;
    if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key, cipher, nullptr, 0, passphraseCallback, &copy) != 1)
        return {};
    return drain(bio.get());
}

bool addExtension(X509 *certificate, X509V3_CTX *context, int nid, const char *value)
{
    const Extension extension(X509V3_EXT_conf_nid(nullptr, context, nid, value));
    return extension && X509_add_ext(certificate, extension.get(), -1) == 1;
}

// The subjectAltName, built as a structure rather than from a configuration
// string, so that no name can smuggle in other entries.
bool addSubjectAltName(X509 *certificate, const QString &name)
{
    GeneralNames names(sk_GENERAL_NAME_new_null());
    GENERAL_NAME *entry = GENERAL_NAME_new();
    if (!names || !entry)
        return false;
    if (QHostAddress(name).isNull()) {
        const QByteArray dns = name.toUtf8();
        ASN1_IA5STRING *value = ASN1_IA5STRING_new();
        if (!value || ASN1_STRING_set(value, dns.constData(), int(dns.size())) != 1) {
            ASN1_IA5STRING_free(value);
            GENERAL_NAME_free(entry);
            return false;
        }
        GENERAL_NAME_set0_value(entry, GEN_DNS, value);
    } else {
        ASN1_OCTET_STRING *value = a2i_IPADDRESS(QHostAddress(name).toString().toLatin1().constData());
        if (!value) {
            GENERAL_NAME_free(entry);
            return false;
        }
        GENERAL_NAME_set0_value(entry, GEN_IPADD, value);
    }
    if (!sk_GENERAL_NAME_push(names.get(), entry)) {
        GENERAL_NAME_free(entry);
        return false;
    }
    return X509_add1_ext_i2d(certificate, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1;
}

bool addExtensions(X509 *certificate, X509 *issuer, CertificateKind kind, const QString &name)
{
    X509V3_CTX context;
    X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
    // The subject key id first: the authority key id of a self-signed
    // certificate is read from it.
    if (!addExtension(certificate, &context, NID_subject_key_identifier, "hash")
        || !addExtension(certificate, &context, NID_authority_key_identifier, "keyid:always")) {
        return false;
    }
    switch (kind) {
    case CertificateKind::Authority:
        return addExtension(certificate, &context, NID_basic_constraints, "critical,CA:TRUE")
            && addExtension(certificate, &context, NID_key_usage, "critical,keyCertSign,cRLSign");
    case CertificateKind::Server:
    case CertificateKind::Client:
        // A self-signed certificate signs itself: without keyCertSign OpenSSL
        // (and so Qt) would not take it as its own issuer, and a peer could
        // not pin it as its only trust anchor.
        return addExtension(certificate, &context, NID_basic_constraints, "critical,CA:FALSE")
            && addExtension(certificate, &context, NID_key_usage,
                            issuer == certificate ? "critical,digitalSignature,keyCertSign"
                                                  : "critical,digitalSignature")
            && addExtension(certificate, &context, NID_ext_key_usage,
                            kind == CertificateKind::Server ? "serverAuth" : "clientAuth")
            && addSubjectAltName(certificate, name);
    }
    return false;
}

bool setSubject(X509 *certificate, const QString &name)
{
    const QByteArray commonName = name.toUtf8();
    const Name subject(X509_NAME_new());
    return subject
        && X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char *>(commonName.constData()),
                                      int(commonName.size()), -1, 0)
               == 1
        && X509_set_subject_name(certificate, subject.get()) == 1;
}

// 127 random bits: unique without a registry, and positive as RFC 5280 wants.
bool setRandomSerial(X509 *certificate)
{
    const BigNumber serial(BN_new());
    return serial && BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1
        && BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate)) != nullptr;
}

bool setValidity(X509 *certificate, const QDateTime &notBefore, const QDateTime &notAfter)
{
    return ASN1_TIME_set(X509_getm_notBefore(certificate), time_t(notBefore.toSecsSinceEpoch())) != nullptr
        && ASN1_TIME_set(X509_getm_notAfter(certificate), time_t(notAfter.toSecsSinceEpoch())) != nullptr;
}

} // namespace

PemPair makeCertificate(const CertificateSpec &spec, const PemPair &issuer, QString *error)
{
    if (spec.name.trimmed().isEmpty()) {
        fail(error, tr("A certificate needs a name."));
        return {};
    }
    if (!spec.notBefore.isValid() || !spec.notAfter.isValid() || spec.notAfter <= spec.notBefore) {
        fail(error, tr("The certificate for %1 needs a validity period that ends after it starts.").arg(spec.name));
        return {};
    }
    const bool selfSigned = issuer.certificate.isEmpty();
    Certificate issuerCertificate;
    Key issuerKey;
    if (!selfSigned) {
        const Bio bio = readOnly(issuer.certificate);
        issuerCertificate.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        issuerKey = readKey(issuer.privateKey, {});
        if (!issuerCertificate || !issuerKey || X509_check_private_key(issuerCertificate.get(), issuerKey.get()) != 1) {
            fail(error, tr("The issuing authority's certificate and key do not belong together."));
            return {};
        }
    }

    const Key key(EVP_EC_gen("P-256"));
    const Certificate certificate(X509_new());
    if (!key || !certificate) {
        fail(error, tr("Could not make a P-256 key."));
        return {};
    }
    X509 *const signer = selfSigned ? certificate.get() : issuerCertificate.get();
    const bool built = X509_set_version(certificate.get(), 2) == 1 && setRandomSerial(certificate.get())
        && setSubject(certificate.get(), spec.name)
        && X509_set_issuer_name(certificate.get(), X509_get_subject_name(signer)) == 1
        && setValidity(certificate.get(), spec.notBefore, spec.notAfter)
        && X509_set_pubkey(certificate.get(), key.get()) == 1
        && addExtensions(certificate.get(), signer, spec.kind, spec.name)
        && X509_sign(certificate.get(), selfSigned ? key.get() : issuerKey.get(), EVP_sha256()) > 0;
    if (!built) {
        fail(error, tr("Could not make the certificate for %1.").arg(spec.name));
        return {};
    }

    const Bio out(BIO_new(BIO_s_mem()));
    PemPair result;
    if (out && PEM_write_bio_X509(out.get(), certificate.get()) == 1)
        result.certificate = drain(out.get());
    result.privateKey = writeKey(key.get(), {});
    if (result.certificate.isEmpty() || result.privateKey.isEmpty()) {
        fail(error, tr("Could not write the certificate for %1 as PEM.").arg(spec.name));
        return {};
    }
    return result;
}

QByteArray encryptPrivateKey(const QByteArray &keyPem, const QByteArray &passphrase, QString *error)
{
    const Key key = readKey(keyPem, {});
    QByteArray pem = key ? writeKey(key.get(), passphrase) : QByteArray();
    if (pem.isEmpty())
        fail(error, tr("Could not write the private key."));
    return pem;
}

QByteArray decryptPrivateKey(const QByteArray &keyPem, const QByteArray &passphrase, QString *error)
{
    const Key key = readKey(keyPem, passphrase);
    if (!key) {
        fail(error, passphrase.isEmpty() ? tr("The private key cannot be read (if it is encrypted, give its passphrase).")
                                         : tr("The private key cannot be read: wrong passphrase, or not a PEM key."));
        return {};
    }
    return writeKey(key.get(), {});
}

bool keyMatchesCertificate(const QByteArray &certificatePem, const QByteArray &keyPem)
{
    const Bio bio = readOnly(certificatePem);
    const Certificate certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    const Key key = readKey(keyPem, {});
    const bool matches = certificate && key && X509_check_private_key(certificate.get(), key.get()) == 1;
    ERR_clear_error();
    return matches;
}

} // namespace Qonduit::Security
