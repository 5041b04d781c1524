// Example 04 (examples/04-qml-dashboard) end to end: a real dashboard-producer
// process, and qonduit-dashboard --screenshot rendering offscreen from its
// channels. The pictures must show real data that moves.

#include <Qonduit/channel.h>

#include <QtCore/QCborMap>
#include <QtCore/QProcess>
#include <QtCore/QTemporaryDir>
#include <QtGui/QColor>
#include <QtGui/QImage>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <QtCore/QSet>

using namespace Qonduit;

namespace {

// Main.qml: the chart window (760x480) and the event window (440x480) side by side.
constexpr QSize ShotSize(760 + 440, 480);
// Inside the chart's plot area (ChartWindow.qml, LineChart.qml), clear of
// its axis labels.
constexpr QRect PlotArea(60, 250, 640, 170);
const QColor TemperatureColor(0xff, 0x9f, 0x43);

int distinctColours(const QImage &image)
{
    QSet<QRgb> colours;
    for (int y = 0; y < image.height(); ++y) {
        for (int x = 0; x < image.width(); ++x)
            colours.insert(image.pixel(x, y));
    }
    return int(colours.size());
}

int pixelsNear(const QImage &image, const QRect &area, const QColor &colour)
{
    int count = 0;
    for (int y = area.top(); y <= area.bottom(); ++y) {
        for (int x = area.left(); x <= area.right(); ++x) {
            const QColor c = image.pixelColor(x, y);
            if (qAbs(c.red() - colour.red()) + qAbs(c.green() - colour.green()) + qAbs(c.blue() - colour.blue()) < 60)
                ++count;
        }
    }
    return count;
}

int differentPixels(const QImage &a, const QImage &b, const QRect &area)
{
    int count = 0;
    for (int y = area.top(); y <= area.bottom(); ++y) {
        for (int x = area.left(); x <= area.right(); ++x)
            count += a.pixel(x, y) != b.pixel(x, y);
    }
    return count;
}

} // namespace

class tst_Dashboard : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void screenshotShowsLiveData();
    void producerObeysCommands();
    void screenshotFailsWithoutProducer();

private:
    // Runs qonduit-dashboard with args; its exit code, stderr in *errors.
    int runDashboard(const QStringList &args, QByteArray *errors);

    QTemporaryDir m_dir;
    QProcess m_producer;
    QByteArray m_producerOutput;
    QString m_url;
};

void tst_Dashboard::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_url = QStringLiteral("local:qonduit-tst-dashboard-%1").arg(QCoreApplication::applicationPid());
    m_producer.setProgram(QStringLiteral(DASHBOARD_PRODUCER));
    m_producer.setArguments({QStringLiteral("--listen"), m_url, QStringLiteral("--interval"), QStringLiteral("20")});
    m_producer.setProcessChannelMode(QProcess::MergedChannels);
    m_producer.start();
    QVERIFY2(m_producer.waitForStarted(), qPrintable(m_producer.errorString()));
    connect(&m_producer, &QProcess::readyRead, this, [this] { m_producerOutput += m_producer.readAll(); });
    QTRY_VERIFY_WITH_TIMEOUT(m_producerOutput.contains('\n') || m_producer.state() != QProcess::Running, 10000);
    QVERIFY2(m_producerOutput.startsWith(QByteArray("listening on " + m_url.toUtf8() + '\n')), m_producerOutput.constData());
}

void tst_Dashboard::cleanupTestCase()
{
    m_producer.terminate();
    m_producer.waitForFinished();
}

int tst_Dashboard::runDashboard(const QStringList &args, QByteArray *errors)
{
    QProcess app;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    app.setProcessEnvironment(env);
    app.start(QStringLiteral(DASHBOARD_APP), args);
    if (!app.waitForStarted() || !app.waitForFinished(90000)) {
        app.kill();
        app.waitForFinished();
        *errors = "did not start or finish: " + app.errorString().toUtf8();
        return -1;
    }
    *errors = app.readAllStandardError();
    return app.exitStatus() == QProcess::NormalExit ? app.exitCode() : -1;
}

void tst_Dashboard::screenshotShowsLiveData()
{
    QList<QImage> frames;
    for (int frame = 1; frame <= 2; ++frame) {
        const QString file = m_dir.filePath(QStringLiteral("frame%1.png").arg(frame));
        QStringList args{QStringLiteral("--connect"), m_url, QStringLiteral("--screenshot"), file,
                         QStringLiteral("--samples"), QStringLiteral("60")};
        // The first run also types a set point into the command field.
        if (frame == 1)
            args << QStringLiteral("--send") << QStringLiteral("35");
        QByteArray errors;
        const int code = runDashboard(args, &errors);
        QVERIFY2(code == 0, errors.constData());
        if (frame == 1) {
            // The screenshot waited for the producer's answer to the command.
            QTRY_VERIFY2(m_producerOutput.contains(": setpoint 35\n"), m_producerOutput.constData());
        }
        QImage image(file);
        QVERIFY2(!image.isNull(), qPrintable(file));
        QCOMPARE(image.size(), ShotSize);
        // Not one flat colour, not a blank window: text, gauges, a chart.
        QVERIFY2(distinctColours(image) > 200, qPrintable(QString::number(distinctColours(image))));
        // The temperature line was drawn: the chart had samples.
        const int line = pixelsNear(image, PlotArea, TemperatureColor);
        QVERIFY2(line > 200, qPrintable(QStringLiteral("%1 pixels of the temperature line").arg(line)));
        frames.append(image);
    }
    // Live data: the second run drew another chart.
    const int changed = differentPixels(frames[0], frames[1], PlotArea);
    QVERIFY2(changed > PlotArea.width() * PlotArea.height() / 50,
             qPrintable(QStringLiteral("only %1 pixels of the chart changed").arg(changed)));
}

// What the dashboard's command field sends, from a C++ client: the producer
// moves its set point and tells every client.
void tst_Dashboard::producerObeysCommands()
{
    ChannelPair pair = Channel::connectTo(QUrl(m_url));
    QVERIFY(pair.sender && pair.receiver);
    bool sawEvent = false;
    bool sawSetpoint = false;
    connect(pair.receiver.get(), &ChannelReceiver::messageReceived, this, [&](const QVariant &message) {
        const QVariantMap map = message.toMap();
        if (map.value(QStringLiteral("kind")).toString() == u"event"
            && map.value(QStringLiteral("text")).toString().contains(QStringLiteral("set point to 42"))) {
            sawEvent = true;
        }
        if (map.value(QStringLiteral("kind")).toString() == u"sample" && map.value(QStringLiteral("setpoint")).toDouble() == 42)
            sawSetpoint = true;
    });
    // A QML ChannelSender sends CBOR; a C++ client may too.
    QVERIFY(pair.sender->send(QCborMap{{QStringLiteral("setpoint"), 42}}));
    QTRY_VERIFY(sawEvent);
    QTRY_VERIFY(sawSetpoint);
    QVERIFY(pair.sender->send(QVariantMap{{QStringLiteral("setpoint"), 21}}));
}

void tst_Dashboard::screenshotFailsWithoutProducer()
{
    const QString file = m_dir.filePath(QStringLiteral("nothing.png"));
    QByteArray errors;
    const int code = runDashboard({QStringLiteral("--connect"), m_url + QStringLiteral("-nobody"),
                                   QStringLiteral("--screenshot"), file, QStringLiteral("--timeout"),
                                   QStringLiteral("2")},
                                  &errors);
    QCOMPARE(code, 1);
    QVERIFY2(errors.contains("no data within 2 s"), errors.constData());
    QVERIFY(!QFile::exists(file));
}

QTEST_GUILESS_MAIN(tst_Dashboard)
#include "tst_dashboard.moc"
