// Many producer threads into one in-process channel, through the public API:
// nothing lost, nothing duplicated, per-producer order kept, and every drop
// counted and reported. Producers are std::thread (no event loop), so the Block
// policy really makes them wait for room.

#include <Qonduit/channel.h>

#include "testsupport/spinuntil.h"

#include <QtCore/qdeadlinetimer.h>
#include <QtCore/qelapsedtimer.h>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace Qonduit;

namespace {

// What each message carries: who sent it and its place in that sender's stream.
struct Stamp
{
    int producer = -1;
    qint64 sequence = -1;
};

} // namespace

Q_DECLARE_METATYPE(Stamp)

namespace {

constexpr int producerCount = 8;
constexpr qint64 perProducer = 200000;
constexpr qint64 total = producerCount * perProducer;
constexpr int longWait = 60000; // ms; reached only when something is broken

// Checks the messages one consumer gets, on that consumer's thread: per
// producer the sequences rise, and with lossless by exactly one from 0.
class Tally
{
public:
    explicit Tally(bool lossless)
        : m_next(producerCount, 0)
        , m_lossless(lossless)
    {
    }

    void accept(const QVariant &message)
    {
        ++m_received;
        if (message.metaType() != QMetaType::fromType<Stamp>()) {
            fail("a message of type " + std::string(message.metaType().name() ? message.metaType().name() : "?"));
            return;
        }
        const Stamp stamp = message.value<Stamp>();
        if (stamp.producer < 0 || stamp.producer >= producerCount || stamp.sequence < 0
            || stamp.sequence >= perProducer) {
            fail("an unknown stamp");
            return;
        }
        qint64 &next = m_next[stamp.producer];
        if (m_lossless ? stamp.sequence != next : stamp.sequence < next) {
            fail("producer " + std::to_string(stamp.producer) + ": got " + std::to_string(stamp.sequence)
                 + ", expected " + (m_lossless ? "" : ">= ") + std::to_string(next));
        }
        next = stamp.sequence + 1;
    }

    qint64 received() const { return m_received; }
    qint64 errors() const { return m_errors; }
    QByteArray report() const
    {
        return QByteArray::number(m_errors) + " wrong message(s); first: " + QByteArray::fromStdString(m_first);
    }

private:
    void fail(std::string text)
    {
        if (m_errors++ == 0)
            m_first = std::move(text);
    }

    std::vector<qint64> m_next;
    bool m_lossless;
    qint64 m_received = 0;
    qint64 m_errors = 0;
    std::string m_first;
};

// producerCount std::threads, each sending perProducer stamps through its own
// clone of one sender. Each thread clones on itself, so its sender lives and
// dies there, and destroying the last clone closes the channel.
class Producers
{
public:
    explicit Producers(const ChannelSender &original)
    {
        for (int p = 0; p < producerCount; ++p) {
            m_threads.emplace_back([this, &original, p] {
                std::unique_ptr<ChannelSender> sender = original.clone();
                m_cloned.fetch_add(1);
                for (qint64 i = 0; i < perProducer; ++i) {
                    if (sender->send(Stamp{p, i}))
                        m_accepted.fetch_add(1, std::memory_order_relaxed);
                    else
                        m_refused.fetch_add(1, std::memory_order_relaxed);
                }
                sender.reset(); // the channel closes with the last clone
            });
        }
    }
    ~Producers() { join(); }
    Q_DISABLE_COPY_MOVE(Producers)

    // Until every producer cloned the original, so that it may go; false after
    // longWait. No event loop is needed for that.
    bool waitUntilCloned() const
    {
        return QonduitTest::spinUntil([this] { return m_cloned.load() >= producerCount; }, longWait);
    }
    void join()
    {
        for (std::thread &thread : m_threads) {
            if (thread.joinable())
                thread.join();
        }
    }
    qint64 accepted() const { return m_accepted.load(); }
    qint64 refused() const { return m_refused.load(); }

private:
    std::atomic<int> m_cloned{0};
    std::atomic<qint64> m_accepted{0};
    std::atomic<qint64> m_refused{0};
    std::vector<std::thread> m_threads;
};

// spinUntil() with longWait: where the main thread must not run its event
// loop meanwhile.
template <typename Predicate>
bool spinUntil(Predicate predicate)
{
    return QonduitTest::spinUntil(predicate, longWait);
}

// Counts the events a receiver gets from the library (its wake-ups).
class EventCounter : public QObject
{
public:
    using QObject::QObject;
    qint64 count = 0;

protected:
    bool eventFilter(QObject *, QEvent *event) override
    {
        if (event->type() >= QEvent::User)
            ++count;
        return false;
    }
};

} // namespace

class tst_ChannelStress : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void blockThroughEventLoop();
    void blockThroughBlockingReceive();
    void dropOldestCountsEveryDrop();
};

void tst_ChannelStress::initTestCase()
{
    qRegisterMetaType<Stamp>();
}

void tst_ChannelStress::blockThroughEventLoop()
{
    ChannelOptions options;
    options.capacity = 10000;
    options.overflowPolicy = OverflowPolicy::Block;
    ChannelPair channel = Channel::local(options);
    std::unique_ptr<ChannelSender> &sender = channel.sender;
    ChannelReceiver *const receiver = channel.receiver.get();

    Tally tally(true);
    qsizetype mostQueued = 0;
    connect(receiver, &ChannelReceiver::messageReceived, receiver, [&](const QVariant &message) {
        tally.accept(message);
        if ((tally.received() & 1023) == 0)
            mostQueued = qMax(mostQueued, receiver->queuedCount());
    });
    QSignalSpy closedSpy(receiver, &ChannelReceiver::closed);
    QSignalSpy laggedSpy(receiver, &ChannelReceiver::lagged);
    EventCounter wakeEvents;
    receiver->installEventFilter(&wakeEvents);

    QElapsedTimer timer;
    timer.start();
    Producers producers(*sender);
    QVERIFY(producers.waitUntilCloned());
    sender.reset(); // from now on the clones alone keep the channel open

    // Before the event loop drains anything the queue fills to its bound and no
    // further: the producers are held back.
    QVERIFY(spinUntil([&] { return receiver->queuedCount() == options.capacity; }));
    QCOMPARE(receiver->queuedCount(), options.capacity);

    QTRY_COMPARE_WITH_TIMEOUT(closedSpy.count(), 1, longWait);
    producers.join();
    const qint64 elapsed = timer.elapsed();

    QVERIFY2(tally.errors() == 0, tally.report().constData());
    QCOMPARE(producers.refused(), 0);
    QCOMPARE(producers.accepted(), total);
    QCOMPARE(tally.received(), total);
    QCOMPARE(receiver->droppedCount(), 0);
    QCOMPARE(laggedSpy.count(), 0);
    QCOMPARE(receiver->queuedCount(), 0);
    QVERIFY(receiver->isClosed());
    QVERIFY(mostQueued <= options.capacity);
    QCOMPARE(closedSpy.count(), 1);
    qInfo("%lld messages in %lld ms, %lld wake-up events, at most %lld queued", qlonglong(total),
          qlonglong(elapsed), qlonglong(wakeEvents.count), qlonglong(mostQueued));
}

void tst_ChannelStress::blockThroughBlockingReceive()
{
    ChannelOptions options;
    options.capacity = 10000;
    options.overflowPolicy = OverflowPolicy::Block;
    ChannelPair channel = Channel::local(options);
    std::unique_ptr<ChannelSender> &sender = channel.sender;
    ChannelReceiver *const receiver = channel.receiver.get();
    QSignalSpy messageSpy(receiver, &ChannelReceiver::messageReceived);
    QSignalSpy closedSpy(receiver, &ChannelReceiver::closed);
    QSignalSpy laggedSpy(receiver, &ChannelReceiver::lagged);
    EventCounter wakeEvents;
    receiver->installEventFilter(&wakeEvents);

    // The receiver lives in this thread; a consumer thread without an event
    // loop takes every message with receive(). This thread runs no event loop
    // until the consumer is done, so every message must come out of receive().
    Tally tally(true);
    Error endError = Error::NoError;
    QElapsedTimer timer;
    timer.start();
    std::thread consumer([&] {
        while (std::optional<QVariant> message = receiver->receive())
            tally.accept(*message);
        endError = receiver->error();
    });
    {
        Producers producers(*sender);
        QVERIFY(producers.waitUntilCloned());
        sender.reset();
        producers.join();
        consumer.join();
        const qint64 elapsed = timer.elapsed();

        QVERIFY2(tally.errors() == 0, tally.report().constData());
        QCOMPARE(producers.refused(), 0);
        QCOMPARE(producers.accepted(), total);
        qInfo("%lld messages in %lld ms", qlonglong(total), qlonglong(elapsed));
    }
    QCOMPARE(tally.received(), total);
    QCOMPARE(endError, Error::ChannelClosedError);
    QCOMPARE(receiver->droppedCount(), 0);
    QVERIFY(receiver->isClosed());
    QVERIFY(!receiver->receive(QDeadlineTimer(0)).has_value());

    // The wake-ups posted meanwhile find an empty, finished queue: closed()
    // follows and no message is delivered a second time.
    QTRY_COMPARE_WITH_TIMEOUT(closedSpy.count(), 1, longWait);
    QCOMPARE(messageSpy.count(), 0);
    QCOMPARE(laggedSpy.count(), 0);
    qInfo("%lld wake-up events posted to the receiver's thread", qlonglong(wakeEvents.count));
}

void tst_ChannelStress::dropOldestCountsEveryDrop()
{
    ChannelOptions options;
    options.capacity = 64;
    options.overflowPolicy = OverflowPolicy::DropOldest;
    ChannelPair channel = Channel::local(options);
    std::unique_ptr<ChannelSender> &sender = channel.sender;
    ChannelReceiver *const receiver = channel.receiver.get();

    Tally tally(false);
    qint64 laggedSum = 0;
    qint64 laggedCount = 0;
    bool laggedWithoutDrops = false;
    connect(receiver, &ChannelReceiver::messageReceived, receiver,
            [&](const QVariant &message) { tally.accept(message); });
    connect(receiver, &ChannelReceiver::lagged, receiver, [&](qint64 count) {
        laggedWithoutDrops |= count <= 0;
        laggedSum += count;
        ++laggedCount;
    });
    QSignalSpy closedSpy(receiver, &ChannelReceiver::closed);

    QElapsedTimer timer;
    timer.start();
    Producers producers(*sender);
    QVERIFY(producers.waitUntilCloned());
    sender.reset();
    // Drops happen for sure before the event loop starts draining.
    QVERIFY(spinUntil([&] { return receiver->droppedCount() > 0; }));

    QTRY_COMPARE_WITH_TIMEOUT(closedSpy.count(), 1, longWait);
    producers.join();
    const qint64 elapsed = timer.elapsed();

    QVERIFY2(tally.errors() == 0, tally.report().constData());
    QVERIFY(!laggedWithoutDrops);
    // DropOldest makes room for every new message: no send() fails.
    QCOMPARE(producers.refused(), 0);
    QCOMPARE(producers.accepted(), total);
    QVERIFY(receiver->droppedCount() > 0);
    QCOMPARE(tally.received() + receiver->droppedCount(), total);
    QCOMPARE(laggedSum, receiver->droppedCount());
    QVERIFY(receiver->isClosed());
    qInfo("%lld received, %lld dropped in %lld lagged() in %lld ms", qlonglong(tally.received()),
          qlonglong(receiver->droppedCount()), qlonglong(laggedCount), qlonglong(elapsed));
}

QTEST_GUILESS_MAIN(tst_ChannelStress)
#include "tst_channelstress.moc"
