#include "wire/messagecodec_p.h"

#include <QtCore/qbytearraylist.h>
#include <QtCore/qcbormap.h>
#include <QtCore/qcborstreamreader.h>
#include <QtCore/qcborstreamwriter.h>
#include <QtCore/qcoreapplication.h>
#include <QtCore/qdatastream.h>
#include <QtCore/qendian.h>
#include <QtCore/qiodevice.h>
#include <QtCore/qobjectdefs.h>
#include <QtCore/qstringconverter.h>

#include <cstring>
#include <utility>

namespace Qonduit::Wire {

namespace {

constexpr QDataStream::Version streamVersion = QDataStream::Qt_6_0;
constexpr qsizetype maxVersions = 1000;
constexpr quint32 maxWindow = 0x7fffffff;
constexpr quint32 maxCredit = 0x7fffffff;

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::Wire", text);
}

// A type name from the peer, fit for an error text.
QString printableName(QByteArrayView name)
{
    QString text = QString::fromLatin1(name.first(qMin<qsizetype>(name.size(), 100)));
    for (QChar &c : text) {
        if (c.unicode() < 0x20 || c.unicode() >= 0x7f)
            c = QChar(u'?');
    }
    return name.size() > 100 ? text + QLatin1String("...") : text;
}

// ---------------------------------------------------------------- QDataStream

// How the codec treats a type in a QDataStream message: Qt's reader for a
// leaf, ours for the QVariant containers (whose Qt readers trust counts and
// nest without limit), or not at all.
enum class Kind { Leaf, VariantList, VariantMap, VariantHash, StringList, ByteArrayList, VariantPair, Refused };

Kind kindOf(int id)
{
    switch (id) {
    case QMetaType::QVariantList: return Kind::VariantList;
    case QMetaType::QVariantMap: return Kind::VariantMap;
    case QMetaType::QVariantHash: return Kind::VariantHash;
    case QMetaType::QStringList: return Kind::StringList;
    case QMetaType::QByteArrayList: return Kind::ByteArrayList;
    case QMetaType::QVariantPair: return Kind::VariantPair;
    // Its stream format carries a raw function pointer.
    case QMetaType::QEasingCurve: return Kind::Refused;
    // Would nest through Qt's unbounded reader; Qt never writes one anyway.
    case QMetaType::QVariant: return Kind::Refused;
    // The fixed-size GUI types; the others (images, icons, fonts, polygons,
    // key sequences, palettes, ...) run decoders or unchecked list reads.
    case QMetaType::QColor:
    case QMetaType::QTransform:
    case QMetaType::QMatrix4x4:
    case QMetaType::QVector2D:
    case QMetaType::QVector3D:
    case QMetaType::QVector4D:
    case QMetaType::QQuaternion:
        return Kind::Leaf;
    default:
        break;
    }
    if ((id >= QMetaType::FirstGuiType && id <= QMetaType::LastGuiType)
        || (id >= QMetaType::FirstWidgetsType && id <= QMetaType::LastWidgetsType)) {
        return Kind::Refused;
    }
    return Kind::Leaf;
}

bool isContainer(Kind kind)
{
    return kind != Kind::Leaf && kind != Kind::Refused;
}

// Names of the built-in GUI types: QMetaType::fromName() warns about them
// when QtGui is not loaded, and Qt never sends a built-in type by name.
bool isGuiTypeName(QByteArrayView name)
{
    static constexpr const char *names[] = {
        "QFont", "QPixmap", "QBrush", "QColor", "QPalette", "QIcon", "QImage", "QPolygon",
        "QRegion", "QBitmap", "QCursor", "QKeySequence", "QPen", "QTextLength", "QTextFormat",
        "QTransform", "QMatrix4x4", "QVector2D", "QVector3D", "QVector4D", "QQuaternion",
        "QPolygonF", "QColorSpace", "QSizePolicy",
    };
    for (const char *n : names) {
        if (name == QByteArrayView(n))
            return true;
    }
    return false;
}

// Printable ASCII only: no NUL, which would end the name early for Qt.
bool isPlainTypeName(QByteArrayView name)
{
    if (name.isEmpty() || name.size() > 1024)
        return false;
    for (char c : name) {
        if (c < 0x20 || c > 0x7e)
            return false;
    }
    return true;
}

QString refusedText(QMetaType type)
{
    return tr("A peer may not send a %1: its stream format is not safe with untrusted bytes.")
        .arg(QString::fromLatin1(type.name()));
}

QString noOperatorsText(QMetaType type)
{
    return tr("A %1 cannot travel between processes: it has no QDataStream operators "
              "(declare operator<< and operator>> and register it with qRegisterMetaType()).")
        .arg(QString::fromLatin1(type.name()));
}

QString tooDeepText()
{
    return tr("The message nests containers deeper than %1 levels.").arg(maxMessageDepth);
}

class VariantReader
{
public:
    explicit VariantReader(QDataStream &stream) : m_stream(stream), m_device(*stream.device()) {}

    bool read(QVariant &out, int depth);
    QString errorText() const { return m_error; }

private:
    qint64 remaining() const { return m_device.bytesAvailable(); }
    bool fail(const QString &text)
    {
        m_error = text;
        return false;
    }
    bool truncated()
    {
        return fail(tr("The QDataStream message is truncated or corrupt."));
    }
    bool readCount(quint32 &count, qint64 minimumItemSize);
    bool checkBitArray();
    bool readType(QMetaType &type, bool &isNull, bool topLevel);
    template <typename T>
    bool readPlain(T &value)
    {
        m_stream >> value;
        return m_stream.status() == QDataStream::Ok || truncated();
    }

    QDataStream &m_stream;
    QIODevice &m_device;
    QString m_error;
};

bool VariantReader::readCount(quint32 &count, qint64 minimumItemSize)
{
    if (!readPlain(count))
        return false;
    // Every item takes at least minimumItemSize bytes, so a count the
    // remaining bytes cannot hold is a lie: refused before any reserve().
    if (qint64(count) > remaining() / minimumItemSize) {
        return fail(tr("The QDataStream message announces %1 elements but only %2 bytes follow.")
                        .arg(count)
                        .arg(remaining()));
    }
    return true;
}

bool VariantReader::checkBitArray()
{
    // Qt 6.4 crashes on a QBitArray whose bit count is negative or near
    // 2^63 (its byte count overflows). Qt_6_0 writes the count as a qint64.
    qint64 bits = 0;
    if (!readPlain(bits))
        return false;
    if (bits < 0 || (quint64(bits) + 7) / 8 > quint64(remaining())) {
        return fail(tr("The QDataStream message announces a QBitArray of %1 bits but only %2 bytes follow.")
                        .arg(bits)
                        .arg(remaining()));
    }
    return true;
}

bool VariantReader::readType(QMetaType &type, bool &isNull, bool topLevel)
{
    quint32 typeId = 0;
    qint8 nullFlag = 0;
    m_stream >> typeId >> nullFlag;
    if (m_stream.status() != QDataStream::Ok)
        return truncated();
    isNull = nullFlag != 0;

    if (typeId == QMetaType::User) {
        QByteArray name;
        if (!readPlain(name))
            return false;
        // Qt writes a registered type's normalized name. Anything else could
        // resolve, after Qt's own normalization, to a type we refuse or to
        // one whose lookup warns ("QPalette\0xyz" reads as QPalette).
        // Qt writes the name as a C string: with its terminating NUL.
        if (name.endsWith('\0'))
            name.chop(1);
        if (!isPlainTypeName(name) || QMetaObject::normalizedType(name.constData()) != name)
            return fail(tr("The message names a type as %1, which is not a normalized type name.").arg(printableName(name)));
        if (isGuiTypeName(name))
            return fail(tr("The message names the built-in type %1, which is sent by id.").arg(printableName(name)));
        type = QMetaType::fromName(name);
        if (!type.isValid()) {
            return fail(tr("The message holds a %1, a type unknown in this process: register it by name "
                           "(qRegisterMetaType) with its QDataStream operators.")
                            .arg(printableName(name)));
        }
        if (type.id() < QMetaType::User)
            return fail(tr("The message names the built-in type %1, which is sent by id.").arg(printableName(name)));
    } else if (typeId == QMetaType::UnknownType) {
        if (topLevel)
            return fail(tr("The message is an invalid (empty) QVariant."));
        type = QMetaType();
        return true;
    } else {
        // Qt writes every type from QMetaType::User on by name; a numeric id
        // there would pick whatever this process registered under it.
        if (typeId > QMetaType::User || !QMetaType::isRegistered(int(typeId)))
            return fail(tr("The message holds a value of type id %1, which is unknown here.").arg(typeId));
        type = QMetaType(int(typeId));
    }

    if (kindOf(type.id()) == Kind::Refused)
        return fail(refusedText(type));
    if (!type.hasRegisteredDataStreamOperators())
        return fail(noOperatorsText(type));
    return true;
}

bool VariantReader::read(QVariant &out, int depth)
{
    const qint64 start = m_device.pos();
    QMetaType type;
    bool isNull = false;
    if (!readType(type, isNull, depth == 0))
        return false;

    const Kind kind = type.isValid() ? kindOf(type.id()) : Kind::Leaf;
    if (kind == Kind::Leaf) {
        if (type.id() == QMetaType::QBitArray && !checkBitArray())
            return false;
        // Qt's own reader for the leaf, from the start again, so that the
        // value (null flag included) is exactly what Qt would make of it.
        if (!m_device.seek(start))
            return truncated();
        m_stream >> out;
        if (m_stream.status() != QDataStream::Ok) {
            return fail(type.isValid() ? tr("The message holds a %1 that does not decode.")
                                                 .arg(QString::fromLatin1(type.name()))
                                       : tr("The QDataStream message is truncated or corrupt."));
        }
        return true;
    }

    if (depth >= maxMessageDepth)
        return fail(tooDeepText());

    // An element is at least a type id and a null flag: 5 bytes. A map
    // entry adds at least a 4-byte key length.
    constexpr qint64 minimumVariant = 5;
    quint32 count = 0;
    switch (kind) {
    case Kind::VariantList: {
        if (!readCount(count, minimumVariant))
            return false;
        QVariantList list;
        list.reserve(count);
        for (quint32 i = 0; i < count; ++i) {
            QVariant item;
            if (!read(item, depth + 1))
                return false;
            list.append(std::move(item));
        }
        out = isNull && list.isEmpty() ? QVariant(type) : QVariant(std::move(list));
        return true;
    }
    case Kind::VariantMap:
    case Kind::VariantHash: {
        if (!readCount(count, 4 + minimumVariant))
            return false;
        QVariantMap map;
        QVariantHash hash;
        for (quint32 i = 0; i < count; ++i) {
            QString key;
            QVariant value;
            if (!readPlain(key) || !read(value, depth + 1))
                return false;
            if (kind == Kind::VariantMap)
                map.insert(key, std::move(value));
            else
                hash.insert(key, std::move(value));
        }
        if (isNull && count == 0)
            out = QVariant(type);
        else
            out = kind == Kind::VariantMap ? QVariant(std::move(map)) : QVariant(std::move(hash));
        return true;
    }
    case Kind::StringList: {
        if (!readCount(count, 4))
            return false;
        QStringList list;
        list.reserve(count);
        for (quint32 i = 0; i < count; ++i) {
            QString item;
            if (!readPlain(item))
                return false;
            list.append(std::move(item));
        }
        out = isNull && list.isEmpty() ? QVariant(type) : QVariant(std::move(list));
        return true;
    }
    case Kind::ByteArrayList: {
        if (!readCount(count, 4))
            return false;
        QByteArrayList list;
        list.reserve(count);
        for (quint32 i = 0; i < count; ++i) {
            QByteArray item;
            if (!readPlain(item))
                return false;
            list.append(std::move(item));
        }
        out = isNull && list.isEmpty() ? QVariant(type) : QVariant::fromValue(std::move(list));
        return true;
    }
    case Kind::VariantPair: {
        QVariantPair pair;
        if (!read(pair.first, depth + 1) || !read(pair.second, depth + 1))
            return false;
        out = QVariant::fromValue(std::move(pair));
        return true;
    }
    case Kind::Leaf:
    case Kind::Refused:
        break;
    }
    Q_UNREACHABLE();
    return false;
}

// The sender-side twin of VariantReader: what the peer would refuse fails here.
bool checkEncodable(const QVariant &value, int depth, QString &errorText)
{
    if (!value.isValid()) {
        if (depth == 0) {
            errorText = tr("An invalid (empty) QVariant is not a message.");
            return false;
        }
        return true;
    }
    const QMetaType type = value.metaType();
    const Kind kind = kindOf(type.id());
    if (kind == Kind::Refused) {
        errorText = refusedText(type);
        return false;
    }
    if (!type.hasRegisteredDataStreamOperators()) {
        errorText = noOperatorsText(type);
        return false;
    }
    if (!isContainer(kind))
        return true;
    if (depth >= maxMessageDepth) {
        errorText = tooDeepText();
        return false;
    }
    switch (kind) {
    case Kind::VariantList:
        for (const QVariant &item : *static_cast<const QVariantList *>(value.constData())) {
            if (!checkEncodable(item, depth + 1, errorText))
                return false;
        }
        return true;
    case Kind::VariantMap:
        for (const QVariant &item : *static_cast<const QVariantMap *>(value.constData())) {
            if (!checkEncodable(item, depth + 1, errorText))
                return false;
        }
        return true;
    case Kind::VariantHash:
        for (const QVariant &item : *static_cast<const QVariantHash *>(value.constData())) {
            if (!checkEncodable(item, depth + 1, errorText))
                return false;
        }
        return true;
    case Kind::VariantPair: {
        const auto &pair = *static_cast<const QVariantPair *>(value.constData());
        return checkEncodable(pair.first, depth + 1, errorText)
            && checkEncodable(pair.second, depth + 1, errorText);
    }
    default:
        return true;
    }
}

// The commonest messages, one plain value, in Qt_6_0's format written and
// read here directly: a QDataStream needs a QBuffer (a heap-allocated
// QIODevicePrivate) per message, which costs more than the rest. Byte for
// byte what Qt writes and reads (tst_messagecodec compares with Qt's own
// reader and writer, and so does the fuzzer). Values whose QVariant is
// flagged null, and anything else, take Qt's path.
constexpr qsizetype variantHeader = 5; // quint32 type id, qint8 null flag

bool isFastType(int id)
{
    switch (id) {
    case QMetaType::Bool:
    case QMetaType::Int:
    case QMetaType::UInt:
    case QMetaType::LongLong:
    case QMetaType::ULongLong:
    case QMetaType::Double:
    case QMetaType::QString:
    case QMetaType::QByteArray:
        return true;
    default:
        return false;
    }
}

template <typename T>
void putValue(QByteArray &out, int id, T value)
{
    out.resize(variantHeader + qsizetype(sizeof(T)));
    qToBigEndian<quint32>(quint32(id), out.data());
    out[4] = 0;
    qToBigEndian<T>(value, out.data() + variantHeader);
}

// False when the value needs Qt's path after all.
bool encodeFast(const QVariant &message, QByteArray &out)
{
    const int id = message.metaType().id();
    if (!isFastType(id) || message.isNull())
        return false;
    const void *data = message.constData();
    switch (id) {
    case QMetaType::Bool:
        putValue<qint8>(out, id, *static_cast<const bool *>(data) ? 1 : 0);
        return true;
    case QMetaType::Int:
        putValue<qint32>(out, id, *static_cast<const int *>(data));
        return true;
    case QMetaType::UInt:
        putValue<quint32>(out, id, *static_cast<const uint *>(data));
        return true;
    case QMetaType::LongLong:
        putValue<qint64>(out, id, *static_cast<const qlonglong *>(data));
        return true;
    case QMetaType::ULongLong:
        putValue<quint64>(out, id, *static_cast<const qulonglong *>(data));
        return true;
    case QMetaType::Double: {
        quint64 bits;
        std::memcpy(&bits, data, sizeof bits);
        putValue<quint64>(out, id, bits);
        return true;
    }
    case QMetaType::QByteArray: {
        const QByteArray &bytes = *static_cast<const QByteArray *>(data);
        if (bytes.size() >= 0x7fffffff)
            return false;
        out.resize(variantHeader + 4 + bytes.size());
        qToBigEndian<quint32>(quint32(id), out.data());
        out[4] = 0;
        qToBigEndian<quint32>(bytes.isNull() ? 0xffffffffu : quint32(bytes.size()), out.data() + variantHeader);
        if (!bytes.isEmpty())
            std::memcpy(out.data() + variantHeader + 4, bytes.constData(), size_t(bytes.size()));
        return true;
    }
    case QMetaType::QString: {
        const QString &text = *static_cast<const QString *>(data);
        if (text.size() >= 0x3fffffff)
            return false;
        out.resize(variantHeader + 4 + 2 * text.size());
        qToBigEndian<quint32>(quint32(id), out.data());
        out[4] = 0;
        qToBigEndian<quint32>(text.isNull() ? 0xffffffffu : quint32(2 * text.size()), out.data() + variantHeader);
        // constData(), not utf16(): utf16() reallocates a null or raw
        // string in place, changing (and racing on) the caller's message.
        qToBigEndian<quint16>(text.constData(), text.size(), out.data() + variantHeader + 4);
        return true;
    }
    default:
        return false;
    }
}

// 1: decoded; 0: not a fast case, take Qt's path; -1: refused (errorText set).
int decodeFast(QByteArrayView payload, QVariant &message, QString &errorText)
{
    if (payload.size() < variantHeader)
        return 0;
    const int id = int(qFromBigEndian<quint32>(payload.data()));
    if (!isFastType(id) || payload[4] != 0)
        return 0;
    const char *body = payload.data() + variantHeader;
    const qsizetype size = payload.size() - variantHeader;
    const auto fixed = [&](qsizetype width) {
        if (size == width)
            return true;
        errorText = size < width ? tr("The QDataStream message is truncated or corrupt.")
                                 : tr("The QDataStream message has %1 bytes after its value.").arg(size - width);
        return false;
    };
    switch (id) {
    case QMetaType::Bool:
        if (!fixed(1))
            return -1;
        message = QVariant(body[0] != 0);
        return 1;
    case QMetaType::Int:
        if (!fixed(4))
            return -1;
        message = QVariant(qFromBigEndian<qint32>(body));
        return 1;
    case QMetaType::UInt:
        if (!fixed(4))
            return -1;
        message = QVariant(qFromBigEndian<quint32>(body));
        return 1;
    case QMetaType::LongLong:
        if (!fixed(8))
            return -1;
        message = QVariant(qFromBigEndian<qint64>(body));
        return 1;
    case QMetaType::ULongLong:
        if (!fixed(8))
            return -1;
        message = QVariant(qFromBigEndian<quint64>(body));
        return 1;
    case QMetaType::Double: {
        if (!fixed(8))
            return -1;
        const quint64 bits = qFromBigEndian<quint64>(body);
        double value;
        std::memcpy(&value, &bits, sizeof value);
        message = QVariant(value);
        return 1;
    }
    case QMetaType::QByteArray:
    case QMetaType::QString: {
        if (size < 4 && !fixed(4))
            return -1;
        const quint32 length = qFromBigEndian<quint32>(body);
        const bool isNull = length == 0xffffffffu;
        if (!fixed(4 + (isNull ? 0 : qsizetype(length))))
            return -1;
        if (id == QMetaType::QByteArray) {
            message = QVariant(isNull ? QByteArray() : QByteArray(body + 4, qsizetype(length)));
            return 1;
        }
        if (isNull) {
            message = QVariant(QString());
            return 1;
        }
        if (length % 2) {
            errorText = tr("The QDataStream message is truncated or corrupt.");
            return -1;
        }
        QString text(qsizetype(length / 2), Qt::Uninitialized);
        qFromBigEndian<quint16>(body + 4, text.size(), text.data());
        message = QVariant(text);
        return 1;
    }
    default:
        return 0;
    }
}

bool decodeDataStream(QByteArrayView payload, QVariant &message, QString &errorText)
{
    switch (decodeFast(payload, message, errorText)) {
    case 1: return true;
    case -1: return false;
    default: break;
    }
    // fromRawData: no copy of the payload; Qt's readers copy what they keep.
    const QByteArray bytes = QByteArray::fromRawData(payload.data(), payload.size());
    QDataStream stream(bytes);
    stream.setVersion(streamVersion);
    VariantReader reader(stream);
    QVariant value;
    if (!reader.read(value, 0)) {
        errorText = reader.errorText();
        return false;
    }
    if (!stream.atEnd()) {
        errorText = tr("The QDataStream message has %1 bytes after its value.")
                        .arg(stream.device()->bytesAvailable());
        return false;
    }
    message = std::move(value);
    return true;
}

// ---------------------------------------------------------------- CBOR

QString cborErrorText(QCborStreamReader &reader, const char *what)
{
    return tr("The %1 is not valid CBOR at byte %2: %3.")
        .arg(QLatin1String(what))
        .arg(reader.currentOffset())
        .arg(reader.lastError().toString());
}

bool decodeCbor(QByteArrayView payload, QVariant &message, QString &errorText)
{
    QCborStreamReader reader(QByteArray::fromRawData(payload.data(), payload.size()));
    // fromCbor() refuses nesting beyond 1024 levels and element counts the
    // data cannot hold. On error the value is half-built (Qt 6.4 crashes
    // on some of those, e.g. strings with invalid UTF-8): never touch it.
    const QCborValue value = QCborValue::fromCbor(reader);
    if (reader.lastError() != QCborError::NoError) {
        errorText = cborErrorText(reader, "CBOR message");
        return false;
    }
    if (reader.currentOffset() != payload.size()) {
        errorText = tr("The CBOR message has %1 bytes after its data item.")
                        .arg(payload.size() - reader.currentOffset());
        return false;
    }
    QVariant variant = value.toVariant();
    if (!variant.isValid()) {
        errorText = tr("The CBOR message is undefined, which is not a message.");
        return false;
    }
    message = std::move(variant);
    return true;
}

enum HelloKey : unsigned {
    KeyVersions = 1,
    KeyVersion = 2,
    KeyMaxFrame = 4,
    KeyWindow = 8,
    KeyHeartbeat = 16,
    KeyCaps = 32,
    KeyClient = 64,
};

const char *helloKeyName(unsigned key)
{
    switch (key) {
    case KeyVersions: return "versions";
    case KeyVersion: return "version";
    case KeyMaxFrame: return "maxFrame";
    case KeyWindow: return "window";
    case KeyHeartbeat: return "heartbeat";
    case KeyCaps: return "caps";
    case KeyClient: return "client";
    }
    return "";
}

unsigned helloKey(const QString &key, FrameType type)
{
    for (unsigned k = KeyVersions; k <= KeyClient; k <<= 1) {
        if (key == QLatin1String(helloKeyName(k))) {
            if (((k == KeyVersions || k == KeyClient) && type != FrameType::Hello)
                || (k == KeyVersion && type != FrameType::Welcome))
                return 0; // the other frame's key: unknown here, ignored
            return k;
        }
    }
    return 0;
}

bool readText(QCborStreamReader &reader, QString &text)
{
    text.clear();
    auto chunk = reader.readString();
    while (chunk.status == QCborStreamReader::Ok) {
        text += chunk.data;
        chunk = reader.readString();
    }
    return chunk.status == QCborStreamReader::EndOfString;
}

} // namespace

QByteArray encodeDataStream(const QVariant &message, QString *errorText)
{
    QString why;
    if (!checkEncodable(message, 0, why)) {
        if (errorText)
            *errorText = why;
        return QByteArray();
    }
    QByteArray bytes;
    if (encodeFast(message, bytes))
        return bytes;
    QDataStream stream(&bytes, QIODevice::WriteOnly);
    stream.setVersion(streamVersion);
    stream << message;
    return bytes;
}

QByteArray encodeCbor(const QCborValue &message)
{
    return message.toCbor();
}

bool decodeMessage(quint8 flags, QByteArrayView payload, QVariant &message, QString &errorText)
{
    if (flags & ~encodingMask) {
        errorText = tr("The DATA frame has undefined flag bits (0x%1).").arg(uint(flags), 2, 16, QLatin1Char('0'));
        return false;
    }
    switch (Encoding(flags & encodingMask)) {
    case Encoding::DataStream:
        return decodeDataStream(payload, message, errorText);
    case Encoding::Cbor:
        return decodeCbor(payload, message, errorText);
    }
    errorText = tr("The DATA frame uses the reserved encoding %1.").arg(flags & encodingMask);
    return false;
}

QByteArray encodeHello(const Hello &hello, FrameType type)
{
    Q_ASSERT(type == FrameType::Hello || type == FrameType::Welcome);
    QByteArray bytes;
    QCborStreamWriter writer(&bytes);
    const bool claims = type == FrameType::Hello && !hello.client.isEmpty();
    writer.startMap(claims ? 6 : 5);
    if (type == FrameType::Hello) {
        writer.append(QLatin1String("versions"));
        writer.startArray(quint64(hello.versions.size()));
        for (quint32 version : hello.versions)
            writer.append(quint64(version));
        writer.endArray();
        if (claims) {
            writer.append(QLatin1String("client"));
            writer.append(hello.client);
        }
    } else {
        writer.append(QLatin1String("version"));
        writer.append(quint64(hello.version));
    }
    writer.append(QLatin1String("maxFrame"));
    writer.append(quint64(hello.maxFrame));
    writer.append(QLatin1String("window"));
    writer.append(quint64(hello.window));
    writer.append(QLatin1String("heartbeat"));
    writer.append(quint64(hello.heartbeatMs));
    writer.append(QLatin1String("caps"));
    writer.append(hello.caps);
    writer.endMap();
    return bytes;
}

bool decodeHello(QByteArrayView payload, FrameType type, Hello &hello, QString &errorText)
{
    if (type != FrameType::Hello && type != FrameType::Welcome) {
        errorText = tr("Only HELLO and WELCOME carry a handshake map.");
        return false;
    }
    const char *frameName = type == FrameType::Hello ? "HELLO" : "WELCOME";
    const auto failed = [&](const QString &text) {
        errorText = text;
        return false;
    };
    if (payload.size() > maxHandshakePayload) {
        return failed(tr("The %1 payload has %2 bytes; at most %3 are allowed.")
                          .arg(QLatin1String(frameName))
                          .arg(payload.size())
                          .arg(maxHandshakePayload));
    }

    QCborStreamReader reader(QByteArray::fromRawData(payload.data(), payload.size()));
    const auto malformed = [&]() { return failed(cborErrorText(reader, frameName)); };
    const auto mistyped = [&](unsigned key, const char *expected) {
        return failed(tr("The %1 key \"%2\" is not %3.")
                          .arg(QLatin1String(frameName), QLatin1String(helloKeyName(key)),
                               QLatin1String(expected)));
    };
    if (reader.lastError() != QCborError::NoError)
        return malformed();
    if (!reader.isMap())
        return failed(tr("The %1 payload is not a CBOR map.").arg(QLatin1String(frameName)));
    if (!reader.enterContainer())
        return malformed();

    Hello result;
    result.versions.clear();
    unsigned seen = 0;
    const auto readUInt = [&](unsigned key, quint64 maximum, quint64 &value) {
        if (!reader.isUnsignedInteger())
            return mistyped(key, "an unsigned integer");
        value = reader.toUnsignedInteger();
        if (value > maximum) {
            return failed(tr("The %1 key \"%2\" is %3, above its maximum %4.")
                              .arg(QLatin1String(frameName), QLatin1String(helloKeyName(key)))
                              .arg(value)
                              .arg(maximum));
        }
        return reader.next() || malformed();
    };

    while (reader.lastError() == QCborError::NoError && reader.hasNext()) {
        if (!reader.isString())
            return failed(tr("A key of the %1 map is not text.").arg(QLatin1String(frameName)));
        QString name;
        if (!readText(reader, name))
            return malformed();
        const unsigned key = helloKey(name, type);
        if (key == 0) {
            if (!reader.next())
                return malformed();
            continue;
        }
        if (seen & key) {
            return failed(tr("The %1 map has the key \"%2\" twice.")
                              .arg(QLatin1String(frameName), QLatin1String(helloKeyName(key))));
        }
        seen |= key;
        quint64 value = 0;
        switch (key) {
        case KeyVersions:
            if (!reader.isArray())
                return mistyped(key, "an array");
            if (reader.isLengthKnown() && reader.length() > quint64(maxVersions))
                return failed(tr("The HELLO lists more than %1 versions.").arg(maxVersions));
            if (!reader.enterContainer())
                return malformed();
            while (reader.lastError() == QCborError::NoError && reader.hasNext()) {
                if (result.versions.size() >= maxVersions)
                    return failed(tr("The HELLO lists more than %1 versions.").arg(maxVersions));
                if (!readUInt(key, 0xffffffffu, value))
                    return false;
                result.versions.append(quint32(value));
            }
            if (reader.lastError() != QCborError::NoError || !reader.leaveContainer())
                return malformed();
            if (result.versions.isEmpty())
                return failed(tr("The HELLO lists no protocol version."));
            break;
        case KeyVersion:
            if (!readUInt(key, 0xffffffffu, value))
                return false;
            result.version = quint32(value);
            break;
        case KeyMaxFrame:
            if (!readUInt(key, 0xffffffffu, value))
                return false;
            result.maxFrame = quint32(value);
            break;
        case KeyWindow:
            if (!readUInt(key, maxWindow, value))
                return false;
            result.window = quint32(value);
            break;
        case KeyHeartbeat:
            if (!readUInt(key, 0xffffffffu, value))
                return false;
            result.heartbeatMs = quint32(value);
            break;
        case KeyCaps:
            if (!readUInt(key, ~quint64(0), value))
                return false;
            result.caps = value;
            break;
        case KeyClient: {
            const QString notAName =
                    tr("The HELLO key \"client\" is not a name of 1 to %1 bytes of text.").arg(maxClientName);
            if (!reader.isString())
                return failed(notAName);
            if (!readText(reader, result.client))
                return malformed();
            if (result.client.isEmpty() || result.client.toUtf8().size() > maxClientName)
                return failed(notAName);
            break;
        }
        }
    }
    if (reader.lastError() != QCborError::NoError || !reader.leaveContainer())
        return malformed();
    if (reader.currentOffset() != payload.size()) {
        return failed(tr("The %1 payload has %2 bytes after its map.")
                          .arg(QLatin1String(frameName))
                          .arg(payload.size() - reader.currentOffset()));
    }

    const unsigned required = KeyMaxFrame | KeyWindow | KeyHeartbeat | KeyCaps
            | (type == FrameType::Hello ? KeyVersions : KeyVersion);
    for (unsigned k = KeyVersions; k <= KeyCaps; k <<= 1) {
        if ((required & k) && !(seen & k)) {
            return failed(tr("The %1 map lacks the key \"%2\".")
                              .arg(QLatin1String(frameName), QLatin1String(helloKeyName(k))));
        }
    }
    if (result.maxFrame < minimumMaxFrame) {
        return failed(tr("The %1 announces a maximum frame size of %2 bytes; it must be at least %3.")
                          .arg(QLatin1String(frameName))
                          .arg(result.maxFrame)
                          .arg(minimumMaxFrame));
    }
    if (result.window == 0)
        return failed(tr("The %1 announces a window of 0 bytes.").arg(QLatin1String(frameName)));

    hello = std::move(result);
    return true;
}

QByteArray encodeCredit(quint32 increment)
{
    QByteArray bytes(4, Qt::Uninitialized);
    qToBigEndian<quint32>(increment, bytes.data());
    return bytes;
}

bool isValidOpenPayload(QByteArrayView payload)
{
    if (payload.isEmpty())
        return true;
    QCborStreamReader reader(QByteArray::fromRawData(payload.data(), payload.size()));
    if (!reader.isMap())
        return false;
    const QCborValue map = QCborValue::fromCbor(reader);
    if (reader.lastError() != QCborError::NoError || reader.currentOffset() != payload.size())
        return false;
    const QCborValue name = map.toMap().value(QStringLiteral("name"));
    return name.isUndefined() || name.isString();
}

bool decodeCredit(QByteArrayView payload, quint32 &increment)
{
    if (payload.size() != 4)
        return false;
    const quint32 value = qFromBigEndian<quint32>(payload.data());
    if (value == 0 || value > maxCredit)
        return false;
    increment = value;
    return true;
}

QByteArray encodeError(WireError code, const QString &text)
{
    QByteArray utf8 = text.toUtf8();
    if (utf8.size() > maxErrorText) {
        qsizetype cut = maxErrorText;
        // Back up over continuation bytes to the start of the cut character.
        while (cut > 0 && (quint8(utf8.at(cut)) & 0xc0) == 0x80)
            --cut;
        utf8.truncate(cut);
    }
    QByteArray bytes(2 + utf8.size(), Qt::Uninitialized);
    qToBigEndian<quint16>(quint16(code), bytes.data());
    std::memcpy(bytes.data() + 2, utf8.constData(), size_t(utf8.size()));
    return bytes;
}

bool decodeError(QByteArrayView payload, WireError &code, QString &text)
{
    if (payload.size() < 2 || payload.size() > 2 + maxErrorText)
        return false;
    const quint16 value = qFromBigEndian<quint16>(payload.data());
    if (value == 0)
        return false;
    // Stateless: a sequence cut at the end is an error, not state for later.
    // ConvertInitialBom: a leading U+FEFF is kept, so the text is exact.
    QStringDecoder decoder(QStringDecoder::Utf8,
                           QStringDecoder::Flag::Stateless | QStringDecoder::Flag::ConvertInitialBom);
    QString decoded = decoder.decode(payload.sliced(2));
    if (decoder.hasError())
        return false;
    code = WireError(value);
    text = std::move(decoded);
    return true;
}

} // namespace Qonduit::Wire
