#include "transport/tcpstreamsocket_p.h"

#include "global/qonduitlogging_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtNetwork/qnetworkproxy.h>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::TcpStreamSocket", text);
}

} // namespace

std::unique_ptr<TcpStreamSocket> TcpStreamSocket::connectTo(const Endpoint &endpoint)
{
    Q_ASSERT(endpoint.scheme == Endpoint::Scheme::Tcp);
    std::unique_ptr<TcpStreamSocket> socket(new TcpStreamSocket(endpoint));
    socket->connectLater();
    return socket;
}

TcpStreamSocket::TcpStreamSocket(const Endpoint &endpoint)
    : TcpStreamSocket(endpoint, new QTcpSocket, lcQonduitTransportTcp)
{
}

TcpStreamSocket::TcpStreamSocket(const Endpoint &endpoint, QTcpSocket *socket, LoggingCategory category)
    : StreamSocket(nullptr),
      m_endpoint(endpoint),
      m_peer(endpoint.toUrl()),
      m_category(category),
      m_socket(socket)
{
    m_socket->setParent(this);
    m_socket->setProxy(QNetworkProxy::NoProxy);
    watch();
}

TcpStreamSocket::TcpStreamSocket(QTcpSocket *accepted)
    : TcpStreamSocket(accepted, QStringLiteral("tcp"), lcQonduitTransportTcp)
{
}

TcpStreamSocket::TcpStreamSocket(QTcpSocket *accepted, const QString &scheme, LoggingCategory category)
    : StreamSocket(nullptr),
      m_peer(urlOf(accepted->peerAddress(), accepted->peerPort(), scheme)),
      m_accepted(true),
      m_category(category),
      m_socket(accepted)
{
    m_socket->setParent(this);
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    watch();
}

TcpStreamSocket::~TcpStreamSocket()
{
    silence();
    abortDevice();
}

QUrl TcpStreamSocket::urlOf(const QHostAddress &address, quint16 port, const QString &scheme)
{
    bool isIPv4 = false;
    const quint32 ipv4 = address.toIPv4Address(&isIPv4);
    QUrl url;
    url.setScheme(scheme);
    url.setHost(isIPv4 ? QHostAddress(ipv4).toString() : address.toString());
    url.setPort(port);
    return url;
}

void TcpStreamSocket::watch()
{
    connect(m_socket, &QTcpSocket::connected, this, [this] {
        m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        qCDebug(m_category) << "connected to" << m_peer.toDisplayString() << "at" << m_socket->peerAddress()
                            << m_socket->peerPort();
        onTcpConnected();
    });
    connect(m_socket, &QTcpSocket::disconnected, this, [this] {
        // Closed before it counted as connected (tls://: during the handshake).
        if (phase() == Phase::Connecting)
            onError(QAbstractSocket::RemoteHostClosedError);
        reportClosed();
    });
    connect(m_socket, &QTcpSocket::errorOccurred, this, &TcpStreamSocket::onError);
}

void TcpStreamSocket::onTcpConnected()
{
    reportConnected();
}

void TcpStreamSocket::startConnecting()
{
    QString text;
    if (m_endpoint.checkConnectable(text) != Error::NoError) {
        reportFailure(Error::InvalidEndpointError, text);
        reportClosed();
        return;
    }
    connectDevice();
}

void TcpStreamSocket::connectDevice()
{
    m_socket->connectToHost(m_endpoint.host, m_endpoint.port, QIODevice::ReadWrite);
}

void TcpStreamSocket::onError(QAbstractSocket::SocketError socketError)
{
    if (isSilenced() || phase() == Phase::Closed)
        return;
    Error error = Error::NetworkError;
    QString text;
    describeError(socketError, error, text);
    qCDebug(m_category) << m_peer.toDisplayString() << error << text;
    if (closesItselfAfter(socketError)) {
        reportFailure(error, text);
        closeAfterError();
        return;
    }
    failWith(error, text);
}

bool TcpStreamSocket::closesItselfAfter(QAbstractSocket::SocketError socketError) const
{
    Q_UNUSED(socketError);
    return false;
}

void TcpStreamSocket::describeError(QAbstractSocket::SocketError socketError, Error &error, QString &text) const
{
    const QString shown = m_peer.toDisplayString();
    error = Error::NetworkError;
    switch (socketError) {
    case QAbstractSocket::ConnectionRefusedError:
        error = Error::ConnectionRefusedError;
        text = tr("Connection refused by %1: nobody listens there.").arg(shown);
        break;
    case QAbstractSocket::HostNotFoundError:
        error = Error::HostNotFoundError;
        text = tr("The host of %1 was not found: check its name and the network's name service (%2).")
                   .arg(shown, m_socket->errorString());
        break;
    case QAbstractSocket::RemoteHostClosedError:
        error = Error::RemoteClosedError;
        text = m_accepted ? tr("The client %1 closed the connection.").arg(shown)
                          : tr("%1 closed the connection.").arg(shown);
        break;
    case QAbstractSocket::SocketTimeoutError:
        error = Error::TimeoutError;
        text = tr("%1 did not answer in time: %2").arg(shown, m_socket->errorString());
        break;
    case QAbstractSocket::SocketAccessError:
        error = Error::PermissionDeniedError;
        text = tr("The operating system refused access to %1: %2").arg(shown, m_socket->errorString());
        break;
    case QAbstractSocket::NetworkError:
        text = tr("%1 cannot be reached: %2").arg(shown, m_socket->errorString());
        break;
    default:
        text = tr("The connection to %1 failed: %2").arg(shown, m_socket->errorString());
        break;
    }
}

void TcpStreamSocket::abortDevice()
{
    // Blocked, not disconnected: whoever connected to device() hears nothing
    // either once the socket is aborted.
    m_socket->blockSignals(true);
    m_socket->abort();
}

bool TcpStreamSocket::isDeviceOpen() const
{
    return m_socket->state() != QAbstractSocket::UnconnectedState;
}

QIODevice *TcpStreamSocket::device() const
{
    return m_socket;
}

QUrl TcpStreamSocket::peerAddress() const
{
    return m_peer;
}

qintptr TcpStreamSocket::halfClosableDescriptor() const
{
    return m_socket->socketDescriptor();
}

void TcpStreamSocket::closeDevice()
{
    m_socket->disconnectFromHost();
}

void TcpStreamSocket::setReadBufferSize(qint64 bytes)
{
    m_socket->setReadBufferSize(bytes);
}

void TcpStreamSocket::flush()
{
    m_socket->flush();
}

} // namespace Qonduit
