// Qonduit example 04: a live QML dashboard, the producer.
//
//   dashboard-producer [--listen URL] [--interval MS]
//
// Serves live values to any number of clients with a ChannelServer
// (default local:qonduit-dashboard; tcp://HOST:PORT works too). Every
// client gets the same stream of QVariantMaps, which QML sees as
// JavaScript objects:
//   - every MS milliseconds (default 50) a sample
//     {kind: "sample", time, temperature, pressure, load, setpoint};
//   - now and then an event {kind: "event", time, level, text}: when the
//     load crosses its alarm threshold, a status line every few seconds, a
//     welcome to each new client.
// What clients send back are commands: {setpoint: NUMBER} moves the
// temperature towards a new set point, {note: TEXT} is passed on to every
// client as an event. Each command is printed and announced as an event, so
// a dashboard sees the effect of what it sent.
//
// The first line of output is "listening on URL" with the real address
// (tcp:// port 0 picks a free port). Ctrl-C (SIGINT) or SIGTERM stops it.

#include <Qonduit/channelserver.h>

#include <QtCore/QCborMap>
#include <QtCore/QCborValue>
#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtCore/QMetaEnum>
#include <QtCore/QRandomGenerator>
#include <QtCore/QTimer>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <vector>

using namespace Qonduit;

namespace {

// Set by SIGINT and SIGTERM; the sample timer sees it and quits, so that the
// server closes and removes its socket file.
volatile std::sig_atomic_t stopRequested = 0;

void say(const QString &line)
{
    std::fputs(line.toUtf8().append('\n').constData(), stdout);
    std::fflush(stdout);
}

// A message sent from QML crosses the socket as CBOR (so that peers not
// written with Qt read it too); one sent by a Qt program as a QVariantMap.
QVariantMap asMap(const QVariant &message)
{
    if (message.metaType() == QMetaType::fromType<QCborMap>())
        return message.value<QCborMap>().toVariantMap();
    if (message.metaType() == QMetaType::fromType<QCborValue>())
        return message.value<QCborValue>().toMap().toVariantMap();
    return message.toMap();
}

// Values that move smoothly: a few sines plus a slow random walk, so that a
// chart of them looks like a real signal and two frames never match.
class Signals
{
public:
    QVariantMap next(double seconds)
    {
        m_walk = 0.97 * m_walk + noise(0.35);
        m_base += 0.04 * (m_setpoint - m_base);
        m_load = std::clamp(52 + 30 * std::sin(seconds * 0.7) * std::sin(seconds * 0.11 + 0.5)
                                + 6 * std::sin(seconds * 3.1) + noise(2.0),
                            0.0, 100.0);
        return {
            {QStringLiteral("kind"), QStringLiteral("sample")},
            {QStringLiteral("time"), QDateTime::currentDateTime()},
            {QStringLiteral("temperature"),
             m_base + 2.5 * std::sin(seconds * 0.9) + 0.8 * std::sin(seconds * 2.7) + m_walk},
            {QStringLiteral("pressure"), 1013 + 7 * std::sin(seconds * 0.23 + 1) + noise(0.3)},
            {QStringLiteral("load"), m_load},
            {QStringLiteral("setpoint"), m_setpoint},
        };
    }
    double load() const { return m_load; }
    double setpoint() const { return m_setpoint; }
    void setSetpoint(double value) { m_setpoint = value; }

private:
    static double noise(double amplitude)
    {
        return amplitude * (2 * QRandomGenerator::global()->generateDouble() - 1);
    }

    double m_setpoint = 21;
    double m_base = 21;
    double m_walk = 0;
    double m_load = 0;
};

QVariantMap eventMessage(const QString &level, const QString &text)
{
    return {
        {QStringLiteral("kind"), QStringLiteral("event")},
        {QStringLiteral("time"), QDateTime::currentDateTime()},
        {QStringLiteral("level"), level},
        {QStringLiteral("text"), text},
    };
}

class Producer final : public QObject
{
    Q_OBJECT

public:
    explicit Producer(int intervalMs)
    {
        m_clock.start();
        connect(&m_server, &ChannelServer::newChannel, this, &Producer::acceptClients);
        connect(&m_sampleTimer, &QTimer::timeout, this, &Producer::sendSample);
        m_sampleTimer.start(intervalMs);
        connect(&m_statusTimer, &QTimer::timeout, this, &Producer::sendStatus);
        m_statusTimer.start(4000);
    }

    bool listen(const QUrl &url)
    {
        if (m_server.listen(url))
            return true;
        std::fprintf(stderr, "dashboard-producer: cannot listen on %s: %s\n", qPrintable(url.toString()),
                     qPrintable(m_server.errorString()));
        return false;
    }
    QUrl address() const { return m_server.address(); }

private:
    struct Client
    {
        int number;
        ChannelPair pair;
    };

    void acceptClients()
    {
        while (m_server.hasPendingChannels()) {
            Client client{++m_accepted, m_server.nextPendingChannel()};
            const int number = client.number;
            ChannelReceiver *receiver = client.pair.receiver.get();
            connect(receiver, &ChannelReceiver::messageReceived, this,
                    [this, number](const QVariant &message) { onCommand(number, message); });
            connect(receiver, &ChannelReceiver::closed, this, [this, number] { dropClient(number); });
            client.pair.sender->send(eventMessage(QStringLiteral("info"),
                                           QStringLiteral("Welcome, client %1").arg(number)));
            m_clients.push_back(std::move(client));
            say(QStringLiteral("client %1 connected (%2 now)").arg(number).arg(m_clients.size()));
        }
    }

    void dropClient(int number)
    {
        // Erasing destroys the pair: not from inside its own signal.
        QTimer::singleShot(0, this, [this, number] {
            m_clients.erase(std::remove_if(m_clients.begin(), m_clients.end(),
                                           [number](const Client &c) { return c.number == number; }),
                            m_clients.end());
            say(QStringLiteral("client %1 left (%2 now)").arg(number).arg(m_clients.size()));
        });
    }

    void broadcast(const QVariantMap &message)
    {
        // A client that cannot keep up or is going away refuses; the others
        // still get the message, and closed() removes the one that left.
        for (const Client &client : m_clients)
            client.pair.sender->send(message);
    }

    void sendSample()
    {
        if (stopRequested) {
            QCoreApplication::quit();
            return;
        }
        broadcast(m_signals.next(m_clock.elapsed() / 1000.0));
        ++m_samples;
        // An alarm with hysteresis, so that noise around the threshold does
        // not flood the event lists.
        if (!m_loadAlarm && m_signals.load() > LoadAlarm) {
            m_loadAlarm = true;
            broadcast(eventMessage(QStringLiteral("warning"), QStringLiteral("Load above %1 %: %2 %")
                                                                  .arg(LoadAlarm)
                                                                  .arg(m_signals.load(), 0, 'f', 1)));
        } else if (m_loadAlarm && m_signals.load() < LoadAlarm - 10) {
            m_loadAlarm = false;
            broadcast(eventMessage(QStringLiteral("info"), QStringLiteral("Load back to normal: %1 %")
                                                               .arg(m_signals.load(), 0, 'f', 1)));
        }
    }

    void sendStatus()
    {
        broadcast(eventMessage(QStringLiteral("status"), QStringLiteral("Sent %1 samples to %2 clients")
                                                      .arg(m_samples)
                                                      .arg(m_clients.size())));
    }

    void onCommand(int client, const QVariant &message)
    {
        const QVariantMap command = asMap(message);
        bool isNumber = false;
        const double setpoint = command.value(QStringLiteral("setpoint")).toDouble(&isNumber);
        if (isNumber && std::isfinite(setpoint)) {
            m_signals.setSetpoint(std::clamp(setpoint, -50.0, 150.0));
            say(QStringLiteral("client %1: setpoint %2").arg(client).arg(m_signals.setpoint()));
            broadcast(eventMessage(QStringLiteral("command"), QStringLiteral("Client %1 set the set point to %2 °C")
                                                           .arg(client)
                                                           .arg(m_signals.setpoint())));
        } else if (command.contains(QStringLiteral("note"))) {
            const QString note = command.value(QStringLiteral("note")).toString();
            say(QStringLiteral("client %1: note \"%2\"").arg(QString::number(client), note));
            broadcast(eventMessage(QStringLiteral("note"), QStringLiteral("Client %1: %2").arg(QString::number(client), note)));
        } else {
            say(QStringLiteral("client %1: ignored a message of type %2")
                    .arg(client)
                    .arg(QString::fromLatin1(message.typeName())));
        }
    }

    static constexpr double LoadAlarm = 80;

    ChannelServer m_server;
    std::vector<Client> m_clients;
    Signals m_signals;
    QElapsedTimer m_clock;
    QTimer m_sampleTimer;
    QTimer m_statusTimer;
    int m_accepted = 0;
    qint64 m_samples = 0;
    bool m_loadAlarm = false;
};

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("dashboard-producer"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Serves live samples and events to qonduit-dashboard."));
    parser.addHelpOption();
    const QCommandLineOption listenOption(QStringLiteral("listen"),
                                          QStringLiteral("Where to listen: local:NAME or tcp://HOST:PORT. "
                                                         "Default: local:qonduit-dashboard."),
                                          QStringLiteral("url"), QStringLiteral("local:qonduit-dashboard"));
    const QCommandLineOption intervalOption(QStringLiteral("interval"),
                                            QStringLiteral("Milliseconds between samples. Default: 50."),
                                            QStringLiteral("ms"), QStringLiteral("50"));
    parser.addOptions({listenOption, intervalOption});
    parser.process(app);

    bool ok = false;
    const int interval = parser.value(intervalOption).toInt(&ok);
    if (!ok || interval < 1) {
        std::fprintf(stderr, "dashboard-producer: --interval needs a positive number of milliseconds\n");
        return 2;
    }
    Producer producer(interval);
    if (!producer.listen(QUrl(parser.value(listenOption))))
        return 1;
    say(QStringLiteral("listening on %1").arg(producer.address().toString()));
    for (const int signal : {SIGINT, SIGTERM})
        std::signal(signal, [](int) { stopRequested = 1; });
    const int status = app.exec();
    say(QStringLiteral("stopping"));
    return status;
}

#include "dashboard-producer.moc"
