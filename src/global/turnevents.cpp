#include "global/turnevents_p.h"

#include <QtCore/qabstracteventdispatcher.h>
#include <QtCore/qcoreapplication.h>
#include <QtCore/qpointer.h>
#include <QtCore/qthread.h>

#include <deque>

namespace Qonduit {

namespace {

// A pass runs what was listed when it began and what that listed, up to
// this many times the first amount (plus a few, for a single wake-up whose
// slot sends a reply).
constexpr qsizetype PassBudgetFactor = 2;
constexpr qsizetype PassBudgetExtra = 16;

struct Listed
{
    QPointer<QObject> target;
    QEvent::Type type = QEvent::None; // with no call: the event to send
    std::function<void()> call;
};

struct ThreadTurnEvents
{
    std::deque<Listed> listed;
    QPointer<QAbstractEventDispatcher> hookedDispatcher;
};

thread_local ThreadTurnEvents t_events;

void postElsewhere(QObject *target, QEvent::Type type, std::function<void()> call)
{
    if (call)
        QMetaObject::invokeMethod(target, std::move(call), Qt::QueuedConnection);
    else
        QCoreApplication::postEvent(target, new QEvent(type));
}

void run(Listed &entry)
{
    QObject *const target = entry.target.data();
    if (!target)
        return;
    if (target->thread() != QThread::currentThread())
        return postElsewhere(target, entry.type, std::move(entry.call));
    if (entry.call) {
        entry.call();
        return;
    }
    QEvent event(entry.type);
    QCoreApplication::sendEvent(target, &event);
}

// A nested event loop in a slot makes a nested pass, which goes on from the
// front of the same list: the order holds across passes.
void runListed()
{
    std::deque<Listed> &listed = t_events.listed;
    qsizetype budget = qsizetype(listed.size()) * PassBudgetFactor + PassBudgetExtra;
    while (!listed.empty() && budget-- > 0) {
        Listed entry = std::move(listed.front());
        listed.pop_front();
        run(entry);
    }
    if (!listed.empty()) {
        if (QAbstractEventDispatcher *dispatcher = t_events.hookedDispatcher.data())
            dispatcher->wakeUp();
    }
}

bool hookCurrentDispatcher(ThreadTurnEvents &events)
{
    QAbstractEventDispatcher *const dispatcher = QAbstractEventDispatcher::instance();
    if (!dispatcher)
        return false;
    if (events.hookedDispatcher != dispatcher) {
        QObject::connect(dispatcher, &QAbstractEventDispatcher::awake, dispatcher, &runListed);
        QObject::connect(dispatcher, &QAbstractEventDispatcher::aboutToBlock, dispatcher, &runListed);
        events.hookedDispatcher = dispatcher;
    }
    return true;
}

void list(QObject *target, QEvent::Type type, std::function<void()> call)
{
    ThreadTurnEvents &events = t_events;
    if (target->thread() != QThread::currentThread() || !hookCurrentDispatcher(events))
        return postElsewhere(target, type, std::move(call));
    events.listed.push_back({target, type, std::move(call)});
}

} // namespace

void TurnEvents::post(QObject *target, QEvent::Type type)
{
    list(target, type, nullptr);
}

void TurnEvents::invoke(QObject *context, std::function<void()> call)
{
    list(context, QEvent::None, std::move(call));
}

} // namespace Qonduit
