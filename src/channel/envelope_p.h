#ifndef QONDUIT_ENVELOPE_P_H
#define QONDUIT_ENVELOPE_P_H

#include <QtCore/qbytearray.h>
#include <QtCore/qvariant.h>

namespace Qonduit {

// One queued message. The payload is held as it was sent: in-process nothing
// is serialized, and an implicitly shared value is shared, not copied.
struct Envelope
{
    QVariant payload;
    qint64 bytes = 0; // what the payload counts against capacityBytes
    bool raw = false; // sent with sendRaw(): the payload is a QByteArray

    static Envelope typed(const QVariant &message);
    static Envelope rawBytes(const QByteArray &data);
};

// The bytes a message counts against a queue's byte bound: the payload size of
// QByteArray and QString, the type's own size for anything else (in-process a
// large implicitly shared value costs the queue no more than its handle).
qint64 payloadBytes(const QVariant &message);

} // namespace Qonduit

#endif // QONDUIT_ENVELOPE_P_H
