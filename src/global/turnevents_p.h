#ifndef QONDUIT_TURNEVENTS_P_H
#define QONDUIT_TURNEVENTS_P_H

#include <QtCore/qcoreevent.h>

#include <functional>

QT_BEGIN_NAMESPACE
class QObject;
QT_END_NAMESPACE

namespace Qonduit {

// The library's own deferred work (wake-ups, service events, queued state
// changes, the shared-key socket's seal), without the cost of a posted event
// when the target lives on the calling thread.
//
// QCoreApplication::postEvent() wakes the target's event dispatcher through
// an eventfd even when the caller is that thread, already running: a write,
// then an extra turn of the loop with a poll() and a read(). On these VMs
// that is about 2.4 us per event, against 0.1 us for the delivery itself;
// a socket round trip paid it four times (the receiver's wake-up and the
// connection's service event, at each end).
//
// Work for an object of the calling thread is instead kept in a FIFO list of
// that thread, run when its event dispatcher next wakes or is about to wait
// (QAbstractEventDispatcher's awake() and aboutToBlock(), which every Qt
// dispatcher emits at least once per turn of a loop, nested loops and
// processEvents() included). The guarantees of a posted event hold: it runs
// from the event loop, never inside post() or invoke(); in the order it was
// listed (all of the library's deferred work on one thread goes through
// here); a target deleted meanwhile gets nothing; one moved to another
// thread gets a real posted event there. Work for other threads, or from a
// thread without an event dispatcher, is posted as usual.
//
// Work listed while the list runs (a reply sent from a slot) runs in the same
// pass, up to a bound: beyond it the rest waits for the next wake-up, which
// the pass then asks the dispatcher for, so a slot that keeps relisting work
// cannot hold the loop and the loop never sleeps on listed work.
//
// Thread safety: post() and invoke() may be called from any thread, under any
// lock that the work itself does not take.
class TurnEvents
{
public:
    // Sends target an event of type (QCoreApplication::sendEvent).
    static void post(QObject *target, QEvent::Type type);
    // Calls call unless context was deleted first.
    static void invoke(QObject *context, std::function<void()> call);
};

} // namespace Qonduit

#endif // QONDUIT_TURNEVENTS_P_H
