#include "transport/localstreamsocket_p.h"

#include "global/qonduitlogging_p.h"
#include "transport/localsocketfile_p.h"

#include <QtCore/qcoreapplication.h>

#include <sys/socket.h>
#include <unistd.h>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::LocalStreamSocket", text);
}

} // namespace

std::unique_ptr<LocalStreamSocket> LocalStreamSocket::connectTo(const Endpoint &endpoint, qint64 requiredPeerUser)
{
    Q_ASSERT(endpoint.scheme == Endpoint::Scheme::Local);
    std::unique_ptr<LocalStreamSocket> socket(new LocalStreamSocket(endpoint));
    socket->m_requiredPeerUser = resolveUser(requiredPeerUser);
    socket->connectLater();
    return socket;
}

LocalStreamSocket::LocalStreamSocket(const Endpoint &endpoint)
    : StreamSocket(nullptr),
      m_endpoint(endpoint),
      m_socket(new QLocalSocket(this))
{
    watch();
}

LocalStreamSocket::LocalStreamSocket(QLocalSocket *accepted, const Endpoint &endpoint)
    : StreamSocket(nullptr),
      m_endpoint(endpoint),
      m_accepted(true),
      m_socket(accepted)
{
    m_socket->setParent(this);
    watch();
}

LocalStreamSocket::~LocalStreamSocket()
{
    silence();
    abortDevice();
}

void LocalStreamSocket::watch()
{
    connect(m_socket, &QLocalSocket::connected, this, [this] {
        qCDebug(lcQonduitTransportLocal) << "connected to" << m_endpoint.toDisplayString();
        const qint64 user = peerUser();
        if (m_requiredPeerUser >= 0 && user != m_requiredPeerUser) {
            failWith(Error::AuthenticationError,
                     tr("The server of %1 runs as user %2, not as user %3 (ChannelOptions::localPeerUser): "
                        "another user's program answers on that name.")
                         .arg(m_endpoint.toDisplayString())
                         .arg(user)
                         .arg(m_requiredPeerUser));
            return;
        }
        reportConnected();
    });
    connect(m_socket, &QLocalSocket::disconnected, this, [this] { reportClosed(); });
    connect(m_socket, &QLocalSocket::errorOccurred, this, &LocalStreamSocket::onError);
}

void LocalStreamSocket::startConnecting()
{
    const QString path = LocalSocketFile::pathFor(m_endpoint.name);
    if (!LocalSocketFile::fits(path)) {
        reportFailure(Error::InvalidEndpointError,
                      tr("Cannot connect to %1: its socket file %2 is longer than a Unix-domain socket allows.")
                          .arg(m_endpoint.toDisplayString(), path));
        reportClosed();
        return;
    }
    m_socket->connectToServer(m_endpoint.name, QIODevice::ReadWrite);
}

void LocalStreamSocket::onError(QLocalSocket::LocalSocketError socketError)
{
    if (isSilenced() || phase() == Phase::Closed)
        return;
    const QString shown = m_endpoint.toDisplayString();
    const QString path = LocalSocketFile::pathFor(m_endpoint.name);
    Error error = Error::NetworkError;
    QString text;
    switch (socketError) {
    case QLocalSocket::ServerNotFoundError:
        error = Error::ConnectionRefusedError;
        text = tr("No server listens on %1: there is no socket file %2.").arg(shown, path);
        break;
    case QLocalSocket::ConnectionRefusedError:
        error = Error::ConnectionRefusedError;
        text = tr("Connection refused by %1: nobody listens there (%2 is left over from a server that is gone).")
                   .arg(shown, path);
        break;
    case QLocalSocket::PeerClosedError:
        error = Error::RemoteClosedError;
        text = m_accepted ? tr("A client of %1 closed the connection.").arg(shown)
                          : tr("%1 closed the connection.").arg(shown);
        break;
    case QLocalSocket::SocketAccessError:
        error = Error::PermissionDeniedError;
        text = tr("This user may not connect to %1: %2 belongs to another user or is not writable.")
                   .arg(shown, path);
        break;
    case QLocalSocket::SocketTimeoutError:
        error = Error::TimeoutError;
        text = tr("%1 timed out: %2").arg(shown, m_socket->errorString());
        break;
    default:
        text = tr("The connection to %1 failed: %2").arg(shown, m_socket->errorString());
        break;
    }
    qCDebug(lcQonduitTransportLocal) << shown << error << text;
    failWith(error, text);
}

void LocalStreamSocket::abortDevice()
{
    // Blocked, not disconnected: whoever connected to device() hears nothing
    // either once the socket is aborted.
    m_socket->blockSignals(true);
    m_socket->abort();
}

bool LocalStreamSocket::isDeviceOpen() const
{
    return m_socket->state() != QLocalSocket::UnconnectedState;
}

QIODevice *LocalStreamSocket::device() const
{
    return m_socket;
}

QUrl LocalStreamSocket::peerAddress() const
{
    return m_endpoint.toUrl();
}

qintptr LocalStreamSocket::halfClosableDescriptor() const
{
    return socketDescriptor();
}

void LocalStreamSocket::closeDevice()
{
    m_socket->disconnectFromServer();
}

qint64 LocalStreamSocket::sendQueueBytes() const
{
    return qint64(2) * 1024 * 1024;
}

void LocalStreamSocket::setReadBufferSize(qint64 bytes)
{
    m_socket->setReadBufferSize(bytes);
}

void LocalStreamSocket::flush()
{
    m_socket->flush();
}

qint64 LocalStreamSocket::peerUser() const
{
    ucred credentials{};
    socklen_t size = sizeof credentials;
    const qintptr fd = socketDescriptor();
    if (fd < 0 || ::getsockopt(int(fd), SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0)
        return -1;
    return qint64(credentials.uid);
}

qint64 LocalStreamSocket::resolveUser(qint64 localPeerUser)
{
    if (localPeerUser == ChannelOptions::SameUser)
        return qint64(::geteuid());
    return localPeerUser < 0 ? -1 : localPeerUser;
}

qintptr LocalStreamSocket::socketDescriptor() const
{
    return m_socket->socketDescriptor();
}

} // namespace Qonduit
