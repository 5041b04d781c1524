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
    : TcpStreamListener(parent, std::make_unique<SslAcceptingServer>(), lcQonduitTransportTls)
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
    auto socket = TlsStreamSocket::accept(ssl, options.tls,
                                          std::chrono::milliseconds(std::max(1, options.handshakeTimeoutMs)));
    TlsStreamSocket *raw = socket.get();
    connect(raw, &StreamSocket::connected, this, [this, raw] {
        const auto it = m_handshaking.find(raw);
        if (it == m_handshaking.end())
            return;
        std::unique_ptr<TlsStreamSocket> done = std::move(it->second);
        m_handshaking.erase(it);
        done->disconnect(this);
        qCDebug(lcQonduitTransportTls) << "TLS client" << done->peerAddress().toDisplayString() << "admitted";
        handOut(std::move(done));
    });
    connect(raw, &StreamSocket::failed, this,
            [this, raw](Error error, const QString &text) { drop(raw, error, text); });
    // Without failed() first: the connection was given up (close()).
    connect(raw, &StreamSocket::disconnected, this, [this, raw] {
        drop(raw, Error::RemoteClosedError,
             tr("The client %1 went away during the TLS handshake.").arg(raw->peerAddress().toDisplayString()));
    });
    m_handshaking.emplace(raw, std::move(socket));
}

void TlsStreamListener::drop(TlsStreamSocket *socket, Error error, const QString &text)
{
    const auto it = m_handshaking.find(socket);
    if (it == m_handshaking.end())
        return;
    QString reason = text;
    if (error == Error::TimeoutError) {
        reason = tr("Refused the client %1: it did not complete the TLS handshake within %2 ms.")
                         .arg(socket->peerAddress().toDisplayString())
                         .arg(socket->connectTimeout().count());
    }
    ++m_refused;
    qCInfo(lcQonduitTransportTls).noquote() << reason;
    // From the socket's own signal, which allows it.
    m_handshaking.erase(it);
}

} // namespace Qonduit
