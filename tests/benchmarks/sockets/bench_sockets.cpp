// bench_sockets: Qonduit socket channels between two processes, side by side
// with what a Qt developer would write by hand (QTcpSocket / QLocalSocket with
// a 4-byte length prefix) and with ZeroMQ (cppzmq, plain blocking loops).
//
// The benchmark spawns its peer process: itself, started with --peer (QProcess,
// the same executable, so nothing else has to be installed next to it).
//
// Throughput (64 B, 1 KiB, 64 KiB, 1 MiB messages; tcp:// on 127.0.0.1 and
// local:, which ZeroMQ runs as ipc://):
//   - the child connects and sends count messages as fast as it can; the
//     parent is the server and the receiver. Every message is a fresh
//     QByteArray / zmq::message_t of the size (one allocation and one copy of
//     the payload per message on every side alike) carrying its sequence
//     number in its first 4 bytes; the receiver checks size and order;
//   - Qonduit: ChannelServer + Channel::connectTo, default ChannelOptions;
//     the sender calls sendRaw() on its event loop, at most --per-turn
//     (1024) messages per turn, and when the queue is full (QueueFullError)
//     it goes on at readyToSend(); the receiver counts in a slot on
//     rawMessageReceived();
//   - raw Qt: the sender write()s the 4-byte prefix and the payload of each
//     message into Qt's buffer while bytesToWrite() is under 1 MiB (the high
//     water mark Qonduit's connection uses too), and goes on from
//     bytesWritten(); the receiver parses every complete frame on each
//     readyRead() into a QByteArray per message. TCP_NODELAY on both ends,
//     as Qonduit sets it;
//   - ZeroMQ: PUSH (child, connect) and PULL (parent, bind), default options,
//     one send() / recv() per message in a plain blocking loop; the child
//     ends only once the parent has every message (libzmq 4.3 can drop what
//     an ipc:// socket holds at exit, LINGER notwithstanding);
//   - the same message count for all three; the clock runs from the
//     sender's first send (once connected; the steady clock is the same in
//     both processes) to the delivery of the last message to the receiver:
//     what an application waits for. Connection set-up and process start are
//     left out. Reported: messages/s and MB/s (10^6 bytes of payload per
//     second), and as details the CPU time per message of each side.
//
// Round trip of a 64 B message (the parent sends, the child echoes, the
// parent sends the next one on receipt; 100 warm-up rounds, then up to 5000
// timed ones or 300 ms, so that a loaded machine cannot stretch a run), with
// both processes pinned to CPU 0 ("1core") and then the parent to CPU 0 and the
// child to CPU 1 ("2core"), every thread of each process (sched_setaffinity):
// Qonduit request/reply with sendRaw() in rawMessageReceived() slots, raw
// socket ping-pong with the same framing, ZeroMQ REQ (parent) / REP (child).
//
// Shared-key channels (ChannelOptions::sharedKey, Noise NNpsk0 with
// ChaCha20-Poly1305 records) at 64 B and 64 KiB on both transports: the
// Qonduit throughput runs once with and once without a key, interleaved, and
// the keyed one is compared with the plain one (--no-psk leaves them out):
//   BENCH psk_tcp_64B_throughput ours=<msg/s> msg/s base=plain_tcp:<msg/s> ratio=<ours/base>
//
// tls:// (TLS 1.3, certificates made at start-up by CertificateAuthority: a
// CA the peer trusts and a server certificate for 127.0.0.1) at 64 B and
// 64 KiB, the same way against plain tcp:// (--no-tls leaves them out), and
// against what a Qt developer would write: a raw QSslSocket with the raw
// baseline's framing (when raw is among --impls):
//   BENCH tls_64KiB_throughput ours=<msg/s> msg/s base=plain_tcp:<msg/s> ratio=<ours/base>
//   BENCH tls_64KiB_throughput ours=<msg/s> msg/s base=raw_qsslsocket:<msg/s> ratio=<ours/base>
//
// Handshakes per second: the child connects (Channel::connectTo), waits for
// connected() (the server's WELCOME, after the TLS or shared-key handshake),
// drops the channel and connects again, --handshakes (200) times after 5
// warm-up ones, timed from the first timed connectTo() to the last
// connected(); the server takes and drops every channel. tls://,
// tcp:// with a shared key and local: with a shared key, each interleaved
// with its plain transport (--no-handshakes leaves them out; --no-tls and
// --no-psk their cases):
//   BENCH tls_handshakes ours=<handshakes/s> handshakes/s base=plain_tcp:<handshakes/s> ratio=<ours/base>
//   BENCH psk_local_handshakes ours=<handshakes/s> handshakes/s base=plain_local:<handshakes/s> ratio=<ours/base>
//
// Each case runs --reps times (5; only 3 once --budget-ms (90 s) is spent),
// the implementations interleaved and their order rotated every round; the
// median is reported. A run that takes longer than --timeout-ms fails.
//
// Output, one line per comparison (ratio > 1: Qonduit is better):
//   BENCH tcp_64B_throughput ours=<msg/s> msg/s base=raw_qtcpsocket:<msg/s> ratio=<ours/base>
//   BENCH tcp_64B_throughput ours=<msg/s> msg/s base=zmq_push_pull:<msg/s> ratio=<ours/base>
//   BENCH local_1MiB_bandwidth ours=<MB/s> MB/s base=raw_qlocalsocket:<MB/s> ratio=<ours/base>
//   BENCH tcp_rtt_64B_1core ours=<us> us base=raw_qtcpsocket:<us> ratio=<base/ours>
// Lines starting with '#' are details (CPU time per message of each side,
// every repetition, the load average: timings on a busy machine mean
// little). Exit status 0 unless a run failed its checks or timed out, or a
// process could not be pinned.
//
// Narrowing a run, e.g. for callgrind (which follows the child with
// --trace-children=yes):
//   bench_sockets --impls qonduit --transports local --sizes 64 --reps 1 --scale 0.05 --no-rtt

#include <Qonduit/certificateauthority.h>
#include <Qonduit/channel.h>
#include <Qonduit/channelserver.h>

#include <QtCore/qcommandlineparser.h>
#include <QtCore/qcoreapplication.h>
#include <QtCore/qdir.h>
#include <QtCore/qelapsedtimer.h>
#include <QtCore/qendian.h>
#include <QtCore/qeventloop.h>
#include <QtCore/qfile.h>
#include <QtCore/qprocess.h>
#include <QtCore/qtemporarydir.h>
#include <QtCore/qthread.h>
#include <QtCore/qtimer.h>
#include <QtNetwork/qlocalserver.h>
#include <QtNetwork/qlocalsocket.h>
#include <QtNetwork/qsslconfiguration.h>
#include <QtNetwork/qsslserver.h>
#include <QtNetwork/qsslsocket.h>
#include <QtNetwork/qtcpserver.h>
#include <QtNetwork/qtcpsocket.h>

#ifdef QONDUIT_BENCH_HAVE_ZMQ
#include <zmq.hpp>
#endif

#include <poll.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace Qonduit;

namespace {

constexpr qint64 RawHighWater = 1024 * 1024;
constexpr int RttPayload = 64;
constexpr qint64 HandshakeWarmup = 5;

// ---------------------------------------------------------------- helpers

qint64 nowNs()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// CPU time of the whole process (every thread), in nanoseconds.
qint64 processCpuNs()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return qint64(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

QString g_failure;

bool fail(const QString &text)
{
    if (g_failure.isEmpty())
        g_failure = text;
    return false;
}

// Pins every thread of this process (and those it starts later) to cpu,
// or to the cpus of mask when cpu < 0.
bool pinProcess(int cpu, const cpu_set_t *mask = nullptr)
{
    cpu_set_t set;
    if (mask) {
        set = *mask;
    } else {
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
    }
    const QStringList tasks = QDir(QStringLiteral("/proc/self/task")).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    bool ok = !tasks.isEmpty();
    for (const QString &task : tasks) {
        if (sched_setaffinity(pid_t(task.toInt()), sizeof set, &set) != 0)
            ok = false;
    }
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        ok = false;
    return ok;
}

QByteArray makeTemplate(int size)
{
    QByteArray bytes(size, Qt::Uninitialized);
    for (int i = 0; i < size; ++i)
        bytes[i] = char('a' + i % 26);
    return bytes;
}

// A fresh message of the template's size carrying seq in its first 4 bytes.
QByteArray makeMessage(const QByteArray &templ, quint32 seq)
{
    QByteArray message(templ.size(), Qt::Uninitialized);
    std::memcpy(message.data(), templ.constData(), size_t(templ.size()));
    qToLittleEndian<quint32>(seq, message.data());
    return message;
}

QString sizeLabel(int size)
{
    if (size >= 1024 * 1024 && size % (1024 * 1024) == 0)
        return QStringLiteral("%1MiB").arg(size / (1024 * 1024));
    if (size >= 1024 && size % 1024 == 0)
        return QStringLiteral("%1KiB").arg(size / 1024);
    return QStringLiteral("%1B").arg(size);
}

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    if (n == 0)
        return 0;
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

enum class Impl { Qonduit, Raw, Zmq };
enum class Transport { Tcp, Local };
// How a Qonduit channel is secured: plain, ChannelOptions::sharedKey, or
// tls:// (which runs on TCP: Transport::Tcp).
enum class Security { Plain, SharedKey, Tls };

const char *implName(Impl impl)
{
    switch (impl) {
    case Impl::Qonduit: return "qonduit";
    case Impl::Raw: return "raw";
    case Impl::Zmq: return "zmq";
    }
    return "?";
}

const char *transportName(Transport t)
{
    return t == Transport::Tcp ? "tcp" : "local";
}

QString uniqueName()
{
    static int counter = 0;
    return QStringLiteral("qonduit-sockbench-%1-%2").arg(QCoreApplication::applicationPid()).arg(++counter);
}

// Collects complete length-prefixed frames from a Qt socket's buffer.
template <typename Socket, typename OnFrame>
bool readFrames(Socket *socket, qint64 &pending, OnFrame onFrame)
{
    for (;;) {
        if (pending < 0) {
            if (socket->bytesAvailable() < 4)
                return true;
            char prefix[4];
            socket->read(prefix, 4);
            pending = qFromBigEndian<quint32>(prefix);
        }
        if (socket->bytesAvailable() < pending)
            return true;
        const QByteArray frame = socket->read(pending);
        pending = -1;
        if (!onFrame(frame))
            return false;
    }
}

template <typename Socket>
void writeFrame(Socket *socket, const QByteArray &payload)
{
    char prefix[4];
    qToBigEndian<quint32>(quint32(payload.size()), prefix);
    socket->write(prefix, 4);
    socket->write(payload);
}

// ---------------------------------------------------------------- peer (child)

// When the sending peer began to send: its steady clock (CLOCK_MONOTONIC,
// the same in every process on the machine) and its CPU time.
qint64 g_sendStartNs = 0;
qint64 g_sendStartCpu = 0;
qint64 g_endNs = 0; // handshake peer: when the last timed one was done

void markSendStart()
{
    if (g_sendStartNs == 0) {
        g_sendStartNs = nowNs();
        g_sendStartCpu = processCpuNs();
    }
}

// The shared key of the psk cases: any 32 bytes both processes know.
const QByteArray benchSharedKey = QByteArray(32, '\x42');

struct PeerArgs
{
    QString role; // "send" or "echo"
    Impl impl = Impl::Qonduit;
    bool psk = false; // Qonduit with benchSharedKey
    QString tlsCa;    // Qonduit over tls://, trusting the CA certificate in this PEM file
    Transport transport = Transport::Tcp;
    QString address;
    int size = 64;
    qint64 count = 0;
    int perTurn = 1024;
    int timeoutMs = 20000;
};

// Connects a raw Qt socket of any kind to args.address; a QSslSocket
// trusts the CA in args.tlsCa.
void connectRaw(QTcpSocket *socket, const PeerArgs &args)
{
    const QUrl url(args.address);
    socket->connectToHost(QStringLiteral("127.0.0.1"), quint16(url.port()));
}

void connectRaw(QSslSocket *socket, const PeerArgs &args)
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setProtocol(QSsl::TlsV1_3OrLater);
    configuration.setCaCertificates(QSslCertificate::fromPath(args.tlsCa));
    socket->setSslConfiguration(configuration);
    const QUrl url(args.address);
    socket->connectToHostEncrypted(QStringLiteral("127.0.0.1"), quint16(url.port()));
}

void connectRaw(QLocalSocket *socket, const PeerArgs &args)
{
    socket->connectToServer(args.address);
}

// The signal after which a raw socket may send: a QSslSocket's is the end
// of its handshake.
template <typename Socket>
auto readySignal()
{
    if constexpr (std::is_same_v<Socket, QSslSocket>)
        return &QSslSocket::encrypted;
    else
        return &Socket::connected;
}

void setLowDelay(QTcpSocket *socket)
{
    socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
}

void setLowDelay(QLocalSocket *) {}

template <typename Socket>
int rawPeer(const PeerArgs &args)
{
    Socket socket;
    int status = 1;
    qint64 sent = 0;
    qint64 pending = -1;
    const QByteArray templ = makeTemplate(args.size);
    const auto pump = [&] {
        if (args.role != u"send")
            return;
        markSendStart();
        while (sent < args.count && socket.bytesToWrite() < RawHighWater)
            writeFrame(&socket, makeMessage(templ, quint32(sent++)));
        if (sent == args.count)
            status = 0;
    };
    QObject::connect(&socket, readySignal<Socket>(), &socket, [&] {
        setLowDelay(&socket);
        pump();
    });
    QObject::connect(&socket, &Socket::bytesWritten, &socket, pump);
    QObject::connect(&socket, &Socket::readyRead, &socket, [&] {
        readFrames(&socket, pending, [&](const QByteArray &frame) {
            writeFrame(&socket, frame);
            ++sent;
            status = 0; // an echo peer runs until the requester closes
            return true;
        });
    });
    QObject::connect(&socket, &Socket::disconnected, qApp, &QCoreApplication::quit, Qt::QueuedConnection);
    QObject::connect(&socket, &Socket::errorOccurred, qApp, &QCoreApplication::quit, Qt::QueuedConnection);
    QTimer::singleShot(args.timeoutMs, qApp, [] {
        std::fprintf(stderr, "peer: timed out\n");
        QCoreApplication::exit(3);
    });
    connectRaw(&socket, args);
    const int code = QCoreApplication::exec();
    return code ? code : status;
}

ChannelOptions peerOptions(const PeerArgs &args)
{
    ChannelOptions options;
    if (args.psk)
        options.sharedKey = benchSharedKey;
    if (!args.tlsCa.isEmpty())
        options.tls.trustedAuthorities = QSslCertificate::fromPath(args.tlsCa);
    return options;
}

// Connects, waits for connected(), drops the channel; HandshakeWarmup + count
// times, one after the other.
int handshakePeer(const PeerArgs &args)
{
    const ChannelOptions options = peerOptions(args);
    const QUrl url(args.address);
    const qint64 total = HandshakeWarmup + args.count;
    qint64 done = 0;
    int status = 1;
    ChannelPair pair;
    std::function<void()> next;
    next = [&] {
        if (done == HandshakeWarmup)
            markSendStart();
        if (done == total) {
            g_endNs = nowNs();
            pair = {};
            status = 0;
            QCoreApplication::quit();
            return;
        }
        pair = Channel::connectTo(url, options); // drops the last one
        ChannelReceiver *receiver = pair.receiver.get();
        // Queued: the next connectTo() deletes this receiver.
        QObject::connect(receiver, &ChannelEndpoint::connected, qApp, [&] {
            ++done;
            QMetaObject::invokeMethod(qApp, next, Qt::QueuedConnection);
        });
        QObject::connect(receiver, &ChannelEndpoint::errorOccurred, qApp, [receiver] {
            std::fprintf(stderr, "peer: handshake failed: %s\n", qPrintable(receiver->errorString()));
            QCoreApplication::exit(1);
        });
    };
    QMetaObject::invokeMethod(qApp, next, Qt::QueuedConnection);
    QTimer::singleShot(args.timeoutMs, qApp, [] {
        std::fprintf(stderr, "peer: timed out\n");
        QCoreApplication::exit(3);
    });
    const int code = QCoreApplication::exec();
    return code ? code : status;
}

int qonduitPeer(const PeerArgs &args)
{
    if (args.role == u"handshake")
        return handshakePeer(args);
    ChannelPair pair = Channel::connectTo(QUrl(args.address), peerOptions(args));
    if (!pair.sender || !pair.receiver) {
        std::fprintf(stderr, "peer: connectTo(%s) gave no channel\n", qPrintable(args.address));
        return 1;
    }
    ChannelSender *sender = pair.sender.get();
    ChannelReceiver *receiver = pair.receiver.get();
    int status = 1;
    qint64 sent = 0;
    bool failed = false;
    const QByteArray templ = makeTemplate(args.size);
    // A message the full queue refused is kept and sent first at
    // readyToSend(), not made again: one allocation and copy per message, as
    // on the other sides.
    QByteArray refused;
    // Every event-loop turn while there is room; after a refusal, from
    // readyToSend() on (the way a raw socket goes on from bytesWritten()).
    QTimer pump;
    pump.setInterval(0);
    QObject::connect(&pump, &QTimer::timeout, sender, [&] {
        for (int i = 0; i < args.perTurn && sent < args.count; ++i) {
            QByteArray message = refused.isNull() ? makeMessage(templ, quint32(sent)) : std::exchange(refused, {});
            if (!sender->sendRaw(message)) {
                pump.stop();
                if (sender->error() == Error::QueueFullError) {
                    refused = std::move(message);
                    return;
                }
                std::fprintf(stderr, "peer: sendRaw failed: %s\n", qPrintable(sender->errorString()));
                failed = true;
                QCoreApplication::exit(1);
                return;
            }
            ++sent;
        }
        if (sent == args.count) {
            pump.stop();
            status = 0;
        }
    });
    QObject::connect(sender, &ChannelSender::readyToSend, &pump, [&] {
        if (!failed && sent < args.count)
            pump.start();
    });
    if (args.role == u"send") {
        QObject::connect(sender, &ChannelEndpoint::connected, &pump, [&] {
            markSendStart();
            pump.start();
        });
    } else {
        QObject::connect(receiver, &ChannelReceiver::rawMessageReceived, sender, [&](const QByteArray &data) {
            if (sender->sendRaw(data))
                status = 0; // an echo peer runs until the requester closes
        });
    }
    const auto quit = [] { QCoreApplication::quit(); };
    QObject::connect(receiver, &ChannelReceiver::closed, qApp, quit, Qt::QueuedConnection);
    QObject::connect(receiver, &ChannelEndpoint::disconnected, qApp, quit, Qt::QueuedConnection);
    QObject::connect(receiver, &ChannelEndpoint::errorOccurred, qApp, quit, Qt::QueuedConnection);
    QTimer::singleShot(args.timeoutMs, qApp, [] {
        std::fprintf(stderr, "peer: timed out\n");
        QCoreApplication::exit(3);
    });
    const int code = QCoreApplication::exec();
    return code ? code : (failed ? 1 : status);
}

#ifdef QONDUIT_BENCH_HAVE_ZMQ
// Blocks until the parent closes our stdin (it has every message) or the
// time is up. libzmq 4.3 may drop what an ipc:// socket still holds when the
// sending process ends, LINGER notwithstanding (zeromq/libzmq#4660).
bool waitForParent(int timeoutMs)
{
    pollfd fd{0, POLLIN, 0};
    return ::poll(&fd, 1, timeoutMs) == 1;
}

int zmqPeer(const PeerArgs &args)
{
    try {
        zmq::context_t context(1);
        const bool send = args.role == u"send";
        zmq::socket_t socket(context, send ? zmq::socket_type::push : zmq::socket_type::rep);
        socket.set(zmq::sockopt::linger, args.timeoutMs);
        socket.set(zmq::sockopt::rcvtimeo, args.timeoutMs);
        socket.set(zmq::sockopt::sndtimeo, args.timeoutMs);
        socket.connect(args.address.toStdString());
        const QByteArray templ = makeTemplate(args.size);
        if (send)
            markSendStart();
        for (qint64 i = 0; !send || i < args.count; ++i) {
            if (send) {
                zmq::message_t message(size_t(args.size));
                std::memcpy(message.data(), templ.constData(), size_t(args.size));
                qToLittleEndian<quint32>(quint32(i), message.data());
                if (!socket.send(message, zmq::send_flags::none)) {
                    std::fprintf(stderr, "peer: zmq send timed out\n");
                    return 3;
                }
            } else {
                zmq::message_t message;
                if (!socket.recv(message, zmq::recv_flags::none)) {
                    std::fprintf(stderr, "peer: zmq recv timed out\n");
                    return 3;
                }
                if (message.size() == 0)
                    break; // the requester is done
                socket.send(message, zmq::send_flags::none);
            }
        }
        if (send && !waitForParent(args.timeoutMs)) {
            std::fprintf(stderr, "peer: the receiver did not confirm\n");
            return 3;
        }
    } catch (const zmq::error_t &e) {
        std::fprintf(stderr, "peer: zmq: %s\n", e.what());
        return 1;
    }
    return 0;
}
#endif

int peerMain(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOptions({{QStringLiteral("peer"), QStringLiteral("role"), QStringLiteral("role")},
                       {QStringLiteral("impl"), QStringLiteral("impl"), QStringLiteral("impl")},
                       {QStringLiteral("transport"), QStringLiteral("t"), QStringLiteral("t")},
                       {QStringLiteral("address"), QStringLiteral("a"), QStringLiteral("a")},
                       {QStringLiteral("size"), QStringLiteral("n"), QStringLiteral("n")},
                       {QStringLiteral("count"), QStringLiteral("n"), QStringLiteral("n")},
                       {QStringLiteral("per-turn"), QStringLiteral("n"), QStringLiteral("n")},
                       {QStringLiteral("cpu"), QStringLiteral("n"), QStringLiteral("n")},
                       {QStringLiteral("timeout-ms"), QStringLiteral("n"), QStringLiteral("n")},
                       {QStringLiteral("psk"), QStringLiteral("with the shared key")},
                       {QStringLiteral("tls-ca"), QStringLiteral("file"), QStringLiteral("file")}});
    parser.process(arguments);
    PeerArgs args;
    args.role = parser.value(QStringLiteral("peer"));
    const QString impl = parser.value(QStringLiteral("impl"));
    args.impl = impl == u"raw" ? Impl::Raw : impl == u"zmq" ? Impl::Zmq : Impl::Qonduit;
    args.transport = parser.value(QStringLiteral("transport")) == u"local" ? Transport::Local : Transport::Tcp;
    args.address = parser.value(QStringLiteral("address"));
    args.psk = parser.isSet(QStringLiteral("psk"));
    args.tlsCa = parser.value(QStringLiteral("tls-ca"));
    args.size = parser.value(QStringLiteral("size")).toInt();
    args.count = parser.value(QStringLiteral("count")).toLongLong();
    if (parser.isSet(QStringLiteral("per-turn")))
        args.perTurn = std::max(1, parser.value(QStringLiteral("per-turn")).toInt());
    if (parser.isSet(QStringLiteral("timeout-ms")))
        args.timeoutMs = parser.value(QStringLiteral("timeout-ms")).toInt();
    if (parser.isSet(QStringLiteral("cpu")) && !pinProcess(parser.value(QStringLiteral("cpu")).toInt())) {
        std::fprintf(stderr, "peer: cannot pin to cpu %s\n", qPrintable(parser.value(QStringLiteral("cpu"))));
        return 2;
    }
    int code = 1;
    switch (args.impl) {
    case Impl::Qonduit:
        code = qonduitPeer(args);
        break;
    case Impl::Raw:
        if (args.transport == Transport::Local)
            code = rawPeer<QLocalSocket>(args);
        else
            code = args.tlsCa.isEmpty() ? rawPeer<QTcpSocket>(args) : rawPeer<QSslSocket>(args);
        break;
    case Impl::Zmq:
#ifdef QONDUIT_BENCH_HAVE_ZMQ
        code = zmqPeer(args);
#endif
        break;
    }
    std::printf("START %lld\nCPU0 %lld\nCPU %lld\nEND %lld\n", static_cast<long long>(g_sendStartNs),
                static_cast<long long>(g_sendStartCpu), static_cast<long long>(processCpuNs()),
                static_cast<long long>(g_endNs));
    std::fflush(stdout);
    return code;
}

// ---------------------------------------------------------------- parent

struct Config
{
    int reps = 5;
    double scale = 1.0;
    int perTurn = 1024;
    int timeoutMs = 20000;
    qint64 budgetMs = 90000; // no round beyond the third starts after this
    qint64 rttRounds = 5000;  // timed round trips per run, at most
    qint64 rttRunMs = 300;    // ... or this long
    qint64 rttWarmup = 100;
    std::vector<Impl> impls{Impl::Qonduit, Impl::Raw, Impl::Zmq};
    std::vector<Transport> transports{Transport::Tcp, Transport::Local};
    std::vector<int> sizes{64, 1024, 64 * 1024, 1024 * 1024};
    bool throughput = true;
    bool psk = true;
    bool tls = true;
    bool handshakes = true;
    qint64 handshakeCount = 200; // timed handshakes per run
    bool rtt = true;
    bool verbose = false;
};

Config g_config;
QElapsedTimer g_clock;

QByteArray loadAverage()
{
    QFile file(QStringLiteral("/proc/loadavg"));
    return file.open(QIODevice::ReadOnly) ? file.readAll().trimmed() : QByteArray("?");
}

// The child process of one run.
class Peer
{
public:
    Peer(const QStringList &arguments, int cpu)
    {
        QStringList all = arguments;
        all << QStringLiteral("--timeout-ms") << QString::number(g_config.timeoutMs + 5000);
        if (cpu >= 0)
            all << QStringLiteral("--cpu") << QString::number(cpu);
        // stdout carries the peer's figures; its stderr goes to ours.
        m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_process.start(QCoreApplication::applicationFilePath(), QStringList{QStringLiteral("--peer")} + all);
    }
    ~Peer()
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }
    QProcess &process() { return m_process; }

    // Waits for the child to end (running the event loop), then checks it
    // exited with 0 and reads the CPU time it reported.
    bool finish(int timeoutMs)
    {
        if (m_process.state() != QProcess::NotRunning) {
            QEventLoop loop;
            QObject::connect(&m_process, &QProcess::finished, &loop, &QEventLoop::quit);
            QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
            if (m_process.state() != QProcess::NotRunning)
                loop.exec();
        }
        if (m_process.state() != QProcess::NotRunning)
            return fail(QStringLiteral("the peer process did not end within %1 ms").arg(timeoutMs));
        const QByteArray out = m_process.readAllStandardOutput();
        qint64 cpuStart = 0;
        for (const QByteArray &line : out.split('\n')) {
            if (line.startsWith("CPU "))
                cpuNs = line.mid(4).toLongLong();
            else if (line.startsWith("CPU0 "))
                cpuStart = line.mid(5).toLongLong();
            else if (line.startsWith("START "))
                startNs = line.mid(6).toLongLong();
            else if (line.startsWith("END "))
                endNs = line.mid(4).toLongLong();
        }
        cpuNs -= cpuStart;
        if (m_process.exitStatus() != QProcess::NormalExit || m_process.exitCode() != 0)
            return fail(QStringLiteral("the peer process failed (exit code %1)").arg(m_process.exitCode()));
        return true;
    }

    qint64 cpuNs = 0;   // CPU time of the peer since it began to send
    qint64 startNs = 0; // when it began to send (steady clock)
    qint64 endNs = 0;   // a handshake peer: when it was done (steady clock)

private:
    QProcess m_process;
};

struct Throughput
{
    double messagesPerSecond = 0;
    double megabytesPerSecond = 0;
    double receiverCpuNsPerMessage = 0;
    double senderCpuNsPerMessage = 0;
};

// What the receiving side of every implementation shares: checks each
// message, takes the time of the last one and the CPU time from the first.
struct Sink
{
    int size = 0;
    qint64 count = 0;
    qint64 received = 0;
    qint64 startNs = 0, endNs = 0;
    qint64 startCpu = 0, endCpu = 0;
    bool bad = false;

    // Returns true once every message arrived.
    bool take(const char *data, qsizetype length)
    {
        if (length != size || qFromLittleEndian<quint32>(data) != quint32(received)) {
            if (!bad)
                fail(QStringLiteral("message %1 arrived wrong (%2 bytes, sequence number %3)")
                         .arg(received)
                         .arg(length)
                         .arg(length >= 4 ? qFromLittleEndian<quint32>(data) : 0));
            bad = true;
            return true;
        }
        if (++received == 1) {
            startNs = nowNs();
            startCpu = processCpuNs();
        }
        if (received == count) {
            endNs = nowNs();
            endCpu = processCpuNs();
            return true;
        }
        return false;
    }

    std::optional<Throughput> result(const Peer &peer) const
    {
        if (bad || received != count || peer.startNs <= 0 || endNs <= peer.startNs) {
            fail(QStringLiteral("no valid timing (%1 of %2 messages)").arg(received).arg(count));
            return std::nullopt;
        }
        // From the sender's first send to the receiver's last delivery.
        const double seconds = double(endNs - peer.startNs) / 1e9;
        Throughput t;
        t.messagesPerSecond = double(count) / seconds;
        t.megabytesPerSecond = t.messagesPerSecond * size / 1e6;
        t.receiverCpuNsPerMessage = double(endCpu - startCpu) / double(count);
        t.senderCpuNsPerMessage = double(peer.cpuNs) / double(count);
        return t;
    }
};

QStringList peerArguments(const char *role, Impl impl, Transport transport, const QString &address, int size,
                          qint64 count)
{
    return {QString::fromLatin1(role),
            QStringLiteral("--impl"), QString::fromLatin1(implName(impl)),
            QStringLiteral("--transport"), QString::fromLatin1(transportName(transport)),
            QStringLiteral("--address"), address,
            QStringLiteral("--size"), QString::number(size),
            QStringLiteral("--count"), QString::number(count),
            QStringLiteral("--per-turn"), QString::number(g_config.perTurn)};
}

// Runs loop until done() turns true, the peer dies or the time is up.
bool runUntil(QEventLoop &loop, Peer &peer, const std::function<bool()> &done, const char *what)
{
    bool timedOut = false;
    QTimer timer;
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &loop, [&] {
        timedOut = true;
        loop.quit();
    });
    QObject::connect(&peer.process(), &QProcess::finished, &loop, &QEventLoop::quit);
    timer.start(g_config.timeoutMs);
    if (!done() && peer.process().state() != QProcess::NotRunning)
        loop.exec();
    if (done())
        return true;
    if (timedOut)
        return fail(QStringLiteral("%1 did not finish within %2 ms").arg(QString::fromLatin1(what)).arg(g_config.timeoutMs));
    if (g_failure.isEmpty())
        fail(QStringLiteral("%1: the peer process ended early (exit code %2)")
                 .arg(QString::fromLatin1(what))
                 .arg(peer.process().exitCode()));
    return false;
}

// --- Qonduit servers, plain or secured

// The tls:// cases' certificates, made once: a CA (its certificate in a PEM
// file the peer process trusts) and the server's certificate for 127.0.0.1.
struct TlsMaterial
{
    QTemporaryDir dir;
    Credentials server;
    QString caFile;
};

const TlsMaterial *tlsMaterial()
{
    static std::unique_ptr<TlsMaterial> material;
    if (material)
        return material.get();
    auto made = std::make_unique<TlsMaterial>();
    CertificateAuthority ca;
    if (!made->dir.isValid() || !ca.create(QStringLiteral("bench_sockets CA"))) {
        fail(QStringLiteral("cannot make the tls:// certificates: %1").arg(ca.errorString()));
        return nullptr;
    }
    made->server = ca.issue(QStringLiteral("127.0.0.1"), CertificateAuthority::Purpose::Server);
    made->caFile = made->dir.filePath(QStringLiteral("ca.pem"));
    QFile file(made->caFile);
    if (made->server.isNull() || !file.open(QIODevice::WriteOnly) || file.write(ca.certificate().toPem()) <= 0) {
        fail(QStringLiteral("cannot make the tls:// certificates: %1 %2").arg(ca.errorString(), file.errorString()));
        return nullptr;
    }
    material = std::move(made);
    return material.get();
}

// Listens for the peer on loopback or a fresh local name, secured as asked;
// the peer process gets the extra arguments it needs to connect.
bool listenQonduit(ChannelServer &server, Transport transport, Security security, QStringList &peerExtra)
{
    ChannelOptions options;
    QUrl url = transport == Transport::Tcp ? QUrl(QStringLiteral("tcp://127.0.0.1:0"))
                                           : QUrl(QStringLiteral("local:") + uniqueName());
    peerExtra.clear();
    if (security == Security::SharedKey) {
        options.sharedKey = benchSharedKey;
        peerExtra << QStringLiteral("--psk");
    } else if (security == Security::Tls) {
        const TlsMaterial *tls = tlsMaterial();
        if (!tls)
            return false;
        options.tls.credentials = tls->server;
        url = QUrl(QStringLiteral("tls://127.0.0.1:0"));
        peerExtra << QStringLiteral("--tls-ca") << tls->caFile;
    }
    server.setChannelOptions(options);
    if (!server.listen(url))
        return fail(QStringLiteral("ChannelServer::listen(%1): %2").arg(url.toString(), server.errorString()));
    return true;
}

// --- throughput, parent = receiver

std::optional<Throughput> qonduitThroughput(Transport transport, int size, qint64 count,
                                            Security security = Security::Plain)
{
    ChannelServer server;
    QStringList peerExtra;
    if (!listenQonduit(server, transport, security, peerExtra))
        return std::nullopt;
    Sink sink{size, count};
    ChannelPair pair;
    QEventLoop loop;
    bool done = false;
    qsizetype maxQueued = 0; // sampled every 1024 messages
    QObject::connect(&server, &ChannelServer::newChannel, &loop, [&] {
        if (pair.receiver)
            return;
        pair = server.nextPendingChannel();
        ChannelReceiver *receiver = pair.receiver.get();
        QObject::connect(receiver, &ChannelReceiver::rawMessageReceived, &loop,
                         [&, receiver](const QByteArray &data) {
                             if ((sink.received & 1023) == 0)
                                 maxQueued = std::max(maxQueued, receiver->queuedCount());
                             if (!done && sink.take(data.constData(), data.size())) {
                                 done = true;
                                 loop.quit();
                             }
                         });
        QObject::connect(pair.receiver.get(), &ChannelEndpoint::errorOccurred, &loop, [&] {
            if (!done)
                fail(QStringLiteral("the Qonduit receiver reported: %1").arg(pair.receiver->errorString()));
            loop.quit();
        });
    });
    Peer peer(peerArguments("send", Impl::Qonduit, transport, server.address().toString(), size, count) + peerExtra,
              -1);
    const bool ok = runUntil(loop, peer, [&] { return done || !g_failure.isEmpty(); }, "qonduit throughput");
    pair = {}; // closes the channel: the peer sees closed() and exits
    server.close();
    if (!peer.finish(10000) || !ok || !g_failure.isEmpty())
        return std::nullopt;
    if (g_config.verbose)
        std::printf("#     qonduit receiver: at most %lld messages queued (sampled)\n", static_cast<long long>(maxQueued));
    return sink.result(peer);
}

// Listens on loopback (QTcpServer or QSslServer, port 0) or a fresh local
// name (QLocalServer); returns the address the peer process dials. A
// QSslServer presents the tls:// cases' server certificate.
template <typename Server>
std::optional<QString> listenRaw(Server &server)
{
    if constexpr (std::is_same_v<Server, QSslServer>) {
        const TlsMaterial *tls = tlsMaterial();
        if (!tls)
            return std::nullopt;
        QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
        configuration.setProtocol(QSsl::TlsV1_3OrLater);
        configuration.setLocalCertificate(tls->server.certificate);
        configuration.setPrivateKey(tls->server.privateKey);
        server.setSslConfiguration(configuration);
    }
    if constexpr (std::is_base_of_v<QTcpServer, Server>) {
        if (!server.listen(QHostAddress::LocalHost, 0)) {
            fail(QStringLiteral("QTcpServer::listen: %1").arg(server.errorString()));
            return std::nullopt;
        }
        return QStringLiteral("tcp://127.0.0.1:%1").arg(server.serverPort());
    } else {
        const QString address = uniqueName();
        QLocalServer::removeServer(address);
        if (!server.listen(address)) {
            fail(QStringLiteral("QLocalServer::listen: %1").arg(server.errorString()));
            return std::nullopt;
        }
        return address;
    }
}

template <typename Server, typename Socket>
std::optional<Throughput> rawThroughput(Transport transport, int size, qint64 count)
{
    Server server;
    const std::optional<QString> listening = listenRaw(server);
    if (!listening)
        return std::nullopt;
    const QString address = *listening;
    Sink sink{size, count};
    Socket *socket = nullptr;
    qint64 pending = -1;
    bool done = false;
    QEventLoop loop;
    // A QSslServer has a connection pending only once its handshake is done.
    constexpr auto pendingSignal = [] {
        if constexpr (std::is_base_of_v<QTcpServer, Server>)
            return &Server::pendingConnectionAvailable;
        else
            return &Server::newConnection;
    }();
    QObject::connect(&server, pendingSignal, &loop, [&] {
        if (socket)
            return;
        socket = static_cast<Socket *>(server.nextPendingConnection());
        if constexpr (std::is_base_of_v<QTcpSocket, Socket>)
            socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        const auto onReadyRead = [&] {
            if (done)
                return;
            readFrames(socket, pending, [&](const QByteArray &frame) {
                if (sink.take(frame.constData(), frame.size())) {
                    done = true;
                    loop.quit();
                    return false;
                }
                return true;
            });
        };
        QObject::connect(socket, &Socket::readyRead, &loop, onReadyRead);
        onReadyRead();
    });
    QStringList peerExtra;
    if constexpr (std::is_same_v<Server, QSslServer>)
        peerExtra << QStringLiteral("--tls-ca") << tlsMaterial()->caFile;
    Peer peer(peerArguments("send", Impl::Raw, transport, address, size, count) + peerExtra, -1);
    const bool ok = runUntil(loop, peer, [&] { return done || !g_failure.isEmpty(); }, "raw throughput");
    if (socket) {
        socket->disconnect(&loop);
        socket->abort();
    }
    server.close();
    if (!peer.finish(10000) || !ok || !g_failure.isEmpty())
        return std::nullopt;
    return sink.result(peer);
}

#ifdef QONDUIT_BENCH_HAVE_ZMQ
std::string zmqBindAddress(Transport transport, QString &ipcPath)
{
    if (transport == Transport::Tcp)
        return "tcp://127.0.0.1:*";
    ipcPath = QDir::tempPath() + u'/' + uniqueName() + QStringLiteral(".ipc");
    return "ipc://" + ipcPath.toStdString();
}

std::optional<Throughput> zmqThroughput(Transport transport, int size, qint64 count)
{
    QString ipcPath;
    Sink sink{size, count};
    std::optional<Peer> peer;
    try {
        zmq::context_t context(1);
        zmq::socket_t pull(context, zmq::socket_type::pull);
        pull.set(zmq::sockopt::linger, 0);
        pull.set(zmq::sockopt::rcvtimeo, g_config.timeoutMs);
        pull.bind(zmqBindAddress(transport, ipcPath));
        const QString address = QString::fromStdString(pull.get(zmq::sockopt::last_endpoint));
        peer.emplace(peerArguments("send", Impl::Zmq, transport, address, size, count), -1);
        const qint64 deadline = nowNs() + qint64(g_config.timeoutMs) * 1000000;
        zmq::message_t message;
        while (true) {
            if (!pull.recv(message, zmq::recv_flags::none) || nowNs() > deadline) {
                peer->process().waitForFinished(0); // updates its state
                fail(QStringLiteral("zmq throughput did not finish within %1 ms (%2 of %3 messages arrived; "
                                    "the peer is %4)")
                         .arg(g_config.timeoutMs)
                         .arg(sink.received)
                         .arg(count)
                         .arg(peer->process().state() == QProcess::NotRunning ? QStringLiteral("gone")
                                                                             : QStringLiteral("running")));
                break;
            }
            if (sink.take(static_cast<const char *>(message.data()), qsizetype(message.size())))
                break;
        }
    } catch (const zmq::error_t &e) {
        fail(QStringLiteral("zmq: %1").arg(QString::fromLocal8Bit(e.what())));
    }
    if (peer)
        peer->process().closeWriteChannel(); // every message is in: the peer may end
    if (!ipcPath.isEmpty())
        QFile::remove(ipcPath);
    if (!peer || !peer->finish(10000) || !g_failure.isEmpty())
        return std::nullopt;
    return sink.result(*peer);
}
#endif

std::optional<Throughput> throughput(Impl impl, Transport transport, int size, qint64 count)
{
    switch (impl) {
    case Impl::Qonduit:
        return qonduitThroughput(transport, size, count);
    case Impl::Raw:
        return transport == Transport::Tcp ? rawThroughput<QTcpServer, QTcpSocket>(transport, size, count)
                                           : rawThroughput<QLocalServer, QLocalSocket>(transport, size, count);
    case Impl::Zmq:
#ifdef QONDUIT_BENCH_HAVE_ZMQ
        return zmqThroughput(transport, size, count);
#else
        break;
#endif
    }
    return std::nullopt;
}

// --- handshakes, parent = server; returns handshakes per second

std::optional<double> qonduitHandshakes(Transport transport, Security security, qint64 count)
{
    ChannelServer server;
    QStringList peerExtra;
    if (!listenQonduit(server, transport, security, peerExtra))
        return std::nullopt;
    // Every channel is taken and dropped at once: the server closes its end.
    QObject::connect(&server, &ChannelServer::newChannel, &server, [&server] {
        while (server.hasPendingChannels())
            server.nextPendingChannel();
    });
    Peer peer(peerArguments("handshake", Impl::Qonduit, transport, server.address().toString(), 0, count)
                      + peerExtra,
              -1);
    if (!peer.finish(g_config.timeoutMs))
        return std::nullopt;
    if (peer.startNs <= 0 || peer.endNs <= peer.startNs) {
        fail(QStringLiteral("the handshake peer reported no valid timing"));
        return std::nullopt;
    }
    return double(count) / (double(peer.endNs - peer.startNs) / 1e9);
}

// --- round trip, parent = requester; returns microseconds per round trip

struct Pinning
{
    const char *label;
    int parentCpu;
    int childCpu;
};

// Counts replies: warm-up ones first, then timed ones until there are
// maxRounds of them or maxNs have passed (with at least minRounds).
struct RoundTrips
{
    qint64 warmup = 0;
    qint64 maxRounds = 0;
    qint64 maxNs = 0;
    qint64 minRounds = 100;
    qint64 done = 0;
    qint64 timed = 0;
    qint64 startNs = 0, endNs = 0;

    static RoundTrips fromConfig();

    // Counts a reply; returns true when the last one is in.
    bool reply()
    {
        ++done;
        if (done < warmup)
            return false;
        const qint64 now = nowNs();
        if (done == warmup) {
            startNs = now;
            return false;
        }
        timed = done - warmup;
        if (timed >= maxRounds || (timed >= minRounds && now - startNs >= maxNs)) {
            endNs = now;
            return true;
        }
        return false;
    }
    double microseconds() const { return double(endNs - startNs) / 1e3 / double(timed); }
};

RoundTrips RoundTrips::fromConfig()
{
    RoundTrips trips;
    trips.warmup = g_config.rttWarmup;
    trips.maxRounds = g_config.rttRounds;
    trips.maxNs = g_config.rttRunMs * 1000000;
    return trips;
}

std::optional<double> qonduitRtt(Transport transport, int childCpu)
{
    ChannelServer server;
    const QUrl url = transport == Transport::Tcp ? QUrl(QStringLiteral("tcp://127.0.0.1:0"))
                                                 : QUrl(QStringLiteral("local:") + uniqueName());
    if (!server.listen(url)) {
        fail(QStringLiteral("ChannelServer::listen(%1): %2").arg(url.toString(), server.errorString()));
        return std::nullopt;
    }
    RoundTrips trips = RoundTrips::fromConfig();
    const QByteArray ping = makeTemplate(RttPayload);
    ChannelPair pair;
    QEventLoop loop;
    bool done = false;
    QObject::connect(&server, &ChannelServer::newChannel, &loop, [&] {
        if (pair.receiver)
            return;
        pair = server.nextPendingChannel();
        ChannelSender *sender = pair.sender.get();
        QObject::connect(pair.receiver.get(), &ChannelReceiver::rawMessageReceived, &loop,
                         [&, sender](const QByteArray &data) {
                             if (done)
                                 return;
                             if (data.size() != RttPayload) {
                                 fail(QStringLiteral("a reply of %1 bytes").arg(data.size()));
                                 done = true;
                             } else if (trips.reply()) {
                                 done = true;
                             } else {
                                 sender->sendRaw(ping);
                             }
                             if (done)
                                 loop.quit();
                         });
        QObject::connect(pair.receiver.get(), &ChannelEndpoint::errorOccurred, &loop, [&] {
            if (!done)
                fail(QStringLiteral("the Qonduit receiver reported: %1").arg(pair.receiver->errorString()));
            loop.quit();
        });
        sender->sendRaw(ping);
    });
    Peer peer(peerArguments("echo", Impl::Qonduit, transport, server.address().toString(), RttPayload, 0),
              childCpu);
    const bool ok = runUntil(loop, peer, [&] { return done || !g_failure.isEmpty(); }, "qonduit round trips");
    pair = {};
    server.close();
    if (!peer.finish(10000) || !ok || !g_failure.isEmpty())
        return std::nullopt;
    return trips.microseconds();
}

template <typename Server, typename Socket>
std::optional<double> rawRtt(Transport transport, int childCpu)
{
    Server server;
    const std::optional<QString> listening = listenRaw(server);
    if (!listening)
        return std::nullopt;
    const QString address = *listening;
    RoundTrips trips = RoundTrips::fromConfig();
    const QByteArray ping = makeTemplate(RttPayload);
    Socket *socket = nullptr;
    qint64 pending = -1;
    bool done = false;
    QEventLoop loop;
    QObject::connect(&server, &Server::newConnection, &loop, [&] {
        if (socket)
            return;
        socket = static_cast<Socket *>(server.nextPendingConnection());
        if constexpr (std::is_same_v<Socket, QTcpSocket>)
            socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        QObject::connect(socket, &Socket::readyRead, &loop, [&] {
            if (done)
                return;
            readFrames(socket, pending, [&](const QByteArray &frame) {
                if (frame.size() != RttPayload) {
                    fail(QStringLiteral("a reply of %1 bytes").arg(frame.size()));
                    done = true;
                } else if (trips.reply()) {
                    done = true;
                } else {
                    writeFrame(socket, ping);
                }
                if (done)
                    loop.quit();
                return !done;
            });
        });
        writeFrame(socket, ping);
    });
    Peer peer(peerArguments("echo", Impl::Raw, transport, address, RttPayload, 0), childCpu);
    const bool ok = runUntil(loop, peer, [&] { return done || !g_failure.isEmpty(); }, "raw round trips");
    if (socket) {
        socket->disconnect(&loop);
        socket->abort();
    }
    server.close();
    if (!peer.finish(10000) || !ok || !g_failure.isEmpty())
        return std::nullopt;
    return trips.microseconds();
}

#ifdef QONDUIT_BENCH_HAVE_ZMQ
std::optional<double> zmqRtt(Transport transport, int childCpu)
{
    QString ipcPath;
    RoundTrips trips = RoundTrips::fromConfig();
    const QByteArray ping = makeTemplate(RttPayload);
    std::optional<Peer> peer;
    bool ok = false;
    try {
        zmq::context_t context(1);
        zmq::socket_t req(context, zmq::socket_type::req);
        req.set(zmq::sockopt::linger, 0);
        req.set(zmq::sockopt::rcvtimeo, g_config.timeoutMs);
        req.bind(zmqBindAddress(transport, ipcPath));
        const QString address = QString::fromStdString(req.get(zmq::sockopt::last_endpoint));
        peer.emplace(peerArguments("echo", Impl::Zmq, transport, address, RttPayload, 0), childCpu);
        zmq::message_t reply;
        while (true) {
            req.send(zmq::buffer(ping.constData(), size_t(ping.size())), zmq::send_flags::none);
            if (!req.recv(reply, zmq::recv_flags::none)) {
                fail(QStringLiteral("zmq round trips: no reply within %1 ms").arg(g_config.timeoutMs));
                break;
            }
            if (reply.size() != size_t(RttPayload)) {
                fail(QStringLiteral("a reply of %1 bytes").arg(reply.size()));
                break;
            }
            if (trips.reply()) {
                ok = true;
                break;
            }
        }
        // An empty request tells the REP peer to stop.
        req.send(zmq::message_t(), zmq::send_flags::none);
    } catch (const zmq::error_t &e) {
        fail(QStringLiteral("zmq: %1").arg(QString::fromLocal8Bit(e.what())));
    }
    if (!ipcPath.isEmpty())
        QFile::remove(ipcPath);
    if (!peer || !peer->finish(10000) || !ok || !g_failure.isEmpty())
        return std::nullopt;
    return trips.microseconds();
}
#endif

std::optional<double> roundTrip(Impl impl, Transport transport, int childCpu)
{
    switch (impl) {
    case Impl::Qonduit:
        return qonduitRtt(transport, childCpu);
    case Impl::Raw:
        return transport == Transport::Tcp ? rawRtt<QTcpServer, QTcpSocket>(transport, childCpu)
                                           : rawRtt<QLocalServer, QLocalSocket>(transport, childCpu);
    case Impl::Zmq:
#ifdef QONDUIT_BENCH_HAVE_ZMQ
        return zmqRtt(transport, childCpu);
#else
        break;
#endif
    }
    return std::nullopt;
}

// --- reporting

QString baseName(Impl impl, Transport transport, bool rtt)
{
    if (impl == Impl::Raw)
        return transport == Transport::Tcp ? QStringLiteral("raw_qtcpsocket") : QStringLiteral("raw_qlocalsocket");
    QString name = rtt ? QStringLiteral("zmq_req_rep") : QStringLiteral("zmq_push_pull");
    if (transport == Transport::Local)
        name += QStringLiteral("_ipc");
    return name;
}

void printLine(const QString &caseName, double ours, double base, const char *unit, int decimals,
               const QString &base_name, bool lowerIsBetter)
{
    const double ratio = lowerIsBetter ? base / ours : ours / base;
    std::printf("BENCH %s ours=%.*f %s base=%s:%.*f ratio=%.3f\n", qPrintable(caseName), decimals, ours, unit,
                qPrintable(base_name), decimals, base, ratio);
    std::fflush(stdout);
}

bool hasImpl(Impl impl)
{
    return std::find(g_config.impls.begin(), g_config.impls.end(), impl) != g_config.impls.end();
}

std::vector<Impl> orderFor(int round)
{
    std::vector<Impl> order = g_config.impls;
    if (!order.empty())
        std::rotate(order.begin(), order.begin() + (round % int(order.size())), order.end());
    return order;
}

bool moreRounds(int done)
{
    if (done >= g_config.reps)
        return false;
    return done < 3 || g_clock.elapsed() < g_config.budgetMs;
}

qint64 countFor(int size)
{
    // About 20 MB of payload for 64 B messages and 100-200 MB for the others:
    // a run lasts 0.1 - 0.8 s on a loaded two-core machine.
    qint64 count = 0;
    if (size <= 64)
        count = 300000;
    else if (size <= 1024)
        count = 100000;
    else if (size <= 64 * 1024)
        count = 2000;
    else
        count = 200;
    return std::max<qint64>(20, qint64(double(count) * g_config.scale));
}

bool runThroughputCase(Transport transport, int size)
{
    const qint64 count = countFor(size);
    std::vector<Throughput> results[3];
    for (int round = 0; moreRounds(round); ++round) {
        for (Impl impl : orderFor(round)) {
            const auto t = throughput(impl, transport, size, count);
            if (!t) {
                std::fprintf(stderr, "bench_sockets: %s %s %s throughput failed: %s\n", transportName(transport),
                             qPrintable(sizeLabel(size)), implName(impl), qPrintable(g_failure));
                return false;
            }
            results[int(impl)].push_back(*t);
            if (g_config.verbose)
                std::printf("#   %s_%s %s: %.0f msg/s %.1f MB/s, cpu/msg receiver %.0f ns, sender %.0f ns\n",
                            transportName(transport), qPrintable(sizeLabel(size)), implName(impl),
                            t->messagesPerSecond, t->megabytesPerSecond, t->receiverCpuNsPerMessage,
                            t->senderCpuNsPerMessage);
        }
    }
    const auto med = [&](Impl impl, auto field) {
        std::vector<double> values;
        for (const Throughput &t : results[int(impl)])
            values.push_back(t.*field);
        return median(values);
    };
    const QString prefix = QString::fromLatin1(transportName(transport)) + u'_' + sizeLabel(size);
    std::printf("# %s: %lld messages per run, %zu runs each; median cpu/msg (receiver, sender):", qPrintable(prefix),
                static_cast<long long>(count), results[int(g_config.impls.front())].size());
    for (Impl impl : g_config.impls)
        std::printf(" %s %.0f/%.0f ns", implName(impl), med(impl, &Throughput::receiverCpuNsPerMessage),
                    med(impl, &Throughput::senderCpuNsPerMessage));
    std::printf("\n");
    if (!hasImpl(Impl::Qonduit)) {
        for (Impl impl : g_config.impls)
            std::printf("# %s %s: %.0f msg/s %.1f MB/s\n", qPrintable(prefix), implName(impl),
                        med(impl, &Throughput::messagesPerSecond), med(impl, &Throughput::megabytesPerSecond));
        return true;
    }
    for (Impl base : {Impl::Raw, Impl::Zmq}) {
        if (!hasImpl(base))
            continue;
        printLine(prefix + QStringLiteral("_throughput"), med(Impl::Qonduit, &Throughput::messagesPerSecond),
                  med(base, &Throughput::messagesPerSecond), "msg/s", 0, baseName(base, transport, false), false);
    }
    for (Impl base : {Impl::Raw, Impl::Zmq}) {
        if (!hasImpl(base))
            continue;
        printLine(prefix + QStringLiteral("_bandwidth"), med(Impl::Qonduit, &Throughput::megabytesPerSecond),
                  med(base, &Throughput::megabytesPerSecond), "MB/s", 1, baseName(base, transport, false), false);
    }
    return true;
}

// The name a secured case goes by: psk_tcp, psk_local, tls.
QString securedLabel(Transport transport, Security security)
{
    if (security == Security::Tls)
        return QStringLiteral("tls");
    return QStringLiteral("psk_") + QString::fromLatin1(transportName(transport));
}

// One way to run a case, measured by runInterleaved().
struct Variant
{
    QString name;
    std::function<std::optional<double>()> measure;
};

// Runs every variant once per round, their order rotated each round; returns
// their medians, or nothing once one failed.
std::optional<std::vector<double>> runInterleaved(const QString &caseName, const std::vector<Variant> &variants,
                                                  const char *unit)
{
    std::vector<std::vector<double>> results(variants.size());
    for (int round = 0; moreRounds(round); ++round) {
        for (size_t i = 0; i < variants.size(); ++i) {
            const size_t index = (i + size_t(round)) % variants.size();
            const Variant &variant = variants[index];
            const auto value = variant.measure();
            if (!value) {
                std::fprintf(stderr, "bench_sockets: %s (%s) failed: %s\n", qPrintable(caseName),
                             qPrintable(variant.name), qPrintable(g_failure));
                return std::nullopt;
            }
            results[index].push_back(*value);
            if (g_config.verbose)
                std::printf("#   %s %s: %.0f %s\n", qPrintable(caseName), qPrintable(variant.name), *value, unit);
        }
    }
    std::printf("# %s: %zu runs each\n", qPrintable(caseName), results[0].size());
    std::vector<double> medians;
    for (const auto &values : results)
        medians.push_back(median(values));
    return medians;
}

// Secured Qonduit (variants[1]) against plain Qonduit (variants[0]), and
// against any further baselines the variants name.
bool runSecuredCase(Transport transport, Security security, const QString &what, const char *unit,
                    const std::vector<Variant> &variants)
{
    const QString caseName = securedLabel(transport, security) + u'_' + what;
    const auto medians = runInterleaved(caseName, variants, unit);
    if (!medians)
        return false;
    printLine(caseName, (*medians)[1], (*medians)[0], unit, 0,
              QStringLiteral("plain_") + QString::fromLatin1(transportName(transport)), false);
    for (size_t i = 2; i < variants.size(); ++i)
        printLine(caseName, (*medians)[1], (*medians)[i], unit, 0, variants[i].name, false);
    return true;
}

std::vector<Variant> plainAndSecured(Security security, const std::function<std::optional<double>(Security)> &measure)
{
    return {{QStringLiteral("plain"), [=] { return measure(Security::Plain); }},
            {QStringLiteral("secured"), [=] { return measure(security); }}};
}

// The messages per second of a run; --verbose prints what each side spent.
std::optional<double> messagesPerSecond(const std::optional<Throughput> &throughput)
{
    if (!throughput)
        return std::nullopt;
    if (g_config.verbose)
        std::printf("#     cpu/msg receiver %.0f ns, sender %.0f ns\n", throughput->receiverCpuNsPerMessage,
                    throughput->senderCpuNsPerMessage);
    return throughput->messagesPerSecond;
}

// Qonduit with a shared key or over tls:// against plain Qonduit. tls:// is
// also set beside a raw QSslSocket (the same 4-byte framing as the raw
// QTcpSocket baseline): what TLS costs Qt itself, without Qonduit.
bool runSecuredThroughputCase(Transport transport, Security security, int size)
{
    const qint64 count = countFor(size);
    std::printf("# %s_%s: %lld messages per run\n", qPrintable(securedLabel(transport, security)),
                qPrintable(sizeLabel(size)), static_cast<long long>(count));
    std::vector<Variant> variants = plainAndSecured(security, [=](Security s) {
        return messagesPerSecond(qonduitThroughput(transport, size, count, s));
    });
    if (security == Security::Tls && hasImpl(Impl::Raw))
        variants.push_back({QStringLiteral("raw_qsslsocket"), [=] {
                                return messagesPerSecond(
                                        rawThroughput<QSslServer, QSslSocket>(transport, size, count));
                            }});
    return runSecuredCase(transport, security, sizeLabel(size) + QStringLiteral("_throughput"), "msg/s", variants);
}

bool runHandshakeCase(Transport transport, Security security)
{
    const qint64 count = std::max<qint64>(10, qint64(double(g_config.handshakeCount) * g_config.scale));
    std::printf("# %s_handshakes: %lld timed handshakes per run after %lld warm-up ones\n",
                qPrintable(securedLabel(transport, security)), static_cast<long long>(count),
                static_cast<long long>(HandshakeWarmup));
    return runSecuredCase(transport, security, QStringLiteral("handshakes"), "handshakes/s",
                          plainAndSecured(security, [=](Security s) { return qonduitHandshakes(transport, s, count); }));
}

bool runRttCase(Transport transport, const Pinning &pinning)
{
    std::vector<double> results[3];
    for (int round = 0; moreRounds(round); ++round) {
        for (Impl impl : orderFor(round)) {
            const auto us = roundTrip(impl, transport, pinning.childCpu);
            if (!us) {
                std::fprintf(stderr, "bench_sockets: %s round trip (%s) %s failed: %s\n", transportName(transport),
                             pinning.label, implName(impl), qPrintable(g_failure));
                return false;
            }
            results[int(impl)].push_back(*us);
        }
    }
    const QString caseName = QString::fromLatin1(transportName(transport)) + QStringLiteral("_rtt_64B_")
            + QString::fromLatin1(pinning.label);
    std::printf("# %s: up to %lld round trips or %lld ms per run after %lld warm-up ones; every run (us):",
                qPrintable(caseName), static_cast<long long>(g_config.rttRounds),
                static_cast<long long>(g_config.rttRunMs), static_cast<long long>(g_config.rttWarmup));
    for (Impl impl : g_config.impls) {
        std::printf(" %s", implName(impl));
        for (double v : results[int(impl)])
            std::printf(" %.1f", v);
    }
    std::printf("\n");
    if (!hasImpl(Impl::Qonduit))
        return true;
    for (Impl base : {Impl::Raw, Impl::Zmq}) {
        if (!hasImpl(base))
            continue;
        printLine(caseName, median(results[int(Impl::Qonduit)]), median(results[int(base)]), "us", 2,
                  baseName(base, transport, true), true);
    }
    return true;
}

bool parseConfig(QCoreApplication &app)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Qonduit socket channels against raw Qt sockets and ZeroMQ."));
    parser.addHelpOption();
    const QCommandLineOption reps(QStringLiteral("reps"), QStringLiteral("Repetitions per case (5)."), QStringLiteral("n"));
    const QCommandLineOption scale(QStringLiteral("scale"), QStringLiteral("Multiplies the message counts (1)."), QStringLiteral("x"));
    const QCommandLineOption perTurn(QStringLiteral("per-turn"), QStringLiteral("Qonduit sender: most sendRaw() calls per event-loop turn (1024)."), QStringLiteral("n"));
    const QCommandLineOption timeout(QStringLiteral("timeout-ms"), QStringLiteral("A run that takes longer fails (20000)."), QStringLiteral("ms"));
    const QCommandLineOption budget(QStringLiteral("budget-ms"), QStringLiteral("No round beyond the third starts after this (90000)."), QStringLiteral("ms"));
    const QCommandLineOption rounds(QStringLiteral("rtt-rounds"), QStringLiteral("Timed round trips per run, at most (5000)."), QStringLiteral("n"));
    const QCommandLineOption rttMs(QStringLiteral("rtt-ms"), QStringLiteral("Timed round trips per run stop after this (300)."), QStringLiteral("ms"));
    const QCommandLineOption impls(QStringLiteral("impls"), QStringLiteral("Comma-separated: qonduit,raw,zmq."), QStringLiteral("list"));
    const QCommandLineOption transports(QStringLiteral("transports"), QStringLiteral("Comma-separated: tcp,local."), QStringLiteral("list"));
    const QCommandLineOption sizes(QStringLiteral("sizes"), QStringLiteral("Comma-separated message sizes in bytes."), QStringLiteral("list"));
    const QCommandLineOption noRtt(QStringLiteral("no-rtt"), QStringLiteral("Skip the round-trip cases."));
    const QCommandLineOption noThroughput(QStringLiteral("no-throughput"), QStringLiteral("Skip the throughput cases."));
    const QCommandLineOption noPsk(QStringLiteral("no-psk"), QStringLiteral("Skip the shared-key cases."));
    const QCommandLineOption noTls(QStringLiteral("no-tls"), QStringLiteral("Skip the tls:// cases."));
    const QCommandLineOption noHandshakes(QStringLiteral("no-handshakes"), QStringLiteral("Skip the handshakes-per-second cases."));
    const QCommandLineOption handshakes(QStringLiteral("handshakes"), QStringLiteral("Timed handshakes per run (200)."), QStringLiteral("n"));
    const QCommandLineOption verbose(QStringLiteral("verbose"), QStringLiteral("Print every run."));
    parser.addOptions({reps, scale, perTurn, timeout, budget, rounds, rttMs, impls, transports, sizes, noRtt, noThroughput, noPsk, noTls, noHandshakes,
                       handshakes, verbose});
    parser.process(app);
    if (parser.isSet(reps))
        g_config.reps = std::max(1, parser.value(reps).toInt());
    if (parser.isSet(scale))
        g_config.scale = parser.value(scale).toDouble();
    if (parser.isSet(perTurn))
        g_config.perTurn = std::max(1, parser.value(perTurn).toInt());
    if (parser.isSet(timeout))
        g_config.timeoutMs = std::max(100, parser.value(timeout).toInt());
    if (parser.isSet(budget))
        g_config.budgetMs = parser.value(budget).toLongLong();
    if (parser.isSet(rounds))
        g_config.rttRounds = std::max<qint64>(10, parser.value(rounds).toLongLong());
    if (parser.isSet(rttMs))
        g_config.rttRunMs = std::max<qint64>(1, parser.value(rttMs).toLongLong());
    g_config.throughput = !parser.isSet(noThroughput);
    g_config.rtt = !parser.isSet(noRtt);
    g_config.psk = !parser.isSet(noPsk);
    g_config.tls = !parser.isSet(noTls);
    g_config.handshakes = !parser.isSet(noHandshakes);
    if (parser.isSet(handshakes))
        g_config.handshakeCount = std::max<qint64>(10, parser.value(handshakes).toLongLong());
    g_config.verbose = parser.isSet(verbose);
    if (parser.isSet(impls)) {
        g_config.impls.clear();
        for (const QString &name : parser.value(impls).split(u',', Qt::SkipEmptyParts)) {
            if (name == u"qonduit")
                g_config.impls.push_back(Impl::Qonduit);
            else if (name == u"raw")
                g_config.impls.push_back(Impl::Raw);
            else if (name == u"zmq")
                g_config.impls.push_back(Impl::Zmq);
            else
                return fail(QStringLiteral("unknown implementation %1").arg(name));
        }
    }
#ifndef QONDUIT_BENCH_HAVE_ZMQ
    if (hasImpl(Impl::Zmq)) {
        std::printf("# built without cppzmq: the ZeroMQ baselines are left out\n");
        g_config.impls.erase(std::remove(g_config.impls.begin(), g_config.impls.end(), Impl::Zmq), g_config.impls.end());
    }
#endif
    if (parser.isSet(transports)) {
        g_config.transports.clear();
        for (const QString &name : parser.value(transports).split(u',', Qt::SkipEmptyParts)) {
            if (name == u"tcp")
                g_config.transports.push_back(Transport::Tcp);
            else if (name == u"local")
                g_config.transports.push_back(Transport::Local);
            else
                return fail(QStringLiteral("unknown transport %1").arg(name));
        }
    }
    if (parser.isSet(sizes)) {
        g_config.sizes.clear();
        for (const QString &size : parser.value(sizes).split(u',', Qt::SkipEmptyParts)) {
            const int n = size.toInt();
            if (n < 4)
                return fail(QStringLiteral("message sizes must be at least 4 bytes"));
            g_config.sizes.push_back(n);
        }
    }
    if (g_config.impls.empty())
        return fail(QStringLiteral("no implementation to run"));
    return true;
}

} // namespace

int main(int argc, char **argv)
{
    // No stdout buffering surprises when a run is piped: lines appear whole.
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    QCoreApplication app(argc, argv);
    const QStringList arguments = QCoreApplication::arguments();
    if (arguments.size() > 1 && arguments.at(1) == u"--peer")
        return peerMain(arguments);

    g_clock.start();
    if (!parseConfig(app)) {
        std::fprintf(stderr, "bench_sockets: %s\n", qPrintable(g_failure));
        return 2;
    }
    std::printf("# load average %s; %d CPUs\n", loadAverage().constData(), QThread::idealThreadCount());
    cpu_set_t original;
    CPU_ZERO(&original);
    sched_getaffinity(0, sizeof original, &original);

    bool ok = true;
    if (g_config.throughput) {
        for (Transport transport : g_config.transports) {
            for (int size : g_config.sizes) {
                if (ok)
                    ok = runThroughputCase(transport, size);
            }
        }
    }
    // The secured cases: (transport, security) pairs the options leave in.
    std::vector<std::pair<Transport, Security>> secured;
    const bool withTcp = std::find(g_config.transports.begin(), g_config.transports.end(), Transport::Tcp)
            != g_config.transports.end();
    if (g_config.tls && withTcp)
        secured.emplace_back(Transport::Tcp, Security::Tls);
    if (g_config.psk) {
        for (Transport transport : g_config.transports)
            secured.emplace_back(transport, Security::SharedKey);
    }
    if (!hasImpl(Impl::Qonduit))
        secured.clear();
    if (g_config.throughput) {
        for (const auto &[transport, security] : secured) {
            for (int size : {64, 64 * 1024}) {
                if (ok)
                    ok = runSecuredThroughputCase(transport, security, size);
            }
        }
    }
    if (g_config.handshakes) {
        for (const auto &[transport, security] : secured) {
            if (ok)
                ok = runHandshakeCase(transport, security);
        }
    }
    if (ok && g_config.rtt) {
        const int cpus = CPU_COUNT(&original);
        if (!CPU_ISSET(0, &original) || (cpus >= 2 && !CPU_ISSET(1, &original))) {
            std::fprintf(stderr, "bench_sockets: CPUs 0 and 1 are not both available to this process\n");
            return 1;
        }
        std::vector<Pinning> pinnings{{"1core", 0, 0}};
        if (cpus >= 2)
            pinnings.push_back({"2core", 0, 1});
        else
            std::printf("# one CPU only: the 2core round trips are left out\n");
        for (const Pinning &pinning : pinnings) {
            if (!pinProcess(pinning.parentCpu)) {
                std::fprintf(stderr, "bench_sockets: cannot pin this process to CPU %d\n", pinning.parentCpu);
                return 1;
            }
            for (Transport transport : g_config.transports) {
                if (ok)
                    ok = runRttCase(transport, pinning);
            }
        }
        pinProcess(-1, &original);
    }
    std::printf("# %.1f s in all; load average %s\n", double(g_clock.elapsed()) / 1000, loadAverage().constData());
    if (!ok) {
        std::fprintf(stderr, "bench_sockets: FAILED: %s\n", qPrintable(g_failure));
        return 1;
    }
    return 0;
}
