#ifndef QONDUIT_NOISESYMMETRICSTATE_P_H
#define QONDUIT_NOISESYMMETRICSTATE_P_H

#include "security/noisecipherstate_p.h"

namespace Qonduit::Security {

// The SymmetricState of the Noise specification (revision 34, section 5.2)
// with SHA-256: the chaining key ck, the handshake hash h and the
// handshake's cipher. NoiseHandshake drives it; nothing else should.
//
// Every function returns false on failure and leaves error() and
// errorString() set; the state is then to be thrown away.
class NoiseSymmetricState
{
public:
    // InitializeSymmetric(protocol_name).
    bool initialize(QByteArrayView protocolName);

    bool mixKey(QByteArrayView inputKeyMaterial);
    bool mixHash(QByteArrayView data);
    bool mixKeyAndHash(QByteArrayView inputKeyMaterial);
    // Append to out; before the first mixKey() the payload travels in clear,
    // as the specification says.
    bool encryptAndHash(QByteArrayView plaintext, QByteArray &out);
    bool decryptAndHash(QByteArrayView ciphertext, QByteArray &out);
    // first encrypts from initiator to responder, second the other way.
    bool split(NoiseCipherState &first, NoiseCipherState &second);

    const Digest &handshakeHash() const { return m_hash; }

    NoiseError error() const { return m_error; }
    QString errorString() const { return m_errorString; }

private:
    bool cipherFailed();
    bool cryptoFailed(const QString &text);

    SecretKey m_chainingKey;
    Digest m_hash{};
    NoiseCipherState m_cipher;
    NoiseError m_error = NoiseError::None;
    QString m_errorString;
};

} // namespace Qonduit::Security

#endif // QONDUIT_NOISESYMMETRICSTATE_P_H
