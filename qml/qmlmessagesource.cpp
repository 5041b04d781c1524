#include "qmlmessagesource.h"

#include "jsvalues.h"

#include <QtGui/qguiapplication.h>
#include <QtGui/qscreen.h>

namespace Qonduit {

QmlMessageSource::QmlMessageSource(QObject *parent)
    : QmlEndpoint(parent)
{
    m_coalescingTimer.setSingleShot(true);
    m_coalescingTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_coalescingTimer, &QTimer::timeout, this, &QmlMessageSource::deliverPending);
}

void QmlMessageSource::setDelivery(Delivery delivery)
{
    if (m_delivery == delivery)
        return;
    m_delivery = delivery;
    if (m_delivery == EveryMessage) {
        m_coalescingTimer.stop();
        deliverPending();
    }
    Q_EMIT deliveryChanged();
}

void QmlMessageSource::setUpdateInterval(int milliseconds)
{
    milliseconds = qMax(1, milliseconds);
    if (m_updateInterval == milliseconds)
        return;
    m_updateInterval = milliseconds;
    Q_EMIT deliveryChanged();
}

int QmlMessageSource::capacity() const
{
    return int(qMin<qsizetype>(m_queueOptions.capacity, std::numeric_limits<int>::max()));
}

void QmlMessageSource::setCapacity(int messages)
{
    messages = qMax(1, messages);
    if (m_queueOptions.capacity == messages)
        return;
    m_queueOptions.capacity = messages;
    applyQueueOptions();
    Q_EMIT queueOptionsChanged();
}

void QmlMessageSource::setOverflowPolicy(OverflowPolicy policy)
{
    if (m_queueOptions.overflowPolicy == policy)
        return;
    m_queueOptions.overflowPolicy = policy;
    applyQueueOptions();
    Q_EMIT queueOptionsChanged();
}

void QmlMessageSource::arrive(const QVariant &message)
{
    ++m_count;
    Q_EMIT countChanged();
    if (m_delivery == EveryMessage) {
        deliver(message);
        return;
    }
    if (m_hasPending) {
        ++m_coalescedCount;
        Q_EMIT coalescedCountChanged();
    }
    m_pending = message;
    m_hasPending = true;
    if (m_coalescingTimer.isActive())
        return;
    // The first message after a quiet spell goes out at once; later ones wait
    // for the interval to pass since the last delivery.
    const qint64 wait = m_sinceDelivery.isValid() ? coalescingInterval() - m_sinceDelivery.elapsed() : 0;
    if (wait <= 0)
        deliverPending();
    else
        m_coalescingTimer.start(int(wait));
}

void QmlMessageSource::addDropped(qint64 count)
{
    m_droppedCount += count;
    Q_EMIT droppedCountChanged();
}

int QmlMessageSource::coalescingInterval() const
{
    if (m_delivery == LatestPerInterval)
        return m_updateInterval;
    const QScreen *screen = qobject_cast<QGuiApplication *>(QCoreApplication::instance())
                                ? QGuiApplication::primaryScreen()
                                : nullptr;
    const qreal rate = screen && screen->refreshRate() > 1 ? screen->refreshRate() : 60.0;
    return qMax(1, qRound(1000.0 / rate));
}

void QmlMessageSource::deliverPending()
{
    if (!m_hasPending)
        return;
    m_hasPending = false;
    deliver(std::exchange(m_pending, QVariant()));
}

void QmlMessageSource::deliver(const QVariant &message)
{
    m_sinceDelivery.start();
    m_latest = JsValues::toJs(message);
    Q_EMIT latestChanged();
    Q_EMIT messageReceived(m_latest);
}

} // namespace Qonduit
