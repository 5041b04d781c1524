#ifndef QONDUIT_NOISESTREAMLISTENER_P_H
#define QONDUIT_NOISESTREAMLISTENER_P_H

#include "transport/handshakingsockets_p.h"
#include "transport/streamlistener_p.h"

#include <memory>

namespace Qonduit {

// A shared-key server (ChannelOptions::sharedKey on tcp:// and local:): a
// decorator around the transport's own listener. listen() needs a usable
// key in currentOptions() (32 bytes), or it fails with AuthenticationError.
//
// Every connection the inner listener hands out runs the server's side of
// the shared-key handshake first (NoiseStreamSocket::accept()), with the key
// and handshakeTimeoutMs read when it arrives; only a socket whose handshake
// succeeded is handed out by incoming(). A client that fails (another key, a
// client without a key, tampering, too slow) is told so when it can be
// (NoiseStreamSocket's "refused" marker), dropped, counted in
// refusedCount(), reported by refused() and logged under
// qonduit.transport.sharedkey at info level. The listener keeps serving the
// others.
class NoiseStreamListener final : public StreamListener
{
    Q_OBJECT

public:
    explicit NoiseStreamListener(std::unique_ptr<StreamListener> inner, QObject *parent = nullptr);
    ~NoiseStreamListener() override;

    bool listen(const Endpoint &endpoint, Error &error, QString &errorText) override;
    bool isListening() const override;
    QUrl address() const override;
    // Also drops the connections still in their handshake.
    void close() override;

    int refusedCount() const { return m_handshaking.refusedCount(); }
    int handshakingCount() const { return m_handshaking.count(); }

Q_SIGNALS:
    // A client was dropped before it was handed out, and why.
    void refused(Qonduit::Error error, const QString &text);

private:
    void take(StreamSocket *accepted);

    std::unique_ptr<StreamListener> m_inner;
    HandshakingSockets m_handshaking;
};

} // namespace Qonduit

#endif // QONDUIT_NOISESTREAMLISTENER_P_H
