// Replays the committed fuzz corpora (and every crasher ever found) through
// the fuzz targets' bodies, in every build: a regression that the fuzzers
// would find again fails here, with g++ too.
//
// Usage: tst_fuzzreplay TARGET=DIR [TARGET=DIR ...], TARGET being
// framedecoder or messagecodec. Fails when a directory holds no input.

#include "fuzzentries.h"

#include <QtCore/qdiriterator.h>
#include <QtCore/qfile.h>
#include <QtCore/qstring.h>

#include <cstdio>

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s framedecoder=DIR|messagecodec=DIR ...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; ++i) {
        const QString arg = QString::fromLocal8Bit(argv[i]);
        const qsizetype eq = arg.indexOf(QLatin1Char('='));
        const QString target = arg.left(eq);
        const QString dir = arg.mid(eq + 1);
        int (*entry)(const uint8_t *, size_t) = nullptr;
        if (target == QLatin1String("framedecoder"))
            entry = QonduitFuzz::frameDecoder;
        else if (target == QLatin1String("messagecodec"))
            entry = QonduitFuzz::messageCodec;
        if (eq < 0 || !entry) {
            std::fprintf(stderr, "unknown target in \"%s\"\n", argv[i]);
            return 2;
        }
        int count = 0;
        QDirIterator it(dir, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
        while (it.hasNext()) {
            QFile file(it.next());
            if (!file.open(QIODevice::ReadOnly)) {
                std::fprintf(stderr, "cannot read %s\n", qPrintable(file.fileName()));
                return 1;
            }
            const QByteArray input = file.readAll();
            // A crash or a broken invariant aborts: ctest names the input
            // through this line, printed first.
            std::fprintf(stderr, "%s: %s\n", qPrintable(target), qPrintable(file.fileName()));
            entry(reinterpret_cast<const uint8_t *>(input.constData()), size_t(input.size()));
            ++count;
        }
        if (count == 0) {
            std::fprintf(stderr, "no inputs in %s\n", qPrintable(dir));
            return 1;
        }
        std::printf("%s: %d inputs from %s replayed\n", qPrintable(target), count, qPrintable(dir));
    }
    return 0;
}
