#ifndef QONDUIT_TLSSTREAMSOCKET_P_H
#define QONDUIT_TLSSTREAMSOCKET_P_H

#include <Qonduit/tlsoptions.h>

#include "transport/tcpstreamsocket_p.h"

#include <QtNetwork/qssl.h>
#include <QtNetwork/qsslconfiguration.h>
#include <QtNetwork/qsslerror.h>
#include <QtNetwork/qsslsocket.h>

#include <chrono>
#include <memory>

namespace Qonduit {

// A tls:// stream: a tcp:// stream (TCP_NODELAY, no proxy, asynchronous name
// lookup) carrying TLS 1.3 through a QSslSocket; device() reads and writes
// the plaintext.
//
// The socket is connected only once the TLS handshake is done: connected()
// follows encrypted() and, on a client with pinned certificates, the pin
// check. Every refusal of a certificate, on either side, is an
// AuthenticationError whose text names the peer and says why (which
// authority signed an untrusted certificate, the validity dates, the names a
// certificate carries, the pins). A server-side socket (accept()) reports
// connected() too, which is what its TlsStreamListener waits for before it
// hands the socket out; its failures are for the listener to log.
//
// In TLS 1.3 a client finishes its handshake before the server has checked
// the client's certificate. A server refusing it sends a TLS alert
// (serverConfiguration() interrupts the handshake at the first error, so
// OpenSSL sends the matching alert instead of closing in silence); the
// client then fails with AuthenticationError, named after the alert, after
// it reported connected(). The protocol above reports a channel connected
// only after the server's WELCOME, which the server sends only after its own
// socket reported connected().
//
// Certificate errors are never ignored wholesale: the only errors ignored
// are SelfSignedCertificate, UnableToGetLocalIssuerCertificate and
// CertificateUntrusted for a certificate that is one of the pins, given to
// QSslSocket::ignoreSslErrors() as an explicit list.
class TlsStreamSocket final : public TcpStreamSocket
{
    Q_OBJECT

public:
    // Starts connecting to endpoint (a tls:// endpoint) from the event loop.
    static std::unique_ptr<TlsStreamSocket> connectTo(const Endpoint &endpoint, const TlsOptions &options);
    // Takes over a QSslSocket a server accepted (setSocketDescriptor() done)
    // and starts the server's handshake from the event loop, configured by
    // options (serverConfiguration(); checkServerOptions() must have passed).
    // A handshake that takes longer than handshakeTimeout fails with
    // TimeoutError.
    static std::unique_ptr<TlsStreamSocket> accept(QSslSocket *accepted, const TlsOptions &options,
                                                   std::chrono::milliseconds handshakeTimeout);
    ~TlsStreamSocket() override;

    QSslSocket *sslSocket() const;

    // TLS 1.3 only; the CA certificates are options.trustedAuthorities, or the
    // system's when it is empty.
    static QSslConfiguration clientConfiguration(const TlsOptions &options);
    static QSslConfiguration serverConfiguration(const TlsOptions &options);
    // Empty when a server can use options; otherwise why not, for a person.
    static QString checkServerOptions(const TlsOptions &options);

    // A server that requires client certificates: the name must be one of
    // the subjectAltName entries (DNS or IP address) of the client's verified
    // certificate, compared exactly (no wildcards, no case folding, not the
    // common name). A refusal is logged under qonduit.transport.tls.
    QString checkClientName(const QString &name) const override;

    // Leaves the write to the flush QSslSocket queues on every write (it
    // runs before the event loop sleeps): QSslSocket::flush() also reads and
    // decrypts, and emits readyRead() from inside flush(), which breaks
    // StreamSocket's contract (only bytesWritten() may come from inside) and
    // re-entered the connection's writer mid-pass.
    void flush() override;

private:
    TlsStreamSocket(const Endpoint &endpoint, const TlsOptions &options);
    TlsStreamSocket(QSslSocket *accepted, const TlsOptions &options);
    void watchTls();
    void onTcpConnected() override;
    void describeError(QAbstractSocket::SocketError socketError, Error &error, QString &text) const override;
    bool closesItselfAfter(QAbstractSocket::SocketError socketError) const override;
    // None: a TLS close must send close_notify, and QSslSocket sends it only
    // when it closes as a whole.
    qintptr halfClosableDescriptor() const override;
    void startConnecting() override;
    void connectDevice() override;
    void onEncrypted();
    void onSslErrors(const QList<QSslError> &errors);
    void onHandshakeInterrupted(const QSslError &error);
    void onAlert(bool sent, QSsl::AlertLevel level, QSsl::AlertType type, const QString &description);
    // Why the peer's alert ended the connection, for this side.
    QString alertText() const;

    TlsOptions m_options;
    QString m_refusal;         // why a certificate was refused, once known
    bool m_alertFromPeer = false;
    bool m_alertSent = false;
    QSsl::AlertType m_alert = QSsl::AlertType::CloseNotify; // the first fatal alert
    QString m_alertDescription;
};

} // namespace Qonduit

#endif // QONDUIT_TLSSTREAMSOCKET_P_H
