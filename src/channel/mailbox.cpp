#include "channel/mailbox_p.h"

#include <algorithm>
#include <iterator>

namespace Qonduit {

Mailbox::Mailbox(const Limits &limits)
    : m_limits(limits)
{
}

Mailbox::Limits Mailbox::limits() const
{
    std::lock_guard lock(m_mutex);
    return m_limits;
}

bool Mailbox::addSender()
{
    std::lock_guard lock(m_mutex);
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
    std::lock_guard lock(m_mutex);
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
    m_queue.push_back(std::move(envelope));
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
    m_queue.pop_front();
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

Mailbox::PushResult Mailbox::push(Envelope &envelope, bool mayBlock, const std::atomic<bool> *senderOpen)
{
    std::unique_lock lock(m_mutex);
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
            m_roomAvailable.wait(lock);
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
    std::lock_guard lock(m_mutex);
    if (m_consumerGone)
        return false;
    enqueueLocked(envelope);
    return true;
}

void Mailbox::setReleaseObserver(MailboxReleaseObserver *observer)
{
    std::lock_guard lock(m_mutex);
    m_releaseObserver = observer;
}

bool Mailbox::consumerDrainsOnCurrentThread() const
{
    std::lock_guard lock(m_mutex);
    return m_consumer && m_consumer->drainsOnCurrentThread();
}

void Mailbox::attachConsumer(MailboxConsumer *consumer)
{
    std::lock_guard lock(m_mutex);
    Q_ASSERT(!m_consumerGone);
    m_consumer = consumer;
    m_wakePending = false;
    if (!m_queue.empty() || finishedLocked())
        wakeConsumerLocked();
}

void Mailbox::detachConsumer()
{
    std::deque<Envelope> discarded;
    {
        std::lock_guard lock(m_mutex);
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
    std::lock_guard lock(m_mutex);
    const auto count = std::min<qsizetype>(max, qsizetype(m_queue.size()));
    const auto end = m_queue.begin() + count;
    qint64 bytes = 0;
    for (auto it = m_queue.begin(); it != end; ++it)
        bytes += it->bytes;
    releaseLocked(bytes);
    std::move(m_queue.begin(), end, std::back_inserter(out));
    m_queue.erase(m_queue.begin(), end);
    notifyRoomLocked();

    Batch batch;
    batch.lagged = std::exchange(m_droppedSinceReport, 0);
    batch.more = !m_queue.empty();
    batch.finished = !batch.more && finishedLocked();
    if (!batch.more)
        m_wakePending = false;
    return batch;
}

Mailbox::TakeResult Mailbox::take(Envelope &out, QDeadlineTimer deadline, qint64 *lagged)
{
    std::unique_lock lock(m_mutex);
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
    m_queue.pop_front();
    notifyRoomLocked();
    if (lagged)
        *lagged = std::exchange(m_droppedSinceReport, 0);
    // m_wakePending stays as it is: a wake-up already in flight clears it
    // when it runs, and clearing it here would post one event per message to
    // a receiver whose thread may never process them.
    return TakeResult::Taken;
}

qint64 Mailbox::droppedCount() const
{
    std::lock_guard lock(m_mutex);
    return m_dropped;
}

qsizetype Mailbox::queuedCount() const
{
    std::lock_guard lock(m_mutex);
    return qsizetype(m_queue.size());
}

int Mailbox::blockedProducerCount() const
{
    std::lock_guard lock(m_mutex);
    return m_blockedProducers;
}

bool Mailbox::isFinished() const
{
    std::lock_guard lock(m_mutex);
    return m_queue.empty() && finishedLocked();
}

} // namespace Qonduit
