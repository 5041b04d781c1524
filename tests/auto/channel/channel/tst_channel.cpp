#include <Qonduit/channel.h>

#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace Qonduit;

class tst_Channel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void localDeliversTypedAndRawInOrder();
};

void tst_Channel::localDeliversTypedAndRawInOrder()
{
    auto [sender, receiver] = Channel::local();
    QSignalSpy typed(receiver.get(), &ChannelReceiver::messageReceived);
    QSignalSpy raw(receiver.get(), &ChannelReceiver::rawMessageReceived);
    QVERIFY(sender->send(42));
    QVERIFY(sender->sendRaw(QByteArrayLiteral("\x01\x02")));
    QVERIFY(sender->send(QStringLiteral("hello")));
    QCOMPARE(typed.count(), 0); // never delivered inside send()
    QTRY_COMPARE(typed.count(), 2);
    QCOMPARE(raw.count(), 1);
    QCOMPARE(typed.at(0).at(0).value<QVariant>().toInt(), 42);
    QCOMPARE(typed.at(1).at(0).value<QVariant>().toString(), QStringLiteral("hello"));
    QCOMPARE(raw.at(0).at(0).toByteArray(), QByteArrayLiteral("\x01\x02"));
}

QTEST_GUILESS_MAIN(tst_Channel)
#include "tst_channel.moc"
