#include <Qonduit/certificateauthority.h>

#include "security/certificates_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qfile.h>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::CertificateAuthority", text);
}

void setError(QString *errorString, const QString &text)
{
    if (errorString)
        *errorString = text;
}

// Created with mode 0600 and set to it if it existed: a private key must never
// be readable by others, not even between creation and a later chmod.
bool writeOwnerOnly(const QString &path, const QByteArray &bytes, QString *errorString)
{
    const QByteArray name = QFile::encodeName(path);
    const int fd = ::open(name.constData(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, S_IRUSR | S_IWUSR);
    bool ok = fd >= 0 && ::fchmod(fd, S_IRUSR | S_IWUSR) == 0;
    for (qsizetype written = 0; ok && written < bytes.size();) {
        const ssize_t n = ::write(fd, bytes.constData() + written, size_t(bytes.size() - written));
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        written += n > 0 ? n : 0;
    }
    const int savedErrno = errno;
    if (fd >= 0 && ::close(fd) != 0)
        ok = false;
    if (!ok)
        setError(errorString, tr("Cannot write the private key to %1: %2").arg(path, QString::fromLocal8Bit(std::strerror(savedErrno))));
    return ok;
}

bool writeFile(const QString &path, const QByteArray &bytes, QString *errorString)
{
    QFile file(path);
    if (file.open(QIODevice::WriteOnly | QIODevice::Truncate) && file.write(bytes) == bytes.size() && file.flush())
        return true;
    setError(errorString, tr("Cannot write %1: %2").arg(path, file.errorString()));
    return false;
}

QByteArray readFile(const QString &path, QString *errorString)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        setError(errorString, tr("Cannot read %1: %2").arg(path, file.errorString()));
        return {};
    }
    return file.readAll();
}

Security::PemPair toPem(const Credentials &credentials)
{
    return {credentials.certificate.toPem(), credentials.privateKey.toPem()};
}

Credentials fromPem(const Security::PemPair &pem, QString *errorString)
{
    Credentials credentials{QSslCertificate(pem.certificate, QSsl::Pem),
                            QSslKey(pem.privateKey, QSsl::Ec, QSsl::Pem, QSsl::PrivateKey)};
    if (credentials.isNull()) {
        setError(errorString, tr("Qt's TLS backend cannot load the certificate or its P-256 key (is the OpenSSL "
                                 "TLS plugin installed?)."));
        return Credentials();
    }
    return credentials;
}

Security::CertificateKind kindOf(CertificateAuthority::Purpose purpose)
{
    return purpose == CertificateAuthority::Purpose::Server ? Security::CertificateKind::Server
                                                            : Security::CertificateKind::Client;
}

// From an hour ago, so that a peer whose clock is a little behind does not
// find a new certificate not yet valid.
std::pair<QDateTime, QDateTime> validFromNow(int days)
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    return {now.addSecs(-3600), now.addDays(qMax(1, days))};
}

Credentials makeCredentials(const Security::CertificateSpec &spec, const Security::PemPair &issuer,
                            QString *errorString)
{
    QString error;
    const Security::PemPair pem = Security::makeCertificate(spec, issuer, &error);
    if (pem.certificate.isEmpty()) {
        setError(errorString, error);
        return Credentials();
    }
    return fromPem(pem, errorString);
}

} // namespace

bool Credentials::save(const QString &certificateFile, const QString &keyFile, const QByteArray &passphrase,
                       QString *errorString) const
{
    if (isNull()) {
        setError(errorString, tr("There is no certificate and key to save."));
        return false;
    }
    QString error;
    const QByteArray key = Security::encryptPrivateKey(privateKey.toPem(), passphrase, &error);
    if (key.isEmpty()) {
        setError(errorString, error);
        return false;
    }
    return writeOwnerOnly(keyFile, key, errorString) && writeFile(certificateFile, certificate.toPem(), errorString);
}

Credentials Credentials::load(const QString &certificateFile, const QString &keyFile, const QByteArray &passphrase,
                              QString *errorString)
{
    const QByteArray certificatePem = readFile(certificateFile, errorString);
    const QByteArray encryptedKey = certificatePem.isEmpty() ? QByteArray() : readFile(keyFile, errorString);
    if (encryptedKey.isEmpty())
        return Credentials();
    QString error;
    const QByteArray keyPem = Security::decryptPrivateKey(encryptedKey, passphrase, &error);
    if (keyPem.isEmpty()) {
        setError(errorString, tr("%1: %2").arg(keyFile, error));
        return Credentials();
    }
    // Only the first certificate of the file: the key must belong to it.
    const QList<QSslCertificate> certificates = QSslCertificate::fromData(certificatePem, QSsl::Pem);
    if (certificates.isEmpty()) {
        setError(errorString, tr("%1 holds no PEM certificate.").arg(certificateFile));
        return Credentials();
    }
    if (!Security::keyMatchesCertificate(certificates.first().toPem(), keyPem)) {
        setError(errorString, tr("The key in %1 does not belong to the certificate in %2.").arg(keyFile, certificateFile));
        return Credentials();
    }
    return fromPem({certificates.first().toPem(), keyPem}, errorString);
}

class CertificateAuthorityPrivate
{
public:
    bool fail(const QString &text)
    {
        error = Error::CertificateError;
        errorString = text;
        return false;
    }
    bool succeed()
    {
        error = Error::NoError;
        errorString.clear();
        return true;
    }
    // Becomes the authority of credentials, or keeps what it had and fails
    // with failure when they are null.
    bool adopt(Credentials credentials, const QString &failure)
    {
        if (credentials.isNull())
            return fail(failure);
        own = std::move(credentials);
        return succeed();
    }

    Credentials own;
    Error error = Error::NoError;
    QString errorString;
};

CertificateAuthority::CertificateAuthority()
    : d(std::make_unique<CertificateAuthorityPrivate>())
{
}

CertificateAuthority::~CertificateAuthority() = default;
CertificateAuthority::CertificateAuthority(CertificateAuthority &&other) noexcept = default;
CertificateAuthority &CertificateAuthority::operator=(CertificateAuthority &&other) noexcept = default;

bool CertificateAuthority::create(const QString &name, int validDays)
{
    const auto [notBefore, notAfter] = validFromNow(validDays);
    QString error;
    Credentials made = makeCredentials({name, Security::CertificateKind::Authority, notBefore, notAfter}, {}, &error);
    return d->adopt(std::move(made), error);
}

bool CertificateAuthority::load(const QString &certificateFile, const QString &keyFile, const QByteArray &passphrase)
{
    QString error;
    Credentials loaded = Credentials::load(certificateFile, keyFile, passphrase, &error);
    return d->adopt(std::move(loaded), error);
}

bool CertificateAuthority::save(const QString &certificateFile, const QString &keyFile, const QByteArray &passphrase)
{
    QString error;
    if (!d->own.save(certificateFile, keyFile, passphrase, &error))
        return d->fail(error);
    return d->succeed();
}

bool CertificateAuthority::isValid() const
{
    return d && !d->own.isNull();
}

QSslCertificate CertificateAuthority::certificate() const
{
    return d->own.certificate;
}

Credentials CertificateAuthority::issue(const QString &name, Purpose purpose, int validDays)
{
    const auto [notBefore, notAfter] = validFromNow(validDays);
    return issue(name, purpose, notBefore, notAfter);
}

Credentials CertificateAuthority::issue(const QString &name, Purpose purpose, const QDateTime &notBefore,
                                        const QDateTime &notAfter)
{
    if (!isValid()) {
        d->fail(tr("This certificate authority has no certificate and key yet: create() or load() it first."));
        return Credentials();
    }
    QString error;
    Credentials issued = makeCredentials({name, kindOf(purpose), notBefore, notAfter}, toPem(d->own), &error);
    if (issued.isNull())
        d->fail(error);
    else
        d->succeed();
    return issued;
}

Credentials CertificateAuthority::selfSigned(const QString &name, Purpose purpose, int validDays,
                                             QString *errorString)
{
    const auto [notBefore, notAfter] = validFromNow(validDays);
    return makeCredentials({name, kindOf(purpose), notBefore, notAfter}, {}, errorString);
}

Error CertificateAuthority::error() const
{
    return d->error;
}

QString CertificateAuthority::errorString() const
{
    return d->errorString;
}

} // namespace Qonduit
