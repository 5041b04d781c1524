#include "jsvalues.h"

#include <QtCore/qcborarray.h>
#include <QtCore/qcbormap.h>
#include <QtCore/qcborvalue.h>
#include <QtCore/qcoreapplication.h>
#include <QtCore/qdatetime.h>
#include <QtCore/qurl.h>

namespace Qonduit::JsValues {
namespace {

// The first value inside message that CBOR and the other end cannot carry,
// by type name; empty when all of it can travel.
QString untravellableType(const QVariant &message)
{
    switch (message.metaType().id()) {
    case QMetaType::UnknownType: // undefined inside an object or array
    case QMetaType::Nullptr:
    case QMetaType::Bool:
    case QMetaType::Int:
    case QMetaType::UInt:
    case QMetaType::LongLong:
    case QMetaType::ULongLong:
    case QMetaType::Double:
    case QMetaType::QString:
    case QMetaType::QByteArray:
    case QMetaType::QDateTime:
    case QMetaType::QUrl:
        return {};
    case QMetaType::QVariantList:
        for (const QVariant &item : message.value<QVariantList>()) {
            if (QString type = untravellableType(item); !type.isEmpty())
                return type;
        }
        return {};
    case QMetaType::QVariantMap:
        for (const QVariant &item : message.value<QVariantMap>()) {
            if (QString type = untravellableType(item); !type.isEmpty())
                return type;
        }
        return {};
    default:
        return QString::fromLatin1(message.typeName());
    }
}

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::ChannelSender", text);
}

} // namespace

bool Outgoing::sendThrough(ChannelSender &sender) const
{
    return raw ? sender.sendRaw(message.value<QByteArray>()) : sender.send(message);
}

std::optional<Outgoing> fromJs(const QJSValue &value, bool inProcess, QString &errorText)
{
    if (value.isUndefined()) {
        errorText = tr("send() was given undefined; send null to send an empty value.");
        return std::nullopt;
    }
    if (value.isCallable()) {
        errorText = tr("send() was given a function; only data can travel.");
        return std::nullopt;
    }
    if (value.isQObject()) {
        errorText = tr("send() was given a QML object; send its data as a JavaScript object instead.");
        return std::nullopt;
    }
    QVariant message = value.toVariant();
    if (message.metaType() == QMetaType::fromType<QByteArray>())
        return Outgoing{std::move(message), true};
    if (const QString type = untravellableType(message); !type.isEmpty()) {
        errorText = tr("send() was given a value holding a %1, which cannot travel: send objects, arrays, "
                       "strings, numbers, booleans, dates, null or an ArrayBuffer.")
                        .arg(type);
        return std::nullopt;
    }
    if (!inProcess)
        message = QVariant::fromValue(QCborValue::fromVariant(message));
    return Outgoing{std::move(message), false};
}

bool isInProcess(const QUrl &endpoint)
{
    return endpoint.scheme() == QLatin1String("inproc");
}

QVariant toJs(const QVariant &message)
{
    const QMetaType type = message.metaType();
    if (type == QMetaType::fromType<QCborValue>())
        return message.value<QCborValue>().toVariant();
    if (type == QMetaType::fromType<QCborMap>())
        return message.value<QCborMap>().toVariantMap();
    if (type == QMetaType::fromType<QCborArray>())
        return message.value<QCborArray>().toVariantList();
    return message;
}

} // namespace Qonduit::JsValues
