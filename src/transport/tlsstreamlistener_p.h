#ifndef QONDUIT_TLSSTREAMLISTENER_P_H
#define QONDUIT_TLSSTREAMLISTENER_P_H

#include "transport/handshakingsockets_p.h"
#include "transport/tcpstreamlistener_p.h"

namespace Qonduit {

class TlsStreamSocket;

// Listens on tls://ADDRESS:PORT: a tcp:// listener (same addresses, port 0,
// no proxy, SO_REUSEADDR) whose sockets are QSslSockets. listen() also needs
// usable options (currentOptions().tls: credentials; trusted authorities when
// client certificates are required), or it fails with CertificateError.
//
// Every accepted connection runs the TLS 1.3 handshake first, with the
// options read when it arrives, within their handshakeTimeoutMs; only a
// socket whose handshake succeeded (so whose client certificate passed, when
// one is required) is handed out by incoming(). A client that fails (no TLS,
// a refused or missing certificate, too slow) is dropped: counted in
// refusedCount() and logged under qonduit.transport.tls at info level, with
// the reason. The listener keeps serving the others.
class TlsStreamListener final : public TcpStreamListener
{
    Q_OBJECT

public:
    explicit TlsStreamListener(QObject *parent = nullptr);
    ~TlsStreamListener() override;

    bool listen(const Endpoint &endpoint, Error &error, QString &errorText) override;
    // Also drops the connections still in their handshake.
    void close() override;

    // Clients dropped before they were handed out, since construction.
    int refusedCount() const { return m_refused + m_handshaking.refusedCount(); }
    // Connections in their TLS handshake now.
    int handshakingCount() const { return m_handshaking.count(); }

private:
    void takeAccepted(QTcpSocket *accepted) override;

    HandshakingSockets m_handshaking;
    int m_refused = 0; // refused before their handshake began
};

} // namespace Qonduit

#endif // QONDUIT_TLSSTREAMLISTENER_P_H
