#include "transport/tcpstreamlistener_p.h"

#include "global/qonduitlogging_p.h"
#include "transport/tcpstreamsocket_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qpointer.h>
#include <QtNetwork/qnetworkproxy.h>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::TcpStreamListener", text);
}

constexpr int listenBacklog = 1024; // the kernel caps it at net.core.somaxconn

} // namespace

TcpStreamListener::TcpStreamListener(QObject *parent)
    : TcpStreamListener(parent, std::make_unique<QTcpServer>(), lcQonduitTransportTcp)
{
}

TcpStreamListener::TcpStreamListener(QObject *parent, std::unique_ptr<QTcpServer> server, LoggingCategory category)
    : StreamListener(parent),
      m_category(category),
      m_server(std::move(server))
{
    m_server->setProxy(QNetworkProxy::NoProxy);
    m_server->setListenBacklogSize(listenBacklog);
    // Never let QTcpServer stop accepting: onNewConnection() drains
    // everything it accepted before returning to the event loop.
    m_server->setMaxPendingConnections(listenBacklog);
    connect(m_server.get(), &QTcpServer::newConnection, this, &TcpStreamListener::onNewConnection);
    connect(m_server.get(), &QTcpServer::acceptError, this, &TcpStreamListener::onAcceptError);
    m_resumeTimer.setSingleShot(true);
    connect(&m_resumeTimer, &QTimer::timeout, this, [this] {
        if (m_server->isListening())
            m_server->resumeAccepting();
    });
}

TcpStreamListener::~TcpStreamListener()
{
    close();
}

bool TcpStreamListener::listen(const Endpoint &endpoint, Error &error, QString &errorText)
{
    Q_ASSERT(endpoint.isTcpBased());
    const QString shown = endpoint.toDisplayString();
    if (isListening()) {
        error = Error::AddressInUseError;
        errorText = tr("This server already listens on %1; close it before it listens on %2.")
                        .arg(address().toDisplayString(), shown);
        return false;
    }
    QHostAddress host;
    if (endpoint.host == u"localhost") {
        host = QHostAddress(QHostAddress::LocalHost);
    } else if (!host.setAddress(endpoint.host)) {
        error = Error::InvalidEndpointError;
        errorText = tr("Cannot listen on %1: a server listens on an IP address (127.0.0.1, [::1], 0.0.0.0 for "
                       "every interface) or on localhost, not on a host name.")
                        .arg(shown);
        return false;
    }
    // [::] is every address, IPv4 too, as on Linux by default and in Go;
    // QHostAddress::AnyIPv6 alone would set IPV6_V6ONLY.
    if (host == QHostAddress(QHostAddress::AnyIPv6))
        host = QHostAddress(QHostAddress::Any);
    if (!m_server->listen(host, endpoint.port)) {
        switch (m_server->serverError()) {
        case QAbstractSocket::AddressInUseError:
            error = Error::AddressInUseError;
            errorText = tr("Another server already listens on %1; pick another port or stop that server.")
                            .arg(shown);
            break;
        case QAbstractSocket::SocketAccessError:
            error = Error::PermissionDeniedError;
            errorText = tr("Cannot listen on %1: the operating system refused (ports below 1024 need privileges; "
                           "%2).")
                            .arg(shown, m_server->errorString());
            break;
        case QAbstractSocket::SocketAddressNotAvailableError:
            error = Error::InvalidEndpointError;
            errorText = tr("Cannot listen on %1: no network interface of this machine has that address.")
                            .arg(shown);
            break;
        default:
            error = Error::NetworkError;
            errorText = tr("Cannot listen on %1: %2").arg(shown, m_server->errorString());
            break;
        }
        return false;
    }
    m_endpoint = endpoint;
    m_resumeDelay = 0;
    qCDebug(m_category) << "listening on" << address().toDisplayString();
    return true;
}

bool TcpStreamListener::isListening() const
{
    return m_server->isListening();
}

QUrl TcpStreamListener::address() const
{
    if (!isListening())
        return QUrl();
    Endpoint real = m_endpoint;
    real.port = m_server->serverPort();
    return real.toUrl();
}

void TcpStreamListener::close()
{
    m_resumeTimer.stop();
    if (!m_server->isListening())
        return;
    m_server->close();
    qCDebug(m_category) << "closed" << m_endpoint.toDisplayString();
}

void TcpStreamListener::onNewConnection()
{
    m_resumeDelay = 0;
    const QPointer<TcpStreamListener> guard(this);
    while (m_server->hasPendingConnections()) {
        QTcpSocket *accepted = m_server->nextPendingConnection();
        accepted->setParent(nullptr);
        takeAccepted(accepted);
        if (!guard || !m_server->isListening())
            return;
    }
}

void TcpStreamListener::takeAccepted(QTcpSocket *accepted)
{
    handOut(std::make_unique<TcpStreamSocket>(accepted));
}

void TcpStreamListener::onAcceptError(QAbstractSocket::SocketError socketError)
{
    Q_UNUSED(socketError);
    m_resumeDelay = m_resumeDelay == 0 ? 5 : std::min(m_resumeDelay * 2, 1000);
    qCWarning(m_category).nospace()
            << "accepting on " << address().toDisplayString() << " failed (" << m_server->errorString()
            << "); trying again in " << m_resumeDelay << " ms";
    m_resumeTimer.start(m_resumeDelay);
}

} // namespace Qonduit
