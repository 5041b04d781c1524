#ifndef QONDUIT_ENDPOINT_P_H
#define QONDUIT_ENDPOINT_P_H

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qstring.h>
#include <QtCore/qurl.h>

namespace Qonduit {

// An endpoint URL taken apart and checked, once, for every factory and server.
//
//   inproc:NAME      a server in this process; NAME is 1 to 255 characters
//                    without NUL.
//   local:NAME       a Unix-domain socket. NAME is either a plain name of 1 to
//                    100 characters without '/' or NUL (not "." or ".."),
//                    whose socket file is QDir::tempPath()/NAME exactly as
//                    QLocalServer and QLocalSocket place it, or an absolute
//                    path ("local:/run/user/1000/app") used as is. Either way
//                    the file's path must fit a sockaddr_un (107 bytes); that
//                    depends on TMPDIR, so listen and connect check it.
//   tcp://HOST:PORT  HOST is a host name, an IPv4 address or an [IPv6]
//                    address; PORT is 0 to 65535 and required. Port 0 asks a
//                    server for any free port: it is valid to listen on and
//                    an InvalidEndpointError to connect to
//                    (checkConnectable()).
//   tls://HOST:PORT  the same as tcp://, for TLS over TCP.
//
// A query or fragment is not part of the transport address: parse() leaves it
// to the layers above and toUrl() drops it. User info, and a path on tcp://,
// are errors.
// On tls://, host and port mean what they mean on tcp://; isTcpBased() says
// whether a scheme runs over TCP.
struct Endpoint
{
    enum class Scheme { Inproc, Local, Tcp, Tls };

    Scheme scheme = Scheme::Inproc;
    QString name;     // inproc: the server's name; local: the name or absolute path
    QString host;     // tcp, tls: the host name or address, IPv6 without brackets
    quint16 port = 0; // tcp, tls: 0 = any free port (listen only)

    bool isTcpBased() const { return scheme == Scheme::Tcp || scheme == Scheme::Tls; }

    // Fills endpoint, or returns the error and a text a person can act on.
    static Error parse(const QUrl &url, Endpoint &endpoint, QString &errorText);

    // NoError when a client can connect to this endpoint; InvalidEndpointError
    // and a text for tcp:// or tls:// port 0.
    Error checkConnectable(QString &errorText) const;

    // The canonical URL: inproc:NAME, local:NAME, tcp://HOST:PORT,
    // tls://HOST:PORT ([IPv6]).
    QUrl toUrl() const;
    // toUrl() for texts meant for a person.
    QString toDisplayString() const;

    static QString schemeName(Scheme scheme); // "inproc", "local", "tcp", "tls"
};

} // namespace Qonduit

#endif // QONDUIT_ENDPOINT_P_H
