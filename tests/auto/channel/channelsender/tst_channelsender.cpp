#include <Qonduit/channel.h>

#include "channel/channelsender_p.h"
#include "testsupport/spinuntil.h"

#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <QtCore/QScopeGuard>
#include <QtCore/QThread>

#include <atomic>
#include <thread>
#include <vector>

using namespace Qonduit;
using QonduitTest::spinUntil;

namespace {

// Joins on every exit path, so that a failed check cannot std::terminate.
struct JoiningThread : std::thread
{
    using std::thread::thread;
    JoiningThread(JoiningThread &&) = default;
    ~JoiningThread()
    {
        if (joinable())
            join();
    }
};

// Producers waiting in send() for room in sender's channel.
int blockedProducers(ChannelSender *sender)
{
    return static_cast<ChannelSenderPrivate *>(ChannelEndpointPrivate::get(sender))->mailbox->blockedProducerCount();
}

} // namespace

class tst_ChannelSender : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void cloneSendsOnTheSameChannel();
    void sendTakesOverAMovedVariant();
    void closedOnlyWhenEverySenderIsGone();
    void closeStopsOneSender();
    void cloneOfClosedSenderIsClosed();
    void sendAfterReceiverIsGoneFails();
    void sendIsSafeFromManyThreads();
    void blockWaitsForRoomOnAThreadWithoutEventLoop();
    void blockNeverFreezesTheReceiversThread();
    void blockNeverFreezesAThreadRunningAnEventLoop();
    void blockedProducerIsReleasedWhenReceiverGoes();
    void blockedProducerIsReleasedWhenItsSenderCloses();
    void rejectFailsWithQueueFull();
    void dropNewestFailsSilently();
    void readyToSendFollowsQueueFull();
    void readyToSendComesOnTheSendersThread();
    void readyToSendWhenTheReceiverGoes();
    void senderDestroyedWhileWaitingForRoom();
    void deleteSenderInsideReceiverSlot();
};

void tst_ChannelSender::cloneSendsOnTheSameChannel()
{
    auto [sender, receiver] = Channel::local();
    auto clone = sender->clone();
    QVERIFY(clone);
    QVERIFY(clone->isOpen());
    QSignalSpy spy(receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(sender->send(1));
    QVERIFY(clone->send(2));
    QTRY_COMPARE(spy.count(), 2);
    // Two senders' messages interleave in no set order (threading.md).
    QSet<int> received{spy.at(0).at(0).value<QVariant>().toInt(), spy.at(1).at(0).value<QVariant>().toInt()};
    QCOMPARE(received, (QSet<int>{1, 2}));
}

void tst_ChannelSender::sendTakesOverAMovedVariant()
{
    auto [sender, receiver] = Channel::local();
    QSignalSpy spy(receiver.get(), &ChannelReceiver::messageReceived);
    const QByteArray payload(64, 'q');
    QVariant message(payload);
    QVERIFY(sender->send(std::move(message)));
    QVERIFY(!message.isValid()); // taken over, not copied
    QTRY_COMPARE(spy.count(), 1);
    const QByteArray delivered = spy.at(0).at(0).value<QVariant>().toByteArray();
    QCOMPARE(delivered, payload);
    QVERIFY(delivered.constData() == payload.constData()); // the sender's bytes, never copied
}

void tst_ChannelSender::closedOnlyWhenEverySenderIsGone()
{
    auto [sender, receiver] = Channel::local();
    auto clone = sender->clone();
    QSignalSpy closed(receiver.get(), &ChannelReceiver::closed);
    QSignalSpy messages(receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(clone->send(QStringLiteral("last words")));
    sender.reset();
    QTRY_COMPARE(messages.count(), 1);
    QCoreApplication::processEvents();
    QCOMPARE(closed.count(), 0); // one sender is still alive
    QVERIFY(!receiver->isClosed());
    clone.reset();
    QTRY_COMPARE(closed.count(), 1);
    QVERIFY(receiver->isClosed());
    QCOMPARE(receiver->state(), ChannelState::UnconnectedState);
    QCOMPARE(messages.count(), 1);
}

void tst_ChannelSender::closeStopsOneSender()
{
    auto [sender, receiver] = Channel::local();
    QSignalSpy closed(receiver.get(), &ChannelReceiver::closed);
    QSignalSpy states(sender.get(), &ChannelSender::stateChanged);
    QSignalSpy errors(sender.get(), &ChannelSender::errorOccurred);
    QVERIFY(sender->send(1));
    sender->close();
    QVERIFY(!sender->isOpen());
    QCOMPARE(sender->state(), ChannelState::UnconnectedState);
    QCOMPARE(states.count(), 1);
    QVERIFY(!sender->send(2));
    QCOMPARE(errors.count(), 1);
    QCOMPARE(sender->error(), Error::ChannelClosedError);
    QVERIFY(!sender->errorString().isEmpty());
    QTRY_COMPARE(closed.count(), 1);
    sender->close(); // closing twice is harmless
    QCOMPARE(states.count(), 1);
}

void tst_ChannelSender::cloneOfClosedSenderIsClosed()
{
    auto [sender, receiver] = Channel::local();
    sender->close();
    auto clone = sender->clone();
    QVERIFY(!clone->isOpen());
    QVERIFY(!clone->send(1));
    QCOMPARE(clone->error(), Error::ChannelClosedError);
    QSignalSpy closed(receiver.get(), &ChannelReceiver::closed);
    QVERIFY(closed.wait());
}

void tst_ChannelSender::sendAfterReceiverIsGoneFails()
{
    auto [sender, receiver] = Channel::local();
    receiver.reset();
    QSignalSpy errors(sender.get(), &ChannelSender::errorOccurred);
    QVERIFY(!sender->send(1));
    QVERIFY(!sender->sendRaw(QByteArrayLiteral("x")));
    QCOMPARE(errors.count(), 2);
    QCOMPARE(errors.at(0).at(0).value<Error>(), Error::ChannelClosedError);
    QVERIFY(sender->errorString().contains(QStringLiteral("receiver")));
}

void tst_ChannelSender::sendIsSafeFromManyThreads()
{
    // One sender object shared by four threads (no clones): send() is
    // documented as safe from any thread.
    auto [sender, receiver] = Channel::local();
    constexpr int threads = 4;
    constexpr int perThread = 50000; // 200,000 in all: more than the default capacity
    std::vector<int> lastSeen(threads, -1);
    bool ordered = true;
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&](const QVariant &message) {
        const auto packed = message.toLongLong();
        const int producer = int(packed >> 32);
        const int sequence = int(packed & 0xffffffff);
        ordered &= sequence == lastSeen[producer] + 1;
        lastSeen[producer] = sequence;
        ++received;
    });
    std::atomic<int> failures{0};
    std::vector<JoiningThread> producers;
    for (int p = 0; p < threads; ++p) {
        producers.emplace_back([&, p, s = sender.get()] {
            for (int i = 0; i < perThread; ++i) {
                if (!s->send((qint64(p) << 32) | i))
                    failures.fetch_add(1);
            }
        });
    }
    // Drain before joining: under Block a full queue holds producers back.
    QTRY_COMPARE(received, threads * perThread);
    for (auto &t : producers)
        t.join();
    QCOMPARE(failures.load(), 0);
    QVERIFY(ordered);
}

void tst_ChannelSender::blockWaitsForRoomOnAThreadWithoutEventLoop()
{
    ChannelOptions options;
    options.capacity = 2;
    options.overflowPolicy = OverflowPolicy::Block;
    auto [sender, receiver] = Channel::local(options);
    std::atomic<int> sent{0};
    JoiningThread producer([&, s = sender.get()] {
        for (int i = 0; i < 10; ++i) {
            if (s->send(i))
                sent.fetch_add(1);
        }
    });
    // The producer fills the queue and then waits: only our draining, which
    // needs the event loop, lets it go on.
    QVERIFY(spinUntil([&] { return sent.load() == 2; }));
    QCOMPARE(receiver->queuedCount(), 2);
    QList<int> received;
    qsizetype mostQueued = 0;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&, r = receiver.get()](const QVariant &message) {
        received.append(message.toInt());
        mostQueued = qMax(mostQueued, r->queuedCount());
    });
    QTRY_COMPARE(received.size(), 10);
    producer.join();
    QCOMPARE(sent.load(), 10);
    QVERIFY(mostQueued <= 2);
    QCOMPARE(received, QList<int>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    QCOMPARE(receiver->droppedCount(), 0);
}

void tst_ChannelSender::blockNeverFreezesTheReceiversThread()
{
    // The main thread drains this channel, so waiting here would deadlock.
    // Before the event loop runs, loopLevel() is 0: the thread check matters.
    ChannelOptions options;
    options.capacity = 1;
    auto [sender, receiver] = Channel::local(options);
    QCOMPARE(receiver->overflowPolicy(), OverflowPolicy::Block);
    QVERIFY(sender->send(1));
    QVERIFY(!sender->send(2));
    QCOMPARE(sender->error(), Error::QueueFullError);
    QVERIFY(sender->errorString().contains(QStringLiteral("full")));
}

void tst_ChannelSender::blockNeverFreezesAThreadRunningAnEventLoop()
{
    ChannelOptions options;
    options.capacity = 1;
    auto [sender, receiver] = Channel::local(options);
    QThread worker; // runs an event loop
    worker.start();
    sender->moveToThread(&worker);
    std::atomic<int> results{-1};
    QMetaObject::invokeMethod(sender.get(), [&, s = sender.get()] {
        const bool first = s->send(1);
        const bool second = s->send(2);
        results = (first ? 1 : 0) + (second ? 2 : 0);
    });
    QTRY_COMPARE(results.load(), 1);
    QCOMPARE(sender->error(), Error::QueueFullError);
    QMetaObject::invokeMethod(sender.release(), &QObject::deleteLater);
    worker.quit();
    QVERIFY(worker.wait(5000));
}

void tst_ChannelSender::blockedProducerIsReleasedWhenReceiverGoes()
{
    ChannelOptions options;
    options.capacity = 1;
    auto [sender, receiver] = Channel::local(options);
    std::atomic<int> outcome{-1};
    QVERIFY(sender->send(0));
    JoiningThread producer([&, s = sender.get()] { outcome = s->send(1) ? 1 : 0; });
    // Destroyed before producer, so that a failed check does not leave it
    // waiting for ever.
    const auto release = qScopeGuard([s = sender.get()] { s->close(); });
    QVERIFY(spinUntil([&] { return blockedProducers(sender.get()) == 1; }));
    QCOMPARE(outcome.load(), -1);
    receiver.reset();
    producer.join();
    QCOMPARE(outcome.load(), 0);
    QCOMPARE(sender->error(), Error::ChannelClosedError);
}

void tst_ChannelSender::blockedProducerIsReleasedWhenItsSenderCloses()
{
    // Shutting a producer down: close() from the main thread, which is not
    // draining, must end a send() blocked on a full queue, even while other
    // senders keep the channel open.
    ChannelOptions options;
    options.capacity = 1;
    auto [sender, receiver] = Channel::local(options);
    auto other = sender->clone();
    std::atomic<int> sent{0};
    JoiningThread producer([&, s = sender.get()] {
        while (s->send(sent.load()))
            sent.fetch_add(1);
    });
    const auto release = qScopeGuard([s = sender.get()] { s->close(); }); // on a failed check too
    QVERIFY(spinUntil([&] { return blockedProducers(sender.get()) == 1; }));
    QCOMPARE(sent.load(), 1);
    sender->close();
    producer.join();
    QCOMPARE(sent.load(), 1);
    QCOMPARE(sender->error(), Error::ChannelClosedError);
    QVERIFY(other->isOpen());
    QCOMPARE(receiver->queuedCount(), 1);
}

void tst_ChannelSender::rejectFailsWithQueueFull()
{
    ChannelOptions options;
    options.capacity = 2;
    options.overflowPolicy = OverflowPolicy::Reject;
    auto [sender, receiver] = Channel::local(options);
    QSignalSpy errors(sender.get(), &ChannelSender::errorOccurred);
    QVERIFY(sender->send(1));
    QVERIFY(sender->send(2));
    QVERIFY(!sender->send(3));
    QCOMPARE(errors.count(), 1);
    QCOMPARE(errors.at(0).at(0).value<Error>(), Error::QueueFullError);
    QCOMPARE(receiver->droppedCount(), 0); // the producer kept it: not a drop
    QSignalSpy messages(receiver.get(), &ChannelReceiver::messageReceived);
    QTRY_COMPARE(messages.count(), 2);
    QVERIFY(sender->send(3)); // room again
}

void tst_ChannelSender::dropNewestFailsSilently()
{
    ChannelOptions options;
    options.capacity = 2;
    options.overflowPolicy = OverflowPolicy::DropNewest;
    auto [sender, receiver] = Channel::local(options);
    QSignalSpy errors(sender.get(), &ChannelSender::errorOccurred);
    QVERIFY(sender->send(1));
    QVERIFY(sender->send(2));
    QVERIFY(!sender->send(3));
    QCOMPARE(errors.count(), 0);
    QCOMPARE(sender->error(), Error::NoError);
    QCOMPARE(receiver->droppedCount(), 1);
}

void tst_ChannelSender::readyToSendFollowsQueueFull()
{
    ChannelOptions options;
    options.capacity = 4;
    options.overflowPolicy = OverflowPolicy::Reject;
    auto [sender, receiver] = Channel::local(options);
    QSignalSpy ready(sender.get(), &ChannelSender::readyToSend);
    QSignalSpy messages(receiver.get(), &ChannelReceiver::messageReceived);

    // Nothing refused: no signal.
    QVERIFY(sender->send(0));
    QTRY_COMPARE(messages.count(), 1);
    QCoreApplication::processEvents();
    QCOMPARE(ready.count(), 0);

    for (int i = 1; i <= 4; ++i)
        QVERIFY(sender->send(i));
    QVERIFY(!sender->send(5));
    QVERIFY(!sender->send(5)); // refused twice, told once
    QCOMPARE(sender->error(), Error::QueueFullError);
    QVERIFY(sender->errorString().contains(QStringLiteral("readyToSend")));
    QVERIFY(ready.wait());
    QTRY_COMPARE(messages.count(), 5);
    QCoreApplication::processEvents();
    QCOMPARE(ready.count(), 1);
    QVERIFY(sender->send(5));
    QTRY_COMPARE(messages.count(), 6);
    QCOMPARE(messages.last().at(0).toInt(), 5);
}

void tst_ChannelSender::readyToSendComesOnTheSendersThread()
{
    ChannelOptions options;
    options.capacity = 1;
    options.overflowPolicy = OverflowPolicy::Reject;
    auto [sender, receiver] = Channel::local(options);
    QThread senderThread;
    senderThread.start();
    auto stopThread = qScopeGuard([&] {
        senderThread.quit();
        senderThread.wait();
    });
    sender->moveToThread(&senderThread);
    std::atomic<QThread *> emittedOn{nullptr};
    connect(sender.get(), &ChannelSender::readyToSend, sender.get(),
            [&] { emittedOn.store(QThread::currentThread()); }, Qt::DirectConnection);
    // send() is safe from any thread; the refusal is this sender's.
    QVERIFY(sender->send(1));
    QVERIFY(!sender->send(2));
    QSignalSpy messages(receiver.get(), &ChannelReceiver::messageReceived);
    QTRY_COMPARE(messages.count(), 1);
    QTRY_VERIFY(emittedOn.load() != nullptr);
    QCOMPARE(emittedOn.load(), &senderThread);
    // Back to this thread before that one ends, to be destroyed here (only
    // the thread an object lives in may move it).
    QThread *const testThread = QThread::currentThread();
    QMetaObject::invokeMethod(sender.get(), [s = sender.get(), testThread] { s->moveToThread(testThread); },
                              Qt::BlockingQueuedConnection);
}

void tst_ChannelSender::readyToSendWhenTheReceiverGoes()
{
    ChannelOptions options;
    options.capacity = 1;
    options.overflowPolicy = OverflowPolicy::Reject;
    auto [sender, receiver] = Channel::local(options);
    QSignalSpy ready(sender.get(), &ChannelSender::readyToSend);
    QVERIFY(sender->send(1));
    QVERIFY(!sender->send(2));
    receiver.reset();
    QVERIFY(ready.wait());
    QVERIFY(!sender->send(2));
    QCOMPARE(sender->error(), Error::ChannelClosedError);
}

void tst_ChannelSender::senderDestroyedWhileWaitingForRoom()
{
    ChannelOptions options;
    options.capacity = 1;
    options.overflowPolicy = OverflowPolicy::Reject;
    auto [sender, receiver] = Channel::local(options);
    auto clone = sender->clone();
    QVERIFY(sender->send(1));
    QVERIFY(!sender->send(2));
    QVERIFY(!clone->send(2));
    QSignalSpy cloneReady(clone.get(), &ChannelSender::readyToSend);
    sender.reset(); // gone before the room comes: nothing may reach it
    QSignalSpy messages(receiver.get(), &ChannelReceiver::messageReceived);
    QVERIFY(cloneReady.wait());
    QCOMPARE(messages.count(), 1);
}

void tst_ChannelSender::deleteSenderInsideReceiverSlot()
{
    auto [sender, receiver] = Channel::local();
    QSignalSpy closed(receiver.get(), &ChannelReceiver::closed);
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&, &s = sender] {
        ++received;
        s.reset();
    });
    QVERIFY(sender->send(1));
    QVERIFY(sender->send(2));
    QTRY_COMPARE(closed.count(), 1);
    QCOMPARE(received, 2); // queued messages still arrive after the sender is gone
    QVERIFY(!sender);
}

QTEST_GUILESS_MAIN(tst_ChannelSender)
#include "tst_channelsender.moc"
