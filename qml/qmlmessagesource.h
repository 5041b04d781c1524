#ifndef QONDUIT_QMLMESSAGESOURCE_H
#define QONDUIT_QMLMESSAGESOURCE_H

#include "qmlendpoint.h"

#include <Qonduit/channeloptions.h>

#include <QtCore/qelapsedtimer.h>
#include <QtCore/qtimer.h>
#include <QtCore/qvariant.h>

namespace Qonduit {

// The receiving side QML binds to, shared by ChannelReceiver and
// ChannelServer: the latest message, counters, the queue's bounds and the
// coalescing that keeps a fast producer from updating a view more often than
// it can be drawn.
class QmlMessageSource : public Qonduit::QmlEndpoint
{
    Q_OBJECT
    // Counters are double to QML (exact up to 2^53): qmllint 6.4 knows no
    // qint64 property type.
    Q_PROPERTY(QVariant latest READ latest NOTIFY latestChanged)
    Q_PROPERTY(double count READ count NOTIFY countChanged)
    Q_PROPERTY(Delivery delivery READ delivery WRITE setDelivery NOTIFY deliveryChanged)
    Q_PROPERTY(int updateInterval READ updateInterval WRITE setUpdateInterval NOTIFY deliveryChanged)
    Q_PROPERTY(double coalescedCount READ coalescedCount NOTIFY coalescedCountChanged)
    Q_PROPERTY(double droppedCount READ droppedCount NOTIFY droppedCountChanged)
    Q_PROPERTY(int capacity READ capacity WRITE setCapacity NOTIFY queueOptionsChanged)
    Q_PROPERTY(Qonduit::OverflowPolicy overflowPolicy READ overflowPolicy WRITE setOverflowPolicy
                   NOTIFY queueOptionsChanged)
    QML_ANONYMOUS

public:
    enum Delivery {
        EveryMessage,      // messageReceived for each message
        LatestPerFrame,    // at most once per display frame, with the latest message
        LatestPerInterval, // at most once per updateInterval milliseconds, with the latest message
    };
    Q_ENUM(Delivery)

    explicit QmlMessageSource(QObject *parent = nullptr);

    QVariant latest() const { return m_latest; }
    qint64 count() const { return m_count; }
    Delivery delivery() const { return m_delivery; }
    void setDelivery(Delivery delivery);
    int updateInterval() const { return m_updateInterval; }
    void setUpdateInterval(int milliseconds);
    qint64 coalescedCount() const { return m_coalescedCount; }
    qint64 droppedCount() const { return m_droppedCount; }
    int capacity() const;
    void setCapacity(int messages);
    Qonduit::OverflowPolicy overflowPolicy() const { return m_queueOptions.overflowPolicy; }
    void setOverflowPolicy(Qonduit::OverflowPolicy policy);

Q_SIGNALS:
    void messageReceived(const QVariant &message);
    void latestChanged();
    void countChanged();
    void deliveryChanged();
    void coalescedCountChanged();
    void droppedCountChanged();
    void queueOptionsChanged();

protected:
    // A message came off a channel; delivered now or coalesced.
    void arrive(const QVariant &message);
    void addDropped(qint64 count);
    const ChannelOptions &queueOptions() const { return m_queueOptions; }
    // The bounds changed: apply them to the receivers that exist.
    virtual void applyQueueOptions() = 0;

private:
    int coalescingInterval() const;
    void deliverPending();
    void deliver(const QVariant &message);

    QVariant m_latest;
    qint64 m_count = 0;
    Delivery m_delivery = EveryMessage;
    int m_updateInterval = 100;
    qint64 m_coalescedCount = 0;
    qint64 m_droppedCount = 0;
    ChannelOptions m_queueOptions;

    QVariant m_pending;
    bool m_hasPending = false;
    QElapsedTimer m_sinceDelivery;
    QTimer m_coalescingTimer;
};

} // namespace Qonduit

#endif // QONDUIT_QMLMESSAGESOURCE_H
