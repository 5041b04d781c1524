#ifndef QONDUIT_CHANNELSENDER_H
#define QONDUIT_CHANNELSENDER_H

#include <Qonduit/channelendpoint.h>

#include <QtCore/qbytearray.h>
#include <QtCore/qstringbuilder.h>
#include <QtCore/qvariant.h>

#include <type_traits>

namespace Qonduit {

class ChannelSenderPrivate;

namespace Detail {
// What a + b gives with QT_USE_QSTRINGBUILDER: sent as the string it builds.
template <typename T>
struct BuiltType
{
    using type = void;
};
template <typename A, typename B>
struct BuiltType<QStringBuilder<A, B>>
{
    using type = std::conditional_t<std::is_convertible_v<QStringBuilder<A, B>, QString>, QString, QByteArray>;
};
} // namespace Detail

// The sending end of a channel. send() and sendRaw() may be called from any
// thread at once; messages from one sender arrive in the order sent. Clone a
// sender to give another producer its own: clones queue independently (no
// lock shared between them), and their messages interleave with no order
// between them. The receiver emits closed() once
// every sender of the channel is closed or destroyed.
class QONDUIT_EXPORT ChannelSender : public ChannelEndpoint
{
    Q_OBJECT
    Q_PROPERTY(bool open READ isOpen)

public:
    ~ChannelSender() override;

    // Queues a typed message. In-process the QVariant travels as it is: an
    // implicitly shared payload (QByteArray, QImage, QString …) is not copied.
    // Returns false when the message was not queued: with error() set and
    // errorOccurred() emitted when the receiver is gone or this sender is
    // closed (ChannelClosedError) or the queue is full under Reject, or under
    // Block on a thread that may not wait (QueueFullError); silently when
    // DropNewest discarded it, which the receiver counts and reports.
    Q_INVOKABLE bool send(const QVariant &message);
    // The same, taking the variant over: a temporary costs no copy (no
    // reference-count update on the payload, no type-erased copy). The variant
    // is left empty even when this returns false: to send it again on
    // readyToSend(), pass a copy.
    bool send(QVariant &&message);
    template <typename T>
    bool send(const T &value)
    {
        using Built = typename Detail::BuiltType<T>::type;
        if constexpr (std::is_array_v<T> && std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>)
            return send(QVariant(QString::fromUtf8(value))); // a string literal travels as a QString
        else if constexpr (!std::is_void_v<Built>)
            return send(QVariant::fromValue(Built(value))); // a + b travels as the string it builds
        else
            return send(QVariant::fromValue(value));
    }

    // Queues bytes that reach the receiver's rawMessageReceived() as they are.
    Q_INVOKABLE bool sendRaw(const QByteArray &data);

    // A new sender on the same channel, owned by the caller and living in the
    // calling thread. A closed sender clones to a closed sender.
    std::unique_ptr<ChannelSender> clone(QObject *parent = nullptr) const;

    // Stops this sender; later sends fail with ChannelClosedError. Destroying
    // a sender closes it too.
    Q_INVOKABLE void close();
    bool isOpen() const;

Q_SIGNALS:
    // After a send() or sendRaw() of this sender failed with QueueFullError:
    // the queue has drained to half its message bound and 1 MiB below its
    // byte bound (half of it, if smaller) and the refused message fits, so
    // sending may go on (the Qt way, like QIODevice::bytesWritten(), instead
    // of retrying on a timer).
    // Also emitted when the receiver went away meanwhile, so that the next
    // send reports that. Queued to this sender's thread; once for any
    // number of refusals before the room came.
    void readyToSend();

public:
    // Made by Channel::local(), Channel::connectTo() and ChannelServer: the
    // private class is not part of the installed API.
    explicit ChannelSender(ChannelSenderPrivate &dd, QObject *parent = nullptr);

private:
    Q_DECLARE_PRIVATE(ChannelSender)
    Q_DISABLE_COPY_MOVE(ChannelSender)
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELSENDER_H
