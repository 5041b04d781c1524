#include "wire/frame_p.h"
#include "wire/payloadarena_p.h"

#include <QtTest/QTest>

#include <cstring>

using namespace Qonduit::Wire;

namespace {

QByteArray filled(PayloadArena &arena, qsizetype size, char value)
{
    char *writable = nullptr;
    QByteArray slice = arena.allocate(size, writable);
    std::memset(writable, value, size_t(size));
    return slice;
}

// Leaves a freed block of the arena's size full of 'x' behind, which glibc
// hands to the next allocation of that size: without it, fresh memory is
// often zero, and a missing terminator would go unnoticed.
void dirtyTheHeap()
{
    QList<QByteArray> dirt;
    for (int i = 0; i < 8; ++i)
        dirt.append(QByteArray(PayloadArena::blockSize, 'x'));
}

// The middle one of three slices of size bytes, filled with fill, from an
// arena gone by the time it returns: the block's only reference.
QByteArray lastSliceOfItsBlock(qsizetype size, char fill)
{
    PayloadArena arena;
    filled(arena, size, char(fill - 1));
    QByteArray kept = filled(arena, size, fill);
    filled(arena, size, char(fill + 1));
    return kept;
}

} // namespace

// Slices handed out by the frame decoder's arena must behave as any other
// QByteArray a user receives: these are the promises docs/decisions.md D52
// makes for them.
class tst_PayloadArena : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void slicesAreTerminatedAlignedAndIndependent();
    void slicesShareABlockUntilItIsFull();
    void aSliceOutlivesItsArena();
    void writingASharedSliceCopiesIt();
    void growingASharedSliceCostsAtMostTwoBlocks();
    void aSoleSliceGrowsWithoutTouchingItsNeighbours();
    void decodedPayloadsAreSlicesThatOutliveTheDecoder();
};

void tst_PayloadArena::slicesAreTerminatedAlignedAndIndependent()
{
    dirtyTheHeap();
    PayloadArena arena;
    QList<QByteArray> slices;
    for (const qsizetype size :
         {qsizetype(1), qsizetype(15), qsizetype(16), qsizetype(17), qsizetype(64), qsizetype(200), PayloadArena::largestSlice})
        slices.append(filled(arena, size, char('a' + slices.size())));
    for (qsizetype i = 0; i < slices.size(); ++i) {
        const QByteArray &slice = slices.at(i);
        QCOMPARE(slice, QByteArray(slice.size(), char('a' + i)));
        QCOMPARE(slice.constData()[slice.size()], '\0');
        QCOMPARE(qstrlen(slice.constData()), size_t(slice.size()));
        QCOMPARE(quintptr(slice.constData()) % 16, quintptr(0));
    }
}

void tst_PayloadArena::slicesShareABlockUntilItIsFull()
{
    PayloadArena arena;
    QList<QByteArray> slices{filled(arena, 64, 'x')};
    // 64 bytes and the terminator take 80: each slice follows the last in
    // the block until the next would not fit.
    while (slices.size() <= PayloadArena::blockSize / 80) {
        slices.append(filled(arena, 64, 'x'));
        if (slices.last().constData() != slices.at(slices.size() - 2).constData() + 80)
            break;
    }
    const qsizetype inFirstBlock = slices.size() - 1;
    // The first slice starts up to 15 bytes into the block, to be aligned.
    QVERIFY2(inFirstBlock >= (PayloadArena::blockSize - 15) / 80 && inFirstBlock <= PayloadArena::blockSize / 80,
             qPrintable(QStringLiteral("%1 slices in the first block").arg(inFirstBlock)));
    const char *const next = slices.last().constData();
    const char *const blockStart = slices.first().constData();
    QVERIFY(next < blockStart || next >= blockStart + PayloadArena::blockSize);
}

void tst_PayloadArena::aSliceOutlivesItsArena()
{
    const QByteArray kept = lastSliceOfItsBlock(100, 'b');
    // Under ASan a freed block would be reported here.
    QCOMPARE(kept, QByteArray(100, 'b'));
    QCOMPARE(kept.constData()[100], '\0');
}

void tst_PayloadArena::writingASharedSliceCopiesIt()
{
    dirtyTheHeap();
    PayloadArena arena;
    const QByteArray before = filled(arena, 8, 'a');
    QByteArray middle = filled(arena, 8, 'b');
    const QByteArray after = filled(arena, 8, 'c');
    middle[0] = 'B'; // a write in place would change the block
    QCOMPARE(middle, QByteArray("Bbbbbbbb"));
    middle.append("more than the gap to the next slice");
    QCOMPARE(middle, QByteArray("Bbbbbbbbmore than the gap to the next slice"));
    QCOMPARE(middle.constData()[middle.size()], '\0');
    for (const QByteArray &neighbour : {before, after}) {
        QCOMPARE(neighbour.size(), 8);
        QCOMPARE(neighbour.constData()[8], '\0');
    }
    QCOMPARE(before, QByteArray(8, 'a'));
    QCOMPARE(after, QByteArray(8, 'c'));
}

void tst_PayloadArena::growingASharedSliceCostsAtMostTwoBlocks()
{
    // Qt grows a copy from the array's allocation, which for a slice is its
    // block's: what docs/transports.md warns of, bounded by the block size.
    PayloadArena arena;
    QList<QByteArray> slices;
    for (int i = 0; i < 6; ++i)
        slices.append(filled(arena, 64, char('a' + i)));
    QByteArray appended = slices.at(4);
    appended.append('!');
    QByteArray prepended = slices.at(0);
    prepended.prepend('!');
    QByteArray inserted = slices.at(2);
    inserted.insert(10, '!');
    for (const QByteArray *grown : {&appended, &prepended, &inserted}) {
        QCOMPARE(grown->size(), 65);
        QVERIFY2(grown->capacity() <= 2 * PayloadArena::blockSize + 1,
                 qPrintable(QStringLiteral("capacity %1").arg(grown->capacity())));
    }
    QCOMPARE(appended, QByteArray(64, 'e') + '!');
    QCOMPARE(prepended, '!' + QByteArray(64, 'a'));
    QCOMPARE(slices.at(0), QByteArray(64, 'a'));
}

void tst_PayloadArena::aSoleSliceGrowsWithoutTouchingItsNeighbours()
{
    // A slice in the middle of its block, the last reference to it: Qt may
    // use the block's bytes on either side, which no one holds any more.
    QByteArray survivor = lastSliceOfItsBlock(100, 's');
    QVERIFY(survivor.isDetached());
    survivor.prepend(QByteArray(50, 'b'));
    survivor.append(QByteArray(2000, 'g'));
    survivor.truncate(1000);
    survivor.squeeze();
    QCOMPARE(survivor, QByteArray(50, 'b') + QByteArray(100, 's') + QByteArray(850, 'g'));
    QCOMPARE(survivor.constData()[survivor.size()], '\0');
}

void tst_PayloadArena::decodedPayloadsAreSlicesThatOutliveTheDecoder()
{
    QByteArray bytes = preface().toByteArray();
    QList<QByteArray> sent;
    for (int i = 0; i < 500; ++i) {
        sent.append(QByteArray(1 + i % (PayloadArena::largestSlice + 50), char('a' + i % 26)));
        appendFrame(bytes, FrameType::Raw, 0, 1, sent.last());
    }
    QList<QByteArray> received;
    dirtyTheHeap();
    {
        FrameDecoder decoder;
        MemorySource source(bytes);
        Frame frame;
        while (decoder.next(source, frame) == FrameDecoder::Status::Frame)
            received.append(std::exchange(frame.payload, QByteArray()));
        QCOMPARE(decoder.allocatedBytes(), 0);
    }
    QCOMPARE(received, sent);
    // Neighbours in one block, not one allocation each.
    QCOMPARE(received.at(1).constData() - received.at(0).constData(), ptrdiff_t(16));
    for (const QByteArray &payload : std::as_const(received))
        QCOMPARE(payload.constData()[payload.size()], '\0');
}

QTEST_GUILESS_MAIN(tst_PayloadArena)
#include "tst_payloadarena.moc"
