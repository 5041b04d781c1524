// Qonduit example 01: local channels.
//
// Three short scenes, each checked by the program itself; the exit code is 0
// only when every check passed.
//
//   1. Fan-in. Several producer threads, each with its own clone of one
//      ChannelSender, stream typed messages to one ChannelReceiver on the main
//      event loop. Live counts; every producer's messages must arrive
//      complete and in order.
//   2. A drop policy. A small DropOldest channel and a deliberately slow
//      consumer: the lagged(n) reports, and sent = received + dropped exactly.
//   3. A named endpoint. A ChannelServer listens on inproc:NAME; a client
//      connects with Channel::connectTo() and asks for replies.
//
// Nothing here sleeps to wait for a result: the scenes move on when the
// receiver says closed(), and the event loop does the rest.

#include <Qonduit/channel.h>
#include <Qonduit/channelserver.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QLocale>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMetaEnum>
#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <vector>

using namespace Qonduit;

namespace {

// The messages. In-process a QVariant carries them as they are: no
// serialization, so Q_DECLARE_METATYPE is all a type needs.
struct Sample
{
    int producer = 0;
    qint64 sequence = 0;
};

struct SquareRequest
{
    int id = 0;
    qint64 value = 0;
};

struct SquareReply
{
    int id = 0;
    qint64 square = 0;
};

} // namespace

Q_DECLARE_METATYPE(Sample)
Q_DECLARE_METATYPE(SquareRequest)
Q_DECLARE_METATYPE(SquareReply)

namespace {

int failures = 0;

void say(const QString &line)
{
    std::fputs(line.toUtf8().append('\n').constData(), stdout);
    std::fflush(stdout);
}

// Every check the demo makes goes through here, so a person sees it and the
// exit code counts it.
bool expect(bool ok, const QString &what)
{
    if (!ok)
        ++failures;
    say((ok ? QStringLiteral("  [ok] ") : QStringLiteral("  [FAILED] ")) + what);
    return ok;
}

QString num(qint64 n)
{
    return QLocale(QLocale::English).toString(n);
}

QString seconds(qint64 ms)
{
    return QString::number(double(ms) / 1000.0, 'f', 2) + QStringLiteral(" s");
}

template <typename Enum>
QString key(Enum value)
{
    return QString::fromLatin1(QMetaEnum::fromType<Enum>().valueToKey(int(value)));
}

// One part of the demo. start() runs it; finished() hands over to the next.
class Scene : public QObject
{
    Q_OBJECT

public:
    using QObject::QObject;

public Q_SLOTS:
    virtual void start() = 0;

Q_SIGNALS:
    void finished();
};

// --- 1. Fan-in ----------------------------------------------------------------

class FanIn final : public Scene
{
    Q_OBJECT

public:
    static constexpr int producerCount = 4;
    static constexpr int runMs = 1500;
    static constexpr int statusMs = 250;
    static constexpr qsizetype capacity = 10000;

    ~FanIn() override
    {
        // Only reached with threads still running if the watchdog fired:
        // dropping the receiver releases producers blocked on a full queue.
        m_stop = true;
        m_receiver.reset();
        for (const auto &thread : m_threads)
            thread->wait();
    }

    void start() override
    {
        say(QStringLiteral("== 1. Fan-in: %1 producer threads, one receiver on the main thread").arg(producerCount));
        say(QStringLiteral("   (capacity %1 messages, policy Block: a full queue makes the producers wait)")
                .arg(num(capacity)));

        ChannelOptions options;
        options.capacity = capacity;
        options.overflowPolicy = OverflowPolicy::Block;
        auto [sender, receiver] = Channel::local(options);
        m_receiver = std::move(receiver);
        connect(m_receiver.get(), &ChannelReceiver::messageReceived, this, &FanIn::onMessage);
        connect(m_receiver.get(), &ChannelReceiver::closed, this, &FanIn::onClosed);

        for (int id = 0; id < producerCount; ++id) {
            // Each producer gets its own sender, as with std::mpsc: clone,
            // then hand the clone to the thread that uses it.
            std::unique_ptr<ChannelSender> mine = sender->clone();
            ChannelSender *handle = mine.get();
            QThread *thread = QThread::create([this, id, mine = std::move(mine)]() mutable {
                produce(id, *mine);
                mine.reset(); // the last sender to go closes the channel
            });
            handle->moveToThread(thread);
            m_threads.emplace_back(thread);
        }
        // From here only the clones keep the channel open.
        sender.reset();

        m_status = new QTimer(this);
        connect(m_status, &QTimer::timeout, this, &FanIn::printStatus);
        m_status->start(statusMs);
        QTimer::singleShot(runMs, this, [this] {
            m_stop = true;
            say(QStringLiteral("  %1  producers stop and drop their senders; waiting for closed()")
                    .arg(seconds(m_clock.elapsed())));
        });
        m_clock.start();
        for (const auto &thread : m_threads)
            thread->start();
    }

private:
    // Runs on a producer thread, which has no event loop: there send() may
    // wait for room under the Block policy.
    void produce(int id, ChannelSender &sender)
    {
        qint64 sequence = 0;
        while (!m_stop.load(std::memory_order_relaxed)) {
            if (!sender.send(Sample{id, sequence})) {
                ++m_sendFailures;
                break;
            }
            ++sequence;
        }
        m_sent[id] = sequence;
    }

    void onMessage(const QVariant &message)
    {
        if (message.metaType() != QMetaType::fromType<Sample>()) {
            ++m_foreign;
            return;
        }
        const auto sample = message.value<Sample>();
        if (sample.producer < 0 || sample.producer >= producerCount) {
            ++m_foreign;
            return;
        }
        qint64 &next = m_next[sample.producer];
        if (sample.sequence != next && m_firstDisorder.isEmpty()) {
            m_firstDisorder = QStringLiteral("producer %1: expected #%2, got #%3")
                                  .arg(sample.producer + 1)
                                  .arg(next)
                                  .arg(sample.sequence);
        }
        next = sample.sequence + 1;
        ++m_received[sample.producer];
    }

    qint64 totalReceived() const
    {
        qint64 total = 0;
        for (qint64 count : m_received)
            total += count;
        return total;
    }

    void printStatus()
    {
        const qint64 now = m_clock.elapsed();
        const qint64 total = totalReceived();
        const double rate = now > m_lastTick ? double(total - m_lastTotal) * 1000.0 / double(now - m_lastTick) : 0;
        QStringList perProducer;
        for (qint64 count : m_received)
            perProducer << num(count);
        say(QStringLiteral("  %1  received %2  (%3 M msg/s)  per producer %4  queued %5")
                .arg(seconds(now), num(total).rightJustified(10), QString::number(rate / 1e6, 'f', 2),
                     perProducer.join(QStringLiteral(" / ")), num(m_receiver->queuedCount())));
        m_lastTick = now;
        m_lastTotal = total;
    }

    void onClosed()
    {
        const qint64 elapsed = m_clock.elapsed();
        m_status->stop();
        // Every sender is gone, so the threads are returning: joining them
        // here does not wait for any message.
        for (const auto &thread : m_threads)
            thread->wait();

        const qint64 total = totalReceived();
        say(QStringLiteral("  %1  closed(): every sender is gone and every message was delivered")
                .arg(seconds(elapsed)));
        say(QStringLiteral("  %1 messages in %2, %3 M msg/s on average")
                .arg(num(total), seconds(elapsed),
                     QString::number(double(total) / 1000.0 / double(qMax<qint64>(1, elapsed)), 'f', 2)));
        for (int id = 0; id < producerCount; ++id) {
            const qint64 sent = m_sent[id];
            expect(sent > 0 && sent == m_received[id],
                   QStringLiteral("producer %1: sent %2, received %3").arg(id + 1).arg(num(sent), num(m_received[id])));
        }
        expect(m_firstDisorder.isEmpty(),
               m_firstDisorder.isEmpty() ? QStringLiteral("every producer's messages arrived in the order sent")
                                         : QStringLiteral("order broken: ") + m_firstDisorder);
        expect(m_sendFailures == 0 && m_foreign == 0,
               QStringLiteral("no send() failed (%1) and no unexpected message arrived (%2)")
                   .arg(m_sendFailures.load())
                   .arg(m_foreign));
        expect(m_receiver->isClosed() && m_receiver->droppedCount() == 0,
               QStringLiteral("the receiver reports closed, %1 dropped (Block never drops)")
                   .arg(m_receiver->droppedCount()));
        say(QString());
        Q_EMIT finished();
    }

    std::unique_ptr<ChannelReceiver> m_receiver;
    std::vector<std::unique_ptr<QThread>> m_threads;
    QTimer *m_status = nullptr;
    QElapsedTimer m_clock;
    qint64 m_lastTick = 0;
    qint64 m_lastTotal = 0;

    // Written by the producer threads; read after they were joined.
    std::atomic<bool> m_stop{false};
    std::array<std::atomic<qint64>, producerCount> m_sent{};
    std::atomic<int> m_sendFailures{0};

    // Main thread only.
    std::array<qint64, producerCount> m_next{};
    std::array<qint64, producerCount> m_received{};
    int m_foreign = 0;
    QString m_firstDisorder;
};

// --- 2. A drop policy and a slow consumer -------------------------------------

class SlowConsumer final : public Scene
{
    Q_OBJECT

public:
    static constexpr qint64 total = 5000;
    static constexpr int perTick = 10; // messages per 1 ms tick: about 10,000 per second
    static constexpr qsizetype capacity = 25;
    static constexpr unsigned long workUs = 2000; // the consumer's "work" per message

    ~SlowConsumer() override
    {
        // Only reached with the thread running if the watchdog fired: without
        // a receiver its remaining sends fail at once and it finishes.
        m_receiver.reset();
        if (m_producer)
            m_producer->wait();
    }

    void start() override
    {
        say(QStringLiteral("== 2. DropOldest: a channel of %1 messages, a producer at ~10,000 msg/s,").arg(capacity));
        say(QStringLiteral("   a consumer that needs %1 ms per message").arg(double(workUs) / 1000.0));

        ChannelOptions options;
        options.capacity = capacity;
        options.overflowPolicy = OverflowPolicy::DropOldest;
        auto [sender, receiver] = Channel::local(options);
        m_receiver = std::move(receiver);
        connect(m_receiver.get(), &ChannelReceiver::lagged, this, &SlowConsumer::onLagged);
        connect(m_receiver.get(), &ChannelReceiver::messageReceived, this, &SlowConsumer::onMessage);
        connect(m_receiver.get(), &ChannelReceiver::closed, this, &SlowConsumer::onClosed);

        // The producer runs an event loop, as a GUI or socket thread would, and
        // sends from a timer. On such a thread send() never blocks; with
        // DropOldest it never has to.
        ChannelSender *handle = sender.get();
        m_producer.reset(QThread::create([this, sender = std::move(sender)]() mutable {
            QEventLoop loop;
            QTimer tick;
            tick.setTimerType(Qt::PreciseTimer);
            QObject::connect(&tick, &QTimer::timeout, &loop, [&] {
                for (int i = 0; i < perTick && m_sent < total; ++i) {
                    if (!sender->send(Sample{0, m_sent}))
                        ++m_sendFailures;
                    ++m_sent;
                }
                if (m_sent == total) {
                    sender.reset(); // closes the channel once the queue is drained
                    loop.quit();
                }
            });
            tick.start(1);
            loop.exec();
        }));
        handle->moveToThread(m_producer.get());
        m_clock.start();
        m_producer->start();
    }

private:
    void onLagged(qint64 count)
    {
        ++m_reports;
        m_reported += count;
        m_pendingGap += count;
    }

    void onMessage(const QVariant &message)
    {
        const auto sample = message.value<Sample>();
        // DropOldest drops from the front of the queue, so the next message
        // delivered after lagged(n) is exactly n past the last one delivered.
        const qint64 expected = m_last + 1 + m_pendingGap;
        if (sample.sequence != expected && m_firstMismatch.isEmpty()) {
            m_firstMismatch = QStringLiteral("expected #%1 after a gap of %2, got #%3")
                                  .arg(expected)
                                  .arg(m_pendingGap)
                                  .arg(sample.sequence);
        }
        if (m_pendingGap > 0) {
            say(QStringLiteral("  %1  lagged(%2)  #%3..#%4 dropped, next delivered #%5 (%6 received so far)")
                    .arg(seconds(m_clock.elapsed()), QString::number(m_pendingGap).rightJustified(4),
                         QString::number(m_last + 1), QString::number(sample.sequence - 1),
                         QString::number(sample.sequence), QString::number(m_received + 1)));
        }
        m_pendingGap = 0;
        m_last = sample.sequence;
        ++m_received;

        // The slow part: pretend this message takes a while to handle. This
        // is the demonstration, not a way to wait for anything.
        QThread::usleep(workUs);
    }

    void onClosed()
    {
        m_producer->wait();
        const qint64 sent = m_sent;
        const qint64 dropped = m_receiver->droppedCount();
        say(QStringLiteral("  %1  closed(): last message delivered #%2").arg(seconds(m_clock.elapsed())).arg(m_last));
        expect(sent == total && m_sendFailures == 0,
               QStringLiteral("the producer sent %1 messages, every send() accepted").arg(num(sent)));
        expect(sent == m_received + dropped, QStringLiteral("sent %1 = received %2 + dropped %3")
                                                 .arg(num(sent), num(m_received), num(dropped)));
        expect(m_reported == dropped, QStringLiteral("%1 lagged() reports add up to droppedCount() = %2")
                                          .arg(m_reports)
                                          .arg(num(m_reported)));
        expect(m_firstMismatch.isEmpty(),
               m_firstMismatch.isEmpty()
                   ? QStringLiteral("every gap in the sequence is exactly the lagged() count before it")
                   : QStringLiteral("gap mismatch: ") + m_firstMismatch);
        expect(m_last == total - 1, QStringLiteral("DropOldest kept the newest message, #%1").arg(m_last));
        expect(dropped > 0, QStringLiteral("the slow consumer really lagged (%1 dropped)").arg(num(dropped)));
        say(QString());
        Q_EMIT finished();
    }

    std::unique_ptr<ChannelReceiver> m_receiver;
    std::unique_ptr<QThread> m_producer;
    QElapsedTimer m_clock;

    // Written by the producer thread; read after it was joined.
    std::atomic<qint64> m_sent{0};
    std::atomic<int> m_sendFailures{0};

    // Main thread only.
    qint64 m_last = -1;
    qint64 m_received = 0;
    qint64 m_pendingGap = 0;
    qint64 m_reported = 0;
    int m_reports = 0;
    QString m_firstMismatch;
};

// --- 3. A named endpoint --------------------------------------------------------

class NamedEndpoint final : public Scene
{
    Q_OBJECT

public:
    void start() override
    {
        const QUrl address(QStringLiteral("inproc:qonduit-demo.squares"));
        say(QStringLiteral("== 3. A named endpoint: a ChannelServer on %1").arg(address.toString()));

        // The service side: every client that connects gets a pair of its own.
        connect(&m_server, &ChannelServer::newChannel, this, &NamedEndpoint::onNewChannel);
        if (!expect(m_server.listen(address), QStringLiteral("server: listen(%1)").arg(address.toString()))) {
            say(QStringLiteral("  %1").arg(m_server.errorString()));
            finish();
            return;
        }

        // The client side: a component that only knows the name.
        m_client = Channel::connectTo(address);
        say(QStringLiteral("  client: connectTo(%1) -> %2")
                .arg(address.toString(), key(m_client.sender->state())));
        connect(m_client.sender.get(), &ChannelSender::connected, this, &NamedEndpoint::onClientConnected);
        connect(m_client.receiver.get(), &ChannelReceiver::messageReceived, this, &NamedEndpoint::onReply);
        connect(m_client.receiver.get(), &ChannelReceiver::closed, this, &NamedEndpoint::onClientClosed);
        for (ChannelEndpoint *end : {static_cast<ChannelEndpoint *>(m_client.sender.get()),
                                     static_cast<ChannelEndpoint *>(m_client.receiver.get())}) {
            connect(end, &ChannelEndpoint::errorOccurred, this, [end](Error error) {
                expect(false, QStringLiteral("client error %1: %2").arg(key(error), end->errorString()));
            });
        }
    }

private:
    static constexpr std::array<qint64, 3> values{7, 12, 1 << 20};

    void onNewChannel()
    {
        while (m_server.hasPendingChannels()) {
            ChannelPair session = m_server.nextPendingChannel();
            ChannelSender *replies = session.sender.get();
            say(QStringLiteral("  server: newChannel() - a client connected"));
            connect(session.receiver.get(), &ChannelReceiver::messageReceived, this,
                    [replies](const QVariant &message) {
                        const auto request = message.value<SquareRequest>();
                        say(QStringLiteral("  server: request #%1, replying %2")
                                .arg(request.id)
                                .arg(num(request.value * request.value)));
                        replies->send(SquareReply{request.id, request.value * request.value});
                    });
            // The client dropped its sender: end the conversation from this
            // side too, which the client sees as closed().
            connect(session.receiver.get(), &ChannelReceiver::closed, this, [replies] {
                say(QStringLiteral("  server: closed() - the client is done; closing the reply sender"));
                replies->close();
            });
            m_sessions.push_back(std::move(session));
        }
    }

    void onClientConnected()
    {
        say(QStringLiteral("  client: connected() - %1").arg(key(m_client.sender->state())));
        for (int i = 0; i < int(values.size()); ++i) {
            say(QStringLiteral("  client: request #%1: the square of %2").arg(i + 1).arg(num(values[i])));
            m_client.sender->send(SquareRequest{i + 1, values[i]});
        }
    }

    void onReply(const QVariant &message)
    {
        const auto reply = message.value<SquareReply>();
        const int index = m_replies++;
        const bool ok = index < int(values.size()) && reply.id == index + 1
            && reply.square == values[index] * values[index];
        expect(ok, QStringLiteral("client: reply #%1 = %2").arg(reply.id).arg(num(reply.square)));
        if (m_replies == int(values.size())) {
            say(QStringLiteral("  client: every reply is in; close() the request sender"));
            m_client.sender->close();
        }
    }

    void onClientClosed()
    {
        expect(m_replies == int(values.size()), QStringLiteral("client: closed() after %1 of %2 replies")
                                                    .arg(m_replies)
                                                    .arg(values.size()));

        // A name nobody listens on: no exception, no hang, a clear error from
        // the event loop.
        const QUrl nowhere(QStringLiteral("inproc:nobody-listens-here"));
        m_refused = Channel::connectTo(nowhere);
        ChannelSender *sender = m_refused.sender.get();
        connect(sender, &ChannelSender::errorOccurred, this, [this, sender, nowhere](Error error) {
            say(QStringLiteral("  connectTo(%1) -> errorOccurred(%2)").arg(nowhere.toString(), key(error)));
            say(QStringLiteral("    \"%1\"").arg(sender->errorString()));
            expect(error == Error::ConnectionRefusedError, QStringLiteral("an unknown name is refused"));
            finish();
        });
    }

    void finish()
    {
        m_server.close();
        say(QString());
        Q_EMIT finished();
    }

    ChannelServer m_server;
    std::vector<ChannelPair> m_sessions;
    ChannelPair m_client;
    ChannelPair m_refused;
    int m_replies = 0;
};

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    // Keep the output to what the demo prints. QT_LOGGING_RULES still wins:
    // QT_LOGGING_RULES="qonduit.*.debug=true" shows the library's traces.
    QLoggingCategory::setFilterRules(QStringLiteral("qonduit.*.debug=false"));

    FanIn fanIn;
    SlowConsumer slowConsumer;
    NamedEndpoint namedEndpoint;
    const std::array<Scene *, 3> scenes{&fanIn, &slowConsumer, &namedEndpoint};
    for (std::size_t i = 0; i + 1 < scenes.size(); ++i)
        QObject::connect(scenes[i], &Scene::finished, scenes[i + 1], &Scene::start, Qt::QueuedConnection);
    QObject::connect(scenes.back(), &Scene::finished, &app, [] {
        say(failures == 0 ? QStringLiteral("All checks passed.")
                          : QStringLiteral("%1 check(s) FAILED.").arg(failures));
        QCoreApplication::exit(failures == 0 ? 0 : 1);
    }, Qt::QueuedConnection);

    // A guard, not a wait: if a scene never finishes, say so and fail.
    QTimer::singleShot(30000, &app, [] {
        say(QStringLiteral("FAILED: the demo did not finish within 30 s."));
        QCoreApplication::exit(2);
    });

    QTimer::singleShot(0, &fanIn, &Scene::start);
    return app.exec();
}

#include "main.moc"
