#ifndef QONDUIT_NOISEHANDSHAKE_P_H
#define QONDUIT_NOISEHANDSHAKE_P_H

#include "security/noisesymmetricstate_p.h"

#include <optional>

namespace Qonduit::Security {

// The HandshakeState of the Noise specification (revision 34, section 5.3)
// for Noise_<pattern>_25519_ChaChaPoly_SHA256, with the patterns that need no
// static keys: NN, NNpsk0 (the shared-key channels, DESIGN.md "Security")
// and NNpsk2.
//
// Contract:
// - The initiator writes message 1, the responder reads it and writes
//   message 2; state() says which call is due. Each call takes or gives one
//   whole message of at most maxMessageSize bytes (the transport frames it).
// - The first failure of any kind is final (state() == Failed): a message
//   that fails its tag, one out of turn, one too short or too long. Nothing
//   from a failed message reaches the payload. A wrong PSK or a tampered
//   message fails with AuthenticationFailed on the first side that reads a
//   message whose payload is encrypted (NNpsk0: the responder reading
//   message 1; NN, NNpsk2: the initiator reading message 2).
// - Once Complete, takeTransportCiphers() hands out the two transport
//   ciphers, and handshakeHash() identifies the session (channel binding).
//   The ephemeral key and the PSK are wiped then.
class NoiseHandshake
{
public:
    enum class Pattern { NN, NNpsk0, NNpsk2 };
    enum class Role { Initiator, Responder };
    enum class State { WriteMessage, ReadMessage, Complete, Failed };

    static constexpr qsizetype maxMessageSize = 65535;

    struct Config
    {
        Pattern pattern = Pattern::NNpsk0;
        Role role = Role::Initiator;
        // Both sides must give the same bytes; they are authenticated by the
        // handshake without being sent.
        QByteArray prologue;
        // Required by the psk patterns, refused by NN.
        std::optional<SecretKey> psk;
        // For known-answer tests only: a fixed ephemeral key makes the
        // handshake reproducible, and destroys forward secrecy if used twice.
        std::optional<SecretKey> fixedEphemeralKey;
    };

    struct TransportCiphers
    {
        NoiseCipherState send;
        NoiseCipherState receive;
    };

    // "Noise_NNpsk0_25519_ChaChaPoly_SHA256" and so on.
    static QByteArray protocolName(Pattern pattern);

    // A configuration error leaves the handshake Failed at once.
    explicit NoiseHandshake(const Config &config);

    State state() const { return m_state; }

    // Appends the next message, carrying payload, to message.
    bool writeMessage(QByteArrayView payload, QByteArray &message);
    // Appends the payload that message carries to payload.
    bool readMessage(QByteArrayView message, QByteArray &payload);

    // Meaningful once Complete.
    const Digest &handshakeHash() const { return m_symmetric.handshakeHash(); }
    // Once Complete, the first call returns the ciphers; any other call
    // returns ciphers without keys, which refuse to work.
    TransportCiphers takeTransportCiphers();

    NoiseError error() const { return m_error; }
    QString errorString() const { return m_errorString; }

private:
    enum class Token : quint8 { E, Ee, Psk };
    // The tokens of one message, in order.
    struct MessagePattern
    {
        Token tokens[3];
        int count;
        const Token *begin() const { return tokens; }
        const Token *end() const { return tokens + count; }
    };
    // Every supported pattern: -> ... <- ...
    static constexpr int messageCount = 2;

    const MessagePattern &messagePattern() const;
    bool hasPsk() const;
    bool takeTurn(State turn);
    bool writeEphemeral(QByteArray &message);
    bool readEphemeral(QByteArrayView &message);
    bool mixEphemeral(const PublicKey &publicKey);
    bool mixShared(Token token);
    bool finishMessage();
    void forgetSecrets();
    bool fail(NoiseError error, const QString &text);
    bool symmetricFailed();

    Config m_config;
    NoiseSymmetricState m_symmetric;
    std::optional<KeyPair> m_ephemeral;
    PublicKey m_remoteEphemeral{};
    int m_message = 0;
    State m_state = State::WriteMessage;
    std::optional<TransportCiphers> m_ciphers;
    NoiseError m_error = NoiseError::None;
    QString m_errorString;
};

} // namespace Qonduit::Security

#endif // QONDUIT_NOISEHANDSHAKE_P_H
