#ifndef QONDUIT_FRAME_P_H
#define QONDUIT_FRAME_P_H

#include "wire/payloadarena_p.h"

#include <QtCore/qbytearray.h>
#include <QtCore/qbytearrayview.h>
#include <QtCore/qstring.h>

#include <memory>

class QIODevice;

// The frame layer of docs/protocol.md (sections 2-4): the preface, the
// 10-byte header, and an incremental decoder that never trusts a length.
namespace Qonduit::Wire {

inline constexpr char prefaceBytes[] = "\x89QND\r\n\x1a\n";
inline constexpr qsizetype prefaceSize = 8;
inline constexpr qsizetype headerSize = 10;
inline constexpr quint32 minimumMaxFrame = 16 * 1024;
inline constexpr quint32 defaultMaxFrame = 16 * 1024 * 1024;
inline constexpr qsizetype maxHandshakePayload = 4096;
inline constexpr qsizetype maxErrorText = 1024;
// What one DATA or RAW frame costs against a stream's window besides its
// payload (docs/protocol.md section 6): without it, empty messages would be
// free to send and not free to hold.
inline constexpr qint64 windowChargePerMessage = 64;
// The largest window a peer announces unless its queue is smaller.
inline constexpr qint64 defaultMaxWindow = 4 * 1024 * 1024;

QByteArrayView preface();

enum class FrameType : quint8 {
    Hello = 0x01,
    Welcome = 0x02,
    Open = 0x03,
    Data = 0x04,
    Raw = 0x05,
    Close = 0x06,
    Credit = 0x07,
    Ping = 0x08,
    Pong = 0x09,
    Error = 0x0A,
    Goodbye = 0x0B,
};

// Error codes carried by ERROR frames (docs/protocol.md section 9).
enum class WireError : quint16 {
    None = 0,
    ProtocolError = 1,
    VersionMismatch = 2,
    FrameTooLarge = 3,
    FlowControlError = 4,
    StreamLimit = 5,
    Timeout = 6,
    Refused = 7,
    Internal = 8,
};

struct Frame
{
    FrameType type = FrameType::Data;
    quint8 flags = 0;
    quint32 stream = 0;
    QByteArray payload;
};

// Appends one frame (header + payload) to out. Does not check limits: the
// caller knows the peer's maximum.
void appendFrame(QByteArray &out, FrameType type, quint8 flags, quint32 stream, QByteArrayView payload);
// Appends only the header, for a payload written separately (large payloads
// go to the socket without being copied into a batch first).
void appendHeader(QByteArray &out, FrameType type, quint8 flags, quint32 stream, quint32 payloadLength);

// Where a decoder reads from: a QIODevice (a socket) or, for tests and the
// fuzzer, bytes in memory. read() returns at most maxSize bytes, 0 when none
// are available now.
class ByteSource
{
public:
    virtual qint64 bytesAvailable() const = 0;
    virtual qint64 read(char *data, qint64 maxSize) = 0;

protected:
    ~ByteSource() = default;
};

// Reads a device ahead in blocks, so that a stream of small frames costs a
// memcpy per read rather than a QIODevice::read() each; reads of a quarter
// block or more (large payloads) go straight to the device. The bytes read
// ahead live here: keep one source per device for as long as it is read.
class DeviceSource final : public ByteSource
{
public:
    static constexpr qint64 readAheadSize = 64 * 1024;

    explicit DeviceSource(QIODevice &device);
    qint64 bytesAvailable() const override;
    qint64 read(char *data, qint64 maxSize) override;

private:
    qint64 readAhead(char *data, qint64 maxSize);

    QIODevice &m_device;
    std::unique_ptr<char[]> m_block;
    qint64 m_blockOffset = 0;
    qint64 m_blockSize = 0;
};

class MemorySource final : public ByteSource
{
public:
    explicit MemorySource(QByteArrayView bytes) : m_bytes(bytes) {}
    qint64 bytesAvailable() const override { return m_bytes.size() - m_offset; }
    qint64 read(char *data, qint64 maxSize) override;

private:
    QByteArrayView m_bytes;
    qsizetype m_offset = 0;
};

// Turns a byte stream into frames, whatever its chunking.
//
// Contract: next() reads only what it needs from the source and returns
// Frame once a whole frame has arrived (its payload read straight into the
// frame's own buffer, one copy); NeedMore when the source ran dry mid-way
// (state is kept for the next call); Error on the first violation, after
// which the decoder stays failed. A header's length is checked against the
// maximum before any payload memory is allocated, and the payload buffer
// grows only with bytes that actually arrived, so a peer that announces a
// large frame and then trickles costs what it sent, not what it announced.
// The decoder checks only framing (preface, length, known type, flag bits a
// type does not define, stream 0 vs non-zero) plus the payload sizes that the
// header alone decides, so that a frame that cannot be valid is refused before
// its payload is read: PING and PONG exactly 8 bytes, CREDIT exactly 4, CLOSE
// and GOODBYE empty, ERROR 2 to 2 + maxErrorText, HELLO and WELCOME at most
// maxHandshakePayload. DATA flags 2 and 3 (reserved encodings) are errors
// here. Payload contents (CBOR, UTF-8, CREDIT of 0) are checked by the
// decoders in messagecodec_p.h; the connection checks state.
//
// A source that runs dry is not an error: next() returns NeedMore, and what
// a close in mid-frame means is the caller's to decide; a partial frame is
// never returned.
class FrameDecoder
{
public:
    enum class Status { NeedMore, Frame, Error };

    // expectPreface: the first 8 bytes must be the protocol magic. Without
    // it prefaceSeen() is true from the start.
    explicit FrameDecoder(quint32 maxFramePayload = defaultMaxFrame, bool expectPreface = true);

    // Applies from the next header on. Values above 2^31 - 1 (the protocol's
    // ceiling) are lowered to it.
    void setMaxFramePayload(quint32 maxFramePayload);
    quint32 maxFramePayload() const { return m_maxFrame; }

    Status next(ByteSource &source, Frame &frame);

    WireError error() const { return m_error; }
    QString errorString() const { return m_errorString; }
    // Whether the preface was read (false: nothing valid has arrived yet).
    bool prefaceSeen() const { return m_prefaceSeen; }
    // Bytes of the frame in progress held so far (header and payload).
    qsizetype partialBytes() const;
    // Memory reserved for the payload in progress: the whole payload at once
    // up to eagerPayloadLimit; beyond that at most max(eagerPayloadLimit,
    // twice what has arrived), never more than the announced length.
    qsizetype allocatedBytes() const;

    // Payloads up to this size are allocated whole when their header arrives.
    static constexpr quint32 eagerPayloadLimit = 64 * 1024;

private:
    Status fail(WireError error, const QString &text);
    Status readPreface(ByteSource &source);
    bool checkHeader();

    quint32 m_maxFrame;
    bool m_prefaceSeen;
    qsizetype m_prefaceRead = 0;
    char m_preface[prefaceSize] = {};
    char m_header[headerSize] = {};
    qsizetype m_headerRead = 0;
    Frame m_frame;
    PayloadArena m_arena;
    char *m_payloadData = nullptr; // where the eager payload's bytes go
    quint32 m_payloadLength = 0;
    qsizetype m_payloadRead = 0;
    bool m_inPayload = false;
    WireError m_error = WireError::None;
    QString m_errorString;
};

} // namespace Qonduit::Wire

#endif // QONDUIT_FRAME_P_H
