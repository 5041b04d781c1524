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
    void aSoleSliceGrowsWithoutTouchingItsNeighbours();
    void decodedPayloadsAreSlicesThatOutliveTheDecoder();
};

void tst_PayloadArena::slicesAreTerminatedAlignedAndIndependent()
{
    PayloadArena arena;
    QList<QByteArray> slices;
    for (const qsizetype size : {qsizetype(1), qsizetype(15), qsizetype(16), qsizetype(17), qsizetype(64), qsizetype(1000), PayloadArena::largestSlice})
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
    const QByteArray first = filled(arena, 64, 'x');
    const char *const blockStart = first.constData();
    // 64 bytes and the terminator take 80: a block holds this many.
    const qsizetype perBlock = PayloadArena::blockSize / 80;
    QList<QByteArray> slices{first};
    for (qsizetype i = 1; i < perBlock + 1; ++i)
        slices.append(filled(arena, 64, 'x'));
    for (qsizetype i = 1; i < perBlock; ++i)
        QCOMPARE(slices.at(i).constData() - blockStart, ptrdiff_t(i * 80));
    // The next one starts another block.
    const char *const next = slices.last().constData();
    QVERIFY(next < blockStart || next >= blockStart + PayloadArena::blockSize);
}

void tst_PayloadArena::aSliceOutlivesItsArena()
{
    QByteArray kept;
    {
        PayloadArena arena;
        filled(arena, 100, 'a');
        kept = filled(arena, 100, 'b');
        filled(arena, 100, 'c');
    }
    // Under ASan a freed block would be reported here.
    QCOMPARE(kept, QByteArray(100, 'b'));
    QCOMPARE(kept.constData()[100], '\0');
}

void tst_PayloadArena::writingASharedSliceCopiesIt()
{
    PayloadArena arena;
    QByteArray first = filled(arena, 8, 'a');
    const QByteArray second = filled(arena, 8, 'b');
    first.append("more than the gap to the next slice");
    first[0] = 'A';
    QCOMPARE(first, QByteArray("Aaaaaaaamore than the gap to the next slice"));
    QCOMPARE(second, QByteArray(8, 'b'));
    QCOMPARE(second.constData()[8], '\0');
}

void tst_PayloadArena::aSoleSliceGrowsWithoutTouchingItsNeighbours()
{
    QByteArray survivor;
    {
        PayloadArena arena;
        survivor = filled(arena, 8, 's');
        filled(arena, 8, 'n');
    }
    // The block's only reference: Qt may grow it in place, over bytes no one
    // else holds any more.
    survivor.append(QByteArray(200, 'g'));
    QCOMPARE(survivor, QByteArray(8, 's') + QByteArray(200, 'g'));
    QCOMPARE(survivor.constData()[survivor.size()], '\0');
}

void tst_PayloadArena::decodedPayloadsAreSlicesThatOutliveTheDecoder()
{
    QByteArray bytes = preface().toByteArray();
    QList<QByteArray> sent;
    for (int i = 0; i < 500; ++i) {
        sent.append(QByteArray(1 + i % 300, char('a' + i % 26)));
        appendFrame(bytes, FrameType::Raw, 0, 1, sent.last());
    }
    QList<QByteArray> received;
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
