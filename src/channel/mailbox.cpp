#include "channel/mailbox_p.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <memory>
#include <new>

namespace Qonduit {

namespace {

// try_lock attempts before the mailbox lock sleeps in the kernel.
constexpr int SpinTries = 64;
constexpr auto BlockedRecheckInterval = std::chrono::milliseconds(10);
// Spare queue chunks that no push needed for this long are freed when a drain
// empties the queue.
constexpr auto UnusedChunksKeptFor = std::chrono::seconds(1);

inline void cpuRelax()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

} // namespace

struct EnvelopeQueue::Chunk
{
    Chunk *next = nullptr;
    alignas(Envelope) unsigned char storage[ChunkSlots * sizeof(Envelope)];

    Envelope *slot(int index) { return std::launder(reinterpret_cast<Envelope *>(storage) + index); }
};

EnvelopeQueue::Retired::~Retired()
{
    while (m_chunks)
        delete std::exchange(m_chunks, m_chunks->next);
}

EnvelopeQueue::~EnvelopeQueue()
{
    while (m_size > 0)
        popFront();
    // Empty: the head chunk is the tail chunk.
    delete m_head;
    while (m_spares)
        delete std::exchange(m_spares, m_spares->next);
}

void EnvelopeQueue::swap(EnvelopeQueue &other) noexcept
{
    std::swap(m_head, other.m_head);
    std::swap(m_tail, other.m_tail);
    std::swap(m_spares, other.m_spares);
    std::swap(m_headIndex, other.m_headIndex);
    std::swap(m_tailIndex, other.m_tailIndex);
    std::swap(m_spareCount, other.m_spareCount);
    std::swap(m_size, other.m_size);
    std::swap(m_chunks, other.m_chunks);
    std::swap(m_chunkDemand, other.m_chunkDemand);
}

Envelope &EnvelopeQueue::front()
{
    Q_ASSERT(m_size > 0);
    return *m_head->slot(m_headIndex);
}

void EnvelopeQueue::pushBack(Envelope &&envelope)
{
    if (!m_tail || m_tailIndex == ChunkSlots) {
        Chunk *chunk = m_spares;
        if (chunk) {
            m_spares = chunk->next;
            --m_spareCount;
        } else {
            chunk = new Chunk;
            ++m_chunks;
        }
        m_chunkDemand = true;
        chunk->next = nullptr;
        if (m_tail)
            m_tail->next = chunk;
        else
            m_head = chunk;
        m_tail = chunk;
        m_tailIndex = 0;
    }
    // The consumer read this chunk's slots last: claim the line a few
    // pushes ahead for writing.
    if (m_tailIndex + PrefetchSlots < ChunkSlots)
        __builtin_prefetch(m_tail->slot(m_tailIndex + PrefetchSlots), 1);
    new (m_tail->slot(m_tailIndex)) Envelope(std::move(envelope));
    ++m_tailIndex;
    ++m_size;
}

void EnvelopeQueue::popFront()
{
    Q_ASSERT(m_size > 0);
    m_head->slot(m_headIndex)->~Envelope();
    ++m_headIndex;
    if (--m_size == 0) {
        // The tail is in this chunk too (a chunk is only linked to take an
        // envelope at once): start it over, which keeps a queue that empties
        // often within the same few cache lines.
        Q_ASSERT(m_head == m_tail);
        m_headIndex = m_tailIndex = 0;
    } else if (m_headIndex == ChunkSlots) {
        leaveHeadChunk();
    }
}

void EnvelopeQueue::leaveHeadChunk()
{
    Chunk *const done = std::exchange(m_head, m_head->next);
    m_headIndex = 0;
    done->next = m_spares;
    m_spares = done;
    ++m_spareCount;
}

void EnvelopeQueue::trimSpares(Retired &retired)
{
    while (m_spareCount > KeptSpareChunks) {
        Chunk *const done = std::exchange(m_spares, m_spares->next);
        --m_spareCount;
        --m_chunks;
        done->next = retired.m_chunks;
        retired.m_chunks = done;
    }
}

qint64 EnvelopeQueue::takeFront(qsizetype count, std::vector<Envelope> &out)
{
    Q_ASSERT(count <= m_size);
    qint64 bytes = 0;
    out.reserve(out.size() + size_t(count));
    for (; count > 0; --count) {
        // Another thread wrote these slots: ask for the lines a few slots
        // ahead, so that the misses overlap instead of coming one by one
        // (with the lock held).
        if (m_headIndex + PrefetchSlots < ChunkSlots)
            __builtin_prefetch(m_head->slot(m_headIndex + PrefetchSlots));
        else if (m_head->next)
            __builtin_prefetch(m_head->next->slot(m_headIndex + PrefetchSlots - ChunkSlots));
        Envelope &envelope = front();
        bytes += envelope.bytes;
        out.push_back(std::move(envelope));
        popFront();
    }
    return bytes;
}

std::unique_lock<std::mutex> Mailbox::lock() const
{
    // The lock is held for a few dozen instructions: spinning briefly is far
    // cheaper than sleeping in the kernel and being woken by the unlocker.
    std::unique_lock lock(m_mutex, std::try_to_lock);
    for (int i = 0; !lock.owns_lock() && i < SpinTries; ++i) {
        cpuRelax();
        lock.try_lock();
    }
    if (!lock.owns_lock())
        lock.lock();
    return lock;
}

Mailbox::Mailbox(const Limits &limits)
    : m_limits(limits)
{
}

Mailbox::Limits Mailbox::limits() const
{
    const auto lock = this->lock();
    return m_limits;
}

bool Mailbox::addSender()
{
    const auto lock = this->lock();
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
    const auto lock = this->lock();
    Q_ASSERT(m_senders > 0);
    // A producer blocked in push() on behalf of the sender that just closed
    // must re-check its sender's state.
    notifyRoomLocked();
    if (--m_senders > 0)
        return;
    // The consumer must learn that nothing more will come, even with an empty
    // queue; a blocked take() must return.
    m_messageAvailable.notify_all();
    wakeConsumerLocked();
}

bool Mailbox::isFull(qint64 incomingBytes) const
{
    // An empty queue always takes one message, however large, so a message
    // above the byte bound is delivered rather than refused forever.
    if (m_queue.empty())
        return false;
    return qsizetype(m_queue.size()) >= m_limits.capacity
        || m_queuedBytes + incomingBytes > m_limits.capacityBytes;
}

bool Mailbox::finishedLocked() const
{
    return m_hadSenders && m_senders == 0;
}

void Mailbox::enqueueLocked(Envelope &envelope)
{
    m_queuedBytes += envelope.bytes;
    m_queue.pushBack(std::move(envelope));
    if (m_blockedConsumers > 0)
        m_messageAvailable.notify_one();
    wakeConsumerLocked();
}

void Mailbox::releaseLocked(qint64 bytes)
{
    m_queuedBytes -= bytes;
    if (m_releaseObserver && bytes > 0)
        m_releaseObserver->released(bytes);
}

void Mailbox::dropOldestLocked()
{
    releaseLocked(m_queue.front().bytes);
    m_queue.popFront();
    ++m_dropped;
    ++m_droppedSinceReport;
}

void Mailbox::wakeConsumerLocked()
{
    if (!m_consumer || m_wakePending)
        return;
    m_wakePending = true;
    m_consumer->wake();
}

void Mailbox::notifyRoomLocked()
{
    if (m_blockedProducers > 0)
        m_roomAvailable.notify_all();
}

void Mailbox::trimQueueLocked(EnvelopeQueue::Retired &retired)
{
    // Only reads the clock when there is something to free.
    if (m_queue.spareChunkCount() <= EnvelopeQueue::KeptSpareChunks)
        return;
    const auto now = std::chrono::steady_clock::now();
    if (m_queue.takeChunkDemand() && !finishedLocked())
        m_chunksLastNeeded = now;
    else if (finishedLocked() || now - m_chunksLastNeeded >= UnusedChunksKeptFor)
        m_queue.trimSpares(retired);
}

bool Mailbox::roomWorthNotifyingLocked() const
{
    // Waking a producer for every batch taken makes it run, queue a batch and
    // sleep again, over and over: blocked producers are woken once the queue
    // drained to half its bounds (or emptied, for a message that needs more).
    return m_blockedProducers > 0
        && (m_queue.empty()
            || (m_queue.size() <= m_limits.capacity / 2 && m_queuedBytes <= m_limits.capacityBytes / 2));
}

Mailbox::PushResult Mailbox::push(Envelope &envelope, bool mayBlock, const std::atomic<bool> *senderOpen)
{
    std::unique_lock lock = this->lock();
    for (;;) {
        if (m_consumerGone || finishedLocked() || (senderOpen && !senderOpen->load()))
            return PushResult::Closed;
        if (!isFull(envelope.bytes))
            break;
        switch (m_limits.policy) {
        case OverflowPolicy::Reject:
            return PushResult::Full;
        case OverflowPolicy::DropNewest:
            ++m_dropped;
            ++m_droppedSinceReport;
            return PushResult::DroppedNewest;
        case OverflowPolicy::DropOldest:
            while (isFull(envelope.bytes))
                dropOldestLocked();
            break;
        case OverflowPolicy::Block:
            if (!mayBlock)
                return PushResult::Full;
            ++m_blockedProducers;
            // The timeout is a safety net, not the wake-up: should the
            // consumer stop draining above half (say, its slot waits for a
            // lock this producer holds), room for this one message is still
            // noticed.
            m_roomAvailable.wait_for(lock, BlockedRecheckInterval);
            --m_blockedProducers;
            continue;
        }
        break;
    }
    enqueueLocked(envelope);
    return PushResult::Queued;
}

bool Mailbox::pushUnbounded(Envelope &envelope)
{
    const auto lock = this->lock();
    if (m_consumerGone)
        return false;
    enqueueLocked(envelope);
    return true;
}

void Mailbox::setReleaseObserver(MailboxReleaseObserver *observer)
{
    const auto lock = this->lock();
    m_releaseObserver = observer;
}

bool Mailbox::consumerDrainsOnCurrentThread() const
{
    const auto lock = this->lock();
    return m_consumer && m_consumer->drainsOnCurrentThread();
}

void Mailbox::attachConsumer(MailboxConsumer *consumer)
{
    const auto lock = this->lock();
    Q_ASSERT(!m_consumerGone);
    m_consumer = consumer;
    m_wakePending = false;
    if (!m_queue.empty() || finishedLocked())
        wakeConsumerLocked();
}

void Mailbox::detachConsumer()
{
    EnvelopeQueue discarded;
    {
        const auto lock = this->lock();
        m_consumer = nullptr;
        m_consumerGone = true;
        discarded.swap(m_queue);
        releaseLocked(m_queuedBytes);
        m_roomAvailable.notify_all();
        m_messageAvailable.notify_all();
    }
    // Payload destructors run outside the lock: they may be arbitrary user code.
}

Mailbox::Batch Mailbox::takeBatch(std::vector<Envelope> &out, qsizetype max)
{
    EnvelopeQueue::Retired retired; // freed after unlocking
    bool notify = false;
    Batch batch;
    {
        std::unique_lock lock = this->lock();
        const auto count = std::min<qsizetype>(max, m_queue.size());
        releaseLocked(m_queue.takeFront(count, out));
        notify = roomWorthNotifyingLocked();

        batch.lagged = std::exchange(m_droppedSinceReport, 0);
        batch.more = !m_queue.empty();
        batch.finished = !batch.more && finishedLocked();
        if (!batch.more) {
            m_wakePending = false;
            trimQueueLocked(retired);
        }
    }
    // Decided under the lock, which a producer also holds from finding the
    // queue full until it waits: a producer that will wait is counted, and
    // one that is waiting gets this.
    if (notify)
        m_roomAvailable.notify_all();
    return batch;
}

Mailbox::TakeResult Mailbox::take(Envelope &out, QDeadlineTimer deadline, qint64 *lagged)
{
    EnvelopeQueue::Retired retired; // freed after unlocking
    bool notify = false;
    {
        std::unique_lock lock = this->lock();
        while (m_queue.empty()) {
            if (finishedLocked() || m_consumerGone)
                return TakeResult::Finished;
            if (deadline.hasExpired())
                return TakeResult::TimedOut;
            ++m_blockedConsumers;
            if (deadline.isForever())
                m_messageAvailable.wait(lock);
            else
                m_messageAvailable.wait_for(lock, deadline.remainingTimeAsDuration());
            --m_blockedConsumers;
        }
        releaseLocked(m_queue.front().bytes);
        out = std::move(m_queue.front());
        m_queue.popFront();
        // One message at a time: whoever takes that way may take no more
        // for a while, so a blocked producer hears of every bit of room.
        notify = m_blockedProducers > 0;
        if (lagged)
            *lagged = std::exchange(m_droppedSinceReport, 0);
        // m_wakePending stays as it is: a wake-up already in flight clears it
        // when it runs, and clearing it here would post one event per message
        // to a receiver whose thread may never process them.
        if (m_queue.empty())
            trimQueueLocked(retired);
    }
    if (notify)
        m_roomAvailable.notify_all();
    return TakeResult::Taken;
}

qint64 Mailbox::droppedCount() const
{
    const auto lock = this->lock();
    return m_dropped;
}

qsizetype Mailbox::queuedCount() const
{
    const auto lock = this->lock();
    return m_queue.size();
}

int Mailbox::blockedProducerCount() const
{
    const auto lock = this->lock();
    return m_blockedProducers;
}

bool Mailbox::isFinished() const
{
    const auto lock = this->lock();
    return m_queue.empty() && finishedLocked();
}

} // namespace Qonduit
