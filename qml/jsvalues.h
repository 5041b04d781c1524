#ifndef QONDUIT_JSVALUES_H
#define QONDUIT_JSVALUES_H

#include <Qonduit/channelsender.h>

#include <QtCore/qstring.h>
#include <QtCore/qurl.h>
#include <QtCore/qvariant.h>
#include <QtQml/qjsvalue.h>

#include <optional>

// How JavaScript values become channel messages and back (docs/qml.md,
// "Values"): objects, arrays, strings, numbers, booleans, dates and null
// travel as QVariantMap, QVariantList, QString, int/double, bool, QDateTime
// and nullptr; an ArrayBuffer travels as a raw message.
namespace Qonduit::JsValues {

struct Outgoing
{
    QVariant message;
    bool raw = false; // an ArrayBuffer: sendRaw() the QByteArray

    // send() or sendRaw() on sender, as the message needs.
    bool sendThrough(ChannelSender &sender) const;
};

// The message for value, ready for a channel that is in-process or not, or
// nothing (with errorText) when value holds something that cannot leave the
// engine: undefined, a function, a QObject. Across a socket a typed message
// is sent as CBOR, so that peers that are not Qt read it; in-process it stays
// the QVariant it is.
std::optional<Outgoing> fromJs(const QJSValue &value, bool inProcess, QString &errorText);

// inproc: channels carry QVariants as they are.
bool isInProcess(const QUrl &endpoint);

// What QML is given for a received message: CBOR values become the
// QVariantMap/QVariantList/... the engine turns into JavaScript values.
QVariant toJs(const QVariant &message);

} // namespace Qonduit::JsValues

#endif // QONDUIT_JSVALUES_H
