#include "global/turnevents_p.h"

#include <QtCore/qabstracteventdispatcher.h>
#include <QtCore/qcoreapplication.h>
#include <QtCore/qthread.h>
#include <QtCore/qtimer.h>
#include <QtTest/qtest.h>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

using namespace Qonduit;

namespace {

const QEvent::Type recordedType = QEvent::Type(QEvent::registerEventType());

// Records every event of recordedType it gets, and on which thread.
class Recorder : public QObject
{
public:
    using QObject::QObject;

    int received = 0;
    QThread *lastThread = nullptr;
    std::vector<int> *log = nullptr;
    int id = 0;
    std::function<void()> onEvent;

protected:
    bool event(QEvent *event) override
    {
        if (event->type() != recordedType)
            return QObject::event(event);
        ++received;
        lastThread = QThread::currentThread();
        if (log)
            log->push_back(id);
        if (onEvent)
            onEvent();
        return true;
    }
};

} // namespace

class tst_TurnEvents : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void runsFromTheEventLoopNotInsidePost();
    void keepsTheOrderOfPostsAndCalls();
    void deletedTargetGetsNothing();
    void otherThreadGetsAPostedEvent();
    void workListedWhileRunningRunsInTheSamePass();
    void relistingForeverDoesNotHoldTheLoop();
    void nestedLoopRunsWhatWasListedAfterIt();
    void postFromAPlainThreadIsPosted();
};

void tst_TurnEvents::runsFromTheEventLoopNotInsidePost()
{
    Recorder target;
    TurnEvents::post(&target, recordedType);
    bool called = false;
    TurnEvents::invoke(&target, [&called] { called = true; });
    QCOMPARE(target.received, 0);
    QVERIFY(!called);
    QTRY_COMPARE(target.received, 1);
    QVERIFY(called);
    QCOMPARE(target.lastThread, QThread::currentThread());
}

void tst_TurnEvents::keepsTheOrderOfPostsAndCalls()
{
    std::vector<int> log;
    Recorder a;
    a.log = &log;
    a.id = 1;
    Recorder b;
    b.log = &log;
    b.id = 2;
    TurnEvents::post(&a, recordedType);
    TurnEvents::invoke(&b, [&log] { log.push_back(3); });
    TurnEvents::post(&b, recordedType);
    TurnEvents::post(&a, recordedType);
    QTRY_COMPARE(log.size(), size_t(4));
    QCOMPARE(log, (std::vector<int>{1, 3, 2, 1}));
}

void tst_TurnEvents::deletedTargetGetsNothing()
{
    auto target = std::make_unique<Recorder>();
    bool called = false;
    TurnEvents::post(target.get(), recordedType);
    TurnEvents::invoke(target.get(), [&called] { called = true; });
    target.reset();
    // Something listed after them runs: they had their turn.
    Recorder witness;
    TurnEvents::post(&witness, recordedType);
    QTRY_COMPARE(witness.received, 1);
    QVERIFY(!called);
}

void tst_TurnEvents::otherThreadGetsAPostedEvent()
{
    QThread worker;
    worker.start();
    Recorder target;
    target.moveToThread(&worker);
    TurnEvents::post(&target, recordedType);
    QThread *calledOn = nullptr;
    TurnEvents::invoke(&target, [&calledOn] { calledOn = QThread::currentThread(); });
    QTRY_VERIFY(calledOn != nullptr);
    QCOMPARE(calledOn, &worker);
    QTRY_COMPARE(target.received, 1);
    QCOMPARE(target.lastThread, &worker);
    worker.quit();
    QVERIFY(worker.wait());
}

void tst_TurnEvents::workListedWhileRunningRunsInTheSamePass()
{
    // A slot that replies lists work while the list runs: it runs in the same
    // pass, before the dispatcher signals again (the list's own handler was
    // connected first, so these counters move only after a pass).
    Recorder first;
    Recorder reply;
    QAbstractEventDispatcher *dispatcher = QAbstractEventDispatcher::instance();
    int signalled = 0;
    const auto awake = connect(dispatcher, &QAbstractEventDispatcher::awake, this, [&] { ++signalled; });
    const auto aboutToBlock =
            connect(dispatcher, &QAbstractEventDispatcher::aboutToBlock, this, [&] { ++signalled; });
    int signalsAtFirst = -1;
    int signalsAtReply = -1;
    first.onEvent = [&] {
        signalsAtFirst = signalled;
        TurnEvents::post(&reply, recordedType);
    };
    reply.onEvent = [&] { signalsAtReply = signalled; };
    TurnEvents::post(&first, recordedType);
    QTRY_COMPARE(reply.received, 1);
    disconnect(awake);
    disconnect(aboutToBlock);
    QCOMPARE(first.received, 1);
    QCOMPARE(signalsAtReply, signalsAtFirst);
}

void tst_TurnEvents::relistingForeverDoesNotHoldTheLoop()
{
    // An object that relists itself at every event: the loop still runs a
    // timer and a posted call between passes, and never sleeps on listed work.
    Recorder spinner;
    bool stop = false;
    spinner.onEvent = [&] {
        if (!stop)
            TurnEvents::post(&spinner, recordedType);
    };
    TurnEvents::post(&spinner, recordedType);
    int atQueuedCall = -1;
    QMetaObject::invokeMethod(this, [&] { atQueuedCall = spinner.received; }, Qt::QueuedConnection);
    int atTimer = -1;
    QTimer::singleShot(20, this, [&] { atTimer = spinner.received; });
    QTRY_VERIFY(atTimer >= 0);
    QVERIFY(atQueuedCall >= 0);
    QVERIFY2(atQueuedCall < 1000, qPrintable(QString::number(atQueuedCall)));
    stop = true;
    const int atStop = spinner.received;
    QTRY_COMPARE(spinner.received, atStop + 1);
    QVERIFY(spinner.received > atTimer); // it kept running while the timer waited
}

void tst_TurnEvents::nestedLoopRunsWhatWasListedAfterIt()
{
    std::vector<int> log;
    Recorder outer;
    Recorder inner;
    inner.log = &log;
    inner.id = 2;
    outer.onEvent = [&] {
        log.push_back(1);
        TurnEvents::post(&inner, recordedType);
        QTRY_COMPARE_WITH_TIMEOUT(inner.received, 1, 5000); // runs in the nested loop
        log.push_back(3);
    };
    TurnEvents::post(&outer, recordedType);
    QTRY_COMPARE(log.size(), size_t(3));
    QCOMPARE(log, (std::vector<int>{1, 2, 3}));
}

void tst_TurnEvents::postFromAPlainThreadIsPosted()
{
    // A thread without an event dispatcher, for an object of this thread.
    Recorder target;
    std::thread producer([&target] { TurnEvents::post(&target, recordedType); });
    producer.join();
    QTRY_COMPARE(target.received, 1);
    QCOMPARE(target.lastThread, QThread::currentThread());
}

QTEST_GUILESS_MAIN(tst_TurnEvents)
#include "tst_turnevents.moc"
