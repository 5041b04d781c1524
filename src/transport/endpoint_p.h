#ifndef QONDUIT_ENDPOINT_P_H
#define QONDUIT_ENDPOINT_P_H

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qstring.h>
#include <QtCore/qurl.h>

namespace Qonduit {

// An endpoint URL taken apart and checked, once, for every factory and server.
struct Endpoint
{
    enum class Scheme { Inproc };

    Scheme scheme = Scheme::Inproc;
    QString name; // inproc: the server's name

    // Fills endpoint, or returns the error and a text a person can act on.
    static Error parse(const QUrl &url, Endpoint &endpoint, QString &errorText);
};

} // namespace Qonduit

#endif // QONDUIT_ENDPOINT_P_H
