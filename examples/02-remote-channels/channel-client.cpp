// Qonduit example 02: remote channels, the client.
//
//   channel-client URL [--requests N] [--name NAME] [--timeout SECONDS]
//
// Connects to a channel-server at URL (tcp://HOST:PORT or local:NAME), sends
// N requests (typed messages) and checks each reply, asks for the server's
// counters with the raw message "stats", then closes its sender and waits for
// the server to close its side: that closed() is the proof that the server
// handled everything this client sent.
//
// Exit status: 0 when every reply arrived and was right; 1 on any error,
// with the error's name and text (connection refused, the server went away,
// a wrong reply, no answer within the timeout); 2 for bad arguments.

#include "messages.h"
#include "tlsflags.h"

#include <Qonduit/channel.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMetaEnum>
#include <QtCore/QTimer>

#include <array>
#include <cstdio>

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

const std::array<const char *, 5> sentences{
    "the quick brown fox jumps over the lazy dog",
    "channels feel native to Qt",
    "one receiver many senders",
    "messages arrive as signals",
    "hello",
};

class Client final : public QObject
{
    Q_OBJECT

public:
    Client(const QString &url, const ChannelOptions &options, int requests, const QString &name, int timeoutSeconds)
        : m_url(url)
        , m_options(options)
        , m_requests(requests)
        , m_name(name)
        , m_timeoutSeconds(timeoutSeconds)
    {
    }

    void start()
    {
        m_clock.start();
        say(QStringLiteral("connecting to %1").arg(m_url));
        // Returns at once: connected() or errorOccurred() follows from the
        // event loop.
        m_channel = Channel::connectTo(QUrl(m_url), m_options);
        ChannelSender *sender = m_channel.sender.get();
        ChannelReceiver *receiver = m_channel.receiver.get();
        connect(sender, &ChannelSender::connected, this, &Client::onConnected);
        connect(receiver, &ChannelReceiver::messageReceived, this, &Client::onReply);
        connect(receiver, &ChannelReceiver::rawMessageReceived, this, &Client::onStats);
        connect(receiver, &ChannelReceiver::closed, this, &Client::onClosed);
        for (ChannelEndpoint *end : {static_cast<ChannelEndpoint *>(sender), static_cast<ChannelEndpoint *>(receiver)}) {
            connect(end, &ChannelEndpoint::errorOccurred, this,
                    [this, end](Error error) { fail(QStringLiteral("%1: %2").arg(errorName(error), end->errorString())); });
        }
        // A guard, not a wait: a server that never answers is an error too.
        QTimer::singleShot(m_timeoutSeconds * 1000, this, [this] {
            fail(QStringLiteral("no answer within %1 s (%2 of %3 replies so far)")
                     .arg(m_timeoutSeconds)
                     .arg(m_replies)
                     .arg(m_requests));
        });
    }

private:
    QString textFor(int id) const
    {
        const QString sentence = QString::fromLatin1(sentences[std::size_t(id - 1) % sentences.size()]);
        return m_name.isEmpty() ? sentence : sentence + QStringLiteral(" from ") + m_name;
    }

    void onConnected()
    {
        say(QStringLiteral("connected after %1 ms; sending %2 request(s)").arg(m_clock.elapsed()).arg(m_requests));
        for (int id = 1; id <= m_requests; ++id)
            m_channel.sender->send(Request{quint32(id), textFor(id)});
        if (m_requests == 0)
            askForStats();
    }

    void onReply(const QVariant &message)
    {
        if (message.metaType() != QMetaType::fromType<Reply>())
            return fail(QStringLiteral("expected a Reply, got a %1").arg(QString::fromLatin1(message.typeName())));
        const auto reply = message.value<Reply>();
        const int expectedId = m_replies + 1;
        const QString text = textFor(expectedId);
        if (reply.id != quint32(expectedId) || reply.upper != text.toUpper()
            || reply.words != RemoteExample::countWords(text)) {
            return fail(QStringLiteral("wrong reply #%1 to request #%2: \"%3\", %4 words")
                            .arg(reply.id)
                            .arg(expectedId)
                            .arg(reply.upper)
                            .arg(reply.words));
        }
        ++m_replies;
        say(QStringLiteral("reply #%1: \"%2\" (%3 words, from %4)")
                .arg(reply.id)
                .arg(reply.upper)
                .arg(reply.words)
                .arg(reply.server));
        if (m_replies == m_requests)
            askForStats();
    }

    void askForStats()
    {
        m_channel.sender->sendRaw(RemoteExample::statsCommand());
    }

    void onStats(const QByteArray &json)
    {
        m_gotStats = true;
        say(QStringLiteral("server stats: %1").arg(QString::fromUtf8(json)));
        // Done: closing our sender tells the server, which closes its side.
        say(QStringLiteral("closing the channel"));
        m_channel.sender->close();
    }

    void onClosed()
    {
        if (m_done)
            return;
        if (m_replies != m_requests || !m_gotStats) {
            return fail(QStringLiteral("the server closed the channel after %1 of %2 replies")
                            .arg(m_replies)
                            .arg(m_requests));
        }
        m_done = true;
        say(QStringLiteral("done: %1 replies in %2 ms").arg(m_replies).arg(m_clock.elapsed()));
        QCoreApplication::exit(0);
    }

    void fail(const QString &text)
    {
        if (m_done)
            return;
        m_done = true;
        std::fprintf(stderr, "channel-client: error: %s\n", qPrintable(text));
        QCoreApplication::exit(1);
    }

    const QString m_url;
    const ChannelOptions m_options;
    const int m_requests;
    const QString m_name;
    const int m_timeoutSeconds;
    ChannelPair m_channel;
    QElapsedTimer m_clock;
    int m_replies = 0;
    bool m_gotStats = false;
    bool m_done = false;
};

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("channel-client"));
    // The client reports every error itself (errorOccurred() and
    // errorString()); the library's own info lines would only repeat them.
    // QT_LOGGING_RULES still wins.
    QLoggingCategory::setFilterRules(QStringLiteral("qonduit.*.debug=false\nqonduit.*.info=false"));
    RemoteExample::registerMessageTypes();

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Sends requests to a channel-server and checks the replies."));
    parser.addHelpOption();
    parser.addPositionalArgument(QStringLiteral("url"),
                                 QStringLiteral("The server: tcp://HOST:PORT, tls://HOST:PORT (with --ca) or local:NAME."));
    const QCommandLineOption requestsOption(QStringLiteral("requests"), QStringLiteral("How many requests (default 3)."),
                                            QStringLiteral("N"), QStringLiteral("3"));
    const QCommandLineOption nameOption(QStringLiteral("name"), QStringLiteral("A name to put into the requests."),
                                        QStringLiteral("NAME"));
    const QCommandLineOption timeoutOption(QStringLiteral("timeout"),
                                           QStringLiteral("Give up after this many seconds (default 30)."),
                                           QStringLiteral("SECONDS"), QStringLiteral("30"));
    parser.addOptions({requestsOption, nameOption, timeoutOption});
    const RemoteExample::TlsFlags tlsFlags;
    tlsFlags.addTo(parser);
    parser.process(app);
    ChannelOptions options;
    QString tlsError;
    if (!tlsFlags.read(parser, false, options.tls, &tlsError)) {
        std::fprintf(stderr, "channel-client: %s\n", qPrintable(tlsError));
        return 1;
    }

    bool requestsOk = false;
    bool timeoutOk = false;
    const int requests = parser.value(requestsOption).toInt(&requestsOk);
    const int timeout = parser.value(timeoutOption).toInt(&timeoutOk);
    if (parser.positionalArguments().size() != 1 || !requestsOk || requests < 0 || !timeoutOk || timeout <= 0) {
        std::fputs(qPrintable(parser.helpText()), stderr);
        return 2;
    }

    Client client(parser.positionalArguments().constFirst(), options, requests, parser.value(nameOption), timeout);
    client.start();
    return app.exec();
}

#include "channel-client.moc"
