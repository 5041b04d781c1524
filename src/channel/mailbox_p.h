#ifndef QONDUIT_MAILBOX_P_H
#define QONDUIT_MAILBOX_P_H

#include "channel/envelope_p.h"

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qdeadlinetimer.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace Qonduit {

// The FIFO behind a Mailbox: envelopes in a singly linked list of chunks of
// ChunkSlots slots. The tail takes a chunk from a pool of spares (or
// allocates one) when it fills the last one, and the head gives a chunk back
// to the pool when it leaves it; a queued envelope never moves.
//
// The pool keeps what a burst needed while bursts keep coming, and is freed
// (but for KeptSpareChunks) by trimSpares(), which the mailbox calls when a
// drain empties the queue and the pool has supplied no chunk for a second.
// Freeing whatever is spare at every emptying drain instead (or shrinking a
// ring) costs a reallocation of the whole queue every time a producer refills
// it, and those allocations are of the worst kind: glibc consolidates an
// arena's fastbins on every allocation of 1 KiB or more, and the producer's
// arena is full of small payloads freed by the consumer. Under a steady
// producer that kept refilling a 65536-message queue this was 8-10% of all
// CPU time.
//
// Not thread-safe: the mailbox guards it with its lock.
class EnvelopeQueue
{
    struct Chunk;

public:
    static constexpr int ChunkSlots = 64;
    static constexpr int KeptSpareChunks = 2;
    static constexpr int PrefetchSlots = 8;

    // Chunks handed over to be freed when this goes out of scope: the
    // mailbox declares one before taking its lock.
    class Retired
    {
    public:
        Retired() = default;
        ~Retired();
        Q_DISABLE_COPY_MOVE(Retired)

    private:
        friend class EnvelopeQueue;
        Chunk *m_chunks = nullptr;
    };

    EnvelopeQueue() = default;
    ~EnvelopeQueue();
    Q_DISABLE_COPY(EnvelopeQueue)
    EnvelopeQueue(EnvelopeQueue &&other) noexcept { swap(other); }
    EnvelopeQueue &operator=(EnvelopeQueue &&other) noexcept
    {
        EnvelopeQueue(std::move(other)).swap(*this);
        return *this;
    }

    bool empty() const { return m_size == 0; }
    qsizetype size() const { return m_size; }
    // Chunks allocated, the spares included.
    qsizetype chunkCount() const { return m_chunks; }
    qsizetype spareChunkCount() const { return m_spareCount; }
    // Whether the pool supplied or allocated a chunk since the last call.
    bool takeChunkDemand() { return std::exchange(m_chunkDemand, false); }

    Envelope &front();
    void pushBack(Envelope &&envelope);
    void popFront();
    // Moves the first count envelopes to the end of out and returns their bytes.
    qint64 takeFront(qsizetype count, std::vector<Envelope> &out);
    // Hands all spare chunks but KeptSpareChunks over to retired.
    void trimSpares(Retired &retired);
    void swap(EnvelopeQueue &other) noexcept;

private:
    void leaveHeadChunk();

    Chunk *m_head = nullptr;   // holds the front; nullptr until the first push
    Chunk *m_tail = nullptr;   // holds the back
    Chunk *m_spares = nullptr; // the pool, most recently used first
    int m_headIndex = 0;       // front slot in m_head
    int m_tailIndex = 0;       // first free slot in m_tail
    qsizetype m_spareCount = 0;
    qsizetype m_size = 0;
    qsizetype m_chunks = 0;
    bool m_chunkDemand = false;
};

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
    bool roomWorthNotifyingLocked() const;
    void trimQueueLocked(EnvelopeQueue::Retired &retired);
    std::unique_lock<std::mutex> lock() const;

    mutable std::mutex m_mutex;
    std::condition_variable m_roomAvailable;
    std::condition_variable m_messageAvailable;
    EnvelopeQueue m_queue;
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
    std::chrono::steady_clock::time_point m_chunksLastNeeded;
};

} // namespace Qonduit

#endif // QONDUIT_MAILBOX_P_H
