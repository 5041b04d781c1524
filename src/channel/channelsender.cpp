#include <Qonduit/channelsender.h>

#include "channel/channelfactory_p.h"
#include "channel/channelsender_p.h"
#include "connection/channellink_p.h"

#include <QtCore/qthread.h>

namespace Qonduit {

namespace {

// A thread may wait for room only if that cannot freeze it: not the thread
// that drains the queue (a deadlock) and not one that runs an event loop.
bool mayBlockCurrentThread(const Mailbox &mailbox)
{
    return QThread::currentThread()->loopLevel() == 0 && !mailbox.consumerDrainsOnCurrentThread();
}

} // namespace

ChannelSenderPrivate::ChannelSenderPrivate(std::shared_ptr<Mailbox> box)
    : mailbox(std::move(box))
    , lane(mailbox ? mailbox->addSender() : nullptr)
    , open(lane != nullptr)
{
}

ChannelSenderPrivate::~ChannelSenderPrivate()
{
    leave();
}

bool ChannelSenderPrivate::leave()
{
    // Cleared before the mailbox hears of it, so that a send() of this sender
    // blocked on another thread wakes up to a closed sender.
    if (!open.exchange(false))
        return false;
    mailbox->removeSender(*lane);
    return true;
}

bool ChannelSenderPrivate::push(Envelope envelope)
{
    if (!open.load(std::memory_order_relaxed)) {
        setErrorAndEmit(Error::ChannelClosedError,
                        mailbox ? ChannelSender::tr("The sender is closed: clone an open sender to keep sending.")
                                : ChannelSender::tr("The channel never connected; errorOccurred() told why."));
        return false;
    }
    if (link) {
        Error error = Error::NoError;
        QString text;
        if (!link->prepare(envelope, error, text)) {
            setErrorAndEmit(error, text);
            return false;
        }
    }
    auto result = mailbox->push(*lane, envelope, false);
    if (result == Mailbox::PushResult::Full
        && mailbox->limits().policy == OverflowPolicy::Block && mayBlockCurrentThread(*mailbox)) {
        result = mailbox->push(*lane, envelope, true, &open);
    }
    switch (result) {
    case Mailbox::PushResult::Queued:
        if (link)
            link->messageQueued();
        return true;
    case Mailbox::PushResult::DroppedNewest:
        return false;
    case Mailbox::PushResult::Full: {
        mailbox->watchForRoom(this, envelope.bytes);
        const auto limits = mailbox->limits();
        setErrorAndEmit(Error::QueueFullError,
                        ChannelSender::tr("The channel is full (%1 messages, %2 bytes at most) and its policy "
                                          "does not wait here; send again on readyToSend(), raise the "
                                          "capacity or choose a drop policy.")
                            .arg(limits.capacity)
                            .arg(limits.capacityBytes));
        return false;
    }
    case Mailbox::PushResult::Closed:
        setErrorAndEmit(Error::ChannelClosedError,
                        link ? ChannelSender::tr("The connection to %1 is closed; nothing sent from now on will be "
                                                 "delivered.").arg(peerAddress.toString())
                             : ChannelSender::tr("The receiver is gone; nothing sent from now on will be delivered."));
        return false;
    }
    Q_UNREACHABLE();
    return false;
}

ChannelSender::ChannelSender(ChannelSenderPrivate &dd, QObject *parent)
    : ChannelEndpoint(dd, parent)
{
    dd.state = dd.open ? ChannelState::ConnectedState : ChannelState::UnconnectedState;
}

void ChannelSenderPrivate::roomAvailable()
{
    // q_ptr outlives this call: ~ChannelSender() stops the watch first, under
    // the lock this runs under, and ~QObject drops what was posted.
    auto *q = static_cast<ChannelSender *>(q_ptr);
    QMetaObject::invokeMethod(q, [q] { Q_EMIT q->readyToSend(); }, Qt::QueuedConnection);
}

ChannelSender::~ChannelSender()
{
    Q_D(ChannelSender);
    if (d->mailbox)
        d->mailbox->stopWatchingForRoom(d);
}

bool ChannelSender::send(const QVariant &message)
{
    Q_D(ChannelSender);
    return d->push(Envelope::typed(message));
}

bool ChannelSender::send(QVariant &&message)
{
    Q_D(ChannelSender);
    return d->push(Envelope::typed(std::move(message)));
}

bool ChannelSender::sendRaw(const QByteArray &data)
{
    Q_D(ChannelSender);
    return d->push(Envelope::rawBytes(data));
}

std::unique_ptr<ChannelSender> ChannelSender::clone(QObject *parent) const
{
    Q_D(const ChannelSender);
    auto *dd = new ChannelSenderPrivate(d->open ? d->mailbox : nullptr);
    dd->peerAddress = d->peerAddress;
    auto clone = std::make_unique<ChannelSender>(*dd, parent);
    // An in-process clone is connected at once (only the original ends wait
    // for connectTo()'s queued connected()); a socket clone takes its
    // connection's state.
    if (dd->open)
        ChannelFactory::attachLink(*clone, d->link, false);
    return clone;
}

void ChannelSender::close()
{
    Q_D(ChannelSender);
    if (d->leave())
        d->setState(ChannelState::UnconnectedState);
}

bool ChannelSender::isOpen() const
{
    Q_D(const ChannelSender);
    return d->open;
}

} // namespace Qonduit
