#ifndef QONDUIT_TLSOPTIONS_H
#define QONDUIT_TLSOPTIONS_H

#include <Qonduit/certificateauthority.h>

#include <QtCore/qlist.h>
#include <QtCore/qstring.h>
#include <QtNetwork/qsslcertificate.h>

namespace Qonduit {

// How a tls:// channel proves who it is and whom it trusts: the tls member of
// ChannelOptions, read by Channel::connectTo() (client) and by a
// ChannelServer when a client connects (server). Other transports ignore it.
// Every tls:// connection is TLS 1.3; docs/security.md shows each set-up.
//
//     // server
//     ChannelOptions options;
//     options.tls.credentials = ca.issue(QStringLiteral("server.example"),
//                                        CertificateAuthority::Purpose::Server);
//     server.setChannelOptions(options);
//     server.listen(QUrl(QStringLiteral("tls://0.0.0.0:7000")));
//
//     // client
//     ChannelOptions options;
//     options.tls.trustedAuthorities = {ca.certificate()};
//     auto [sender, receiver] = Channel::connectTo(QUrl(QStringLiteral("tls://server.example:7000")), options);
struct TlsOptions
{
    // This side's certificate and private key. Required on a server (listen()
    // fails with CertificateError without them); on a client, the client
    // certificate a server that requires one checks.
    Credentials credentials = Credentials();
    // The only certificate authorities trusted: a client checks the server's
    // certificate against them, a server that requires client certificates
    // checks those. Empty: the system's authorities.
    QList<QSslCertificate> trustedAuthorities = QList<QSslCertificate>();
    // Client side: when not empty, the server's certificate must be one of
    // these (compared byte for byte, as DER). A pinned certificate needs no
    // trusted authority, so a self-signed server certificate works; its
    // validity period and host name are still checked.
    QList<QSslCertificate> pinnedCertificates = QList<QSslCertificate>();
    // Server side: mutual TLS. A client must present a certificate that
    // chains to trustedAuthorities (which must then not be empty), is valid
    // now and may be used by a TLS client (extended key usage clientAuth).
    bool requireClientCertificate = false;
    // Client side: the name the server's certificate must carry. Empty: the
    // host of the URL.
    QString peerName = QString();
    // Client side: the name this client claims to the server (its HELLO,
    // inside the TLS session). The server admits the client only if it
    // requires client certificates and this client's certificate carries the
    // name, exactly, in its subjectAltName (CertificateAuthority::issue(name,
    // Purpose::Client) makes one); otherwise both ends fail with
    // AuthenticationError. The server's channels of an admitted client carry
    // the name as the user of their peerAddress() (tls://alice@10.0.0.7:5123).
    // Empty: no claim.
    QString clientName = QString();
};

} // namespace Qonduit

#endif // QONDUIT_TLSOPTIONS_H
