#ifndef QONDUIT_NOISECIPHERSTATE_P_H
#define QONDUIT_NOISECIPHERSTATE_P_H

#include "security/crypto_p.h"

#include <optional>

namespace Qonduit::Security {

enum class NoiseError {
    None,
    // The handshake was set up wrongly (a PSK pattern without a PSK, a
    // cipher state without a key): a bug on this side, not the peer's doing.
    InvalidConfiguration,
    // A message out of turn, or of an impossible size.
    ProtocolError,
    // A message failed its tag: tampered with, replayed, reordered, or sent
    // with another key (a wrong PSK shows up as this).
    AuthenticationFailed,
    // The 64-bit nonce is used up; the connection must close.
    NonceExhausted,
    // OpenSSL failed (out of memory, algorithm missing).
    CryptoFailure,
};

// The CipherState of the Noise specification (revision 34, section 5.1): a
// ChaCha20-Poly1305 key and a 64-bit counter, sent as the AEAD nonce in the
// form 4 zero bytes + 8 bytes little-endian. One object per direction of a
// connection after the handshake; not thread-safe.
//
// Contract:
// - Each successful call uses the current nonce and then increments it, so
//   records must be decrypted in the order they were encrypted; a replayed,
//   dropped or reordered record fails authentication.
// - Noise reserves nonce 2^64-1: when the counter reaches it every call fails
//   with NonceExhausted, so a connection closes before a nonce could repeat
//   (there is no rekey).
// - The first failure is final: every later call fails with the same error,
//   because a stream that met one forged record is not to be trusted again.
// - Unlike the specification's CipherState, one without a key refuses to work
//   instead of passing plaintext through: a transport must never fall back to
//   clear text. NoiseSymmetricState handles the keyless handshake case itself.
class NoiseCipherState
{
public:
    static constexpr quint64 reservedNonce = ~quint64(0);

    NoiseCipherState() = default;
    explicit NoiseCipherState(const SecretKey &key) : m_key(key) {}

    bool hasKey() const { return m_key.has_value(); }
    quint64 nonce() const { return m_nonce; }
    // The specification's SetNonce(). Never set a nonce that was already used
    // with this key: that repeats a keystream.
    void setNonce(quint64 nonce) { m_nonce = nonce; }

    // Appends the ciphertext and tag of plaintext to out.
    bool encryptWithAd(QByteArrayView associatedData, QByteArrayView plaintext, QByteArray &out);
    // Appends the plaintext to out only if the tag is right (see aeadOpen()).
    bool decryptWithAd(QByteArrayView associatedData, QByteArrayView ciphertext, QByteArray &out);

    NoiseError error() const { return m_error; }
    QString errorString() const { return m_errorString; }

private:
    using Aead = bool (*)(const SecretKey &, const Nonce &, QByteArrayView, QByteArrayView,
                          QByteArray &, QString *);

    bool run(Aead aead, NoiseError aeadError, QByteArrayView associatedData, QByteArrayView input,
             QByteArray &out);
    bool fail(NoiseError error, const QString &text);

    std::optional<SecretKey> m_key;
    quint64 m_nonce = 0;
    NoiseError m_error = NoiseError::None;
    QString m_errorString;
};

} // namespace Qonduit::Security

#endif // QONDUIT_NOISECIPHERSTATE_P_H
