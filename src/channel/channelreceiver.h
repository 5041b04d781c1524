#ifndef QONDUIT_CHANNELRECEIVER_H
#define QONDUIT_CHANNELRECEIVER_H

#include <Qonduit/channelendpoint.h>

#include <QtCore/qbytearray.h>
#include <QtCore/qdeadlinetimer.h>
#include <QtCore/qvariant.h>

#include <optional>

namespace Qonduit {

class ChannelReceiverPrivate;

// The receiving end of a channel. Messages arrive as signals on the thread
// this object lives in: queued (a slot never runs inside send()), at most one
// wake-up per batch, and at most deliveryBudget messages per event-loop turn
// so that a flood cannot freeze a UI. A slot may delete the receiver or a
// sender. Threads without an event loop call receive() instead.
//
// The queue is bounded by capacity (messages) and capacityBytes (the payload
// size of QByteArray and QString messages, the type's size for others); the
// overflow policy decides what a full queue does, and every drop is counted
// and reported through lagged().
class QONDUIT_EXPORT ChannelReceiver : public ChannelEndpoint
{
    Q_OBJECT
    Q_PROPERTY(qsizetype capacity READ capacity WRITE setCapacity)
    Q_PROPERTY(qint64 capacityBytes READ capacityBytes WRITE setCapacityBytes)
    Q_PROPERTY(Qonduit::OverflowPolicy overflowPolicy READ overflowPolicy WRITE setOverflowPolicy)
    Q_PROPERTY(int deliveryBudget READ deliveryBudget WRITE setDeliveryBudget)
    Q_PROPERTY(qint64 droppedCount READ droppedCount NOTIFY lagged)
    Q_PROPERTY(qsizetype queuedCount READ queuedCount)

public:
    ~ChannelReceiver() override;

    // Blocking use, from any thread: the next message, or nothing when the
    // deadline passes (TimeoutError) or the channel is closed and drained
    // (ChannelClosedError). A raw message comes back as a QByteArray. The
    // return value reports the outcome: error() is set but errorOccurred() is
    // not emitted, and lagged() is emitted on the calling thread.
    std::optional<QVariant> receive(QDeadlineTimer deadline = QDeadlineTimer(QDeadlineTimer::Forever));
    std::optional<QVariant> tryReceive();

    qsizetype capacity() const;
    void setCapacity(qsizetype messages);
    qint64 capacityBytes() const;
    void setCapacityBytes(qint64 bytes);
    OverflowPolicy overflowPolicy() const;
    void setOverflowPolicy(OverflowPolicy policy);
    int deliveryBudget() const;
    void setDeliveryBudget(int messagesPerTurn);

    // Messages dropped by the overflow policy since the channel was made.
    qint64 droppedCount() const;
    // Messages waiting to be delivered.
    qsizetype queuedCount() const;
    // True once every sender is gone and every message was delivered; for
    // the receiver's thread (a blocking consumer reads receive()'s result).
    bool isClosed() const;

Q_SIGNALS:
    void messageReceived(const QVariant &message);
    // From a socket, data of up to 256 bytes shares a 960-byte block with
    // the messages that arrived next to it: copy the ones you keep for long
    // (docs/transports.md, "What is serialized").
    void rawMessageReceived(const QByteArray &data);
    // count messages were dropped by the overflow policy since the last
    // lagged(); emitted before the next message that made it through.
    void lagged(qint64 count);
    // Every sender is gone and every queued message was delivered.
    void closed();

protected:
    bool event(QEvent *event) override;

public:
    // Made by Channel::local(), Channel::connectTo() and ChannelServer: the
    // private class is not part of the installed API.
    explicit ChannelReceiver(ChannelReceiverPrivate &dd, QObject *parent = nullptr);

private:
    Q_DECLARE_PRIVATE(ChannelReceiver)
    Q_DISABLE_COPY_MOVE(ChannelReceiver)
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELRECEIVER_H
