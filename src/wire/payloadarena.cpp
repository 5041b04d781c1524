#include "wire/payloadarena_p.h"

namespace Qonduit::Wire {

namespace {

// What malloc() guarantees, so that a slice serves wherever a fresh
// QByteArray's data would.
constexpr qsizetype sliceAlignment = 16;

} // namespace

QByteArray PayloadArena::allocate(qsizetype size, char *&writable)
{
    Q_ASSERT(size >= 0 && size <= largestSlice);
    // The slice and its terminator, rounded up so that the next slice is aligned.
    const qsizetype taken = (size + 1 + sliceAlignment - 1) & ~(sliceAlignment - 1);
    if (m_block.isNull() || m_used + taken > m_block.size()) {
        m_block = QByteArray(blockSize, Qt::Uninitialized);
        m_used = qsizetype((sliceAlignment - quintptr(m_block.constData()) % sliceAlignment) % sliceAlignment);
    }
    QByteArray slice = m_block; // one more reference to the block
    // Written through the block's pointer, not data(): the block is shared,
    // and data() would copy it. No other slice covers these bytes.
    QByteArray::DataPointer &pointer = slice.data_ptr();
    writable = pointer.data() + m_used;
    writable[size] = '\0';
    pointer.setBegin(writable);
    pointer.size = size;
    m_used += taken;
    return slice;
}

} // namespace Qonduit::Wire
