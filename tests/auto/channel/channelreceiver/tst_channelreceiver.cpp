#include <Qonduit/channel.h>

#include "channel/channelreceiver_p.h"
#include "testsupport/spinuntil.h"

#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <QtCore/QScopeGuard>
#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <mutex>
#include <thread>

using namespace Qonduit;

namespace {

// Counts the events a receiver gets that are not ordinary Qt ones: its
// wake-ups.
class WakeCounter : public QObject
{
public:
    int wakes = 0;
    bool eventFilter(QObject *, QEvent *event) override
    {
        if (event->type() >= QEvent::User)
            ++wakes;
        return false;
    }
};

QList<int> collectInts(ChannelReceiver *receiver, QObject *context)
{
    QList<int> values;
    QObject::connect(receiver, &ChannelReceiver::messageReceived, context,
                     [&values](const QVariant &message) { values.append(message.toInt()); });
    return values;
}

} // namespace

class tst_ChannelReceiver : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void dropOldestKeepsTheNewestAndReportsLag();
    void dropNewestKeepsTheOldestAndReportsLag();
    void lagIsReportedBeforeTheNextMessage();
    void capacityBytesBoundsTheQueue();
    void oversizedMessageFitsAnEmptyQueue();
    void raisingCapacityReleasesABlockedProducer();
    void receiveTimesOut();
    void tryReceiveDoesNotWait();
    void receiveFromAThreadWithoutEventLoop();
    void receiveReturnsRawAsByteArray();
    void receiveEndsWhenClosed();
    void wakesOncePerBatch();
    void floodDoesNotStarveOtherEvents();
    void nestedEventLoopInSlotKeepsOrder();
    void nestedEventLoopDoesNotLoseLaterMessages();
    void receiveLeavesNoPileOfWakeUps();
    void notClosedWhileTheLastBatchIsDelivered();
    void deleteReceiverInsideItsSlot();
    void deleteReceiverInsideLagged();
    void closedFollowsTheLastMessage();
    void smallPayloadIsFreedByTheNextSend();
    void smallPayloadIsFreedWhenTheChannelFinishes();
    void smallPayloadIsFreedWithTheReceiver();
    void largePayloadIsFreedAfterItsSlot();
    void otherPayloadsDieOnTheReceiversThread();
    void moveToThreadInsideItsSlot();
};

void tst_ChannelReceiver::dropOldestKeepsTheNewestAndReportsLag()
{
    ChannelOptions options;
    options.capacity = 3;
    options.overflowPolicy = OverflowPolicy::DropOldest;
    auto [sender, receiver] = Channel::local(options);
    QSignalSpy lagged(receiver.get(), &ChannelReceiver::lagged);
    for (int i = 0; i < 10; ++i)
        QVERIFY(sender->send(i));
    QCOMPARE(receiver->droppedCount(), 7);
    QCOMPARE(receiver->queuedCount(), 3);
    QList<int> values;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this,
            [&](const QVariant &message) { values.append(message.toInt()); });
    QTRY_COMPARE(values, QList<int>({7, 8, 9}));
    QCOMPARE(lagged.count(), 1);
    QCOMPARE(lagged.at(0).at(0).toLongLong(), 7);
}

void tst_ChannelReceiver::dropNewestKeepsTheOldestAndReportsLag()
{
    ChannelOptions options;
    options.capacity = 3;
    options.overflowPolicy = OverflowPolicy::DropNewest;
    auto [sender, receiver] = Channel::local(options);
    QSignalSpy lagged(receiver.get(), &ChannelReceiver::lagged);
    int accepted = 0;
    for (int i = 0; i < 10; ++i)
        accepted += sender->send(i) ? 1 : 0;
    QCOMPARE(accepted, 3);
    QCOMPARE(receiver->droppedCount(), 7);
    QList<int> values;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this,
            [&](const QVariant &message) { values.append(message.toInt()); });
    QTRY_COMPARE(values, QList<int>({0, 1, 2}));
    QCOMPARE(lagged.count(), 1);
    QCOMPARE(lagged.at(0).at(0).toLongLong(), 7);
}

void tst_ChannelReceiver::lagIsReportedBeforeTheNextMessage()
{
    ChannelOptions options;
    options.capacity = 1;
    options.overflowPolicy = OverflowPolicy::DropOldest;
    auto [sender, receiver] = Channel::local(options);
    QStringList events;
    connect(receiver.get(), &ChannelReceiver::lagged, this,
            [&](qint64 count) { events.append(QStringLiteral("lagged %1").arg(count)); });
    connect(receiver.get(), &ChannelReceiver::messageReceived, this,
            [&](const QVariant &message) { events.append(QStringLiteral("message %1").arg(message.toInt())); });
    QVERIFY(sender->send(1));
    QVERIFY(sender->send(2));
    QTRY_COMPARE(events, QStringList({QStringLiteral("lagged 1"), QStringLiteral("message 2")}));
    QVERIFY(sender->send(3));
    QTRY_COMPARE(events.size(), 3);
    QCOMPARE(events.last(), QStringLiteral("message 3")); // no drop, no lagged()
    QCOMPARE(receiver->droppedCount(), 1);
}

void tst_ChannelReceiver::capacityBytesBoundsTheQueue()
{
    ChannelOptions options;
    options.capacityBytes = 100;
    options.overflowPolicy = OverflowPolicy::Reject;
    auto [sender, receiver] = Channel::local(options);
    QVERIFY(sender->sendRaw(QByteArray(60, 'a')));
    QVERIFY(sender->sendRaw(QByteArray(40, 'b'))); // exactly at the bound
    QVERIFY(!sender->sendRaw(QByteArray(1, 'c')));
    QCOMPARE(sender->error(), Error::QueueFullError);
    // A QString counts two bytes a character.
    receiver.reset();
    auto pair = Channel::local(options);
    QVERIFY(pair.sender->send(QString(50, u'x')));
    QVERIFY(!pair.sender->send(QString(1, u'y')));
}

void tst_ChannelReceiver::oversizedMessageFitsAnEmptyQueue()
{
    ChannelOptions options;
    options.capacityBytes = 10;
    options.overflowPolicy = OverflowPolicy::Reject;
    auto [sender, receiver] = Channel::local(options);
    QVERIFY(sender->sendRaw(QByteArray(1000, 'a')));
    QVERIFY(!sender->sendRaw(QByteArray(1, 'b')));
    QSignalSpy raw(receiver.get(), &ChannelReceiver::rawMessageReceived);
    QVERIFY(raw.wait());
    QCOMPARE(raw.at(0).at(0).toByteArray().size(), 1000);
    QVERIFY(sender->sendRaw(QByteArray(1000, 'c')));
}

void tst_ChannelReceiver::raisingCapacityReleasesABlockedProducer()
{
    ChannelOptions options;
    options.capacity = 1;
    ChannelPair pair = Channel::local(options);
    QVERIFY(pair.sender->send(0));
    std::atomic<int> outcome{-1};
    std::thread producer([&outcome, s = pair.sender.get()] { outcome = s->send(1) ? 1 : 0; });
    // On a failed check too, the producer must not be left waiting.
    const auto join = qScopeGuard([&pair, &producer] {
        pair.receiver.reset();
        producer.join();
    });
    Mailbox &mailbox = *static_cast<ChannelReceiverPrivate *>(ChannelEndpointPrivate::get(pair.receiver.get()))->mailbox;
    // Without running the event loop, which would drain the queue.
    using QonduitTest::spinUntil;
    QVERIFY(spinUntil([&] { return mailbox.blockedProducerCount() == 1; }));
    QCOMPARE(outcome.load(), -1);
    pair.receiver->setCapacity(2);
    QVERIFY(spinUntil([&] { return outcome.load() == 1; }));
    QCOMPARE(pair.receiver->capacity(), 2);
    QCOMPARE(pair.receiver->queuedCount(), 2);
}

void tst_ChannelReceiver::receiveTimesOut()
{
    auto [sender, receiver] = Channel::local();
    QDeadlineTimer deadline(20);
    const auto message = receiver->receive(deadline);
    QVERIFY(!message.has_value());
    QVERIFY(deadline.hasExpired());
    QCOMPARE(receiver->error(), Error::TimeoutError);
    QVERIFY(!receiver->errorString().isEmpty());
}

void tst_ChannelReceiver::tryReceiveDoesNotWait()
{
    auto [sender, receiver] = Channel::local();
    QVERIFY(!receiver->tryReceive().has_value());
    QVERIFY(sender->send(QStringLiteral("now")));
    const auto message = receiver->tryReceive();
    QVERIFY(message.has_value());
    QCOMPARE(message->toString(), QStringLiteral("now"));
    QCOMPARE(receiver->queuedCount(), 0);
}

void tst_ChannelReceiver::receiveFromAThreadWithoutEventLoop()
{
    auto [sender, receiver] = Channel::local();
    QList<int> values;
    std::thread consumer([&, r = receiver.get()] {
        while (auto message = r->receive())
            values.append(message->toInt());
    });
    for (int i = 0; i < 1000; ++i)
        QVERIFY(sender->send(i));
    sender.reset(); // the consumer's receive() returns nothing once drained
    consumer.join();
    QCOMPARE(values.size(), 1000);
    for (int i = 0; i < 1000; ++i)
        QCOMPARE(values.at(i), i);
    QCOMPARE(receiver->error(), Error::ChannelClosedError);
}

void tst_ChannelReceiver::receiveReturnsRawAsByteArray()
{
    auto [sender, receiver] = Channel::local();
    QVERIFY(sender->sendRaw(QByteArrayLiteral("raw")));
    const auto message = receiver->tryReceive();
    QVERIFY(message.has_value());
    QCOMPARE(message->metaType(), QMetaType::fromType<QByteArray>());
    QCOMPARE(message->toByteArray(), QByteArrayLiteral("raw"));
}

void tst_ChannelReceiver::receiveEndsWhenClosed()
{
    auto [sender, receiver] = Channel::local();
    QVERIFY(sender->send(1));
    sender->close();
    QCOMPARE(receiver->receive()->toInt(), 1);
    QVERIFY(!receiver->receive().has_value()); // Forever, yet returns at once
    QCOMPARE(receiver->error(), Error::ChannelClosedError);
}

void tst_ChannelReceiver::wakesOncePerBatch()
{
    ChannelOptions options;
    options.deliveryBudget = 100;
    auto [sender, receiver] = Channel::local(options);
    WakeCounter counter;
    receiver->installEventFilter(&counter);
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&] { ++received; });
    for (int i = 0; i < 1000; ++i)
        QVERIFY(sender->send(i));
    QTRY_COMPARE(received, 1000);
    // 1000 messages queued before the loop ran: one wake-up, then one re-post
    // per further batch of 100.
    QCOMPARE(counter.wakes, 10);
    QVERIFY(sender->send(1000));
    QTRY_COMPARE(received, 1001);
    QCOMPARE(counter.wakes, 11);
}

void tst_ChannelReceiver::floodDoesNotStarveOtherEvents()
{
    ChannelOptions options;
    options.deliveryBudget = 64;
    auto [sender, receiver] = Channel::local(options);
    constexpr int total = 50000;
    int received = 0;
    int receivedWhenTimerFired = -1;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&] { ++received; });
    for (int i = 0; i < total; ++i)
        QVERIFY(sender->send(i));
    // Posted after the flood: it runs between batches, long before the end.
    QMetaObject::invokeMethod(this, [&] { receivedWhenTimerFired = received; }, Qt::QueuedConnection);
    QTRY_COMPARE(received, total);
    QVERIFY(receivedWhenTimerFired >= 0);
    QVERIFY2(receivedWhenTimerFired <= 2 * options.deliveryBudget,
             qPrintable(QStringLiteral("the queued call ran after %1 messages").arg(receivedWhenTimerFired)));
}

void tst_ChannelReceiver::nestedEventLoopInSlotKeepsOrder()
{
    // A slot that spins the event loop (as a modal dialog does) is never
    // re-entered, like QAbstractSocket::readyRead(): later messages wait for
    // it to return and arrive in order.
    ChannelOptions options;
    options.deliveryBudget = 4;
    auto [sender, receiver] = Channel::local(options);
    QList<int> values;
    int depth = 0;
    int deepest = 0;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&](const QVariant &message) {
        deepest = qMax(deepest, ++depth);
        values.append(message.toInt());
        if (message.toInt() % 3 == 1)
            QCoreApplication::processEvents();
        --depth;
    });
    for (int i = 0; i < 40; ++i)
        QVERIFY(sender->send(i));
    sender.reset();
    QSignalSpy closed(receiver.get(), &ChannelReceiver::closed);
    QTRY_COMPARE(values.size(), 40);
    for (int i = 0; i < 40; ++i)
        QCOMPARE(values.at(i), i);
    QCOMPARE(deepest, 1);
    QTRY_COMPARE(closed.count(), 1);
}

void tst_ChannelReceiver::nestedEventLoopDoesNotLoseLaterMessages()
{
    // The queue empties, then a slot spins the loop while another thread
    // sends: that message's wake-up must not be swallowed.
    auto [sender, receiver] = Channel::local();
    QList<int> values;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&, s = sender.get()](const QVariant &message) {
        values.append(message.toInt());
        if (message.toInt() == 2) {
            std::thread([s] { s->send(3); }).join();
            QCoreApplication::processEvents();
        }
    });
    QVERIFY(sender->send(1));
    QVERIFY(sender->send(2));
    QTRY_COMPARE(values, QList<int>({1, 2, 3}));
    QVERIFY(sender->send(4));
    QTRY_COMPARE(values, QList<int>({1, 2, 3, 4}));
    QCOMPARE(receiver->queuedCount(), 0);
}

void tst_ChannelReceiver::receiveLeavesNoPileOfWakeUps()
{
    // A consumer thread empties the queue message by message while the
    // receiver's own thread does not run its loop: at most one wake-up event
    // may wait for it, not one per message.
    auto [sender, receiver] = Channel::local();
    WakeCounter counter;
    receiver->installEventFilter(&counter);
    int received = 0;
    std::thread consumer([&, r = receiver.get()] {
        while (r->receive())
            ++received;
    });
    std::thread producer([s = std::move(sender)]() mutable {
        for (int i = 0; i < 2000; ++i)
            s->send(i);
        s.reset();
    });
    producer.join();
    consumer.join();
    QCOMPARE(received, 2000);
    QCoreApplication::processEvents();
    QVERIFY2(counter.wakes <= 1, qPrintable(QString::number(counter.wakes)));
}

void tst_ChannelReceiver::notClosedWhileTheLastBatchIsDelivered()
{
    auto [sender, receiver] = Channel::local();
    QList<bool> closedDuringDelivery;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this,
            [&, r = receiver.get()] { closedDuringDelivery.append(r->isClosed()); });
    QVERIFY(sender->send(1));
    QVERIFY(sender->send(2));
    sender.reset();
    QSignalSpy closed(receiver.get(), &ChannelReceiver::closed);
    QVERIFY(closed.wait());
    QCOMPARE(closedDuringDelivery, QList<bool>({false, false}));
    QVERIFY(receiver->isClosed());
}

void tst_ChannelReceiver::deleteReceiverInsideItsSlot()
{
    auto [sender, receiver] = Channel::local();
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&, &r = receiver] {
        ++received;
        r.reset();
    });
    for (int i = 0; i < 5; ++i)
        QVERIFY(sender->send(i));
    QTRY_VERIFY(!receiver);
    QCoreApplication::processEvents();
    QCOMPARE(received, 1); // the rest of the batch died with the receiver
    QVERIFY(!sender->send(5));
    QCOMPARE(sender->error(), Error::ChannelClosedError);
}

void tst_ChannelReceiver::deleteReceiverInsideLagged()
{
    ChannelOptions options;
    options.capacity = 1;
    options.overflowPolicy = OverflowPolicy::DropOldest;
    auto [sender, receiver] = Channel::local(options);
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&] { ++received; });
    connect(receiver.get(), &ChannelReceiver::lagged, this, [&r = receiver] { r.reset(); });
    QVERIFY(sender->send(1));
    QVERIFY(sender->send(2));
    QTRY_VERIFY(!receiver);
    QCOMPARE(received, 0);
}

void tst_ChannelReceiver::closedFollowsTheLastMessage()
{
    auto [sender, receiver] = Channel::local();
    QStringList events;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this,
            [&] { events.append(QStringLiteral("message")); });
    connect(receiver.get(), &ChannelReceiver::disconnected, this, [&] { events.append(QStringLiteral("disconnected")); });
    connect(receiver.get(), &ChannelReceiver::closed, this, [&] { events.append(QStringLiteral("closed")); });
    QVERIFY(sender->send(1));
    QVERIFY(sender->send(2));
    sender.reset();
    QTRY_COMPARE(events.size(), 4);
    QCOMPARE(events, QStringList({QStringLiteral("message"), QStringLiteral("message"),
                                  QStringLiteral("disconnected"), QStringLiteral("closed")}));
    QVERIFY(receiver->isClosed());
    QCoreApplication::processEvents();
    QCOMPARE(events.size(), 4); // closed() once
}

// Small byte arrays and strings go back to the producers once delivered, to
// be freed on the thread that allocated them (D47): the next send frees them.
void tst_ChannelReceiver::smallPayloadIsFreedByTheNextSend()
{
    auto [sender, receiver] = Channel::local();
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::rawMessageReceived, this, [&] { ++received; });
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&] { ++received; });
    const QByteArray bytes(64, 'b');
    const QString text(32, QLatin1Char('s'));
    QVERIFY(sender->sendRaw(bytes));
    QVERIFY(sender->send(text));
    QTRY_COMPARE(received, 2);
    QVERIFY(!bytes.isDetached()); // handed back, not yet freed
    QVERIFY(!text.isDetached());
    QVERIFY(sender->sendRaw(QByteArrayLiteral("next")));
    QVERIFY(bytes.isDetached());
    QVERIFY(text.isDetached());
}

void tst_ChannelReceiver::smallPayloadIsFreedWhenTheChannelFinishes()
{
    auto [sender, receiver] = Channel::local();
    const QByteArray bytes(64, 'b');
    QVERIFY(sender->sendRaw(bytes));
    QSignalSpy received(receiver.get(), &ChannelReceiver::rawMessageReceived);
    QVERIFY(received.wait());
    received.clear(); // the spy's own copy
    QVERIFY(!bytes.isDetached());
    sender.reset(); // no producer is left to free it
    QSignalSpy closed(receiver.get(), &ChannelReceiver::closed);
    QVERIFY(closed.wait());
    QVERIFY(bytes.isDetached());
}

void tst_ChannelReceiver::smallPayloadIsFreedWithTheReceiver()
{
    auto [sender, receiver] = Channel::local();
    const QByteArray bytes(64, 'b');
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::rawMessageReceived, this, [&] { ++received; });
    QVERIFY(sender->sendRaw(bytes));
    QTRY_COMPARE(received, 1);
    QVERIFY(!bytes.isDetached());
    receiver.reset();
    QVERIFY(bytes.isDetached());
}

// What is large is the memory a payload holds: a few bytes read into a large
// buffer keep the buffer.
void tst_ChannelReceiver::largePayloadIsFreedAfterItsSlot()
{
    auto [sender, receiver] = Channel::local();
    const QByteArray bytes(2048, 'b');
    QByteArray shortInLargeBuffer(10, 's');
    shortInLargeBuffer.reserve(1024 * 1024);
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::rawMessageReceived, this, [&] { ++received; });
    QVERIFY(sender->sendRaw(bytes));
    QVERIFY(sender->sendRaw(shortInLargeBuffer));
    QVERIFY(!bytes.isDetached());
    QVERIFY(!shortInLargeBuffer.isDetached());
    QTRY_COMPARE(received, 2);
    QVERIFY(bytes.isDetached());
    QVERIFY(shortInLargeBuffer.isDetached());
}

// A payload whose destructor may do more than free memory is destroyed on
// the receiver's thread, right after its slot, as it always was.
void tst_ChannelReceiver::otherPayloadsDieOnTheReceiversThread()
{
    auto [sender, receiver] = Channel::local();
    std::atomic<QThread *> diedOn{nullptr};
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&] { ++received; });
    bool sent = false;
    std::thread producer([&, s = sender.get()] {
        auto value = std::shared_ptr<int>(new int(7), [&diedOn](int *p) {
            diedOn.store(QThread::currentThread());
            delete p;
        });
        sent = s->send(QVariant::fromValue(value));
    });
    producer.join();
    QVERIFY(sent);
    QCOMPARE(diedOn.load(), nullptr); // the queue holds the last reference
    QTRY_COMPARE(received, 1);
    QCOMPARE(diedOn.load(), QThread::currentThread());
}

// A slot moves the receiver to a worker thread and sends more: the rest of
// the batch is still emitted here, the sends wake the receiver on the worker,
// and the worker leaves the delivery to this thread until it ends. The slot
// waits until the worker has handled that wake-up, so the two overlap for
// sure. Every message arrives once, in order, and never two slots at once.
void tst_ChannelReceiver::moveToThreadInsideItsSlot()
{
    constexpr int firstBatch = 5;
    constexpr int sentFromSlot = 5;
    auto [sender, receiver] = Channel::local();
    QThread worker;
    worker.start();
    auto stopWorker = qScopeGuard([&] {
        worker.quit();
        worker.wait();
    });
    std::atomic<int> inSlot{0};
    std::atomic<int> overlaps{0};
    std::mutex seenMutex;
    QList<int> seen;
    ChannelReceiver *const r = receiver.get();
    ChannelSender *const s = sender.get();
    connect(
        r, &ChannelReceiver::messageReceived, r,
        [&](const QVariant &message) {
            if (inSlot.fetch_add(1) != 0)
                ++overlaps;
            const int value = message.toInt();
            {
                const std::lock_guard lock(seenMutex);
                seen.append(value);
            }
            if (value == 2) {
                r->moveToThread(&worker);
                for (int i = 0; i < sentFromSlot; ++i)
                    s->send(firstBatch + i);
                // Returns once the worker handled every event posted
                // before this call, the receiver's wake-up included.
                QMetaObject::invokeMethod(r, [] {}, Qt::BlockingQueuedConnection);
            }
            inSlot.fetch_sub(1);
        },
        Qt::DirectConnection);
    for (int i = 0; i < firstBatch; ++i)
        QVERIFY(sender->send(i));
    const auto seenCount = [&] {
        const std::lock_guard lock(seenMutex);
        return seen.size();
    };
    QTRY_COMPARE(seenCount(), firstBatch + sentFromSlot);
    QList<int> expected;
    for (int i = 0; i < firstBatch + sentFromSlot; ++i)
        expected.append(i);
    {
        const std::lock_guard lock(seenMutex);
        QCOMPARE(seen, expected);
    }
    QCOMPARE(overlaps.load(), 0);
    QCOMPARE(r->thread(), &worker);
    // The receiver lives on the worker now: it is destroyed there.
    QMetaObject::invokeMethod(r, [&receiver = receiver] { receiver.reset(); }, Qt::BlockingQueuedConnection);
}

QTEST_GUILESS_MAIN(tst_ChannelReceiver)
#include "tst_channelreceiver.moc"
