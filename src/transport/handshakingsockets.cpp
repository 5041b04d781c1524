#include "transport/handshakingsockets_p.h"

#include <QtCore/qcoreapplication.h>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::HandshakingSockets", text);
}

} // namespace

HandshakingSockets::HandshakingSockets(QObject *context, LoggingCategory category, const QString &handshake,
                                       Admit admit, Refused refused)
    : m_context(context),
      m_category(category),
      m_handshake(handshake),
      m_admit(std::move(admit)),
      m_refusedCallback(std::move(refused))
{
}

HandshakingSockets::~HandshakingSockets()
{
    clear();
}

void HandshakingSockets::clear()
{
    m_sockets.clear();
}

void HandshakingSockets::add(std::unique_ptr<StreamSocket> socket)
{
    StreamSocket *raw = socket.get();
    QObject::connect(raw, &StreamSocket::connected, m_context, [this, raw] { admit(raw); });
    QObject::connect(raw, &StreamSocket::failed, m_context,
                     [this, raw](Error error, const QString &text) { drop(raw, error, text); });
    // Without failed() first: the connection was given up.
    QObject::connect(raw, &StreamSocket::disconnected, m_context, [this, raw] {
        drop(raw, Error::RemoteClosedError,
             tr("The client %1 went away during the %2 handshake.")
                     .arg(raw->peerAddress().toDisplayString(), m_handshake));
    });
    m_sockets.emplace(raw, std::move(socket));
}

void HandshakingSockets::admit(StreamSocket *socket)
{
    const auto it = m_sockets.find(socket);
    if (it == m_sockets.end())
        return;
    std::unique_ptr<StreamSocket> done = std::move(it->second);
    m_sockets.erase(it);
    done->disconnect(m_context);
    qCDebug(m_category).noquote() << m_handshake << "client" << done->peerAddress().toDisplayString() << "admitted";
    m_admit(std::move(done));
}

void HandshakingSockets::drop(StreamSocket *socket, Error error, const QString &text)
{
    const auto it = m_sockets.find(socket);
    if (it == m_sockets.end())
        return;
    QString reason = text;
    if (error == Error::TimeoutError) {
        reason = tr("Refused the client %1: it did not complete the %2 handshake within %3 ms.")
                         .arg(socket->peerAddress().toDisplayString(), m_handshake)
                         .arg(socket->connectTimeout().count());
    }
    ++m_refused;
    qCInfo(m_category).noquote() << reason;
    // From the socket's own signal, which allows it; reported after, so that
    // the callback may close or delete the listener.
    m_sockets.erase(it);
    if (m_refusedCallback)
        m_refusedCallback(error, reason);
}

} // namespace Qonduit
