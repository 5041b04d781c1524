#include "channel/envelope_p.h"

#include "channel/payloadreturn_p.h"

#include <QtCore/qstring.h>

namespace Qonduit {

Envelope Envelope::typed(const QVariant &message)
{
    return typed(QVariant(message));
}

Envelope Envelope::typed(QVariant &&message)
{
    const qint64 bytes = payloadBytes(message);
    const bool returnable = PayloadReturn::isReturnable(message);
    return Envelope{std::move(message), bytes, Kind::Typed, 0, returnable};
}

Envelope Envelope::rawBytes(const QByteArray &data)
{
    return Envelope{QVariant(data), data.size(), Kind::Raw, 0, PayloadReturn::isReturnable(data)};
}

Envelope Envelope::encoded(const QByteArray &data, quint8 wireFlags)
{
    return Envelope{QVariant(data), data.size(), Kind::Encoded, wireFlags};
}

Envelope Envelope::error(Error error, const QString &text, qint64 bytes)
{
    return Envelope{QVariant(text), bytes, Kind::Event, 0, false, error};
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
