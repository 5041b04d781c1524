#include "wire/frame_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qendian.h>
#include <QtCore/qiodevice.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace Qonduit::Wire {

namespace {

constexpr quint32 protocolMaxFrame = 0x7fffffff;

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::Wire", text);
}

QLatin1String typeName(FrameType type)
{
    switch (type) {
    case FrameType::Hello: return QLatin1String("HELLO");
    case FrameType::Welcome: return QLatin1String("WELCOME");
    case FrameType::Open: return QLatin1String("OPEN");
    case FrameType::Data: return QLatin1String("DATA");
    case FrameType::Raw: return QLatin1String("RAW");
    case FrameType::Close: return QLatin1String("CLOSE");
    case FrameType::Credit: return QLatin1String("CREDIT");
    case FrameType::Ping: return QLatin1String("PING");
    case FrameType::Pong: return QLatin1String("PONG");
    case FrameType::Error: return QLatin1String("ERROR");
    case FrameType::Goodbye: return QLatin1String("GOODBYE");
    }
    return QLatin1String("?");
}

// What the first bytes of a stranger look like, so that "connected to the
// wrong port" is obvious from the error text alone.
QString describeForeignBytes(QByteArrayView bytes)
{
    const auto startsWith = [bytes](const char *word) {
        const QByteArrayView w(word);
        return bytes.size() >= w.size() ? bytes.startsWith(w) : w.startsWith(bytes);
    };
    if (bytes.size() >= 2 && bytes[0] == 0x16 && bytes[1] == 0x03)
        return tr("; it looks like a TLS handshake (use a tls:// endpoint)");
    if (bytes.size() >= 3) {
        for (const char *method : {"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ",
                                   "CONNECT ", "TRACE ", "PRI * HTTP", "HTTP/"}) {
            if (startsWith(method))
                return tr("; it looks like HTTP");
        }
        if (startsWith("SSH-"))
            return tr("; it looks like SSH");
    }
    return QString();
}

char *writeHeader(char *at, FrameType type, quint8 flags, quint32 stream, quint32 payloadLength)
{
    qToBigEndian<quint32>(payloadLength, at);
    at[4] = char(type);
    at[5] = char(flags);
    qToBigEndian<quint32>(stream, at + 6);
    return at + headerSize;
}

// Grows out by size bytes and returns where they start: one resize per
// frame, keeping QByteArray's geometric growth (batches append many frames,
// and an exact reserve per frame would defeat it).
char *grow(QByteArray &out, qsizetype size)
{
    const qsizetype old = out.size();
    out.resize(old + size);
    return out.data() + old;
}

} // namespace

QByteArrayView preface()
{
    return QByteArrayView(prefaceBytes, prefaceSize);
}

void appendHeader(QByteArray &out, FrameType type, quint8 flags, quint32 stream, quint32 payloadLength)
{
    writeHeader(grow(out, headerSize), type, flags, stream, payloadLength);
}

void appendFrame(QByteArray &out, FrameType type, quint8 flags, quint32 stream, QByteArrayView payload)
{
    Q_ASSERT(quint64(payload.size()) <= 0xffffffffu);
    char *const body = writeHeader(grow(out, headerSize + payload.size()), type, flags, stream,
                                   quint32(payload.size()));
    if (!payload.isEmpty())
        std::memcpy(body, payload.data(), size_t(payload.size()));
}

DeviceSource::DeviceSource(QIODevice &device)
    : m_device(device)
    , m_block(new char[readAheadSize])
{
}

qint64 DeviceSource::bytesAvailable() const
{
    return (m_blockSize - m_blockOffset) + m_device.bytesAvailable();
}

qint64 DeviceSource::read(char *data, qint64 maxSize)
{
    qint64 done = std::min(maxSize, m_blockSize - m_blockOffset);
    if (done > 0) {
        std::memcpy(data, m_block.get() + m_blockOffset, size_t(done));
        m_blockOffset += done;
    }
    // A closed device is "nothing now" (and would warn on every read): the
    // connection learns of the close from the socket's own signals.
    if (done == maxSize || !m_device.isReadable())
        return done;
    if (maxSize - done >= readAheadSize / 4) {
        const qint64 n = m_device.read(data + done, maxSize - done);
        return done + std::max<qint64>(n, 0);
    }
    return done + readAhead(data + done, maxSize - done);
}

qint64 DeviceSource::readAhead(char *data, qint64 maxSize)
{
    const qint64 n = m_device.read(m_block.get(), readAheadSize);
    m_blockOffset = 0;
    m_blockSize = std::max<qint64>(n, 0);
    const qint64 done = std::min(maxSize, m_blockSize);
    std::memcpy(data, m_block.get(), size_t(done));
    m_blockOffset = done;
    return done;
}

qint64 MemorySource::read(char *data, qint64 maxSize)
{
    const qsizetype n = qsizetype(qMin<qint64>(maxSize, m_bytes.size() - m_offset));
    if (n <= 0)
        return 0;
    std::memcpy(data, m_bytes.data() + m_offset, size_t(n));
    m_offset += n;
    return n;
}

FrameDecoder::FrameDecoder(quint32 maxFramePayload, bool expectPreface)
    : m_maxFrame(qMin(maxFramePayload, protocolMaxFrame)),
      m_prefaceSeen(!expectPreface)
{
}

void FrameDecoder::setMaxFramePayload(quint32 maxFramePayload)
{
    m_maxFrame = qMin(maxFramePayload, protocolMaxFrame);
}

qsizetype FrameDecoder::partialBytes() const
{
    return m_headerRead + m_payloadRead;
}

qsizetype FrameDecoder::allocatedBytes() const
{
    // A slice's share of its block: the block is bounded and shared.
    if (m_payloadLength <= PayloadArena::largestSlice)
        return m_frame.payload.size();
    return m_frame.payload.capacity();
}

FrameDecoder::Status FrameDecoder::fail(WireError error, const QString &text)
{
    m_error = error;
    m_errorString = text;
    m_frame = Frame();
    m_inPayload = false;
    m_headerRead = 0;
    m_payloadRead = 0;
    return Status::Error;
}

FrameDecoder::Status FrameDecoder::readPreface(ByteSource &source)
{
    const qint64 got = source.read(m_preface + m_prefaceRead, prefaceSize - m_prefaceRead);
    if (got <= 0)
        return Status::NeedMore;
    const qsizetype start = m_prefaceRead;
    m_prefaceRead += got;
    if (std::memcmp(m_preface + start, prefaceBytes + start, size_t(got)) != 0) {
        const QByteArrayView seen(m_preface, m_prefaceRead);
        return fail(WireError::ProtocolError,
                    tr("The peer does not speak the Qonduit protocol: its first bytes (%1) are not "
                       "the connection preface%2.")
                        .arg(QString::fromLatin1(seen.toByteArray().toHex(' ')),
                             describeForeignBytes(seen)));
    }
    if (m_prefaceRead < prefaceSize)
        return Status::NeedMore;
    m_prefaceSeen = true;
    return Status::Frame; // "go on", never returned to the caller
}

bool FrameDecoder::checkHeader()
{
    const quint32 length = qFromBigEndian<quint32>(m_header);
    const quint8 rawType = quint8(m_header[4]);
    const quint8 flags = quint8(m_header[5]);
    const quint32 stream = qFromBigEndian<quint32>(m_header + 6);

    if (rawType < quint8(FrameType::Hello) || rawType > quint8(FrameType::Goodbye)) {
        fail(WireError::ProtocolError,
             tr("The peer sent a frame of unknown type 0x%1.").arg(uint(rawType), 2, 16, QLatin1Char('0')));
        return false;
    }
    const auto type = FrameType(rawType);

    if (type == FrameType::Data) {
        if (flags & ~quint8(0x03)) {
            fail(WireError::ProtocolError,
                 tr("The peer sent a DATA frame with undefined flag bits (0x%1).")
                     .arg(uint(flags), 2, 16, QLatin1Char('0')));
            return false;
        }
        if ((flags & 0x03) > 1) {
            fail(WireError::ProtocolError,
                 tr("The peer sent a DATA frame in the reserved encoding %1.").arg(flags & 0x03));
            return false;
        }
    } else if (flags != 0) {
        fail(WireError::ProtocolError,
             tr("The peer sent a %1 frame with flags 0x%2; that frame type defines none.")
                 .arg(typeName(type))
                 .arg(uint(flags), 2, 16, QLatin1Char('0')));
        return false;
    }

    switch (type) {
    case FrameType::Hello:
    case FrameType::Welcome:
    case FrameType::Ping:
    case FrameType::Pong:
    case FrameType::Goodbye:
        if (stream != 0) {
            fail(WireError::ProtocolError,
                 tr("The peer sent a %1 frame on stream %2; it belongs to the connection (stream 0).")
                     .arg(typeName(type))
                     .arg(stream));
            return false;
        }
        break;
    case FrameType::Open:
    case FrameType::Data:
    case FrameType::Raw:
    case FrameType::Close:
    case FrameType::Credit:
        if (stream == 0) {
            fail(WireError::ProtocolError,
                 tr("The peer sent a %1 frame on stream 0; it belongs to a stream.").arg(typeName(type)));
            return false;
        }
        break;
    case FrameType::Error:
        break;
    }

    if (length > m_maxFrame) {
        fail(WireError::FrameTooLarge,
             tr("The peer announced a %1 frame of %2 bytes; the maximum frame size is %3 bytes.")
                 .arg(typeName(type))
                 .arg(length)
                 .arg(m_maxFrame));
        return false;
    }

    qint64 minimum = 0;
    qint64 maximum = m_maxFrame;
    switch (type) {
    case FrameType::Hello:
    case FrameType::Welcome:
        maximum = maxHandshakePayload;
        break;
    case FrameType::Ping:
    case FrameType::Pong:
        minimum = maximum = 8;
        break;
    case FrameType::Credit:
        minimum = maximum = 4;
        break;
    case FrameType::Close:
    case FrameType::Goodbye:
        maximum = 0;
        break;
    case FrameType::Error:
        minimum = 2;
        maximum = 2 + maxErrorText;
        break;
    case FrameType::Open:
    case FrameType::Data:
    case FrameType::Raw:
        break;
    }
    if (length < minimum || length > maximum) {
        const QString expected = minimum == maximum
                ? tr("%1 bytes").arg(minimum)
                : tr("%1 to %2 bytes").arg(minimum).arg(maximum);
        fail(WireError::ProtocolError,
             tr("The peer sent a %1 frame with a payload of %2 bytes; it must have %3.")
                 .arg(typeName(type))
                 .arg(length)
                 .arg(expected));
        return false;
    }

    m_frame.type = type;
    m_frame.flags = flags;
    m_frame.stream = stream;
    m_payloadLength = length;
    return true;
}

FrameDecoder::Status FrameDecoder::next(ByteSource &source, Frame &frame)
{
    if (m_error != WireError::None)
        return Status::Error;

    if (!m_prefaceSeen) {
        const Status status = readPreface(source);
        if (status != Status::Frame)
            return status;
    }

    if (!m_inPayload) {
        const qint64 got = source.read(m_header + m_headerRead, headerSize - m_headerRead);
        if (got > 0)
            m_headerRead += got;
        if (m_headerRead < headerSize)
            return Status::NeedMore;
        if (!checkHeader())
            return Status::Error;
        m_inPayload = true;
        m_payloadRead = 0;
        // Small payloads are reserved whole, the smallest in a shared block:
        // no allocation per frame on the hot path. Larger ones grow below
        // with what actually arrives.
        if (m_payloadLength > 0 && m_payloadLength <= PayloadArena::largestSlice) {
            m_frame.payload = m_arena.allocate(qsizetype(m_payloadLength), m_payloadData);
        } else if (m_payloadLength > 0 && m_payloadLength <= eagerPayloadLimit) {
            m_frame.payload = QByteArray(qsizetype(m_payloadLength), Qt::Uninitialized);
            m_payloadData = m_frame.payload.data();
        }
    }

    const qsizetype length = qsizetype(m_payloadLength);
    if (length <= qsizetype(eagerPayloadLimit)) {
        if (m_payloadRead < length) {
            const qint64 got = source.read(m_payloadData + m_payloadRead, length - m_payloadRead);
            if (got > 0)
                m_payloadRead += got;
            if (m_payloadRead < length)
                return Status::NeedMore;
        }
    } else {
        QByteArray &payload = m_frame.payload;
        while (m_payloadRead < length) {
            const qint64 available = source.bytesAvailable();
            if (available <= 0)
                return Status::NeedMore;
            const qsizetype want = qsizetype(qMin<qint64>(available, length - m_payloadRead));
            const qsizetype wanted = m_payloadRead + want;
            if (wanted > payload.capacity()) {
                // Geometric growth, capped by the announced length: memory
                // stays within twice what arrived, the copies amortized O(n).
                qsizetype capacity = qMax(wanted, 2 * payload.capacity());
                capacity = qMax(capacity, qsizetype(eagerPayloadLimit));
                payload.reserve(qMin(capacity, length));
            }
            payload.resize(wanted);
            const qint64 got = source.read(payload.data() + m_payloadRead, want);
            m_payloadRead += qMax<qint64>(got, 0);
            payload.resize(m_payloadRead);
            if (got < want)
                return Status::NeedMore;
        }
    }

    frame.type = m_frame.type;
    frame.flags = m_frame.flags;
    frame.stream = m_frame.stream;
    frame.payload = std::exchange(m_frame.payload, QByteArray());
    m_inPayload = false;
    m_headerRead = 0;
    m_payloadRead = 0;
    m_payloadLength = 0;
    return Status::Frame;
}

} // namespace Qonduit::Wire
