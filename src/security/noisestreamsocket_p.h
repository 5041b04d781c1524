#ifndef QONDUIT_NOISESTREAMSOCKET_P_H
#define QONDUIT_NOISESTREAMSOCKET_P_H

#include "security/noisehandshake_p.h"
#include "transport/streamsocket_p.h"

#include <QtCore/qbytearray.h>

#include <chrono>
#include <memory>
#include <optional>

namespace Qonduit {

class NoiseDevice;

// A shared-key stream (ChannelOptions::sharedKey on tcp:// and local:): a
// decorator around any StreamSocket that runs
// Noise_NNpsk0_25519_ChaChaPoly_SHA256 over it (docs/security.md,
// "Shared-key channels"); device() reads and writes the plaintext.
//
// On the wire, after the inner stream connected:
//   - the handshake: the client (initiator) sends message 1, the server
//     (responder) answers message 2; each as a 2-byte big-endian length and
//     the message. A server that cannot authenticate message 1 (another key,
//     tampering) answers with a length of 0, the unauthenticated "refused"
//     marker, and closes; the client reports that as AuthenticationError.
//   - then transport records: a 2-byte big-endian length (17 to 65535) and
//     that many bytes of ChaCha20-Poly1305 ciphertext and tag, under each
//     direction's CipherState (its counter is the nonce). Writes made in one
//     event-loop turn go out as one record (up to maxRecordPlaintext bytes
//     each); flush() seals at once.
//
// Connected means authenticated: connected() follows the handshake (the
// connect deadline covers the inner connect and the handshake together). A
// server-side socket (accept()) reports connected() too, which is what
// NoiseStreamListener waits for before it hands the socket out.
//
// The first record that fails its tag (tampered with, replayed, dropped,
// duplicated or reordered), a bad length, or a used-up nonce ends the
// connection: failed() (AuthenticationError, or ProtocolError for a length),
// then disconnected(); nothing that arrived after that point is ever
// readable. Plaintext authenticated before it stays readable.
class NoiseStreamSocket final : public StreamSocket
{
    Q_OBJECT

public:
    static constexpr qsizetype keySize = 32;
    static constexpr qsizetype maxRecordSize = 65535; // ciphertext and tag
    static constexpr qsizetype minRecordSize = Security::tagSize + 1;
    static constexpr qsizetype maxRecordPlaintext = maxRecordSize - Security::tagSize;
    // The longest handshake message accepted (ours are 48 bytes).
    static constexpr qsizetype maxHandshakeMessage = 1024;

    // The prologue both sides mix into the handshake.
    static QByteArray prologue();
    // Empty when key can be used as a shared key; otherwise why not.
    static QString checkKey(const QByteArray &key);

    // Runs the client's handshake once inner (connecting) connected. A key
    // checkKey() refuses fails from the event loop with AuthenticationError.
    static std::unique_ptr<NoiseStreamSocket> connectTo(std::unique_ptr<StreamSocket> inner, const QByteArray &key);
    // Runs the server's handshake on inner (connected, from a listener); a
    // handshake that takes longer than handshakeTimeout fails with
    // TimeoutError.
    static std::unique_ptr<NoiseStreamSocket> accept(std::unique_ptr<StreamSocket> inner, const QByteArray &key,
                                                     std::chrono::milliseconds handshakeTimeout);
    ~NoiseStreamSocket() override;

    QIODevice *device() const override;
    QUrl peerAddress() const override;
    void setReadBufferSize(qint64 bytes) override;
    // The inner socket's: the records wait where its payloads would.
    qint64 sendQueueBytes() const override;
    void flush() override;

    StreamSocket *innerSocket() const { return m_inner.get(); }

    // Tests only, once connected: sets the counters (nonces) of both
    // directions, as if that many records had passed, so that a test reaches
    // the end of the nonce space (NoiseCipherState::reservedNonce) in a few
    // records. Never repeat a nonce with real data.
    void setNoncesForTesting(quint64 send, quint64 receive)
    {
        m_send.setNonce(send);
        m_receive.setNonce(receive);
    }

private:
    friend class NoiseDevice;
    enum class Stage { Handshake, Transport, Broken };

    NoiseStreamSocket(std::unique_ptr<StreamSocket> inner, const QByteArray &key,
                      Security::NoiseHandshake::Role role);
    bool isInitiator() const { return m_role == Security::NoiseHandshake::Role::Initiator; }
    void startConnecting() override;
    void abortDevice() override;
    void closeDevice() override;
    bool isDeviceOpen() const override;

    void onInnerConnected();
    void onInnerFailed(Error error, const QString &text);
    void onInnerDisconnected();
    // Reads what inner has: the handshake's message, then records while the
    // plaintext buffer has room (or all of them with unlimited). Returns
    // whether plaintext was added.
    bool readInner(bool unlimited);
    // Takes one length-prefixed message off inner into out; false when it is
    // not all there yet. length: the announced length.
    bool takeMessage(qsizetype &length, QByteArray &out);
    void readHandshake();
    bool readRecord(bool &added);
    void startHandshake();
    // Writes this side's handshake message to inner; false after a failure.
    bool writeHandshake();
    void finishHandshake();
    void refuse(const QString &text);
    // Something went wrong: nothing more is read or written.
    void breakWith(Error error, const QString &text);
    void scheduleSeal();
    void sealPending();
    qint64 plaintextAvailable() const { return m_plain.size() - m_plainOffset; }
    qint64 readPlaintext(char *data, qint64 maxSize);
    qint64 writePlaintext(const char *data, qint64 size);
    qint64 bytesToWrite() const;
    QString peerText() const;

    std::unique_ptr<StreamSocket> m_inner; // child
    NoiseDevice *m_device = nullptr;       // child
    std::optional<Security::SecretKey> m_key;
    QString m_keyProblem;
    Security::NoiseHandshake::Role m_role;
    std::optional<Security::NoiseHandshake> m_handshake;
    Security::NoiseCipherState m_send;
    Security::NoiseCipherState m_receive;
    Stage m_stage = Stage::Handshake;
    bool m_innerClosed = false;
    bool m_sealScheduled = false;
    qint64 m_readLimit = 0;
    QByteArray m_plain;          // received plaintext
    qsizetype m_plainOffset = 0; // read so far from m_plain
    QByteArray m_pending;        // plaintext written, not sealed yet
    QByteArray m_record;         // scratch: one record
    QByteArray m_sealed;         // scratch: records for one inner write
};

} // namespace Qonduit

#endif // QONDUIT_NOISESTREAMSOCKET_P_H
