#include "channel/envelope_p.h"

#include <QtCore/qstring.h>

namespace Qonduit {

Envelope Envelope::typed(const QVariant &message)
{
    return Envelope{message, payloadBytes(message), false};
}

Envelope Envelope::rawBytes(const QByteArray &data)
{
    return Envelope{QVariant(data), data.size(), true};
}

qint64 payloadBytes(const QVariant &message)
{
    switch (message.metaType().id()) {
    case QMetaType::QByteArray:
        return static_cast<const QByteArray *>(message.constData())->size();
    case QMetaType::QString:
        return static_cast<const QString *>(message.constData())->size() * qint64(sizeof(QChar));
    case QMetaType::UnknownType:
        return 0;
    default:
        return message.metaType().sizeOf();
    }
}

} // namespace Qonduit
