#ifndef QONDUIT_CHANNELSENDER_P_H
#define QONDUIT_CHANNELSENDER_P_H

#include <Qonduit/channelsender.h>

#include "channel/channelendpoint_p.h"
#include "channel/mailbox_p.h"

#include <atomic>
#include <memory>

namespace Qonduit {

class ChannelSenderPrivate final : public ChannelEndpointPrivate, public MailboxRoomWatcher
{
    Q_DECLARE_PUBLIC(ChannelSender)

public:
    // Joins the mailbox's senders; a null mailbox makes a sender that is
    // closed from the start (a failed connect).
    explicit ChannelSenderPrivate(std::shared_ptr<Mailbox> mailbox);
    ~ChannelSenderPrivate() override;

    bool push(Envelope envelope);
    bool leave();
    // Queues readyToSend() on the sender's thread.
    void roomAvailable() override;

    const std::shared_ptr<Mailbox> mailbox;
    // This sender's FIFO in the mailbox; nullptr when it never joined.
    const std::shared_ptr<Mailbox::Lane> lane;
    std::atomic<bool> open;
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELSENDER_P_H
