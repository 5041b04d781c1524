#include "channel/mailbox_p.h"

#include <QtCore/qscopeguard.h>

#include <algorithm>
#include <chrono>
#include <new>
#include <thread>

namespace Qonduit {

namespace {

// CPU pauses a thread spends on a busy mailbox lock before it sleeps in the
// kernel (a pause is 10-140 cycles depending on the CPU).
constexpr int SpinPauseBudget = 128;
constexpr int MaxPausesBetweenTries = 32;
// A producer blocked for room re-checks on its own once the consumer took
// nothing for this long, see waitForRoomLocked().
constexpr auto DefaultBlockedRecheckInterval = std::chrono::milliseconds(10);
// Room is reported once the queued bytes are this far below the byte bound
// (half of it, for a bound under twice this). Half of the bound, as for the
// message count, let a socket's 8 MiB send queue of 1 MiB messages swing by
// 4 MiB: the sending application's heap fell by that much each time, glibc
// gave the top of it back to the system, and every message was written into
// freshly faulted pages (docs/decisions.md D51).
constexpr qint64 RoomSlackBytes = qint64(1024) * 1024;
// A producer blocked for room is woken once the queue drained by this part
// of its message bound, see roomForBlockedProducer().
constexpr qint64 FirstProducerWakeFraction = 16;
// Past this many producers woken one at a time, the next waits for an empty
// queue (the room they wait for doubles with each).
constexpr int MaxRoomStage = 30;
// Spare queue chunks that no push needed for this long are freed when a drain
// empties the queue (so, at the latest, by the first such drain twice this
// long after they were last needed).
constexpr auto DefaultUnusedChunksKeptFor = std::chrono::seconds(1);

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

EnvelopeQueue::EnvelopeQueue(std::shared_ptr<Pool> pool)
    : m_pool(std::move(pool))
{
}

EnvelopeQueue::~EnvelopeQueue()
{
    for (qsizetype left = available(); left > 0; --left)
        popFront(nullptr);
    // What remains: the head chunk through the tail chunk.
    Chunk *chunk = m_head ? m_head : m_first.load(std::memory_order_relaxed);
    while (chunk)
        m_pool->giveBack(std::exchange(chunk, chunk->next.load(std::memory_order_relaxed)));
}

qsizetype EnvelopeQueue::available() const
{
    return qsizetype(m_pushed.load(std::memory_order_seq_cst) - m_taken.load(std::memory_order_relaxed));
}

EnvelopeQueue::Pool::~Pool()
{
    Q_ASSERT(m_spareCount == m_chunks); // every queue gave its chunks back
    while (m_spares)
        delete std::exchange(m_spares, m_spares->next.load(std::memory_order_relaxed));
}

// Every lane's producer and the consumer meet on this lock, about once per
// ChunkSlots messages each: it is held for a few instructions, and never
// around an allocation. With more producers than CPUs, an allocation under it
// (which may grow the heap with a system call) made the producers and the
// consumer queue up behind it in the kernel, one context switch per chunk.
EnvelopeQueue::Chunk *EnvelopeQueue::Pool::take()
{
    {
        const std::unique_lock lock = spinLock(m_mutex);
        if (Chunk *const chunk = m_spares) {
            m_spares = chunk->next.load(std::memory_order_relaxed);
            --m_spareCount;
            m_sparesUnused = std::min(m_sparesUnused, m_spareCount);
            chunk->next.store(nullptr, std::memory_order_relaxed);
            return chunk;
        }
        ++m_chunks;
    }
    return new Chunk;
}

void EnvelopeQueue::Pool::giveBack(Chunk *chunk)
{
    const std::unique_lock lock = spinLock(m_mutex);
    chunk->next.store(m_spares, std::memory_order_relaxed);
    m_spares = chunk;
    ++m_spareCount;
}

qsizetype EnvelopeQueue::Pool::chunkCount() const
{
    const std::lock_guard lock(m_mutex);
    return m_chunks;
}

qsizetype EnvelopeQueue::Pool::spareChunkCount() const
{
    const std::lock_guard lock(m_mutex);
    return m_spareCount;
}

void EnvelopeQueue::Pool::trimSpares(Retired &retired)
{
    const std::lock_guard lock(m_mutex);
    retireSparesLocked(m_spareCount - KeptSpareChunks, retired);
}

void EnvelopeQueue::Pool::trimUnneededSpares(Retired &retired)
{
    const std::lock_guard lock(m_mutex);
    // The pool is a stack: the spares it never handed out are the ones at
    // the bottom, the chunks the last bursts did not reach.
    retireSparesLocked(m_sparesUnused - KeptSpareChunks, retired);
}

void EnvelopeQueue::Pool::retireSparesLocked(qsizetype count, Retired &retired)
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
        Chunk *const chunk = m_pool->take();
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
    relocate(envelope, m_tail->slot(m_tailIndex));
    ++m_tailIndex;
    m_pushed.store(m_pushed.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
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
        m_pool->giveBack(done);
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
        // Left default-constructed, owning nothing: the slot is reused as
        // it is, with no destructor to run.
        relocateBack(out, envelope);
        ++m_headIndex;
        ++taken.count;
    }
    m_taken.store(m_taken.load(std::memory_order_relaxed) + taken.count, std::memory_order_seq_cst);
    return taken;
}

// --- Mailbox ---
//
// The wake-up protocol rests on three pairs of sequentially consistent
// accesses, each a store by one side followed by a load of what the other
// side stores (so that at least one of the two sees the other's store), plus,
// where a thread then waits, the notifier taking the waiter's lock first (so
// that the waiter is either still to check, or waiting):
//   - wake-up pending: a push publishes in its lane, then loads
//     m_wakePending; a batch that emptied the queue stores m_wakePending =
//     false, then re-reads every lane's pushed count (and m_finished, which
//     removeSender() stores before its own load of m_wakePending). Either the
//     producer wakes the consumer, or the consumer sees the message and
//     schedules itself.
//   - blocked take(): it counts itself in m_blockedConsumers, then re-checks
//     the lanes; a push publishes, then loads m_blockedConsumers.
//   - blocked push(): it counts itself in m_blockedProducers, then re-checks
//     the room; a take counts its messages out of the occupancy counters,
//     then loads m_blockedProducers. The same for watchForRoom() and
//     m_roomWatcherCount.

class alignas(64) Mailbox::Lane
{
public:
    explicit Lane(std::shared_ptr<EnvelopeQueue::Pool> chunkPool)
        : queue(std::move(chunkPool))
    {
    }

    // The producer side of queue: one push at a time.
    std::mutex mutex;
    // Stored under mutex when the sender leaves: no push comes after it.
    std::atomic<bool> left{false};
    EnvelopeQueue queue;
    // Small payloads of this lane's messages, back for its producer to free
    // on the thread that allocated them (D47).
    PayloadReturn payloadReturn;
};

Mailbox::Mailbox(const Limits &limits)
    : m_blockedRecheckInterval(DefaultBlockedRecheckInterval)
    , m_chunkPool(std::make_shared<EnvelopeQueue::Pool>())
    , m_lastSpareTrim(std::chrono::steady_clock::now())
    , m_unusedChunksKeptFor(DefaultUnusedChunksKeptFor)
    , m_capacity(limits.capacity)
    , m_capacityBytes(limits.capacityBytes)
    , m_policy(limits.policy)
{
}

Mailbox::~Mailbox() = default;

std::unique_lock<std::mutex> Mailbox::lockRegistry() const
{
    return spinLock(m_registryMutex);
}

std::unique_lock<std::mutex> Mailbox::lockTake() const
{
    return spinLock(m_takeMutex);
}

Mailbox::BothLocks Mailbox::lockBoth() const
{
    BothLocks locks;
    locks.registry = lockRegistry();
    locks.take = lockTake();
    return locks;
}

Mailbox::Limits Mailbox::limits() const
{
    return {m_capacity.load(std::memory_order_relaxed), m_capacityBytes.load(std::memory_order_relaxed),
            m_policy.load(std::memory_order_relaxed)};
}

void Mailbox::storeLimitsLocked(const Limits &limits)
{
    m_capacity.store(limits.capacity, std::memory_order_relaxed);
    m_capacityBytes.store(limits.capacityBytes, std::memory_order_relaxed);
    m_policy.store(limits.policy, std::memory_order_relaxed);
    wakeEveryBlockedProducerLocked();
    if (roomAgainLocked())
        tellRoomWatchersLocked();
}

EnvelopeQueue::Occupancy Mailbox::occupancy() const
{
    return {qsizetype(m_queuedCount.load(std::memory_order_seq_cst)), m_queuedBytes.load(std::memory_order_seq_cst)};
}

bool Mailbox::fits(qint64 incomingBytes) const
{
    // As reserve() counts.
    const EnvelopeQueue::Occupancy queued = occupancy();
    return (queued.count == 0 || queued.count < m_capacity.load(std::memory_order_relaxed))
        && (queued.bytes == 0 || queued.bytes + incomingBytes <= m_capacityBytes.load(std::memory_order_relaxed));
}

bool Mailbox::reserve(qint64 bytes, bool dropping)
{
    // While a DropOldest push makes room for itself, it alone reserves: its
    // message may need the queue empty, which others refilling it would
    // put off for ever. The others wait for it at the take lock.
    if (!dropping && m_dropping.load(std::memory_order_relaxed) > 0)
        return false;
    // Each bound is checked and counted in one compare-and-swap, so that a
    // refused push changes nothing another could see; only when the bytes
    // fit and the message count does not are the bytes given back, and a
    // push racing for the last bytes in that moment finds the queue full.
    // Bytes first: a message above the byte bound still enters a queue that
    // holds none, so that it is delivered rather than refused for ever, and
    // no other push gets in beside it.
    const qint64 capacityBytes = m_capacityBytes.load(std::memory_order_relaxed);
    qint64 queuedBytes = m_queuedBytes.load(std::memory_order_relaxed);
    do {
        if (queuedBytes > 0 && queuedBytes + bytes > capacityBytes)
            return false;
    } while (!m_queuedBytes.compare_exchange_weak(queuedBytes, queuedBytes + bytes, std::memory_order_seq_cst,
                                                  std::memory_order_relaxed));
    const qsizetype capacity = m_capacity.load(std::memory_order_relaxed);
    qint64 count = m_queuedCount.load(std::memory_order_relaxed);
    do {
        if (count > 0 && count >= capacity) {
            m_queuedBytes.fetch_sub(bytes, std::memory_order_seq_cst);
            return false;
        }
    } while (!m_queuedCount.compare_exchange_weak(count, count + 1, std::memory_order_seq_cst,
                                                  std::memory_order_relaxed));
    return true;
}

void Mailbox::countIn(qsizetype count, qint64 bytes)
{
    m_queuedCount.fetch_add(count, std::memory_order_seq_cst);
    m_queuedBytes.fetch_add(bytes, std::memory_order_seq_cst);
}

void Mailbox::countOut(qsizetype count, qint64 bytes)
{
    m_queuedBytes.fetch_sub(bytes, std::memory_order_seq_cst);
    m_queuedCount.fetch_sub(count, std::memory_order_seq_cst);
    m_takes.store(m_takes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::shared_ptr<Mailbox::Lane> Mailbox::addSender()
{
    auto lane = std::make_shared<Lane>(m_chunkPool);
    const BothLocks locks = lockBoth();
    // A clone racing with the close of the last sender must not reopen a
    // channel whose receiver may already have reported closed().
    if (finishedLocked())
        return nullptr;
    ++m_senders;
    m_hadSenders = true;
    m_lanes.push_back(lane);
    return lane;
}

void Mailbox::removeSender(Lane &lane)
{
    {
        const auto laneLock = spinLock(lane.mutex);
        Q_ASSERT(!lane.left.load(std::memory_order_relaxed));
        lane.left.store(true, std::memory_order_seq_cst);
    }
    m_lanesLeft.fetch_add(1, std::memory_order_relaxed);
    const auto lock = lockRegistry();
    Q_ASSERT(m_senders > 0);
    // A producer blocked in push() on behalf of the sender that just left
    // must re-check its sender's state.
    if (m_blockedProducers.load(std::memory_order_relaxed) > 0)
        wakeEveryBlockedProducerLocked();
    if (--m_senders > 0)
        return;
    // The consumer must learn that nothing more will come, even with an empty
    // queue; a blocked take() must return.
    m_finished.store(true, std::memory_order_seq_cst);
    notifyBlockedConsumers();
    wakeConsumerLocked();
}

void Mailbox::enqueueLocked(Lane &lane, Envelope &envelope)
{
    lane.queue.pushBack(std::move(envelope));
    notifyBlockedConsumers();
    wakeConsumer();
}

void Mailbox::notifyBlockedConsumers()
{
    if (m_blockedConsumers.load(std::memory_order_seq_cst) > 0) {
        // A take() between its check and its wait holds the take lock.
        const auto lock = lockTake();
        m_messageAvailable.notify_all();
    }
}

void Mailbox::wakeConsumer()
{
    if (m_wakePending.load(std::memory_order_seq_cst))
        return;
    const auto lock = lockRegistry();
    wakeConsumerLocked();
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

void Mailbox::dropOldestUntilReserved(qint64 bytes)
{
    auto takeLock = lockTake();
    m_dropping.fetch_add(1, std::memory_order_seq_cst);
    const auto reopen = qScopeGuard([this] { m_dropping.fetch_sub(1, std::memory_order_seq_cst); });
    while (!reserve(bytes, true)) {
        const qint64 dropped = popOldestLocked(nullptr);
        if (dropped < 0) {
            // What fills the queue is still being written by other pushes,
            // which hold no lock of ours: let them publish it.
            takeLock.unlock();
            std::this_thread::yield();
            takeLock.lock();
            continue;
        }
        countOut(1, dropped);
        releaseLocked(dropped);
        m_dropped.fetch_add(1, std::memory_order_relaxed);
        m_droppedSinceReport.fetch_add(1, std::memory_order_relaxed);
    }
}

bool Mailbox::anyAvailableLocked() const
{
    return std::any_of(m_lanes.begin(), m_lanes.end(),
                       [](const std::shared_ptr<Lane> &lane) { return lane->queue.available() > 0; });
}

qint64 Mailbox::popOldestLocked(Envelope *out)
{
    // The oldest message of the lane whose turn it is: the one the consumer
    // would take next.
    const std::size_t lanes = m_lanes.size();
    for (std::size_t i = 0; i < lanes; ++i) {
        Lane &lane = *m_lanes[(m_nextLane + i) % lanes];
        if (lane.queue.available() > 0)
            return lane.queue.popFront(out);
    }
    return -1;
}

EnvelopeQueue::Occupancy Mailbox::takeLocked(qsizetype max, qint64 maxBytes, std::vector<Envelope> &out,
                                             std::vector<std::shared_ptr<Lane>> &takenFrom)
{
    EnvelopeQueue::Occupancy taken;
    const std::size_t lanes = m_lanes.size();
    for (std::size_t i = 0; i < lanes && taken.count < max && (taken.count == 0 || taken.bytes < maxBytes); ++i) {
        const std::shared_ptr<Lane> &lane = m_lanes[(m_nextLane + i) % lanes];
        const qsizetype available = lane->queue.available();
        if (available == 0)
            continue;
        const EnvelopeQueue::Occupancy moved = lane->queue.takeFront(
            std::min(available, max - taken.count), taken.count == 0 ? maxBytes : maxBytes - taken.bytes, out);
        taken.count += moved.count;
        taken.bytes += moved.bytes;
        takenFrom.push_back(lane);
    }
    // The next batch starts with the next lane, so that none waits behind
    // another that never runs dry.
    if (lanes > 0)
        m_nextLane = (m_nextLane + 1) % lanes;
    return taken;
}

void Mailbox::reapLeftLanesLocked(std::vector<std::shared_ptr<Lane>> &reaped)
{
    if (m_lanesLeft.load(std::memory_order_relaxed) == 0)
        return;
    // Taken to the end: their sender left before its last message was.
    const auto done = [](const std::shared_ptr<Lane> &lane) {
        return lane->left.load(std::memory_order_seq_cst) && lane->queue.available() == 0;
    };
    int count = 0;
    for (auto it = m_lanes.begin(); it != m_lanes.end();) {
        if (done(*it)) {
            // No producer will come for what its return holds.
            (*it)->payloadReturn.clear();
            reaped.push_back(std::move(*it));
            it = m_lanes.erase(it);
            ++count;
        } else {
            ++it;
        }
    }
    m_lanesLeft.fetch_sub(count, std::memory_order_relaxed);
}

void Mailbox::trimQueuesLocked(EnvelopeQueue::Retired &retired)
{
    if (m_finished.load(std::memory_order_relaxed)) {
        m_chunkPool->trimSpares(retired);
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - m_lastSpareTrim < m_unusedChunksKeptFor)
        return;
    m_chunkPool->trimUnneededSpares(retired);
    m_lastSpareTrim = now;
}

Mailbox::RoomNews Mailbox::roomNewsLocked()
{
    // Waking a watcher for every batch taken makes it run, queue a batch and
    // sleep again, over and over: watchers hear of room once the queue
    // drained to half its message bound and RoomSlackBytes below its byte
    // bound (or emptied, for a message that needs more). Blocked producers
    // are woken one at a time, see roomForBlockedProducer().
    RoomNews news;
    news.watchers = watchersHearOfRoomLocked();
    if (m_blockedProducers.load(std::memory_order_seq_cst) == 0)
        return news;
    const EnvelopeQueue::Occupancy queued = occupancy();
    if (queued.count == 0) {
        news.producers = ProducersToWake::All;
        return news;
    }
    int woken = m_producersWoken.load(std::memory_order_relaxed);
    if (roomForBlockedProducer(queued, m_capacity.load(std::memory_order_relaxed),
                               m_capacityBytes.load(std::memory_order_relaxed), woken)) {
        news.producers = ProducersToWake::One;
        // A producer that found the queue full since the load started over.
        m_producersWoken.compare_exchange_strong(woken, std::min(woken + 1, MaxRoomStage),
                                                 std::memory_order_relaxed);
    }
    return news;
}

bool Mailbox::watchersHearOfRoomLocked() const
{
    return m_roomWatcherCount.load(std::memory_order_seq_cst) > 0 && roomAgainLocked();
}

bool Mailbox::roomAgainLocked() const
{
    const EnvelopeQueue::Occupancy queued = occupancy();
    if (queued.count == 0)
        return true;
    const qint64 bytesBound = m_capacityBytes.load(std::memory_order_relaxed);
    const qint64 byteThreshold = std::max(bytesBound / 2, bytesBound - RoomSlackBytes);
    return queued.count <= m_capacity.load(std::memory_order_relaxed) / 2 && queued.bytes <= byteThreshold
        && queued.bytes + m_roomNeededBytes.load(std::memory_order_relaxed) <= bytesBound;
}

bool Mailbox::roomForBlockedProducer(EnvelopeQueue::Occupancy queued, qint64 capacity, qint64 capacityBytes,
                                     int alreadyWoken)
{
    // Woken all at once at half, producers that outnumber the CPUs filled
    // the queue again at the consumer's expense (each running thread takes
    // its share of the CPUs), then all slept while the consumer drained half
    // the queue alone beside an idle CPU. One producer woken early keeps that
    // CPU busy; one that cannot keep up gets help before the queue runs dry.
    Q_ASSERT(alreadyWoken >= 0 && alreadyWoken <= MaxRoomStage);
    if (queued.count == 0)
        return true;
    // What drained is shifted right rather than the step left: the same
    // test (drained / 2^n >= step, rounded down, when drained >= step * 2^n),
    // with nothing to overflow. Over a bound (pushUnbounded(), or one message
    // larger than the byte bound), drained is negative and stays so.
    const qint64 countStep = std::max<qint64>(1, capacity / FirstProducerWakeFraction);
    const qint64 bytesStep = std::min(capacityBytes / 2, RoomSlackBytes);
    return ((capacity - qint64(queued.count)) >> alreadyWoken) >= countStep
        && ((capacityBytes - queued.bytes) >> alreadyWoken) >= bytesStep;
}

void Mailbox::notifyRoom(const RoomNews &news)
{
    if (!news.watchers && news.producers == ProducersToWake::None)
        return;
    // A producer between finding the queue full and waiting holds the
    // registry lock: once we had it, each blocked producer is waiting, or
    // will see the room when it checks.
    auto lock = lockRegistry();
    if (news.watchers)
        tellRoomWatchersLocked();
    if (news.producers == ProducersToWake::One) {
        ++m_producerWakeTokens;
        lock.unlock();
        m_roomAvailable.notify_one();
    } else if (news.producers == ProducersToWake::All) {
        wakeEveryBlockedProducerLocked();
    }
}

void Mailbox::wakeEveryBlockedProducerLocked()
{
    ++m_producerWakeAlls;
    m_roomAvailable.notify_all();
}

void Mailbox::watchForRoom(MailboxRoomWatcher *watcher, qint64 neededBytes)
{
    const auto lock = lockRegistry();
    if (neededBytes > m_roomNeededBytes.load(std::memory_order_relaxed))
        m_roomNeededBytes.store(neededBytes, std::memory_order_relaxed);
    if (std::find(m_roomWatchers.begin(), m_roomWatchers.end(), watcher) == m_roomWatchers.end()) {
        m_roomWatchers.push_back(watcher);
        m_roomWatcherCount.store(int(m_roomWatchers.size()), std::memory_order_seq_cst);
    }
    // Re-checked once counted, see the protocol above: the room may have
    // come between the refused push and now.
    if (m_consumerGone.load(std::memory_order_relaxed) || roomAgainLocked())
        tellRoomWatchersLocked();
}

void Mailbox::stopWatchingForRoom(MailboxRoomWatcher *watcher)
{
    const auto lock = lockRegistry();
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

bool Mailbox::closedTo(const Lane &lane, const std::atomic<bool> *senderOpen) const
{
    return m_consumerGone.load(std::memory_order_seq_cst) || lane.left.load(std::memory_order_relaxed)
        || (senderOpen && !senderOpen->load());
}

Mailbox::PushResult Mailbox::offerLocked(Lane &lane, Envelope &envelope, const std::atomic<bool> *senderOpen)
{
    if (closedTo(lane, senderOpen))
        return PushResult::Closed;
    if (!reserve(envelope.bytes)) {
        switch (m_policy.load(std::memory_order_relaxed)) {
        case OverflowPolicy::Reject:
        case OverflowPolicy::Block:
            return PushResult::Full;
        case OverflowPolicy::DropNewest:
            m_dropped.fetch_add(1, std::memory_order_relaxed);
            m_droppedSinceReport.fetch_add(1, std::memory_order_relaxed);
            return PushResult::DroppedNewest;
        case OverflowPolicy::DropOldest:
            dropOldestUntilReserved(envelope.bytes);
            break;
        }
    }
    enqueueLocked(lane, envelope);
    return PushResult::Queued;
}

bool Mailbox::mayStillWaitLocked(const Lane &lane, const Envelope &envelope, const std::atomic<bool> *senderOpen) const
{
    return !fits(envelope.bytes) && !closedTo(lane, senderOpen);
}

void Mailbox::waitForRoomLocked(std::unique_lock<std::mutex> &lock, const Lane &lane,
                                const std::atomic<bool> *senderOpen)
{
    // Woken for room by a token or by a wake-up of all, not by what wait_for()
    // returns: a producer woken but first run after its deadline is told it
    // timed out, and the wake-up meant for it would be lost.
    // The timeout is a safety net, not the wake-up: while the consumer takes,
    // it wakes the producers itself, one at a time. One that stops taking
    // with room for this message but short of waking anyone (say, its slot
    // waits for a lock this producer's thread holds) lets the producer look
    // for room once a whole interval passed without a take.
    const quint64 wakeAlls = m_producerWakeAlls;
    quint64 takes = m_takes.load(std::memory_order_relaxed);
    for (;;) {
        const bool timedOut = m_roomAvailable.wait_for(lock, m_blockedRecheckInterval) == std::cv_status::timeout;
        if (m_producerWakeAlls != wakeAlls)
            return;
        if (m_producerWakeTokens > 0) {
            --m_producerWakeTokens;
            return;
        }
        if (!timedOut)
            continue; // spurious
        ++m_recheckIntervalsWaited;
        const quint64 takesNow = m_takes.load(std::memory_order_relaxed);
        if (takesNow == takes) {
            ++m_safetyNetRechecks;
            return;
        }
        if (closedTo(lane, senderOpen))
            return;
        takes = takesNow;
    }
}

Mailbox::PushResult Mailbox::push(Lane &lane, Envelope &envelope, bool mayBlock, const std::atomic<bool> *senderOpen)
{
    lane.payloadReturn.freeHandedOver();
    // In-process, the consumer hands a small payload back to this lane's
    // producer; a connection that consumes ignores it.
    if (envelope.returnable)
        envelope.returnTo = &lane.payloadReturn;
    for (;;) {
        {
            const auto laneLock = spinLock(lane.mutex);
            const PushResult result = offerLocked(lane, envelope, senderOpen);
            if (result != PushResult::Full || !mayBlock
                || m_policy.load(std::memory_order_relaxed) != OverflowPolicy::Block) {
                return result;
            }
        }
        // Waits without the lane's lock: another thread pushing through the
        // same sender learns on its own whether it may wait.
        auto lock = lockRegistry();
        m_blockedProducers.fetch_add(1, std::memory_order_seq_cst);
        // Re-checked once counted, see the protocol above.
        if (mayStillWaitLocked(lane, envelope, senderOpen)) {
            // The room that woken producers were told of is gone.
            m_producersWoken.store(0, std::memory_order_relaxed);
            m_producerWakeTokens = 0;
            waitForRoomLocked(lock, lane, senderOpen);
        }
        m_blockedProducers.fetch_sub(1, std::memory_order_relaxed);
    }
}

qint64 Mailbox::pushFront(Lane &lane, std::deque<Envelope> &batch)
{
    qint64 discarded = 0;
    std::vector<Envelope> refused; // destroyed after unlocking: payloads may run user code
    {
        const auto laneLock = spinLock(lane.mutex);
        while (!batch.empty()) {
            Envelope &front = batch.front();
            const qint64 bytes = front.bytes;
            const PushResult result = offerLocked(lane, front, nullptr);
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

bool Mailbox::pushUnbounded(Lane &lane, Envelope &envelope)
{
    const auto laneLock = spinLock(lane.mutex);
    Q_ASSERT(!lane.left.load(std::memory_order_relaxed));
    if (m_consumerGone.load(std::memory_order_seq_cst) || lane.left.load(std::memory_order_relaxed))
        return false;
    countIn(1, envelope.bytes);
    enqueueLocked(lane, envelope);
    return true;
}

void Mailbox::setReleaseObserver(MailboxReleaseObserver *observer)
{
    const BothLocks locks = lockBoth();
    m_releaseObserver = observer;
}

bool Mailbox::consumerDrainsOnCurrentThread() const
{
    const auto lock = lockRegistry();
    return m_consumer && m_consumer->drainsOnCurrentThread();
}

void Mailbox::attachConsumer(MailboxConsumer *consumer)
{
    const BothLocks locks = lockBoth();
    Q_ASSERT(!m_consumerGone.load(std::memory_order_relaxed));
    m_consumer = consumer;
    m_wakePending.store(false, std::memory_order_seq_cst);
    if (anyAvailableLocked() || finishedLocked())
        wakeConsumerLocked();
}

void Mailbox::detachConsumer()
{
    // Destroyed after unlocking: payload destructors may be arbitrary user code.
    std::vector<Envelope> discarded;
    EnvelopeQueue::Retired retired;
    std::vector<std::shared_ptr<Lane>> lanes;
    {
        const BothLocks locks = lockBoth();
        m_consumer = nullptr;
        m_consumerGone.store(true, std::memory_order_seq_cst);
        lanes = m_lanes;
        wakeEveryBlockedProducerLocked();
        m_messageAvailable.notify_all();
        tellRoomWatchersLocked();
    }
    // A push that found the consumer still there queues its message before
    // it lets go of its lane: once this had each lane's lock, nothing more
    // enters it, and what did is discarded here.
    for (const std::shared_ptr<Lane> &lane : lanes) {
        const auto laneLock = spinLock(lane->mutex);
        const auto takeLock = lockTake();
        const qsizetype available = lane->queue.available();
        if (available > 0) {
            const EnvelopeQueue::Occupancy taken =
                lane->queue.takeFront(available, std::numeric_limits<qint64>::max(), discarded);
            countOut(taken.count, taken.bytes);
            releaseLocked(taken.bytes);
        }
    }
    m_chunkPool->trimSpares(retired);
    freeReturnedPayloads();
}

bool Mailbox::queueDrainedLocked() const
{
    // m_finished first: it is stored after the last push it follows.
    return m_finished.load(std::memory_order_seq_cst) && !anyAvailableLocked();
}

Mailbox::Batch Mailbox::takeBatch(std::vector<Envelope> &out, qsizetype max, qint64 maxBytes)
{
    // Freed after unlocking.
    EnvelopeQueue::Retired retired;
    std::vector<std::shared_ptr<Lane>> reaped;
    RoomNews news;
    Batch batch;
    {
        const auto lock = lockTake();
        const EnvelopeQueue::Occupancy taken = takeLocked(max, maxBytes, out, batch.lanes);
        reapLeftLanesLocked(reaped);
        countOut(taken.count, taken.bytes);
        releaseLocked(taken.bytes);
        news = roomNewsLocked();
        // Read before written: an exchange would take the line from the
        // producers at every batch.
        if (m_droppedSinceReport.load(std::memory_order_relaxed) != 0)
            batch.lagged = m_droppedSinceReport.exchange(0, std::memory_order_relaxed);
        batch.more = anyAvailableLocked();
        if (!batch.more) {
            m_wakePending.store(false, std::memory_order_seq_cst);
            // A push published since the lanes were looked at may have found
            // the wake-up still pending: then this consumer schedules itself.
            if (anyAvailableLocked() && !m_wakePending.exchange(true, std::memory_order_seq_cst))
                batch.more = true;
        }
        batch.finished = !batch.more && queueDrainedLocked();
        if (!batch.more)
            trimQueuesLocked(retired);
    }
    notifyRoom(news);
    return batch;
}

Mailbox::TakeResult Mailbox::take(Envelope &out, QDeadlineTimer deadline, qint64 *lagged)
{
    // Freed after unlocking.
    EnvelopeQueue::Retired retired;
    std::vector<std::shared_ptr<Lane>> reaped;
    RoomNews news;
    {
        auto lock = lockTake();
        while (!anyAvailableLocked()) {
            if (m_consumerGone.load(std::memory_order_relaxed) || queueDrainedLocked())
                return TakeResult::Finished;
            if (deadline.hasExpired())
                return TakeResult::TimedOut;
            m_blockedConsumers.fetch_add(1, std::memory_order_seq_cst);
            // Re-checked once counted, see the protocol above.
            if (!anyAvailableLocked() && !m_consumerGone.load(std::memory_order_relaxed) && !queueDrainedLocked()) {
                if (deadline.isForever())
                    m_messageAvailable.wait(lock);
                else
                    m_messageAvailable.wait_for(lock, deadline.remainingTimeAsDuration());
            }
            m_blockedConsumers.fetch_sub(1, std::memory_order_relaxed);
        }
        const qint64 bytes = popOldestLocked(&out);
        out.returnTo = nullptr; // its lane may go before the envelope
        m_nextLane = (m_nextLane + 1) % m_lanes.size();
        countOut(1, bytes);
        releaseLocked(bytes);
        // One message at a time: whoever takes that way may take no more for
        // a while, so a blocked producer hears of every bit of room.
        news.watchers = watchersHearOfRoomLocked();
        if (m_blockedProducers.load(std::memory_order_seq_cst) > 0)
            news.producers = ProducersToWake::All;
        if (lagged) {
            *lagged = m_droppedSinceReport.load(std::memory_order_relaxed) != 0
                ? m_droppedSinceReport.exchange(0, std::memory_order_relaxed)
                : 0;
        }
        // m_wakePending stays as it is: a wake-up already in flight clears it
        // when it runs, and clearing it here would post one event per message
        // to a receiver whose thread may never process them.
        if (!anyAvailableLocked())
            trimQueuesLocked(retired);
        reapLeftLanesLocked(reaped);
    }
    notifyRoom(news);
    return TakeResult::Taken;
}

void Mailbox::freeReturnedPayloads()
{
    const auto lock = lockTake();
    for (const std::shared_ptr<Lane> &lane : m_lanes)
        lane->payloadReturn.clear();
}

qint64 Mailbox::droppedCount() const
{
    return m_dropped.load(std::memory_order_relaxed);
}

qsizetype Mailbox::queuedCount() const
{
    // Exact: under the take lock only pushes can change it, after the loads.
    const auto lock = lockTake();
    qsizetype queued = 0;
    for (const std::shared_ptr<Lane> &lane : m_lanes)
        queued += lane->queue.available();
    return queued;
}

int Mailbox::blockedProducerCount() const
{
    return m_blockedProducers.load(std::memory_order_seq_cst);
}

int Mailbox::producersWokenOneByOne() const
{
    return m_producersWoken.load(std::memory_order_relaxed);
}

qint64 Mailbox::safetyNetRecheckCount() const
{
    const auto lock = lockRegistry();
    return m_safetyNetRechecks;
}

qint64 Mailbox::recheckIntervalsWaited() const
{
    const auto lock = lockRegistry();
    return m_recheckIntervalsWaited;
}

void Mailbox::setBlockedRecheckInterval(std::chrono::milliseconds interval)
{
    const auto lock = lockRegistry();
    m_blockedRecheckInterval = interval;
}

qsizetype Mailbox::queueChunkCount() const
{
    return m_chunkPool->chunkCount();
}

void Mailbox::setUnusedChunksKeptFor(std::chrono::milliseconds interval)
{
    const auto lock = lockTake();
    m_unusedChunksKeptFor = interval;
}

qsizetype Mailbox::laneCount() const
{
    const auto lock = lockTake();
    return qsizetype(m_lanes.size());
}

bool Mailbox::isFinished() const
{
    const auto lock = lockTake();
    return queueDrainedLocked();
}

} // namespace Qonduit
