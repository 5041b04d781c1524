// Qonduit example 04: a live QML dashboard, the app.
//
//   qonduit-dashboard [--connect URL] [--spawn-producer] [--send TEXT]
//                     [--screenshot FILE [--samples N] [--timeout S]]
//
// Two windows (Main.qml) bound to the channels of a dashboard-producer at
// URL (default local:qonduit-dashboard). Everything about channels happens
// in QML (`import Qonduit`); this file only parses the options, starts the
// producer when asked and takes the screenshot.
//
// --send TEXT types TEXT into the command field and sends it as soon as the
// sender is connected.
//
// --screenshot FILE renders offscreen (run it with QT_QPA_PLATFORM=offscreen
// when there is no display), waits until N samples (default 80), an event
// and, with --send, the producer's answer have arrived, saves both windows
// side by side into FILE and exits 0. When that data does not arrive within
// S seconds (default 30) it prints the channels' status and exits 1.

#include <QtCore/QCommandLineParser>
#include <QtCore/QDir>
#include <QtCore/QMetaProperty>
#include <QtCore/QProcess>
#include <QtCore/QTimer>
#include <QtGui/QGuiApplication>
#include <QtGui/QImage>
#include <QtGui/QPainter>
#include <QtQml/QQmlApplicationEngine>
#include <QtQuick/QQuickWindow>

#include <cstdio>

namespace {

void fail(const QString &text)
{
    std::fprintf(stderr, "qonduit-dashboard: %s\n", qPrintable(text));
}

// Both windows side by side, on the chart window's background colour.
QImage sideBySide(const QList<QQuickWindow *> &windows)
{
    QList<QImage> shots;
    int width = 0;
    int height = 0;
    for (QQuickWindow *window : windows) {
        shots.append(window->grabWindow());
        width += shots.last().width();
        height = qMax(height, shots.last().height());
    }
    QImage image(width, height, QImage::Format_RGB32);
    image.fill(windows.first()->color());
    QPainter painter(&image);
    int x = 0;
    for (const QImage &shot : std::as_const(shots)) {
        painter.drawImage(x, 0, shot);
        x += shot.width();
    }
    return image;
}

// Waits for the root object's `ready` property (Main.qml: enough samples and
// an event arrived), then saves the screenshot and quits.
class Screenshot final : public QObject
{
    Q_OBJECT

public:
    Screenshot(QObject *root, const QString &file, int timeoutSeconds)
        : m_root(root)
        , m_file(file)
    {
        const QMetaProperty ready = root->metaObject()->property(root->metaObject()->indexOfProperty("ready"));
        connect(root, ready.notifySignal(), this, metaObject()->method(metaObject()->indexOfSlot("check()")));
        m_timeout.setSingleShot(true);
        connect(&m_timeout, &QTimer::timeout, this, [this, timeoutSeconds] {
            fail(QStringLiteral("no data within %1 s: %2").arg(timeoutSeconds).arg(m_root->property("statusText").toString()));
            QCoreApplication::exit(1);
        });
        m_timeout.start(timeoutSeconds * 1000);
        // From the event loop: exit() before exec() would be lost.
        QMetaObject::invokeMethod(this, &Screenshot::check, Qt::QueuedConnection);
    }

public Q_SLOTS:
    void check()
    {
        if (!m_timeout.isActive() || !m_root->property("ready").toBool())
            return;
        m_timeout.stop();
        const QList<QQuickWindow *> windows{m_root->property("chartWindow").value<QQuickWindow *>(),
                                            m_root->property("eventWindow").value<QQuickWindow *>()};
        const QImage image = sideBySide(windows);
        if (!image.save(m_file)) {
            fail(QStringLiteral("cannot write %1").arg(m_file));
            QCoreApplication::exit(1);
            return;
        }
        std::printf("saved %s (%dx%d) after %lld samples\n", qPrintable(m_file), image.width(), image.height(),
                    m_root->property("sampleCount").toLongLong());
        std::fflush(stdout);
        QCoreApplication::exit(0);
    }

private:
    QObject *m_root;
    QString m_file;
    QTimer m_timeout;
};

} // namespace

int main(int argc, char *argv[])
{
    QGuiApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("qonduit-dashboard"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Two windows of live values served by dashboard-producer."));
    parser.addHelpOption();
    const QCommandLineOption connectOption(QStringLiteral("connect"),
                                           QStringLiteral("The producer: local:NAME or tcp://HOST:PORT. "
                                                          "Default: local:qonduit-dashboard."),
                                           QStringLiteral("url"), QStringLiteral("local:qonduit-dashboard"));
    const QCommandLineOption spawnOption(QStringLiteral("spawn-producer"),
                                         QStringLiteral("Start dashboard-producer (from beside this program) "
                                                        "listening on the --connect URL, and stop it on exit."));
    const QCommandLineOption screenshotOption(QStringLiteral("screenshot"),
                                              QStringLiteral("Save both windows side by side into FILE once data "
                                                             "has arrived, then exit."),
                                              QStringLiteral("file"));
    const QCommandLineOption samplesOption(QStringLiteral("samples"),
                                           QStringLiteral("With --screenshot: samples to wait for. Default: 80."),
                                           QStringLiteral("n"), QStringLiteral("80"));
    const QCommandLineOption timeoutOption(QStringLiteral("timeout"),
                                           QStringLiteral("With --screenshot: seconds to wait for data. Default: 30."),
                                           QStringLiteral("s"), QStringLiteral("30"));
    const QCommandLineOption sendOption(QStringLiteral("send"),
                                        QStringLiteral("Type TEXT into the command field and send it once "
                                                       "connected: a number sets the producer's set point."),
                                        QStringLiteral("text"));
    parser.addOptions({connectOption, spawnOption, sendOption, screenshotOption, samplesOption, timeoutOption});
    parser.process(app);

    const QString url = parser.value(connectOption);
    QProcess producer;
    if (parser.isSet(spawnOption)) {
        producer.setProcessChannelMode(QProcess::ForwardedChannels);
        producer.start(QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("dashboard-producer")),
                       {QStringLiteral("--listen"), url});
        if (!producer.waitForStarted()) {
            fail(QStringLiteral("cannot start dashboard-producer: %1").arg(producer.errorString()));
            return 1;
        }
        // The channels connect when it listens: they retry until then.
        QObject::connect(&app, &QCoreApplication::aboutToQuit, &producer, [&producer] {
            producer.terminate();
            producer.waitForFinished();
        });
    }

    QQmlApplicationEngine engine;
#ifdef QONDUIT_QML_IMPORT_DIR
    // Built against an installed package: `import Qonduit` lives there. In
    // the Qonduit tree the module sits beside this program, found unasked.
    engine.addImportPath(QStringLiteral(QONDUIT_QML_IMPORT_DIR));
#endif
    const bool screenshot = parser.isSet(screenshotOption);
    engine.setInitialProperties({
        {QStringLiteral("source"), QUrl(url)},
        {QStringLiteral("initialCommand"), parser.value(sendOption)},
        {QStringLiteral("readySamples"), screenshot ? parser.value(samplesOption).toInt() : 0},
    });
    engine.load(QUrl(QStringLiteral("qrc:/qt/qml/Dashboard/Main.qml")));
    if (engine.rootObjects().isEmpty())
        return 1;

    std::unique_ptr<Screenshot> shooter;
    if (screenshot) {
        shooter = std::make_unique<Screenshot>(engine.rootObjects().first(), parser.value(screenshotOption),
                                               qMax(1, parser.value(timeoutOption).toInt()));
    }
    return app.exec();
}

#include "main.moc"
