#ifndef QONDUIT_CHANNELENDPOINT_P_H
#define QONDUIT_CHANNELENDPOINT_P_H

#include <Qonduit/channelendpoint.h>

#include "global/errorstate_p.h"

#include <memory>

namespace Qonduit {

class ChannelLink;

class ChannelEndpointPrivate
{
    Q_DECLARE_PUBLIC(ChannelEndpoint)

public:
    virtual ~ChannelEndpointPrivate();

    static ChannelEndpointPrivate *get(ChannelEndpoint *q) { return q->d_func(); }

    // Sets the error and emits errorOccurred() on the calling thread.
    void setErrorAndEmit(Error error, const QString &text);
    // Emits stateChanged() and connected()/disconnected() as the state moves;
    // must run on the object's thread.
    void setState(ChannelState state);
    // The same, from the event loop: factories use it so that no signal fires
    // before the caller could connect to it.
    void setStateLater(ChannelState state, Error error = Error::NoError, const QString &text = {});

    ChannelEndpoint *q_ptr = nullptr;
    ErrorState errorState;
    ChannelState state = ChannelState::ConnectedState;
    QUrl peerAddress;
    // Socket channels only: the connection behind this end.
    std::shared_ptr<ChannelLink> link;
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELENDPOINT_P_H
