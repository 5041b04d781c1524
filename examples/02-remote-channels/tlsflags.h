// The tls:// command-line options channel-server and channel-client share:
// certificate files in, Qonduit::TlsOptions out. The files are PEM, as
// qonduit-certs (examples/03-certificates) writes them.
#ifndef QONDUIT_EXAMPLE_REMOTE_TLSFLAGS_H
#define QONDUIT_EXAMPLE_REMOTE_TLSFLAGS_H

#include <Qonduit/tlsoptions.h>

#include <QtCore/QCommandLineParser>

namespace RemoteExample {

struct TlsFlags
{
    QCommandLineOption certificate{QStringLiteral("cert"), QStringLiteral("tls://: this side's certificate (PEM)."),
                                   QStringLiteral("FILE")};
    QCommandLineOption key{QStringLiteral("key"), QStringLiteral("tls://: the private key of --cert (PEM)."),
                           QStringLiteral("FILE")};
    QCommandLineOption authority{QStringLiteral("ca"),
                                 QStringLiteral("tls://: trust only this certificate authority (PEM); on a server, "
                                                "also require client certificates it issued."),
                                 QStringLiteral("FILE")};

    void addTo(QCommandLineParser &parser) const { parser.addOptions({certificate, key, authority}); }

    // Fills options from the flags given; false with *error when a file
    // cannot be used.
    bool read(const QCommandLineParser &parser, bool server, Qonduit::TlsOptions &options, QString *error) const
    {
        if (parser.isSet(certificate) || parser.isSet(key)) {
            options.credentials = Qonduit::Credentials::load(parser.value(certificate), parser.value(key), {}, error);
            if (options.credentials.isNull())
                return false;
        }
        if (parser.isSet(authority)) {
            options.trustedAuthorities = QSslCertificate::fromPath(parser.value(authority));
            if (options.trustedAuthorities.isEmpty()) {
                *error = QStringLiteral("%1 holds no PEM certificate").arg(parser.value(authority));
                return false;
            }
            options.requireClientCertificate = server;
        }
        return true;
    }
};

} // namespace RemoteExample

#endif // QONDUIT_EXAMPLE_REMOTE_TLSFLAGS_H
