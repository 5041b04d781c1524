#ifndef QONDUIT_MESSAGECODEC_P_H
#define QONDUIT_MESSAGECODEC_P_H

#include "wire/frame_p.h"

#include <QtCore/qcborvalue.h>
#include <QtCore/qvariant.h>

// Payload encodings of docs/protocol.md sections 5, 7 and 9: typed messages
// (QDataStream or CBOR), the HELLO/WELCOME maps, CREDIT, PING and ERROR.
// Decoders take hostile bytes: they return false (with a reason) and never
// crash, throw or allocate more than the input justifies.
namespace Qonduit::Wire {

enum class Encoding : quint8 { DataStream = 0, Cbor = 1 };
inline constexpr quint8 encodingMask = 0x03;

// Containers nested deeper than this are refused, in both encodings (it is
// also QCborValue's own limit); it bounds the decoders' recursion.
inline constexpr int maxMessageDepth = 1024;

// The DataStream encoding is pinned to QDataStream::Qt_6_0 so peers built
// with later Qt versions still understand each other.
//
// Qt's own QDataStream readers are not safe with hostile bytes: a QList
// reserves whatever count the stream announces, a QVariant nests without
// limit (a stack overflow at ~100,000 levels), and QEasingCurve reads a
// function pointer. So decodeMessage() reads the QVariant containers itself
// (QVariantList, QVariantMap, QVariantHash, QStringList, QByteArrayList,
// QVariantPair: counts checked against the bytes that remain, nesting up to
// maxMessageDepth) and hands only leaves to Qt. It refuses
//  - an invalid QVariant as the message (one nested in a container is fine),
//  - unknown type ids, unknown type names (user types must be registered by
//    name in the receiving process, with stream operators), names that are
//    not printable and normalized as Qt writes them, a built-in type sent by
//    name (Qt never writes one so),
//  - a QBitArray whose bit count the remaining bytes cannot hold (Qt 6.4's
//    reader writes out of bounds for a negative one),
//  - types with no stream operators, QVariant-in-QVariant, QEasingCurve, and
//    every Qt GUI type except the fixed-size QColor, QTransform, QMatrix4x4,
//    QVector2D/3D/4D and QQuaternion (QImage, QPixmap, QIcon, QFont,
//    QKeySequence, QPolygon, ... run decoders or unchecked QList reads on
//    peer data; send images as RAW bytes instead),
//  - trailing bytes and anything the stream reports as corrupt.
// A user type is read by its own operator>>, which therefore sees peer
// bytes: register only types whose operators are safe with them.
//
// encodeDataStream() checks the same rules on the way out (walking the
// QVariant containers) so that a message its peer would refuse fails at the
// sender: it then returns a null QByteArray (a valid encoding never is
// empty) and sets *errorText when given.
QByteArray encodeDataStream(const QVariant &message, QString *errorText = nullptr);
QByteArray encodeCbor(const QCborValue &message);
// Decodes a DATA payload with the encoding in flags; errorText says why not.
// CBOR: one data item, no trailing bytes, valid UTF-8; delivered as
// QCborValue::toVariant(), and refused when that is an invalid QVariant
// (CBOR undefined) so that a message is never an invalid QVariant.
bool decodeMessage(quint8 flags, QByteArrayView payload, QVariant &message, QString &errorText);

// The longest name a HELLO's "client" key may carry, in UTF-8 bytes.
inline constexpr qsizetype maxClientName = 255;

struct Hello
{
    QList<quint32> versions;  // HELLO only
    quint32 version = 0;       // WELCOME only
    quint32 maxFrame = defaultMaxFrame;
    quint32 window = 4 * 1024 * 1024;
    quint32 heartbeatMs = 5000;
    quint64 caps = 0;
    QString client;            // HELLO only, optional: the name a tls:// client claims (empty: none)
};
// type is FrameType::Hello or FrameType::Welcome. Every key of section 5's
// tables is required ("versions" in HELLO, "version" in WELCOME; "maxFrame",
// "window", "heartbeat", "caps" in both), each an unsigned integer (major
// type 0) of at most 32 bits ("caps" 64); HELLO's optional "client" is text of
// 1 to maxClientName UTF-8 bytes. decodeHello() also refuses a
// payload above maxHandshakePayload, a map key that is not text or appears
// twice, trailing bytes, "versions" empty or longer than 1000 entries,
// "maxFrame" below minimumMaxFrame and "window" outside 1 .. 2^31 - 1. It
// ignores unknown keys and does not judge the versions: the connection does.
QByteArray encodeHello(const Hello &hello, FrameType type);
bool decodeHello(QByteArrayView payload, FrameType type, Hello &hello, QString &errorText);

// OPEN: empty, or one CBOR map whose "name", if any, is text.
bool isValidOpenPayload(QByteArrayView payload);

// CREDIT: exactly 4 bytes, 1 .. 2^31 - 1.
QByteArray encodeCredit(quint32 increment);
bool decodeCredit(QByteArrayView payload, quint32 &increment);

// ERROR: the code (never 0; codes this build does not know are passed on)
// and at most maxErrorText bytes of UTF-8. encodeError() cuts a longer text
// at a character boundary.
QByteArray encodeError(WireError code, const QString &text);
bool decodeError(QByteArrayView payload, WireError &code, QString &text);

} // namespace Qonduit::Wire

#endif // QONDUIT_MESSAGECODEC_P_H
