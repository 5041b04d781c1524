#ifndef QONDUIT_MAILBOX_P_H
#define QONDUIT_MAILBOX_P_H

#include "channel/envelope_p.h"
#include "channel/payloadreturn_p.h"

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qdeadlinetimer.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

namespace Qonduit {

// The FIFO behind one lane of a Mailbox, with a producer side and a consumer
// side that never wait for each other: envelopes in a singly linked list of
// chunks of ChunkSlots slots, and two counters (messages pushed, messages
// taken), each written by one side only. A push writes its slot, then
// publishes it by storing the pushed count; the consumer takes what the
// pushed count it reads covers.
//
// At most one thread at a time on each side: the mailbox holds the lane's
// lock around producer-side calls and its take lock around consumer-side
// calls.
//
// The tail takes a chunk from a Pool of spares (or allocates one) when it
// fills the last one, and the head gives a chunk back when it leaves it; a
// queued envelope never moves. One pool serves every lane of a mailbox, so
// that the chunks a draining lane gives back carry the lane that fills: with
// a pool per lane, each lane kept the chunks of the most it ever held, and
// senders that filled a queue one after the other (as producers woken one
// at a time do, D54) held a whole queue of chunks each (decision D55).
// The pool keeps what bursts need while they keep coming: the mailbox calls
// trimUnneededSpares() when a drain empties the queue a second or more after
// its last call, which frees the spares the pool did not hand out since
// (keeping KeptSpareChunks), and trimSpares() once the channel finished.
// Freeing whatever is spare at every emptying drain instead (or shrinking a
// ring) costs a reallocation of the whole queue every time a producer
// refills it, and those allocations are of the worst kind: glibc
// consolidates an arena's fastbins on every allocation of 1 KiB or more, and
// a producer's arena is full of small payloads freed by the consumer. Under
// a producer that kept refilling a 65536-message queue this was 8-10% of all
// CPU time.
class EnvelopeQueue
{
    struct Chunk;

public:
    static constexpr int ChunkSlots = 64;
    static constexpr int KeptSpareChunks = 2;
    static constexpr int PrefetchSlots = 8;

    struct Occupancy
    {
        qsizetype count = 0;
        qint64 bytes = 0;
    };

    // Chunks handed over to be freed when this goes out of scope: the
    // mailbox declares one before taking a lock.
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

    // Spare chunks, for any number of queues; every member may be called
    // from any thread.
    class Pool
    {
    public:
        Pool() = default;
        ~Pool();
        Q_DISABLE_COPY_MOVE(Pool)

        // Chunks allocated through this pool and not freed: in queues or
        // spare.
        qsizetype chunkCount() const;
        qsizetype spareChunkCount() const;
        // Hands all spare chunks but KeptSpareChunks over to retired.
        void trimSpares(Retired &retired);
        // Hands over to retired the spare chunks that stayed in the pool
        // since the last call (keeping KeptSpareChunks), and starts counting
        // again.
        void trimUnneededSpares(Retired &retired);

    private:
        friend class EnvelopeQueue;
        Chunk *take();
        void giveBack(Chunk *chunk);
        void retireSparesLocked(qsizetype count, Retired &retired);

        mutable std::mutex m_mutex;
        Chunk *m_spares = nullptr; // most recently given back first
        qsizetype m_spareCount = 0;
        qsizetype m_sparesUnused = 0; // the fewest spares since trimUnneededSpares()
        qsizetype m_chunks = 0;
    };

    explicit EnvelopeQueue(std::shared_ptr<Pool> pool);
    // Destroys what is still queued and gives its chunks back to the pool;
    // neither side may be in a call.
    ~EnvelopeQueue();
    Q_DISABLE_COPY_MOVE(EnvelopeQueue)

    // --- producer side ---
    // Writes the envelope into the next slot and publishes it (a sequentially
    // consistent store of the pushed count, which the mailbox's wake-up
    // protocol pairs with its own loads).
    void pushBack(Envelope &&envelope);

    // --- consumer side ---
    // Published and not yet taken.
    qsizetype available() const;
    // Takes the front envelope, moving it to out if not nullptr, and returns
    // its bytes. Requires available() > 0.
    qint64 popFront(Envelope *out);
    // Moves the first count envelopes (count <= available()) to the end of
    // out, stopping early once they reach maxBytes (at least one is moved),
    // and returns how many it moved and their bytes.
    Occupancy takeFront(qsizetype count, qint64 maxBytes, std::vector<Envelope> &out);

private:
    Envelope &headSlot();

    // The producer side's, then the consumer side's, then the pool (read by
    // both), each on cache lines of its own so that neither side's writes
    // evict the other's.
    Chunk *m_tail = nullptr;
    int m_tailIndex = 0; // first free slot in m_tail
    std::atomic<qint64> m_pushed{0};
    std::atomic<Chunk *> m_first{nullptr}; // the first chunk, for the consumer side
    char m_padding1[64];
    Chunk *m_head = nullptr; // nullptr until the first take
    int m_headIndex = 0;     // front slot in m_head
    std::atomic<qint64> m_taken{0};
    char m_padding2[64];
    const std::shared_ptr<Pool> m_pool;
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

// Hears that a queue which refused its push has room again: the queue drained
// to half its message bound and 1 MiB below its byte bound (half of it, when
// smaller) and the refused message fits, or its consumer left (so that the
// next push learns why).
// Called once per watchForRoom(), with the mailbox's registry lock held, from
// the thread that made the room; must only schedule.
class MailboxRoomWatcher
{
public:
    virtual void roomAvailable() = 0;

protected:
    ~MailboxRoomWatcher() = default;
};

// The cross-thread core every channel stands on: a bounded queue shared by
// any number of senders and one consumer, built of one FIFO lane per sender
// (decision D53).
//
// Thread safety: every member may be called from any thread at once; a
// sender's lane may be pushed to from any thread at once.
// Locking: the pushes of one sender serialize on its lane's lock, the
// consumer on the take lock; the lanes of different senders share no lock
// and no written cache line but the queue's two occupancy counters, and a
// consumer moving out a batch holds up no producer. What is rare or involves
// both sides (senders joining and leaving, the consumer, limits, room
// watchers, waking the consumer) takes the registry lock, and the take lock
// when it touches the lanes. Lock order: a lane's, the registry's, the take
// lock. "The mailbox locked" below means: the registry lock for wake(),
// drainsOnCurrentThread() and roomAvailable(), the take lock for released().
// Bounds: a push reserves its place in the occupancy counters before it
// writes its lane, so the bounds hold exactly however many senders push.
// Blocking: only push(…, mayBlock = true) and take() block, and only on a
// condition variable of this mailbox.
// Ordering: messages of one sender leave in the order they were pushed; the
// consumer takes from the lanes in turn, so the messages of different
// senders interleave with no other order between them.
// Ownership: a queued Envelope belongs to the mailbox until
// takeBatch()/take() moves it out.
//
// Wake-ups: the consumer is woken once when the queue turns non-empty; it then
// drains in batches. After takeBatch() returns more == true the wake-up is
// still considered pending and the consumer must schedule the next drain
// itself; once a batch empties the queue the next push wakes it again.
// Producers blocked for room are woken one at a time as the queue drains, see
// roomForBlockedProducer(); room watchers all at once, at half.
class Mailbox
{
public:
    // One sender's FIFO, from addSender() until the sender leaves and its
    // messages are taken.
    class Lane;

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
        Closed,        // the consumer is gone, or the sender already left
    };

    struct Batch
    {
        qint64 lagged = 0;     // drops since the last batch or take()
        bool more = false;     // messages remain: schedule another drain
        bool finished = false; // every sender left and the queue is empty
        // The lanes the batch came from, kept alive with the payload
        // returns its envelopes point to.
        std::vector<std::shared_ptr<Lane>> lanes;
    };

    enum class TakeResult { Taken, TimedOut, Finished };

    explicit Mailbox(const Limits &limits);
    ~Mailbox();
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
        const BothLocks locks = lockBoth();
        Limits changed = limits();
        apply(changed);
        storeLimitsLocked(changed);
    }

    // --- producer side ---
    // A new sender's lane; nullptr once the channel finished (it had senders
    // and the last one left), which takes no new sender.
    std::shared_ptr<Lane> addSender();
    // The sender of lane leaves: nothing more is queued through it.
    void removeSender(Lane &lane);
    // Queues envelope through lane, moving from it only when the result is
    // Queued. With mayBlock and the Block policy, waits for room instead of
    // returning Full; a consumer that leaves, or senderOpen turning false
    // (the sender was closed by another thread), ends the wait with Closed.
    PushResult push(Lane &lane, Envelope &envelope, bool mayBlock, const std::atomic<bool> *senderOpen = nullptr);
    // Queues envelopes from the front of batch, each as a push() that may not
    // block would, until one finds the queue full: that one and those behind
    // it stay in batch. Returns the bytes of the envelopes taken from batch
    // without being queued (dropped by DropNewest, or the consumer is gone).
    qint64 pushFront(Lane &lane, std::deque<Envelope> &batch);
    // Queues envelope whatever the bounds and the policy: for the one event
    // that ends a stream, which no policy may drop. Fails only when the
    // consumer is gone.
    bool pushUnbounded(Lane &lane, Envelope &envelope);
    // After a push of neededBytes returned Full: watcher hears of the next
    // room, once, and only when a message that large fits again (else the
    // retry it makes would be refused, over and over). A watcher already
    // waiting is not added twice; stopWatchingForRoom() before it dies.
    void watchForRoom(MailboxRoomWatcher *watcher, qint64 neededBytes);
    void stopWatchingForRoom(MailboxRoomWatcher *watcher);
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
    // Moves up to max messages to the end of out, taking from the lanes in
    // turn, each lane's oldest first; fewer when those moved reach maxBytes
    // (but always one when any is queued). The envelopes' returnTo stay
    // valid while the batch returned lives.
    Batch takeBatch(std::vector<Envelope> &out, qsizetype max,
                    qint64 maxBytes = std::numeric_limits<qint64>::max());
    // Waits until a message arrives, the deadline passes or the channel
    // finishes. lagged receives the drops since the last take.
    TakeResult take(Envelope &out, QDeadlineTimer deadline, qint64 *lagged);
    // Frees the payloads handed back that no producer will come to free:
    // once a batch reported finished, or the consumer left.
    void freeReturnedPayloads();

    qint64 droppedCount() const;
    qsizetype queuedCount() const;
    bool isFinished() const;
    // Producers waiting for room right now (Block policy).
    int blockedProducerCount() const;
    // Blocked producers woken one at a time since one last began to wait
    // (for tests).
    int producersWokenOneByOne() const;
    // Times a blocked producer looked for room on its own, because the
    // consumer took nothing for a whole re-check interval (for tests).
    qint64 safetyNetRecheckCount() const;
    // Re-check intervals that blocked producers waited to their end, safety
    // net or not (for tests).
    qint64 recheckIntervalsWaited() const;
    // That interval, 10 ms unless a test sets it.
    void setBlockedRecheckInterval(std::chrono::milliseconds interval);
    // Whether a producer blocked for room is woken when queued is left after
    // a take, with alreadyWoken producers woken one at a time before it:
    // once the queue drained by a sixteenth of capacity (at least one
    // message), and by half of capacityBytes or 1 MiB, whichever is less,
    // each twice as far for every producer already woken. An empty queue
    // wakes every producer.
    static bool roomForBlockedProducer(EnvelopeQueue::Occupancy queued, qint64 capacity, qint64 capacityBytes,
                                       int alreadyWoken);
    // Queue chunks allocated for the lanes, spares included (for tests).
    qsizetype queueChunkCount() const;
    // How long after its last trim a drain that empties the queue trims the
    // spare chunks again, one second unless a test sets it.
    void setUnusedChunksKeptFor(std::chrono::milliseconds interval);
    // Lanes held: those of the senders, and of senders that left whose
    // messages are not all taken (for tests).
    qsizetype laneCount() const;

private:
    struct BothLocks
    {
        std::unique_lock<std::mutex> registry;
        std::unique_lock<std::mutex> take;
    };
    std::unique_lock<std::mutex> lockRegistry() const;
    std::unique_lock<std::mutex> lockTake() const;
    BothLocks lockBoth() const;
    void storeLimitsLocked(const Limits &limits);

    // The occupancy counters, any thread.
    EnvelopeQueue::Occupancy occupancy() const;
    bool fits(qint64 incomingBytes) const;
    // Counts one message of bytes in, if it fits: false (counting nothing)
    // if not. dropping: for the DropOldest push that makes room.
    bool reserve(qint64 bytes, bool dropping = false);
    void countIn(qsizetype count, qint64 bytes);
    // Under the take lock.
    void countOut(qsizetype count, qint64 bytes);
    // Whether pushes through lane are over: the consumer left, the sender
    // left, or senderOpen (if given) turned false.
    bool closedTo(const Lane &lane, const std::atomic<bool> *senderOpen) const;

    // Lane lock held.
    // One envelope, without waiting: Full when it must wait or be refused.
    PushResult offerLocked(Lane &lane, Envelope &envelope, const std::atomic<bool> *senderOpen);
    void enqueueLocked(Lane &lane, Envelope &envelope);
    void dropOldestUntilReserved(qint64 bytes);
    void notifyBlockedConsumers();
    void wakeConsumer();
    // Registry lock held.
    bool finishedLocked() const { return m_hadSenders && m_senders == 0; }
    void wakeConsumerLocked();
    void tellRoomWatchersLocked();
    void wakeEveryBlockedProducerLocked();
    // Whether a producer refused for room waits for it.
    bool mayStillWaitLocked(const Lane &lane, const Envelope &envelope, const std::atomic<bool> *senderOpen) const;
    // Until a wake-up, or until the consumer took nothing for a while.
    void waitForRoomLocked(std::unique_lock<std::mutex> &lock, const Lane &lane, const std::atomic<bool> *senderOpen);
    // Take lock held.
    bool anyAvailableLocked() const;
    // Adds the lanes it took from to takenFrom.
    EnvelopeQueue::Occupancy takeLocked(qsizetype max, qint64 maxBytes, std::vector<Envelope> &out,
                                        std::vector<std::shared_ptr<Lane>> &takenFrom);
    // Takes the front of the next lane that has one, moving it to out if not
    // nullptr; returns its bytes, or -1 if no lane has a message.
    qint64 popOldestLocked(Envelope *out);
    // Moves the lanes whose sender left and whose messages are all taken to
    // reaped, freeing the payloads their returns hold.
    void reapLeftLanesLocked(std::vector<std::shared_ptr<Lane>> &reaped);
    void releaseLocked(qint64 bytes);
    // Who hears of the room a take made: the room watchers, and one or all
    // of the producers blocked for room.
    enum class ProducersToWake { None, One, All };
    struct RoomNews
    {
        bool watchers = false;
        ProducersToWake producers = ProducersToWake::None;
    };
    RoomNews roomNewsLocked();
    bool watchersHearOfRoomLocked() const;
    void trimQueuesLocked(EnvelopeQueue::Retired &retired);
    bool queueDrainedLocked() const;
    bool roomAgainLocked() const;
    // No lock held: tells whom news names, once no blocked producer is
    // between finding the queue full and waiting.
    void notifyRoom(const RoomNews &news);

    // Grouped by who writes them how often, with padding between the groups
    // so that no two share a cache line.
    // Written by every push and every batch: the messages and bytes queued
    // or reserved by a push about to queue.
    std::atomic<qint64> m_queuedCount{0};
    std::atomic<qint64> m_queuedBytes{0};
    std::atomic<int> m_dropping{0}; // DropOldest pushes making room: only they reserve
    char m_countersPadding[64];
    // The registry, written when senders come and go, consumers attach and
    // watchers wait.
    mutable std::mutex m_registryMutex;
    int m_senders = 0;
    bool m_hadSenders = false;
    std::vector<MailboxRoomWatcher *> m_roomWatchers;
    // Blocked producers' wake-ups: one waiter goes on per token, every one
    // when the count of wake-ups of all changes.
    qint64 m_producerWakeTokens = 0;
    quint64 m_producerWakeAlls = 0;
    qint64 m_safetyNetRechecks = 0;
    qint64 m_recheckIntervalsWaited = 0;
    std::chrono::milliseconds m_blockedRecheckInterval;
    char m_registryPadding[64];
    // Take side, written by every batch.
    mutable std::mutex m_takeMutex;
    std::vector<std::shared_ptr<Lane>> m_lanes; // take lock; added under both
    const std::shared_ptr<EnvelopeQueue::Pool> m_chunkPool; // the lanes' queues' spares
    std::size_t m_nextLane = 0;                 // take lock: where the next batch starts
    std::chrono::steady_clock::time_point m_lastSpareTrim;
    std::chrono::milliseconds m_unusedChunksKeptFor; // take lock
    std::atomic<quint64> m_takes{0}; // countOut() calls, read by producers that waited long
    char m_takeSidePadding[64];
    // Read by both sides all the time, written now and then (under both
    // locks, unless said otherwise).
    std::atomic<qsizetype> m_capacity;
    std::atomic<qint64> m_capacityBytes;
    std::atomic<OverflowPolicy> m_policy;
    MailboxConsumer *m_consumer = nullptr;
    MailboxReleaseObserver *m_releaseObserver = nullptr;
    std::atomic<bool> m_consumerGone{false};
    std::atomic<bool> m_finished{false}; // finishedLocked(), for the take side
    std::atomic<int> m_blockedProducers{0};
    // How many blocked producers the take side woke, one at a time, since a
    // producer last found the queue full; see roomNewsLocked().
    std::atomic<int> m_producersWoken{0};
    std::atomic<int> m_roomWatcherCount{0}; // m_roomWatchers.size(), for the take side
    // The largest message a waiting watcher was refused; written under the
    // registry lock before m_roomWatcherCount, read by the take side after it.
    std::atomic<qint64> m_roomNeededBytes{0};
    std::atomic<int> m_blockedConsumers{0};
    std::atomic<int> m_lanesLeft{0}; // lanes whose sender left, not yet reaped
    std::atomic<qint64> m_droppedSinceReport{0}; // read by every batch, written by drops
    char m_sharedPadding[64];
    // Written by both sides when a batch empties the queue and the next push
    // wakes the consumer, or when waiting.
    std::atomic<bool> m_wakePending{false};
    std::atomic<qint64> m_dropped{0};
    std::condition_variable m_roomAvailable;    // waited on with the registry lock
    std::condition_variable m_messageAvailable; // waited on with the take lock
};

} // namespace Qonduit

#endif // QONDUIT_MAILBOX_P_H
