#include "fuzzentries.h"

#include "wire/frame_p.h"
#include "wire/messagecodec_p.h"

#include <QtCore/qdatastream.h>
#include <QtCore/qendian.h>
#include <QtCore/qiodevice.h>
#include <QtCore/qlist.h>
#include <QtCore/qlogging.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace Qonduit::Wire;

namespace {

[[noreturn]] void broken(const char *invariant)
{
    std::fprintf(stderr, "fuzz invariant broken: %s\n", invariant);
    std::abort();
}

#define FUZZ_CHECK(condition)                                                                                          \
    do {                                                                                                               \
        if (!(condition))                                                                                              \
            broken(#condition);                                                                                        \
    } while (false)

// Peer bytes must never make Qt (or us) print: a warning is a finding.
void failOnMessage(QtMsgType type, const QMessageLogContext &, const QString &text)
{
    if (type == QtDebugMsg || type == QtInfoMsg)
        return;
    std::fprintf(stderr, "Qt printed on fuzz input: %s\n", qPrintable(text));
    std::abort();
}

void installHandler()
{
    static const bool installed = [] {
        qInstallMessageHandler(failOnMessage);
        return true;
    }();
    Q_UNUSED(installed);
}

// Bytes arrive in chunks, as from a socket: only what has arrived is readable.
class ChunkSource final : public ByteSource
{
public:
    ChunkSource(const char *data, qsizetype size) : m_data(data), m_size(size) {}

    void arrive(qsizetype n) { m_visible = qMin(m_size, m_visible + n); }
    bool allArrived() const { return m_visible == m_size; }

    qint64 bytesAvailable() const override { return m_visible - m_offset; }
    qint64 read(char *data, qint64 maxSize) override
    {
        FUZZ_CHECK(maxSize > 0); // the decoder never asks for nothing
        const qsizetype n = qsizetype(qMin<qint64>(maxSize, m_visible - m_offset));
        if (n > 0)
            std::memcpy(data, m_data + m_offset, size_t(n));
        m_offset += n;
        return n;
    }

private:
    const char *m_data;
    qsizetype m_size;
    qsizetype m_visible = 0;
    qsizetype m_offset = 0;
};

QByteArray qtBytes(const QVariant &value)
{
    QByteArray bytes;
    QDataStream stream(&bytes, QIODevice::WriteOnly);
    stream.setVersion(QDataStream::Qt_6_0);
    stream << value;
    return bytes;
}

// The codec reads plain values itself, without a QDataStream: it must agree
// with Qt's own reader, which is safe for exactly these types.
void compareWithQt(const QByteArray &payload, bool accepted, const QVariant &message)
{
    if (payload.size() < 4)
        return;
    switch (qFromBigEndian<quint32>(payload.constData())) {
    case QMetaType::Bool:
    case QMetaType::Int:
    case QMetaType::UInt:
    case QMetaType::LongLong:
    case QMetaType::ULongLong:
    case QMetaType::Double:
    case QMetaType::QString:
    case QMetaType::QByteArray:
        break;
    default:
        return;
    }
    QDataStream stream(payload);
    stream.setVersion(QDataStream::Qt_6_0);
    QVariant expected;
    stream >> expected;
    const bool qtAccepts = stream.status() == QDataStream::Ok && stream.atEnd() && expected.isValid();
    FUZZ_CHECK(accepted == qtAccepts);
    if (accepted) {
        FUZZ_CHECK(message.metaType() == expected.metaType());
        FUZZ_CHECK(message.isNull() == expected.isNull());
        FUZZ_CHECK(qtBytes(message) == qtBytes(expected));
    }
}

void checkMessage(quint8 flags, const QByteArray &payload)
{
    QVariant message;
    QString text;
    const bool accepted = decodeMessage(flags, payload, message, text);
    if (flags == quint8(Encoding::DataStream))
        compareWithQt(payload, accepted, message);
    if (!accepted) {
        FUZZ_CHECK(!text.isEmpty());
        return;
    }
    FUZZ_CHECK(message.isValid());
    if ((flags & encodingMask) == quint8(Encoding::DataStream)) {
        // What the decoder accepts, the encoder accepts, and Qt reads back.
        QString why;
        const QByteArray again = encodeDataStream(message, &why);
        FUZZ_CHECK(!again.isNull());
        FUZZ_CHECK(again == qtBytes(message)); // what Qt itself writes
        QVariant second;
        FUZZ_CHECK(decodeMessage(flags, again, second, text));
        FUZZ_CHECK(second.metaType() == message.metaType());
    }
}

void checkHello(FrameType type, const QByteArray &payload)
{
    Hello hello;
    QString text;
    if (!decodeHello(payload, type, hello, text)) {
        FUZZ_CHECK(!text.isEmpty());
        return;
    }
    FUZZ_CHECK(hello.maxFrame >= minimumMaxFrame);
    FUZZ_CHECK(hello.window >= 1 && hello.window <= 0x7fffffffu);
    FUZZ_CHECK(type != FrameType::Hello || (!hello.versions.isEmpty() && hello.versions.size() <= 1000));
    Hello again;
    FUZZ_CHECK(decodeHello(encodeHello(hello, type), type, again, text));
    FUZZ_CHECK(again.maxFrame == hello.maxFrame && again.window == hello.window
               && again.heartbeatMs == hello.heartbeatMs && again.caps == hello.caps);
    FUZZ_CHECK(type == FrameType::Hello ? again.versions == hello.versions : again.version == hello.version);
}

void checkCredit(const QByteArray &payload)
{
    quint32 increment = 0;
    if (!decodeCredit(payload, increment))
        return;
    FUZZ_CHECK(increment >= 1 && increment <= 0x7fffffffu);
    FUZZ_CHECK(encodeCredit(increment) == payload);
}

void checkError(const QByteArray &payload)
{
    WireError code = WireError::None;
    QString text;
    if (!decodeError(payload, code, text))
        return;
    FUZZ_CHECK(code != WireError::None);
    // Valid UTF-8 of at most 1024 bytes comes back byte for byte.
    FUZZ_CHECK(encodeError(code, text) == payload);
}

void checkPayload(const Frame &frame)
{
    switch (frame.type) {
    case FrameType::Data:
        checkMessage(frame.flags, frame.payload);
        break;
    case FrameType::Hello:
    case FrameType::Welcome:
        checkHello(frame.type, frame.payload);
        break;
    case FrameType::Credit:
        checkCredit(frame.payload);
        break;
    case FrameType::Error:
        checkError(frame.payload);
        break;
    case FrameType::Ping:
    case FrameType::Pong:
        FUZZ_CHECK(frame.payload.size() == 8);
        break;
    case FrameType::Close:
    case FrameType::Goodbye:
        FUZZ_CHECK(frame.payload.isEmpty());
        break;
    case FrameType::Open:
    case FrameType::Raw:
        break;
    }
}

bool sameFrame(const Frame &a, const Frame &b)
{
    return a.type == b.type && a.flags == b.flags && a.stream == b.stream && a.payload == b.payload;
}

struct Outcome
{
    QList<Frame> frames;
    WireError error = WireError::None;
};

template <typename ChunkSize>
Outcome run(const char *bytes, qsizetype size, quint32 maxFrame, bool expectPreface, ChunkSize chunkSize)
{
    Outcome outcome;
    FrameDecoder decoder(maxFrame, expectPreface);
    ChunkSource source(bytes, size);
    for (int i = 0; !source.allArrived(); ++i) {
        source.arrive(chunkSize(i));
        for (;;) {
            Frame frame;
            const auto status = decoder.next(source, frame);
            // Memory follows what arrived, not what a header announced.
            FUZZ_CHECK(decoder.allocatedBytes()
                       <= qMax<qsizetype>(FrameDecoder::eagerPayloadLimit, 2 * decoder.partialBytes()));
            if (status == FrameDecoder::Status::Error) {
                FUZZ_CHECK(decoder.error() != WireError::None);
                FUZZ_CHECK(!decoder.errorString().isEmpty());
                outcome.error = decoder.error();
                return outcome;
            }
            if (status == FrameDecoder::Status::NeedMore)
                break;
            FUZZ_CHECK(frame.payload.size() <= qsizetype(decoder.maxFramePayload()));
            outcome.frames.append(frame);
        }
    }
    return outcome;
}

} // namespace

namespace QonduitFuzz {

int frameDecoder(const uint8_t *data, size_t size)
{
    installHandler();
    if (size < 5)
        return 0;
    const quint8 options = data[0];
    const bool expectPreface = !(options & 0x01);
    static constexpr quint32 maxima[] = {16 * 1024, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024};
    const quint32 maxFrame = maxima[(options >> 1) & 0x03];
    const qsizetype chunks[4] = {data[1] + 1, data[2] + 1, data[3] + 1, data[4] + 1};
    const char *bytes = reinterpret_cast<const char *>(data + 5);
    const qsizetype length = qsizetype(size - 5);

    const Outcome chunked = run(bytes, length, maxFrame, expectPreface, [&](int i) { return chunks[i % 4]; });
    // Chunking changes nothing: the same frames, then the same verdict.
    const Outcome whole = run(bytes, length, maxFrame, expectPreface, [&](int) { return length; });
    FUZZ_CHECK(chunked.error == whole.error);
    FUZZ_CHECK(chunked.frames.size() == whole.frames.size());
    for (qsizetype i = 0; i < whole.frames.size(); ++i)
        FUZZ_CHECK(sameFrame(chunked.frames.at(i), whole.frames.at(i)));

    for (const Frame &frame : whole.frames)
        checkPayload(frame);
    return 0;
}

int messageCodec(const uint8_t *data, size_t size)
{
    installHandler();
    if (size < 1)
        return 0;
    const QByteArray payload(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    switch (data[0] % 8) {
    case 0: checkMessage(quint8(Encoding::DataStream), payload); break;
    case 1: checkMessage(quint8(Encoding::Cbor), payload); break;
    case 2: checkHello(FrameType::Hello, payload); break;
    case 3: checkHello(FrameType::Welcome, payload); break;
    case 4: checkCredit(payload); break;
    case 5: checkError(payload); break;
    default: checkMessage(quint8(data[0] >> 3), payload); break;
    }
    return 0;
}

} // namespace QonduitFuzz
