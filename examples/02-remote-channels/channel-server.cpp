// Qonduit example 02: remote channels, the server.
//
//   channel-server [URL]        default tcp://127.0.0.1:7000
//
// Listens on URL (tcp://HOST:PORT or local:NAME) and serves any number of
// clients at once. Each client that connects gets a channel of its own
// (ChannelServer::newChannel / nextPendingChannel), and on it:
//   - a Request (a typed message: a struct with QDataStream operators) is
//     answered with a Reply;
//   - the raw message "stats" is answered with raw bytes: a line of JSON with
//     the server's counters.
// When a client closes its sender, the server closes its own side of that
// client's channel: the client sees closed() and knows that everything it
// sent was handled.
//
// The first line of output is "listening on URL" with the real address (port
// 0 picks a free port). SIGINT (Ctrl-C) or SIGTERM stops the server with a
// summary; the exit status is 0 unless it could not listen.

#include "messages.h"
#include "tlsflags.h"

#include <Qonduit/channelserver.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMetaEnum>
#include <QtCore/QSocketNotifier>
#include <QtCore/QSysInfo>

#include <cstdio>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

using namespace Qonduit;
using RemoteExample::Reply;
using RemoteExample::Request;

namespace {

void say(const QString &line)
{
    std::fputs(line.toUtf8().append('\n').constData(), stdout);
    std::fflush(stdout);
}

QString errorName(Error error)
{
    return QString::fromLatin1(QMetaEnum::fromType<Error>().valueToKey(int(error)));
}

// What every session shares.
struct Counters
{
    int accepted = 0;
    int connected = 0;
    qint64 requests = 0;
    QElapsedTimer uptime;
};

// One connected client: its channel and what it asked for.
class Session final : public QObject
{
    Q_OBJECT

public:
    Session(int number, ChannelPair pair, Counters &counters, QObject *parent)
        : QObject(parent)
        , m_number(number)
        , m_pair(std::move(pair))
        , m_counters(counters)
    {
        ChannelReceiver *receiver = m_pair.receiver.get();
        connect(receiver, &ChannelReceiver::messageReceived, this, &Session::onMessage);
        connect(receiver, &ChannelReceiver::rawMessageReceived, this, &Session::onRawMessage);
        connect(receiver, &ChannelReceiver::closed, this, &Session::onClosed);
        for (ChannelEndpoint *end : {static_cast<ChannelEndpoint *>(m_pair.sender.get()),
                                     static_cast<ChannelEndpoint *>(receiver)}) {
            connect(end, &ChannelEndpoint::errorOccurred, this, [this, end](Error error) {
                log(QStringLiteral("error %1: %2").arg(errorName(error), end->errorString()));
            });
        }
        ++m_counters.connected;
        // On tcp:// and tls:// the peer address is the client's address and
        // port; the client end of a local socket has no name of its own.
        const QUrl peer = receiver->peerAddress();
        log(QStringLiteral("connected %1 (%2 connected now)")
                .arg(peer.scheme() == u"local" ? QStringLiteral("over the local socket")
                                               : QStringLiteral("from ") + peer.toString())
                .arg(m_counters.connected));
    }

private:
    void log(const QString &text) { say(QStringLiteral("[session %1] ").arg(m_number) + text); }

    void onMessage(const QVariant &message)
    {
        if (message.metaType() != QMetaType::fromType<Request>()) {
            log(QStringLiteral("ignored a message of type %1").arg(QString::fromLatin1(message.typeName())));
            return;
        }
        const auto request = message.value<Request>();
        ++m_requests;
        ++m_counters.requests;
        Reply reply;
        reply.id = request.id;
        reply.upper = request.text.toUpper();
        reply.words = RemoteExample::countWords(request.text);
        reply.server = QSysInfo::machineHostName() + QStringLiteral(" pid ")
            + QString::number(QCoreApplication::applicationPid());
        log(QStringLiteral("request #%1 \"%2\" -> %3 words").arg(request.id).arg(request.text).arg(reply.words));
        // send() fails only when the client is gone, which errorOccurred()
        // and closed() report.
        m_pair.sender->send(reply);
    }

    void onRawMessage(const QByteArray &data)
    {
        if (data != RemoteExample::statsCommand()) {
            log(QStringLiteral("ignored %1 raw bytes").arg(data.size()));
            return;
        }
        const QJsonObject stats{
            {QStringLiteral("clientsServed"), m_counters.accepted},
            {QStringLiteral("clientsConnected"), m_counters.connected},
            {QStringLiteral("requests"), double(m_counters.requests)},
            {QStringLiteral("uptimeMs"), double(m_counters.uptime.elapsed())},
        };
        log(QStringLiteral("stats"));
        m_pair.sender->sendRaw(QJsonDocument(stats).toJson(QJsonDocument::Compact));
    }

    void onClosed()
    {
        --m_counters.connected;
        log(QStringLiteral("closed its channel after %1 request(s); closing ours (%2 connected now)")
                .arg(m_requests)
                .arg(m_counters.connected));
        m_pair.sender->close();
        deleteLater();
    }

    const int m_number;
    ChannelPair m_pair;
    Counters &m_counters;
    qint64 m_requests = 0;
};

// SIGINT and SIGTERM quit the event loop through a pipe: a signal handler may
// only write(), the event loop then does the rest.
int signalPipe[2] = {-1, -1};

void quitOnSignals()
{
    if (::pipe2(signalPipe, O_CLOEXEC) != 0)
        return;
    struct sigaction action = {};
    action.sa_handler = [](int) {
        const char byte = 1;
        [[maybe_unused]] const ssize_t n = ::write(signalPipe[1], &byte, 1);
    };
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    auto *notifier = new QSocketNotifier(signalPipe[0], QSocketNotifier::Read, qApp);
    QObject::connect(notifier, &QSocketNotifier::activated, qApp, [notifier] {
        char byte = 0;
        [[maybe_unused]] const ssize_t n = ::read(signalPipe[0], &byte, 1);
        notifier->setEnabled(false);
        QCoreApplication::quit();
    });
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("channel-server"));
    // The library's info lines stay on: they tell about connections that
    // never became a channel (a failed handshake, a peer that is not a
    // Qonduit client). QT_LOGGING_RULES="qonduit.*.debug=true" adds traces.
    QLoggingCategory::setFilterRules(QStringLiteral("qonduit.*.debug=false"));
    RemoteExample::registerMessageTypes();

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Answers the requests of any number of channel-client processes."));
    parser.addHelpOption();
    parser.addPositionalArgument(QStringLiteral("url"),
                                 QStringLiteral("Where to listen: tcp://HOST:PORT or tls://HOST:PORT (0.0.0.0 for "
                                                "every network interface, port 0 for a free one; tls:// needs "
                                                "--cert and --key) or local:NAME. "
                                                "Default: tcp://127.0.0.1:7000."));
    const RemoteExample::TlsFlags tlsFlags;
    tlsFlags.addTo(parser);
    parser.process(app);
    const QStringList positional = parser.positionalArguments();
    if (positional.size() > 1)
        parser.showHelp(2);
    const QUrl url(positional.value(0, QStringLiteral("tcp://127.0.0.1:7000")));
    ChannelOptions options;
    QString tlsError;
    if (!tlsFlags.read(parser, true, options.tls, &tlsError)) {
        std::fprintf(stderr, "channel-server: %s\n", qPrintable(tlsError));
        return 1;
    }

    Counters counters;
    counters.uptime.start();
    ChannelServer server;
    server.setChannelOptions(options);
    if (!server.listen(url)) {
        std::fprintf(stderr, "channel-server: cannot listen on %s: %s (%s)\n", qPrintable(url.toString()),
                     qPrintable(server.errorString()), qPrintable(errorName(server.error())));
        return 1;
    }
    say(QStringLiteral("listening on %1").arg(server.address().toString()));
    if (server.address().host() == u"0.0.0.0" || server.address().host() == u"::") {
        say(QStringLiteral("clients on other machines connect with: channel-client tcp://%1:%2")
                .arg(QSysInfo::machineHostName())
                .arg(server.address().port()));
    }

    QObject::connect(&server, &ChannelServer::newChannel, &server, [&] {
        while (server.hasPendingChannels())
            new Session(++counters.accepted, server.nextPendingChannel(), counters, &server);
    });

    quitOnSignals();
    const int status = app.exec();
    say(QStringLiteral("stopping: served %1 client(s), %2 request(s), %3 still connected")
            .arg(counters.accepted)
            .arg(counters.requests)
            .arg(counters.connected));
    return status;
}

#include "channel-server.moc"
