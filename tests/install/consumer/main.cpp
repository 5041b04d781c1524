// Sends one message over a local channel and exits 0 once it arrives intact.
#include <Qonduit/channel.h>

#include <QtCore/qcoreapplication.h>
#include <QtCore/qtimer.h>

#include <cstdio>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);

    auto [sender, receiver] = Qonduit::Channel::local();
    QObject::connect(receiver.get(), &Qonduit::ChannelReceiver::messageReceived, &app,
                     [](const QVariant &message) {
                         const bool ok = message.toInt() == 42;
                         std::printf("consumer: received %s\n", qPrintable(message.toString()));
                         QCoreApplication::exit(ok ? 0 : 1);
                     });
    QTimer::singleShot(30000, &app, [] {
        std::fprintf(stderr, "consumer: no message after 30 s\n");
        QCoreApplication::exit(2);
    });

    if (!sender->send(42)) {
        std::fprintf(stderr, "consumer: send failed: %s\n", qPrintable(sender->errorString()));
        return 3;
    }
    return app.exec();
}
