#include "security/noisesymmetricstate_p.h"

namespace Qonduit::Security {

bool NoiseSymmetricState::initialize(QByteArrayView protocolName)
{
    m_hash.fill(0);
    if (protocolName.size() <= qsizetype(hashSize)) {
        std::copy(protocolName.begin(), protocolName.end(), m_hash.begin());
    } else {
        QString errorText;
        const std::optional<Digest> digest = sha256({protocolName}, &errorText);
        if (!digest)
            return cryptoFailed(errorText);
        m_hash = *digest;
    }
    m_chainingKey = *SecretKey::fromBytes(bytesOf(m_hash));
    m_cipher = NoiseCipherState();
    return true;
}

bool NoiseSymmetricState::mixKey(QByteArrayView inputKeyMaterial)
{
    SecretKey key;
    QString errorText;
    if (!noiseHkdf(m_chainingKey, inputKeyMaterial, m_chainingKey, key, &errorText))
        return cryptoFailed(errorText);
    m_cipher = NoiseCipherState(key);
    return true;
}

bool NoiseSymmetricState::mixHash(QByteArrayView data)
{
    QString errorText;
    const std::optional<Digest> digest = sha256({bytesOf(m_hash), data}, &errorText);
    if (!digest)
        return cryptoFailed(errorText);
    m_hash = *digest;
    return true;
}

bool NoiseSymmetricState::mixKeyAndHash(QByteArrayView inputKeyMaterial)
{
    SecretKey hashInput;
    SecretKey key;
    QString errorText;
    if (!noiseHkdf(m_chainingKey, inputKeyMaterial, m_chainingKey, hashInput, key, &errorText))
        return cryptoFailed(errorText);
    m_cipher = NoiseCipherState(key);
    return mixHash(hashInput.view());
}

bool NoiseSymmetricState::encryptAndHash(QByteArrayView plaintext, QByteArray &out)
{
    const qsizetype start = out.size();
    if (!m_cipher.hasKey())
        out.append(plaintext);
    else if (!m_cipher.encryptWithAd(bytesOf(m_hash), plaintext, out))
        return cipherFailed();
    return mixHash(QByteArrayView(out).sliced(start));
}

bool NoiseSymmetricState::decryptAndHash(QByteArrayView ciphertext, QByteArray &out)
{
    if (!m_cipher.hasKey())
        out.append(ciphertext);
    else if (!m_cipher.decryptWithAd(bytesOf(m_hash), ciphertext, out))
        return cipherFailed();
    return mixHash(ciphertext);
}

bool NoiseSymmetricState::split(NoiseCipherState &first, NoiseCipherState &second)
{
    SecretKey firstKey;
    SecretKey secondKey;
    QString errorText;
    if (!noiseHkdf(m_chainingKey, {}, firstKey, secondKey, &errorText))
        return cryptoFailed(errorText);
    first = NoiseCipherState(firstKey);
    second = NoiseCipherState(secondKey);
    return true;
}

bool NoiseSymmetricState::cipherFailed()
{
    m_error = m_cipher.error();
    m_errorString = m_cipher.errorString();
    return false;
}

bool NoiseSymmetricState::cryptoFailed(const QString &text)
{
    m_error = NoiseError::CryptoFailure;
    m_errorString = text;
    return false;
}

} // namespace Qonduit::Security
