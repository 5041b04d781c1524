#ifndef QONDUIT_TRANSPORTTEST_H
#define QONDUIT_TRANSPORTTEST_H

// Helpers shared by the transport tests.

#include "transport/endpoint_p.h"
#include "transport/streamlistener_p.h"
#include "transport/streamsocket_p.h"
#include "transport/transportregistry_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qiodevice.h>
#include <QtTest/qtest.h>

#include <memory>
#include <vector>

namespace TransportTest {

using namespace Qonduit;

// Tests run in parallel: names carry the pid and a counter.
inline QString uniqueLocalName(const QString &tag)
{
    static int counter = 0;
    return QStringLiteral("qonduit-tst-%1-%2-%3").arg(tag).arg(QCoreApplication::applicationPid()).arg(++counter);
}

inline Endpoint endpointOf(const QUrl &url)
{
    Endpoint endpoint;
    QString text;
    if (Endpoint::parse(url, endpoint, text) != Error::NoError)
        qFatal("bad endpoint in test: %s", qPrintable(text));
    return endpoint;
}

// Takes every socket a listener hands out.
class Acceptor : public QObject
{
public:
    explicit Acceptor(StreamListener *listener)
    {
        connect(listener, &StreamListener::incoming, this,
                [this](StreamSocket *socket) { sockets.emplace_back(socket); });
    }
    std::vector<std::unique_ptr<StreamSocket>> sockets;
};

// Collects what arrives on a socket's device.
class Reader : public QObject
{
public:
    explicit Reader(StreamSocket *socket)
    {
        QIODevice *device = socket->device();
        connect(device, &QIODevice::readyRead, this, [this, device] { data += device->readAll(); });
    }
    QByteArray data;
};

// The order in which a socket's own signals arrived.
class SignalLog : public QObject
{
public:
    explicit SignalLog(StreamSocket *socket)
    {
        connect(socket, &StreamSocket::connected, this, [this] { events << QStringLiteral("connected"); });
        connect(socket, &StreamSocket::failed, this, [this](Error error, const QString &text) {
            events << QStringLiteral("failed");
            errors << error;
            texts << text;
        });
        connect(socket, &StreamSocket::disconnected, this, [this] { events << QStringLiteral("disconnected"); });
    }
    QStringList events;
    QList<Error> errors;
    QStringList texts;
};

inline QByteArray pattern(qsizetype size, int seed)
{
    QByteArray bytes(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        bytes[i] = char((i * 31 + seed) & 0xff);
    return bytes;
}

} // namespace TransportTest

#endif // QONDUIT_TRANSPORTTEST_H
