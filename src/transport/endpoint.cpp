#include "transport/endpoint_p.h"

#include <QtCore/qcoreapplication.h>

namespace Qonduit {

namespace {

constexpr qsizetype maxNameLength = 255;

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::Endpoint", text);
}

} // namespace

Error Endpoint::parse(const QUrl &url, Endpoint &endpoint, QString &errorText)
{
    if (!url.isValid() || url.scheme().isEmpty()) {
        errorText = tr("\"%1\" is not an endpoint URL; write it as inproc:NAME.").arg(url.toString());
        return Error::InvalidEndpointError;
    }
    if (url.scheme() != QLatin1String("inproc")) {
        errorText = tr("No transport serves the scheme \"%1\" of \"%2\"; this build knows inproc:.")
                        .arg(url.scheme(), url.toString());
        return Error::UnsupportedSchemeError;
    }
    const QString name = url.path();
    if (name.isEmpty() || name.size() > maxNameLength || name.contains(QChar(u'\0'))) {
        errorText = tr("\"%1\" needs a name of 1 to %2 characters without NUL, as in inproc:chat.")
                        .arg(url.toString())
                        .arg(maxNameLength);
        return Error::InvalidEndpointError;
    }
    endpoint.scheme = Scheme::Inproc;
    endpoint.name = name;
    return Error::NoError;
}

} // namespace Qonduit
