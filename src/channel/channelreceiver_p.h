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
    // nothing is emitted while nobody can be connected yet. The consumer is
    // attached from the start (so Block knows which thread drains); only its
    // wake-ups wait.
    void startDelivery();
    void postNextBatch();
    void deliverBatch();
    // Emits closed() (once) when the channel finished and was drained.
    void finish();
    // Whether this call may deliver: false while another delivery runs (a
    // nested event loop in one of its slots, or the thread the receiver was
    // moved away from inside one), which then delivers again when it ends.
    bool enterDelivery();
    // Ends a delivery; returns whether another was asked for meanwhile.
    bool leaveDelivery();

    const std::shared_ptr<Mailbox> mailbox;
    std::atomic<int> deliveryBudget;
    std::atomic<bool> handedOut{false};
    std::atomic<bool> closedEmitted{false};
    // Like QAbstractSocket's readyRead(): no signal is emitted recursively. A
    // slot that spins the event loop (a modal dialog) defers the next batch
    // until it returns, which also keeps every message in order.
    // Atomic because a slot may move the receiver to another thread, whose
    // event loop then wakes it while the rest of the batch is still emitted
    // here: the two threads hand the delivery over through these.
    std::atomic<bool> delivering{false};
    std::atomic<bool> redeliver{false};
    std::vector<Envelope> spareBatch;
    std::vector<PayloadReturn *> filledReturns; // deliverBatch()'s, kept for its capacity
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELRECEIVER_P_H
