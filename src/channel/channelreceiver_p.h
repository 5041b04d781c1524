#ifndef QONDUIT_CHANNELRECEIVER_P_H
#define QONDUIT_CHANNELRECEIVER_P_H

#include <Qonduit/channelreceiver.h>

#include "channel/channelendpoint_p.h"
#include "channel/mailbox_p.h"

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

    void deliverBatch();
    // Emits closed() (once) when the channel finished and was drained.
    void finish();
    template <typename Apply>
    void changeLimits(Apply apply);

    const std::shared_ptr<Mailbox> mailbox;
    int deliveryBudget;
    bool closedEmitted = false;
    std::vector<Envelope> spareBatch;
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELRECEIVER_P_H
