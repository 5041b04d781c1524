#include "channel/mailbox_p.h"

#include <algorithm>
#include <chrono>
#include <new>

namespace Qonduit {

namespace {

// CPU pauses a thread spends on a busy mailbox lock before it sleeps in the
// kernel (a pause is 10-140 cycles depending on the CPU).
constexpr int SpinPauseBudget = 128;
constexpr int MaxPausesBetweenTries = 32;
// A producer blocked for room re-checks on its own this often, see push().
constexpr auto BlockedRecheckInterval = std::chrono::milliseconds(10);
// Room is reported once the queued bytes are this far below the byte bound
// (half of it, for a bound under twice this). Half of the bound, as for the
// message count, let a socket's 8 MiB send queue of 1 MiB messages swing by
// 4 MiB: the sending application's heap fell by that much each time, glibc
// gave the top of it back to the system, and every message was written into
// freshly faulted pages (docs/decisions.md D51).
constexpr qint64 RoomSlackBytes = qint64(1024) * 1024;
// Spare queue chunks that no push needed for this long are freed when a drain
// empties the queue (so, at the latest, by the first such drain twice this
// long after they were last needed).
constexpr auto UnusedChunksKeptFor = std::chrono::seconds(1);

inline void cpuRelax()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

// Both locks are held for a few dozen instructions at a time (a push, or a
// batch moved out): spinning briefly is far cheaper than sleeping in the
// kernel and being woken by the unlocker. The pauses between attempts double,
// so that waiting producers do not keep taking the lock's cache line away
// from the one that holds it.
std::unique_lock<std::mutex> spinLock(std::mutex &mutex)
{
    std::unique_lock lock(mutex, std::try_to_lock);
    for (int spent = 0, pauses = 1; !lock.owns_lock() && spent < SpinPauseBudget;
         spent += pauses, pauses = std::min(pauses * 2, MaxPausesBetweenTries)) {
        for (int i = 0; i < pauses; ++i)
            cpuRelax();
        lock.try_lock();
    }
    if (!lock.owns_lock())
        lock.lock();
    return lock;
}

} // namespace

// --- EnvelopeQueue ---

struct EnvelopeQueue::Chunk
{
    // Written by the producer side before the pushed count that publishes a
    // slot beyond it, read by the consumer side after; atomic because the
    // consumer side also peeks at it to prefetch.
    std::atomic<Chunk *> next{nullptr};
    // A cache line per slot, not a 48-byte envelope after another: when the
    // consumer drains right behind the producer, it reads a slot while the
    // producer writes the next, and two slots on one line made that line
    // travel between their cores twice per message (docs/decisions.md D48).
    static constexpr size_t SlotStride = 64;
    static_assert(sizeof(Envelope) <= SlotStride && alignof(Envelope) <= SlotStride);
    alignas(SlotStride) unsigned char storage[ChunkSlots * SlotStride];

    Envelope *slot(int index)
    {
        return std::launder(reinterpret_cast<Envelope *>(storage + size_t(index) * SlotStride));
    }
};

EnvelopeQueue::Retired::~Retired()
{
    while (m_chunks)
        delete std::exchange(m_chunks, m_chunks->next.load(std::memory_order_relaxed));
}

EnvelopeQueue::~EnvelopeQueue()
{
    for (qsizetype left = available(); left > 0; --left)
        popFront(nullptr);
    // What remains: the head chunk through the tail chunk, and the spares.
    Chunk *chunk = m_head ? m_head : m_first.load(std::memory_order_relaxed);
    while (chunk)
        delete std::exchange(chunk, chunk->next.load(std::memory_order_relaxed));
    while (m_spares)
        delete std::exchange(m_spares, m_spares->next.load(std::memory_order_relaxed));
}

EnvelopeQueue::Occupancy EnvelopeQueue::occupancyForPush() const
{
    const qint64 taken = m_taken.load(std::memory_order_seq_cst);
    const qint64 takenBytes = m_takenBytes.load(std::memory_order_acquire);
    return {qsizetype(m_pushed.load(std::memory_order_relaxed) - taken),
            m_pushedBytes.load(std::memory_order_relaxed) - takenBytes};
}

EnvelopeQueue::Occupancy EnvelopeQueue::occupancyForTake() const
{
    const qint64 pushed = m_pushed.load(std::memory_order_seq_cst);
    const qint64 pushedBytes = m_pushedBytes.load(std::memory_order_acquire);
    return {qsizetype(pushed - m_taken.load(std::memory_order_relaxed)),
            std::max<qint64>(0, pushedBytes - m_takenBytes.load(std::memory_order_relaxed))};
}

qsizetype EnvelopeQueue::available() const
{
    return qsizetype(m_pushed.load(std::memory_order_seq_cst) - m_taken.load(std::memory_order_relaxed));
}

EnvelopeQueue::Chunk *EnvelopeQueue::takeSpare()
{
    const std::lock_guard lock(m_poolMutex);
    Chunk *chunk = m_spares;
    if (chunk) {
        m_spares = chunk->next.load(std::memory_order_relaxed);
        --m_spareCount;
        m_sparesUnused = std::min(m_sparesUnused, m_spareCount);
        chunk->next.store(nullptr, std::memory_order_relaxed);
    } else {
        chunk = new Chunk;
        ++m_chunks;
    }
    return chunk;
}

void EnvelopeQueue::giveBack(Chunk *chunk)
{
    const std::lock_guard lock(m_poolMutex);
    chunk->next.store(m_spares, std::memory_order_relaxed);
    m_spares = chunk;
    ++m_spareCount;
}

qsizetype EnvelopeQueue::chunkCount() const
{
    const std::lock_guard lock(m_poolMutex);
    return m_chunks;
}

qsizetype EnvelopeQueue::spareChunkCount() const
{
    const std::lock_guard lock(m_poolMutex);
    return m_spareCount;
}

void EnvelopeQueue::trimSpares(Retired &retired)
{
    const std::lock_guard lock(m_poolMutex);
    retireSparesLocked(m_spareCount - KeptSpareChunks, retired);
}

void EnvelopeQueue::trimUnneededSpares(Retired &retired)
{
    const std::lock_guard lock(m_poolMutex);
    // The pool is a stack: the spares it never handed out are the ones at
    // the bottom, the chunks the last bursts did not reach.
    retireSparesLocked(m_sparesUnused - KeptSpareChunks, retired);
}

void EnvelopeQueue::retireSparesLocked(qsizetype count, Retired &retired)
{
    for (; count > 0; --count) {
        Chunk *const chunk = std::exchange(m_spares, m_spares->next.load(std::memory_order_relaxed));
        --m_spareCount;
        --m_chunks;
        chunk->next.store(retired.m_chunks, std::memory_order_relaxed);
        retired.m_chunks = chunk;
    }
    m_sparesUnused = m_spareCount;
}

void EnvelopeQueue::pushBack(Envelope &&envelope)
{
    if (!m_tail || m_tailIndex == ChunkSlots) {
        Chunk *const chunk = takeSpare();
        // Both published by the pushed count below.
        if (m_tail)
            m_tail->next.store(chunk, std::memory_order_relaxed);
        else
            m_first.store(chunk, std::memory_order_relaxed);
        m_tail = chunk;
        m_tailIndex = 0;
    }
    // The consumer side read this chunk's slots last: claim the line a few
    // pushes ahead for writing.
    if (m_tailIndex + PrefetchSlots < ChunkSlots)
        __builtin_prefetch(m_tail->slot(m_tailIndex + PrefetchSlots), 1);
    const qint64 bytes = envelope.bytes;
    new (m_tail->slot(m_tailIndex)) Envelope(std::move(envelope));
    ++m_tailIndex;
    m_pushedBytes.store(m_pushedBytes.load(std::memory_order_relaxed) + bytes, std::memory_order_release);
    m_pushed.store(m_pushed.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
}

void *EnvelopeQueue::nextSlot() const
{
    return m_tail && m_tailIndex < ChunkSlots ? m_tail->slot(m_tailIndex) : nullptr;
}

Envelope &EnvelopeQueue::headSlot()
{
    if (!m_head) {
        // Published, with the first slot, by a pushed count available() read.
        m_head = m_first.load(std::memory_order_relaxed);
    } else if (m_headIndex == ChunkSlots) {
        // Left only now that a slot beyond it is published, so its link is.
        Chunk *const done = std::exchange(m_head, m_head->next.load(std::memory_order_relaxed));
        m_headIndex = 0;
        giveBack(done);
    }
    // Another thread wrote these slots: ask for the lines a few slots ahead,
    // so that the misses overlap instead of coming one by one.
    if (m_headIndex + PrefetchSlots < ChunkSlots)
        __builtin_prefetch(m_head->slot(m_headIndex + PrefetchSlots));
    return *m_head->slot(m_headIndex);
}

qint64 EnvelopeQueue::popFront(Envelope *out)
{
    Q_ASSERT(available() > 0);
    Envelope &envelope = headSlot();
    const qint64 bytes = envelope.bytes;
    if (out)
        *out = std::move(envelope);
    envelope.~Envelope();
    ++m_headIndex;
    // Bytes first: see occupancyForPush().
    m_takenBytes.store(m_takenBytes.load(std::memory_order_relaxed) + bytes, std::memory_order_release);
    m_taken.store(m_taken.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
    return bytes;
}

EnvelopeQueue::Occupancy EnvelopeQueue::takeFront(qsizetype count, qint64 maxBytes, std::vector<Envelope> &out)
{
    Q_ASSERT(count <= available());
    Occupancy taken;
    if (count <= 0)
        return taken;
    out.reserve(out.size() + size_t(count));
    while (taken.count < count && (taken.count == 0 || taken.bytes < maxBytes)) {
        Envelope &envelope = headSlot();
        taken.bytes += envelope.bytes;
        out.push_back(std::move(envelope));
        envelope.~Envelope();
        ++m_headIndex;
        ++taken.count;
    }
    m_takenBytes.store(m_takenBytes.load(std::memory_order_relaxed) + taken.bytes, std::memory_order_release);
    m_taken.store(m_taken.load(std::memory_order_relaxed) + taken.count, std::memory_order_seq_cst);
    return taken;
}

// --- Mailbox ---
//
// The wake-up protocol across the two locks rests on three pairs of
// sequentially consistent accesses, each a store by one side followed by a
// load of what the other side stores (so that at least one of the two sees
// the other's store), plus, where a thread then waits, the notifier taking
// the waiter's lock first (so that the waiter is either still to check, or
// waiting):
//   - wake-up pending: a push publishes, then loads m_wakePending; a batch
//     that emptied the queue stores m_wakePending = false, then re-reads the
//     pushed count (and m_finished, which removeSender() stores before its
//     own load of m_wakePending). Either the producer wakes the consumer, or
//     the consumer sees the message and schedules itself.
//   - blocked take(): it counts itself in m_blockedConsumers, then re-checks
//     the queue; a push publishes, then loads m_blockedConsumers.
//   - blocked push(): it counts itself in m_blockedProducers, then re-checks
//     the room; a take stores the taken count, then loads m_blockedProducers.
//     The same for watchForRoom() and m_roomWatcherCount.

Mailbox::Mailbox(const Limits &limits)
    : m_queue(std::make_unique<EnvelopeQueue>())
    , m_limits(limits)
{
}

std::unique_lock<std::mutex> Mailbox::lockPush() const
{
    return spinLock(m_pushMutex);
}

std::unique_lock<std::mutex> Mailbox::lockTake() const
{
    return spinLock(m_takeMutex);
}

Mailbox::BothLocks Mailbox::lockBoth() const
{
    BothLocks locks;
    locks.push = lockPush();
    locks.take = lockTake();
    return locks;
}

Mailbox::Limits Mailbox::limits() const
{
    const auto lock = lockPush();
    return m_limits;
}

bool Mailbox::addSender()
{
    const auto lock = lockPush();
    // A clone racing with the close of the last sender must not reopen a
    // channel whose receiver may already have reported closed().
    if (finishedLocked())
        return false;
    ++m_senders;
    m_hadSenders = true;
    return true;
}

void Mailbox::removeSender()
{
    const auto lock = lockPush();
    Q_ASSERT(m_senders > 0);
    // A producer blocked in push() on behalf of the sender that just closed
    // must re-check its sender's state.
    if (m_blockedProducers.load(std::memory_order_relaxed) > 0)
        m_roomAvailable.notify_all();
    if (--m_senders > 0)
        return;
    // The consumer must learn that nothing more will come, even with an empty
    // queue; a blocked take() must return.
    m_finished.store(true, std::memory_order_seq_cst);
    notifyBlockedConsumersLocked();
    wakeConsumerLocked();
}

bool Mailbox::fitsLocked(qint64 incomingBytes) const
{
    // Exact: only the consumer side can change the occupancy meanwhile, and
    // only by making room.
    const EnvelopeQueue::Occupancy queued = m_queue->occupancyForPush();
    // An empty queue always takes one message, however large, so a message
    // above the byte bound is delivered rather than refused forever.
    if (queued.count == 0)
        return true;
    return queued.count < m_limits.capacity && queued.bytes + incomingBytes <= m_limits.capacityBytes;
}

void Mailbox::enqueueLocked(Envelope &envelope)
{
    m_queue->pushBack(std::move(envelope));
    m_nextSlotHint.store(m_queue->nextSlot(), std::memory_order_relaxed);
    notifyBlockedConsumersLocked();
    wakeConsumerLocked();
}

void Mailbox::notifyBlockedConsumersLocked()
{
    if (m_blockedConsumers.load(std::memory_order_seq_cst) > 0) {
        // A take() between its check and its wait holds the take lock.
        const auto lock = lockTake();
        m_messageAvailable.notify_all();
    }
}

void Mailbox::wakeConsumerLocked()
{
    if (!m_consumer || m_wakePending.load(std::memory_order_seq_cst)
        || m_wakePending.exchange(true, std::memory_order_seq_cst)) {
        return;
    }
    m_consumer->wake();
}

void Mailbox::releaseLocked(qint64 bytes)
{
    if (m_releaseObserver && bytes > 0)
        m_releaseObserver->released(bytes);
}

void Mailbox::dropOldestLocked()
{
    releaseLocked(m_queue->popFront(nullptr));
    m_dropped.fetch_add(1, std::memory_order_relaxed);
    m_droppedSinceReport.fetch_add(1, std::memory_order_relaxed);
}

void Mailbox::trimQueueLocked(EnvelopeQueue::Retired &retired)
{
    // Only reads the clock when there is something to free.
    if (m_queue->spareChunkCount() <= EnvelopeQueue::KeptSpareChunks)
        return;
    if (m_finished.load(std::memory_order_relaxed)) {
        m_queue->trimSpares(retired);
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - m_lastSpareTrim >= UnusedChunksKeptFor) {
        m_queue->trimUnneededSpares(retired);
        m_lastSpareTrim = now;
    }
}

bool Mailbox::roomWorthNotifyingLocked() const
{
    // Waking a producer for every batch taken makes it run, queue a batch and
    // sleep again, over and over: blocked producers and watchers hear of
    // room once the queue drained to half its message bound and RoomSlackBytes
    // below its byte bound (or emptied, for a message that needs more).
    if (m_blockedProducers.load(std::memory_order_seq_cst) == 0
        && m_roomWatcherCount.load(std::memory_order_seq_cst) == 0) {
        return false;
    }
    return roomAgainLocked();
}

bool Mailbox::roomAgainLocked() const
{
    const EnvelopeQueue::Occupancy queued = m_queue->occupancyForTake();
    if (queued.count == 0)
        return true;
    const qint64 bytesBound = m_limits.capacityBytes;
    const qint64 byteThreshold = std::max(bytesBound / 2, bytesBound - RoomSlackBytes);
    return queued.count <= m_limits.capacity / 2 && queued.bytes <= byteThreshold
        && queued.bytes + m_roomNeededBytes.load(std::memory_order_relaxed) <= bytesBound;
}

void Mailbox::notifyRoom(bool tellWatchers)
{
    // A producer between finding the queue full and waiting holds the push
    // lock: once we had it, each blocked producer is waiting, or will see
    // the room when it checks.
    auto lock = lockPush();
    if (tellWatchers)
        tellRoomWatchersLocked();
    lock.unlock();
    m_roomAvailable.notify_all();
}

void Mailbox::watchForRoom(MailboxRoomWatcher *watcher, qint64 neededBytes)
{
    const auto lock = lockPush();
    if (neededBytes > m_roomNeededBytes.load(std::memory_order_relaxed))
        m_roomNeededBytes.store(neededBytes, std::memory_order_relaxed);
    if (std::find(m_roomWatchers.begin(), m_roomWatchers.end(), watcher) == m_roomWatchers.end()) {
        m_roomWatchers.push_back(watcher);
        m_roomWatcherCount.store(int(m_roomWatchers.size()), std::memory_order_seq_cst);
    }
    // Re-checked once counted, see the protocol above: the room may have
    // come between the refused push and now.
    if (m_consumerGone || roomAgainLocked())
        tellRoomWatchersLocked();
}

void Mailbox::stopWatchingForRoom(MailboxRoomWatcher *watcher)
{
    const auto lock = lockPush();
    m_roomWatchers.erase(std::remove(m_roomWatchers.begin(), m_roomWatchers.end(), watcher), m_roomWatchers.end());
    m_roomWatcherCount.store(int(m_roomWatchers.size()), std::memory_order_relaxed);
}

void Mailbox::tellRoomWatchersLocked()
{
    const std::vector<MailboxRoomWatcher *> watchers = std::exchange(m_roomWatchers, {});
    m_roomWatcherCount.store(0, std::memory_order_relaxed);
    m_roomNeededBytes.store(0, std::memory_order_relaxed);
    for (MailboxRoomWatcher *watcher : watchers)
        watcher->roomAvailable();
}

Mailbox::PushResult Mailbox::offerLocked(Envelope &envelope, const std::atomic<bool> *senderOpen)
{
    if (m_consumerGone || finishedLocked() || (senderOpen && !senderOpen->load()))
        return PushResult::Closed;
    if (!fitsLocked(envelope.bytes)) {
        switch (m_limits.policy) {
        case OverflowPolicy::Reject:
        case OverflowPolicy::Block:
            return PushResult::Full;
        case OverflowPolicy::DropNewest:
            m_dropped.fetch_add(1, std::memory_order_relaxed);
            m_droppedSinceReport.fetch_add(1, std::memory_order_relaxed);
            return PushResult::DroppedNewest;
        case OverflowPolicy::DropOldest: {
            const auto takeLock = lockTake();
            while (!fitsLocked(envelope.bytes))
                dropOldestLocked();
            break;
        }
        }
    }
    enqueueLocked(envelope);
    return PushResult::Queued;
}

Mailbox::PushResult Mailbox::push(Envelope &envelope, bool mayBlock, const std::atomic<bool> *senderOpen)
{
    m_payloadReturn.freeHandedOver();
    // Most likely the slot this push will write (or the one next to it, if
    // another producer is first): its line is fetched while this thread
    // waits for the lock, not while it holds it. A stale address is harmless
    // to a prefetch.
    if (void *slot = m_nextSlotHint.load(std::memory_order_relaxed))
        __builtin_prefetch(slot, 1);
    auto lock = lockPush();
    for (;;) {
        const PushResult result = offerLocked(envelope, senderOpen);
        if (result != PushResult::Full || !mayBlock || m_limits.policy != OverflowPolicy::Block)
            return result;
        m_blockedProducers.fetch_add(1, std::memory_order_seq_cst);
        // Re-checked once counted, see the protocol above. The timeout is a
        // safety net, not the wake-up: should the consumer stop draining
        // above half (say, its slot waits for a lock this producer's thread
        // holds), room for this one message is still noticed.
        if (!fitsLocked(envelope.bytes))
            m_roomAvailable.wait_for(lock, BlockedRecheckInterval);
        m_blockedProducers.fetch_sub(1, std::memory_order_relaxed);
    }
}

qint64 Mailbox::pushFront(std::deque<Envelope> &batch)
{
    qint64 discarded = 0;
    std::vector<Envelope> refused; // destroyed after unlocking: payloads may run user code
    {
        const auto lock = lockPush();
        while (!batch.empty()) {
            Envelope &front = batch.front();
            const qint64 bytes = front.bytes;
            const PushResult result = offerLocked(front, nullptr);
            if (result == PushResult::Full)
                break;
            if (result != PushResult::Queued) {
                discarded += bytes;
                refused.push_back(std::move(front));
            }
            batch.pop_front();
        }
    }
    return discarded;
}

bool Mailbox::pushUnbounded(Envelope &envelope)
{
    const auto lock = lockPush();
    if (m_consumerGone)
        return false;
    enqueueLocked(envelope);
    return true;
}

void Mailbox::setReleaseObserver(MailboxReleaseObserver *observer)
{
    const BothLocks locks = lockBoth();
    m_releaseObserver = observer;
}

bool Mailbox::consumerDrainsOnCurrentThread() const
{
    const auto lock = lockPush();
    return m_consumer && m_consumer->drainsOnCurrentThread();
}

void Mailbox::attachConsumer(MailboxConsumer *consumer)
{
    const BothLocks locks = lockBoth();
    Q_ASSERT(!m_consumerGone);
    m_consumer = consumer;
    m_wakePending.store(false, std::memory_order_seq_cst);
    if (m_queue->available() > 0 || finishedLocked())
        wakeConsumerLocked();
}

void Mailbox::detachConsumer()
{
    auto fresh = std::make_unique<EnvelopeQueue>();
    std::unique_ptr<EnvelopeQueue> discarded;
    {
        const BothLocks locks = lockBoth();
        m_consumer = nullptr;
        m_consumerGone = true;
        const qint64 bytes = m_queue->occupancy().bytes;
        discarded = std::exchange(m_queue, std::move(fresh));
        m_nextSlotHint.store(nullptr, std::memory_order_relaxed);
        releaseLocked(bytes);
        m_roomAvailable.notify_all();
        m_messageAvailable.notify_all();
        tellRoomWatchersLocked();
    }
    // Payload destructors run outside the locks: they may be arbitrary user code.
    m_payloadReturn.clear();
}

bool Mailbox::queueDrainedLocked() const
{
    // m_finished first: it is stored after the last push it follows.
    return m_finished.load(std::memory_order_seq_cst) && m_queue->available() == 0;
}

Mailbox::Batch Mailbox::takeBatch(std::vector<Envelope> &out, qsizetype max, qint64 maxBytes)
{
    EnvelopeQueue::Retired retired; // freed after unlocking
    bool notify = false;
    Batch batch;
    {
        const auto lock = lockTake();
        const qsizetype count = std::min<qsizetype>(max, m_queue->available());
        releaseLocked(m_queue->takeFront(count, maxBytes, out).bytes);
        notify = roomWorthNotifyingLocked();
        // Read before written: an exchange would take the line from the
        // producers at every batch.
        if (m_droppedSinceReport.load(std::memory_order_relaxed) != 0)
            batch.lagged = m_droppedSinceReport.exchange(0, std::memory_order_relaxed);
        batch.more = m_queue->available() > 0;
        if (!batch.more) {
            m_wakePending.store(false, std::memory_order_seq_cst);
            // A push published since available() looked may have found the
            // wake-up still pending: then this consumer schedules itself.
            if (m_queue->available() > 0 && !m_wakePending.exchange(true, std::memory_order_seq_cst))
                batch.more = true;
        }
        batch.finished = !batch.more && queueDrainedLocked();
        if (m_queue->available() == 0)
            trimQueueLocked(retired);
    }
    if (notify)
        notifyRoom(true);
    return batch;
}

Mailbox::TakeResult Mailbox::take(Envelope &out, QDeadlineTimer deadline, qint64 *lagged)
{
    EnvelopeQueue::Retired retired; // freed after unlocking
    bool notify = false;
    bool tellWatchers = false;
    {
        auto lock = lockTake();
        while (m_queue->available() == 0) {
            if (m_consumerGone || queueDrainedLocked())
                return TakeResult::Finished;
            if (deadline.hasExpired())
                return TakeResult::TimedOut;
            m_blockedConsumers.fetch_add(1, std::memory_order_seq_cst);
            // Re-checked once counted, see the protocol above.
            if (m_queue->available() == 0 && !m_consumerGone && !queueDrainedLocked()) {
                if (deadline.isForever())
                    m_messageAvailable.wait(lock);
                else
                    m_messageAvailable.wait_for(lock, deadline.remainingTimeAsDuration());
            }
            m_blockedConsumers.fetch_sub(1, std::memory_order_relaxed);
        }
        releaseLocked(m_queue->popFront(&out));
        // One message at a time: whoever takes that way may take no more for
        // a while, so a blocked producer hears of every bit of room.
        tellWatchers = roomWorthNotifyingLocked();
        notify = tellWatchers || m_blockedProducers.load(std::memory_order_seq_cst) > 0;
        if (lagged) {
            *lagged = m_droppedSinceReport.load(std::memory_order_relaxed) != 0
                ? m_droppedSinceReport.exchange(0, std::memory_order_relaxed)
                : 0;
        }
        // m_wakePending stays as it is: a wake-up already in flight clears it
        // when it runs, and clearing it here would post one event per message
        // to a receiver whose thread may never process them.
        if (m_queue->available() == 0)
            trimQueueLocked(retired);
    }
    if (notify)
        notifyRoom(tellWatchers);
    return TakeResult::Taken;
}

qint64 Mailbox::droppedCount() const
{
    return m_dropped.load(std::memory_order_relaxed);
}

qsizetype Mailbox::queuedCount() const
{
    // Exact: under the take lock only pushes can change it, after the load.
    const auto lock = lockTake();
    return m_queue->available();
}

int Mailbox::blockedProducerCount() const
{
    return m_blockedProducers.load(std::memory_order_seq_cst);
}

qsizetype Mailbox::queueChunkCount() const
{
    const auto lock = lockTake();
    return m_queue->chunkCount();
}

bool Mailbox::isFinished() const
{
    const auto lock = lockTake();
    return queueDrainedLocked();
}

} // namespace Qonduit
