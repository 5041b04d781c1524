#ifndef QONDUIT_HANDSHAKINGSOCKETS_P_H
#define QONDUIT_HANDSHAKINGSOCKETS_P_H

#include "transport/streamsocket_p.h"

#include <QtCore/qloggingcategory.h>

#include <functional>
#include <map>
#include <memory>

namespace Qonduit {

// The sockets a listener accepted that are still in a handshake of their
// own (tls://: TLS; tcp:// and local: with a shared key: Noise) before they
// may be handed out. A socket that reports connected() is admitted (given to
// admit, this object forgets it); one that fails, times out or goes away is
// dropped: counted, logged at info level under the listener's category with
// the reason, reported to refused, and deleted (from its own signal, which
// allows it). Lives inside its listener, which is the context of every
// connection made here.
class HandshakingSockets
{
public:
    using LoggingCategory = const QLoggingCategory &(*)();
    using Admit = std::function<void(std::unique_ptr<StreamSocket>)>;
    using Refused = std::function<void(Error, const QString &)>;

    // handshake names the handshake in texts ("TLS", "shared-key").
    HandshakingSockets(QObject *context, LoggingCategory category, const QString &handshake, Admit admit,
                       Refused refused = {});
    ~HandshakingSockets();
    HandshakingSockets(const HandshakingSockets &) = delete;
    HandshakingSockets &operator=(const HandshakingSockets &) = delete;

    void add(std::unique_ptr<StreamSocket> socket);
    // Drops every socket still in its handshake, without a word.
    void clear();
    int count() const { return int(m_sockets.size()); }
    int refusedCount() const { return m_refused; }

private:
    void admit(StreamSocket *socket);
    void drop(StreamSocket *socket, Error error, const QString &text);

    QObject *m_context;
    LoggingCategory m_category;
    QString m_handshake;
    Admit m_admit;
    Refused m_refusedCallback;
    std::map<StreamSocket *, std::unique_ptr<StreamSocket>> m_sockets;
    int m_refused = 0;
};

} // namespace Qonduit

#endif // QONDUIT_HANDSHAKINGSOCKETS_P_H
