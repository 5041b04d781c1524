#ifndef QONDUIT_QMLENDPOINT_H
#define QONDUIT_QMLENDPOINT_H

#include "jsvalues.h"

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qobject.h>
#include <QtQml/qqml.h>

namespace Qonduit {

class ChannelConnector;

// What every QML type of the module shows about its connection: status,
// error and errorString. Errors always land here, never only in the log.
class QmlEndpoint : public QObject
{
    Q_OBJECT
    Q_PROPERTY(Status status READ status NOTIFY statusChanged)
    Q_PROPERTY(Qonduit::Error error READ error NOTIFY errorChanged)
    Q_PROPERTY(QString errorString READ errorString NOTIFY errorChanged)
    QML_ANONYMOUS

public:
    enum Status {
        Null,       // no URL set
        Connecting, // connecting, or waiting to retry
        Connected,  // messages flow
        Listening,  // a ChannelServer accepts clients
        Closed,     // the other end closed the channel
        Error,      // the connection failed or broke: see error and errorString
    };
    Q_ENUM(Status)

    using QObject::QObject;

    Status status() const { return m_status; }
    Qonduit::Error error() const { return m_error; }
    QString errorString() const { return m_errorString; }

Q_SIGNALS:
    void statusChanged();
    void errorChanged();

protected:
    void setStatus(Status status);
    // Records an error; NoError clears it.
    void setError(Qonduit::Error error, const QString &text);
    // Shows connector's status and errors as this object's.
    void reportFrom(ChannelConnector &connector);
    // value as a message for a channel (in-process or not), or nothing with
    // MessageEncodeError set when it cannot travel.
    std::optional<JsValues::Outgoing> outgoingMessage(const QJSValue &value, bool inProcess);

private:
    Status m_status = Null;
    Qonduit::Error m_error = Qonduit::Error::NoError;
    QString m_errorString;
};

} // namespace Qonduit

#endif // QONDUIT_QMLENDPOINT_H
