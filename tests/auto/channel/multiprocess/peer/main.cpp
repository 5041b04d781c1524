// qonduit_test_peer: the other process of tst_multiprocess.
//
//   qonduit_test_peer echo URL               connect; send back every message (typed and raw)
//   qonduit_test_peer serve URL              listen; echo for every client that connects
//   qonduit_test_peer stream URL TYPED [RAW [SCALE]]
//                                            connect; send TYPED Samples, then RAW raw
//                                            messages (RAW -1 or none: until killed),
//                                            sequence numbers contiguous from 0, sizes
//                                            up to SCALE * 4 KiB, as fast as the channel
//                                            takes them
//   qonduit_test_peer ping URL COUNT         connect; send COUNT messages (typed and raw
//                                            alternately) and check that each comes back
//   qonduit_test_peer connect-raw URL [HEX]  open a plain socket, write HEX bytes (default
//                                            none) and wait: a peer stuck in its handshake
//   qonduit_test_peer unknown-type URL       send a type only this process knows, then 7
//
// Talking to the test: one line per event on stdout, which the test waits for
// instead of sleeping:
//   ready [URL]      connected (connect modes) or listening at URL (serve)
//   done             this side has sent everything and closed its sender
//   ok               ping: every echo came back intact and in order
//   received HEX     connect-raw: bytes the server sent
//   closed           connect-raw: the server closed the socket
//   error NAME TEXT  a Qonduit error; the exit code is then non-zero
// The process exits when its stdin reaches end of file (the test closes it),
// and ping, connect-raw and unknown-type also when their conversation is over.
//
// Why "echo" waits for stdin: once a process has closed its sender, nothing in
// the API says when the CLOSE has left the socket, so a process that exited at
// once could cut its own last frames. The test closes stdin when it has seen
// the end of the channel. ping and unknown-type need no such help: they close
// first and exit when the test's side closes in answer, which proves that
// everything they sent arrived.
//
// Exit codes: 0 success, 1 a check or an error, 2 bad arguments or setup.

#include "../peermessages.h"

#include <Qonduit/channel.h>
#include <Qonduit/channelserver.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QMetaEnum>
#include <QtCore/QSocketNotifier>
#include <QtCore/QThread>
#include <QtNetwork/QLocalSocket>
#include <QtNetwork/QTcpSocket>

#include <atomic>
#include <cstdio>
#include <memory>
#include <vector>

#include <unistd.h>

using namespace Qonduit;
using PeerMessages::Sample;

namespace {

// Known to this process only: the test cannot decode it.
struct ChildOnly
{
    int value = 0;
    friend QDataStream &operator<<(QDataStream &out, const ChildOnly &c) { return out << c.value; }
    friend QDataStream &operator>>(QDataStream &in, ChildOnly &c) { return in >> c.value; }
};

} // namespace

Q_DECLARE_METATYPE(ChildOnly)

namespace {

// fail() may run on the stream producer thread.
std::atomic<int> exitCode{0};

void say(const QString &line)
{
    std::fputs(line.toUtf8().append('\n').constData(), stdout);
    std::fflush(stdout);
}

void fail(const QString &line)
{
    exitCode = 1;
    say(line);
}

QString errorName(Error error)
{
    return QString::fromLatin1(QMetaEnum::fromType<Error>().valueToKey(int(error)));
}

void reportErrors(ChannelEndpoint *end)
{
    QObject::connect(end, &ChannelEndpoint::errorOccurred, end, [end](Error error) {
        fail(QStringLiteral("error %1 %2").arg(errorName(error), end->errorString()));
    });
}

// Everything a mode keeps alive, destroyed in main() while the application
// still exists.
struct Session
{
    ChannelPair pair;
    std::unique_ptr<ChannelServer> server;
    std::vector<ChannelPair> clients;
    std::unique_ptr<QThread> producer;
};

void quitWith(int code)
{
    if (code != 0)
        exitCode = code;
    QCoreApplication::exit(exitCode);
}

// Sends back everything the receiver delivers; closes the sender when the
// receiver closes. Used by echo (one) and serve (one per client).
void echo(ChannelPair &pair)
{
    ChannelSender *sender = pair.sender.get();
    ChannelReceiver *receiver = pair.receiver.get();
    QObject::connect(receiver, &ChannelReceiver::messageReceived, sender, [sender](const QVariant &message) {
        if (!sender->send(message))
            fail(QStringLiteral("error %1 echo: %2").arg(errorName(sender->error()), sender->errorString()));
    });
    QObject::connect(receiver, &ChannelReceiver::rawMessageReceived, sender, [sender](const QByteArray &data) {
        if (!sender->sendRaw(data))
            fail(QStringLiteral("error %1 echo: %2").arg(errorName(sender->error()), sender->errorString()));
    });
    QObject::connect(receiver, &ChannelReceiver::closed, sender, [sender] { sender->close(); });
}

int runEcho(Session &session, const QUrl &url)
{
    ChannelPair &pair = session.pair;
    pair = Channel::connectTo(url);
    reportErrors(pair.sender.get());
    reportErrors(pair.receiver.get());
    QObject::connect(pair.receiver.get(), &ChannelReceiver::connected, [] { say(QStringLiteral("ready")); });
    echo(pair);
    QObject::connect(pair.receiver.get(), &ChannelReceiver::closed, [] { say(QStringLiteral("done")); });
    return -1;
}

int runServe(Session &session, const QUrl &url)
{
    session.server = std::make_unique<ChannelServer>();
    ChannelServer *server = session.server.get();
    if (!server->listen(url)) {
        say(QStringLiteral("error %1 %2").arg(errorName(server->error()), server->errorString()));
        return 2;
    }
    QObject::connect(server, &ChannelServer::newChannel, server, [server, &clients = session.clients] {
        while (server->hasPendingChannels()) {
            clients.push_back(server->nextPendingChannel());
            echo(clients.back());
        }
    });
    say(QStringLiteral("ready ") + server->address().toString());
    return -1;
}

// The producer runs on a thread without an event loop, where send() may wait
// for room: the stream goes exactly as fast as the channel takes it. The
// sender stays in the main thread (send() and close() are safe from any
// thread), so that main() can close it to release a producer that waits.
int runStream(Session &session, const QUrl &url, qint64 typed, qint64 raw, int scale)
{
    ChannelPair &pair = session.pair;
    pair = Channel::connectTo(url);
    reportErrors(pair.receiver.get());
    QObject::connect(pair.receiver.get(), &ChannelReceiver::connected, [] { say(QStringLiteral("ready")); });
    QObject::connect(pair.receiver.get(), &ChannelReceiver::closed, [] { quitWith(0); });

    ChannelSender *sender = pair.sender.get();
    session.producer.reset(QThread::create([sender, typed, raw, scale] {
        qint64 sequence = 0;
        bool ok = true;
        for (; ok && sequence < typed; ++sequence)
            ok = sender->send(PeerMessages::makeSample(sequence, scale));
        for (; ok && (raw < 0 || sequence < typed + raw); ++sequence)
            ok = sender->sendRaw(PeerMessages::makeRaw(sequence, scale));
        if (!ok) {
            fail(QStringLiteral("error %1 stream #%2: %3")
                     .arg(errorName(sender->error()))
                     .arg(sequence - 1)
                     .arg(sender->errorString()));
        }
        sender->close();
        say(QStringLiteral("done"));
    }));
    session.producer->start();
    return -1;
}

int runPing(Session &session, const QUrl &url, qint64 count)
{
    ChannelPair &pair = session.pair;
    pair = Channel::connectTo(url);
    ChannelSender *sender = pair.sender.get();
    ChannelReceiver *receiver = pair.receiver.get();
    reportErrors(sender);
    reportErrors(receiver);
    QObject::connect(receiver, &ChannelReceiver::connected, [] { say(QStringLiteral("ready")); });
    auto next = std::make_shared<qint64>(0);
    const auto arrived = [count, next, sender](qint64 sequence, const QString &what) {
        if (sequence != *next)
            fail(QStringLiteral("error echo: expected #%1, got %2 %3").arg(*next).arg(what).arg(sequence));
        *next = sequence + 1;
        if (*next == count) {
            say(QStringLiteral("ok"));
            sender->close(); // the test answers with its own close: then everything has arrived
        }
    };
    QObject::connect(receiver, &ChannelReceiver::messageReceived, [arrived](const QVariant &message) {
        const auto sample = message.value<Sample>();
        arrived(PeerMessages::isIntact(sample) && sample.sequence % 2 == 0 ? sample.sequence : -1,
                QStringLiteral("typed"));
    });
    QObject::connect(receiver, &ChannelReceiver::rawMessageReceived, [arrived](const QByteArray &data) {
        const qint64 sequence = PeerMessages::rawSequence(data);
        arrived(sequence % 2 == 1 ? sequence : -1, QStringLiteral("raw"));
    });
    QObject::connect(receiver, &ChannelReceiver::closed, [count, next] {
        if (*next != count)
            fail(QStringLiteral("error closed after %1 of %2 echoes").arg(*next).arg(count));
        quitWith(0);
    });
    for (qint64 i = 0; i < count; ++i) {
        const bool sent = i % 2 == 0 ? sender->send(PeerMessages::makeSample(i))
                                     : sender->sendRaw(PeerMessages::makeRaw(i));
        if (!sent)
            return 1;
    }
    return -1;
}

int runConnectRaw(const QUrl &url, const QByteArray &bytes)
{
    QIODevice *device = nullptr;
    if (url.scheme() == u"tcp") {
        auto *socket = new QTcpSocket(qApp);
        QObject::connect(socket, &QTcpSocket::connected, [socket, bytes] {
            socket->write(bytes);
            say(QStringLiteral("ready"));
        });
        QObject::connect(socket, &QTcpSocket::disconnected, [] {
            say(QStringLiteral("closed"));
            quitWith(0);
        });
        QObject::connect(socket, &QTcpSocket::errorOccurred, [socket](QAbstractSocket::SocketError error) {
            if (error != QAbstractSocket::RemoteHostClosedError)
                fail(QStringLiteral("error socket %1").arg(socket->errorString()));
        });
        socket->connectToHost(url.host(), quint16(url.port()));
        device = socket;
    } else {
        auto *socket = new QLocalSocket(qApp);
        QObject::connect(socket, &QLocalSocket::connected, [socket, bytes] {
            socket->write(bytes);
            say(QStringLiteral("ready"));
        });
        QObject::connect(socket, &QLocalSocket::disconnected, [] {
            say(QStringLiteral("closed"));
            quitWith(0);
        });
        QObject::connect(socket, &QLocalSocket::errorOccurred, [socket](QLocalSocket::LocalSocketError error) {
            if (error != QLocalSocket::PeerClosedError)
                fail(QStringLiteral("error socket %1").arg(socket->errorString()));
        });
        socket->connectToServer(url.path());
        device = socket;
    }
    // What the server sends a peer that never finished its handshake: the
    // test checks it against docs/protocol.md.
    QObject::connect(device, &QIODevice::readyRead, [device] {
        say(QStringLiteral("received ") + QString::fromLatin1(device->readAll().toHex()));
    });
    return -1;
}

int runUnknownType(Session &session, const QUrl &url)
{
    ChannelPair &pair = session.pair;
    pair = Channel::connectTo(url);
    reportErrors(pair.sender.get());
    reportErrors(pair.receiver.get());
    QObject::connect(pair.receiver.get(), &ChannelReceiver::connected, [] { say(QStringLiteral("ready")); });
    QObject::connect(pair.receiver.get(), &ChannelReceiver::closed, [] { quitWith(0); });
    if (!pair.sender->send(ChildOnly{42}) || !pair.sender->send(7))
        return 1;
    pair.sender->close();
    say(QStringLiteral("done"));
    return -1;
}

// The test closes the write end of our stdin to say "exit now"; a test that
// dies closes it too, so no peer outlives its test.
void exitAtEndOfInput()
{
    auto *notifier = new QSocketNotifier(STDIN_FILENO, QSocketNotifier::Read, qApp);
    QObject::connect(notifier, &QSocketNotifier::activated, [notifier] {
        char buffer[256];
        const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (n <= 0) {
            notifier->setEnabled(false);
            quitWith(0);
        }
    });
}

int usage()
{
    std::fputs("usage: qonduit_test_peer echo|serve|unknown-type URL\n"
               "       qonduit_test_peer stream URL TYPED [RAW [SCALE]]\n"
               "       qonduit_test_peer ping URL COUNT\n"
               "       qonduit_test_peer connect-raw URL [HEX]\n",
               stderr);
    return 2;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    qRegisterMetaType<Sample>();
    qRegisterMetaType<ChildOnly>();

    const QStringList args = app.arguments().mid(1);
    if (args.size() < 2)
        return usage();
    const QString mode = args.at(0);
    const QUrl url(args.at(1));
    const auto number = [&args](int index, qint64 fallback) {
        bool ok = index < args.size();
        const qint64 value = ok ? args.at(index).toLongLong(&ok) : fallback;
        return ok ? value : fallback;
    };

    Session session;
    int setup = 2;
    if (mode == u"echo")
        setup = runEcho(session, url);
    else if (mode == u"serve")
        setup = runServe(session, url);
    else if (mode == u"stream" && args.size() >= 3)
        setup = runStream(session, url, number(2, 0), number(3, -1), int(qBound(qint64(1), number(4, 1), qint64(1024))));
    else if (mode == u"ping" && args.size() >= 3)
        setup = runPing(session, url, number(2, 0));
    else if (mode == u"connect-raw")
        setup = runConnectRaw(url, QByteArray::fromHex(args.value(2).toLatin1()));
    else if (mode == u"unknown-type")
        setup = runUnknownType(session, url);
    else
        return usage();
    if (setup >= 0)
        return setup;

    exitAtEndOfInput();
    const int code = app.exec();
    // A producer that waits for room wakes up to a closed sender.
    if (session.pair.sender)
        session.pair.sender->close();
    if (session.producer)
        session.producer->wait();
    return code;
}
