#include "channel/payloadreturn_p.h"

#include "channel/envelope_p.h"

#include <QtCore/qstring.h>

namespace Qonduit {

PayloadReturn::PayloadReturn()
    : m_filling(std::make_unique<Bin>())
{
}

PayloadReturn::~PayloadReturn()
{
    clear();
}

bool PayloadReturn::isReturnable(const QVariant &payload)
{
    // The memory held (capacity, not size: a few bytes read into a large
    // buffer keep the buffer).
    const QMetaType type = payload.metaType();
    if (type == QMetaType::fromType<QByteArray>())
        return isReturnable(*static_cast<const QByteArray *>(payload.constData()));
    if (type == QMetaType::fromType<QString>())
        return static_cast<const QString *>(payload.constData())->capacity() * qint64(sizeof(QChar)) <= SmallPayloadBytes;
    return false;
}

bool PayloadReturn::isReturnable(const QByteArray &payload)
{
    return payload.capacity() <= SmallPayloadBytes;
}

bool PayloadReturn::collect(QVariant &payload, bool referenced)
{
    if (m_filling->payloads.size() >= MaxBinPayloads)
        return false;
    relocateBack(m_filling->payloads, payload);
    m_filling->referenced |= referenced;
    return true;
}

void PayloadReturn::handOver()
{
    if (m_filling->payloads.empty())
        return;
    std::unique_ptr<Bin> unclaimed(m_handedOver.exchange(m_filling.release(), std::memory_order_acq_rel));
    if (unclaimed) {
        // No producer pushed during a whole batch: free the older bin here
        // rather than let a second one wait.
        unclaimed->clear();
        m_filling = std::move(unclaimed);
        return;
    }
    m_filling.reset(m_emptied.exchange(nullptr, std::memory_order_acquire));
    if (!m_filling)
        m_filling = std::make_unique<Bin>();
}

void PayloadReturn::freeHandedOver()
{
    if (!m_handedOver.load(std::memory_order_relaxed))
        return;
    Bin *const bin = m_handedOver.exchange(nullptr, std::memory_order_acquire);
    if (!bin)
        return;
    // The consumer's core wrote the headers last, taking and dropping a
    // slot's reference: ask for all of them before freeing the first.
    if (bin->referenced) {
        for (const QVariant &payload : bin->payloads)
            prefetchForWrite(payload);
    }
    bin->clear();
    // A consumer that found no emptied bin made a new one meanwhile: the
    // older spare goes.
    delete m_emptied.exchange(bin, std::memory_order_acq_rel);
}

void PayloadReturn::clear()
{
    m_filling->clear();
    delete m_handedOver.exchange(nullptr, std::memory_order_acquire);
    delete m_emptied.exchange(nullptr, std::memory_order_acquire);
}

} // namespace Qonduit
