#include "wire/frame_p.h"
#include "wire/messagecodec_p.h"

#include <QtTest/QTest>

#include <QtCore/QBuffer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>

#include <algorithm>
#include <cstring>

using namespace Qonduit::Wire;

namespace {

// A socket in memory: only the bytes "arrived" so far can be read.
class TrickleSource final : public ByteSource
{
public:
    explicit TrickleSource(const QByteArray &bytes) : m_bytes(bytes) {}

    void arrive(qsizetype n) { m_visible = qMin(m_bytes.size(), m_visible + n); }
    bool allArrived() const { return m_visible == m_bytes.size(); }
    qsizetype consumed() const { return m_offset; }

    qint64 bytesAvailable() const override { return m_visible - m_offset; }
    qint64 read(char *data, qint64 maxSize) override
    {
        ++m_reads;
        const qsizetype n = qsizetype(qMin<qint64>(maxSize, m_visible - m_offset));
        memcpy(data, m_bytes.constData() + m_offset, size_t(n));
        m_offset += n;
        return n;
    }
    int reads() const { return m_reads; }

private:
    QByteArray m_bytes;
    qsizetype m_visible = 0;
    qsizetype m_offset = 0;
    int m_reads = 0;
};

struct Decoded
{
    QList<Frame> frames;
    FrameDecoder::Status last = FrameDecoder::Status::NeedMore;
    WireError error = WireError::None;
    QString errorString;
    qsizetype consumed = 0;
    qsizetype maxAllocated = 0;
};

// Feeds bytes in chunks (chunkSize(i) gives the i-th chunk's size) and
// collects every frame, as a connection's readyRead handler would.
template <typename ChunkSize>
Decoded decode(const QByteArray &bytes, ChunkSize chunkSize, FrameDecoder &decoder)
{
    Decoded result;
    TrickleSource source(bytes);
    for (int i = 0; !source.allArrived(); ++i) {
        source.arrive(chunkSize(i));
        for (;;) {
            Frame frame;
            result.last = decoder.next(source, frame);
            result.maxAllocated = qMax(result.maxAllocated, decoder.allocatedBytes());
            if (result.last != FrameDecoder::Status::Frame)
                break;
            result.frames.append(frame);
        }
        if (result.last == FrameDecoder::Status::Error)
            break;
    }
    result.error = decoder.error();
    result.errorString = decoder.errorString();
    result.consumed = source.consumed();
    return result;
}

Decoded decodeWhole(const QByteArray &bytes, bool expectPreface = true, quint32 max = defaultMaxFrame)
{
    FrameDecoder decoder(max, expectPreface);
    return decode(bytes, [&](int) { return bytes.size(); }, decoder);
}

QByteArray frameBytes(FrameType type, quint8 flags, quint32 stream, const QByteArray &payload)
{
    QByteArray out;
    appendFrame(out, type, flags, stream, payload);
    return out;
}

// A header with any type byte, for the types FrameType does not name.
QByteArray rawHeader(quint32 length, quint8 type, quint8 flags, quint32 stream)
{
    QByteArray out;
    appendHeader(out, FrameType(type), flags, stream, length);
    return out;
}

QByteArray withPreface(const QByteArray &frames)
{
    return preface().toByteArray() + frames;
}

QByteArray pattern(qsizetype size, int seed = 1)
{
    QByteArray bytes(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        bytes[i] = char((i * 131 + seed * 7 + (i >> 8)) & 0xff);
    return bytes;
}

bool sameFrame(const Frame &a, const Frame &b)
{
    return a.type == b.type && a.flags == b.flags && a.stream == b.stream && a.payload == b.payload;
}

// The reference stream: every frame type, empty, small, exactly-eager and
// large payloads.
QList<Frame> referenceFrames()
{
    Hello hello;
    hello.versions = {1};
    QList<Frame> frames;
    frames.append({FrameType::Hello, 0, 0, encodeHello(hello, FrameType::Hello)});
    frames.append({FrameType::Open, 0, 1, QByteArray()});
    frames.append({FrameType::Data, 0, 1, encodeDataStream(QVariant(QStringLiteral("hello")))});
    frames.append({FrameType::Data, 1, 1, encodeCbor(QCborValue(42))});
    frames.append({FrameType::Raw, 0, 1, QByteArray()});
    frames.append({FrameType::Raw, 0, 3, pattern(64)});
    frames.append({FrameType::Data, 0, 1, pattern(FrameDecoder::eagerPayloadLimit, 2)});
    frames.append({FrameType::Raw, 0, 1, pattern(FrameDecoder::eagerPayloadLimit + 1, 3)});
    frames.append({FrameType::Credit, 0, 1, encodeCredit(4096)});
    frames.append({FrameType::Ping, 0, 0, pattern(8, 4)});
    frames.append({FrameType::Pong, 0, 0, pattern(8, 4)});
    frames.append({FrameType::Raw, 0, 5, pattern(300 * 1024, 5)});
    frames.append({FrameType::Error, 0, 5, encodeError(WireError::StreamLimit, QStringLiteral("too many"))});
    frames.append({FrameType::Close, 0, 1, QByteArray()});
    frames.append({FrameType::Error, 0, 0, encodeError(WireError::Internal, QString())});
    frames.append({FrameType::Goodbye, 0, 0, QByteArray()});
    return frames;
}

// A sequential device that hands out what append() gave it, like a socket
// whose bytes arrive in pieces.
class ArrivingBytes final : public QIODevice
{
public:
    ArrivingBytes() { open(QIODevice::ReadOnly); }
    void append(QByteArrayView bytes) { m_bytes.append(bytes); }
    bool isSequential() const override { return true; }
    qint64 bytesAvailable() const override { return m_bytes.size() - m_offset + QIODevice::bytesAvailable(); }

protected:
    qint64 readData(char *data, qint64 maxSize) override
    {
        const qint64 n = std::min<qint64>(maxSize, m_bytes.size() - m_offset);
        std::memcpy(data, m_bytes.constData() + m_offset, size_t(n));
        m_offset += n;
        return n;
    }
    qint64 writeData(const char *, qint64) override { return -1; }

private:
    QByteArray m_bytes;
    qsizetype m_offset = 0;
};

QByteArray streamOf(const QList<Frame> &frames)
{
    QByteArray out = preface().toByteArray();
    for (const Frame &f : frames)
        appendFrame(out, f.type, f.flags, f.stream, f.payload);
    return out;
}

} // namespace

class tst_FrameDecoder : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();

    void prefaceBytes();
    void headerLayout();
    void appendHeaderMatchesAppendFrame();

    void chunkings_data();
    void chunkings();
    void manyFramesInOneRead();
    void frameObjectReused();
    void withoutPreface();
    void deviceSource();
    void deviceSourceReadsAheadAcrossArrivals();

    void wrongPreface_data();
    void wrongPreface();
    void wrongPrefaceOneByteAtATime();
    void truncatedHeader();
    void lengthZero();
    void lengthLimits_data();
    void lengthLimits();
    void maximumIsClamped();
    void largeHeaderThenTrickle();
    void unknownTypes_data();
    void unknownTypes();
    void streamRules_data();
    void streamRules();
    void flagBits_data();
    void flagBits();
    void payloadSizes_data();
    void payloadSizes();
    void errorIsSticky();

    void throughput();
};

void tst_FrameDecoder::init()
{
    // Hostile input must never make Qt (or us) print anything.
    QTest::failOnWarning(QRegularExpression(QStringLiteral(".*")));
}

void tst_FrameDecoder::prefaceBytes()
{
    QCOMPARE(preface().size(), prefaceSize);
    QCOMPARE(preface().toByteArray(), QByteArray::fromHex("89514e440d0a1a0a"));
}

void tst_FrameDecoder::headerLayout()
{
    const QByteArray bytes = frameBytes(FrameType::Credit, 0, 0x0a0b0c0d, QByteArray("\x01\x02\x03\x04", 4));
    QCOMPARE(bytes.toHex(), QByteArray("00000004" "07" "00" "0a0b0c0d" "01020304"));
    QCOMPARE(rawHeader(0x12345678, 0x04, 0x01, 7).toHex(), QByteArray("12345678" "04" "01" "00000007"));
}

void tst_FrameDecoder::appendHeaderMatchesAppendFrame()
{
    const QByteArray payload = pattern(1000);
    QByteArray a = "prefix";
    appendFrame(a, FrameType::Data, 1, 9, payload);
    QByteArray b = "prefix";
    appendHeader(b, FrameType::Data, 1, 9, quint32(payload.size()));
    b += payload;
    QCOMPARE(a, b);
}

void tst_FrameDecoder::chunkings_data()
{
    QTest::addColumn<int>("mode");
    QTest::newRow("whole stream at once") << 0;
    QTest::newRow("one byte at a time") << 1;
    QTest::newRow("random chunks 1..4096") << 2;
    QTest::newRow("random chunks 1..13") << 3;
    QTest::newRow("header-sized chunks") << 4;
    QTest::newRow("7-byte chunks") << 5;
    QTest::newRow("random chunks 1..200000") << 6;
}

void tst_FrameDecoder::chunkings()
{
    QFETCH(int, mode);
    const QList<Frame> frames = referenceFrames();
    const QByteArray bytes = streamOf(frames);
    QRandomGenerator random(12345); // fixed seed: a failure reproduces
    const auto chunk = [&](int) -> qsizetype {
        switch (mode) {
        case 0: return bytes.size();
        case 1: return 1;
        case 2: return random.bounded(1, 4097);
        case 3: return random.bounded(1, 14);
        case 4: return headerSize;
        case 5: return 7;
        default: return random.bounded(1, 200001);
        }
    };
    FrameDecoder decoder;
    const Decoded result = decode(bytes, chunk, decoder);
    QCOMPARE(result.last, FrameDecoder::Status::NeedMore);
    QCOMPARE(result.error, WireError::None);
    QVERIFY(decoder.prefaceSeen());
    QCOMPARE(result.frames.size(), frames.size());
    for (qsizetype i = 0; i < frames.size(); ++i)
        QVERIFY2(sameFrame(result.frames.at(i), frames.at(i)), qPrintable(QStringLiteral("frame %1").arg(i)));
    QCOMPARE(result.consumed, bytes.size());
    QCOMPARE(decoder.partialBytes(), 0);
    QCOMPARE(decoder.allocatedBytes(), 0);
    // The largest frame (300 KiB) never cost more than its own size.
    QVERIFY(result.maxAllocated <= 300 * 1024);
}

void tst_FrameDecoder::manyFramesInOneRead()
{
    constexpr int count = 10000;
    QByteArray bytes = preface().toByteArray();
    for (int i = 0; i < count; ++i)
        appendFrame(bytes, FrameType::Data, 0, quint32(1 + 2 * (i % 50)), pattern(64, i));
    MemorySource source(bytes);
    FrameDecoder decoder;
    Frame frame;
    for (int i = 0; i < count; ++i) {
        QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::Frame);
        QCOMPARE(frame.stream, quint32(1 + 2 * (i % 50)));
        QCOMPARE(frame.payload, pattern(64, i));
    }
    QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::NeedMore);
    QCOMPARE(source.bytesAvailable(), 0);
}

void tst_FrameDecoder::frameObjectReused()
{
    const QByteArray bytes = withPreface(frameBytes(FrameType::Raw, 0, 1, pattern(100 * 1024))
                                         + frameBytes(FrameType::Raw, 0, 3, QByteArray("x"))
                                         + frameBytes(FrameType::Close, 0, 3, QByteArray()));
    MemorySource source(bytes);
    FrameDecoder decoder;
    Frame frame;
    QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::Frame);
    const QByteArray first = frame.payload; // the application keeps it
    QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::Frame);
    QCOMPARE(frame.payload, QByteArray("x"));
    QCOMPARE(frame.stream, 3u);
    QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::Frame);
    QCOMPARE(frame.type, FrameType::Close);
    QVERIFY(frame.payload.isEmpty());
    QCOMPARE(first, pattern(100 * 1024));
}

void tst_FrameDecoder::withoutPreface()
{
    const QByteArray bytes = frameBytes(FrameType::Ping, 0, 0, pattern(8)) + frameBytes(FrameType::Raw, 0, 2, "abc");
    FrameDecoder decoder(defaultMaxFrame, false);
    QVERIFY(decoder.prefaceSeen());
    const Decoded result = decode(bytes, [](int) { return 1; }, decoder);
    QCOMPARE(result.error, WireError::None);
    QCOMPARE(result.frames.size(), 2);
    QCOMPARE(result.frames.at(1).payload, QByteArray("abc"));

    // Expecting none, a preface is just a (bad) header.
    QVERIFY(decodeWhole(withPreface(bytes), false).error != WireError::None);
}

void tst_FrameDecoder::deviceSource()
{
    const QList<Frame> frames = referenceFrames();
    QByteArray bytes = streamOf(frames);
    QBuffer buffer(&bytes);
    QVERIFY(buffer.open(QIODevice::ReadOnly));
    DeviceSource source(buffer);
    QCOMPARE(source.bytesAvailable(), bytes.size());
    FrameDecoder decoder;
    Frame frame;
    for (const Frame &expected : frames) {
        QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::Frame);
        QVERIFY(sameFrame(frame, expected));
    }
    QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::NeedMore);

    // A closed device reads as "nothing now", never as an error.
    buffer.close();
    char c;
    QCOMPARE(source.read(&c, 1), 0);
}

// Small frames are served from the block read ahead, large payloads are read
// straight from the device, and bytes that arrive later join what was read
// ahead: every frame whole and in order, whatever the arrival sizes.
void tst_FrameDecoder::deviceSourceReadsAheadAcrossArrivals()
{
    QList<Frame> frames;
    const auto add = [&frames](qsizetype size) {
        frames.append({FrameType::Data, 0, quint32(1 + 2 * (frames.size() % 7)), pattern(size, int(frames.size()))});
    };
    for (int i = 0; i < 300; ++i)
        add(1 + i % 100);
    add(200 * 1024); // far above a quarter block: straight from the device
    add(DeviceSource::readAheadSize / 4 - 1); // just below it: through the block
    add(DeviceSource::readAheadSize / 4);
    for (int i = 0; i < 300; ++i)
        add(64);
    const QByteArray bytes = streamOf(frames);

    for (const qsizetype arrival : {qsizetype(1), qsizetype(7919), qsizetype(65536), bytes.size()}) {
        ArrivingBytes device;
        DeviceSource source(device);
        FrameDecoder decoder;
        Frame frame;
        qsizetype decoded = 0;
        for (qsizetype at = 0; at < bytes.size(); at += arrival) {
            device.append(QByteArrayView(bytes).sliced(at, std::min(arrival, bytes.size() - at)));
            FrameDecoder::Status status;
            while ((status = decoder.next(source, frame)) == FrameDecoder::Status::Frame) {
                QVERIFY2(decoded < frames.size(), "more frames than were sent");
                QVERIFY2(sameFrame(frame, frames.at(decoded)), qPrintable(QString::number(decoded)));
                ++decoded;
            }
            QCOMPARE(status, FrameDecoder::Status::NeedMore);
        }
        QCOMPARE(decoded, frames.size());
        QCOMPARE(source.bytesAvailable(), 0);
    }
}

void tst_FrameDecoder::wrongPreface_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("hint");
    QTest::newRow("HTTP request")
        << QByteArray("GET / HTTP/1.1\r\nHost: localhost:7000\r\nUser-Agent: curl/7.88\r\n\r\n") << QStringLiteral("HTTP");
    QTest::newRow("HTTP POST") << QByteArray("POST /api HTTP/1.1\r\n\r\n") << QStringLiteral("HTTP");
    QTest::newRow("HTTP/2 preface") << QByteArray("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") << QStringLiteral("HTTP");
    QTest::newRow("TLS ClientHello") << QByteArray::fromHex("1603010200010001fc0303") << QStringLiteral("TLS");
    QTest::newRow("SSH banner") << QByteArray("SSH-2.0-OpenSSH_9.2\r\n") << QStringLiteral("SSH");
    QTest::newRow("PNG signature") << QByteArray::fromHex("89504e470d0a1a0a0000000d") << QString();
    QTest::newRow("last byte wrong") << QByteArray::fromHex("89514e440d0a1a0b0000") << QString();
    QTest::newRow("zeros") << QByteArray(64, '\0') << QString();
    QTest::newRow("a valid frame without preface") << frameBytes(FrameType::Ping, 0, 0, pattern(8)) << QString();
}

void tst_FrameDecoder::wrongPreface()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, hint);
    const Decoded result = decodeWhole(bytes);
    QCOMPARE(result.last, FrameDecoder::Status::Error);
    QCOMPARE(result.error, WireError::ProtocolError);
    QVERIFY(result.frames.isEmpty());
    QVERIFY2(result.errorString.contains(QLatin1String("preface")), qPrintable(result.errorString));
    if (!hint.isEmpty())
        QVERIFY2(result.errorString.contains(hint), qPrintable(result.errorString));
    // Nothing beyond the preface's 8 bytes was read.
    QVERIFY(result.consumed <= prefaceSize);
}

void tst_FrameDecoder::wrongPrefaceOneByteAtATime()
{
    const QByteArray bytes("GET / HTTP/1.1\r\n\r\n");
    FrameDecoder decoder;
    const Decoded result = decode(bytes, [](int) { return 1; }, decoder);
    QCOMPARE(result.error, WireError::ProtocolError);
    QCOMPARE(result.consumed, 1); // refused at the first wrong byte
    QVERIFY(!decoder.prefaceSeen());

    // A preface cut after 7 right bytes is simply not complete yet.
    FrameDecoder patient;
    MemorySource seven(preface().first(7));
    Frame frame;
    QCOMPARE(patient.next(seven, frame), FrameDecoder::Status::NeedMore);
    QVERIFY(!patient.prefaceSeen());
}

void tst_FrameDecoder::truncatedHeader()
{
    const QByteArray frame = frameBytes(FrameType::Raw, 0, 1, "payload");
    const QByteArray bytes = withPreface(frame);
    TrickleSource source(bytes);
    FrameDecoder decoder;
    Frame out;
    source.arrive(prefaceSize + 5);
    QCOMPARE(decoder.next(source, out), FrameDecoder::Status::NeedMore);
    QVERIFY(decoder.prefaceSeen());
    QCOMPARE(decoder.partialBytes(), 5);
    QCOMPARE(decoder.allocatedBytes(), 0);
    source.arrive(5);
    QCOMPARE(decoder.next(source, out), FrameDecoder::Status::NeedMore);
    QCOMPARE(decoder.partialBytes(), headerSize);
    source.arrive(100);
    QCOMPARE(decoder.next(source, out), FrameDecoder::Status::Frame);
    QCOMPARE(out.payload, QByteArray("payload"));
    QCOMPARE(decoder.partialBytes(), 0);
}

void tst_FrameDecoder::lengthZero()
{
    Decoded result = decodeWhole(withPreface(rawHeader(0, 0x04, 0, 1) + rawHeader(0, 0x05, 0, 1)));
    QCOMPARE(result.error, WireError::None);
    QCOMPARE(result.frames.size(), 2);
    QVERIFY(result.frames.at(0).payload.isEmpty());
    QVERIFY(result.frames.at(1).payload.isEmpty());

    // Zero is a length like any other: the type still decides.
    result = decodeWhole(withPreface(rawHeader(0, 0x08, 0, 0)));
    QCOMPARE(result.error, WireError::ProtocolError);
}

void tst_FrameDecoder::lengthLimits_data()
{
    QTest::addColumn<quint32>("max");
    QTest::addColumn<quint32>("length");
    QTest::addColumn<bool>("accepted");
    QTest::newRow("16 KiB max, length = max") << minimumMaxFrame << minimumMaxFrame << true;
    QTest::newRow("16 KiB max, length = max + 1") << minimumMaxFrame << minimumMaxFrame + 1 << false;
    QTest::newRow("16 MiB max, length = max") << defaultMaxFrame << defaultMaxFrame << true;
    QTest::newRow("16 MiB max, length = max + 1") << defaultMaxFrame << defaultMaxFrame + 1 << false;
    QTest::newRow("16 MiB max, length = 0xFFFFFFFF") << defaultMaxFrame << 0xffffffffu << false;
    QTest::newRow("16 KiB max, length = 0xFFFFFFFF") << minimumMaxFrame << 0xffffffffu << false;
    QTest::newRow("2^31-1 max, length = 0x80000000") << 0x7fffffffu << 0x80000000u << false;
}

void tst_FrameDecoder::lengthLimits()
{
    QFETCH(quint32, max);
    QFETCH(quint32, length);
    QFETCH(bool, accepted);
    FrameDecoder decoder(max);
    // The header and one payload byte: judged on the header alone.
    const QByteArray bytes = withPreface(rawHeader(length, 0x05, 0, 1) + "x");
    MemorySource source(bytes);
    Frame frame;
    const auto status = decoder.next(source, frame);
    if (accepted) {
        QCOMPARE(status, FrameDecoder::Status::NeedMore);
        QCOMPARE(decoder.partialBytes(), headerSize + 1);
        QVERIFY(decoder.allocatedBytes() <= qMax<qsizetype>(FrameDecoder::eagerPayloadLimit, 2));
        if (length <= minimumMaxFrame) {
            // The rest arrives: the frame is whole.
            const QByteArray all = withPreface(rawHeader(length, 0x05, 0, 1) + pattern(length));
            const Decoded result = decodeWhole(all, true, max);
            QCOMPARE(result.frames.size(), 1);
            QCOMPARE(result.frames.first().payload, pattern(length));
        }
    } else {
        QCOMPARE(status, FrameDecoder::Status::Error);
        QCOMPARE(decoder.error(), WireError::FrameTooLarge);
        QVERIFY2(decoder.errorString().contains(QString::number(length)), qPrintable(decoder.errorString()));
        QCOMPARE(decoder.allocatedBytes(), 0);
        // The payload byte was not read.
        QCOMPARE(source.bytesAvailable(), 1);
    }
}

void tst_FrameDecoder::maximumIsClamped()
{
    FrameDecoder decoder(0xffffffffu);
    QCOMPARE(decoder.maxFramePayload(), 0x7fffffffu);
    decoder.setMaxFramePayload(minimumMaxFrame);
    QCOMPARE(decoder.maxFramePayload(), minimumMaxFrame);
    decoder.setMaxFramePayload(0x80000000u);
    QCOMPARE(decoder.maxFramePayload(), 0x7fffffffu);

    // A new maximum applies to the next header.
    FrameDecoder changing;
    const QByteArray bytes = withPreface(frameBytes(FrameType::Raw, 0, 1, pattern(20000))
                                         + frameBytes(FrameType::Raw, 0, 1, pattern(20000)));
    MemorySource source(bytes);
    Frame frame;
    QCOMPARE(changing.next(source, frame), FrameDecoder::Status::Frame);
    changing.setMaxFramePayload(minimumMaxFrame);
    QCOMPARE(changing.next(source, frame), FrameDecoder::Status::Error);
    QCOMPARE(changing.error(), WireError::FrameTooLarge);
}

void tst_FrameDecoder::largeHeaderThenTrickle()
{
    // SECURITY.md: a valid header announcing 16 MiB, then a trickle. The
    // decoder holds what arrived, not what was announced.
    const quint32 length = 16 * 1024 * 1024;
    const QByteArray payload = pattern(length, 9);
    const QByteArray bytes = withPreface(rawHeader(length, 0x04, 0, 1) + payload);
    TrickleSource source(bytes);
    FrameDecoder decoder;
    Frame frame;

    source.arrive(prefaceSize + headerSize + 1);
    QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::NeedMore);
    QCOMPARE(decoder.partialBytes(), headerSize + 1);
    QVERIFY(decoder.allocatedBytes() <= FrameDecoder::eagerPayloadLimit);

    // One byte at a time, as a slow attacker would.
    for (int i = 0; i < 1000; ++i) {
        source.arrive(1);
        QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::NeedMore);
    }
    QCOMPARE(decoder.partialBytes(), headerSize + 1001);
    QVERIFY(decoder.allocatedBytes() <= FrameDecoder::eagerPayloadLimit);

    // Then faster: memory stays within twice what arrived.
    qsizetype arrived = 1001;
    while (arrived + 100000 < qsizetype(length)) {
        source.arrive(100000);
        arrived += 100000;
        QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::NeedMore);
        QCOMPARE(decoder.partialBytes(), headerSize + arrived);
        QVERIFY2(decoder.allocatedBytes() <= qMax<qsizetype>(2 * arrived, FrameDecoder::eagerPayloadLimit),
                 qPrintable(QStringLiteral("%1 allocated for %2 arrived").arg(decoder.allocatedBytes()).arg(arrived)));
        QVERIFY(decoder.allocatedBytes() <= qsizetype(length));
    }
    source.arrive(bytes.size());
    QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::Frame);
    QCOMPARE(frame.payload.size(), qsizetype(length));
    QVERIFY(frame.payload == payload);
    QCOMPARE(decoder.partialBytes(), 0);
}

void tst_FrameDecoder::unknownTypes_data()
{
    QTest::addColumn<quint8>("type");
    QTest::addColumn<quint32>("stream");
    QTest::newRow("0x00") << quint8(0x00) << 0u;
    QTest::newRow("0x0C") << quint8(0x0c) << 0u;
    QTest::newRow("0x0C on a stream") << quint8(0x0c) << 1u;
    QTest::newRow("0x7F") << quint8(0x7f) << 3u;
    QTest::newRow("0x80") << quint8(0x80) << 0u;
    QTest::newRow("0xFF") << quint8(0xff) << 0u;
}

void tst_FrameDecoder::unknownTypes()
{
    QFETCH(quint8, type);
    QFETCH(quint32, stream);
    const Decoded result = decodeWhole(withPreface(rawHeader(4, type, 0, stream) + "abcd"));
    QCOMPARE(result.error, WireError::ProtocolError);
    QVERIFY(result.frames.isEmpty());
    QVERIFY2(result.errorString.contains(QLatin1String("unknown type")), qPrintable(result.errorString));
    QCOMPARE(result.consumed, prefaceSize + headerSize);
}

void tst_FrameDecoder::streamRules_data()
{
    QTest::addColumn<QByteArray>("frame");
    QTest::addColumn<bool>("valid");
    const QByteArray hello = encodeHello(Hello{{1}, 0, defaultMaxFrame, 1024, 0, 0}, FrameType::Hello);
    const QByteArray welcome = encodeHello(Hello{{}, 1, defaultMaxFrame, 1024, 0, 0}, FrameType::Welcome);
    const QByteArray eight = pattern(8);
    const QByteArray credit = encodeCredit(1);
    const QByteArray error = encodeError(WireError::Refused, QStringLiteral("no"));

    QTest::newRow("HELLO on 0") << frameBytes(FrameType::Hello, 0, 0, hello) << true;
    QTest::newRow("HELLO on 1") << frameBytes(FrameType::Hello, 0, 1, hello) << false;
    QTest::newRow("WELCOME on 0") << frameBytes(FrameType::Welcome, 0, 0, welcome) << true;
    QTest::newRow("WELCOME on 2") << frameBytes(FrameType::Welcome, 0, 2, welcome) << false;
    QTest::newRow("PING on 0") << frameBytes(FrameType::Ping, 0, 0, eight) << true;
    QTest::newRow("PING on 1") << frameBytes(FrameType::Ping, 0, 1, eight) << false;
    QTest::newRow("PONG on 0xFFFFFFFF") << frameBytes(FrameType::Pong, 0, 0xffffffffu, eight) << false;
    QTest::newRow("GOODBYE on 0") << frameBytes(FrameType::Goodbye, 0, 0, {}) << true;
    QTest::newRow("GOODBYE on 3") << frameBytes(FrameType::Goodbye, 0, 3, {}) << false;
    QTest::newRow("OPEN on 1") << frameBytes(FrameType::Open, 0, 1, {}) << true;
    QTest::newRow("OPEN on 0") << frameBytes(FrameType::Open, 0, 0, {}) << false;
    QTest::newRow("DATA on 0xFFFFFFFF") << frameBytes(FrameType::Data, 0, 0xffffffffu, "x") << true;
    QTest::newRow("DATA on 0") << frameBytes(FrameType::Data, 0, 0, "x") << false;
    QTest::newRow("RAW on 0") << frameBytes(FrameType::Raw, 0, 0, "x") << false;
    QTest::newRow("CLOSE on 0") << frameBytes(FrameType::Close, 0, 0, {}) << false;
    QTest::newRow("CREDIT on 1") << frameBytes(FrameType::Credit, 0, 1, credit) << true;
    QTest::newRow("CREDIT on 0") << frameBytes(FrameType::Credit, 0, 0, credit) << false;
    QTest::newRow("ERROR on 0") << frameBytes(FrameType::Error, 0, 0, error) << true;
    QTest::newRow("ERROR on 7") << frameBytes(FrameType::Error, 0, 7, error) << true;
}

void tst_FrameDecoder::streamRules()
{
    QFETCH(QByteArray, frame);
    QFETCH(bool, valid);
    const Decoded result = decodeWhole(withPreface(frame));
    if (valid) {
        QCOMPARE(result.error, WireError::None);
        QCOMPARE(result.frames.size(), 1);
    } else {
        QCOMPARE(result.error, WireError::ProtocolError);
        QVERIFY(result.frames.isEmpty());
        QVERIFY2(result.errorString.contains(QLatin1String("stream")), qPrintable(result.errorString));
        QCOMPARE(result.consumed, prefaceSize + headerSize); // the payload was not read
    }
}

void tst_FrameDecoder::flagBits_data()
{
    QTest::addColumn<QByteArray>("frame");
    QTest::addColumn<bool>("valid");
    QTest::newRow("DATA flags 0 (QDataStream)") << frameBytes(FrameType::Data, 0, 1, "x") << true;
    QTest::newRow("DATA flags 1 (CBOR)") << frameBytes(FrameType::Data, 1, 1, "x") << true;
    QTest::newRow("DATA flags 2 (reserved)") << frameBytes(FrameType::Data, 2, 1, "x") << false;
    QTest::newRow("DATA flags 3 (reserved)") << frameBytes(FrameType::Data, 3, 1, "x") << false;
    QTest::newRow("DATA flags 4") << frameBytes(FrameType::Data, 4, 1, "x") << false;
    QTest::newRow("DATA flags 0x81") << frameBytes(FrameType::Data, 0x81, 1, "x") << false;
    QTest::newRow("RAW flags 1") << frameBytes(FrameType::Raw, 1, 1, "x") << false;
    QTest::newRow("OPEN flags 0x80") << frameBytes(FrameType::Open, 0x80, 1, {}) << false;
    QTest::newRow("CLOSE flags 1") << frameBytes(FrameType::Close, 1, 1, {}) << false;
    QTest::newRow("PING flags 1") << frameBytes(FrameType::Ping, 1, 0, pattern(8)) << false;
    QTest::newRow("ERROR flags 2") << frameBytes(FrameType::Error, 2, 0, encodeError(WireError::Internal, {})) << false;
    QTest::newRow("GOODBYE flags 0xFF") << frameBytes(FrameType::Goodbye, 0xff, 0, {}) << false;
}

void tst_FrameDecoder::flagBits()
{
    QFETCH(QByteArray, frame);
    QFETCH(bool, valid);
    const Decoded result = decodeWhole(withPreface(frame));
    QCOMPARE(result.error, valid ? WireError::None : WireError::ProtocolError);
    QCOMPARE(result.frames.size(), valid ? 1 : 0);
    if (!valid)
        QVERIFY2(result.errorString.contains(QLatin1String("flag")) || result.errorString.contains(QLatin1String("reserved")),
                 qPrintable(result.errorString));
}

void tst_FrameDecoder::payloadSizes_data()
{
    QTest::addColumn<quint8>("type");
    QTest::addColumn<quint32>("stream");
    QTest::addColumn<quint32>("length");
    QTest::addColumn<bool>("valid");
    QTest::newRow("PING 7") << quint8(0x08) << 0u << 7u << false;
    QTest::newRow("PING 8") << quint8(0x08) << 0u << 8u << true;
    QTest::newRow("PING 9") << quint8(0x08) << 0u << 9u << false;
    QTest::newRow("PONG 0") << quint8(0x09) << 0u << 0u << false;
    QTest::newRow("PONG 8") << quint8(0x09) << 0u << 8u << true;
    QTest::newRow("CREDIT 3") << quint8(0x07) << 1u << 3u << false;
    QTest::newRow("CREDIT 4") << quint8(0x07) << 1u << 4u << true;
    QTest::newRow("CREDIT 5") << quint8(0x07) << 1u << 5u << false;
    QTest::newRow("CLOSE 1") << quint8(0x06) << 1u << 1u << false;
    QTest::newRow("GOODBYE 1") << quint8(0x0b) << 0u << 1u << false;
    QTest::newRow("ERROR 0") << quint8(0x0a) << 0u << 0u << false;
    QTest::newRow("ERROR 1") << quint8(0x0a) << 0u << 1u << false;
    QTest::newRow("ERROR 2") << quint8(0x0a) << 0u << 2u << true;
    QTest::newRow("ERROR 1026") << quint8(0x0a) << 5u << 1026u << true;
    QTest::newRow("ERROR 1027") << quint8(0x0a) << 5u << 1027u << false;
    QTest::newRow("HELLO 4096") << quint8(0x01) << 0u << 4096u << true;
    QTest::newRow("HELLO 4097") << quint8(0x01) << 0u << 4097u << false;
    QTest::newRow("WELCOME 100000") << quint8(0x02) << 0u << 100000u << false;
    QTest::newRow("OPEN 100") << quint8(0x03) << 1u << 100u << true;
}

void tst_FrameDecoder::payloadSizes()
{
    // Framing only: these payloads are size-checked here and judged by the
    // message codecs later, so their contents do not matter.
    QFETCH(quint8, type);
    QFETCH(quint32, stream);
    QFETCH(quint32, length);
    QFETCH(bool, valid);
    const Decoded result = decodeWhole(withPreface(rawHeader(length, type, 0, stream) + QByteArray(length, 'a')));
    if (valid) {
        QCOMPARE(result.error, WireError::None);
        QCOMPARE(result.frames.size(), 1);
        QCOMPARE(result.frames.first().payload.size(), qsizetype(length));
    } else {
        QCOMPARE(result.error, WireError::ProtocolError);
        QCOMPARE(result.consumed, prefaceSize + headerSize); // refused on the header
        QVERIFY2(result.errorString.contains(QString::number(length)), qPrintable(result.errorString));
    }
}

void tst_FrameDecoder::errorIsSticky()
{
    const QByteArray bytes = withPreface(rawHeader(0, 0x42, 0, 0) + frameBytes(FrameType::Ping, 0, 0, pattern(8)));
    TrickleSource source(bytes);
    source.arrive(bytes.size());
    FrameDecoder decoder;
    Frame frame;
    QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::Error);
    const QString text = decoder.errorString();
    const int reads = source.reads();
    const qsizetype consumed = source.consumed();
    for (int i = 0; i < 3; ++i)
        QCOMPARE(decoder.next(source, frame), FrameDecoder::Status::Error);
    QCOMPARE(source.reads(), reads);
    QCOMPARE(source.consumed(), consumed);
    QCOMPARE(decoder.errorString(), text);
    QCOMPARE(decoder.error(), WireError::ProtocolError);
}

void tst_FrameDecoder::throughput()
{
    // The hot path: 64-byte DATA frames from memory. Printed, not judged
    // (machines differ); the benchmarks compare it with raw sockets.
    constexpr int count = 1000000;
    QByteArray bytes = preface().toByteArray();
    bytes.reserve(bytes.size() + qsizetype(count) * (headerSize + 64));
    const QByteArray payload = pattern(64);
    for (int i = 0; i < count; ++i)
        appendFrame(bytes, FrameType::Data, 0, 1, payload);

    MemorySource source(bytes);
    FrameDecoder decoder;
    Frame frame;
    qint64 total = 0;
    QElapsedTimer timer;
    timer.start();
    while (decoder.next(source, frame) == FrameDecoder::Status::Frame)
        total += frame.payload.size();
    const qint64 ns = qMax<qint64>(timer.nsecsElapsed(), 1);
    QCOMPARE(total, qint64(count) * 64);
    qInfo("decoded %d 64-byte DATA frames in %.1f ms: %.2f M frames/s, %.0f MB/s", count, ns / 1e6,
          count * 1e3 / ns, double(bytes.size()) * 1e3 / ns);
}

QTEST_GUILESS_MAIN(tst_FrameDecoder)
#include "tst_framedecoder.moc"
