#ifndef QONDUIT_CHANNELFACTORY_P_H
#define QONDUIT_CHANNELFACTORY_P_H

#include <Qonduit/channel.h>

#include "channel/mailbox_p.h"

#include <memory>

namespace Qonduit {

class ChannelLink;

// The one place that puts sender and receiver objects on mailboxes, for every
// factory (Channel::local, Channel::connectTo, ChannelServer).
namespace ChannelFactory {

std::shared_ptr<Mailbox> makeMailbox(const ChannelOptions &options);
std::unique_ptr<ChannelSender> makeSender(std::shared_ptr<Mailbox> mailbox, const QUrl &peer,
                                          std::shared_ptr<ChannelLink> link = nullptr);
enum class Delivery { Now, WhenHandedOut };

std::unique_ptr<ChannelReceiver> makeReceiver(std::shared_ptr<Mailbox> mailbox, const ChannelOptions &options,
                                              const QUrl &peer, Delivery delivery = Delivery::Now,
                                              std::shared_ptr<ChannelLink> link = nullptr);

// One side of a two-way channel: it sends into outgoing and receives from
// incoming.
ChannelPair makeSide(std::shared_ptr<Mailbox> outgoing, std::shared_ptr<Mailbox> incoming,
                     const ChannelOptions &options, const QUrl &peer, Delivery delivery = Delivery::Now,
                     std::shared_ptr<ChannelLink> link = nullptr);

// Ties an end to the connection behind it (a no-op without one).
void attachLink(ChannelEndpoint &end, std::shared_ptr<ChannelLink> link, bool isReceiver);

// Starts a receiver made with Delivery::WhenHandedOut.
void handOut(ChannelReceiver &receiver);

// A pair that never connects: both ends report error once the event loop runs.
ChannelPair makeFailed(const ChannelOptions &options, const QUrl &endpoint, Error error, const QString &text);

} // namespace ChannelFactory
} // namespace Qonduit

#endif // QONDUIT_CHANNELFACTORY_P_H
