#include "wire/messagecodec_p.h"

#include <QtTest/QTest>

#include <QtCore/QBitArray>
#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QDataStream>
#include <QtCore/QDateTime>
#include <QtCore/QEasingCurve>
#include <QtCore/QElapsedTimer>
#include <QtCore/QPointF>
#include <QtCore/QRegularExpression>
#include <QtCore/QUrl>
#include <QtCore/QUuid>

#include <limits>

using namespace Qonduit::Wire;

namespace {

// A user type that travels by name with its own stream operators.
struct Point3
{
    qint32 x = 0;
    qint32 y = 0;
    qint32 z = 0;
    friend bool operator==(const Point3 &a, const Point3 &b) { return a.x == b.x && a.y == b.y && a.z == b.z; }
};

QDataStream &operator<<(QDataStream &s, const Point3 &p)
{
    return s << p.x << p.y << p.z;
}

QDataStream &operator>>(QDataStream &s, Point3 &p)
{
    return s >> p.x >> p.y >> p.z;
}

// Registered under a name but never given stream operators' registration by
// name at the receiver: see unknownTypeName().
struct NoOperators
{
    int v = 0;
};

constexpr quint8 dataStream = quint8(Encoding::DataStream);
constexpr quint8 cbor = quint8(Encoding::Cbor);

// Bytes of a hand-made QDataStream message.
template <typename... Ts>
QByteArray streamBytes(const Ts &...values)
{
    QByteArray bytes;
    QDataStream s(&bytes, QIODevice::WriteOnly);
    s.setVersion(QDataStream::Qt_6_0);
    (s << ... << values);
    return bytes;
}

QByteArray nestedLists(int depth)
{
    QByteArray bytes;
    QDataStream s(&bytes, QIODevice::WriteOnly);
    for (int i = 0; i < depth; ++i)
        s << quint32(QMetaType::QVariantList) << qint8(0) << quint32(1);
    s << quint32(QMetaType::Int) << qint8(0) << qint32(7);
    return bytes;
}

bool decode(quint8 flags, const QByteArray &payload, QVariant *out = nullptr, QString *text = nullptr)
{
    QVariant message;
    QString errorText;
    const bool ok = decodeMessage(flags, payload, message, errorText);
    if (ok && !message.isValid())
        qFatal("decodeMessage() delivered an invalid QVariant");
    if (!ok && errorText.isEmpty())
        qFatal("decodeMessage() failed without a reason");
    if (out)
        *out = message;
    if (text)
        *text = errorText;
    return ok;
}

QByteArray cborHello(const QCborMap &map)
{
    return QCborValue(map).toCbor();
}

QCborMap validHelloMap()
{
    return QCborMap{{QStringLiteral("versions"), QCborArray{1, 2}},
                    {QStringLiteral("maxFrame"), 1048576},
                    {QStringLiteral("window"), 65536},
                    {QStringLiteral("heartbeat"), 5000},
                    {QStringLiteral("caps"), 0}};
}

QCborMap validWelcomeMap()
{
    return QCborMap{{QStringLiteral("version"), 1},
                    {QStringLiteral("maxFrame"), 16384},
                    {QStringLiteral("window"), 1},
                    {QStringLiteral("heartbeat"), 0},
                    {QStringLiteral("caps"), 0}};
}

} // namespace

Q_DECLARE_METATYPE(Point3)
Q_DECLARE_METATYPE(NoOperators)

class tst_MessageCodec : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void dataStreamRoundTrip_data();
    void dataStreamRoundTrip();
    void fastPathMatchesQt_data();
    void fastPathMatchesQt();
    void customType();
    void unknownTypeName();
    void unknownTypeIds_data();
    void unknownTypeIds();
    void refusedTypes();
    void invalidVariant();
    void truncatedDataStream();
    void trailingBytes();
    void hugeCounts_data();
    void hugeCounts();
    void deepDataStreamNesting();
    void deepNestingAtTheSender();
    void decodedValueOutlivesPayload();
    void reservedEncodings();

    void cborRoundTrip_data();
    void cborRoundTrip();
    void cborInvalid_data();
    void cborInvalid();
    void cborDeepNesting();

    void helloRoundTrip();
    void helloInvalid_data();
    void helloInvalid();
    void helloLenient();

    void credit();
    void openPayload_data();
    void openPayload();
    void errorRoundTrip_data();
    void errorRoundTrip();
    void errorTextIsCut();
    void errorInvalid_data();
    void errorInvalid();

    void throughput_data();
    void throughput();
};

void tst_MessageCodec::initTestCase()
{
    qRegisterMetaType<Point3>();
    qRegisterMetaType<NoOperators>();
}

void tst_MessageCodec::init()
{
    // Hostile input must never make Qt (or us) print anything.
    QTest::failOnWarning(QRegularExpression(QStringLiteral(".*")));
}

void tst_MessageCodec::dataStreamRoundTrip_data()
{
    QTest::addColumn<QVariant>("message");
    QTest::newRow("int") << QVariant(42);
    QTest::newRow("uint") << QVariant(4000000000u);
    QTest::newRow("qulonglong") << QVariant(Q_UINT64_C(18000000000000000000));
    QTest::newRow("float") << QVariant(1.5f);
    QTest::newRow("negative qint64") << QVariant(qint64(-1099511627776));
    QTest::newRow("double") << QVariant(3.25);
    QTest::newRow("bool") << QVariant(true);
    QTest::newRow("string") << QVariant(QStringLiteral("Grüße, 世界 🌍"));
    QTest::newRow("empty string") << QVariant(QString(u""_qs));
    QTest::newRow("null string") << QVariant(QString());
    QTest::newRow("byte array") << QVariant(QByteArray("\x00\x01\xff binary", 11));
    QTest::newRow("large byte array") << QVariant(QByteArray(1 << 20, 'z'));
    QTest::newRow("string list") << QVariant(QStringList{QStringLiteral("a"), QString(), QStringLiteral("ç")});
    QTest::newRow("byte array list") << QVariant::fromValue(QByteArrayList{"x", "", "yz"});
    QTest::newRow("bit array") << QVariant(QBitArray(35, true));
    QTest::newRow("empty bit array") << QVariant(QBitArray());
    QTest::newRow("date time") << QVariant(QDateTime(QDate(2024, 2, 29), QTime(23, 59, 58, 999), Qt::UTC));
    QTest::newRow("url") << QVariant(QUrl(QStringLiteral("tcp://host:7000/path?q=1")));
    QTest::newRow("uuid") << QVariant(QUuid::fromString(u"{67c8770b-44f1-410a-ab9a-f9b5446f13ee}"));
    QTest::newRow("point") << QVariant(QPointF(1.5, -2));
    QTest::newRow("cbor value") << QVariant::fromValue(QCborValue(QCborArray{1, QStringLiteral("two")}));
    QTest::newRow("empty list") << QVariant(QVariantList());
    QTest::newRow("null list") << QVariant(QMetaType::fromType<QVariantList>());
    QTest::newRow("null map") << QVariant(QMetaType::fromType<QVariantMap>());
    QTest::newRow("pair") << QVariant::fromValue(QVariantPair(QVariant(1), QVariant(QStringLiteral("one"))));

    const QVariantMap inner{{QStringLiteral("n"), 1}, {QStringLiteral("list"), QVariantList{1, 2.5, QStringLiteral("x")}}};
    const QVariantList list{1, QStringLiteral("two"), QVariant(), inner, QVariantList{QVariantList{QVariantList{}}}};
    QTest::newRow("nested list") << QVariant(list);
    QTest::newRow("nested map") << QVariant(QVariantMap{{QStringLiteral("inner"), inner},
                                                        {QStringLiteral("list"), list},
                                                        {QString(), QVariant()}});
    QTest::newRow("hash") << QVariant(QVariantHash{{QStringLiteral("a"), list}, {QStringLiteral("b"), 2}});
}

void tst_MessageCodec::dataStreamRoundTrip()
{
    QFETCH(QVariant, message);
    const QByteArray qtBytes = streamBytes(message);
    QString why;
    const QByteArray bytes = encodeDataStream(message, &why);
    QVERIFY2(!bytes.isNull(), qPrintable(why));
    // The encoder leaves the message alone (QString::utf16() would not).
    QCOMPARE(streamBytes(message), qtBytes);
    QVariant decoded;
    QString text;
    QVERIFY2(decode(dataStream, bytes, &decoded, &text), qPrintable(text));
    QCOMPARE(decoded.metaType(), message.metaType());
    QCOMPARE(decoded, message);
    QCOMPARE(decoded.isNull(), message.isNull());
    // Exactly what Qt writes, and what Qt would have made of it.
    QCOMPARE(bytes, qtBytes);
    QCOMPARE(encodeDataStream(decoded), bytes);
}

void tst_MessageCodec::fastPathMatchesQt_data()
{
    QTest::addColumn<QByteArray>("bytes");
    const auto add = [](const char *name, const QByteArray &bytes) { QTest::newRow(name) << bytes; };
    add("int", streamBytes(QVariant(-7)));
    add("uint max", streamBytes(QVariant(0xffffffffu)));
    add("qlonglong min", streamBytes(QVariant(std::numeric_limits<qlonglong>::min())));
    add("qulonglong max", streamBytes(QVariant(std::numeric_limits<qulonglong>::max())));
    add("double NaN", streamBytes(QVariant(std::numeric_limits<double>::quiet_NaN())));
    add("double -0", streamBytes(QVariant(-0.0)));
    add("double -inf", streamBytes(QVariant(-std::numeric_limits<double>::infinity())));
    add("bool false", streamBytes(QVariant(false)));
    add("bool 2", QByteArray::fromHex("0000000100" "02"));
    add("null string", streamBytes(QVariant(QString())));
    add("empty string", streamBytes(QVariant(QString(u""_qs))));
    add("string with surrogates", streamBytes(QVariant(QStringLiteral("a🙂\u00e9"))));
    add("lone surrogate", QByteArray::fromHex("0000000a00" "00000002" "d800"));
    add("odd string length", QByteArray::fromHex("0000000a00" "00000003" "004100"));
    add("string cut", QByteArray::fromHex("0000000a00" "00000004" "0041"));
    add("null byte array", streamBytes(QVariant(QByteArray())));
    add("empty byte array", streamBytes(QVariant(QByteArray(""))));
    add("byte array", streamBytes(QVariant(QByteArray("\x00\xff", 2))));
    add("byte array cut", QByteArray::fromHex("0000000c00" "00000003" "0102"));
    add("byte array length cut", QByteArray::fromHex("0000000c00" "0000"));
    add("int cut", QByteArray::fromHex("0000000200" "000000"));
    add("int and trailing byte", QByteArray::fromHex("0000000200" "0000000100"));
    add("header only", QByteArray::fromHex("0000000200"));
    add("header cut", QByteArray::fromHex("00000002"));
    add("null flag on an int", QByteArray::fromHex("0000000201" "00000000"));
    add("null flag on a null byte array", QByteArray::fromHex("0000000c01" "ffffffff"));
    add("null flag 2", QByteArray::fromHex("0000000a02" "ffffffff"));
    add("int flagged null by QVariant", streamBytes(QVariant(QMetaType::fromType<int>())));
    add("string flagged null by QVariant", streamBytes(QVariant(QMetaType::fromType<QString>())));
}

void tst_MessageCodec::fastPathMatchesQt()
{
    // The plain values are read without a QDataStream: the verdict and the
    // value must be Qt's own, to the byte.
    QFETCH(QByteArray, bytes);
    QDataStream qt(bytes);
    qt.setVersion(QDataStream::Qt_6_0);
    QVariant expected;
    qt >> expected;
    const bool qtAccepts = qt.status() == QDataStream::Ok && qt.atEnd() && expected.isValid();

    QVariant decoded;
    QString text;
    QCOMPARE(decode(dataStream, bytes, &decoded, &text), qtAccepts);
    if (!qtAccepts)
        return;
    QCOMPARE(decoded.metaType(), expected.metaType());
    QCOMPARE(decoded.isNull(), expected.isNull());
    QCOMPARE(streamBytes(decoded), streamBytes(expected));
    QCOMPARE(encodeDataStream(decoded), streamBytes(expected));
    if (decoded.metaType() == QMetaType::fromType<QString>())
        QCOMPARE(decoded.toString().isNull(), expected.toString().isNull());
    if (decoded.metaType() == QMetaType::fromType<QByteArray>())
        QCOMPARE(decoded.toByteArray().isNull(), expected.toByteArray().isNull());
}

void tst_MessageCodec::customType()
{
    const Point3 p{1, -2, 3};
    const QVariant message = QVariant::fromValue(p);
    const QByteArray bytes = encodeDataStream(message);
    QVERIFY(!bytes.isNull());
    QVERIFY(bytes.contains("Point3")); // travels by name
    QVariant decoded;
    QString text;
    QVERIFY2(decode(dataStream, bytes, &decoded, &text), qPrintable(text));
    QCOMPARE(decoded.metaType(), QMetaType::fromType<Point3>());
    QCOMPARE(decoded.value<Point3>(), p);

    // Inside containers too.
    const QVariant nested(QVariantMap{{QStringLiteral("p"), message}, {QStringLiteral("l"), QVariantList{message, 1}}});
    QVERIFY(decode(dataStream, encodeDataStream(nested), &decoded));
    QCOMPARE(decoded.toMap().value(QStringLiteral("p")).value<Point3>(), p);
    QCOMPARE(decoded.toMap().value(QStringLiteral("l")).toList().first().value<Point3>(), p);

    // A truncated custom value.
    QVERIFY(!decode(dataStream, bytes.chopped(2)));
}

void tst_MessageCodec::unknownTypeName()
{
    QString text;
    // A type this process never heard of.
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), QByteArray("NoSuchType"), qint32(1)),
                    nullptr, &text));
    QVERIFY2(text.contains(QLatin1String("NoSuchType")), qPrintable(text));

    // Registered, but without stream operators: refused at both ends.
    const QVariant value = QVariant::fromValue(NoOperators{5});
    QString why;
    QVERIFY(encodeDataStream(value, &why).isNull());
    QVERIFY2(why.contains(QLatin1String("NoOperators")), qPrintable(why));
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), QByteArray("NoOperators"), qint32(5)),
                    nullptr, &text));
    QVERIFY2(text.contains(QLatin1String("NoOperators")), qPrintable(text));

    // Nested in a list, and with an unprintable name.
    QVERIFY(!decode(dataStream,
                    streamBytes(quint32(QMetaType::QVariantList), qint8(0), quint32(1), quint32(QMetaType::User),
                                qint8(0), QByteArray("Bad\x01\xffName"), qint32(1)),
                    nullptr, &text));
    QVERIFY2(text.contains(QLatin1String("Bad??Name")), qPrintable(text));

    // A built-in type sent by name (Qt never writes one so).
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), QByteArray("QString"), QString()),
                    nullptr, &text));
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), QByteArray("QColor"), qint8(0)),
                    nullptr, &text));
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), QByteArray(), qint8(0))));
    // Names Qt would normalize into a type: only the normalized name counts
    // ("QPalette\0..." made Qt warn, found by fuzzing).
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), QByteArray("QPalette\0xyz", 12), qint8(0)),
                    nullptr, &text));
    QVERIFY2(text.contains(QLatin1String("normalized")), qPrintable(text));
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), QByteArray(" QPalette"), qint8(0))));
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), QByteArray("const Point3&"), Point3{})));
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), QByteArray("Point3\0\0", 8), Point3{})));
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::User), qint8(0), quint32(0xffffffff))));
}

void tst_MessageCodec::unknownTypeIds_data()
{
    QTest::addColumn<quint32>("id");
    QTest::newRow("27 (a hole)") << 27u;
    QTest::newRow("59 (after the core types)") << 59u;
    QTest::newRow("QColor (no QtGui here)") << quint32(QMetaType::QColor);
    QTest::newRow("QSizePolicy (no QtWidgets here)") << quint32(QMetaType::QSizePolicy);
    QTest::newRow("User + 1") << quint32(QMetaType::User + 1);
    QTest::newRow("0x7FFFFFFF") << 0x7fffffffu;
    QTest::newRow("0xFFFFFFFF") << 0xffffffffu;
}

void tst_MessageCodec::unknownTypeIds()
{
    QFETCH(quint32, id);
    QString text;
    QVERIFY(!decode(dataStream, streamBytes(id, qint8(0), qint32(0), qint32(0)), nullptr, &text));
    QVERIFY2(text.contains(QString::number(id)), qPrintable(text));
}

void tst_MessageCodec::refusedTypes()
{
    QString why;
    // QEasingCurve's stream format carries a function pointer.
    const QVariant curve = QVariant::fromValue(QEasingCurve(QEasingCurve::OutBounce));
    QVERIFY(encodeDataStream(curve, &why).isNull());
    QVERIFY2(why.contains(QLatin1String("QEasingCurve")), qPrintable(why));
    QVERIFY(!decode(dataStream, streamBytes(curve)));
    QVERIFY(!decode(dataStream, streamBytes(QVariant(QVariantList{1, curve}))));

    // Types without stream operators.
    QVERIFY(encodeDataStream(QVariant::fromValue<QObject *>(this)).isNull());
    QVERIFY(encodeDataStream(QVariant::fromValue<void *>(nullptr)).isNull());
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::QObjectStar), qint8(0), quint64(0x4141414141414141))));
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::VoidStar), qint8(0), quint64(0x4141414141414141))));
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::Void), qint8(0))));

    // A QVariant holding a QVariant.
    QVERIFY(!decode(dataStream, streamBytes(quint32(QMetaType::QVariant), qint8(0), QVariant(1))));

    // A refused type deep inside a container fails at the sender too.
    QVERIFY(encodeDataStream(QVariant(QVariantMap{{QStringLiteral("k"), QVariantList{1, curve}}}), &why).isNull());
}

void tst_MessageCodec::invalidVariant()
{
    QString why;
    QVERIFY(encodeDataStream(QVariant(), &why).isNull());
    QVERIFY(!why.isEmpty());
    QString text;
    QVERIFY(!decode(dataStream, streamBytes(QVariant()), nullptr, &text));
    QVERIFY2(text.contains(QLatin1String("invalid")), qPrintable(text));
    // Nested, an invalid QVariant is an ordinary value.
    QVariant decoded;
    QVERIFY(decode(dataStream, encodeDataStream(QVariant(QVariantList{QVariant(), 1})), &decoded));
    QCOMPARE(decoded.toList().size(), 2);
    QVERIFY(!decoded.toList().first().isValid());
}

void tst_MessageCodec::truncatedDataStream()
{
    const QVariantList samples{
        42, QStringLiteral("string"), QByteArray("bytes"), QVariant::fromValue(Point3{1, 2, 3}),
        QVariantMap{{QStringLiteral("k"), QVariantList{1, QStringLiteral("v"), QVariantHash{{QStringLiteral("h"), 2.0}}}}},
        QStringList{QStringLiteral("a"), QStringLiteral("b")},
        QDateTime(QDate(2020, 1, 1), QTime(0, 0), Qt::UTC),
    };
    for (const QVariant &sample : samples) {
        const QByteArray bytes = encodeDataStream(sample);
        QVERIFY(!bytes.isEmpty());
        for (qsizetype n = 0; n < bytes.size(); ++n) {
            QString text;
            QVERIFY2(!decode(dataStream, bytes.first(n), nullptr, &text),
                     qPrintable(QStringLiteral("%1 cut to %2 bytes").arg(QLatin1String(sample.typeName())).arg(n)));
        }
        QVERIFY(decode(dataStream, bytes));
    }
}

void tst_MessageCodec::trailingBytes()
{
    QString text;
    QVERIFY(!decode(dataStream, encodeDataStream(QVariant(7)) + "x", nullptr, &text));
    QVERIFY2(text.contains(QLatin1String("after")), qPrintable(text));
    QVERIFY(!decode(dataStream, encodeDataStream(QVariant(7)) + encodeDataStream(QVariant(8))));
}

void tst_MessageCodec::hugeCounts_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("QVariantList of 0xFFFFFFFF")
        << streamBytes(quint32(QMetaType::QVariantList), qint8(0), quint32(0xffffffff), QVariant(1));
    QTest::newRow("QVariantList of 0x10000000, nested")
        << streamBytes(quint32(QMetaType::QVariantList), qint8(0), quint32(1), quint32(QMetaType::QVariantList),
                       qint8(0), quint32(0x10000000), QVariant(1));
    QTest::newRow("QVariantMap of 0x7FFFFFFF")
        << streamBytes(quint32(QMetaType::QVariantMap), qint8(0), quint32(0x7fffffff), QString(), QVariant(1));
    QTest::newRow("QVariantHash of 0xFFFFFFFF")
        << streamBytes(quint32(QMetaType::QVariantHash), qint8(0), quint32(0xffffffff), QString(), QVariant(1));
    QTest::newRow("QStringList of 0xFFFFFFFF")
        << streamBytes(quint32(QMetaType::QStringList), qint8(0), quint32(0xffffffff), QString());
    QTest::newRow("QByteArrayList of 0xFFFFFFFF")
        << streamBytes(quint32(QMetaType::QByteArrayList), qint8(0), quint32(0xffffffff), QByteArray());
    QTest::newRow("QByteArray of 0xFFFFFFFE")
        << streamBytes(quint32(QMetaType::QByteArray), qint8(0), quint32(0xfffffffe), quint32(0));
    QTest::newRow("QString of 0xFFFFFFFE")
        << streamBytes(quint32(QMetaType::QString), qint8(0), quint32(0xfffffffe), quint32(0));
    // Qt 6.4's own QBitArray reader crashes on these (found by fuzzing).
    QTest::newRow("QBitArray of -1 bits") << streamBytes(quint32(QMetaType::QBitArray), qint8(0), qint64(-1), quint32(0));
    QTest::newRow("QBitArray of 2^63-1 bits")
        << streamBytes(quint32(QMetaType::QBitArray), qint8(0), qint64(0x7fffffffffffffff), quint32(0));
    QTest::newRow("QBitArray of 2^31 bits")
        << streamBytes(quint32(QMetaType::QBitArray), qint8(0), qint64(0x80000000), quint32(0));
    QTest::newRow("QBitArray of 33 bits in 4 bytes")
        << streamBytes(quint32(QMetaType::QBitArray), qint8(0), qint64(33), quint32(0));
    QTest::newRow("QVariantList of 3 with 2 elements")
        << streamBytes(quint32(QMetaType::QVariantList), qint8(0), quint32(3), QVariant(1), QVariant(2));
}

void tst_MessageCodec::hugeCounts()
{
    QFETCH(QByteArray, bytes);
    QElapsedTimer timer;
    timer.start();
    QString text;
    QVERIFY(!decode(dataStream, bytes, nullptr, &text));
    QVERIFY(timer.elapsed() < 1000);
}

void tst_MessageCodec::deepDataStreamNesting()
{
    QVariant decoded;
    QString text;
    QVERIFY2(decode(dataStream, nestedLists(maxMessageDepth), &decoded, &text), qPrintable(text));
    QVERIFY(!decode(dataStream, nestedLists(maxMessageDepth + 1), nullptr, &text));
    QVERIFY2(text.contains(QString::number(maxMessageDepth)), qPrintable(text));
    // Qt's own reader overflows the stack here.
    QVERIFY(!decode(dataStream, nestedLists(200000)));

    // Maps, hashes and pairs count as levels too.
    QByteArray maps;
    QByteArray pairs;
    {
        QDataStream m(&maps, QIODevice::WriteOnly);
        QDataStream p(&pairs, QIODevice::WriteOnly);
        for (int i = 0; i < 100000; ++i) {
            m << quint32(i % 2 ? QMetaType::QVariantMap : QMetaType::QVariantHash) << qint8(0) << quint32(1)
              << QStringLiteral("k");
            p << quint32(QMetaType::QVariantPair) << qint8(0);
        }
    }
    QVERIFY(!decode(dataStream, maps, nullptr, &text));
    QVERIFY2(text.contains(QString::number(maxMessageDepth)), qPrintable(text));
    QVERIFY(!decode(dataStream, pairs, nullptr, &text));
    QVERIFY2(text.contains(QString::number(maxMessageDepth)), qPrintable(text));
}

void tst_MessageCodec::deepNestingAtTheSender()
{
    QVariant value(1);
    for (int i = 0; i < maxMessageDepth; ++i)
        value = QVariant(QVariantList{value});
    QVERIFY(!encodeDataStream(value).isNull());
    value = QVariant(QVariantList{value});
    QString why;
    QVERIFY(encodeDataStream(value, &why).isNull());
    QVERIFY2(why.contains(QString::number(maxMessageDepth)), qPrintable(why));
}

void tst_MessageCodec::decodedValueOutlivesPayload()
{
    // Decoders read the payload in place (fromRawData): what they deliver
    // must not point into it. Under ASan a dangling reference would show.
    const QVariant message(QVariantMap{{QStringLiteral("bytes"), QByteArray(1000, 'b')},
                                       {QStringLiteral("text"), QStringLiteral("text value")}});
    QVariant fromStream;
    QVariant fromCbor;
    {
        QByteArray payload = encodeDataStream(message);
        QString text;
        QVERIFY(decodeMessage(dataStream, QByteArrayView(payload), fromStream, text));
        payload.fill('\xee');
    }
    {
        QByteArray payload = encodeCbor(QCborValue::fromVariant(message));
        QString text;
        QVERIFY(decodeMessage(cbor, QByteArrayView(payload), fromCbor, text));
        payload.fill('\xee');
    }
    QCOMPARE(fromStream, message);
    QCOMPARE(fromCbor.toMap().value(QStringLiteral("bytes")).toByteArray(), QByteArray(1000, 'b'));
    QCOMPARE(fromCbor.toMap().value(QStringLiteral("text")).toString(), QStringLiteral("text value"));
}

void tst_MessageCodec::reservedEncodings()
{
    const QByteArray bytes = encodeDataStream(QVariant(1));
    QString text;
    for (quint8 flags : {quint8(2), quint8(3), quint8(4), quint8(0x80)}) {
        QVERIFY(!decode(flags, bytes, nullptr, &text));
        QVERIFY(!text.isEmpty());
    }
}

void tst_MessageCodec::cborRoundTrip_data()
{
    QTest::addColumn<QCborValue>("value");
    QTest::addColumn<QVariant>("expected");
    QTest::newRow("integer") << QCborValue(-5) << QVariant(qlonglong(-5));
    QTest::newRow("text") << QCborValue(QStringLiteral("Grüße")) << QVariant(QStringLiteral("Grüße"));
    QTest::newRow("bytes") << QCborValue(QByteArray("\x00\x01", 2)) << QVariant(QByteArray("\x00\x01", 2));
    QTest::newRow("double") << QCborValue(0.5) << QVariant(0.5);
    QTest::newRow("bool") << QCborValue(false) << QVariant(false);
    QTest::newRow("null") << QCborValue(nullptr) << QVariant::fromValue(nullptr);
    QTest::newRow("array") << QCborValue(QCborArray{1, QStringLiteral("a")})
                           << QVariant(QVariantList{qlonglong(1), QStringLiteral("a")});
    QTest::newRow("map") << QCborValue(QCborMap{{QStringLiteral("k"), QCborArray{true}}})
                         << QVariant(QVariantMap{{QStringLiteral("k"), QVariantList{true}}});
}

void tst_MessageCodec::cborRoundTrip()
{
    QFETCH(QCborValue, value);
    QFETCH(QVariant, expected);
    QVariant decoded;
    QString text;
    QVERIFY2(decode(cbor, encodeCbor(value), &decoded, &text), qPrintable(text));
    QCOMPARE(decoded, expected);
}

void tst_MessageCodec::cborInvalid_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("truncated text") << QByteArray::fromHex("6568656c");
    QTest::newRow("truncated array") << QByteArray::fromHex("83010203").chopped(1);
    QTest::newRow("trailing bytes") << QByteArray::fromHex("0102");
    QTest::newRow("two items") << QByteArray::fromHex("8101" "8101");
    QTest::newRow("invalid UTF-8 text") << QByteArray::fromHex("62c328");
    QTest::newRow("invalid UTF-8 in a map key") << QByteArray::fromHex("a162c32801");
    QTest::newRow("invalid UTF-8 in a chunked text") << QByteArray::fromHex("7f62c328ff");
    QTest::newRow("invalid UTF-8 under a tag") << QByteArray::fromHex("d82064c328c328");
    QTest::newRow("surrogate in UTF-8") << QByteArray::fromHex("63eda080");
    QTest::newRow("array of 2^64-1") << QByteArray::fromHex("9bffffffffffffffff01");
    QTest::newRow("array of 0x7FFFFFFF") << QByteArray::fromHex("9a7fffffff01");
    QTest::newRow("map of 2^56") << QByteArray::fromHex("bb0100000000000000" "0101");
    QTest::newRow("bytes of 0x7FFFFFFF") << QByteArray::fromHex("5a7fffffff01");
    QTest::newRow("text of 2^63") << QByteArray::fromHex("7b8000000000000000" "41");
    QTest::newRow("undefined") << QByteArray::fromHex("f7");
    QTest::newRow("break alone") << QByteArray::fromHex("ff");
    QTest::newRow("reserved additional info") << QByteArray::fromHex("1c");
}

void tst_MessageCodec::cborInvalid()
{
    QFETCH(QByteArray, bytes);
    QElapsedTimer timer;
    timer.start();
    QString text;
    QVERIFY(!decode(cbor, bytes, nullptr, &text));
    QVERIFY(timer.elapsed() < 1000);
}

void tst_MessageCodec::cborDeepNesting()
{
    // 10,000 nested arrays: refused (QCborValue stops at 1024), no crash.
    QString text;
    QVERIFY(!decode(cbor, QByteArray(10000, char(0x81)) + char(0x01), nullptr, &text));
    QVERIFY(!decode(cbor, QByteArray(1000000, char(0x9f)), nullptr, &text)); // indefinite, unterminated
    QVERIFY(!decode(cbor, QByteArray(100000, char(0xa1)) + char(0x01), nullptr, &text)); // maps as keys
    // Up to the limit it decodes.
    QVariant decoded;
    QVERIFY2(decode(cbor, QByteArray(1000, char(0x81)) + char(0x01), &decoded, &text), qPrintable(text));
}

void tst_MessageCodec::helloRoundTrip()
{
    Hello hello;
    hello.versions = {1, 7, 0xffffffffu};
    hello.maxFrame = 0x7fffffff;
    hello.window = 1;
    hello.heartbeatMs = 0;
    hello.caps = ~quint64(0);
    const QByteArray bytes = encodeHello(hello, FrameType::Hello);
    QVERIFY(bytes.size() <= maxHandshakePayload);
    Hello decoded;
    QString text;
    QVERIFY2(decodeHello(bytes, FrameType::Hello, decoded, text), qPrintable(text));
    QCOMPARE(decoded.versions, hello.versions);
    QCOMPARE(decoded.maxFrame, hello.maxFrame);
    QCOMPARE(decoded.window, hello.window);
    QCOMPARE(decoded.heartbeatMs, hello.heartbeatMs);
    QCOMPARE(decoded.caps, hello.caps);
    QVERIFY(decoded.client.isNull());

    // A tls:// client's claimed name: HELLO only, as written.
    hello.client = QStringLiteral("álice.example");
    const QByteArray claiming = encodeHello(hello, FrameType::Hello);
    QVERIFY2(decodeHello(claiming, FrameType::Hello, decoded, text), qPrintable(text));
    QCOMPARE(decoded.client, hello.client);
    QCOMPARE(decoded.versions, hello.versions);

    Hello welcome;
    welcome.version = 1;
    const QByteArray welcomeBytes = encodeHello(welcome, FrameType::Welcome);
    Hello decodedWelcome;
    QVERIFY2(decodeHello(welcomeBytes, FrameType::Welcome, decodedWelcome, text), qPrintable(text));
    QCOMPARE(decodedWelcome.version, 1u);
    QCOMPARE(decodedWelcome.maxFrame, defaultMaxFrame);
    QCOMPARE(decodedWelcome.window, welcome.window);
    QCOMPARE(decodedWelcome.heartbeatMs, welcome.heartbeatMs);

    // Each is refused as the other, since the version key differs.
    QVERIFY(!decodeHello(bytes, FrameType::Welcome, decodedWelcome, text));
    QVERIFY(!decodeHello(welcomeBytes, FrameType::Hello, decoded, text));
    QVERIFY(!decodeHello(bytes, FrameType::Data, decoded, text));

    // The hand-written maps of the tests are valid too.
    QVERIFY2(decodeHello(cborHello(validHelloMap()), FrameType::Hello, decoded, text), qPrintable(text));
    QCOMPARE(decoded.versions, (QList<quint32>{1, 2}));
    QVERIFY2(decodeHello(cborHello(validWelcomeMap()), FrameType::Welcome, decoded, text), qPrintable(text));
}

void tst_MessageCodec::helloInvalid_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("welcome");
    QTest::addColumn<QString>("hint");

    const auto with = [](QCborMap map, const QString &key, const QCborValue &value) {
        map.insert(key, value);
        return cborHello(map);
    };
    const auto without = [](QCborMap map, const QString &key) {
        map.remove(key);
        return cborHello(map);
    };
    const QCborMap hello = validHelloMap();
    const QCborMap welcome = validWelcomeMap();

    QTest::newRow("empty") << QByteArray() << false << QString();
    QTest::newRow("array") << QCborValue(QCborArray{1}).toCbor() << false << QStringLiteral("map");
    QTest::newRow("integer") << QCborValue(1).toCbor() << false << QStringLiteral("map");
    QTest::newRow("truncated") << cborHello(hello).chopped(1) << false << QString();
    QTest::newRow("trailing bytes") << cborHello(hello) + char(0) << false << QStringLiteral("after");
    QTest::newRow("too large") << QByteArray(maxHandshakePayload + 1, char(0xa0)) << false << QStringLiteral("4096");
    for (const char *key : {"versions", "maxFrame", "window", "heartbeat", "caps"})
        QTest::addRow("HELLO without %s", key) << without(hello, QString::fromLatin1(key)) << false << QString::fromLatin1(key);
    for (const char *key : {"version", "maxFrame", "window", "heartbeat", "caps"})
        QTest::addRow("WELCOME without %s", key) << without(welcome, QString::fromLatin1(key)) << true << QString::fromLatin1(key);
    QTest::newRow("versions empty") << with(hello, u"versions"_qs, QCborArray()) << false << QStringLiteral("version");
    QTest::newRow("versions not an array") << with(hello, u"versions"_qs, 1) << false << QStringLiteral("versions");
    QCborArray many;
    for (int i = 0; i < 1001; ++i)
        many.append(1);
    QTest::newRow("1001 versions") << with(hello, u"versions"_qs, many) << false << QStringLiteral("1000");
    QTest::newRow("1001 versions, indefinite")
        << QByteArray::fromHex("a16876657273696f6e739f") + QByteArray(1001, char(1)) + char(0xff) << false
        << QStringLiteral("1000");
    QTest::newRow("version above 32 bits") << with(hello, u"versions"_qs, QCborArray{qint64(1) << 32}) << false
                                           << QStringLiteral("versions");
    QTest::newRow("negative version") << with(hello, u"versions"_qs, QCborArray{-1}) << false << QStringLiteral("versions");
    QTest::newRow("maxFrame 16383") << with(hello, u"maxFrame"_qs, 16383) << false << QStringLiteral("16384");
    QTest::newRow("maxFrame 2^32") << with(hello, u"maxFrame"_qs, qint64(1) << 32) << false << QStringLiteral("maxFrame");
    QTest::newRow("maxFrame as text") << with(hello, u"maxFrame"_qs, u"65536"_qs) << false << QStringLiteral("maxFrame");
    QTest::newRow("maxFrame as double") << with(hello, u"maxFrame"_qs, 65536.0) << false << QStringLiteral("maxFrame");
    QTest::newRow("window 0") << with(hello, u"window"_qs, 0) << false << QStringLiteral("window");
    QTest::newRow("window 2^31") << with(hello, u"window"_qs, qint64(1) << 31) << false << QStringLiteral("window");
    QTest::newRow("client empty") << with(hello, u"client"_qs, u""_qs) << false << QStringLiteral("client");
    QTest::newRow("client not text") << with(hello, u"client"_qs, 7) << false << QStringLiteral("client");
    QTest::newRow("client 256 bytes") << with(hello, u"client"_qs, QString(128, u'é')) << false
                                      << QStringLiteral("255");
    QTest::newRow("heartbeat negative") << with(hello, u"heartbeat"_qs, -1) << false << QStringLiteral("heartbeat");
    QTest::newRow("heartbeat -2^64")
        << QByteArray::fromHex("a169686561727462656174" "3bffffffffffffffff") << false << QStringLiteral("heartbeat");
    QTest::newRow("heartbeat null") << with(hello, u"heartbeat"_qs, QCborValue(nullptr)) << false
                                    << QStringLiteral("heartbeat");
    QTest::newRow("caps bool") << with(hello, u"caps"_qs, true) << false << QStringLiteral("caps");
    QTest::newRow("version as text") << with(welcome, u"version"_qs, u"1"_qs) << true << QStringLiteral("version");

    // Duplicate and non-text keys.
    QCborMap twice = hello;
    QByteArray dup = cborHello(twice);
    dup[0] = char(0xa6);                                     // six entries
    dup += QCborValue(u"window"_qs).toCbor() + QCborValue(1).toCbor();
    QTest::newRow("duplicate key") << dup << false << QStringLiteral("twice");
    QByteArray intKey = cborHello(hello);
    intKey[0] = char(0xa6);
    intKey += QCborValue(1).toCbor() + QCborValue(1).toCbor();
    QTest::newRow("integer key") << intKey << false << QStringLiteral("text");
    QByteArray badKey = cborHello(hello);
    badKey[0] = char(0xa6);
    badKey += QByteArray::fromHex("62c32801");
    QTest::newRow("invalid UTF-8 key") << badKey << false << QString();
}

void tst_MessageCodec::helloInvalid()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, welcome);
    QFETCH(QString, hint);
    Hello decoded;
    decoded.maxFrame = 12345;
    QString text;
    QVERIFY(!decodeHello(bytes, welcome ? FrameType::Welcome : FrameType::Hello, decoded, text));
    QVERIFY(!text.isEmpty());
    if (!hint.isEmpty())
        QVERIFY2(text.contains(hint), qPrintable(text));
    QCOMPARE(decoded.maxFrame, 12345u); // untouched on failure
}

void tst_MessageCodec::helloLenient()
{
    // Unknown keys, whatever their values, are ignored.
    QCborMap map = validHelloMap();
    map.insert(u"future"_qs, QCborMap{{u"nested"_qs, QCborArray{1, 2, QCborArray{}}}});
    map.insert(u"version"_qs, u"a WELCOME key, unknown in a HELLO"_qs);
    map.insert(u"zzz"_qs, QByteArray("bytes"));
    Hello decoded;
    QString text;
    QVERIFY2(decodeHello(cborHello(map), FrameType::Hello, decoded, text), qPrintable(text));
    QCOMPARE(decoded.window, 65536u);

    // "client" is HELLO's: in a WELCOME it is unknown, whatever it holds.
    QCborMap welcome = validWelcomeMap();
    welcome.insert(u"client"_qs, 7);
    QVERIFY2(decodeHello(cborHello(welcome), FrameType::Welcome, decoded, text), qPrintable(text));

    // Indefinite-length map and array, keys in any order.
    const QByteArray indefinite = QByteArray::fromHex("bf") + QCborValue(u"caps"_qs).toCbor() + QCborValue(0).toCbor()
            + QCborValue(u"window"_qs).toCbor() + QCborValue(10).toCbor() + QCborValue(u"heartbeat"_qs).toCbor()
            + QCborValue(0).toCbor() + QCborValue(u"versions"_qs).toCbor() + QByteArray::fromHex("9f0102ff")
            + QCborValue(u"maxFrame"_qs).toCbor() + QCborValue(16384).toCbor() + QByteArray::fromHex("ff");
    QVERIFY2(decodeHello(indefinite, FrameType::Hello, decoded, text), qPrintable(text));
    QCOMPARE(decoded.versions, (QList<quint32>{1, 2}));
    QCOMPARE(decoded.window, 10u);
    QCOMPARE(decoded.maxFrame, 16384u);
}

void tst_MessageCodec::openPayload_data()
{
    QTest::addColumn<QByteArray>("payload");
    QTest::addColumn<bool>("valid");
    const auto cbor = [](const QCborValue &value) { return value.toCbor(); };
    QTest::newRow("empty") << QByteArray() << true;
    QTest::newRow("empty map") << cbor(QCborMap{}) << true;
    QTest::newRow("name") << cbor(QCborMap{{QStringLiteral("name"), QStringLiteral("chat")}}) << true;
    QTest::newRow("unknown key") << cbor(QCborMap{{QStringLiteral("later"), 1}}) << true;
    QTest::newRow("name not text") << cbor(QCborMap{{QStringLiteral("name"), 7}}) << false;
    QTest::newRow("array") << cbor(QCborArray{QStringLiteral("chat")}) << false;
    QTest::newRow("text") << cbor(QStringLiteral("chat")) << false;
    QTest::newRow("not CBOR") << QByteArray("chat") << false;
    QTest::newRow("map cut short") << cbor(QCborMap{{QStringLiteral("name"), QStringLiteral("chat")}}).chopped(1)
                                   << false;
    QTest::newRow("trailing bytes") << cbor(QCborMap{}) + QByteArray(1, '\0') << false;
}

void tst_MessageCodec::openPayload()
{
    QFETCH(QByteArray, payload);
    QFETCH(bool, valid);
    QCOMPARE(isValidOpenPayload(payload), valid);
}

void tst_MessageCodec::credit()
{
    quint32 value = 0;
    QCOMPARE(encodeCredit(1).toHex(), QByteArray("00000001"));
    QVERIFY(decodeCredit(encodeCredit(1), value));
    QCOMPARE(value, 1u);
    QVERIFY(decodeCredit(encodeCredit(0x7fffffff), value));
    QCOMPARE(value, 0x7fffffffu);
    value = 99;
    QVERIFY(!decodeCredit(encodeCredit(0), value));
    QVERIFY(!decodeCredit(encodeCredit(0x80000000u), value));
    QVERIFY(!decodeCredit(encodeCredit(0xffffffffu), value));
    QVERIFY(!decodeCredit(QByteArray::fromHex("000001"), value));
    QVERIFY(!decodeCredit(QByteArray::fromHex("0000000100"), value));
    QVERIFY(!decodeCredit(QByteArray(), value));
    QCOMPARE(value, 99u);
}

void tst_MessageCodec::errorRoundTrip_data()
{
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("text");
    QTest::newRow("protocol error") << int(WireError::ProtocolError) << QStringLiteral("A second HELLO.");
    QTest::newRow("empty text") << int(WireError::Internal) << QString();
    QTest::newRow("non-ASCII") << int(WireError::Refused) << QStringLiteral("Name „Zoë“ is taken 🙁");
    QTest::newRow("leading BOM kept") << int(WireError::Refused) << QString(QChar(0xfeff)) + u"x"_qs;
    QTest::newRow("unknown code") << 999 << QStringLiteral("from the future");
    QTest::newRow("1024 bytes") << int(WireError::Timeout) << QString(1024, u'a');
}

void tst_MessageCodec::errorRoundTrip()
{
    QFETCH(int, code);
    QFETCH(QString, text);
    const QByteArray bytes = encodeError(WireError(code), text);
    QCOMPARE(bytes.size(), 2 + text.toUtf8().size());
    WireError decodedCode = WireError::None;
    QString decodedText;
    QVERIFY(decodeError(bytes, decodedCode, decodedText));
    QCOMPARE(int(decodedCode), code);
    QCOMPARE(decodedText, text);
}

void tst_MessageCodec::errorTextIsCut()
{
    // 1023 ASCII bytes and a 3-byte euro sign: the sign does not fit and
    // is dropped whole, not cut in the middle.
    const QString text = QString(1023, u'a') + QChar(0x20ac) + u"tail"_qs;
    const QByteArray bytes = encodeError(WireError::Internal, text);
    QCOMPARE(bytes.size(), 2 + 1023);
    WireError code;
    QString decoded;
    QVERIFY(decodeError(bytes, code, decoded));
    QCOMPARE(decoded, QString(1023, u'a'));

    // Four-byte characters straddling the limit.
    QString emoji;
    for (int i = 0; i < 300; ++i)
        emoji += QStringLiteral("🙂");
    const QByteArray emojiBytes = encodeError(WireError::Internal, emoji);
    QCOMPARE(emojiBytes.size(), 2 + 1024);
    QVERIFY(decodeError(emojiBytes, code, decoded));
    QCOMPARE(decoded.size(), 256 * 2);
}

void tst_MessageCodec::errorInvalid_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("one byte") << QByteArray::fromHex("01");
    QTest::newRow("code 0") << QByteArray::fromHex("0000") + "text";
    QTest::newRow("1025 bytes of text") << QByteArray::fromHex("0001") + QByteArray(1025, 'a');
    QTest::newRow("invalid UTF-8") << QByteArray::fromHex("0001" "c328");
    QTest::newRow("cut sequence at the end") << QByteArray::fromHex("0001" "41e282");
    QTest::newRow("overlong slash") << QByteArray::fromHex("0001" "c0af");
    QTest::newRow("surrogate") << QByteArray::fromHex("0001" "eda080");
    QTest::newRow("above U+10FFFF") << QByteArray::fromHex("0001" "f4908080");
    QTest::newRow("lone continuation") << QByteArray::fromHex("0001" "80");
}

void tst_MessageCodec::errorInvalid()
{
    QFETCH(QByteArray, bytes);
    WireError code = WireError::None;
    QString text = QStringLiteral("untouched");
    QVERIFY(!decodeError(bytes, code, text));
    QCOMPARE(code, WireError::None);
    QCOMPARE(text, QStringLiteral("untouched"));
}

void tst_MessageCodec::throughput_data()
{
    QTest::addColumn<quint8>("flags");
    QTest::addColumn<QVariant>("message");
    QTest::newRow("QDataStream, 64-byte QByteArray") << dataStream << QVariant(QByteArray(64, 'x'));
    QTest::newRow("QDataStream, small QVariantMap")
        << dataStream << QVariant(QVariantMap{{QStringLiteral("id"), 7}, {QStringLiteral("name"), QStringLiteral("sensor")}});
    QTest::newRow("CBOR, small map") << cbor << QVariant(QVariantMap{{QStringLiteral("id"), 7}, {QStringLiteral("name"), QStringLiteral("sensor")}});
}

void tst_MessageCodec::throughput()
{
    // Printed, not judged: what one DATA payload costs to encode and decode.
    QFETCH(quint8, flags);
    QFETCH(QVariant, message);
    const auto encode = [&] {
        return flags == dataStream ? encodeDataStream(message) : encodeCbor(QCborValue::fromVariant(message));
    };
    const QByteArray payload = encode();
    constexpr int count = 200000;
    QElapsedTimer timer;
    timer.start();
    qsizetype total = 0;
    for (int i = 0; i < count; ++i)
        total += encode().size();
    const qint64 encodeNs = qMax<qint64>(timer.nsecsElapsed(), 1);
    QCOMPARE(total, payload.size() * count);
    QVariant decoded;
    QString text;
    timer.restart();
    for (int i = 0; i < count; ++i)
        QVERIFY(decodeMessage(flags, payload, decoded, text));
    const qint64 decodeNs = qMax<qint64>(timer.nsecsElapsed(), 1);
    qInfo("%d-byte payload: encode %.2f M/s, decode %.2f M/s", int(payload.size()), count * 1e3 / encodeNs,
          count * 1e3 / decodeNs);
}

QTEST_GUILESS_MAIN(tst_MessageCodec)
#include "tst_messagecodec.moc"
