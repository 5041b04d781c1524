#include <Qonduit/channelendpoint.h>

#include "channel/channelendpoint_p.h"
#include "connection/channellink_p.h"
#include "global/turnevents_p.h"

#include <QtCore/qpointer.h>
#include <QtCore/qthread.h>

namespace Qonduit {

ChannelEndpointPrivate::~ChannelEndpointPrivate()
{
    if (link)
        link->unregisterEndpoint(q_ptr);
}

void ChannelEndpointPrivate::setErrorAndEmit(Error error, const QString &text)
{
    Q_Q(ChannelEndpoint);
    errorState.set(error, text);
    Q_EMIT q->errorOccurred(error);
}

void ChannelEndpointPrivate::setState(ChannelState newState)
{
    Q_Q(ChannelEndpoint);
    if (QThread::currentThread() != q->thread()) {
        // close() is callable from a producer thread; the state and its
        // signals belong to the object's own thread.
        QMetaObject::invokeMethod(q, [this, newState] { setState(newState); }, Qt::QueuedConnection);
        return;
    }
    if (state == newState)
        return;
    const ChannelState previous = std::exchange(state, newState);
    QPointer<ChannelEndpoint> guard(q);
    Q_EMIT q->stateChanged(newState);
    if (!guard)
        return;
    if (newState == ChannelState::ConnectedState)
        Q_EMIT q->connected();
    else if (previous == ChannelState::ConnectedState && newState == ChannelState::UnconnectedState)
        Q_EMIT q->disconnected();
}

void ChannelEndpointPrivate::setStateLater(ChannelState newState, Error error, const QString &text)
{
    Q_Q(ChannelEndpoint);
    TurnEvents::invoke(
        q,
        [this, newState, error, text] {
            Q_Q(ChannelEndpoint);
            // A close() or the end of the channel that came first wins.
            if (state != ChannelState::ConnectingState)
                return;
            QPointer<ChannelEndpoint> guard(q);
            if (error != Error::NoError) {
                setErrorAndEmit(error, text);
                if (!guard)
                    return;
            }
            setState(newState);
        });
}

ChannelEndpoint::ChannelEndpoint(ChannelEndpointPrivate &dd, QObject *parent)
    : QObject(parent)
    , d_ptr(&dd)
{
    d_ptr->q_ptr = this;
}

ChannelEndpoint::~ChannelEndpoint() = default;

ChannelState ChannelEndpoint::state() const
{
    Q_D(const ChannelEndpoint);
    return d->state;
}

QUrl ChannelEndpoint::peerAddress() const
{
    Q_D(const ChannelEndpoint);
    return d->peerAddress;
}

Error ChannelEndpoint::error() const
{
    Q_D(const ChannelEndpoint);
    return d->errorState.error();
}

QString ChannelEndpoint::errorString() const
{
    Q_D(const ChannelEndpoint);
    return d->errorState.errorString();
}

} // namespace Qonduit
