#include "security/noisecipherstate_p.h"

#include <QtTest/QTest>

using namespace Qonduit::Security;

namespace {

SecretKey testKey()
{
    return *SecretKey::fromBytes(QByteArray(32, '\x42'));
}

} // namespace

class tst_NoiseCipherState : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void nonceEncoding_data();
    void nonceEncoding();
    void roundTripCountsNonces();
    void refusesTheReservedNonce();
    void withoutKeyRefuses();
    void failureIsFinal();
};

void tst_NoiseCipherState::nonceEncoding_data()
{
    QTest::addColumn<quint64>("counter");
    QTest::addColumn<QByteArray>("nonce");

    // Section 5.1 with ChaChaPoly: 32 zero bits, then the counter little-endian.
    QTest::newRow("0") << quint64(0) << QByteArray::fromHex("000000000000000000000000");
    QTest::newRow("1") << quint64(1) << QByteArray::fromHex("000000000100000000000000");
    QTest::newRow("bytes in order") << quint64(0x0102030405060708)
                                    << QByteArray::fromHex("000000000807060504030201");
}

void tst_NoiseCipherState::nonceEncoding()
{
    QFETCH(quint64, counter);
    QFETCH(QByteArray, nonce);

    NoiseCipherState cipher(testKey());
    cipher.setNonce(counter);
    QByteArray sealed;
    QVERIFY(cipher.encryptWithAd("ad", "plaintext", sealed));
    QCOMPARE(cipher.nonce(), counter + 1);

    Nonce expectedNonce;
    std::copy(nonce.begin(), nonce.end(), expectedNonce.begin());
    QByteArray expected;
    QVERIFY(aeadSeal(testKey(), expectedNonce, "ad", "plaintext", expected));
    QCOMPARE(sealed, expected);
}

void tst_NoiseCipherState::roundTripCountsNonces()
{
    NoiseCipherState sender(testKey());
    NoiseCipherState receiver(testKey());
    for (const char *text : {"one", "", "three"}) {
        QByteArray sealed;
        QVERIFY(sender.encryptWithAd({}, text, sealed));
        QByteArray opened("x");
        QVERIFY2(receiver.decryptWithAd({}, sealed, opened), qPrintable(receiver.errorString()));
        QCOMPARE(opened, QByteArray(QByteArray("x") + text));
    }
    QCOMPARE(sender.nonce(), quint64(3));
    QCOMPARE(receiver.nonce(), quint64(3));
}

void tst_NoiseCipherState::refusesTheReservedNonce()
{
    NoiseCipherState sender(testKey());
    NoiseCipherState receiver(testKey());
    sender.setNonce(NoiseCipherState::reservedNonce - 1);
    receiver.setNonce(NoiseCipherState::reservedNonce - 1);

    // The last usable nonce still works...
    QByteArray sealed;
    QVERIFY(sender.encryptWithAd({}, "last", sealed));
    QByteArray opened;
    QVERIFY(receiver.decryptWithAd({}, sealed, opened));
    QCOMPARE(opened, "last");

    // ... and then both sides stop instead of wrapping around.
    QByteArray more;
    QVERIFY(!sender.encryptWithAd({}, "one too many", more));
    QVERIFY(more.isEmpty());
    QCOMPARE(sender.error(), NoiseError::NonceExhausted);
    QCOMPARE(sender.nonce(), NoiseCipherState::reservedNonce);
    QVERIFY(!receiver.decryptWithAd({}, sealed, more));
    QVERIFY(more.isEmpty());
    QCOMPARE(receiver.error(), NoiseError::NonceExhausted);
    QVERIFY(!receiver.errorString().isEmpty());
}

void tst_NoiseCipherState::withoutKeyRefuses()
{
    NoiseCipherState cipher;
    QVERIFY(!cipher.hasKey());
    QByteArray out;
    QVERIFY(!cipher.encryptWithAd({}, "never in clear", out));
    QVERIFY(out.isEmpty());
    QCOMPARE(cipher.error(), NoiseError::InvalidConfiguration);
}

void tst_NoiseCipherState::failureIsFinal()
{
    NoiseCipherState sender(testKey());
    NoiseCipherState receiver(testKey());
    QByteArray sealed;
    QVERIFY(sender.encryptWithAd({}, "message", sealed));

    QByteArray forged = sealed;
    forged[0] = char(forged.at(0) ^ 1);
    QByteArray out;
    QVERIFY(!receiver.decryptWithAd({}, forged, out));
    QCOMPARE(receiver.error(), NoiseError::AuthenticationFailed);
    QCOMPARE(receiver.nonce(), quint64(0));

    QVERIFY(!receiver.decryptWithAd({}, sealed, out));
    QVERIFY(out.isEmpty());
    QCOMPARE(receiver.error(), NoiseError::AuthenticationFailed);
}

QTEST_GUILESS_MAIN(tst_NoiseCipherState)
#include "tst_noisecipherstate.moc"
