#ifndef QONDUIT_CONNECTIONSTREAM_P_H
#define QONDUIT_CONNECTIONSTREAM_P_H

#include "channel/mailbox_p.h"

#include <atomic>
#include <deque>
#include <memory>
#include <vector>

namespace Qonduit {

class ChannelLink;
class Connection;

// One stream of a connection (docs/protocol.md section 6), as the connection
// sees it. Lives in the connection's thread; only wake(), drainsOnCurrentThread()
// and released() are called from other threads, with a mailbox locked.
class ConnectionStream final : public MailboxConsumer, public MailboxReleaseObserver
{
public:
    ConnectionStream(Connection &connection, quint32 id, std::shared_ptr<Mailbox> outgoing,
                     std::shared_ptr<Mailbox> incoming, qint64 sendWindow);
    ~ConnectionStream();
    Q_DISABLE_COPY_MOVE(ConnectionStream)

    // The local senders queued something (outgoing mailbox).
    void wake() override;
    bool drainsOnCurrentThread() const override;
    // The local receiver consumed or dropped bytes (incoming mailbox).
    void released(qint64 bytes) override;

    // Takes the credit to return to the peer: what the application released.
    qint64 takeReleased() { return m_released.exchange(0); }
    // A message from the peer, for the local receiver: it waits here until
    // deliverParked(), so that all that one read brought in reaches the
    // receiver's queue under one lock.
    void arrive(Envelope &&envelope);
    // Hands waiting messages to the receiver's queue, as many as fit;
    // returns bytes to credit at once (messages nobody will consume).
    qint64 deliverParked();
    bool hasParked() const { return !m_parked.empty(); }
    // The peer's direction ended; with error, the receiver reports it after
    // the messages before it.
    void endIncoming(Error error = Error::NoError, const QString &text = {});
    // The local direction ends: senders are told their messages go nowhere.
    void endOutgoing();

    const quint32 id;
    const std::shared_ptr<Mailbox> outgoing;
    const std::shared_ptr<Mailbox> incoming;
    std::weak_ptr<ChannelLink> link;

    qint64 sendWindow;             // what the peer lets us send (docs 6)
    qint64 receiveBudget = 0;      // what the peer may still send us
    qint64 creditOwed = 0;         // released by the receiver, not yet sent as CREDIT
    std::vector<Envelope> pendingOut; // taken from outgoing, not yet framed
    std::size_t nextOut = 0;
    bool outgoingFinished = false; // CLOSE sent
    bool incomingEnded = false;    // CLOSE received or connection ended
    bool arrivals = false;         // arrive() since the connection last delivered

private:
    Connection &m_connection;
    const std::shared_ptr<Mailbox::Lane> m_incomingLane;
    std::atomic<qint64> m_released{0};
    std::deque<Envelope> m_parked;
};

} // namespace Qonduit

#endif // QONDUIT_CONNECTIONSTREAM_P_H
