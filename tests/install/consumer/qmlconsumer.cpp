// A user's QML app: it finds `import Qonduit` through the installed package
// (Qonduit_QML_IMPORT_DIR) and runs a round trip between a QML ChannelServer
// and a QML ChannelReceiver. Exits 0 when the JavaScript object came back.
#include <QtCore/QCoreApplication>
#include <QtCore/QTimer>
#include <QtQml/QQmlComponent>
#include <QtQml/QQmlEngine>

#include <memory>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QQmlEngine engine;
    engine.addImportPath(QStringLiteral(QONDUIT_QML_IMPORT_DIR));

    QQmlComponent component(&engine);
    component.setData(R"(
        import QtQml
        import Qonduit

        QtObject {
            property ChannelServer server: ChannelServer {
                endpoint: "inproc:qonduit-install-check"
                onClientCountChanged: if (clientCount === 1) send({ answer: 42, list: [1, "two"] })
            }
            property ChannelReceiver receiver: ChannelReceiver {
                source: server.address
                onMessageReceived: (message) => Qt.exit(message.answer === 42 && message.list[1] === "two" ? 0 : 3)
                onStatusChanged: if (status === ChannelReceiver.Error) { console.error(errorString); Qt.exit(4) }
            }
        }
    )", QUrl(QStringLiteral("qmlconsumer.qml")));
    std::unique_ptr<QObject> root(component.create());
    if (!root) {
        qCritical("qonduit_qml_consumer: %s", qPrintable(component.errorString()));
        return 1;
    }
    QObject::connect(&engine, &QQmlEngine::exit, &app, &QCoreApplication::exit);
    QTimer::singleShot(30000, &app, [] {
        qCritical("qonduit_qml_consumer: no message within 30 s");
        QCoreApplication::exit(2);
    });
    return app.exec();
}
