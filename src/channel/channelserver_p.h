#ifndef QONDUIT_CHANNELSERVER_P_H
#define QONDUIT_CHANNELSERVER_P_H

#include <Qonduit/channelserver.h>

#include "global/errorstate_p.h"

#include <deque>
#include <mutex>

namespace Qonduit {

class ChannelServerPrivate
{
    Q_DECLARE_PUBLIC(ChannelServer)

public:
    void setErrorAndEmit(Error error, const QString &text);
    ChannelOptions channelOptions() const;
    // Takes an accepted pair from any thread: it moves to the server's thread
    // and newChannel() follows from the server's event loop.
    void accept(ChannelPair pair);

    ChannelServer *q_ptr = nullptr;
    ErrorState errorState;
    QUrl address;
    QString boundName;

    // Guards what connecting threads touch.
    mutable std::mutex mutex;
    ChannelOptions options;
    std::deque<ChannelPair> pending;
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELSERVER_P_H
