#ifndef QONDUIT_PAYLOADARENA_P_H
#define QONDUIT_PAYLOADARENA_P_H

#include <QtCore/qbytearray.h>

namespace Qonduit::Wire {

// Hands out the payloads of small frames as slices of shared blocks
// (docs/decisions.md D52).
//
// A flood of 64-byte messages cost the receiving process a malloc() and a
// free() per message: with a stream's whole window (tens of thousands of
// messages) in flight, those left glibc's per-thread cache for its slow paths
// and were a fifth of the receiver's time. A slice is an ordinary QByteArray
// that shares its block's reference count, so a block costs one allocation
// for several payloads and goes when the last of them does.
//
// A slice behaves as any QByteArray: it is '\0'-terminated, 16-byte aligned
// like malloc()'s blocks, and detaches (copies itself) before it is written
// to while its block is shared. Two costs are the block's size, which is why
// blocks are small: a slice kept keeps its whole block alive, and a shared
// slice that grows (append(), prepend(), operator+) is copied with the
// block's capacity rather than its own, as Qt grows from an array's
// allocation (up to twice it for a prepend). Both stay under 2 KiB a
// message: docs/transports.md tells users to copy what they keep.
//
// Not thread-safe: one arena per decoder. The slices it made may go to any
// thread.
class PayloadArena
{
public:
    // With Qt's header and glibc's, a block stays below 1 KiB, the sizes
    // glibc serves from its small bins without first consolidating its fast
    // ones; 64-byte payloads take 12 slices per block.
    static constexpr qsizetype blockSize = 960;
    // Larger payloads get an allocation of their own: one allocation among
    // many bytes is cheap, and a slice could waste up to its size at a
    // block's end.
    static constexpr qsizetype largestSlice = 256;

    PayloadArena() = default;
    Q_DISABLE_COPY_MOVE(PayloadArena) // copies would hand out the same bytes twice

    // A slice of size bytes (at most largestSlice), their contents
    // unspecified until written through writable, which points at them.
    QByteArray allocate(qsizetype size, char *&writable);

private:
    QByteArray m_block;
    qsizetype m_used = 0;
};

} // namespace Qonduit::Wire

#endif // QONDUIT_PAYLOADARENA_P_H
