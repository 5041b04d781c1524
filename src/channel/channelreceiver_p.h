#ifndef QONDUIT_CHANNELRECEIVER_P_H
#define QONDUIT_CHANNELRECEIVER_P_H

#include <Qonduit/channelreceiver.h>

#include "channel/channelendpoint_p.h"
#include "channel/mailbox_p.h"

#include <atomic>
#include <memory>
#include <vector>

namespace Qonduit {

struct ChannelOptions;

class ChannelReceiverPrivate final : public ChannelEndpointPrivate, public MailboxConsumer
{
    Q_DECLARE_PUBLIC(ChannelReceiver)

public:
    ChannelReceiverPrivate(std::shared_ptr<Mailbox> mailbox, const ChannelOptions &options);
    ~ChannelReceiverPrivate() override;

    static Mailbox::Limits limitsFrom(const ChannelOptions &options);

    void wake() override;
    bool drainsOnCurrentThread() const override;

    // Delivery starts when the receiver reaches its user: at once for the
    // factories, when nextPendingChannel() hands it out for a server, so that
    // nothing is emitted while nobody can be connected yet.
    void startDelivery();
    void postWake();
    void deliverBatch();
    // Emits closed() (once) when the channel finished and was drained.
    void finish();

    const std::shared_ptr<Mailbox> mailbox;
    std::atomic<int> deliveryBudget;
    bool closedEmitted = false;
    bool delivering = false;

    // The batch being delivered, shared by nested deliveries: a slot that
    // spins an event loop (a modal dialog) continues this batch in order
    // instead of starting the next one.
    std::vector<Envelope> batch;
    std::size_t nextInBatch = 0;
    bool moreAfterBatch = false;
    bool finishedAfterBatch = false;
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELRECEIVER_P_H
