// What tst_multiprocess and its helper process qonduit_test_peer send each
// other. Both include this header, so the typed message has the same name in
// both processes: a QVariant crosses the socket with its type's name, and the
// receiving process finds the type by that name (qRegisterMetaType).
//
// Every message carries its sequence number and a payload derived from it, so
// a receiver can tell a complete message from a damaged one and check that
// nothing was lost, repeated or reordered.
#ifndef QONDUIT_TESTS_PEERMESSAGES_H
#define QONDUIT_TESTS_PEERMESSAGES_H

#include <QtCore/QByteArray>
#include <QtCore/QDataStream>
#include <QtCore/QMetaType>
#include <QtCore/QString>
#include <QtCore/QtEndian>

namespace PeerMessages {

struct Sample
{
    qint64 sequence = -1;
    QString text;
    QByteArray blob;

    friend bool operator==(const Sample &a, const Sample &b)
    {
        return a.sequence == b.sequence && a.text == b.text && a.blob == b.blob;
    }
    friend QDataStream &operator<<(QDataStream &out, const Sample &s)
    {
        return out << s.sequence << s.text << s.blob;
    }
    friend QDataStream &operator>>(QDataStream &in, Sample &s)
    {
        return in >> s.sequence >> s.text >> s.blob;
    }
};

// Sizes vary from 0 to about 4 KiB times scale, so frames end at every
// offset of a read; with a large scale most messages span many reads.
inline qsizetype payloadSize(qint64 sequence, int scale)
{
    return qsizetype((sequence * 37) % 4093) * scale;
}

inline char patternByte(qint64 sequence, qsizetype index)
{
    return char((sequence * 131 + index * 7) & 0xff);
}

inline Sample makeSample(qint64 sequence, int scale = 1)
{
    Sample s;
    s.sequence = sequence;
    s.text = QStringLiteral("sample #%1 ").arg(sequence).repeated(int(sequence % 5));
    s.blob.resize(payloadSize(sequence, scale));
    for (qsizetype i = 0; i < s.blob.size(); ++i)
        s.blob[i] = patternByte(sequence, i);
    return s;
}

inline bool isIntact(const Sample &s, int scale = 1)
{
    return s.sequence >= 0 && s == makeSample(s.sequence, scale);
}

// A raw message: 8 bytes of big-endian sequence number, then the pattern.
inline QByteArray makeRaw(qint64 sequence, int scale = 1)
{
    QByteArray bytes(8 + payloadSize(sequence, scale), Qt::Uninitialized);
    qToBigEndian(sequence, bytes.data());
    for (qsizetype i = 8; i < bytes.size(); ++i)
        bytes[i] = patternByte(sequence, i - 8);
    return bytes;
}

// The sequence number of an intact raw message, or -1.
inline qint64 rawSequence(const QByteArray &bytes, int scale = 1)
{
    if (bytes.size() < 8)
        return -1;
    const auto sequence = qFromBigEndian<qint64>(bytes.constData());
    return sequence >= 0 && bytes == makeRaw(sequence, scale) ? sequence : -1;
}

} // namespace PeerMessages

Q_DECLARE_METATYPE(PeerMessages::Sample)

#endif // QONDUIT_TESTS_PEERMESSAGES_H
