// bench_inproc: messages per second of 64-byte payloads from producer threads
// to a receiver on the main thread's event loop, through an in-process
// Qonduit channel and, side by side in the same run, the plain Qt way (one
// queued signal, or one queued QMetaObject::invokeMethod, per message).
//
// Every case:
//   - producers are std::threads without an event loop, released together
//     from a gate once they all exist; the clock runs from opening the gate
//     to the consumer's slot seeing the last message;
//   - each message is a fresh 64-byte QByteArray (one allocation per message
//     in the producer, on every side alike);
//   - the consumer is one slot on the main thread (Sink::onRaw / onTyped),
//     the same for Qonduit and for Qt, counting messages and bytes;
//   - the Qonduit channel uses OverflowPolicy::Block, so nothing may be
//     dropped: a run counts only if every send() returned true,
//     droppedCount() == 0, received == sent and bytes == 64 * sent.
// The message count of a case is calibrated once (a warm-up run) so that one
// run lasts about --seconds (0.2); the cases are then interleaved for --reps
// (7) rounds and the median of each is reported. The whole run stays well
// under a minute: no new round starts after 30 s (at least 3 rounds are
// done), and a run that takes over 15 s fails.
//
// Each case's summary line also gives the process's CPU time per message and
// how busy the consumer's thread was (its CPU time over the run's): with more
// threads than CPUs, what the consumer gets of them bounds the throughput.
//
// --kinds, --producers, --messages and --shared-payload narrow or change a
// run for profiling, e.g. under valgrind --tool=callgrind:
//   bench_inproc --kinds raw --producers 1 --messages 200000 --reps 1
//
// Output, one line per comparison:
//   BENCH inproc_raw_64B_1producer ours=<msg/s> msg/s base=qt_queued_signal:<msg/s> ratio=<ours/base>
// Lines starting with '#' are details. Exit status 0 unless a run failed its
// checks or timed out.

#include <Qonduit/channel.h>

#include <QtCore/qcommandlineparser.h>
#include <QtCore/qcoreapplication.h>
#include <QtCore/qelapsedtimer.h>
#include <QtCore/qeventloop.h>
#include <QtCore/qmetaobject.h>
#include <QtCore/qobject.h>
#include <QtCore/qthread.h>
#include <QtCore/qtimer.h>

#include <time.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace Qonduit;

namespace {

constexpr int PayloadSize = 64;
constexpr int RunTimeoutMs = 15000; // a run that takes longer fails
constexpr int TimeBudgetMs = 30000;  // no new round of runs after this
constexpr int MinReps = 3;

// With --shared-payload every message is an implicitly shared copy of one
// QByteArray made per producer: no allocation per message on either side.
// For analysis only; the reported figures use a fresh payload per message.
bool g_sharedPayload = false;

// CPU time of the whole process (every thread), in nanoseconds: unlike the
// wall clock it hardly depends on how loaded the machine is, so it tells
// where a difference comes from.
qint64 clockNs(clockid_t clock)
{
    timespec ts{};
    clock_gettime(clock, &ts);
    return qint64(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
qint64 processCpuNs()
{
    return clockNs(CLOCK_PROCESS_CPUTIME_ID);
}
// The consumer's share of the CPUs: on a machine with fewer CPUs than
// threads, how much of the run the receiving thread got to run.
qint64 consumerCpuNs()
{
    return clockNs(CLOCK_THREAD_CPUTIME_ID);
}

QByteArray makePayload(qint64 sequence)
{
    static thread_local const QByteArray shared(PayloadSize, 'x');
    if (g_sharedPayload)
        return shared;
    return QByteArray(PayloadSize, char(sequence));
}

// Holds producers until every one of them exists, then lets them go at once.
class Gate
{
public:
    explicit Gate(int parties) : m_waiting(parties) {}

    void arriveAndWait()
    {
        std::unique_lock lock(m_mutex);
        --m_waiting;
        m_changed.notify_all();
        m_changed.wait(lock, [this] { return m_open; });
    }
    void waitUntilAllArrived()
    {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [this] { return m_waiting == 0; });
    }
    void open()
    {
        std::lock_guard lock(m_mutex);
        m_open = true;
        m_changed.notify_all();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_changed;
    int m_waiting;
    bool m_open = false;
};

} // namespace

// The consumer: one slot per message, on the main thread, for every case.
class Sink : public QObject
{
    Q_OBJECT

public:
    Sink(qint64 expected, QEventLoop *loop, const QElapsedTimer *clock)
        : m_expected(expected), m_loop(loop), m_clock(clock)
    {
    }

    qint64 received = 0;
    qint64 bytes = 0;
    qint64 finishedNs = -1;

public Q_SLOTS:
    void onRaw(const QByteArray &data)
    {
        bytes += data.size();
        count();
    }
    void onTyped(const QVariant &message)
    {
        bytes += message.toByteArray().size();
        count();
    }

private:
    void count()
    {
        if (++received == m_expected) {
            finishedNs = m_clock->nsecsElapsed();
            m_loop->quit();
        }
    }

    const qint64 m_expected;
    QEventLoop *const m_loop;
    const QElapsedTimer *const m_clock;
};

// Lives in a producer thread and emits one queued signal per message.
class Emitter : public QObject
{
    Q_OBJECT

Q_SIGNALS:
    void data(const QByteArray &data);
};

namespace {

enum class Kind { QonduitRaw, QonduitTyped, QtQueuedSignal, QtInvokeMethod };

const char *kindName(Kind kind)
{
    switch (kind) {
    case Kind::QonduitRaw: return "qonduit_raw";
    case Kind::QonduitTyped: return "qonduit_typed";
    case Kind::QtQueuedSignal: return "qt_queued_signal";
    case Kind::QtInvokeMethod: return "qt_invoke_method";
    }
    return "?";
}

struct Case
{
    Kind kind;
    int producers;
    qint64 messages = 0; // total, a multiple of producers
    std::vector<double> rates;
    std::vector<double> cpuPerMessage; // ns of process CPU time per message
    std::vector<double> consumerBusy;  // the consumer's CPU time over the run's
    bool failed = false;

    std::string key() const { return std::string(kindName(kind)) + "/" + std::to_string(producers); }
};

struct RunResult
{
    double rate = 0; // messages per second
    double cpuPerMessage = 0; // ns
    double consumerBusy = 0;  // the consumer thread's CPU time / wall time
    bool ok = false;
    QString problem;
};

// Runs the event loop until the sink saw every message or the run timed out.
// Returns false on time-out.
bool runLoop(QEventLoop &loop)
{
    bool timedOut = false;
    QTimer watchdog;
    watchdog.setSingleShot(true);
    QObject::connect(&watchdog, &QTimer::timeout, &loop, [&] {
        timedOut = true;
        loop.quit();
    });
    watchdog.start(RunTimeoutMs);
    loop.exec();
    return !timedOut;
}

RunResult finishRun(const Sink &sink, qint64 total, bool inTime, const QString &extraProblem, qint64 cpuNs,
                    qint64 consumerNs)
{
    RunResult result;
    if (!inTime)
        result.problem = QStringLiteral("timed out after %1 ms with %2 of %3 messages").arg(RunTimeoutMs).arg(sink.received).arg(total);
    else if (!extraProblem.isEmpty())
        result.problem = extraProblem;
    else if (sink.received != total)
        result.problem = QStringLiteral("received %1 of %2 messages").arg(sink.received).arg(total);
    else if (sink.bytes != total * PayloadSize)
        result.problem = QStringLiteral("received %1 bytes, expected %2").arg(sink.bytes).arg(total * PayloadSize);
    else if (sink.finishedNs <= 0)
        result.problem = QStringLiteral("no end time");
    if (!result.problem.isEmpty())
        return result;
    result.ok = true;
    result.rate = double(total) * 1e9 / double(sink.finishedNs);
    result.cpuPerMessage = double(cpuNs) / double(total);
    result.consumerBusy = double(consumerNs) / double(sink.finishedNs);
    return result;
}

RunResult runQonduit(bool typed, int producers, qint64 total)
{
    ChannelOptions options;
    options.capacity = 65536;
    options.capacityBytes = qint64(64) * 1024 * 1024;
    options.overflowPolicy = OverflowPolicy::Block; // producers have no event loop: they wait, nothing drops
    options.deliveryBudget = 256;
    ChannelPair pair = Channel::local(options);

    std::vector<std::unique_ptr<ChannelSender>> senders;
    if (producers == 1) {
        senders.push_back(std::move(pair.sender));
    } else {
        for (int i = 0; i < producers; ++i)
            senders.push_back(pair.sender->clone());
        pair.sender.reset();
    }

    QEventLoop loop;
    QElapsedTimer clock;
    Sink sink(total, &loop, &clock);
    if (typed)
        QObject::connect(pair.receiver.get(), &ChannelReceiver::messageReceived, &sink, &Sink::onTyped);
    else
        QObject::connect(pair.receiver.get(), &ChannelReceiver::rawMessageReceived, &sink, &Sink::onRaw);

    const qint64 perProducer = total / producers;
    std::atomic<qint64> failedSends{0};
    Gate gate(producers);
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, sender = senders[p].get()] {
            gate.arriveAndWait();
            qint64 failed = 0;
            for (qint64 i = 0; i < perProducer; ++i) {
                const QByteArray payload = makePayload(i);
                const bool sent = typed ? sender->send(QVariant(payload)) : sender->sendRaw(payload);
                if (!sent)
                    ++failed;
            }
            failedSends += failed;
        });
    }
    gate.waitUntilAllArrived();
    const qint64 cpuStart = processCpuNs();
    const qint64 consumerStart = consumerCpuNs();
    clock.start();
    gate.open();
    const bool inTime = runLoop(loop);
    const qint64 cpuNs = processCpuNs() - cpuStart;
    const qint64 consumerNs = consumerCpuNs() - consumerStart;

    QString problem;
    const qint64 dropped = pair.receiver->droppedCount();
    if (!inTime)
        pair.receiver.reset(); // releases producers blocked on a full queue
    for (auto &thread : threads)
        thread.join();
    if (failedSends.load() != 0)
        problem = QStringLiteral("%1 send() calls failed").arg(failedSends.load());
    else if (dropped != 0)
        problem = QStringLiteral("droppedCount() == %1").arg(dropped);
    return finishRun(sink, total, inTime, problem, cpuNs, consumerNs);
}

RunResult runQt(bool invokeMethod, int producers, qint64 total)
{
    QEventLoop loop;
    QElapsedTimer clock;
    Sink sink(total, &loop, &clock);
    QThread *const mainThread = QThread::currentThread();

    const qint64 perProducer = total / producers;
    Gate gate(producers);
    std::vector<std::unique_ptr<Emitter>> emitters(producers);
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            // The emitter belongs to the producer thread, like an object of a
            // worker would; it is handed to the main thread at the end only
            // so that it can be deleted there.
            auto emitter = std::make_unique<Emitter>();
            QObject::connect(emitter.get(), &Emitter::data, &sink, &Sink::onRaw, Qt::QueuedConnection);
            gate.arriveAndWait();
            if (invokeMethod) {
                Sink *const target = &sink;
                for (qint64 i = 0; i < perProducer; ++i) {
                    QByteArray payload = makePayload(i);
                    QMetaObject::invokeMethod(
                        target, [target, payload = std::move(payload)] { target->onRaw(payload); },
                        Qt::QueuedConnection);
                }
            } else {
                for (qint64 i = 0; i < perProducer; ++i)
                    Q_EMIT emitter->data(makePayload(i));
            }
            emitter->moveToThread(mainThread);
            emitters[p] = std::move(emitter);
        });
    }
    gate.waitUntilAllArrived();
    const qint64 cpuStart = processCpuNs();
    const qint64 consumerStart = consumerCpuNs();
    clock.start();
    gate.open();
    const bool inTime = runLoop(loop);
    const qint64 cpuNs = processCpuNs() - cpuStart;
    const qint64 consumerNs = consumerCpuNs() - consumerStart;
    for (auto &thread : threads)
        thread.join();
    const RunResult result = finishRun(sink, total, inTime, QString(), cpuNs, consumerNs);
    // Drop whatever a timed-out run left queued before the sink goes away.
    QCoreApplication::removePostedEvents(&sink);
    return result;
}

RunResult runCase(const Case &c, qint64 total)
{
    switch (c.kind) {
    case Kind::QonduitRaw: return runQonduit(false, c.producers, total);
    case Kind::QonduitTyped: return runQonduit(true, c.producers, total);
    case Kind::QtQueuedSignal: return runQt(false, c.producers, total);
    case Kind::QtInvokeMethod: return runQt(true, c.producers, total);
    }
    return {};
}

double median(std::vector<double> values)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

qint64 roundTo(qint64 value, int multiple)
{
    return std::max<qint64>(multiple, value / multiple * multiple);
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("bench_inproc"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Throughput of 64-byte messages from producer threads to the main thread: Qonduit in-process "
        "channel against one queued signal / queued invokeMethod per message."));
    parser.addHelpOption();
    const QCommandLineOption repsOption(QStringLiteral("reps"), QStringLiteral("Measured runs per case (default 7)."),
                                        QStringLiteral("n"), QStringLiteral("7"));
    const QCommandLineOption secondsOption(QStringLiteral("seconds"),
                                           QStringLiteral("Target length of one run, for calibration (default 0.2)."),
                                           QStringLiteral("s"), QStringLiteral("0.2"));
    const QCommandLineOption messagesOption(QStringLiteral("messages"),
                                            QStringLiteral("Fixed message count per run instead of calibrating."),
                                            QStringLiteral("n"));
    const QCommandLineOption kindsOption(
        QStringLiteral("kinds"),
        QStringLiteral("Comma-separated subset of raw,typed,signal,invoke (default all)."), QStringLiteral("list"),
        QStringLiteral("raw,typed,signal,invoke"));
    const QCommandLineOption producersOption(QStringLiteral("producers"),
                                             QStringLiteral("Comma-separated producer counts (default 1,4)."),
                                             QStringLiteral("list"), QStringLiteral("1,4"));
    const QCommandLineOption sharedOption(
        QStringLiteral("shared-payload"),
        QStringLiteral("Send one implicitly shared QByteArray per producer instead of a fresh one per message "
                       "(analysis only: takes allocation out of the picture)."));
    parser.addOptions({repsOption, secondsOption, messagesOption, kindsOption, producersOption, sharedOption});
    parser.process(app);
    g_sharedPayload = parser.isSet(sharedOption);

    const int reps = std::max(1, parser.value(repsOption).toInt());
    const double seconds = std::clamp(parser.value(secondsOption).toDouble(), 0.01, 5.0);
    const qint64 fixedMessages = parser.isSet(messagesOption) ? parser.value(messagesOption).toLongLong() : 0;
    const QStringList kinds = parser.value(kindsOption).split(QLatin1Char(','), Qt::SkipEmptyParts);
    std::vector<int> producerCounts;
    for (const QString &p : parser.value(producersOption).split(QLatin1Char(','), Qt::SkipEmptyParts))
        producerCounts.push_back(std::clamp(p.toInt(), 1, 64));

    std::vector<Case> cases;
    for (int producers : producerCounts) {
        if (kinds.contains(QLatin1String("raw")))
            cases.push_back({Kind::QonduitRaw, producers});
        if (kinds.contains(QLatin1String("typed")))
            cases.push_back({Kind::QonduitTyped, producers});
        if (kinds.contains(QLatin1String("signal")))
            cases.push_back({Kind::QtQueuedSignal, producers});
        if (kinds.contains(QLatin1String("invoke")))
            cases.push_back({Kind::QtInvokeMethod, producers});
    }

    std::printf("# bench_inproc: %d-byte QByteArray payloads, %d measured runs per case, Qt %s, %d CPUs\n",
                PayloadSize, reps, qVersion(), QThread::idealThreadCount());
    std::fflush(stdout);

    QElapsedTimer total;
    total.start();
    bool allOk = true;

    // Calibration: one warm-up run per case sizes its measured runs.
    for (Case &c : cases) {
        if (fixedMessages > 0) {
            c.messages = roundTo(fixedMessages, c.producers);
            continue;
        }
        const qint64 warmup = roundTo(100000, c.producers);
        const RunResult r = runCase(c, warmup);
        if (!r.ok) {
            std::printf("# FAIL %s warm-up: %s\n", c.key().c_str(), qPrintable(r.problem));
            c.failed = true;
            allOk = false;
            continue;
        }
        const qint64 wanted = qint64(r.rate * seconds);
        c.messages = roundTo(std::clamp<qint64>(wanted, 20000, 2000000), c.producers);
    }

    // Measured runs, cases interleaved so that a noisy neighbour hurts all
    // alike. On a machine so loaded that the runs take far longer than
    // planned, stop after MinReps rounds once the time budget is spent.
    for (int rep = 0; rep < reps; ++rep) {
        if (rep >= MinReps && total.elapsed() > TimeBudgetMs) {
            std::printf("# time budget of %d s spent: %d runs per case instead of %d\n", TimeBudgetMs / 1000, rep,
                        reps);
            break;
        }
        for (Case &c : cases) {
            if (c.failed)
                continue;
            const RunResult r = runCase(c, c.messages);
            if (!r.ok) {
                std::printf("# FAIL %s run %d: %s\n", c.key().c_str(), rep + 1, qPrintable(r.problem));
                std::fflush(stdout);
                c.failed = true;
                allOk = false;
                continue;
            }
            c.rates.push_back(r.rate);
            c.cpuPerMessage.push_back(r.cpuPerMessage);
            c.consumerBusy.push_back(r.consumerBusy);
        }
    }

    std::map<std::string, double> medians;
    for (const Case &c : cases) {
        if (c.failed)
            continue;
        const double m = median(c.rates);
        medians[c.key()] = m;
        std::printf("# %-17s %d producer(s) %8lld msgs/run  median %8.0f msg/s  cpu %5.0f ns/msg  consumer busy %3.0f%%  runs:",
                    kindName(c.kind), c.producers, static_cast<long long>(c.messages), m, median(c.cpuPerMessage),
                    100 * median(c.consumerBusy));
        for (double rate : c.rates)
            std::printf(" %.0f", rate);
        std::printf("\n");
    }

    const auto find = [&](Kind kind, int producers) -> double {
        const auto it = medians.find(Case{kind, producers}.key());
        return it == medians.end() ? 0 : it->second;
    };
    const auto line = [](const std::string &name, double ours, const char *baseName, double base) {
        std::printf("BENCH %s ours=%.0f msg/s base=%s:%.0f ratio=%.2f\n", name.c_str(), ours, baseName, base,
                    ours / base);
    };

    for (Kind ours : {Kind::QonduitRaw, Kind::QonduitTyped}) {
        const std::string flavour = ours == Kind::QonduitRaw ? "raw" : "typed";
        for (int producers : producerCounts) {
            const double o = find(ours, producers);
            if (o <= 0)
                continue;
            const std::string name = "inproc_" + flavour + "_64B_" + std::to_string(producers)
                + (producers == 1 ? "producer" : "producers");
            for (Kind base : {Kind::QtQueuedSignal, Kind::QtInvokeMethod}) {
                const double b = find(base, producers);
                if (b > 0)
                    line(name, o, kindName(base), b);
            }
        }
        const double one = find(ours, 1);
        for (int producers : producerCounts) {
            const double many = find(ours, producers);
            if (producers != 1 && one > 0 && many > 0)
                line("inproc_" + flavour + "_64B_" + std::to_string(producers) + "vs1", many, "qonduit_1producer", one);
        }
    }

    std::printf("# total %.1f s%s\n", total.elapsed() / 1000.0, allOk ? "" : ", SOME RUNS FAILED");
    return allOk ? 0 : 1;
}

#include "bench_inproc.moc"
