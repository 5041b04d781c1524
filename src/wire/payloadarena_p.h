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
// for dozens of payloads and goes when the last of them does.
//
// A slice behaves as any QByteArray: it is '\0'-terminated, 16-byte aligned
// like malloc()'s blocks, and detaches (copies itself) before it is written
// to while its block is shared. The price: a slice kept keeps its whole block
// (blockSize bytes) alive, so whoever keeps a few received messages out of
// many for long keeps up to blockSize / 16 times their bytes; a copy
// (QByteArray(slice.constData(), slice.size())) keeps only its own.
//
// Not thread-safe: one arena per decoder. The slices it made may go to any
// thread.
class PayloadArena
{
public:
    static constexpr qsizetype blockSize = 16 * 1024;
    // Larger payloads get a block of their own: one allocation among many
    // bytes is cheap, and a slice could waste up to its size at a block's end.
    static constexpr qsizetype largestSlice = 1024;

    // A slice of size bytes (at most largestSlice), their contents
    // unspecified until written through writable, which points at them.
    QByteArray allocate(qsizetype size, char *&writable);

private:
    QByteArray m_block;
    qsizetype m_used = 0;
};

} // namespace Qonduit::Wire

#endif // QONDUIT_PAYLOADARENA_P_H
