#include <Qonduit/channel.h>

#include <QtGui/QImage>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <QtCore/QThread>

using namespace Qonduit;

namespace {

struct Reading
{
    QString sensor;
    double value = 0;
    friend bool operator==(const Reading &a, const Reading &b) { return a.sensor == b.sensor && a.value == b.value; }
};

} // namespace

Q_DECLARE_METATYPE(Reading)

class tst_Channel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void localStartsConnected();
    void deliversTypedAndRawInOrder();
    void deliversCustomTypes();
    void stringBuildersTravelAsTheirString();
    void implicitlySharedPayloadsAreNotCopied();
    void deliveryIsNeverInsideSend();
    void receiverOnAnotherThreadEmitsThere();
    void optionsBoundTheQueue();
    void connectToRefusedWithoutServer();
    void connectToRejectsBadEndpoints_data();
    void connectToRejectsBadEndpoints();
};

void tst_Channel::localStartsConnected()
{
    auto [sender, receiver] = Channel::local();
    QVERIFY(sender);
    QVERIFY(receiver);
    QCOMPARE(sender->state(), ChannelState::ConnectedState);
    QCOMPARE(receiver->state(), ChannelState::ConnectedState);
    QVERIFY(sender->isOpen());
    QVERIFY(!receiver->isClosed());
    QCOMPARE(sender->error(), Error::NoError);
    QVERIFY(receiver->peerAddress().isEmpty());
}

void tst_Channel::deliversTypedAndRawInOrder()
{
    auto [sender, receiver] = Channel::local();
    QList<QVariant> order; // typed and raw interleaved, as received
    connect(receiver.get(), &ChannelReceiver::messageReceived, this,
            [&](const QVariant &message) { order.append(message); });
    connect(receiver.get(), &ChannelReceiver::rawMessageReceived, this,
            [&](const QByteArray &data) { order.append(QVariant(QStringLiteral("raw:") + QString::fromLatin1(data))); });
    QVERIFY(sender->send(42));
    QVERIFY(sender->sendRaw(QByteArrayLiteral("ab")));
    QVERIFY(sender->send(QStringLiteral("hello")));
    QVERIFY(sender->send(QByteArrayLiteral("typed bytes")));
    QTRY_COMPARE(order.size(), 4);
    QCOMPARE(order.at(0), QVariant(42));
    QCOMPARE(order.at(1), QVariant(QStringLiteral("raw:ab")));
    QCOMPARE(order.at(2), QVariant(QStringLiteral("hello")));
    // A QByteArray sent typed stays typed: it is not mistaken for raw bytes.
    QCOMPARE(order.at(3), QVariant(QByteArrayLiteral("typed bytes")));
}

void tst_Channel::deliversCustomTypes()
{
    auto [sender, receiver] = Channel::local();
    QSignalSpy spy(receiver.get(), &ChannelReceiver::messageReceived);
    const Reading reading{QStringLiteral("boiler"), 71.5};
    QVERIFY(sender->send(reading));
    QVERIFY(spy.wait());
    const QVariant message = spy.at(0).at(0).value<QVariant>();
    QCOMPARE(message.metaType(), QMetaType::fromType<Reading>());
    QCOMPARE(message.value<Reading>(), reading);
}

void tst_Channel::stringBuildersTravelAsTheirString()
{
    // Tests build with QT_USE_QSTRINGBUILDER, as Qt recommends: a + b is a
    // QStringBuilder, which must arrive as the string it builds.
    auto [sender, receiver] = Channel::local();
    QSignalSpy spy(receiver.get(), &ChannelReceiver::messageReceived);
    const QByteArray bytes("ab");
    const QString text(QStringLiteral("cd"));
    QVERIFY(sender->send(bytes + bytes));
    QVERIFY(sender->send(text + text));
    QVERIFY(sender->send("literal"));
    QTRY_COMPARE(spy.count(), 3);
    QCOMPARE(spy.at(0).at(0).value<QVariant>(), QVariant(QByteArray("abab")));
    QCOMPARE(spy.at(1).at(0).value<QVariant>(), QVariant(QStringLiteral("cdcd")));
    QCOMPARE(spy.at(2).at(0).value<QVariant>(), QVariant(QStringLiteral("literal")));
}

void tst_Channel::implicitlySharedPayloadsAreNotCopied()
{
    auto [sender, receiver] = Channel::local();
    QSignalSpy typed(receiver.get(), &ChannelReceiver::messageReceived);
    QSignalSpy raw(receiver.get(), &ChannelReceiver::rawMessageReceived);

    const QByteArray bytes(8 * 1024 * 1024, 'q');
    QImage image(1024, 1024, QImage::Format_ARGB32);
    image.fill(Qt::red);
    QVERIFY(sender->send(bytes));
    QVERIFY(sender->send(image));
    QVERIFY(sender->sendRaw(bytes));
    QTRY_COMPARE(typed.count(), 2);
    QTRY_COMPARE(raw.count(), 1);

    // Same storage on arrival: the payloads travelled by reference count.
    QCOMPARE(typed.at(0).at(0).value<QVariant>().toByteArray().constData(), bytes.constData());
    QCOMPARE(typed.at(1).at(0).value<QVariant>().value<QImage>().constBits(), image.constBits());
    QCOMPARE(raw.at(0).at(0).toByteArray().constData(), bytes.constData());
}

void tst_Channel::deliveryIsNeverInsideSend()
{
    auto [sender, receiver] = Channel::local();
    bool insideSend = false;
    bool deliveredInsideSend = false;
    int received = 0;
    connect(receiver.get(), &ChannelReceiver::messageReceived, this, [&] {
        deliveredInsideSend |= insideSend;
        ++received;
    });
    for (int i = 0; i < 100; ++i) {
        insideSend = true;
        QVERIFY(sender->send(i));
        insideSend = false;
        if (i % 10 == 0)
            QCoreApplication::processEvents();
    }
    QTRY_COMPARE(received, 100);
    QVERIFY(!deliveredInsideSend);
}

void tst_Channel::receiverOnAnotherThreadEmitsThere()
{
    QThread worker;
    worker.start();
    auto [sender, receiver] = Channel::local();
    receiver->moveToThread(&worker);
    QThread *deliveredOn = nullptr;
    QAtomicInt received;
    connect(receiver.get(), &ChannelReceiver::messageReceived, receiver.get(),
            [&] {
                deliveredOn = QThread::currentThread();
                received.ref();
            },
            Qt::DirectConnection);
    QVERIFY(sender->send(1));
    QTRY_COMPARE(received.loadAcquire(), 1);
    QCOMPARE(deliveredOn, &worker);
    // Destroy the receiver in its own thread before that thread stops.
    QMetaObject::invokeMethod(receiver.release(), &QObject::deleteLater);
    worker.quit();
    QVERIFY(worker.wait(5000));
}

void tst_Channel::optionsBoundTheQueue()
{
    ChannelOptions options;
    options.capacity = 3;
    options.capacityBytes = 1000;
    options.overflowPolicy = OverflowPolicy::Reject;
    options.deliveryBudget = 7;
    auto [sender, receiver] = Channel::local(options);
    QCOMPARE(receiver->capacity(), 3);
    QCOMPARE(receiver->capacityBytes(), 1000);
    QCOMPARE(receiver->overflowPolicy(), OverflowPolicy::Reject);
    QCOMPARE(receiver->deliveryBudget(), 7);
    for (int i = 0; i < 3; ++i)
        QVERIFY(sender->send(i));
    QVERIFY(!sender->send(3));
    QCOMPARE(sender->error(), Error::QueueFullError);
    QCOMPARE(receiver->queuedCount(), 3);
}

void tst_Channel::connectToRefusedWithoutServer()
{
    const QUrl url(QStringLiteral("inproc:tst_channel-nobody-%1").arg(QCoreApplication::applicationPid()));
    auto [sender, receiver] = Channel::connectTo(url);
    QSignalSpy senderErrors(sender.get(), &ChannelSender::errorOccurred);
    QSignalSpy receiverErrors(receiver.get(), &ChannelReceiver::errorOccurred);
    QSignalSpy closed(receiver.get(), &ChannelReceiver::closed);
    QCOMPARE(sender->state(), ChannelState::ConnectingState);
    QCOMPARE(receiver->state(), ChannelState::ConnectingState);
    QVERIFY(receiverErrors.wait());
    QTRY_COMPARE(senderErrors.count(), 1);
    QCOMPARE(receiverErrors.count(), 1);
    QCOMPARE(receiverErrors.at(0).at(0).value<Error>(), Error::ConnectionRefusedError);
    QCOMPARE(sender->error(), Error::ConnectionRefusedError);
    QVERIFY(receiver->errorString().contains(url.toString()));
    QCOMPARE(sender->state(), ChannelState::UnconnectedState);
    QCOMPARE(receiver->state(), ChannelState::UnconnectedState);
    QTRY_COMPARE(closed.count(), 1);
    QVERIFY(!sender->send(1));
    QCOMPARE(sender->error(), Error::ChannelClosedError);
    QVERIFY(!receiver->receive(QDeadlineTimer(QDeadlineTimer::Forever)).has_value());
}

void tst_Channel::connectToRejectsBadEndpoints_data()
{
    QTest::addColumn<QUrl>("url");
    QTest::addColumn<Error>("error");
    QTest::newRow("empty") << QUrl() << Error::InvalidEndpointError;
    QTest::newRow("no scheme") << QUrl(QStringLiteral("chat")) << Error::InvalidEndpointError;
    QTest::newRow("empty name") << QUrl(QStringLiteral("inproc:")) << Error::InvalidEndpointError;
    QTest::newRow("long name") << QUrl(QStringLiteral("inproc:") + QString(300, u'x')) << Error::InvalidEndpointError;
    QTest::newRow("unknown scheme") << QUrl(QStringLiteral("carrier-pigeon://coop")) << Error::UnsupportedSchemeError;
}

void tst_Channel::connectToRejectsBadEndpoints()
{
    QFETCH(QUrl, url);
    QFETCH(Error, error);
    auto [sender, receiver] = Channel::connectTo(url);
    QSignalSpy errors(receiver.get(), &ChannelReceiver::errorOccurred);
    QVERIFY(errors.wait());
    QCOMPARE(errors.count(), 1);
    QCOMPARE(errors.at(0).at(0).value<Error>(), error);
    QVERIFY(!receiver->errorString().isEmpty());
    QCOMPARE(sender->error(), error);
}

QTEST_GUILESS_MAIN(tst_Channel)
#include "tst_channel.moc"
