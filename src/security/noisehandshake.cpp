#include "security/noisehandshake_p.h"

#include <QtCore/qcoreapplication.h>

#include <utility>

namespace Qonduit::Security {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::Security", text);
}

} // namespace

QByteArray NoiseHandshake::protocolName(Pattern pattern)
{
    const char *name = "NN";
    switch (pattern) {
    case Pattern::NN: name = "NN"; break;
    case Pattern::NNpsk0: name = "NNpsk0"; break;
    case Pattern::NNpsk2: name = "NNpsk2"; break;
    }
    return QByteArray("Noise_") + name + "_25519_ChaChaPoly_SHA256";
}

NoiseHandshake::NoiseHandshake(const Config &config)
    : m_config(config),
      m_state(config.role == Role::Initiator ? State::WriteMessage : State::ReadMessage)
{
    if (hasPsk() != config.psk.has_value()) {
        fail(NoiseError::InvalidConfiguration,
             hasPsk() ? tr("This handshake pattern needs a pre-shared key.")
                      : tr("This handshake pattern takes no pre-shared key."));
        return;
    }
    if (!m_symmetric.initialize(protocolName(config.pattern)) || !m_symmetric.mixHash(config.prologue))
        symmetricFailed();
}

bool NoiseHandshake::writeMessage(QByteArrayView payload, QByteArray &message)
{
    if (!takeTurn(State::WriteMessage))
        return false;
    // Built apart and appended whole, so that a failure leaves message as it was.
    QByteArray body;
    for (Token token : messagePattern()) {
        if (!(token == Token::E ? writeEphemeral(body) : mixShared(token)))
            return false;
    }
    if (!m_symmetric.encryptAndHash(payload, body))
        return symmetricFailed();
    if (body.size() > maxMessageSize)
        return fail(NoiseError::ProtocolError, tr("The handshake payload is too large."));
    message.append(body);
    return finishMessage();
}

bool NoiseHandshake::readMessage(QByteArrayView message, QByteArray &payload)
{
    if (!takeTurn(State::ReadMessage))
        return false;
    if (message.size() > maxMessageSize)
        return fail(NoiseError::ProtocolError, tr("The handshake message is too large."));
    for (Token token : messagePattern()) {
        if (!(token == Token::E ? readEphemeral(message) : mixShared(token)))
            return false;
    }
    QByteArray body;
    if (!m_symmetric.decryptAndHash(message, body))
        return symmetricFailed();
    payload.append(body);
    return finishMessage();
}

NoiseHandshake::TransportCiphers NoiseHandshake::takeTransportCiphers()
{
    return std::exchange(m_ciphers, std::nullopt).value_or(TransportCiphers());
}

const NoiseHandshake::MessagePattern &NoiseHandshake::messagePattern() const
{
    // Section 7.5 for NN; section 9.3 for the psk modifiers.
    static constexpr MessagePattern nn[messageCount] = {{{Token::E}, 1}, {{Token::E, Token::Ee}, 2}};
    static constexpr MessagePattern nnPsk0[messageCount] = {{{Token::Psk, Token::E}, 2},
                                                            {{Token::E, Token::Ee}, 2}};
    static constexpr MessagePattern nnPsk2[messageCount] = {{{Token::E}, 1},
                                                            {{Token::E, Token::Ee, Token::Psk}, 3}};
    switch (m_config.pattern) {
    case Pattern::NN: return nn[m_message];
    case Pattern::NNpsk0: return nnPsk0[m_message];
    case Pattern::NNpsk2: return nnPsk2[m_message];
    }
    return nn[m_message];
}

bool NoiseHandshake::hasPsk() const
{
    return m_config.pattern != Pattern::NN;
}

bool NoiseHandshake::takeTurn(State turn)
{
    if (m_state == turn)
        return true;
    if (m_state == State::Failed)
        return false;
    return fail(NoiseError::ProtocolError,
                turn == State::WriteMessage ? tr("It is not this side's turn to send a handshake message.")
                                            : tr("A handshake message arrived out of turn."));
}

bool NoiseHandshake::writeEphemeral(QByteArray &message)
{
    QString errorText;
    m_ephemeral = m_config.fixedEphemeralKey ? keyPairFromPrivateKey(*m_config.fixedEphemeralKey, &errorText)
                                             : generateKeyPair(&errorText);
    if (!m_ephemeral)
        return fail(NoiseError::CryptoFailure, errorText);
    message.append(bytesOf(m_ephemeral->publicKey));
    return mixEphemeral(m_ephemeral->publicKey);
}

bool NoiseHandshake::readEphemeral(QByteArrayView &message)
{
    if (message.size() < qsizetype(dhSize))
        return fail(NoiseError::ProtocolError, tr("The handshake message is too short."));
    std::copy_n(message.begin(), dhSize, m_remoteEphemeral.begin());
    message = message.sliced(dhSize);
    return mixEphemeral(m_remoteEphemeral);
}

bool NoiseHandshake::mixEphemeral(const PublicKey &publicKey)
{
    // With a PSK the ephemeral keys feed the cipher key too (section 9.2):
    // the PSK never encrypts anything under a key the peer did not randomize.
    if (!m_symmetric.mixHash(bytesOf(publicKey)) || (hasPsk() && !m_symmetric.mixKey(bytesOf(publicKey))))
        return symmetricFailed();
    return true;
}

bool NoiseHandshake::mixShared(Token token)
{
    if (token == Token::Psk)
        return m_symmetric.mixKeyAndHash(m_config.psk->view()) || symmetricFailed();
    Q_ASSERT(token == Token::Ee && m_ephemeral);
    QString errorText;
    const std::optional<SecretKey> shared = x25519(m_ephemeral->privateKey, m_remoteEphemeral, &errorText);
    if (!shared)
        return fail(NoiseError::AuthenticationFailed, errorText);
    return m_symmetric.mixKey(shared->view()) || symmetricFailed();
}

bool NoiseHandshake::finishMessage()
{
    ++m_message;
    if (m_message < messageCount) {
        m_state = m_state == State::WriteMessage ? State::ReadMessage : State::WriteMessage;
        return true;
    }
    TransportCiphers ciphers;
    const bool initiator = m_config.role == Role::Initiator;
    if (!m_symmetric.split(initiator ? ciphers.send : ciphers.receive,
                           initiator ? ciphers.receive : ciphers.send)) {
        return symmetricFailed();
    }
    m_ciphers = ciphers;
    m_state = State::Complete;
    forgetSecrets();
    return true;
}

void NoiseHandshake::forgetSecrets()
{
    m_ephemeral.reset();
    m_config.psk.reset();
    m_config.fixedEphemeralKey.reset();
}

bool NoiseHandshake::fail(NoiseError error, const QString &text)
{
    if (m_state != State::Failed) {
        m_error = error;
        m_errorString = text;
        m_state = State::Failed;
    }
    forgetSecrets();
    return false;
}

bool NoiseHandshake::symmetricFailed()
{
    return fail(m_symmetric.error(), m_symmetric.errorString());
}

} // namespace Qonduit::Security
