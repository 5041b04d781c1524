#include "security/noisestreamsocket_p.h"

#include "global/qonduitlogging_p.h"
#include "global/turnevents_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qendian.h>
#include <QtCore/qiodevice.h>

#include <cstring>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::NoiseStreamSocket", text);
}

void appendLength(QByteArray &out, qsizetype length)
{
    char bytes[2];
    qToBigEndian<quint16>(quint16(length), bytes);
    out.append(bytes, 2);
}

} // namespace

// The plaintext side of a NoiseStreamSocket: what device() returns.
class NoiseDevice final : public QIODevice
{
public:
    explicit NoiseDevice(NoiseStreamSocket *socket) : QIODevice(socket), m_socket(socket)
    {
        open(QIODevice::ReadWrite | QIODevice::Unbuffered);
    }

    bool isSequential() const override { return true; }
    qint64 bytesAvailable() const override { return m_socket->plaintextAvailable() + QIODevice::bytesAvailable(); }
    qint64 bytesToWrite() const override { return m_socket->bytesToWrite(); }

    using QIODevice::bytesWritten;
    using QIODevice::readyRead;

protected:
    qint64 readData(char *data, qint64 maxSize) override { return m_socket->readPlaintext(data, maxSize); }
    qint64 writeData(const char *data, qint64 size) override { return m_socket->writePlaintext(data, size); }

private:
    NoiseStreamSocket *m_socket;
};

QByteArray NoiseStreamSocket::prologue()
{
    return QByteArrayLiteral("Qonduit shared-key 1");
}

QString NoiseStreamSocket::checkKey(const QByteArray &key)
{
    if (key.size() == keySize)
        return QString();
    return tr("the shared key (ChannelOptions::sharedKey) has %n bytes; it must have exactly 32 "
              "(random bytes, the same on both sides)",
              nullptr, int(key.size()));
}

std::unique_ptr<NoiseStreamSocket> NoiseStreamSocket::connectTo(std::unique_ptr<StreamSocket> inner,
                                                                 const QByteArray &key)
{
    std::unique_ptr<NoiseStreamSocket> socket(
            new NoiseStreamSocket(std::move(inner), key, Security::NoiseHandshake::Role::Initiator));
    socket->setConnectTimeout(socket->m_inner->connectTimeout());
    socket->connectLater();
    return socket;
}

std::unique_ptr<NoiseStreamSocket> NoiseStreamSocket::accept(std::unique_ptr<StreamSocket> inner,
                                                             const QByteArray &key,
                                                             std::chrono::milliseconds handshakeTimeout)
{
    std::unique_ptr<NoiseStreamSocket> socket(
            new NoiseStreamSocket(std::move(inner), key, Security::NoiseHandshake::Role::Responder));
    socket->setConnectTimeout(handshakeTimeout);
    socket->connectLater();
    return socket;
}

NoiseStreamSocket::NoiseStreamSocket(std::unique_ptr<StreamSocket> inner, const QByteArray &key,
                                     Security::NoiseHandshake::Role role)
    : StreamSocket(nullptr),
      m_inner(std::move(inner)),
      m_key(Security::SecretKey::fromBytes(key)),
      m_keyProblem(checkKey(key)),
      m_role(role)
{
    m_inner->setParent(this);
    m_device = new NoiseDevice(this);
    QIODevice *device = m_inner->device();
    connect(m_inner.get(), &StreamSocket::connected, this, &NoiseStreamSocket::onInnerConnected);
    connect(m_inner.get(), &StreamSocket::failed, this, &NoiseStreamSocket::onInnerFailed);
    connect(m_inner.get(), &StreamSocket::disconnected, this, &NoiseStreamSocket::onInnerDisconnected);
    connect(device, &QIODevice::readyRead, this, [this] {
        if (readInner(false) && !isSilenced())
            Q_EMIT m_device->readyRead();
    });
    connect(device, &QIODevice::bytesWritten, this, [this](qint64 bytes) {
        if (m_stage == Stage::Transport && !isSilenced())
            Q_EMIT m_device->bytesWritten(bytes);
    });
}

NoiseStreamSocket::~NoiseStreamSocket()
{
    silence();
    m_inner->abort();
}

void NoiseStreamSocket::startConnecting()
{
    if (!m_keyProblem.isEmpty()) {
        m_inner->abort();
        m_innerClosed = true;
        reportFailure(Error::AuthenticationError,
                      tr("Cannot use %1 with a shared key: %2.").arg(peerText(), m_keyProblem));
        reportClosed();
        return;
    }
    // A server's client may have sent message 1 already.
    if (!isInitiator() && readInner(false) && !isSilenced())
        Q_EMIT m_device->readyRead();
}

QString NoiseStreamSocket::peerText() const
{
    return peerAddress().toDisplayString();
}

void NoiseStreamSocket::onInnerConnected()
{
    if (phase() != Phase::Connecting || !isInitiator() || !m_keyProblem.isEmpty())
        return;
    startHandshake();
    writeHandshake();
}

void NoiseStreamSocket::startHandshake()
{
    Security::NoiseHandshake::Config config;
    config.pattern = Security::NoiseHandshake::Pattern::NNpsk0;
    config.role = m_role;
    config.prologue = prologue();
    config.psk = m_key;
    m_handshake.emplace(config);
    m_key.reset();
}

bool NoiseStreamSocket::writeHandshake()
{
    QByteArray message;
    if (!m_handshake->writeMessage({}, message)) {
        breakWith(Error::AuthenticationError,
                  tr("The shared-key handshake with %1 failed on this side: %2")
                          .arg(peerText(), m_handshake->errorString()));
        return false;
    }
    QByteArray framed;
    appendLength(framed, message.size());
    framed.append(message);
    m_inner->device()->write(framed);
    m_inner->flush();
    return true;
}

bool NoiseStreamSocket::takeMessage(qsizetype &length, QByteArray &out)
{
    QIODevice *device = m_inner->device();
    if (device->bytesAvailable() < 2)
        return false;
    char prefix[2];
    if (device->peek(prefix, 2) != 2)
        return false;
    length = qFromBigEndian<quint16>(prefix);
    if (m_stage == Stage::Handshake ? length > maxHandshakeMessage
                                    : (length < minRecordSize || length > maxRecordSize)) {
        return true; // the caller refuses the length
    }
    if (device->bytesAvailable() < 2 + length)
        return false;
    device->skip(2);
    out.resize(length);
    return device->read(out.data(), length) == length;
}

bool NoiseStreamSocket::readInner(bool unlimited)
{
    // Once our own close started nobody reads what we would decrypt, and the
    // inner socket drops its input while it lingers: a record cut in half by
    // that drop would read as tampering.
    if (isSilenced() || phase() == Phase::Closing || phase() == Phase::Closed)
        return false;
    if (m_stage == Stage::Handshake && phase() == Phase::Connecting)
        readHandshake();
    bool added = false;
    while (m_stage == Stage::Transport && (unlimited || m_readLimit <= 0 || plaintextAvailable() < m_readLimit)) {
        if (!readRecord(added))
            break;
    }
    return added;
}

void NoiseStreamSocket::readHandshake()
{
    if (!m_handshake) {
        if (isInitiator())
            return; // message 1 is not out yet: nothing may arrive before it
        startHandshake();
    }
    qsizetype length = 0;
    if (!takeMessage(length, m_record))
        return;
    if (isInitiator() && length == 0) {
        breakWith(Error::AuthenticationError,
                  tr("%1: the server refused the shared key (the keys differ): both sides need the same "
                     "ChannelOptions::sharedKey.")
                          .arg(peerText()));
        return;
    }
    if (length == 0 || length > maxHandshakeMessage) {
        const QString text = isInitiator()
                ? tr("%1 does not speak the shared-key handshake (it announced a message of %2 bytes): is it "
                     "a server with ChannelOptions::sharedKey?")
                          .arg(peerText())
                          .arg(length)
                : tr("Refused the client %1: it does not speak the shared-key handshake (it announced a message "
                     "of %2 bytes): is it a client without ChannelOptions::sharedKey?")
                          .arg(peerText())
                          .arg(length);
        isInitiator() ? breakWith(Error::ProtocolError, text) : refuse(text);
        return;
    }
    QByteArray payload;
    if (!m_handshake->readMessage(m_record, payload)) {
        const QString text = isInitiator()
                ? tr("The shared-key handshake with %1 failed: its answer did not authenticate (%2); the "
                     "connection was tampered with, or the keys differ.")
                          .arg(peerText(), m_handshake->errorString())
                : tr("Refused the client %1: its shared key differs from this server's, or the handshake was "
                     "tampered with (%2).")
                          .arg(peerText(), m_handshake->errorString());
        isInitiator() ? breakWith(Error::AuthenticationError, text) : refuse(text);
        return;
    }
    if (!isInitiator() && !writeHandshake())
        return;
    finishHandshake();
}

void NoiseStreamSocket::finishHandshake()
{
    Q_ASSERT(m_handshake->state() == Security::NoiseHandshake::State::Complete);
    auto ciphers = m_handshake->takeTransportCiphers();
    m_send = ciphers.send;
    m_receive = ciphers.receive;
    m_handshake.reset();
    m_stage = Stage::Transport;
    qCDebug(lcQonduitTransportSharedKey) << "shared-key handshake done with" << peerText();
    // Written during the handshake: out now, under the new keys.
    if (!m_pending.isEmpty())
        scheduleSeal();
    reportConnected();
}

void NoiseStreamSocket::refuse(const QString &text)
{
    // The one unauthenticated message: a length of 0 tells the client that
    // the server refused, so that it can say the keys differ.
    QByteArray marker;
    appendLength(marker, 0);
    m_inner->device()->write(marker);
    m_inner->flush();
    breakWith(Error::AuthenticationError, text);
}

bool NoiseStreamSocket::readRecord(bool &added)
{
    qsizetype length = 0;
    if (!takeMessage(length, m_record))
        return false;
    if (length < minRecordSize || length > maxRecordSize) {
        breakWith(Error::ProtocolError,
                  tr("%1 sent a shared-key record of %2 bytes (allowed: %3 to %4): the connection was tampered "
                     "with.")
                          .arg(peerText())
                          .arg(length)
                          .arg(minRecordSize)
                          .arg(maxRecordSize));
        return false;
    }
    if (m_plainOffset > 0 && m_plainOffset == m_plain.size()) {
        m_plain.resize(0);
        m_plainOffset = 0;
    } else if (m_plainOffset >= maxRecordSize) {
        m_plain.remove(0, m_plainOffset);
        m_plainOffset = 0;
    }
    if (!m_receive.decryptWithAd({}, m_record, m_plain)) {
        const bool exhausted = m_receive.error() == Security::NoiseError::NonceExhausted;
        breakWith(exhausted ? Error::ProtocolError : Error::AuthenticationError,
                  exhausted ? tr("The connection with %1 has used up its nonces and was closed; connect again.")
                                      .arg(peerText())
                            : tr("A record from %1 failed authentication: the connection was tampered with "
                                 "(changed, replayed, reordered or cut) and was closed.")
                                      .arg(peerText()));
        return false;
    }
    added = true;
    return true;
}

void NoiseStreamSocket::breakWith(Error error, const QString &text)
{
    if (m_stage == Stage::Broken)
        return;
    m_stage = Stage::Broken;
    m_handshake.reset();
    m_pending.clear();
    qCDebug(lcQonduitTransportSharedKey) << peerText() << error << text;
    failWith(error, text);
}

void NoiseStreamSocket::onInnerFailed(Error error, const QString &text)
{
    // What arrived before the failure first (a refusal, the last records).
    if (readInner(true) && !isSilenced())
        Q_EMIT m_device->readyRead();
    if (m_stage == Stage::Broken || isSilenced())
        return;
    if (m_stage == Stage::Handshake && error == Error::RemoteClosedError) {
        breakWith(Error::RemoteClosedError,
                  isInitiator() ? tr("%1 closed the connection during the shared-key handshake: is it a server "
                                     "with ChannelOptions::sharedKey?")
                                          .arg(peerText())
                                : tr("The client %1 closed the connection during the shared-key handshake.")
                                          .arg(peerText()));
        return;
    }
    if (m_stage == Stage::Handshake) {
        breakWith(error, text);
        return;
    }
    reportFailure(error, text);
}

void NoiseStreamSocket::onInnerDisconnected()
{
    const bool added = readInner(true);
    m_innerClosed = true;
    if (added && !isSilenced())
        Q_EMIT m_device->readyRead();
    if (phase() == Phase::Connecting && m_stage != Stage::Broken) {
        breakWith(Error::RemoteClosedError,
                  tr("%1 closed the connection during the shared-key handshake.").arg(peerText()));
        return;
    }
    reportClosed();
}

void NoiseStreamSocket::abortDevice()
{
    m_inner->abort();
    m_innerClosed = true;
}

bool NoiseStreamSocket::isDeviceOpen() const
{
    return !m_innerClosed;
}

qint64 NoiseStreamSocket::readPlaintext(char *data, qint64 maxSize)
{
    // Records the read-buffer bound held back come in as the reader drains.
    if (plaintextAvailable() == 0 && m_stage == Stage::Transport)
        readInner(false);
    const qint64 n = std::min(maxSize, plaintextAvailable());
    if (n > 0) {
        std::memcpy(data, m_plain.constData() + m_plainOffset, size_t(n));
        m_plainOffset += n;
    }
    return n;
}

qint64 NoiseStreamSocket::writePlaintext(const char *data, qint64 size)
{
    if (m_stage == Stage::Broken || phase() == Phase::Closed)
        return size; // dropped: the connection is over
    m_pending.append(data, size);
    if (m_stage != Stage::Transport)
        return size;
    if (m_pending.size() >= maxRecordPlaintext)
        sealPending();
    else
        scheduleSeal();
    return size;
}

qint64 NoiseStreamSocket::bytesToWrite() const
{
    return m_pending.size() + m_inner->device()->bytesToWrite();
}

void NoiseStreamSocket::scheduleSeal()
{
    if (m_sealScheduled)
        return;
    m_sealScheduled = true;
    TurnEvents::invoke(this, [this] {
        m_sealScheduled = false;
        sealPending();
    });
}

void NoiseStreamSocket::sealPending()
{
    if (m_stage != Stage::Transport || m_pending.isEmpty() || isSilenced())
        return;
    m_sealed.resize(0);
    for (qsizetype at = 0; at < m_pending.size(); at += maxRecordPlaintext) {
        const QByteArrayView part = QByteArrayView(m_pending).sliced(at).first(
                std::min(maxRecordPlaintext, m_pending.size() - at));
        const qsizetype header = m_sealed.size();
        appendLength(m_sealed, part.size() + Security::tagSize);
        if (!m_send.encryptWithAd({}, part, m_sealed)) {
            m_sealed.resize(header);
            const bool exhausted = m_send.error() == Security::NoiseError::NonceExhausted;
            if (!m_sealed.isEmpty())
                m_inner->device()->write(m_sealed);
            breakWith(exhausted ? Error::ProtocolError : Error::NetworkError,
                      exhausted ? tr("The connection with %1 has used up its nonces and was closed; connect again.")
                                          .arg(peerText())
                                : tr("Encrypting for %1 failed: %2").arg(peerText(), m_send.errorString()));
            return;
        }
    }
    m_pending.resize(0);
    m_inner->device()->write(m_sealed);
}

QIODevice *NoiseStreamSocket::device() const
{
    return m_device;
}

QUrl NoiseStreamSocket::peerAddress() const
{
    return m_inner->peerAddress();
}

void NoiseStreamSocket::closeDevice()
{
    sealPending();
    m_inner->disconnectFromPeer();
}

void NoiseStreamSocket::setReadBufferSize(qint64 bytes)
{
    m_readLimit = bytes;
    // The inner buffer must hold at least a whole record.
    m_inner->setReadBufferSize(bytes <= 0 ? 0 : std::max<qint64>(bytes, 4 * (maxRecordSize + 2)));
}

qint64 NoiseStreamSocket::sendQueueBytes() const
{
    return m_inner->sendQueueBytes();
}

void NoiseStreamSocket::flush()
{
    sealPending();
    m_inner->flush();
}

} // namespace Qonduit
