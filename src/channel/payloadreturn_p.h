#ifndef QONDUIT_PAYLOADRETURN_P_H
#define QONDUIT_PAYLOADRETURN_P_H

#include <QtCore/qvariant.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

namespace Qonduit {

// Small delivered payloads that a consumer hands back for a producer's thread
// to free (decision D47).
//
// In-process, a payload is allocated on the sender's thread and, without
// this, freed on the receiver's. glibc keeps freed blocks in caches of the
// thread that frees them, so a block freed by the receiver never comes back
// to the sender's cache: each allocation of the sender misses its cache and
// refills from its arena with blocks the receiver's core has just written,
// and each free of the receiver writes a line the sender wants back. Freed on
// a producer's thread, a block goes back where it came from; under a flood of
// 64-byte messages that took the sender's malloc() from the top of its
// profile and raised the throughput of one producer by about a third.
//
// Each sender's lane of a mailbox has one (decision D53), filled with the
// payloads of that lane's messages and emptied by that lane's pushes: with
// one thread per sender, every block goes back to the thread that allocated
// it. Only messages queued with push() carry it: a socket channel's receiving
// mailbox is fed by its connection, on the receiver's own thread, and never
// frees anything handed over; collecting there only delayed every free by a
// batch (about 5% fewer 64-byte messages per second).
//
// Only QByteArray and QString payloads that hold at most SmallPayloadBytes
// (their capacity: a few bytes read into a large buffer keep the buffer) are
// returned: their destructor does nothing but free memory, so which thread
// runs it cannot matter, and beyond that size an allocation is not cached per
// thread anyway. The consumer fills a bin of at most MaxBinPayloads payloads
// per batch and hands it over; the next push through the lane frees it. A
// consumer that finds the bin it handed over last still unclaimed frees that
// one itself, so at most one bin per lane waits for its producer: the memory
// freed late is bounded by MaxBinPayloads * SmallPayloadBytes (about 1 MiB)
// per sender, and is typically one batch of small messages. The price is
// that a push may first free up to a batch of small blocks.
//
// Thread safety: the consumer side is called by one thread at a time (the
// mailbox's consumer), the producer side by any number at once, and clear()
// by any thread once the consumer side is done.
class PayloadReturn
{
public:
    static constexpr qint64 SmallPayloadBytes = 1024;
    static constexpr size_t MaxBinPayloads = 1024;

    PayloadReturn();
    ~PayloadReturn();
    Q_DISABLE_COPY_MOVE(PayloadReturn)

    // Whether a producer may free payload. Asked where the payload is made
    // (Envelope records it, decision D50): the consumer would otherwise read
    // the header of every payload, a line the producer's core wrote, which
    // was a third of a 64-byte flood's receiving thread.
    static bool isReturnable(const QVariant &payload);
    static bool isReturnable(const QByteArray &payload);

    // Starts moving the reference-count line of payload, which
    // isReturnable(), into this core's cache for writing: taking or dropping
    // a reference to a payload that another core touched last waits for
    // that line, and a loop that prefetches it a few payloads ahead waits
    // for many lines at once instead of for one after another.
    static void prefetchForWrite(const QVariant &payload)
    {
        Q_ASSERT(payload.metaType() == QMetaType::fromType<QByteArray>()
                 || payload.metaType() == QMetaType::fromType<QString>());
        // QByteArray and QString both keep their QArrayData header pointer
        // first, null for a null array.
        const char *header = nullptr;
        std::memcpy(&header, payload.constData(), sizeof(header));
        if (!header)
            return;
#if defined(Q_PROCESSOR_X86_64) && (defined(Q_CC_GNU) || defined(Q_CC_CLANG))
        // GCC emits prefetchw only under -mprfchw, and drops the prefetch when
        // a function built for it is inlined; x86-64 CPUs without it run a no-op.
        asm volatile("prefetchw %0" : : "m"(*header));
#elif defined(Q_CC_GNU) || defined(Q_CC_CLANG)
        __builtin_prefetch(header, 1);
#endif
    }

    // --- consumer side ---
    // Moves payload, which isReturnable(), into the bin being filled; returns
    // false, leaving payload alone, if the bin is full. referenced: whether a
    // slot took a reference to it (a typed message's did; a raw message
    // reaches its slot by reference), which left its header line in this
    // core's cache, for the producer to prefetch.
    bool collect(QVariant &payload, bool referenced);
    // Hands the bin being filled over to the producers and starts another.
    void handOver();

    // --- producer side ---
    // Frees what a consumer handed over, if anything: two relaxed loads when
    // there is nothing.
    void freeHandedOver();

    // --- any thread, once the consumer side is done (its consumer left, or
    // the channel finished: no producer will come to free anything) ---
    // Frees every payload held, with producers still in freeHandedOver().
    void clear();

private:
    struct Bin
    {
        std::vector<QVariant> payloads;
        bool referenced = false; // some payload's header was last written by the consumer

        void clear()
        {
            payloads.clear();
            referenced = false;
        }
    };

    std::unique_ptr<Bin> m_filling; // the consumer side's
    // The rest is written by both sides once per batch: apart from the
    // consumer's pointer, which it reads for every payload.
    char m_padding[64];
    std::atomic<Bin *> m_handedOver{nullptr};
    std::atomic<Bin *> m_emptied{nullptr}; // freed by a producer, for the consumer to fill again
};

} // namespace Qonduit

#endif // QONDUIT_PAYLOADRETURN_P_H
