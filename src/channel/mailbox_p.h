#ifndef QONDUIT_MAILBOX_P_H
#define QONDUIT_MAILBOX_P_H

#include "channel/envelope_p.h"

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qdeadlinetimer.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

namespace Qonduit {

// Whoever drains a mailbox: a ChannelReceiver, later a connection's writer.
class MailboxConsumer
{
public:
    // Called with the mailbox locked, from any producer thread, at most once
    // per batch: when the queue turns non-empty with no wake-up pending, or
    // when the last sender leaves. Must not call back into the mailbox; it
    // should only schedule a drain (post an event).
    virtual void wake() = 0;
    // Called with the mailbox locked, from a producer thread: whether that
    // thread is the one that drains. Blocking it would deadlock.
    virtual bool drainsOnCurrentThread() const = 0;

protected:
    ~MailboxConsumer() = default;
};

// Told whenever bytes leave the queue (taken by the consumer, dropped by the
// policy, discarded with the consumer): a connection turns that into
// flow-control credit for its peer. Called with the mailbox locked, from the
// thread that made the bytes leave; must only record and schedule.
class MailboxReleaseObserver
{
public:
    virtual void released(qint64 bytes) = 0;

protected:
    ~MailboxReleaseObserver() = default;
};

// The cross-thread core every channel stands on: a bounded FIFO queue shared
// by any number of producers and one consumer.
//
// Thread safety: every member may be called from any thread at once.
// Blocking: only push(…, mayBlock = true) and take() block, and only on a
// condition variable of this mailbox. Ordering: messages from one producer
// thread leave in the order they were pushed. Ownership: a queued Envelope
// belongs to the mailbox until takeBatch()/take() moves it out.
//
// Wake-ups: the consumer is woken once when the queue turns non-empty; it then
// drains in batches. After takeBatch() returns more == true the wake-up is
// still considered pending and the consumer must schedule the next drain
// itself; once a batch empties the queue the next push wakes it again.
class Mailbox
{
public:
    struct Limits
    {
        qsizetype capacity = 1;
        qint64 capacityBytes = 1;
        OverflowPolicy policy = OverflowPolicy::Block;
    };

    enum class PushResult {
        Queued,
        DroppedNewest, // the policy discarded the message; counted as a drop
        Full,          // Reject, or Block for a caller that may not wait
        Closed,        // the consumer is gone, or every sender already left
    };

    struct Batch
    {
        qint64 lagged = 0;     // drops since the last batch or take()
        bool more = false;     // messages remain: schedule another drain
        bool finished = false; // every sender left and the queue is empty
    };

    enum class TakeResult { Taken, TimedOut, Finished };

    explicit Mailbox(const Limits &limits);
    Q_DISABLE_COPY_MOVE(Mailbox)

    Limits limits() const;
    // Changes the limits in one step (apply runs under the lock, so two
    // threads changing different fields lose nothing). Takes effect for the
    // next push; producers blocked on the old bounds re-check them.
    void setLimits(const Limits &limits)
    {
        updateLimits([&limits](Limits &current) { current = limits; });
    }
    template <typename Apply>
    void updateLimits(Apply apply)
    {
        std::lock_guard lock(m_mutex);
        apply(m_limits);
        m_roomAvailable.notify_all();
    }

    // --- producer side ---
    // A channel is finished once it had senders and the last one left; a
    // finished channel takes no new sender (addSender returns false).
    bool addSender();
    void removeSender();
    // Queues envelope, moving from it only when the result is Queued. With
    // mayBlock and the Block policy, waits for room instead of returning Full;
    // a consumer that leaves, or senderOpen turning false (the sender was
    // closed by another thread), ends the wait with Closed.
    PushResult push(Envelope &envelope, bool mayBlock, const std::atomic<bool> *senderOpen = nullptr);
    // Queues envelope whatever the bounds and the policy: for the one event
    // that ends a stream, which no policy may drop. Fails only when the
    // consumer is gone.
    bool pushUnbounded(Envelope &envelope);
    // Whether the consumer drains on the calling thread (false without one).
    bool consumerDrainsOnCurrentThread() const;
    // nullptr detaches; detach before the observer dies.
    void setReleaseObserver(MailboxReleaseObserver *observer);

    // --- consumer side ---
    // Attaching a consumer to a non-empty or finished mailbox wakes it at once.
    void attachConsumer(MailboxConsumer *consumer);
    // The consumer is gone for good: the queue is freed, blocked producers
    // return Closed and later pushes fail.
    void detachConsumer();
    // Moves up to max messages, oldest first, to the end of out.
    Batch takeBatch(std::vector<Envelope> &out, qsizetype max);
    // Waits until a message arrives, the deadline passes or the channel
    // finishes. lagged receives the drops since the last take.
    TakeResult take(Envelope &out, QDeadlineTimer deadline, qint64 *lagged);

    qint64 droppedCount() const;
    qsizetype queuedCount() const;
    bool isFinished() const;
    // Producers waiting for room right now (Block policy).
    int blockedProducerCount() const;

private:
    bool isFull(qint64 incomingBytes) const;
    bool finishedLocked() const;
    void enqueueLocked(Envelope &envelope);
    void dropOldestLocked();
    void releaseLocked(qint64 bytes);
    void wakeConsumerLocked();
    void notifyRoomLocked();

    mutable std::mutex m_mutex;
    std::condition_variable m_roomAvailable;
    std::condition_variable m_messageAvailable;
    std::deque<Envelope> m_queue;
    Limits m_limits;
    qint64 m_queuedBytes = 0;
    qint64 m_dropped = 0;
    qint64 m_droppedSinceReport = 0;
    int m_senders = 0;
    bool m_hadSenders = false;
    MailboxConsumer *m_consumer = nullptr;
    MailboxReleaseObserver *m_releaseObserver = nullptr;
    bool m_consumerGone = false;
    bool m_wakePending = false;
    int m_blockedProducers = 0;
    int m_blockedConsumers = 0;
};

} // namespace Qonduit

#endif // QONDUIT_MAILBOX_P_H
