#ifndef QONDUIT_ENVELOPE_P_H
#define QONDUIT_ENVELOPE_P_H

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qbytearray.h>
#include <QtCore/qvariant.h>

#include <cstring>
#include <new>
#include <vector>

namespace Qonduit {

class PayloadReturn;

// One queued message. In-process the payload is held as it was sent: nothing
// is serialized, and an implicitly shared value is shared, not copied.
struct Envelope
{
    enum class Kind : quint8 {
        Typed,   // payload: the QVariant sent
        Raw,     // payload: a QByteArray sent with sendRaw()
        Encoded, // payload: a typed message already encoded for the wire (a QByteArray); wireFlags: its encoding
        Event,   // payload: a QString; event: the error the receiver reports at this point of the stream
    };

    QVariant payload;
    qint64 bytes = 0; // what the payload counts against capacityBytes
    Kind kind = Kind::Typed;
    quint8 wireFlags = 0;
    // Set where the payload is made: PayloadReturn::isReturnable().
    bool returnable = false;
    Error event = Error::NoError;
    // Where the consumer hands a returnable payload back, for the producer
    // that pushed it to free (set by Mailbox::push(), nullptr elsewhere).
    PayloadReturn *returnTo = nullptr;

    // The bytes of a Raw or an Encoded envelope: rawBytes() and encoded(),
    // the only makers of those, hold a QByteArray.
    const QByteArray &bytesPayload() const
    {
        Q_ASSERT(kind == Kind::Raw || kind == Kind::Encoded);
        Q_ASSERT(payload.metaType() == QMetaType::fromType<QByteArray>());
        return *static_cast<const QByteArray *>(payload.constData());
    }

    static Envelope typed(const QVariant &message);
    static Envelope typed(QVariant &&message);
    static Envelope rawBytes(const QByteArray &data);
    static Envelope encoded(const QByteArray &data, quint8 wireFlags);
    static Envelope error(Error error, const QString &text, qint64 bytes = 0);
};

// Moves from to the storage at to, which holds no live object (uninitialized,
// or one already destroyed), leaving from default-constructed, as a copy of
// its bytes: T must be relocatable
// (QVariant is, Q_DECLARE_SHARED; so is Envelope, which holds one). Used where
// a queue moves its messages: QVariant's move constructor, as compiled,
// resets the source through two 8-byte stores read back as one 16-byte
// load, a store-forwarding stall that was over half of a queue push's time.
template <typename T>
void relocate(T &from, void *to) noexcept
{
    static_assert(QTypeInfo<T>::isRelocatable);
    std::memcpy(to, static_cast<const void *>(&from), sizeof(T));
    new (&from) T;
}

// Appends from to out by relocate().
template <typename T>
void relocateBack(std::vector<T> &out, T &from) noexcept
{
    T &to = out.emplace_back();
    to.~T();
    relocate(from, &to);
}

// The bytes a message counts against a queue's byte bound: the payload size of
// QByteArray and QString, the type's own size for anything else (in-process a
// large implicitly shared value costs the queue no more than its handle).
qint64 payloadBytes(const QVariant &message);

} // namespace Qonduit

Q_DECLARE_TYPEINFO(Qonduit::Envelope, Q_RELOCATABLE_TYPE);

#endif // QONDUIT_ENVELOPE_P_H
