#include "transport/streamsocket_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qiodevice.h>

#include <sys/socket.h>

namespace Qonduit {

namespace {

QString durationText(std::chrono::milliseconds timeout)
{
    if (timeout.count() % 1000 == 0)
        return QCoreApplication::translate("Qonduit::StreamSocket", "%n s", nullptr, int(timeout.count() / 1000));
    return QCoreApplication::translate("Qonduit::StreamSocket", "%n ms", nullptr, int(timeout.count()));
}

} // namespace

StreamSocket::StreamSocket(QObject *parent)
    : QObject(parent)
{
    m_connectTimer.setSingleShot(true);
    connect(&m_connectTimer, &QTimer::timeout, this, &StreamSocket::onConnectDeadline);
    m_lingerTimer.setSingleShot(true);
    connect(&m_lingerTimer, &QTimer::timeout, this, &StreamSocket::onLingerDeadline);
}

StreamSocket::~StreamSocket() = default;

void StreamSocket::setConnectTimeout(std::chrono::milliseconds timeout)
{
    m_connectTimeout = timeout;
    if (m_phase == Phase::Connecting && !m_silenced)
        startConnectTimer();
}

void StreamSocket::startConnectTimer()
{
    if (m_connectTimeout <= std::chrono::milliseconds(0)) {
        m_connectTimer.stop();
        return;
    }
    const auto left = m_connectTimeout - std::chrono::milliseconds(m_connectClock.elapsed());
    m_connectTimer.start(std::max(left, std::chrono::milliseconds(0)));
}

std::chrono::milliseconds StreamSocket::connectTimeout() const
{
    return m_connectTimeout;
}

qint64 StreamSocket::sendQueueBytes() const
{
    return defaultSendQueueBytes;
}

QString StreamSocket::checkClientName(const QString &name) const
{
    return QCoreApplication::translate("Qonduit::StreamSocket",
                                       "it claims the name \"%1\", and only a tls:// server that requires client "
                                       "certificates can check a name")
            .arg(name);
}

void StreamSocket::connectLater()
{
    m_phase = Phase::Connecting;
    m_connectClock.start();
    startConnectTimer();
    // QLocalSocket connects, and fails, inside connectToServer(): starting from
    // the event loop keeps every signal out of Transports::connectTo().
    QMetaObject::invokeMethod(
        this,
        [this] {
            if (m_phase == Phase::Connecting && !m_silenced)
                startConnecting();
        },
        Qt::QueuedConnection);
}

void StreamSocket::reportConnected()
{
    if (m_phase != Phase::Connecting || m_silenced)
        return;
    m_connectTimer.stop();
    m_phase = Phase::Connected;
    Q_EMIT connected();
}

void StreamSocket::reportFailure(Error error, const QString &text)
{
    if (m_failureReported || m_phase == Phase::Closed || m_silenced)
        return;
    if (m_phase == Phase::Closing && error == Error::RemoteClosedError)
        return; // the peer's answer to our close
    m_failureReported = true;
    QMetaObject::invokeMethod(
        this,
        [this, error, text] {
            if (!m_silenced)
                Q_EMIT failed(error, text);
        },
        Qt::QueuedConnection);
}

void StreamSocket::reportClosed()
{
    if (m_phase == Phase::Closed || m_silenced)
        return;
    m_phase = Phase::Closed;
    m_connectTimer.stop();
    m_lingerTimer.stop();
    QMetaObject::invokeMethod(
        this,
        [this] {
            if (!m_silenced)
                Q_EMIT disconnected();
        },
        Qt::QueuedConnection);
}

void StreamSocket::failWith(Error error, const QString &text)
{
    if (m_phase == Phase::Connecting) {
        abortDevice();
        reportFailure(error, text);
        reportClosed();
        return;
    }
    reportFailure(error, text);
    closeAfterError();
}

void StreamSocket::closeAfterError()
{
    // Qt closes the device itself after most errors, sometimes only after
    // the error signal returns; whatever is still open one turn later is
    // closed here.
    QMetaObject::invokeMethod(
        this,
        [this] {
            if (m_phase == Phase::Closed || m_silenced)
                return;
            if (isDeviceOpen())
                abortDevice();
            reportClosed();
        },
        Qt::QueuedConnection);
}

void StreamSocket::disconnectFromPeer()
{
    switch (m_phase) {
    case Phase::Connecting:
        abortDevice();
        reportClosed();
        break;
    case Phase::Connected:
        m_phase = Phase::Closing;
        if (halfClosableDescriptor() < 0)
            closeDevice();
        else
            startLingering();
        break;
    case Phase::Closing:
    case Phase::Closed:
        break;
    }
}

qintptr StreamSocket::halfClosableDescriptor() const
{
    return -1;
}

void StreamSocket::startLingering()
{
    // A full read buffer has turned Qt's reading off: reading it turns it
    // back on, so that a peer stuck writing to us gets to read our bytes.
    dropInputWhileClosing();
    connect(device(), &QIODevice::bytesWritten, this, &StreamSocket::shutSendingSideWhenWritten);
    connect(device(), &QIODevice::readyRead, this, &StreamSocket::dropInputWhileClosing);
    flush();
    shutSendingSideWhenWritten();
}

void StreamSocket::shutSendingSideWhenWritten()
{
    if (m_phase != Phase::Closing || m_sendingShut || device()->bytesToWrite() > 0)
        return;
    m_sendingShut = true;
    if (::shutdown(int(halfClosableDescriptor()), SHUT_WR) != 0) {
        closeDevice();
        return;
    }
    m_lingerTimer.start(lingerTimeout);
}

void StreamSocket::dropInputWhileClosing()
{
    // Reading, not skipping: a read is what lets a device with a capped
    // buffer take more from the kernel.
    if (m_phase == Phase::Closing)
        device()->readAll();
}

void StreamSocket::onLingerDeadline()
{
    if (m_phase != Phase::Closing || m_silenced)
        return;
    abortDevice();
    reportClosed();
}

void StreamSocket::abort()
{
    silence();
    abortDevice();
}

void StreamSocket::silence()
{
    m_silenced = true;
    m_connectTimer.stop();
    m_lingerTimer.stop();
    m_phase = Phase::Closed;
}

void StreamSocket::onConnectDeadline()
{
    if (m_phase != Phase::Connecting || m_silenced)
        return;
    abortDevice();
    reportFailure(Error::TimeoutError,
                  QCoreApplication::translate("Qonduit::StreamSocket",
                                              "%1 did not accept the connection within %2: the server is "
                                              "unreachable (a firewall may drop the connection) or too busy "
                                              "to accept it.")
                          .arg(peerAddress().toDisplayString(), durationText(m_connectTimeout)));
    reportClosed();
}

} // namespace Qonduit
