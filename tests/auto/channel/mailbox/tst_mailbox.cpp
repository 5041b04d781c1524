// The cross-thread core under ThreadSanitizer: Mailbox driven by std::thread
// producers and consumers, no Qt event loop, no QThread (see CMakeLists.txt).
//
// A plain main() with a small harness, not Qt Test: Qt 6.4's test runner always
// starts a watchdog QThread, whose QWaitCondition (synchronized inside the
// uninstrumented Qt, out of TSan's sight) draws a false data-race report at
// exit. With no Qt thread in the process, every report is about our code.
//
// CHECK* macros are only used on the test function's own thread; worker threads
// record what they saw and the test function checks it after join().

#include "channel/mailbox_p.h"
#include "testsupport/spinuntil.h"

#include <QtCore/qdeadlinetimer.h>
#include <QtCore/qelapsedtimer.h>
#include <QtCore/qscopeguard.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <sys/syscall.h>
#include <unistd.h>

using namespace Qonduit;
using namespace std::chrono_literals;

// --- a minimal test harness -------------------------------------------------

namespace harness {

bool currentFailed = false;

void fail(const char *file, int line, const std::string &what)
{
    currentFailed = true;
    std::fprintf(stdout, "FAIL!  : %s\n   Loc: [%s(%d)]\n", what.c_str(), file, line);
}

template <typename T>
std::string toText(const T &value)
{
    if constexpr (std::is_enum_v<T>)
        return std::to_string(qint64(value));
    else if constexpr (std::is_arithmetic_v<T>)
        return std::to_string(value);
    else if constexpr (std::is_same_v<T, std::vector<qint64>>) {
        std::string text = "{";
        for (qint64 item : value)
            text += (text.size() > 1 ? ", " : "") + std::to_string(item);
        return text + "}";
    } else
        return "<value>";
}

} // namespace harness

#define CHECK(condition) \
    do { \
        if (!(condition)) { \
            harness::fail(__FILE__, __LINE__, "CHECK(" #condition ")"); \
            return; \
        } \
    } while (false)
#define CHECK_MSG(condition, message) \
    do { \
        if (!(condition)) { \
            harness::fail(__FILE__, __LINE__, "CHECK(" #condition "): " + std::string(message)); \
            return; \
        } \
    } while (false)
#define CHECK_EQ(actual, expected) \
    do { \
        const auto &actual_ = (actual); \
        const auto &expected_ = (expected); \
        if (!(actual_ == expected_)) { \
            harness::fail(__FILE__, __LINE__, \
                          "CHECK_EQ(" #actual ", " #expected "): actual " + harness::toText(actual_) \
                              + ", expected " + harness::toText(expected_)); \
            return; \
        } \
    } while (false)

namespace {

using Limits = Mailbox::Limits;
using PushResult = Mailbox::PushResult;
using TakeResult = Mailbox::TakeResult;

constexpr qint64 noByteBound = std::numeric_limits<qint64>::max() / 4;

Limits limitsOf(qsizetype capacity, OverflowPolicy policy, qint64 capacityBytes = noByteBound)
{
    return {capacity, capacityBytes, policy};
}

// A message is (producer, sequence) packed into one qint64.
qint64 pack(int producer, qint64 sequence)
{
    return (qint64(producer) << 32) | sequence;
}
int producerOf(qint64 value)
{
    return int(value >> 32);
}
qint64 sequenceOf(qint64 value)
{
    return value & 0xffffffff;
}
Envelope messageOf(int producer, qint64 sequence)
{
    return Envelope::typed(QVariant::fromValue(pack(producer, sequence)));
}
qint64 valueOf(const Envelope &envelope)
{
    return envelope.payload.value<qint64>();
}

// What worker threads found wrong; read by the test function after join().
class Failures
{
public:
    void add(std::string text)
    {
        std::lock_guard lock(m_mutex);
        if (m_texts.size() < 10)
            m_texts.push_back(std::move(text));
        ++m_count;
    }
    bool isEmpty() const
    {
        std::lock_guard lock(m_mutex);
        return m_count == 0;
    }
    std::string report() const
    {
        std::lock_guard lock(m_mutex);
        std::string text = std::to_string(m_count) + " failure(s) on worker threads:";
        for (const std::string &line : m_texts)
            text += "\n  " + line;
        return text;
    }

private:
    mutable std::mutex m_mutex;
    std::vector<std::string> m_texts;
    qint64 m_count = 0;
};

#define CHECK_NO_FAILURES(failures) CHECK_MSG((failures).isEmpty(), (failures).report())

// Checks, on the one consumer thread, what a consumer takes: per producer the
// sequences must rise; with lossless, by exactly one from 0 (nothing lost,
// nothing duplicated, order kept).
class OrderChecker
{
public:
    OrderChecker(int producers, qint64 perProducer, bool lossless)
        : m_next(producers, 0)
        , m_seen(producers, std::vector<char>(perProducer, 0))
        , m_lossless(lossless)
    {
    }

    void accept(qint64 value, Failures &failures)
    {
        ++m_taken;
        const int producer = producerOf(value);
        const qint64 sequence = sequenceOf(value);
        if (producer < 0 || producer >= int(m_next.size()) || sequence >= qint64(m_seen[producer].size())) {
            failures.add("unknown message " + std::to_string(value));
            return;
        }
        if (m_lossless ? sequence != m_next[producer] : sequence < m_next[producer]) {
            failures.add("producer " + std::to_string(producer) + ": got " + std::to_string(sequence)
                         + ", expected " + (m_lossless ? "" : ">= ") + std::to_string(m_next[producer]));
        }
        m_next[producer] = sequence + 1;
        m_seen[producer][sequence] = 1;
    }

    qint64 taken() const { return m_taken; }
    const std::vector<char> &seen(int producer) const { return m_seen[producer]; }

private:
    std::vector<qint64> m_next;
    std::vector<std::vector<char>> m_seen;
    bool m_lossless;
    qint64 m_taken = 0;
};

// A blocking consumer: take() with no deadline until the channel finishes.
struct TakeTotals
{
    qint64 lagged = 0;
    qint64 laggedReports = 0;
};

TakeTotals takeUntilFinished(Mailbox &box, OrderChecker &checker, Failures &failures)
{
    TakeTotals totals;
    for (;;) {
        Envelope envelope;
        qint64 lagged = -1;
        const TakeResult result = box.take(envelope, QDeadlineTimer(QDeadlineTimer::Forever), &lagged);
        if (result == TakeResult::Finished)
            break;
        if (result != TakeResult::Taken) {
            failures.add("take() without a deadline returned TimedOut");
            break;
        }
        if (lagged < 0)
            failures.add("take() left lagged unset");
        totals.lagged += lagged;
        totals.laggedReports += lagged > 0;
        checker.accept(valueOf(envelope), failures);
    }
    return totals;
}

pid_t currentThreadId()
{
    return pid_t(::syscall(SYS_gettid));
}

// Whether the thread sleeps in the kernel (state S). The threads these tests
// park sleep only in a condition-variable wait inside the mailbox, so this is
// how the test knows a producer or consumer really blocked, without sleeping
// itself. A brief sleep elsewhere (the mailbox mutex) only makes the test take
// the unblocked path, whose outcome is the same.
bool isSleeping(pid_t tid)
{
    std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'S';
}

// One call that is expected to block, on its own thread.
class Parked
{
public:
    template <typename Call>
    explicit Parked(Call call)
        : m_thread([this, call]() mutable {
            m_tid.store(currentThreadId());
            call();
            m_returned.store(true);
        })
    {
    }
    ~Parked()
    {
        if (m_thread.joinable())
            m_thread.join();
    }
    Q_DISABLE_COPY_MOVE(Parked)

    // Until the call sleeps or returned; false after 20 s of neither.
    bool waitUntilParked() const
    {
        const QDeadlineTimer deadline(20000);
        while (!deadline.hasExpired()) {
            const pid_t tid = m_tid.load();
            if (m_returned.load() || (tid != 0 && isSleeping(tid)))
                return true;
            std::this_thread::yield();
        }
        return false;
    }
    bool hasReturned() const { return m_returned.load(); }

private:
    std::atomic<pid_t> m_tid{0};
    std::atomic<bool> m_returned{false};
    std::thread m_thread;
};

// Queues count messages of producer 0 through lane, none of which may wait.
bool fillWithoutBlocking(Mailbox &box, Mailbox::Lane &lane, qsizetype count)
{
    for (qsizetype i = 0; i < count; ++i) {
        Envelope envelope = messageOf(0, i);
        if (box.push(lane, envelope, false) != PushResult::Queued)
            return false;
    }
    return true;
}

// Pushes the message after a full queue of producer 0 (fillWithoutBlocking()
// up to capacity) through lane, allowed to wait, on a thread of its own; its
// result goes to *result when given.
std::unique_ptr<Parked> pushBlocking(Mailbox &box, Mailbox::Lane &lane, qsizetype capacity,
                                     std::atomic<int> *result = nullptr)
{
    return std::make_unique<Parked>([&box, &lane, capacity, result] {
        Envelope envelope = messageOf(0, capacity);
        const PushResult pushed = box.push(lane, envelope, true);
        if (result)
            result->store(int(pushed));
    });
}

using LanePointer = std::shared_ptr<Mailbox::Lane>;

// Producer threads, each one of the mailbox's senders: body(p, lane) for p in
// [0, count), lane being p's, then removeSender(). On an early return (a
// failed CHECK) the destructor releases producers that may be parked for
// good, then joins.
class Producers
{
public:
    template<typename Body>
    Producers(Mailbox &box, int count, Body body)
        : m_box(box)
    {
        std::vector<LanePointer> lanes;
        for (int p = 0; p < count; ++p)
            lanes.push_back(box.addSender());
        for (int p = 0; p < count; ++p) {
            m_threads.emplace_back([this, body, p, lane = lanes[p]] {
                body(p, lane);
                m_box.removeSender(*lane);
            });
        }
    }
    ~Producers()
    {
        if (m_threads.empty())
            return;
        m_box.detachConsumer();
        joinThreads();
    }
    // Once the consumer is done: producers may be parked for good if it
    // stopped on a failure, so those are released first.
    void join(const Failures &failures)
    {
        if (!failures.isEmpty())
            m_box.detachConsumer();
        joinThreads();
    }

private:
    void joinThreads()
    {
        for (std::thread &thread : m_threads)
            thread.join();
        m_threads.clear();
    }

    Mailbox &m_box;
    std::vector<std::thread> m_threads;
};

// A producer's push with the Block policy, the way ChannelSender does it from
// a thread that may wait: try without waiting first, then wait.
PushResult pushMayBlock(Mailbox &box, const LanePointer &lane, Envelope &envelope, std::atomic<qint64> &fullSeen)
{
    PushResult result = box.push(*lane, envelope, false);
    if (result == PushResult::Full) {
        fullSeen.fetch_add(1, std::memory_order_relaxed);
        result = box.push(*lane, envelope, true);
    }
    return result;
}

// Producer p's messages 0 to count - 1, each pushed with pushMayBlock().
void pushSequence(Mailbox &box, const LanePointer &lane, int p, qint64 count, Failures &failures,
                  std::atomic<qint64> &fullSeen)
{
    for (qint64 i = 0; i < count; ++i) {
        Envelope envelope = messageOf(p, i);
        if (const PushResult result = pushMayBlock(box, lane, envelope, fullSeen); result != PushResult::Queued)
            failures.add("push returned " + std::to_string(int(result)));
    }
}

// spinUntil() with 20 s: for conditions that the other threads are certain
// to reach.
template <typename Predicate>
bool spinUntil(Predicate predicate)
{
    return QonduitTest::spinUntil(predicate, 20000);
}

// A consumer test double that counts wake() and lets a thread wait for it.
class CountingConsumer final : public MailboxConsumer
{
public:
    void wake() override
    {
        // Called with the mailbox locked: only record and signal.
        m_wakes.fetch_add(1);
        std::lock_guard lock(m_mutex);
        ++m_signals;
        m_signalled.notify_one();
    }
    bool drainsOnCurrentThread() const override { return false; }

    int wakes() const { return m_wakes.load(); }
    // Waits for wake() calls not yet waited for; false on timeout.
    bool waitForWake(std::chrono::milliseconds timeout)
    {
        std::unique_lock lock(m_mutex);
        if (!m_signalled.wait_for(lock, timeout, [this] { return m_signals > 0; }))
            return false;
        m_signals = 0;
        return true;
    }

private:
    std::atomic<int> m_wakes{0};
    std::mutex m_mutex;
    std::condition_variable m_signalled;
    int m_signals = 0;
};

// The consumer a ChannelReceiver is: sleeps until woken, then takes batches
// while more == true, then sleeps again, until the channel finished (or a
// wake-up was lost). sizeOf(n) is the most the n-th batch (from 1) takes;
// onBatch(out, batch) sees each batch as taken.
template <typename SizeOf, typename OnBatch>
void drainAsWoken(Mailbox &box, CountingConsumer &consumer, Failures &failures, SizeOf sizeOf, OnBatch onBatch)
{
    std::vector<Envelope> out;
    qint64 batches = 0;
    for (bool finished = false; !finished;) {
        if (!consumer.waitForWake(20s)) {
            failures.add("no wake-up for 20 s: a wake-up was lost");
            return;
        }
        for (bool more = true; more;) {
            out.clear();
            const Mailbox::Batch batch = box.takeBatch(out, sizeOf(++batches));
            onBatch(out, batch);
            more = batch.more;
            finished = !more && batch.finished;
        }
    }
}

// Producers that block on a full queue, one consumer in the blocking take():
// none lost, none duplicated, each producer's order kept.
void blockProducersIntoBlockingTake(int producers, qint64 perProducer, qsizetype capacity)
{
    Mailbox box(limitsOf(capacity, OverflowPolicy::Block));
    Failures failures;
    std::atomic<qint64> fullSeen{0};

    Producers threads(box, producers, [&](int p, const LanePointer &lane) { pushSequence(box, lane, p, perProducer, failures, fullSeen); });

    OrderChecker checker(producers, perProducer, true);
    const TakeTotals totals = takeUntilFinished(box, checker, failures);
    threads.join(failures);

    CHECK_NO_FAILURES(failures);
    CHECK_EQ(checker.taken(), producers * perProducer);
    CHECK_EQ(totals.lagged, 0);
    CHECK_EQ(box.droppedCount(), 0);
    CHECK_EQ(box.queuedCount(), 0);
    CHECK(box.isFinished());
    std::printf("INFO   : producers found the queue full %lld times\n", qlonglong(fullSeen.load()));
}

void blockManyProducersBlockingConsumer()
{
    blockProducersIntoBlockingTake(4, 50000, 256);
}

// Issue 2's stress through the blocking take(): 8 producer threads x
// 200,000 messages.
void stressEightProducersThroughBlockingTake()
{
    blockProducersIntoBlockingTake(8, 200000, 65536);
}

void blockTinyCapacityParksAndWakesProducers()
{
    constexpr int producers = 4;
    constexpr qint64 perProducer = 20000;
    constexpr qsizetype capacity = 4;
    Mailbox box(limitsOf(capacity, OverflowPolicy::Block));
    Failures failures;
    std::atomic<qint64> fullSeen{0};
    std::vector<std::atomic<pid_t>> tids(producers);

    Producers threads(box, producers, [&](int p, const LanePointer &lane) {
        tids[p].store(currentThreadId());
        for (qint64 i = 0; i < perProducer; ++i) {
            Envelope envelope = messageOf(p, i);
            if (const PushResult result = pushMayBlock(box, lane, envelope, fullSeen); result != PushResult::Queued)
                failures.add("push returned " + std::to_string(int(result)));
            if (box.queuedCount() > capacity)
                failures.add("more than capacity queued");
        }
    });

    // Nobody takes yet: the queue fills and every producer parks on it.
    CHECK(spinUntil([&] { return box.queuedCount() == capacity && fullSeen.load() >= producers; }));
    CHECK(spinUntil([&] {
        for (const auto &tid : tids) {
            if (tid.load() == 0 || !isSleeping(tid.load()))
                return false;
        }
        return true;
    }));
    CHECK_EQ(box.queuedCount(), capacity);

    OrderChecker checker(producers, perProducer, true);
    const TakeTotals totals = takeUntilFinished(box, checker, failures);
    threads.join(failures);

    CHECK_NO_FAILURES(failures);
    CHECK_EQ(checker.taken(), producers * perProducer);
    CHECK_EQ(totals.lagged, 0);
    CHECK_EQ(box.droppedCount(), 0);
    CHECK(fullSeen.load() >= producers);
    CHECK(box.isFinished());
    std::printf("INFO   : producers found the queue full %lld times\n", qlonglong(fullSeen.load()));
}

void dropOldestUnderContention()
{
    constexpr int producers = 4;
    constexpr qint64 perProducer = 50000;
    Mailbox box(limitsOf(16, OverflowPolicy::DropOldest));
    Failures failures;
    std::atomic<qint64> sent{0};

    Producers threads(box, producers, [&](int p, const LanePointer &lane) {
        for (qint64 i = 0; i < perProducer; ++i) {
            Envelope envelope = messageOf(p, i);
            // DropOldest always makes room: the new message is queued.
            if (const PushResult result = box.push(*lane, envelope, false); result != PushResult::Queued)
                failures.add("push returned " + std::to_string(int(result)));
            sent.fetch_add(1, std::memory_order_relaxed);
        }
    });

    // Let drops happen for sure before the consumer competes with them.
    CHECK(spinUntil([&] { return box.droppedCount() > 0; }));
    OrderChecker checker(producers, perProducer, false);
    const TakeTotals totals = takeUntilFinished(box, checker, failures);
    threads.join(failures);

    CHECK_NO_FAILURES(failures);
    CHECK_EQ(sent.load(), producers * perProducer);
    CHECK(box.droppedCount() > 0);
    CHECK_EQ(checker.taken() + box.droppedCount(), sent.load());
    CHECK_EQ(totals.lagged, box.droppedCount());
    CHECK(box.isFinished());
    std::printf("INFO   : taken %lld, dropped %lld in %lld lagged reports\n", qlonglong(checker.taken()),
          qlonglong(box.droppedCount()), qlonglong(totals.laggedReports));
}

// DropNewest and Reject both refuse the incoming message of a full queue; they
// differ only in whether the refusal counts as a drop the consumer hears of.
void refusalUnderContention(OverflowPolicy policy, PushResult refusal)
{
    constexpr int producers = 4;
    constexpr qint64 perProducer = 50000;
    Mailbox box(limitsOf(16, policy));
    Failures failures;
    std::atomic<qint64> refused{0};
    std::vector<std::vector<char>> queued(producers, std::vector<char>(perProducer, 0));

    Producers threads(box, producers, [&](int p, const LanePointer &lane) {
        for (qint64 i = 0; i < perProducer; ++i) {
            Envelope envelope = messageOf(p, i);
            const PushResult result = box.push(*lane, envelope, false);
            if (result == PushResult::Queued) {
                queued[p][i] = 1;
            } else if (result == refusal) {
                refused.fetch_add(1, std::memory_order_relaxed);
                if (valueOf(envelope) != pack(p, i))
                    failures.add("a refused envelope was moved from");
            } else {
                failures.add("push returned neither Queued nor the policy's refusal");
            }
        }
    });

    CHECK(spinUntil([&] { return refused.load() > 0; }));
    OrderChecker checker(producers, perProducer, false);
    const TakeTotals totals = takeUntilFinished(box, checker, failures);
    threads.join(failures);

    const qint64 expectedDrops = policy == OverflowPolicy::DropNewest ? refused.load() : 0;
    CHECK_NO_FAILURES(failures);
    CHECK(refused.load() > 0);
    CHECK_EQ(box.droppedCount(), expectedDrops); // a rejection is not a drop
    CHECK_EQ(totals.lagged, expectedDrops);
    CHECK_EQ(checker.taken() + refused.load(), producers * perProducer);
    // Exactly what push() reported Queued was taken.
    for (int p = 0; p < producers; ++p)
        CHECK_MSG(checker.seen(p) == queued[p], "producer " + std::to_string(p));
    CHECK(box.isFinished());
}

void dropNewestUnderContention()
{
    refusalUnderContention(OverflowPolicy::DropNewest, PushResult::DroppedNewest);
}

void rejectUnderContentionLosesNothingQueued()
{
    refusalUnderContention(OverflowPolicy::Reject, PushResult::Full);
}

void takeTimesOut()
{
    Mailbox box(limitsOf(4, OverflowPolicy::Block));
    Envelope out;
    qint64 lagged = 0;

    // No sender yet: not finished, so take() waits out its deadline.
    CHECK_EQ(box.take(out, QDeadlineTimer(0), &lagged), TakeResult::TimedOut);

    const auto lane = box.addSender();
    CHECK_EQ(box.take(out, QDeadlineTimer(0), &lagged), TakeResult::TimedOut);

    QElapsedTimer timer;
    timer.start();
    CHECK_EQ(box.take(out, QDeadlineTimer(100, Qt::PreciseTimer), &lagged), TakeResult::TimedOut);
    CHECK_MSG(timer.elapsed() >= 100, std::to_string(timer.elapsed()) + " ms");
    CHECK(!out.payload.isValid());

    // The same on a thread of its own while another thread pushes nothing.
    TakeResult result = TakeResult::Taken;
    std::thread consumer([&] { result = box.take(out, QDeadlineTimer(50), nullptr); });
    consumer.join();
    CHECK_EQ(result, TakeResult::TimedOut);
    CHECK(!box.isFinished());
}

void takeWakesOnPush()
{
    Mailbox box(limitsOf(4, OverflowPolicy::Block));
    const auto lane = box.addSender();
    Envelope out;
    TakeResult result = TakeResult::TimedOut;
    {
        // A deadline far away: the push, not the deadline, must end the wait.
        Parked consumer([&] { result = box.take(out, QDeadlineTimer(60000), nullptr); });
        auto release = qScopeGuard([&] { box.removeSender(*lane); }); // on an early return
        CHECK(consumer.waitUntilParked());
        CHECK(!consumer.hasReturned());
        release.dismiss();
        Envelope envelope = messageOf(0, 7);
        CHECK_EQ(box.push(*lane, envelope, false), PushResult::Queued);
    }
    CHECK_EQ(result, TakeResult::Taken);
    CHECK_EQ(valueOf(out), pack(0, 7));
    CHECK_EQ(box.queuedCount(), 0);
}

void removeLastSenderDrainsThenFinishes()
{
    Mailbox box(limitsOf(8, OverflowPolicy::Block));
    const auto lane = box.addSender();
    const auto otherLane = box.addSender();
    for (int i = 0; i < 3; ++i) {
        Envelope envelope = messageOf(0, i);
        CHECK_EQ(box.push(*lane, envelope, false), PushResult::Queued);
    }
    box.removeSender(*lane);
    CHECK(!box.isFinished()); // one sender left
    box.removeSender(*otherLane);
    CHECK(!box.isFinished()); // messages left

    // A consumer thread: the queued messages first, then Finished.
    std::vector<qint64> taken;
    TakeResult last = TakeResult::Taken;
    std::thread consumer([&] {
        Envelope out;
        while ((last = box.take(out, QDeadlineTimer(QDeadlineTimer::Forever), nullptr)) == TakeResult::Taken)
            taken.push_back(valueOf(out));
    });
    consumer.join();
    CHECK_EQ(last, TakeResult::Finished);
    CHECK_EQ(taken, (std::vector<qint64>{pack(0, 0), pack(0, 1), pack(0, 2)}));
    CHECK(box.isFinished());
}

void removeLastSenderWakesBlockedTake()
{
    Mailbox box(limitsOf(8, OverflowPolicy::Block));
    const auto otherLane = box.addSender();
    const auto lane = box.addSender();

    std::vector<qint64> taken;
    TakeResult last = TakeResult::Taken;
    {
        Parked consumer([&] {
            Envelope out;
            while ((last = box.take(out, QDeadlineTimer(QDeadlineTimer::Forever), nullptr)) == TakeResult::Taken)
                taken.push_back(valueOf(out));
        });
        int senders = 2;
        auto release = qScopeGuard([&] { // on an early return
            if (senders == 2)
                box.removeSender(*lane);
            box.removeSender(*otherLane);
        });
        CHECK(consumer.waitUntilParked());
        CHECK(!consumer.hasReturned());

        // Messages and the first leave: the consumer takes and waits again.
        for (int i = 0; i < 3; ++i) {
            Envelope envelope = messageOf(1, i);
            CHECK_EQ(box.push(*lane, envelope, false), PushResult::Queued);
        }
        box.removeSender(*lane);
        --senders;
        CHECK(spinUntil([&] { return box.queuedCount() == 0; }));
        CHECK(consumer.waitUntilParked());
        CHECK(!consumer.hasReturned());

        // The last leave wakes the blocked take() with Finished.
        release.dismiss();
        box.removeSender(*otherLane);
    }
    CHECK_EQ(last, TakeResult::Finished);
    CHECK_EQ(taken, (std::vector<qint64>{pack(1, 0), pack(1, 1), pack(1, 2)}));
    CHECK(box.isFinished());
}

void detachConsumerReleasesBlockedProducers()
{
    constexpr int parkedCount = 3;
    Mailbox box(limitsOf(2, OverflowPolicy::Block));
    CountingConsumer consumer;
    box.attachConsumer(&consumer);
    const auto lane = box.addSender();
    for (int i = 0; i < 2; ++i) {
        Envelope envelope = messageOf(0, i);
        CHECK_EQ(box.push(*lane, envelope, true), PushResult::Queued);
    }
    Envelope probe = messageOf(0, 99);
    CHECK_EQ(box.push(*lane, probe, false), PushResult::Full);

    std::vector<Envelope> envelopes;
    for (int p = 0; p < parkedCount; ++p)
        envelopes.push_back(messageOf(p + 1, 0));
    std::vector<PushResult> results(parkedCount, PushResult::Queued);
    {
        std::vector<std::unique_ptr<Parked>> parked;
        for (int p = 0; p < parkedCount; ++p)
            parked.push_back(std::make_unique<Parked>([&, p] { results[p] = box.push(*lane, envelopes[p], true); }));
        // Runs before the threads are joined, also on an early return.
        auto release = qScopeGuard([&] { box.detachConsumer(); });
        for (const auto &producer : parked) {
            CHECK(producer->waitUntilParked());
            CHECK(!producer->hasReturned()); // the queue is full and nobody takes
        }
    }
    for (int p = 0; p < parkedCount; ++p) {
        CHECK_EQ(results[p], PushResult::Closed);
        CHECK_EQ(valueOf(envelopes[p]), pack(p + 1, 0)); // not moved from
    }
    CHECK_EQ(box.queuedCount(), 0); // the queue was freed

    // From now on every push fails at once, waiting or not.
    CHECK_EQ(box.push(*lane, probe, false), PushResult::Closed);
    CHECK_EQ(box.push(*lane, probe, true), PushResult::Closed);
    Envelope out;
    CHECK_EQ(box.take(out, QDeadlineTimer(0), nullptr), TakeResult::Finished);
}

// Three producers park on a full queue (two 8-byte messages fill either bound);
// changing the limits releases them with the result the new limits give.
void setLimitsReleasesBlockedProducers(const Limits &initial, const Limits &changed, PushResult expected,
                                       qsizetype queuedAfter, qint64 droppedAfter)
{
    constexpr int parkedCount = 3;
    Mailbox box(initial);
    const auto lane = box.addSender();
    for (int i = 0; i < 2; ++i) {
        Envelope envelope = messageOf(0, i);
        CHECK_EQ(box.push(*lane, envelope, true), PushResult::Queued);
    }

    std::vector<Envelope> envelopes;
    for (int p = 0; p < parkedCount; ++p)
        envelopes.push_back(messageOf(p + 1, 0));
    std::vector<PushResult> results(parkedCount, PushResult::Closed);
    {
        std::vector<std::unique_ptr<Parked>> parked;
        for (int p = 0; p < parkedCount; ++p)
            parked.push_back(std::make_unique<Parked>([&, p] { results[p] = box.push(*lane, envelopes[p], true); }));
        // On an early return, release the parked threads so they can be joined.
        auto release = qScopeGuard([&] { box.detachConsumer(); });
        for (const auto &producer : parked) {
            CHECK(producer->waitUntilParked());
            CHECK(!producer->hasReturned());
        }
        release.dismiss();
        box.setLimits(changed);
    }
    for (int p = 0; p < parkedCount; ++p)
        CHECK_EQ(results[p], expected);
    CHECK_EQ(box.queuedCount(), queuedAfter);
    CHECK_EQ(box.droppedCount(), droppedAfter);
    CHECK_EQ(box.limits().capacity, changed.capacity);
    CHECK_EQ(box.limits().capacityBytes, changed.capacityBytes);
    CHECK_EQ(box.limits().policy, changed.policy);

    // Whatever stayed queued leaves in push order, and the drops are reported.
    box.removeSender(*lane);
    std::vector<Envelope> out;
    const Mailbox::Batch batch = box.takeBatch(out, 100);
    CHECK_EQ(qsizetype(out.size()), queuedAfter);
    CHECK_EQ(batch.lagged, droppedAfter);
    CHECK(!batch.more);
    CHECK(batch.finished);
    std::vector<qint64> values;
    for (const Envelope &envelope : out)
        values.push_back(valueOf(envelope));
    if (droppedAfter == 0 || expected != PushResult::Queued) {
        // The first two stay; parked producers' messages follow if queued.
        CHECK_EQ(values[0], pack(0, 0));
        CHECK_EQ(values[1], pack(0, 1));
    }
    if (expected == PushResult::Queued) {
        // The parked producers' messages, each once, in whatever order they
        // woke; DropOldest dropped the first two and one of these.
        std::vector<qint64> parkedValues(values.end() - (droppedAfter > 0 ? 2 : parkedCount), values.end());
        std::sort(parkedValues.begin(), parkedValues.end());
        CHECK(std::adjacent_find(parkedValues.begin(), parkedValues.end()) == parkedValues.end());
        for (qint64 value : parkedValues)
            CHECK(producerOf(value) >= 1 && producerOf(value) <= parkedCount);
    }
}

const Limits byCount = limitsOf(2, OverflowPolicy::Block);
const Limits byBytes = limitsOf(100, OverflowPolicy::Block, 16);

void setLimitsMoreCapacityReleases()
{
    setLimitsReleasesBlockedProducers(byCount, limitsOf(10, OverflowPolicy::Block), PushResult::Queued, 5, 0);
}
void setLimitsMoreBytesReleases()
{
    setLimitsReleasesBlockedProducers(byBytes, limitsOf(100, OverflowPolicy::Block, 1000), PushResult::Queued, 5,
                                      0);
}
void setLimitsToDropOldestReleases()
{
    setLimitsReleasesBlockedProducers(byCount, limitsOf(2, OverflowPolicy::DropOldest), PushResult::Queued, 2, 3);
}
void setLimitsToDropNewestReleases()
{
    setLimitsReleasesBlockedProducers(byCount, limitsOf(2, OverflowPolicy::DropNewest), PushResult::DroppedNewest,
                                      2, 3);
}
void setLimitsToRejectReleases()
{
    setLimitsReleasesBlockedProducers(byCount, limitsOf(2, OverflowPolicy::Reject), PushResult::Full, 2, 0);
}

void byteBound()
{
    // qint64 payloads count 8 bytes each.
    Mailbox box(limitsOf(100, OverflowPolicy::Reject, 16));
    const auto lane = box.addSender();
    Envelope first = messageOf(0, 0);
    CHECK_EQ(first.bytes, qint64(sizeof(qint64)));
    CHECK_EQ(box.push(*lane, first, false), PushResult::Queued);
    Envelope second = messageOf(0, 1);
    CHECK_EQ(box.push(*lane, second, false), PushResult::Queued);
    Envelope third = messageOf(0, 2);
    CHECK_EQ(box.push(*lane, third, false), PushResult::Full);
    Envelope out;
    CHECK_EQ(box.take(out, QDeadlineTimer(0), nullptr), TakeResult::Taken);
    CHECK_EQ(box.push(*lane, third, false), PushResult::Queued);

    // One message above the byte bound still enters an empty queue, and only
    // an empty one.
    Mailbox small(limitsOf(100, OverflowPolicy::Reject, 4));
    const auto smallLane = small.addSender();
    Envelope big = Envelope::rawBytes(QByteArray(1000, 'x'));
    CHECK_EQ(small.push(*smallLane, big, false), PushResult::Queued);
    Envelope tiny = Envelope::rawBytes(QByteArray(1, 'y'));
    CHECK_EQ(small.push(*smallLane, tiny, false), PushResult::Full);
    CHECK_EQ(small.take(out, QDeadlineTimer(0), nullptr), TakeResult::Taken);
    CHECK(out.kind == Envelope::Kind::Raw);
    CHECK_EQ(out.payload.toByteArray().size(), 1000);
    CHECK_EQ(small.push(*smallLane, tiny, false), PushResult::Queued);
}

// Room comes once the queue is 1 MiB below its byte bound, not at half of
// it: a send queue of large messages must not swing by half its bound
// (D51). A bound under 2 MiB still waits for half (rounded down). And room
// is only room once the refused message fits: a watcher told earlier would
// retry, be refused and be told again, over and over.
void roomComesOneMiBBelowTheByteBound()
{
    constexpr qint64 MiB = 1024 * 1024;
    struct FlagWatcher final : MailboxRoomWatcher
    {
        bool told = false;
        void roomAvailable() override { told = true; }
    };
    // Pushes messages of messageBytes until one is refused; returns how many
    // went in.
    const auto fill = [](Mailbox &box, Mailbox::Lane &lane, qint64 messageBytes) {
        for (int i = 0;; ++i) {
            Envelope envelope = messageOf(0, i);
            envelope.bytes = messageBytes;
            if (box.push(lane, envelope, false) != PushResult::Queued)
                return i;
        }
    };
    std::vector<Envelope> out;

    Mailbox large(limitsOf(1000, OverflowPolicy::Reject, 8 * MiB));
    const auto largeLane = large.addSender();
    CHECK_EQ(fill(large, *largeLane, MiB), 8);
    FlagWatcher watcher;
    large.watchForRoom(&watcher, MiB);
    CHECK(!watcher.told);
    large.takeBatch(out, 1);
    CHECK(watcher.told);

    Mailbox small(limitsOf(1000, OverflowPolicy::Reject, MiB));
    const auto smallLane = small.addSender();
    CHECK_EQ(fill(small, *smallLane, MiB / 8), 8);
    FlagWatcher halfWatcher;
    small.watchForRoom(&halfWatcher, MiB / 8);
    small.takeBatch(out, 3);
    CHECK(!halfWatcher.told);
    small.takeBatch(out, 1);
    CHECK(halfWatcher.told);

    // 3 MiB messages: refused at 6 MiB queued, which is below the 7 MiB
    // threshold; room comes only at 5 MiB.
    Mailbox big(limitsOf(1000, OverflowPolicy::Reject, 8 * MiB));
    const auto bigLane = big.addSender();
    CHECK_EQ(fill(big, *bigLane, 3 * MiB), 2);
    FlagWatcher bigWatcher;
    big.watchForRoom(&bigWatcher, 3 * MiB);
    CHECK(!bigWatcher.told);
    big.takeBatch(out, 1);
    CHECK(bigWatcher.told);

    // An odd bound: half is rounded down, and 2 of 3 bytes queued is no room
    // for another 2.
    Mailbox odd(limitsOf(1000, OverflowPolicy::Reject, 3));
    const auto oddLane = odd.addSender();
    CHECK_EQ(fill(odd, *oddLane, 2), 1);
    FlagWatcher oddWatcher;
    odd.watchForRoom(&oddWatcher, 2);
    CHECK(!oddWatcher.told);
    odd.takeBatch(out, 1);
    CHECK(oddWatcher.told);

    large.removeSender(*largeLane);
    small.removeSender(*smallLane);
    big.removeSender(*bigLane);
    odd.removeSender(*oddLane);
}

// A consumer may take by bytes: a connection's writer takes no more than its
// socket takes at once, and always at least one message.
// Each sender has its lane, and a batch starts with the lane after the one
// the last batch started with: a sender that never runs dry does not keep
// another waiting. Each sender's messages keep their order.
void lanesTakeTurns()
{
    constexpr int perSender = 100;
    Mailbox box(limitsOf(1000, OverflowPolicy::Reject));
    const auto flooding = box.addSender();
    const auto quiet = box.addSender();
    for (int i = 0; i < perSender; ++i) {
        Envelope envelope = messageOf(0, i);
        CHECK_EQ(box.push(*flooding, envelope, false), PushResult::Queued);
    }
    for (int i = 0; i < 3; ++i) {
        Envelope envelope = messageOf(1, i);
        CHECK_EQ(box.push(*quiet, envelope, false), PushResult::Queued);
    }
    std::vector<Envelope> out;
    CHECK(box.takeBatch(out, 10).more);
    CHECK(box.takeBatch(out, 10).more);
    // Ten of one, then the other's three and seven more of the first.
    std::vector<qint64> next(2, 0);
    int quietSeen = 0;
    for (const Envelope &envelope : out) {
        const int sender = producerOf(valueOf(envelope));
        CHECK_EQ(sequenceOf(valueOf(envelope)), next[sender]);
        ++next[sender];
        quietSeen += sender == 1;
    }
    CHECK_EQ(quietSeen, 3);
    box.removeSender(*flooding);
    box.removeSender(*quiet);
}

// However many senders race for the last places, the bounds hold exactly:
// with no consumer, exactly capacity messages (or capacityBytes' worth) get
// in, and every other push is refused. The senders start together and each
// pushes until refused, round after round, so that they meet at the bound.
void boundsAreExactAcrossLanes(const Limits &limits, qsizetype expected)
{
    constexpr int producers = 4;
    constexpr int rounds = 100;
    for (int round = 0; round < rounds; ++round) {
        Mailbox box(limits);
        std::atomic<qint64> queued{0};
        std::atomic<int> waiting{producers};
        Failures failures;
        Producers threads(box, producers, [&](int p, const LanePointer &lane) {
            waiting.fetch_sub(1);
            while (waiting.load() > 0)
                std::this_thread::yield();
            for (int i = 0;; ++i) {
                Envelope envelope = messageOf(p, i);
                const PushResult result = box.push(*lane, envelope, false);
                if (result == PushResult::Full)
                    break;
                if (result != PushResult::Queued) {
                    failures.add("push returned " + std::to_string(int(result)));
                    break;
                }
                queued.fetch_add(1);
            }
        });
        threads.join(failures);
        CHECK_NO_FAILURES(failures);
        CHECK_MSG(queued.load() == expected, std::to_string(queued.load()) + " queued in round " + std::to_string(round));
        CHECK_EQ(box.queuedCount(), expected);
        std::vector<Envelope> out;
        const Mailbox::Batch batch = box.takeBatch(out, 10 * expected);
        CHECK_EQ(qsizetype(out.size()), expected);
        CHECK(batch.finished);
    }
}

void messageBoundIsExactAcrossLanes()
{
    boundsAreExactAcrossLanes(limitsOf(64, OverflowPolicy::Reject), 64);
}

void byteBoundIsExactAcrossLanes()
{
    // qint64 payloads count 8 bytes each: 37 fit in 300 bytes.
    boundsAreExactAcrossLanes(limitsOf(100000, OverflowPolicy::Reject, 300), 37);
}

// A push is refused only when its message does not fit: not because
// another push, refused for its size, was counted for a moment. In each
// round 50 of 100 bytes are queued, and a 60-byte push (always refused)
// races a 40-byte one (always queued); the test then empties the queue and
// puts the 50 bytes back for the next round.
void refusedPushesLeaveNoTrace()
{
    constexpr int rounds = 3000;
    Mailbox box(limitsOf(100, OverflowPolicy::Reject, 100));
    const auto holder = box.addSender();
    const auto holdFifty = [&] {
        Envelope held = messageOf(2, 0);
        held.bytes = 50;
        return box.push(*holder, held, false);
    };
    CHECK_EQ(holdFifty(), PushResult::Queued);
    std::atomic<int> go{0};
    std::atomic<int> done{0};
    std::atomic<qint64> wrong{0};
    Producers threads(box, 2, [&](int p, const LanePointer &lane) {
        for (int r = 0; r < rounds; ++r) {
            while (go.load() < r)
                std::this_thread::yield();
            Envelope envelope = messageOf(p, r);
            envelope.bytes = p == 0 ? 60 : 40;
            if (box.push(*lane, envelope, false) != (p == 0 ? PushResult::Full : PushResult::Queued))
                wrong.fetch_add(1);
            done.fetch_add(1);
        }
    });
    std::vector<Envelope> out;
    for (int r = 0; r < rounds; ++r) {
        CHECK(spinUntil([&] { return done.load() == 2 * (r + 1); }));
        out.clear();
        box.takeBatch(out, 10);
        CHECK_EQ(holdFifty(), PushResult::Queued);
        go.store(r + 1);
    }
    Failures failures;
    threads.join(failures);
    CHECK_EQ(wrong.load(), 0);
    box.removeSender(*holder);
}

// DropOldest drops the message the consumer would take next: the oldest of
// the lane whose turn it is.
void dropOldestDropsWhatWouldBeTakenNext()
{
    Mailbox box(limitsOf(2, OverflowPolicy::DropOldest));
    const auto first = box.addSender();
    const auto second = box.addSender();
    Envelope a0 = messageOf(0, 0);
    Envelope b0 = messageOf(1, 0);
    Envelope a1 = messageOf(0, 1);
    CHECK_EQ(box.push(*first, a0, false), PushResult::Queued);
    CHECK_EQ(box.push(*second, b0, false), PushResult::Queued);
    CHECK_EQ(box.push(*first, a1, false), PushResult::Queued);
    CHECK_EQ(box.droppedCount(), 1);
    std::vector<Envelope> out;
    const Mailbox::Batch batch = box.takeBatch(out, 10);
    CHECK_EQ(batch.lagged, 1);
    CHECK_EQ(out.size(), size_t(2));
    CHECK_EQ(valueOf(out[0]), pack(0, 1));
    CHECK_EQ(valueOf(out[1]), pack(1, 0));
    box.removeSender(*first);
    box.removeSender(*second);
}

// A lane lives until its sender left and its last message was taken: senders
// that come and go, each sending a little, cost no more lanes than are live,
// whether the consumer takes batches or one message at a time.
void leftLanesAreFreed()
{
    enum Taking { Batches, OneByOne, OneByOneAfterABatch };
    for (const Taking taking : {Batches, OneByOne, OneByOneAfterABatch}) {
        const bool batches = taking == Batches;
        Mailbox box(limitsOf(100, OverflowPolicy::Reject));
        const auto staying = box.addSender();
        std::vector<Envelope> out;
        Envelope taken;
        if (taking == OneByOneAfterABatch) {
            Envelope envelope = messageOf(0, 0);
            CHECK_EQ(box.push(*staying, envelope, false), PushResult::Queued);
            CHECK_EQ(box.takeBatch(out, 10).lanes.size(), size_t(1));
        }
        for (int round = 0; round < 1000; ++round) {
            const auto passing = box.addSender();
            for (int i = 0; i < 3; ++i) {
                Envelope envelope = messageOf(round, i);
                CHECK_EQ(box.push(*passing, envelope, false), PushResult::Queued);
            }
            box.removeSender(*passing);
            if (batches) {
                out.clear();
                box.takeBatch(out, 100);
                CHECK_EQ(out.size(), size_t(3));
            } else {
                for (int i = 0; i < 3; ++i)
                    CHECK_EQ(box.take(taken, QDeadlineTimer(0), nullptr), TakeResult::Taken);
            }
            CHECK_MSG(box.laneCount() <= 2, std::to_string(box.laneCount()) + " lanes in round "
                          + std::to_string(round));
        }
        CHECK(!box.isFinished());
        box.removeSender(*staying);
        CHECK(box.isFinished());
    }
}

void takeBatchStopsAtItsByteBudget()
{
    Mailbox box(limitsOf(100, OverflowPolicy::Reject));
    const auto lane = box.addSender();
    for (int i = 0; i < 6; ++i) {
        Envelope envelope = messageOf(0, i);
        CHECK_EQ(box.push(*lane, envelope, false), PushResult::Queued);
    }
    const qint64 bytes = qint64(sizeof(qint64));
    std::vector<Envelope> out;
    CHECK(box.takeBatch(out, 100, 0).more);
    CHECK_EQ(out.size(), size_t(1));
    CHECK(box.takeBatch(out, 100, 2 * bytes - 1).more);
    CHECK_EQ(out.size(), size_t(3));
    CHECK(box.takeBatch(out, 100, 2 * bytes).more);
    CHECK_EQ(out.size(), size_t(5));
    CHECK(!box.takeBatch(out, 100).more);
    CHECK_EQ(out.size(), size_t(6));
    for (size_t i = 0; i < out.size(); ++i)
        CHECK_EQ(valueOf(out[i]), pack(0, qint64(i)));
    box.removeSender(*lane);
}

void pushAfterCloseIsClosed()
{
    Mailbox box(limitsOf(4, OverflowPolicy::Block));
    const auto lane = box.addSender();
    box.removeSender(*lane);
    Envelope envelope = messageOf(0, 0);
    CHECK_EQ(box.push(*lane, envelope, true), PushResult::Closed);
    CHECK_EQ(valueOf(envelope), pack(0, 0));
    CHECK(box.isFinished());
    Envelope out;
    CHECK_EQ(box.take(out, QDeadlineTimer(QDeadlineTimer::Forever), nullptr), TakeResult::Finished);
}

void wakeOncePerBatch()
{
    std::vector<Envelope> out;
    Envelope envelope;
    Envelope taken;
    {
        Mailbox box(limitsOf(100, OverflowPolicy::Block));
        CountingConsumer consumer;
        const auto lane = box.addSender();
        CHECK(!box.consumerDrainsOnCurrentThread()); // no consumer yet
        envelope = messageOf(0, 0);
        CHECK_EQ(box.push(*lane, envelope, false), PushResult::Queued);
        CHECK_EQ(consumer.wakes(), 0);

        // Attaching to a non-empty mailbox wakes at once.
        box.attachConsumer(&consumer);
        CHECK_EQ(consumer.wakes(), 1);
        CHECK(!box.consumerDrainsOnCurrentThread());

        // More pushes while the wake-up is pending: no more wake-ups.
        for (int i = 1; i < 3; ++i) {
            envelope = messageOf(0, i);
            CHECK_EQ(box.push(*lane, envelope, false), PushResult::Queued);
        }
        CHECK_EQ(consumer.wakes(), 1);

        // A batch that leaves messages keeps the wake-up pending.
        Mailbox::Batch batch = box.takeBatch(out, 1);
        CHECK(batch.more);
        CHECK(!batch.finished);
        envelope = messageOf(0, 3);
        CHECK_EQ(box.push(*lane, envelope, false), PushResult::Queued);
        CHECK_EQ(consumer.wakes(), 1);

        // A batch that empties the queue: the next push wakes again, once.
        batch = box.takeBatch(out, 100);
        CHECK(!batch.more);
        CHECK(!batch.finished);
        CHECK_EQ(out.size(), size_t(4));
        for (int i = 0; i < 4; ++i)
            CHECK_EQ(valueOf(out[i]), pack(0, i));
        CHECK_EQ(consumer.wakes(), 1);
        for (int i = 4; i < 6; ++i) {
            envelope = messageOf(0, i);
            CHECK_EQ(box.push(*lane, envelope, false), PushResult::Queued);
        }
        CHECK_EQ(consumer.wakes(), 2);

        // A take() that empties the queue leaves the wake-up in flight armed:
        // re-arming would post one event per message to a receiver whose
        // thread never runs them. The pending batch clears it.
        CHECK_EQ(box.take(taken, QDeadlineTimer(0), nullptr), TakeResult::Taken);
        CHECK_EQ(consumer.wakes(), 2);
        CHECK_EQ(box.take(taken, QDeadlineTimer(0), nullptr), TakeResult::Taken);
        envelope = messageOf(0, 6);
        CHECK_EQ(box.push(*lane, envelope, false), PushResult::Queued);
        CHECK_EQ(consumer.wakes(), 2);

        // The last sender leaving while a wake-up is pending: no extra wake,
        // and the batch that drains says finished.
        box.removeSender(*lane);
        CHECK_EQ(consumer.wakes(), 2);
        out.clear();
        batch = box.takeBatch(out, 100);
        CHECK_EQ(out.size(), size_t(1));
        CHECK(!batch.more);
        CHECK(batch.finished);
        CHECK(box.isFinished());
    }
    {
        // The last sender leaving an empty mailbox wakes the consumer.
        Mailbox box(limitsOf(100, OverflowPolicy::Block));
        CountingConsumer consumer;
        box.attachConsumer(&consumer);
        const auto lane = box.addSender();
        CHECK_EQ(consumer.wakes(), 0);
        box.removeSender(*lane);
        CHECK_EQ(consumer.wakes(), 1);
        out.clear();
        const Mailbox::Batch batch = box.takeBatch(out, 100);
        CHECK(out.empty());
        CHECK(batch.finished);
    }
    {
        // Attaching to a finished mailbox wakes at once.
        Mailbox box(limitsOf(100, OverflowPolicy::Block));
        const auto lane = box.addSender();
        box.removeSender(*lane);
        CountingConsumer consumer;
        box.attachConsumer(&consumer);
        CHECK_EQ(consumer.wakes(), 1);
        out.clear();
        CHECK(box.takeBatch(out, 100).finished);
    }
}

void wakeOncePerBatchUnderContention()
{
    constexpr int producers = 4;
    constexpr qint64 perProducer = 50000;
    constexpr qsizetype batchSize = 64;
    Mailbox box(limitsOf(1024, OverflowPolicy::Block));
    CountingConsumer consumer;
    box.attachConsumer(&consumer);
    Failures failures;
    std::atomic<qint64> fullSeen{0};

    Producers threads(box, producers, [&](int p, const LanePointer &lane) { pushSequence(box, lane, p, perProducer, failures, fullSeen); });

    // The consumer a ChannelReceiver is: sleep until woken, then drain in
    // batches while more == true, then sleep again.
    OrderChecker checker(producers, perProducer, true);
    qint64 batches = 0;
    qint64 emptyingBatches = 0;
    drainAsWoken(box, consumer, failures, [](qint64) { return batchSize; },
                 [&](const std::vector<Envelope> &out, const Mailbox::Batch &batch) {
                     ++batches;
                     if (qsizetype(out.size()) > batchSize)
                         failures.add("a batch larger than asked for");
                     for (const Envelope &envelope : out)
                         checker.accept(valueOf(envelope), failures);
                     if (batch.lagged != 0)
                         failures.add("lagged without drops");
                     emptyingBatches += !batch.more;
                 });
    threads.join(failures);

    CHECK_NO_FAILURES(failures);
    CHECK_EQ(checker.taken(), producers * perProducer);
    // Between two wake-ups a batch must have emptied the queue: one wake-up
    // per batch at most, never one per message.
    const int wakes = consumer.wakes();
    CHECK(wakes >= 1);
    CHECK_MSG(wakes <= emptyingBatches + 1,
             qPrintable(QStringLiteral("%1 wakes, %2 batches of which %3 emptied the queue")
                            .arg(wakes)
                            .arg(batches)
                            .arg(emptyingBatches)));
    CHECK(wakes <= batches + 1);
    CHECK(box.isFinished());
    std::printf("INFO   : %d wake-ups, %lld batches (%lld emptied the queue) for %lld messages\n", wakes, qlonglong(batches),
          qlonglong(emptyingBatches), qlonglong(checker.taken()));
}

// --- the queue behind the mailbox: chunks, the spare pool, two sides -------

constexpr int chunkSlots = EnvelopeQueue::ChunkSlots;

// One thread in turn on each side: envelopes keep their order across chunk
// boundaries whatever the batch sizes, steady traffic reuses chunks, and a
// drained queue gives its chunks back to the pool, which trimSpares() frees.
void queueOrderAcrossChunkBoundaries()
{
    const auto pool = std::make_shared<EnvelopeQueue::Pool>();
    EnvelopeQueue queue(pool);
    qint64 next = 0;  // next value pushed
    qint64 taken = 0; // next value expected
    std::vector<Envelope> out;
    const auto push = [&](int count) {
        for (int i = 0; i < count; ++i)
            queue.pushBack(messageOf(0, next++));
    };
    const auto take = [&](qsizetype count) {
        out.clear();
        const EnvelopeQueue::Occupancy moved = queue.takeFront(count, std::numeric_limits<qint64>::max(), out);
        if (qsizetype(out.size()) != count || moved.count != count || moved.bytes != count * qint64(sizeof(qint64)))
            return false;
        for (const Envelope &envelope : out) {
            if (valueOf(envelope) != pack(0, taken++))
                return false;
        }
        return true;
    };

    CHECK_EQ(queue.available(), 0);
    CHECK_EQ(pool->chunkCount(), 0);
    // Every offset within a chunk, for both the head and the tail.
    for (int round = 0; round < 3 * chunkSlots; ++round) {
        push(round % (chunkSlots + 3) + 1);
        CHECK(take(queue.available() - (round % 5 == 0 ? 0 : 1)));
    }
    CHECK(take(queue.available()));
    CHECK_EQ(queue.available(), 0);
    // Steady traffic through a short queue needs two chunks at most: the one
    // being filled and, while the head finishes the last, that one.
    CHECK(pool->chunkCount() <= 2);

    // A burst spanning many chunks, then drained: the chunks go to the pool.
    push(10 * chunkSlots + 7);
    const qsizetype burstChunks = pool->chunkCount();
    CHECK(burstChunks >= 11);
    CHECK(take(3));
    CHECK(take(chunkSlots));
    CHECK(take(queue.available()));
    CHECK_EQ(pool->chunkCount(), burstChunks);
    CHECK(pool->spareChunkCount() >= burstChunks - 2);
    // A second burst of the same size allocates nothing (but perhaps the one
    // chunk the head has not left yet).
    push(10 * chunkSlots + 7);
    CHECK(pool->chunkCount() <= burstChunks + 1);
    CHECK(take(queue.available()));
    const qsizetype chunks = pool->chunkCount();

    // The pool hands out only what stayed unused since the last count...
    {
        EnvelopeQueue::Retired retired;
        pool->trimUnneededSpares(retired); // starts counting: all were used
    }
    CHECK_EQ(pool->chunkCount(), chunks);
    push(3 * chunkSlots); // uses three or four of them
    CHECK(take(queue.available()));
    {
        EnvelopeQueue::Retired retired;
        pool->trimUnneededSpares(retired);
    }
    CHECK(pool->spareChunkCount() >= 3 && pool->spareChunkCount() <= EnvelopeQueue::KeptSpareChunks + 5);
    {
        EnvelopeQueue::Retired retired;
        pool->trimUnneededSpares(retired); // none used since
    }
    CHECK_EQ(pool->spareChunkCount(), EnvelopeQueue::KeptSpareChunks);
    // ...and everything but KeptSpareChunks when told to.
    push(10 * chunkSlots);
    CHECK(take(queue.available()));
    {
        EnvelopeQueue::Retired retired;
        pool->trimSpares(retired);
    }
    CHECK_EQ(pool->spareChunkCount(), EnvelopeQueue::KeptSpareChunks);
    CHECK(pool->chunkCount() <= EnvelopeQueue::KeptSpareChunks + 2);
    push(2 * chunkSlots);
    CHECK(take(queue.available()));
    CHECK_EQ(taken, next);

    // popFront() takes one at a time, in order, across boundaries too.
    push(chunkSlots + 2);
    for (int i = 0; i < chunkSlots + 2; ++i) {
        Envelope envelope;
        CHECK_EQ(queue.popFront(&envelope), qint64(sizeof(qint64)));
        CHECK_EQ(valueOf(envelope), pack(0, taken++));
    }
    CHECK_EQ(queue.available(), 0);
}

// What is still queued when the queue goes away is destroyed with it, in
// whatever chunk it waits.
void queueDestroysWhatIsQueued()
{
    const QByteArray shared(100, 'x');
    const auto pool = std::make_shared<EnvelopeQueue::Pool>();
    {
        EnvelopeQueue queue(pool);
        for (int i = 0; i < 3 * chunkSlots + 5; ++i)
            queue.pushBack(Envelope::rawBytes(shared));
        std::vector<Envelope> out;
        queue.takeFront(chunkSlots + 1, std::numeric_limits<qint64>::max(), out);
        out.clear();
        CHECK(!shared.isDetached());
    }
    CHECK(shared.isDetached());
    // Its chunks went back to the pool.
    CHECK_EQ(pool->spareChunkCount(), pool->chunkCount());
    CHECK(pool->chunkCount() >= 4);
}

// One pool serves every lane of a mailbox (D55): senders that fill the queue
// one after the other, each while the others' messages drain, share its
// chunks instead of each keeping a queue's worth.
void lanesShareTheirChunks()
{
    constexpr int senders = 4;
    constexpr qsizetype capacity = 20 * chunkSlots;
    Mailbox box(limitsOf(capacity, OverflowPolicy::Reject));
    std::vector<LanePointer> lanes;
    for (int p = 0; p < senders; ++p)
        lanes.push_back(box.addSender());
    std::vector<Envelope> out;
    for (int round = 0; round < 3; ++round) {
        for (const LanePointer &lane : lanes) {
            CHECK(fillWithoutBlocking(box, *lane, capacity));
            out.clear();
            box.takeBatch(out, capacity);
            CHECK_EQ(out.size(), size_t(capacity));
        }
    }
    // A queue's worth, and a chunk per lane that its head has not left yet.
    CHECK(box.queueChunkCount() >= capacity / chunkSlots);
    CHECK_MSG(box.queueChunkCount() <= capacity / chunkSlots + senders,
              std::to_string(box.queueChunkCount()) + " chunks for a queue of " + std::to_string(capacity / chunkSlots));
    for (const LanePointer &lane : lanes)
        box.removeSender(*lane);
}

// A queue that fills across many chunks and drains, over and over, with four
// producers on one side and a consumer taking irregular batches on the other:
// nothing lost, duplicated or reordered, and once the channel finished and
// drained the chunks are freed.
void chunksGrowAndShrinkUnderContention()
{
    constexpr int producers = 4;
    constexpr qint64 perProducer = 40000;
    Mailbox box(limitsOf(20 * chunkSlots, OverflowPolicy::Block));
    CountingConsumer consumer;
    box.attachConsumer(&consumer);
    Failures failures;
    std::atomic<qint64> fullSeen{0};
    std::atomic<int> producersDone{0};

    Producers threads(box, producers, [&](int p, const LanePointer &lane) {
        pushSequence(box, lane, p, perProducer, failures, fullSeen);
        ++producersDone;
    });

    OrderChecker checker(producers, perProducer, true);
    qsizetype mostChunks = 0;
    qint64 batches = 0;
    drainAsWoken(
        box, consumer, failures,
        [&](qint64 n) {
            batches = n;
            // Now and then let the producers run ahead until the queue spans
            // half its chunks (they block at twenty), so that it grows
            // before it drains.
            if (n % 64 == 0 && !spinUntil([&] {
                    return box.queuedCount() >= 10 * chunkSlots || producersDone.load() == producers;
                }))
                failures.add("the producers never filled half the queue");
            return 1 + (n * 37) % 300;
        },
        [&](const std::vector<Envelope> &out, const Mailbox::Batch &) {
            for (const Envelope &envelope : out)
                checker.accept(valueOf(envelope), failures);
            mostChunks = std::max(mostChunks, box.queueChunkCount());
        });
    threads.join(failures);

    CHECK_NO_FAILURES(failures);
    CHECK_EQ(checker.taken(), producers * perProducer);
    CHECK_EQ(box.queuedCount(), 0);
    CHECK(box.isFinished());
    CHECK_MSG(mostChunks >= 10, std::to_string(mostChunks) + " chunks at most: the queue never grew");
    // Finished and drained: the pool is trimmed at once.
    CHECK_MSG(box.queueChunkCount() <= EnvelopeQueue::KeptSpareChunks + 2,
              std::to_string(box.queueChunkCount()) + " chunks left");
    std::printf("INFO   : up to %lld chunks, %lld batches, producers found the queue full %lld times\n",
                qlonglong(mostChunks), qlonglong(batches), qlonglong(fullSeen.load()));
}

// What a consumer collects goes to the producers one bin at a time: the next
// push frees it, and a bin no push claimed before the next hand-over is freed
// by the consumer instead. Only small byte arrays and strings are returnable.
void payloadReturnHandsOverOneBinAtATime()
{
    PayloadReturn returned;
    const QByteArray first(64, 'a');
    const QByteArray second(64, 'b');
    QVariant payload = first;
    CHECK(returned.collect(payload, true));
    CHECK(!payload.isValid()); // moved into the bin
    returned.handOver();
    CHECK(!first.isDetached()); // waits for a producer

    payload = second;
    CHECK(returned.collect(payload, true));
    returned.handOver(); // the first bin was never claimed: freed here
    CHECK(first.isDetached());
    CHECK(!second.isDetached());
    returned.freeHandedOver(); // a producer's push
    CHECK(second.isDetached());
    returned.freeHandedOver(); // nothing handed over: nothing happens

    // Which payloads may go is decided where the envelope is made.
    const QByteArray large(int(PayloadReturn::SmallPayloadBytes) + 1, 'c');
    CHECK(!PayloadReturn::isReturnable(large));
    CHECK(!Envelope::rawBytes(large).returnable);
    CHECK(Envelope::rawBytes(first).returnable);
    // What counts is the memory held, not the size.
    QByteArray shortInLargeBuffer(8, 's');
    shortInLargeBuffer.reserve(int(PayloadReturn::SmallPayloadBytes) * 4);
    CHECK(!PayloadReturn::isReturnable(shortInLargeBuffer));
    CHECK(!Envelope::rawBytes(shortInLargeBuffer).returnable);
    CHECK(!Envelope::typed(QVariant::fromValue(QList<int>({1, 2, 3}))).returnable);
    CHECK(!Envelope::error(Error::MessageDecodeError, QStringLiteral("x")).returnable);
    const QString text(10, QLatin1Char('t'));
    CHECK(Envelope::typed(text).returnable);
    CHECK(!Envelope::typed(QString(int(PayloadReturn::SmallPayloadBytes), QLatin1Char('t'))).returnable);
    payload = text;
    CHECK(returned.collect(payload, false));

    // A bin holds at most MaxBinPayloads; the rest is freed by the consumer.
    for (size_t i = 1; i < PayloadReturn::MaxBinPayloads; ++i) {
        payload = first;
        CHECK(returned.collect(payload, false));
    }
    payload = first;
    CHECK(!returned.collect(payload, false));
    payload.clear();
    returned.clear();
    CHECK(first.isDetached());
    CHECK(text.isDetached());
}

// Four producers push small byte arrays while a consumer takes batches,
// collects every payload into the return its envelope names and hands each
// batch's bins over; each push frees what was handed over to its lane. Each
// producer's messages name its own lane's return, and no other's. Under
// TSan: the hand-over is race-free. Afterwards every payload was freed by
// someone (the copies the producers kept are the only references left) and
// nothing was lost, duplicated or reordered.
void payloadsReturnedUnderContention()
{
    constexpr int producers = 4;
    constexpr qint64 perProducer = 30000;
    constexpr qint64 keepEvery = 97;
    Mailbox box(limitsOf(4 * chunkSlots, OverflowPolicy::Block));
    CountingConsumer consumer;
    box.attachConsumer(&consumer);
    Failures failures;
    std::vector<std::vector<QByteArray>> kept(producers);

    Producers threads(box, producers, [&](int p, const LanePointer &lane) {
        std::atomic<qint64> fullSeen{0};
        for (qint64 i = 0; i < perProducer; ++i) {
            const qint64 value = pack(p, i);
            QByteArray payload(64, '\0');
            std::memcpy(payload.data(), &value, sizeof value);
            if (i % keepEvery == 0)
                kept[p].push_back(payload);
            Envelope envelope = Envelope::rawBytes(payload);
            payload.clear();
            if (pushMayBlock(box, lane, envelope, fullSeen) != PushResult::Queued)
                failures.add("push failed");
        }
    });

    OrderChecker checker(producers, perProducer, true);
    qint64 handOvers = 0;
    std::vector<PayloadReturn *> returnOf(producers, nullptr);
    drainAsWoken(box, consumer, failures, [](qint64) { return 256; },
                 [&](std::vector<Envelope> &out, const Mailbox::Batch &) {
                     std::vector<PayloadReturn *> filled;
                     for (Envelope &envelope : out) {
                         qint64 value = 0;
                         std::memcpy(&value, static_cast<const QByteArray *>(envelope.payload.constData())->constData(),
                                     sizeof value);
                         checker.accept(value, failures);
                         PayloadReturn *&expected = returnOf[producerOf(value) % producers];
                         if (!expected)
                             expected = envelope.returnTo;
                         if (!envelope.returnTo || envelope.returnTo != expected)
                             failures.add("a message names another lane's return, or none");
                         else if (!envelope.returnTo->collect(envelope.payload, true))
                             failures.add("a 64-byte array was not collected");
                         else if (std::find(filled.begin(), filled.end(), envelope.returnTo) == filled.end())
                             filled.push_back(envelope.returnTo);
                     }
                     for (PayloadReturn *returned : filled)
                         returned->handOver();
                     ++handOvers;
                 });
    threads.join(failures);
    box.freeReturnedPayloads();
    std::sort(returnOf.begin(), returnOf.end());
    CHECK_MSG(std::adjacent_find(returnOf.begin(), returnOf.end()) == returnOf.end(), "two producers share a return");

    CHECK_NO_FAILURES(failures);
    CHECK_EQ(checker.taken(), producers * perProducer);
    qint64 stillReferenced = 0;
    for (const auto &payloads : kept)
        stillReferenced += std::count_if(payloads.begin(), payloads.end(),
                                         [](const QByteArray &payload) { return !payload.isDetached(); });
    CHECK_EQ(stillReferenced, 0);
    std::printf("INFO   : %lld bins handed over\n", qlonglong(handOvers));
}

// The channel finishing (or its consumer leaving) frees what waits while
// producers are still freeing what was handed over: clear() against
// freeHandedOver(), under TSan. Every payload is freed once, none is lost.
void payloadReturnClearedWhileProducersFree()
{
    constexpr int producers = 3;
    constexpr int rounds = 200;
    for (int round = 0; round < rounds; ++round) {
        PayloadReturn returned;
        std::vector<QByteArray> kept;
        for (int i = 0; i < 64; ++i) {
            kept.emplace_back(32, char('a' + i % 26));
            QVariant payload = kept.back();
            CHECK(returned.collect(payload, false));
            if (i % 16 == 15)
                returned.handOver();
        }
        std::atomic<bool> go{false};
        std::vector<std::thread> threads;
        for (int p = 0; p < producers; ++p) {
            threads.emplace_back([&] {
                while (!go.load())
                    std::this_thread::yield();
                for (int i = 0; i < 8; ++i)
                    returned.freeHandedOver();
            });
        }
        go.store(true);
        returned.clear();
        for (std::thread &thread : threads)
            thread.join();
        const auto referenced = std::count_if(kept.begin(), kept.end(),
                                              [](const QByteArray &payload) { return !payload.isDetached(); });
        CHECK_EQ(qint64(referenced), 0);
        if (harness::currentFailed)
            return;
    }
}

// The spare chunks a burst needed are kept while bursts keep coming: a drain
// that empties the queue frees the spares the pool did not hand out since
// the last such trim (or since the mailbox was made), and trims only once
// the keep interval (a second) passed since then. The test sets the interval
// to an hour, then to nothing, rather than wait for a clock.
void unusedChunksFreedOnceTheirIntervalPassed()
{
    Mailbox box(limitsOf(100 * chunkSlots, OverflowPolicy::Block));
    box.setUnusedChunksKeptFor(std::chrono::hours(1));
    const auto lane = box.addSender();
    std::vector<Envelope> out;
    const auto burst = [&](int count) {
        for (int i = 0; i < count; ++i) {
            Envelope envelope = messageOf(0, i);
            if (box.push(*lane, envelope, false) != PushResult::Queued)
                return false;
        }
        out.clear();
        return !box.takeBatch(out, count).more && int(out.size()) == count;
    };

    CHECK(burst(30 * chunkSlots));
    const qsizetype burstChunks = box.queueChunkCount();
    CHECK(burstChunks >= 30);
    CHECK(burst(30 * chunkSlots));
    // Reused, none freed (and one more at most: the head leaves a chunk only
    // once a slot beyond it is taken, so the last one was not spare yet).
    CHECK(box.queueChunkCount() >= burstChunks && box.queueChunkCount() <= burstChunks + 1);
    // Small traffic within the interval: the spares stay.
    CHECK(burst(3));
    CHECK(burst(3));
    CHECK(box.queueChunkCount() >= burstChunks);

    box.setUnusedChunksKeptFor(std::chrono::milliseconds(0));
    // The interval passed: this drain trims, but the bursts needed every
    // spare since the mailbox was made.
    CHECK(burst(3));
    CHECK(box.queueChunkCount() >= burstChunks);
    // Since that trim only small bursts came: the spares they left go.
    CHECK(burst(3));
    CHECK_MSG(box.queueChunkCount() <= EnvelopeQueue::KeptSpareChunks + 3,
              std::to_string(box.queueChunkCount()) + " chunks left");
    CHECK(burst(30 * chunkSlots)); // and the queue grows again as needed
    box.removeSender(*lane);
    // Finished and drained: the pool is trimmed at once.
    out.clear();
    CHECK(box.takeBatch(out, 1).finished);
    CHECK(box.queueChunkCount() <= EnvelopeQueue::KeptSpareChunks + 2);
}

// Every byte that entered the queue leaves it through the release observer
// exactly once: taken, dropped by DropOldest, or discarded when the consumer
// detaches, while producers and the consumer work on both sides at once.
void releaseObserverAccountsForEveryByte()
{
    class Counter final : public MailboxReleaseObserver
    {
    public:
        void released(qint64 bytes) override
        {
            if (bytes <= 0)
                negative.store(true);
            total.fetch_add(bytes);
        }
        std::atomic<qint64> total{0};
        std::atomic<bool> negative{false};
    };

    constexpr int producers = 4;
    constexpr qint64 perProducer = 30000;
    Mailbox box(limitsOf(3 * chunkSlots, OverflowPolicy::DropOldest, 200 * 64));
    Counter counter;
    box.setReleaseObserver(&counter);
    Failures failures;
    std::atomic<qint64> queuedBytes{0};
    std::atomic<int> running{producers};

    std::vector<LanePointer> lanes;
    for (int p = 0; p < producers; ++p)
        lanes.push_back(box.addSender());
    std::vector<std::thread> threads;
    auto joinAll = qScopeGuard([&] {
        box.detachConsumer();
        for (std::thread &thread : threads) {
            if (thread.joinable())
                thread.join();
        }
        box.setReleaseObserver(nullptr);
    });
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            for (qint64 i = 0; i < perProducer; ++i) {
                // Sizes vary, so that the byte bound and the count bound both bite.
                Envelope envelope = Envelope::rawBytes(QByteArray(int(1 + (i * 7 + p) % 120), 'p'));
                const qint64 bytes = envelope.bytes;
                const PushResult result = box.push(*lanes[p], envelope, false);
                if (result == PushResult::Queued)
                    queuedBytes.fetch_add(bytes);
                else if (result != PushResult::Closed)
                    failures.add("push returned " + std::to_string(int(result)));
            }
            running.fetch_sub(1);
        });
    }

    // Let drops happen for sure, take for a while, then detach (with messages
    // most likely still coming).
    CHECK(spinUntil([&] { return box.droppedCount() > 0; }));
    std::vector<Envelope> out;
    qint64 takenBytes = 0;
    do {
        out.clear();
        box.takeBatch(out, 50);
        for (const Envelope &envelope : out)
            takenBytes += envelope.bytes;
    } while (running.load() > 0 && takenBytes < 200000);
    box.detachConsumer();
    for (std::thread &thread : threads)
        thread.join();
    joinAll.dismiss();

    CHECK_NO_FAILURES(failures);
    CHECK(!counter.negative.load());
    CHECK(box.droppedCount() > 0);
    CHECK(takenBytes > 0);
    CHECK_EQ(counter.total.load(), queuedBytes.load());
    // Closed after the detach: nothing more enters.
    Envelope late = messageOf(0, 0);
    CHECK_EQ(box.push(*lanes[0], late, false), PushResult::Closed);
    CHECK(!box.pushUnbounded(*lanes[0], late));
    box.setReleaseObserver(nullptr);
    CHECK_EQ(counter.total.load(), queuedBytes.load());
}

// The producers blocked for room are woken one at a time (D54): the first
// once the queue drained by a sixteenth of its message bound (and by 1 MiB,
// or half a smaller byte bound), each next one once it drained twice as far;
// an empty queue wakes them all.
void roomForBlockedProducerComesInStages()
{
    constexpr qint64 MiB = 1024 * 1024;
    constexpr qint64 huge = std::numeric_limits<qint64>::max();
    const auto room = [](qsizetype count, qint64 bytes, qint64 capacity, qint64 capacityBytes, int woken) {
        return Mailbox::roomForBlockedProducer({count, bytes}, capacity, capacityBytes, woken);
    };
    // Messages: a step of 16 of 256, doubled for each producer woken.
    CHECK(!room(241, 0, 256, noByteBound, 0));
    CHECK(room(240, 0, 256, noByteBound, 0));
    CHECK(!room(225, 0, 256, noByteBound, 1));
    CHECK(room(224, 0, 256, noByteBound, 1));
    CHECK(!room(193, 0, 256, noByteBound, 2));
    CHECK(room(192, 0, 256, noByteBound, 2));
    CHECK(!room(129, 0, 256, noByteBound, 3));
    CHECK(room(128, 0, 256, noByteBound, 3));
    // With four woken, the next takes an empty queue.
    CHECK(!room(1, 0, 256, noByteBound, 4));
    CHECK(room(0, 0, 256, noByteBound, 4));
    CHECK(room(0, 0, 256, noByteBound, 30));
    // Under 32 messages, a step is one message.
    CHECK(!room(8, 0, 8, noByteBound, 0));
    CHECK(room(7, 0, 8, noByteBound, 0));
    CHECK(!room(1, 0, 1, noByteBound, 0));
    // Bytes: a step of 1 MiB, or half a bound under 2 MiB.
    CHECK(!room(1, 7 * MiB + 1, 65536, 8 * MiB, 0));
    CHECK(room(1, 7 * MiB, 65536, 8 * MiB, 0));
    CHECK(!room(1, 6 * MiB + 1, 65536, 8 * MiB, 1));
    CHECK(room(1, 6 * MiB, 65536, 8 * MiB, 1));
    CHECK(!room(1, MiB / 2 + 1, 65536, MiB, 0));
    CHECK(room(1, MiB / 2, 65536, MiB, 0));
    // Both bounds must have drained.
    CHECK(!room(240, 7 * MiB + 1, 256, 8 * MiB, 0));
    CHECK(!room(241, 7 * MiB, 256, 8 * MiB, 0));
    // Over a bound (pushUnbounded(), a message over the byte bound): none.
    CHECK(!room(300, 0, 256, noByteBound, 0));
    CHECK(!room(1, 9 * MiB, 65536, 8 * MiB, 0));
    // Bounds as large as can be: nothing overflows.
    CHECK(room(1, 0, huge, huge, 0));
    CHECK(room(huge / 2, 0, huge, huge, 3));
    CHECK(!room(huge / 2, 0, huge, huge, 4));
    CHECK(!room(1, 0, huge, huge, 30));
}

// The same through takes: eight producers blocked on a full queue are woken
// one per stage as it drains, and no other gets in; all at once when it is
// empty; one that finds the queue full again starts the stages over. The
// safety net is set far out of reach: only wake-ups let producers in.
void blockedProducersAreWokenOneAtATime()
{
    constexpr qsizetype capacity = 256; // a step of 16 messages
    constexpr int producers = 8;
    Mailbox box(limitsOf(capacity, OverflowPolicy::Block));
    box.setBlockedRecheckInterval(std::chrono::minutes(1));
    const auto filler = box.addSender();
    CHECK(fillWithoutBlocking(box, *filler, capacity));
    std::vector<LanePointer> lanes;
    for (int p = 0; p < producers; ++p)
        lanes.push_back(box.addSender());
    std::atomic<int> gotIn{0};
    std::vector<std::unique_ptr<Parked>> parked;
    for (int p = 0; p < producers; ++p) {
        parked.push_back(std::make_unique<Parked>([&, p] {
            Envelope envelope = messageOf(p + 1, 0);
            if (box.push(*lanes[p], envelope, true) == PushResult::Queued)
                gotIn.fetch_add(1);
        }));
    }
    // On an early return, before the producers are joined.
    const auto release = qScopeGuard([&] { box.detachConsumer(); });
    for (const auto &producer : parked)
        CHECK(producer->waitUntilParked());
    CHECK(spinUntil([&] { return box.blockedProducerCount() == producers; }));
    CHECK_EQ(box.producersWokenOneByOne(), 0);

    // Each take drains the queue past the next stage (those woken may have
    // pushed, one message each) and short of the one after.
    std::vector<Envelope> out;
    const struct
    {
        qsizetype take;
        int woken;
    } steps[] = {{15, 0}, {1, 1}, {20, 2}, {32, 3}, {64, 4}};
    for (const auto &step : steps) {
        box.takeBatch(out, step.take);
        CHECK_EQ(box.producersWokenOneByOne(), step.woken);
        // Those woken get in; once every producer is asleep again or done,
        // no other has.
        CHECK(spinUntil([&] { return gotIn.load() == step.woken; }));
        for (const auto &producer : parked)
            CHECK(producer->waitUntilParked());
        CHECK_EQ(gotIn.load(), step.woken);
    }
    // Emptied: every producer still blocked gets in.
    while (box.takeBatch(out, capacity).more) {
    }
    CHECK(spinUntil([&] { return gotIn.load() == producers; }));
    for (const LanePointer &lane : lanes)
        box.removeSender(*lane);

    // Full again: the producer that finds it so starts the stages over.
    while (box.takeBatch(out, capacity).more) {
    }
    CHECK(fillWithoutBlocking(box, *filler, capacity));
    CHECK_EQ(box.producersWokenOneByOne(), 4);
    const auto late = pushBlocking(box, *filler, capacity);
    const auto releaseLate = qScopeGuard([&] { box.detachConsumer(); });
    CHECK(late->waitUntilParked());
    CHECK(spinUntil([&] { return box.blockedProducerCount() == 1 && box.producersWokenOneByOne() == 0; }));
    box.takeBatch(out, capacity / 16);
    CHECK_EQ(box.producersWokenOneByOne(), 1);
    CHECK(spinUntil([&] { return late->hasReturned(); }));
    CHECK_EQ(box.safetyNetRecheckCount(), 0);
    box.removeSender(*filler);
}

// While the consumer keeps taking, a blocked producer waits for the room
// that wakes it, however long that takes: its own re-check after an interval
// is only for a consumer that took nothing all that time. (Before D54 every
// re-check let it in at any room, which put producers back on the CPUs
// outside the stages.)
void blockedProducerWaitsForItsWakeWhileTheConsumerTakes()
{
    constexpr qsizetype capacity = 64; // a step of 4 messages
    constexpr int takesBeforeTheStep = 3;
    Mailbox box(limitsOf(capacity, OverflowPolicy::Block));
    box.setBlockedRecheckInterval(std::chrono::milliseconds(50));
    const auto lane = box.addSender();
    CHECK(fillWithoutBlocking(box, *lane, capacity));
    const auto producer = pushBlocking(box, *lane, capacity);
    const auto release = qScopeGuard([&] { box.detachConsumer(); }); // on an early return
    CHECK(producer->waitUntilParked());

    // One message in each of three of the producer's intervals: the next
    // take follows at once when an interval that saw one ends.
    std::vector<Envelope> out;
    for (int i = 0; i < takesBeforeTheStep; ++i) {
        const qint64 intervals = box.recheckIntervalsWaited();
        box.takeBatch(out, 1);
        CHECK(spinUntil([&] { return box.recheckIntervalsWaited() > intervals || producer->hasReturned(); }));
    }
    // Had this thread stalled for a whole interval, the safety net would
    // rightly have let the producer in.
    CHECK(!producer->hasReturned() || box.safetyNetRecheckCount() > 0);
    box.takeBatch(out, capacity / 16 - takesBeforeTheStep);
    CHECK(spinUntil([&] { return producer->hasReturned(); }));
    box.removeSender(*lane);
}

// The safety net under the wake-ups: a consumer that takes one message and
// then stops, short of the room that wakes a producer (its slot may be
// waiting for a lock that the producer's thread holds), still lets a blocked
// producer in once a whole interval passed without a take: room for one
// message is room.
void blockedProducerGetsInWhenConsumerStopsShortOfWakingIt()
{
    constexpr qsizetype capacity = 64; // a step of 4 messages
    Mailbox box(limitsOf(capacity, OverflowPolicy::Block));
    const auto lane = box.addSender();
    CHECK(fillWithoutBlocking(box, *lane, capacity));
    std::atomic<int> result{-1};
    const auto producer = pushBlocking(box, *lane, capacity, &result);
    const auto release = qScopeGuard([&] { box.detachConsumer(); }); // on an early return
    CHECK(producer->waitUntilParked());
    CHECK(!producer->hasReturned());

    std::vector<Envelope> out;
    const Mailbox::Batch batch = box.takeBatch(out, 1);
    CHECK(batch.more);
    CHECK_EQ(out.size(), size_t(1));
    CHECK_EQ(box.producersWokenOneByOne(), 0);
    CHECK(spinUntil([&] { return producer->hasReturned(); }));
    CHECK(box.safetyNetRecheckCount() >= 1);
    CHECK_EQ(result.load(), int(PushResult::Queued));
    CHECK_EQ(box.queuedCount(), capacity);
    box.removeSender(*lane);
}

} // namespace

// Producers that may not block (a GUI thread's sender under Reject or Block)
// wait for roomAvailable() after every refusal instead of retrying: each
// refusal must be followed by the call, or a producer waits for ever.
void roomWatchersHearOfRoomUnderContention()
{
    constexpr int producers = 4;
    constexpr qint64 perProducer = 20000;
    Mailbox box(limitsOf(16, OverflowPolicy::Reject));
    Failures failures;
    std::atomic<qint64> refusals{0};

    struct FlagWatcher final : MailboxRoomWatcher
    {
        std::atomic<bool> told{false};
        void roomAvailable() override { told.store(true); }
    };
    Producers threads(box, producers, [&](int p, const LanePointer &lane) {
        FlagWatcher watcher;
        const auto stopWatching = qScopeGuard([&] { box.stopWatchingForRoom(&watcher); });
        for (qint64 i = 0; i < perProducer; ++i) {
            Envelope envelope = messageOf(p, i);
            for (;;) {
                const PushResult result = box.push(*lane, envelope, false);
                if (result == PushResult::Queued)
                    break;
                if (result != PushResult::Full) {
                    failures.add("push returned " + std::to_string(int(result)));
                    return;
                }
                refusals.fetch_add(1, std::memory_order_relaxed);
                watcher.told.store(false);
                box.watchForRoom(&watcher, envelope.bytes);
                if (!spinUntil([&] { return watcher.told.load(); })) {
                    failures.add("no roomAvailable() for 20 s after a refusal: a wake-up was lost");
                    return;
                }
            }
        }
    });

    OrderChecker checker(producers, perProducer, true);
    takeUntilFinished(box, checker, failures);
    threads.join(failures);

    CHECK_NO_FAILURES(failures);
    CHECK_EQ(checker.taken(), producers * perProducer);
    CHECK(refusals.load() > 0);
    CHECK(box.isFinished());
    std::printf("INFO   : %lld refusals, each followed by roomAvailable()\n", qlonglong(refusals.load()));
}

int main(int argc, char **argv)
{
#define TEST(name) {#name, &name}
    const struct
    {
        const char *name;
        void (*function)();
    } tests[] = {
        // Contention: every message accounted for, in order, under every policy.
        TEST(blockManyProducersBlockingConsumer),
        TEST(stressEightProducersThroughBlockingTake),
        TEST(blockTinyCapacityParksAndWakesProducers),
        TEST(dropOldestUnderContention),
        TEST(dropNewestUnderContention),
        TEST(rejectUnderContentionLosesNothingQueued),
        // Blocking take().
        TEST(takeTimesOut),
        TEST(takeWakesOnPush),
        TEST(removeLastSenderDrainsThenFinishes),
        TEST(removeLastSenderWakesBlockedTake),
        // Blocked producers.
        TEST(detachConsumerReleasesBlockedProducers),
        TEST(setLimitsMoreCapacityReleases),
        TEST(setLimitsMoreBytesReleases),
        TEST(setLimitsToDropOldestReleases),
        TEST(setLimitsToDropNewestReleases),
        TEST(setLimitsToRejectReleases),
        // Bounds and wake-ups.
        TEST(byteBound),
        TEST(roomComesOneMiBBelowTheByteBound),
        TEST(takeBatchStopsAtItsByteBudget),
        TEST(lanesTakeTurns),
        TEST(messageBoundIsExactAcrossLanes),
        TEST(byteBoundIsExactAcrossLanes),
        TEST(dropOldestDropsWhatWouldBeTakenNext),
        TEST(refusedPushesLeaveNoTrace),
        TEST(leftLanesAreFreed),
        TEST(pushAfterCloseIsClosed),
        TEST(wakeOncePerBatch),
        TEST(wakeOncePerBatchUnderContention),
        // The queue: chunks, the spare pool, producer and consumer sides.
        TEST(queueOrderAcrossChunkBoundaries),
        TEST(queueDestroysWhatIsQueued),
        TEST(lanesShareTheirChunks),
        TEST(chunksGrowAndShrinkUnderContention),
        TEST(unusedChunksFreedOnceTheirIntervalPassed),
        TEST(releaseObserverAccountsForEveryByte),
        TEST(roomForBlockedProducerComesInStages),
        TEST(blockedProducersAreWokenOneAtATime),
        TEST(blockedProducerWaitsForItsWakeWhileTheConsumerTakes),
        TEST(blockedProducerGetsInWhenConsumerStopsShortOfWakingIt),
        TEST(roomWatchersHearOfRoomUnderContention),
        // Delivered payloads handed back to be freed by a producer.
        TEST(payloadReturnHandsOverOneBinAtATime),
        TEST(payloadsReturnedUnderContention),
        TEST(payloadReturnClearedWhileProducersFree),
    };
#undef TEST

    // Arguments, if any, name the tests to run.
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::printf("********* Start testing of tst_Mailbox *********\n");
    int passed = 0;
    int failed = 0;
    QElapsedTimer total;
    total.start();
    for (const auto &test : tests) {
        if (argc > 1 && std::find_if(argv + 1, argv + argc, [&](const char *arg) {
                            return std::strcmp(arg, test.name) == 0;
                        }) == argv + argc) {
            continue;
        }
        harness::currentFailed = false;
        QElapsedTimer timer;
        timer.start();
        test.function();
        if (harness::currentFailed) {
            ++failed;
            std::printf("FAIL!  : tst_Mailbox::%s() (%lld ms)\n", test.name, qlonglong(timer.elapsed()));
        } else {
            ++passed;
            std::printf("PASS   : tst_Mailbox::%s() (%lld ms)\n", test.name, qlonglong(timer.elapsed()));
        }
    }
    std::printf("Totals: %d passed, %d failed, %lldms\n", passed, failed, qlonglong(total.elapsed()));
    std::printf("********* Finished testing of tst_Mailbox *********\n");
    return (failed > 0 || passed == 0) ? 1 : 0;
}
