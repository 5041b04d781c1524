#include "security/noisecipherstate_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qendian.h>

namespace Qonduit::Security {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::Security", text);
}

Nonce encodeNonce(quint64 counter)
{
    Nonce nonce{};
    qToLittleEndian<quint64>(counter, nonce.data() + 4);
    return nonce;
}

} // namespace

bool NoiseCipherState::encryptWithAd(QByteArrayView associatedData, QByteArrayView plaintext,
                                     QByteArray &out)
{
    return run(aeadSeal, NoiseError::CryptoFailure, associatedData, plaintext, out);
}

bool NoiseCipherState::decryptWithAd(QByteArrayView associatedData, QByteArrayView ciphertext,
                                     QByteArray &out)
{
    return run(aeadOpen, NoiseError::AuthenticationFailed, associatedData, ciphertext, out);
}

bool NoiseCipherState::run(Aead aead, NoiseError aeadError, QByteArrayView associatedData,
                           QByteArrayView input, QByteArray &out)
{
    if (m_error != NoiseError::None)
        return false;
    if (!m_key)
        return fail(NoiseError::InvalidConfiguration, tr("The cipher has no key."));
    if (m_nonce == reservedNonce)
        return fail(NoiseError::NonceExhausted, tr("The connection has used up its nonces."));
    QString errorText;
    if (!aead(*m_key, encodeNonce(m_nonce), associatedData, input, out, &errorText))
        return fail(aeadError, errorText);
    ++m_nonce;
    return true;
}

bool NoiseCipherState::fail(NoiseError error, const QString &text)
{
    m_error = error;
    m_errorString = text;
    return false;
}

} // namespace Qonduit::Security
