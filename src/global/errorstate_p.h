#ifndef QONDUIT_ERRORSTATE_P_H
#define QONDUIT_ERRORSTATE_P_H

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qstring.h>

#include <mutex>

namespace Qonduit {

// The error()/errorString() pair of one object. Guarded because a sender's
// error is set by whichever thread called send().
class ErrorState
{
public:
    void set(Error error, const QString &text);
    Error error() const;
    QString errorString() const;

private:
    mutable std::mutex m_mutex;
    Error m_error = Error::NoError;
    QString m_text;
};

} // namespace Qonduit

#endif // QONDUIT_ERRORSTATE_P_H
