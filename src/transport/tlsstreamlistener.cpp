#include "transport/tlsstreamlistener_p.h"

#include "global/qonduitlogging_p.h"
#include "transport/tlsstreamsocket_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qpointer.h>
#include <QtNetwork/qsslsocket.h>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::TlsStreamListener", text);
}

// Makes a QSslSocket of every connection it accepts, as QSslServer does, but
// leaves the handshake to TlsStreamSocket (its own timeout, texts and
// alerts), and the socket to TlsStreamListener at once.
class SslAcceptingServer final : public QTcpServer
{
protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto *socket = new QSslSocket(this);
        if (!socket->setSocketDescriptor(descriptor)) {
            qCWarning(lcQonduitTransportTls) << "cannot take an accepted connection:" << socket->errorString();
            delete socket;
            return;
        }
        addPendingConnection(socket);
    }
};

} // namespace

TlsStreamListener::TlsStreamListener(QObject *parent)
    : TcpStreamListener(parent, std::make_unique<SslAcceptingServer>(), lcQonduitTransportTls),
      m_handshaking(this, lcQonduitTransportTls, QStringLiteral("TLS"),
                    [this](std::unique_ptr<StreamSocket> socket) { handOut(std::move(socket)); })
{
}

TlsStreamListener::~TlsStreamListener()
{
    m_handshaking.clear();
}

bool TlsStreamListener::listen(const Endpoint &endpoint, Error &error, QString &errorText)
{
    Q_ASSERT(endpoint.scheme == Endpoint::Scheme::Tls);
    const QString unusable = TlsStreamSocket::checkServerOptions(currentOptions().tls);
    if (!isListening() && !unusable.isEmpty()) {
        error = Error::CertificateError;
        errorText = tr("Cannot listen on %1: %2.").arg(endpoint.toDisplayString(), unusable);
        return false;
    }
    return TcpStreamListener::listen(endpoint, error, errorText);
}

void TlsStreamListener::close()
{
    TcpStreamListener::close();
    m_handshaking.clear();
}

void TlsStreamListener::takeAccepted(QTcpSocket *accepted)
{
    auto *ssl = qobject_cast<QSslSocket *>(accepted);
    Q_ASSERT(ssl);
    const ChannelOptions options = currentOptions();
    const QString unusable = TlsStreamSocket::checkServerOptions(options.tls);
    if (!unusable.isEmpty()) {
        const QUrl peer = TcpStreamSocket::urlOf(accepted->peerAddress(), accepted->peerPort(), QStringLiteral("tls"));
        accepted->abort();
        delete accepted;
        ++m_refused;
        qCInfo(lcQonduitTransportTls).noquote()
                << tr("Refused the client %1: this server cannot serve TLS: %2.").arg(peer.toDisplayString(), unusable);
        return;
    }
    m_handshaking.add(TlsStreamSocket::accept(ssl, options.tls,
                                              std::chrono::milliseconds(std::max(1, options.handshakeTimeoutMs))));
}

} // namespace Qonduit
