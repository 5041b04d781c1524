#include "security/crypto_p.h"

#include <QtTest/QTest>

using namespace Qonduit::Security;

namespace {

QByteArray hex(const char *text)
{
    return QByteArray::fromHex(text);
}

QByteArray range(int first, int last)
{
    QByteArray bytes;
    for (int b = first; b <= last; ++b)
        bytes.append(char(b));
    return bytes;
}

SecretKey key(const QByteArray &bytes)
{
    const std::optional<SecretKey> secret = SecretKey::fromBytes(bytes);
    if (!secret)
        qFatal("a key must be 32 bytes");
    return *secret;
}

PublicKey publicKey(const QByteArray &bytes)
{
    PublicKey result{};
    std::copy_n(bytes.begin(), qMin<qsizetype>(bytes.size(), qsizetype(result.size())), result.begin());
    return result;
}

Nonce nonce(const QByteArray &bytes)
{
    Nonce result{};
    std::copy_n(bytes.begin(), qMin<qsizetype>(bytes.size(), qsizetype(result.size())), result.begin());
    return result;
}

QByteArray toBytes(QByteArrayView view)
{
    return view.toByteArray();
}

// RFC 8439, section 2.8.2.
const QByteArray aeadKey = range(0x80, 0x9f);
const QByteArray aeadNonce = hex("070000004041424344454647");
const QByteArray aeadAad = hex("50515253c0c1c2c3c4c5c6c7");
const QByteArray aeadPlaintext =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
    "future, sunscreen would be it.";
const QByteArray aeadSealed = hex(
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
    "3ff4def08e4b7a9de576d26586cec64b6116"
    "1ae10b594f09e26a7e902ecbd0600691");

QByteArray flipBit(QByteArray bytes, qsizetype bit)
{
    bytes[bit / 8] = char(bytes.at(bit / 8) ^ (1 << (bit % 8)));
    return bytes;
}

} // namespace

class tst_Crypto : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void sha256KnownAnswer();
    void hmacKnownAnswer_data();
    void hmacKnownAnswer();
    void hkdfKnownAnswer_data();
    void hkdfKnownAnswer();
    void hkdfRefusesImpossibleSizes();
    void noiseHkdfIsHmacChain_data();
    void noiseHkdfIsHmacChain();
    void noiseHkdfOutputMayBeChainingKey();
    void aeadKnownAnswer();
    void aeadTampered_data();
    void aeadTampered();
    void aeadEmptyPlaintext();
    void x25519KnownAnswer();
    void x25519RefusesSmallOrderKeys_data();
    void x25519RefusesSmallOrderKeys();
    void generatedKeyPairsAgree();
    void randomBytesDiffer();
    void constantTimeCompare();
    void secretSize();
};

void tst_Crypto::sha256KnownAnswer()
{
    // FIPS 180-2, appendix B.1, given in two parts.
    const std::optional<Digest> digest = sha256({"a", "bc"});
    QVERIFY(digest);
    QCOMPARE(toBytes(bytesOf(*digest)),
             hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

void tst_Crypto::hmacKnownAnswer_data()
{
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QByteArray>("data");
    QTest::addColumn<QByteArray>("mac");

    // RFC 4231, test cases 1 and 2.
    QTest::newRow("case 1") << QByteArray(20, '\x0b') << QByteArray("Hi There")
                            << hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    QTest::newRow("case 2") << QByteArray("Jefe") << QByteArray("what do ya want for nothing?")
                            << hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

void tst_Crypto::hmacKnownAnswer()
{
    QFETCH(QByteArray, key);
    QFETCH(QByteArray, data);
    QFETCH(QByteArray, mac);

    const std::optional<SecretKey> whole = hmacSha256(key, {data});
    QVERIFY(whole);
    QCOMPARE(toBytes(whole->view()), mac);
    const std::optional<SecretKey> inParts = hmacSha256(key, {data.first(3), {}, data.sliced(3)});
    QVERIFY(inParts);
    QCOMPARE(toBytes(inParts->view()), mac);
}

void tst_Crypto::hkdfKnownAnswer_data()
{
    QTest::addColumn<QByteArray>("ikm");
    QTest::addColumn<QByteArray>("salt");
    QTest::addColumn<QByteArray>("info");
    QTest::addColumn<QByteArray>("okm");

    // RFC 5869, appendix A, test cases 1 to 3 (SHA-256).
    QTest::newRow("case 1") << QByteArray(22, '\x0b') << range(0x00, 0x0c) << range(0xf0, 0xf9)
                            << hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                                   "34007208d5b887185865");
    QTest::newRow("case 2") << range(0x00, 0x4f) << range(0x60, 0xaf) << range(0xb0, 0xff)
                            << hex("b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                                   "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                                   "cc30c58179ec3e87c14c01d5c1f3434f1d87");
    QTest::newRow("case 3") << QByteArray(22, '\x0b') << QByteArray() << QByteArray()
                            << hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                                   "9d201395faa4b61a96c8");
}

void tst_Crypto::hkdfKnownAnswer()
{
    QFETCH(QByteArray, ikm);
    QFETCH(QByteArray, salt);
    QFETCH(QByteArray, info);
    QFETCH(QByteArray, okm);

    QByteArray out(okm.size(), '\0');
    QString errorText;
    QVERIFY2(hkdfSha256(salt, ikm, info, reinterpret_cast<quint8 *>(out.data()), out.size(), &errorText),
             qPrintable(errorText));
    QCOMPARE(out, okm);
}

void tst_Crypto::hkdfRefusesImpossibleSizes()
{
    QByteArray out(255 * 32 + 1, '\0');
    auto *at = reinterpret_cast<quint8 *>(out.data());
    QString errorText;
    QVERIFY(!hkdfSha256("salt", "ikm", {}, at, 0, &errorText));
    QVERIFY(!errorText.isEmpty());
    QVERIFY(!hkdfSha256("salt", "ikm", {}, at, out.size(), &errorText));
    QVERIFY(hkdfSha256("salt", "ikm", {}, at, out.size() - 1, &errorText));
}

void tst_Crypto::noiseHkdfIsHmacChain_data()
{
    QTest::addColumn<QByteArray>("ikm");

    QTest::newRow("empty (Split)") << QByteArray();
    QTest::newRow("32 bytes (MixKey)") << range(0x20, 0x3f);
}

void tst_Crypto::noiseHkdfIsHmacChain()
{
    QFETCH(QByteArray, ikm);
    const SecretKey chainingKey = key(range(0x00, 0x1f));

    // The definition in the Noise specification, revision 34, section 4.3.
    const SecretKey temp = *hmacSha256(chainingKey.view(), {ikm});
    const SecretKey expected1 = *hmacSha256(temp.view(), {"\x01"});
    const SecretKey expected2 = *hmacSha256(temp.view(), {expected1.view(), "\x02"});
    const SecretKey expected3 = *hmacSha256(temp.view(), {expected2.view(), "\x03"});

    SecretKey out1, out2, out3;
    QVERIFY(noiseHkdf(chainingKey, ikm, out1, out2, out3));
    QCOMPARE(toBytes(out1.view()), toBytes(expected1.view()));
    QCOMPARE(toBytes(out2.view()), toBytes(expected2.view()));
    QCOMPARE(toBytes(out3.view()), toBytes(expected3.view()));

    SecretKey two1, two2;
    QVERIFY(noiseHkdf(chainingKey, ikm, two1, two2));
    QCOMPARE(toBytes(two1.view()), toBytes(expected1.view()));
    QCOMPARE(toBytes(two2.view()), toBytes(expected2.view()));
}

void tst_Crypto::noiseHkdfOutputMayBeChainingKey()
{
    SecretKey chainingKey = key(range(0x00, 0x1f));
    SecretKey expected1, expected2;
    QVERIFY(noiseHkdf(chainingKey, "ikm", expected1, expected2));

    SecretKey out2;
    QVERIFY(noiseHkdf(chainingKey, "ikm", chainingKey, out2));
    QCOMPARE(toBytes(chainingKey.view()), toBytes(expected1.view()));
    QCOMPARE(toBytes(out2.view()), toBytes(expected2.view()));
}

void tst_Crypto::aeadKnownAnswer()
{
    QByteArray sealed("prefix");
    QVERIFY(aeadSeal(key(aeadKey), nonce(aeadNonce), aeadAad, aeadPlaintext, sealed));
    QCOMPARE(sealed.first(6), "prefix");
    QCOMPARE(sealed.sliced(6), aeadSealed);

    QByteArray opened("prefix");
    QString errorText;
    QVERIFY2(aeadOpen(key(aeadKey), nonce(aeadNonce), aeadAad, aeadSealed, opened, &errorText),
             qPrintable(errorText));
    QCOMPARE(opened.first(6), "prefix");
    QCOMPARE(opened.sliced(6), aeadPlaintext);
}

void tst_Crypto::aeadTampered_data()
{
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QByteArray>("nonce");
    QTest::addColumn<QByteArray>("aad");
    QTest::addColumn<QByteArray>("sealed");

    const qsizetype tagStart = aeadPlaintext.size();
    QTest::newRow("ciphertext, first bit") << aeadKey << aeadNonce << aeadAad << flipBit(aeadSealed, 0);
    QTest::newRow("ciphertext, last bit")
        << aeadKey << aeadNonce << aeadAad << flipBit(aeadSealed, tagStart * 8 - 1);
    QTest::newRow("tag, first bit") << aeadKey << aeadNonce << aeadAad << flipBit(aeadSealed, tagStart * 8);
    QTest::newRow("tag, last bit")
        << aeadKey << aeadNonce << aeadAad << flipBit(aeadSealed, aeadSealed.size() * 8 - 1);
    QTest::newRow("aad") << aeadKey << aeadNonce << flipBit(aeadAad, 17) << aeadSealed;
    QTest::newRow("aad missing") << aeadKey << aeadNonce << QByteArray() << aeadSealed;
    QTest::newRow("nonce") << aeadKey << flipBit(aeadNonce, 95) << aeadAad << aeadSealed;
    QTest::newRow("key") << flipBit(aeadKey, 3) << aeadNonce << aeadAad << aeadSealed;
    QTest::newRow("tag cut") << aeadKey << aeadNonce << aeadAad << aeadSealed.chopped(1);
    QTest::newRow("shorter than a tag") << aeadKey << aeadNonce << aeadAad << aeadSealed.first(15);
    QTest::newRow("empty") << aeadKey << aeadNonce << aeadAad << QByteArray();
}

void tst_Crypto::aeadTampered()
{
    QFETCH(QByteArray, key);
    QFETCH(QByteArray, nonce);
    QFETCH(QByteArray, aad);
    QFETCH(QByteArray, sealed);

    QByteArray opened("prefix");
    QString errorText;
    QVERIFY(!aeadOpen(::key(key), ::nonce(nonce), aad, sealed, opened, &errorText));
    QCOMPARE(opened, "prefix");
    QVERIFY(!errorText.isEmpty());
}

void tst_Crypto::aeadEmptyPlaintext()
{
    QByteArray sealed;
    QVERIFY(aeadSeal(key(aeadKey), nonce(aeadNonce), aeadAad, {}, sealed));
    QCOMPARE(sealed.size(), tagSize);

    QByteArray opened;
    QVERIFY(aeadOpen(key(aeadKey), nonce(aeadNonce), aeadAad, sealed, opened));
    QVERIFY(opened.isEmpty());
    QVERIFY(!aeadOpen(key(aeadKey), nonce(aeadNonce), aeadAad, flipBit(sealed, 5), opened));
}

void tst_Crypto::x25519KnownAnswer()
{
    // RFC 7748, section 6.1.
    const SecretKey alicePrivate = key(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    const SecretKey bobPrivate = key(hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
    const QByteArray alicePublic = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    const QByteArray bobPublic = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const QByteArray shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

    const std::optional<KeyPair> alice = keyPairFromPrivateKey(alicePrivate);
    const std::optional<KeyPair> bob = keyPairFromPrivateKey(bobPrivate);
    QVERIFY(alice && bob);
    QCOMPARE(toBytes(bytesOf(alice->publicKey)), alicePublic);
    QCOMPARE(toBytes(bytesOf(bob->publicKey)), bobPublic);
    QCOMPARE(toBytes(alice->privateKey.view()), toBytes(alicePrivate.view()));

    const std::optional<SecretKey> aliceShared = x25519(alicePrivate, publicKey(bobPublic));
    const std::optional<SecretKey> bobShared = x25519(bobPrivate, publicKey(alicePublic));
    QVERIFY(aliceShared && bobShared);
    QCOMPARE(toBytes(aliceShared->view()), shared);
    QCOMPARE(toBytes(bobShared->view()), shared);
}

void tst_Crypto::x25519RefusesSmallOrderKeys_data()
{
    QTest::addColumn<QByteArray>("peer");

    QTest::newRow("0") << QByteArray(32, '\0');
    QTest::newRow("1") << hex("0100000000000000000000000000000000000000000000000000000000000000");
    QTest::newRow("order 8")
        << hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
}

void tst_Crypto::x25519RefusesSmallOrderKeys()
{
    QFETCH(QByteArray, peer);
    const std::optional<KeyPair> ours = generateKeyPair();
    QVERIFY(ours);
    QString errorText;
    QVERIFY(!x25519(ours->privateKey, publicKey(peer), &errorText));
    QVERIFY(!errorText.isEmpty());
}

void tst_Crypto::generatedKeyPairsAgree()
{
    const std::optional<KeyPair> a = generateKeyPair();
    const std::optional<KeyPair> b = generateKeyPair();
    QVERIFY(a && b);
    QVERIFY(a->publicKey != b->publicKey);
    const std::optional<SecretKey> ab = x25519(a->privateKey, b->publicKey);
    const std::optional<SecretKey> ba = x25519(b->privateKey, a->publicKey);
    QVERIFY(ab && ba);
    QCOMPARE(toBytes(ab->view()), toBytes(ba->view()));
}

void tst_Crypto::randomBytesDiffer()
{
    SecretKey a, b;
    QVERIFY(randomBytes(a.data(), qsizetype(a.size())));
    QVERIFY(randomBytes(b.data(), qsizetype(b.size())));
    QVERIFY(!constantTimeEquals(a.view(), b.view()));
    QVERIFY(!constantTimeEquals(a.view(), SecretKey().view()));
    QVERIFY(!randomBytes(a.data(), -1));
}

void tst_Crypto::constantTimeCompare()
{
    QVERIFY(constantTimeEquals("abc", "abc"));
    QVERIFY(constantTimeEquals({}, {}));
    QVERIFY(!constantTimeEquals("abc", "abd"));
    QVERIFY(!constantTimeEquals("abc", "ab"));
    QVERIFY(!constantTimeEquals({}, "a"));
}

void tst_Crypto::secretSize()
{
    QVERIFY(!SecretKey::fromBytes(QByteArray(31, 'k')));
    QVERIFY(!SecretKey::fromBytes(QByteArray(33, 'k')));
    const std::optional<SecretKey> secret = SecretKey::fromBytes(QByteArray(32, 'k'));
    QVERIFY(secret);
    QCOMPARE(toBytes(secret->view()), QByteArray(32, 'k'));
}

QTEST_GUILESS_MAIN(tst_Crypto)
#include "tst_crypto.moc"
