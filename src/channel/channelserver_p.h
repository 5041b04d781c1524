#ifndef QONDUIT_CHANNELSERVER_P_H
#define QONDUIT_CHANNELSERVER_P_H

#include <Qonduit/channelserver.h>

#include "global/errorstate_p.h"

#include <deque>
#include <memory>
#include <mutex>
#include <set>

namespace Qonduit {

class Connection;
class StreamListener;
class StreamSocket;

class ChannelServerPrivate
{
    Q_DECLARE_PUBLIC(ChannelServer)

public:
    void setErrorAndEmit(Error error, const QString &text);
    ChannelOptions channelOptions() const;
    // Takes an accepted pair from any thread: it moves to the server's thread
    // and newChannel() follows from the server's event loop.
    void accept(ChannelPair pair);
    // A socket listener's new client: its connection runs the handshake and
    // turns every stream the client opens into a pending pair.
    void adopt(StreamSocket *socket);
    // Stops listening; with forget, also lets go of the connections that
    // nobody else holds (they say GOODBYE).
    void stopListening();

    ChannelServer *q_ptr = nullptr;
    ErrorState errorState;
    QUrl address;
    QString boundName; // inproc: the registered name
    std::unique_ptr<StreamListener> listener;
    std::set<std::shared_ptr<Connection>> connections;

    // Guards what connecting threads touch.
    mutable std::mutex mutex;
    ChannelOptions options;
    std::deque<ChannelPair> pending;
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELSERVER_P_H
