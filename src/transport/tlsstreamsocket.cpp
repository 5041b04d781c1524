#include "transport/tlsstreamsocket_p.h"

#include "global/qonduitlogging_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qcryptographichash.h>
#include <QtCore/qdatetime.h>
#include <QtNetwork/qsslcipher.h>

#include <algorithm>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::TlsStreamSocket", text);
}

QString quoted(const QString &text)
{
    return u'"' + text + u'"';
}

// How texts name a certificate: its common name.
QString nameOf(const QSslCertificate &certificate)
{
    const QString name = certificate.subjectDisplayName();
    return name.isEmpty() ? tr("(without a name)") : quoted(name);
}

// The DNS and IP address entries of a certificate's subjectAltName.
QStringList alternativeNamesOf(const QSslCertificate &certificate)
{
    QStringList names;
    const auto alternatives = certificate.subjectAlternativeNames();
    for (auto it = alternatives.cbegin(); it != alternatives.cend(); ++it) {
        if (it.key() == QSsl::DnsEntry || it.key() == QSsl::IpAddressEntry)
            names.append(it.value());
    }
    return names;
}

// The names a server certificate is valid for: its subjectAltName entries,
// else its common name.
QString hostNamesOf(const QSslCertificate &certificate)
{
    QStringList names;
    for (const QString &name : alternativeNamesOf(certificate))
        names.append(quoted(name));
    if (names.isEmpty()) {
        for (const QString &name : certificate.subjectInfo(QSslCertificate::CommonName))
            names.append(quoted(name));
    }
    return names.isEmpty() ? tr("no name at all") : names.join(u", ");
}

QString dateOf(const QDateTime &time)
{
    return time.toUTC().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"));
}

QString authoritiesOf(const QList<QSslCertificate> &authorities)
{
    if (authorities.isEmpty())
        return tr("the system's authorities");
    QStringList names;
    for (const QSslCertificate &authority : authorities)
        names.append(nameOf(authority));
    return tr("TlsOptions::trustedAuthorities: %1").arg(names.join(u", "));
}

bool isPinned(const QSslCertificate &certificate, const QList<QSslCertificate> &pins)
{
    const QByteArray der = certificate.toDer();
    return std::any_of(pins.cbegin(), pins.cend(), [&der](const QSslCertificate &pin) { return pin.toDer() == der; });
}

template<typename T, std::size_t N>
bool isOneOf(T value, const T (&values)[N])
{
    return std::find(std::begin(values), std::end(values), value) != std::end(values);
}

// The errors a pin stands in for: the certificate has no trusted authority
// (Qt reports an unknown issuer of a leaf also as UnableToVerifyFirstCertificate).
constexpr QSslError::SslError pinnableErrors[] = {
    QSslError::SelfSignedCertificate,
    QSslError::UnableToGetLocalIssuerCertificate,
    QSslError::UnableToVerifyFirstCertificate,
    QSslError::CertificateUntrusted,
};

// The errors that mean: no trusted authority signed it.
constexpr QSslError::SslError untrustedErrors[] = {
    QSslError::UnableToGetIssuerCertificate, QSslError::UnableToGetLocalIssuerCertificate,
    QSslError::UnableToVerifyFirstCertificate, QSslError::SelfSignedCertificate,
    QSslError::SelfSignedCertificateInChain, QSslError::CertificateUntrusted,
};

// The alerts by which a server refuses a client's certificate.
constexpr QSsl::AlertType certificateAlerts[] = {
    QSsl::AlertType::BadCertificate,     QSsl::AlertType::UnsupportedCertificate,
    QSsl::AlertType::CertificateRevoked, QSsl::AlertType::CertificateExpired,
    QSsl::AlertType::CertificateUnknown, QSsl::AlertType::UnknownCa,
    QSsl::AlertType::AccessDenied,       QSsl::AlertType::CertificateRequired,
};

// What is wrong with a certificate the peer presented, as the end of a
// sentence that starts with the peer ("Cannot trust tls://h:7000: ...",
// "Refused the client tls://1.2.3.4:5: ...").
QString certificateProblem(const QSslError &error, const QList<QSslCertificate> &authorities, bool ofServer)
{
    const QSslCertificate certificate = error.certificate();
    const QString name = nameOf(certificate);
    switch (error.error()) {
    case QSslError::CertificateExpired:
        return tr("its certificate %1 expired on %2 (it was valid from %3)")
                .arg(name, dateOf(certificate.expiryDate()), dateOf(certificate.effectiveDate()));
    case QSslError::CertificateNotYetValid:
        return tr("its certificate %1 is valid only from %2 (until %3): it is too new, or a clock is wrong")
                .arg(name, dateOf(certificate.effectiveDate()), dateOf(certificate.expiryDate()));
    case QSslError::SelfSignedCertificate:
        return ofServer ? tr("its certificate %1 is self-signed and not pinned: pin it "
                             "(TlsOptions::pinnedCertificates) or trust the authority that should sign it")
                                  .arg(name)
                        : tr("its certificate %1 is self-signed, and this server accepts only certificates "
                             "signed by %2")
                                  .arg(name, authoritiesOf(authorities));
    case QSslError::InvalidPurpose:
        return ofServer ? tr("its certificate %1 may not be used by a TLS server (it lacks the extended key usage "
                             "serverAuth; CertificateAuthority::Purpose::Server gives it)")
                                  .arg(name)
                        : tr("its certificate %1 may not be used by a TLS client (it lacks the extended key usage "
                             "clientAuth: is it a server certificate? CertificateAuthority::Purpose::Client gives it)")
                                  .arg(name);
    case QSslError::NoPeerCertificate:
        return tr("it presented no certificate");
    default:
        if (isOneOf(error.error(), untrustedErrors)) {
            return tr("its certificate %1 was signed by %2, which is not trusted (trusted: %3)")
                    .arg(name, quoted(certificate.issuerDisplayName()), authoritiesOf(authorities));
        }
        return tr("its certificate %1 was refused: %2").arg(name, error.errorString());
    }
}

QString pinProblem(const QSslCertificate &certificate, qsizetype pins)
{
    return tr("its certificate %1 (SHA-256 %2) is none of the %3 pinned certificates (TlsOptions::pinnedCertificates)")
            .arg(nameOf(certificate),
                 QString::fromLatin1(certificate.digest(QCryptographicHash::Sha256).toHex(':').toUpper()),
                 QString::number(pins));
}

} // namespace

std::unique_ptr<TlsStreamSocket> TlsStreamSocket::connectTo(const Endpoint &endpoint, const TlsOptions &options)
{
    Q_ASSERT(endpoint.scheme == Endpoint::Scheme::Tls);
    std::unique_ptr<TlsStreamSocket> socket(new TlsStreamSocket(endpoint, options));
    socket->connectLater();
    return socket;
}

std::unique_ptr<TlsStreamSocket> TlsStreamSocket::accept(QSslSocket *accepted, const TlsOptions &options,
                                                         std::chrono::milliseconds handshakeTimeout)
{
    std::unique_ptr<TlsStreamSocket> socket(new TlsStreamSocket(accepted, options));
    socket->setConnectTimeout(handshakeTimeout);
    socket->connectLater();
    return socket;
}

TlsStreamSocket::TlsStreamSocket(const Endpoint &endpoint, const TlsOptions &options)
    : TcpStreamSocket(endpoint, new QSslSocket, lcQonduitTransportTls),
      m_options(options)
{
    sslSocket()->setSslConfiguration(clientConfiguration(options));
    // The one place certificate errors are ignored: the certificate is a pin.
    QList<QSslError> pinned;
    for (const QSslCertificate &pin : std::as_const(options.pinnedCertificates)) {
        for (QSslError::SslError error : pinnableErrors)
            pinned.append(QSslError(error, pin));
    }
    if (!pinned.isEmpty())
        sslSocket()->ignoreSslErrors(pinned);
    watchTls();
}

TlsStreamSocket::TlsStreamSocket(QSslSocket *accepted, const TlsOptions &options)
    : TcpStreamSocket(accepted, QStringLiteral("tls"), lcQonduitTransportTls),
      m_options(options)
{
    accepted->setSslConfiguration(serverConfiguration(options));
    watchTls();
}

TlsStreamSocket::~TlsStreamSocket() = default;

QSslSocket *TlsStreamSocket::sslSocket() const
{
    return static_cast<QSslSocket *>(tcpSocket());
}

QSslConfiguration TlsStreamSocket::clientConfiguration(const TlsOptions &options)
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setProtocol(QSsl::TlsV1_3OrLater);
    configuration.setPeerVerifyMode(QSslSocket::VerifyPeer);
    if (!options.credentials.isNull()) {
        configuration.setLocalCertificate(options.credentials.certificate);
        configuration.setPrivateKey(options.credentials.privateKey);
    }
    // Setting them also stops Qt from loading the system's on demand.
    if (!options.trustedAuthorities.isEmpty())
        configuration.setCaCertificates(options.trustedAuthorities);
    return configuration;
}

QSslConfiguration TlsStreamSocket::serverConfiguration(const TlsOptions &options)
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setProtocol(QSsl::TlsV1_3OrLater);
    configuration.setLocalCertificate(options.credentials.certificate);
    configuration.setPrivateKey(options.credentials.privateKey);
    if (!options.trustedAuthorities.isEmpty())
        configuration.setCaCertificates(options.trustedAuthorities);
    configuration.setPeerVerifyMode(options.requireClientCertificate ? QSslSocket::VerifyPeer
                                                                     : QSslSocket::VerifyNone);
    // Stop at the first fault of a client certificate, and at a missing
    // one, inside OpenSSL: it then sends the client the matching alert
    // (unknown CA, certificate expired, ...) instead of closing in silence.
    configuration.setHandshakeMustInterruptOnError(true);
    configuration.setMissingCertificateIsFatal(true);
    return configuration;
}

QString TlsStreamSocket::checkServerOptions(const TlsOptions &options)
{
    if (options.credentials.isNull()) {
        return tr("a tls:// server needs a certificate and its private key (ChannelOptions::tls.credentials; "
                  "CertificateAuthority::issue() makes them)");
    }
    if (options.requireClientCertificate && options.trustedAuthorities.isEmpty()) {
        return tr("it requires client certificates but names no authority to check them against "
                  "(ChannelOptions::tls.trustedAuthorities)");
    }
    return QString();
}

QString TlsStreamSocket::checkClientName(const QString &name) const
{
    QString problem;
    // Only a certificate this server verified counts, and in it only the
    // subjectAltName, as for host names (RFC 6125).
    const QSslCertificate certificate = sslSocket()->peerCertificate();
    const QStringList names = alternativeNamesOf(certificate);
    if (!isAccepted() || !m_options.requireClientCertificate || certificate.isNull()) {
        problem = tr("it claims the name %1 (TlsOptions::clientName), but this server does not check client "
                     "certificates, so it cannot prove it (TlsOptions::requireClientCertificate)")
                          .arg(quoted(name));
    } else if (!names.contains(name)) {
        problem = tr("it claims the name %1 (TlsOptions::clientName), but its certificate %2 is for %3")
                          .arg(quoted(name), nameOf(certificate),
                               names.isEmpty() ? tr("no name (it has no subjectAltName)") : hostNamesOf(certificate));
    }
    if (!problem.isEmpty()) {
        qCInfo(lcQonduitTransportTls).noquote()
                << tr("Refused the client %1: %2.").arg(peerAddress().toDisplayString(), problem);
    }
    return problem;
}

void TlsStreamSocket::flush()
{
}

void TlsStreamSocket::watchTls()
{
    QSslSocket *socket = sslSocket();
    connect(socket, &QSslSocket::encrypted, this, &TlsStreamSocket::onEncrypted);
    connect(socket, &QSslSocket::sslErrors, this, &TlsStreamSocket::onSslErrors);
    connect(socket, &QSslSocket::handshakeInterruptedOnError, this, &TlsStreamSocket::onHandshakeInterrupted);
    connect(socket, &QSslSocket::alertReceived, this,
            [this](QSsl::AlertLevel level, QSsl::AlertType type, const QString &description) {
                onAlert(false, level, type, description);
            });
    connect(socket, &QSslSocket::alertSent, this,
            [this](QSsl::AlertLevel level, QSsl::AlertType type, const QString &description) {
                onAlert(true, level, type, description);
            });
}

qintptr TlsStreamSocket::halfClosableDescriptor() const
{
    return -1;
}

void TlsStreamSocket::startConnecting()
{
    if (isAccepted())
        sslSocket()->startServerEncryption();
    else
        TcpStreamSocket::startConnecting();
}

void TlsStreamSocket::connectDevice()
{
    const QString peerName = m_options.peerName.isEmpty() ? endpoint().host : m_options.peerName;
    sslSocket()->connectToHostEncrypted(endpoint().host, endpoint().port, peerName, QIODevice::ReadWrite);
}

void TlsStreamSocket::onTcpConnected()
{
    // Connected means encrypted (and, with pins, pinned): onEncrypted().
}

void TlsStreamSocket::onEncrypted()
{
    QSslSocket *socket = sslSocket();
    const QString shown = peerAddress().toDisplayString();
    if (!isAccepted() && !m_options.pinnedCertificates.isEmpty()
        && !isPinned(socket->peerCertificate(), m_options.pinnedCertificates)) {
        // A certificate some trusted authority signed, but not a pinned one.
        failWith(Error::AuthenticationError,
                 tr("Cannot trust %1: %2.").arg(shown, pinProblem(socket->peerCertificate(),
                                                                  m_options.pinnedCertificates.size())));
        return;
    }
    qCDebug(lcQonduitTransportTls) << "TLS handshake done with" << shown << socket->sessionProtocol()
                                   << socket->sessionCipher().name();
    reportConnected();
}

void TlsStreamSocket::onSslErrors(const QList<QSslError> &errors)
{
    const QString shown = peerAddress().toDisplayString();
    QStringList problems;
    const auto add = [&problems](const QString &problem) {
        if (!problems.contains(problem))
            problems.append(problem);
    };
    if (isAccepted()) {
        for (const QSslError &error : errors)
            add(certificateProblem(error, m_options.trustedAuthorities, false));
        m_refusal = tr("Refused the client %1: %2.").arg(shown, problems.join(u"; "));
        return;
    }
    const QList<QSslCertificate> &pins = m_options.pinnedCertificates;
    const QSslCertificate presented = sslSocket()->peerCertificate();
    const bool pinned = !pins.isEmpty() && isPinned(presented, pins);
    if (!pins.isEmpty() && !pinned)
        add(pinProblem(presented, pins.size()));
    const QString expected = m_options.peerName.isEmpty() ? endpoint().host : m_options.peerName;
    for (const QSslError &error : errors) {
        if (isOneOf(error.error(), pinnableErrors) && isPinned(error.certificate(), pins))
            continue; // ignored: the pin is the trust
        if (!pins.isEmpty() && !pinned && isOneOf(error.error(), untrustedErrors))
            continue; // the pin said it all
        if (error.error() == QSslError::HostNameMismatch) {
            add(tr("its certificate is for %1, not for %2, the name this client expects "
                   "(TlsOptions::peerName, by default the host of the URL)")
                        .arg(hostNamesOf(error.certificate()), quoted(expected)));
        } else {
            add(certificateProblem(error, m_options.trustedAuthorities, true));
        }
    }
    if (!problems.isEmpty())
        m_refusal = tr("Cannot trust %1: %2.").arg(shown, problems.join(u"; "));
}

void TlsStreamSocket::onHandshakeInterrupted(const QSslError &error)
{
    // Not continued: the handshake fails and OpenSSL alerts the client.
    if (m_refusal.isEmpty()) {
        m_refusal = tr("Refused the client %1: %2.")
                            .arg(peerAddress().toDisplayString(),
                                 certificateProblem(error, m_options.trustedAuthorities, false));
    }
}

void TlsStreamSocket::onAlert(bool sent, QSsl::AlertLevel level, QSsl::AlertType type, const QString &description)
{
    if (level != QSsl::AlertLevel::Fatal || m_alertFromPeer || m_alertSent)
        return;
    m_alertFromPeer = !sent;
    m_alertSent = sent;
    m_alert = type;
    m_alertDescription = description;
}

QString TlsStreamSocket::alertText() const
{
    const QString shown = peerAddress().toDisplayString();
    if (m_alertSent) {
        if (!isAccepted()) {
            return tr("The TLS connection to %1 failed: this client sent the TLS alert \"%2\" (%3).")
                    .arg(shown, m_alertDescription, sslSocket()->errorString());
        }
        if (m_alert == QSsl::AlertType::CertificateRequired) {
            return tr("Refused the client %1: it presented no certificate, and this server requires one "
                      "(TlsOptions::requireClientCertificate).")
                    .arg(shown);
        }
        return tr("The TLS handshake with the client %1 failed: this server sent the TLS alert \"%2\" (%3).")
                .arg(shown, m_alertDescription, sslSocket()->errorString());
    }
    if (isAccepted()) {
        if (isOneOf(m_alert, certificateAlerts))
            return tr("The client %1 refused this server's certificate (TLS alert \"%2\").")
                    .arg(shown, m_alertDescription);
        return tr("The TLS handshake with the client %1 failed: it sent the TLS alert \"%2\".")
                .arg(shown, m_alertDescription);
    }
    const QSslCertificate own = m_options.credentials.certificate;
    const QString ownName = nameOf(own);
    const QDateTime now = QDateTime::currentDateTimeUtc();
    switch (m_alert) {
    case QSsl::AlertType::CertificateRequired:
        return tr("%1 requires a client certificate, and this client presented none: set TlsOptions::credentials to "
                  "a certificate signed by an authority that server trusts.")
                .arg(shown);
    case QSsl::AlertType::UnknownCa:
        if (own.isSelfSigned()) {
            return tr("%1 refused this client's certificate %2: it is self-signed, and the server accepts only "
                      "certificates signed by an authority it trusts.")
                    .arg(shown, ownName);
        }
        return tr("%1 refused this client's certificate %2: it does not trust %3, the authority that signed it.")
                .arg(shown, ownName, quoted(own.issuerDisplayName()));
    case QSsl::AlertType::UnsupportedCertificate:
        return tr("%1 refused this client's certificate %2: it may not be used by a TLS client (a client "
                  "certificate needs the extended key usage clientAuth: is it a server certificate? "
                  "CertificateAuthority::Purpose::Client gives it).")
                .arg(shown, ownName);
    default:
        break;
    }
    if (isOneOf(m_alert, certificateAlerts) && !own.isNull()) {
        if (own.expiryDate() < now) {
            return tr("%1 refused this client's certificate %2: it expired on %3.")
                    .arg(shown, ownName, dateOf(own.expiryDate()));
        }
        if (own.effectiveDate() > now) {
            return tr("%1 refused this client's certificate %2: it is valid only from %3.")
                    .arg(shown, ownName, dateOf(own.effectiveDate()));
        }
        return tr("%1 refused this client's certificate %2 (TLS alert \"%3\").")
                .arg(shown, ownName, m_alertDescription);
    }
    if (m_alert == QSsl::AlertType::ProtocolVersion)
        return tr("%1 does not speak TLS 1.3 (TLS alert \"%2\").").arg(shown, m_alertDescription);
    return tr("The TLS handshake with %1 failed: it sent the TLS alert \"%2\".").arg(shown, m_alertDescription);
}

void TlsStreamSocket::describeError(QAbstractSocket::SocketError socketError, Error &error, QString &text) const
{
    const QString shown = peerAddress().toDisplayString();
    const bool handshaking = phase() == Phase::Connecting;
    error = Error::AuthenticationError;
    if (!m_refusal.isEmpty()) {
        text = m_refusal;
        return;
    }
    if (m_alertFromPeer || m_alertSent) {
        text = alertText();
        return;
    }
    switch (socketError) {
    case QAbstractSocket::SslHandshakeFailedError:
        text = isAccepted() ? tr("The TLS handshake with the client %1 failed (is it a TLS client?): %2")
                                      .arg(shown, sslSocket()->errorString())
                            : tr("The TLS handshake with %1 failed (is it a tls:// server?): %2")
                                      .arg(shown, sslSocket()->errorString());
        return;
    case QAbstractSocket::SslInternalError:
        text = tr("TLS failed on the connection with %1: %2").arg(shown, sslSocket()->errorString());
        return;
    case QAbstractSocket::SslInvalidUserDataError:
        error = Error::CertificateError;
        text = tr("The TLS library refused this side's certificate or key for %1: %2")
                       .arg(shown, sslSocket()->errorString());
        return;
    case QAbstractSocket::RemoteHostClosedError:
        if (handshaking) {
            error = Error::RemoteClosedError;
            text = isAccepted() ? tr("The client %1 closed the connection during the TLS handshake (a client that "
                                     "does not trust this server's certificate does that).")
                                          .arg(shown)
                                : tr("%1 closed the connection during the TLS handshake: is it a tls:// server?")
                                          .arg(shown);
            return;
        }
        break;
    default:
        break;
    }
    TcpStreamSocket::describeError(socketError, error, text);
}

bool TlsStreamSocket::closesItselfAfter(QAbstractSocket::SocketError socketError) const
{
    // A failed handshake: QSslSocket sends the alert after this error and
    // then aborts.
    return socketError == QAbstractSocket::SslHandshakeFailedError;
}

} // namespace Qonduit
