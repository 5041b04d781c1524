#include <Qonduit/channelreceiver.h>

#include <Qonduit/channeloptions.h>

#include "channel/channelreceiver_p.h"
#include "global/turnevents_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qpointer.h>
#include <QtCore/qthread.h>

#include <algorithm>

namespace Qonduit {

namespace {

QEvent::Type wakeEventType()
{
    static const auto type = QEvent::Type(QEvent::registerEventType());
    return type;
}

// How many messages ahead of the one being delivered the receiver prefetches:
// far enough for a line to arrive from another core, near enough to stay
// cached.
constexpr size_t PrefetchDistance = 8;

// A typed message's slot reads its value: for the small QByteArray or QString
// a producer pushed, the first thing it does is take a reference, an atomic
// write to a header line the producer's core wrote last. Waiting for that
// line was a fifth of the receiving thread's time under a flood of 64-byte
// typed messages; fetched ahead, it was a twentieth. (Raw messages reach
// their slot by reference, with no reference taken.)
void prefetchForSlot(const Envelope &message)
{
    // returnTo is set only for the small QByteArray and QString a producer pushed.
    if (message.kind == Envelope::Kind::Typed && message.returnTo)
        PayloadReturn::prefetchForWrite(message.payload);
}

} // namespace

ChannelReceiverPrivate::ChannelReceiverPrivate(std::shared_ptr<Mailbox> box, const ChannelOptions &options)
    : mailbox(std::move(box))
    , deliveryBudget(qMax(1, options.deliveryBudget))
{
}

ChannelReceiverPrivate::~ChannelReceiverPrivate() = default;

Mailbox::Limits ChannelReceiverPrivate::limitsFrom(const ChannelOptions &options)
{
    return {qMax<qsizetype>(1, options.capacity), qMax<qint64>(1, options.capacityBytes),
            options.overflowPolicy};
}

void ChannelReceiverPrivate::wake()
{
    // Runs under the mailbox lock, which the destructor also takes before the
    // object goes away: q_ptr is alive here.
    if (handedOut.load(std::memory_order_relaxed))
        TurnEvents::post(q_ptr, wakeEventType());
}

bool ChannelReceiverPrivate::drainsOnCurrentThread() const
{
    return q_ptr->thread() == QThread::currentThread();
}

void ChannelReceiverPrivate::startDelivery()
{
    if (handedOut.exchange(true))
        return;
    // Attaching again re-arms the wake-up a gated wake() swallowed.
    mailbox->attachConsumer(this);
}

void ChannelReceiverPrivate::postNextBatch()
{
    // A real posted event, not TurnEvents: it queues behind whatever else
    // is pending, so the loop runs timers, input and other posted events
    // between two batches of a flood.
    QCoreApplication::postEvent(q_ptr, new QEvent(wakeEventType()));
}

void ChannelReceiverPrivate::deliverBatch()
{
    Q_Q(ChannelReceiver);
    if (!enterDelivery())
        return;
    // The batch lives on the stack: a slot may delete this object, and with
    // it everything the private class owns.
    std::vector<Envelope> batch = std::move(spareBatch);
    batch.clear();
    const Mailbox::Batch taken = mailbox->takeBatch(batch, deliveryBudget.load(std::memory_order_relaxed));

    // The lanes' payload returns this batch filled, to hand over at its end:
    // a batch is mostly runs of one lane's messages.
    std::vector<PayloadReturn *> &filled = filledReturns;
    filled.clear();
    QPointer<ChannelReceiver> guard(q);
    if (taken.lagged > 0) {
        Q_EMIT q->lagged(taken.lagged);
        if (!guard)
            return;
    }
    for (size_t i = 0; i < std::min(PrefetchDistance, batch.size()); ++i)
        prefetchForSlot(batch[i]);
    for (size_t i = 0; i < batch.size(); ++i) {
        if (i + PrefetchDistance < batch.size())
            prefetchForSlot(batch[i + PrefetchDistance]);
        // Emitted from where it is (the batch is on this stack frame: no slot
        // can reach it), with a raw message's QByteArray passed by reference
        // to the one in the variant: no copy, so no reference-count traffic on
        // a payload another thread allocated.
        Envelope &message = batch[i];
        switch (message.kind) {
        case Envelope::Kind::Raw:
            Q_EMIT q->rawMessageReceived(message.bytesPayload());
            break;
        case Envelope::Kind::Event:
            setErrorAndEmit(message.event, message.payload.toString());
            break;
        case Envelope::Kind::Typed:
        case Envelope::Kind::Encoded: // decoded before it reaches a receiver
            Q_EMIT q->messageReceived(message.payload);
            break;
        }
        if (!guard)
            return;
        // The message dies here, not with the rest of the batch: a small
        // payload goes back to its sender's lane, to be freed on the thread
        // that allocated it (D47, D53); any other is destroyed in place. (In
        // place, not by clear() nor a move: as compiled, both reset the
        // variant through a 16-byte reload of two 8-byte stores, a
        // store-forwarding stall that was 5% of the receiving thread's time.)
        PayloadReturn *const returnTo = message.returnTo;
        if (returnTo && returnTo->collect(message.payload, message.kind == Envelope::Kind::Typed)) {
            if (filled.empty() || filled.back() != returnTo)
                filled.push_back(returnTo);
        } else {
            message.payload.~QVariant();
            new (&message.payload) QVariant;
        }
    }
    if (taken.finished) {
        mailbox->freeReturnedPayloads(); // no producer is left to free them
    } else {
        // A lane's runs may recur in a batch: each return once.
        std::sort(filled.begin(), filled.end());
        filled.erase(std::unique(filled.begin(), filled.end()), filled.end());
        for (PayloadReturn *returned : filled)
            returned->handOver();
    }
    batch.clear();
    spareBatch = std::move(batch);
    // Everything this delivery touches is handed over by now: the next may
    // start on another thread.
    if (leaveDelivery() || taken.more)
        postNextBatch();
    if (taken.finished)
        finish();
}

bool ChannelReceiverPrivate::enterDelivery()
{
    if (!delivering.exchange(true))
        return true;
    redeliver.store(true);
    // The delivery in progress may have ended between the two, before it
    // could see the request: then this one goes ahead.
    return !delivering.exchange(true);
}

bool ChannelReceiverPrivate::leaveDelivery()
{
    delivering.store(false);
    return redeliver.exchange(false);
}

void ChannelReceiverPrivate::finish()
{
    Q_Q(ChannelReceiver);
    if (closedEmitted.exchange(true))
        return;
    QPointer<ChannelReceiver> guard(q);
    setState(ChannelState::UnconnectedState);
    if (guard)
        Q_EMIT q->closed();
}

ChannelReceiver::ChannelReceiver(ChannelReceiverPrivate &dd, QObject *parent)
    : ChannelEndpoint(dd, parent)
{
    dd.mailbox->attachConsumer(&dd);
}

ChannelReceiver::~ChannelReceiver()
{
    Q_D(ChannelReceiver);
    d->mailbox->detachConsumer();
}

bool ChannelReceiver::event(QEvent *event)
{
    if (event->type() != wakeEventType())
        return ChannelEndpoint::event(event);
    Q_D(ChannelReceiver);
    d->deliverBatch();
    return true;
}

std::optional<QVariant> ChannelReceiver::receive(QDeadlineTimer deadline)
{
    Q_D(ChannelReceiver);
    Envelope envelope;
    bool sawEvent = false;
    for (;;) {
        qint64 lagged = 0;
        const Mailbox::TakeResult result = d->mailbox->take(envelope, deadline, &lagged);
        if (lagged > 0)
            Q_EMIT this->lagged(lagged);
        switch (result) {
        case Mailbox::TakeResult::Taken:
            if (envelope.kind != Envelope::Kind::Event)
                return std::move(envelope.payload);
            // An undecodable message, or what ended the connection: reported
            // through error(), and the wait goes on for a real message.
            d->errorState.set(envelope.event, envelope.payload.toString());
            sawEvent = true;
            continue;
        case Mailbox::TakeResult::TimedOut:
            d->errorState.set(Error::TimeoutError, tr("No message arrived before the deadline."));
            return std::nullopt;
        case Mailbox::TakeResult::Finished:
            if (!sawEvent || error() == Error::MessageDecodeError)
                d->errorState.set(Error::ChannelClosedError,
                                  tr("Every sender is gone and every message was received."));
            return std::nullopt;
        }
    }
}

std::optional<QVariant> ChannelReceiver::tryReceive()
{
    return receive(QDeadlineTimer(0));
}

qsizetype ChannelReceiver::capacity() const
{
    Q_D(const ChannelReceiver);
    return d->mailbox->limits().capacity;
}

void ChannelReceiver::setCapacity(qsizetype messages)
{
    Q_D(ChannelReceiver);
    d->mailbox->updateLimits([messages](Mailbox::Limits &limits) { limits.capacity = qMax<qsizetype>(1, messages); });
}

qint64 ChannelReceiver::capacityBytes() const
{
    Q_D(const ChannelReceiver);
    return d->mailbox->limits().capacityBytes;
}

void ChannelReceiver::setCapacityBytes(qint64 bytes)
{
    Q_D(ChannelReceiver);
    d->mailbox->updateLimits([bytes](Mailbox::Limits &limits) { limits.capacityBytes = qMax<qint64>(1, bytes); });
}

OverflowPolicy ChannelReceiver::overflowPolicy() const
{
    Q_D(const ChannelReceiver);
    return d->mailbox->limits().policy;
}

void ChannelReceiver::setOverflowPolicy(OverflowPolicy policy)
{
    Q_D(ChannelReceiver);
    d->mailbox->updateLimits([policy](Mailbox::Limits &limits) { limits.policy = policy; });
}

int ChannelReceiver::deliveryBudget() const
{
    Q_D(const ChannelReceiver);
    return d->deliveryBudget.load(std::memory_order_relaxed);
}

void ChannelReceiver::setDeliveryBudget(int messagesPerTurn)
{
    Q_D(ChannelReceiver);
    d->deliveryBudget.store(qMax(1, messagesPerTurn), std::memory_order_relaxed);
}

qint64 ChannelReceiver::droppedCount() const
{
    Q_D(const ChannelReceiver);
    return d->mailbox->droppedCount();
}

qsizetype ChannelReceiver::queuedCount() const
{
    Q_D(const ChannelReceiver);
    return d->mailbox->queuedCount();
}

bool ChannelReceiver::isClosed() const
{
    Q_D(const ChannelReceiver);
    // The last batch may still be in the middle of its delivery.
    return d->mailbox->isFinished() && !d->delivering;
}

} // namespace Qonduit
