#ifndef QONDUIT_CHANNEL_H
#define QONDUIT_CHANNEL_H

#include <Qonduit/channeloptions.h>
#include <Qonduit/channelreceiver.h>
#include <Qonduit/channelsender.h>

#include <QtCore/qurl.h>

#include <memory>

namespace Qonduit {

// The two ends a factory hands out. Each is an ordinary QObject: keep it in the
// unique_ptr, or release() it and give it a parent.
struct ChannelPair
{
    std::unique_ptr<ChannelSender> sender;
    std::unique_ptr<ChannelReceiver> receiver;
};

namespace Channel {

// A connected in-process channel: what the sender sends, the receiver
// delivers. The receiver lives in the calling thread; move it with
// moveToThread() like any QObject.
QONDUIT_EXPORT ChannelPair local(const ChannelOptions &options = {});

// Connects to a ChannelServer listening on endpoint ("inproc:NAME",
// "local:NAME", "tcp://HOST:PORT", "tls://HOST:PORT"). The
// sender talks to the server's receiver and the receiver hears the server's
// sender. Both start in ConnectingState; connected() or errorOccurred()
// follows from the event loop, never from inside this call. options bound
// this side's receiving queue.
QONDUIT_EXPORT ChannelPair connectTo(const QUrl &endpoint, const ChannelOptions &options = {});

} // namespace Channel
} // namespace Qonduit

#endif // QONDUIT_CHANNEL_H
