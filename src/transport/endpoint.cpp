#include "transport/endpoint_p.h"

#include <QtCore/qcoreapplication.h>

namespace Qonduit {

namespace {

constexpr qsizetype maxInprocNameLength = 255;
// A plain local: name joins the temporary directory in a sockaddr_un of 108
// bytes; 100 leaves no room for a long TMPDIR, which listen/connect check.
constexpr qsizetype maxLocalNameLength = 100;

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::Endpoint", text);
}

QString forms()
{
    return tr("write it as inproc:NAME, local:NAME, tcp://HOST:PORT or tls://HOST:PORT");
}

Error parseInproc(const QUrl &url, Endpoint &endpoint, QString &errorText)
{
    const QString name = url.path();
    if (name.isEmpty() || name.size() > maxInprocNameLength || name.contains(QChar(u'\0'))) {
        errorText = tr("\"%1\" needs a name of 1 to %2 characters without NUL, as in inproc:chat.")
                        .arg(url.toString(), QString::number(maxInprocNameLength));
        return Error::InvalidEndpointError;
    }
    endpoint.scheme = Endpoint::Scheme::Inproc;
    endpoint.name = name;
    return Error::NoError;
}

Error parseLocal(const QUrl &url, Endpoint &endpoint, QString &errorText)
{
    const QString name = url.path();
    const bool absolute = name.startsWith(u'/');
    const bool valid = url.authority().isEmpty() && !name.isEmpty() && !name.contains(QChar(u'\0'))
                       && (absolute
                               ? !name.endsWith(u'/')
                               : name.size() <= maxLocalNameLength && !name.contains(u'/')
                                         && name != QLatin1String(".") && name != QLatin1String(".."));
    if (!valid) {
        errorText = tr("\"%1\" needs a name of 1 to %2 characters without '/' or NUL, as in local:chat, "
                       "or the absolute path of a socket file, as in local:/run/user/1000/chat.")
                        .arg(url.toString(), QString::number(maxLocalNameLength));
        return Error::InvalidEndpointError;
    }
    endpoint.scheme = Endpoint::Scheme::Local;
    endpoint.name = name;
    return Error::NoError;
}

// tcp:// and tls://: HOST:PORT.
Error parseHostAndPort(const QUrl &url, Endpoint::Scheme scheme, Endpoint &endpoint, QString &errorText)
{
    const QString shown = url.toString();
    const QString name = Endpoint::schemeName(scheme);
    if (url.host().isEmpty() || !url.userInfo().isEmpty() || (!url.path().isEmpty() && url.path() != u"/")) {
        errorText = tr("\"%1\" needs a host and a port and nothing else, as in %2://example.com:7000, "
                       "%2://127.0.0.1:7000 or %2://[::1]:7000.")
                        .arg(shown, name);
        return Error::InvalidEndpointError;
    }
    if (url.port() < 0) {
        errorText = tr("\"%1\" needs a port, as in %2://%3:7000 (0 lets a server pick a free one).")
                        .arg(shown, name, url.authority());
        return Error::InvalidEndpointError;
    }
    endpoint.scheme = scheme;
    endpoint.host = url.host();
    endpoint.port = quint16(url.port());
    return Error::NoError;
}

} // namespace

Error Endpoint::parse(const QUrl &url, Endpoint &endpoint, QString &errorText)
{
    if (url.isEmpty()) {
        errorText = tr("An empty URL is not an endpoint; %1.").arg(forms());
        return Error::InvalidEndpointError;
    }
    if (!url.isValid()) {
        // An invalid QUrl prints as "": its error string quotes the source.
        errorText = tr("That is not an endpoint URL (%1); %2.").arg(url.errorString(), forms());
        return Error::InvalidEndpointError;
    }
    if (url.scheme().isEmpty()) {
        errorText = tr("\"%1\" is not an endpoint URL; %2.").arg(url.toString(), forms());
        return Error::InvalidEndpointError;
    }
    const QString scheme = url.scheme(); // QUrl lower-cases it
    if (scheme == schemeName(Scheme::Inproc))
        return parseInproc(url, endpoint, errorText);
    if (scheme == schemeName(Scheme::Local))
        return parseLocal(url, endpoint, errorText);
    if (scheme == schemeName(Scheme::Tcp))
        return parseHostAndPort(url, Scheme::Tcp, endpoint, errorText);
    if (scheme == schemeName(Scheme::Tls))
        return parseHostAndPort(url, Scheme::Tls, endpoint, errorText);
    errorText = tr("No transport serves the scheme \"%1\" of \"%2\"; this build knows inproc:, local:, tcp:// "
                   "and tls://.")
                    .arg(scheme, url.toString());
    return Error::UnsupportedSchemeError;
}

Error Endpoint::checkConnectable(QString &errorText) const
{
    if (isTcpBased() && port == 0) {
        errorText = tr("Cannot connect to %1: port 0 only tells a server to pick a free port; "
                       "connect to the port that server reports.")
                        .arg(toDisplayString());
        return Error::InvalidEndpointError;
    }
    return Error::NoError;
}

QUrl Endpoint::toUrl() const
{
    QUrl url;
    url.setScheme(schemeName(scheme));
    switch (scheme) {
    case Scheme::Inproc:
    case Scheme::Local:
        url.setPath(name, QUrl::DecodedMode);
        break;
    case Scheme::Tcp:
    case Scheme::Tls:
        url.setHost(host, QUrl::DecodedMode);
        url.setPort(port);
        break;
    }
    return url;
}

QString Endpoint::toDisplayString() const
{
    return toUrl().toDisplayString();
}

QString Endpoint::schemeName(Scheme scheme)
{
    switch (scheme) {
    case Scheme::Inproc:
        return QStringLiteral("inproc");
    case Scheme::Local:
        return QStringLiteral("local");
    case Scheme::Tcp:
        return QStringLiteral("tcp");
    case Scheme::Tls:
        return QStringLiteral("tls");
    }
    Q_UNREACHABLE();
    return QString();
}

} // namespace Qonduit
