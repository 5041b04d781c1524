// qonduit-certs: makes the certificates of a private tls:// deployment with
// Qonduit::CertificateAuthority, no openssl command line needed.
//
//   qonduit-certs ca "My Org CA" certs/           certs/ca.pem, certs/ca.key
//   qonduit-certs issue server.example server certs/
//                                                 certs/server.example.pem/.key
//   qonduit-certs issue alice client certs/       certs/alice.pem/.key
//   qonduit-certs self localhost server certs/    a self-signed pair, for pinning
//
// Keys are written readable by their owner only; --passphrase encrypts them
// (and is needed to read an encrypted ca.key when issuing).
#include <Qonduit/certificateauthority.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDir>

#include <cstdio>

using namespace Qonduit;

namespace {

int fail(const QString &text)
{
    std::fprintf(stderr, "qonduit-certs: %s\n", qPrintable(text));
    return 1;
}

void wrote(const QString &certificate, const QString &key)
{
    std::printf("wrote %s and %s\n", qPrintable(certificate), qPrintable(key));
}

bool parsePurpose(const QString &text, CertificateAuthority::Purpose &purpose)
{
    if (text == u"server")
        purpose = CertificateAuthority::Purpose::Server;
    else if (text == u"client")
        purpose = CertificateAuthority::Purpose::Client;
    else
        return false;
    return true;
}

int saveCredentials(const Credentials &credentials, const QDir &dir, const QString &name, const QByteArray &passphrase)
{
    const QString certificate = dir.filePath(name + QStringLiteral(".pem"));
    const QString key = dir.filePath(name + QStringLiteral(".key"));
    QString error;
    if (!credentials.save(certificate, key, passphrase, &error))
        return fail(error);
    wrote(certificate, key);
    return 0;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Makes a certificate authority, issues server and client certificates with it, or makes self-signed "
        "ones.\n\n  ca NAME DIR\n  issue NAME server|client DIR\n  self NAME server|client DIR"));
    parser.addHelpOption();
    const QCommandLineOption passphraseOption(QStringLiteral("passphrase"),
                                              QStringLiteral("Encrypts the keys written (and reads ca.key) with it."),
                                              QStringLiteral("text"));
    const QCommandLineOption daysOption(QStringLiteral("days"), QStringLiteral("How long the certificate is valid."),
                                       QStringLiteral("days"));
    parser.addOptions({passphraseOption, daysOption});
    parser.addPositionalArgument(QStringLiteral("command"), QStringLiteral("ca, issue or self"));
    parser.process(app);

    const QStringList args = parser.positionalArguments();
    const QByteArray passphrase = parser.value(passphraseOption).toUtf8();
    const QString command = args.value(0);
    const int argCount = command == u"ca" ? 3 : 4;
    if (args.size() != argCount)
        parser.showHelp(2);
    const QString name = args.at(1);
    const QDir dir(args.last());
    if (!dir.exists() && !QDir().mkpath(dir.path()))
        return fail(QStringLiteral("cannot create %1").arg(dir.path()));
    const QString caCertificate = dir.filePath(QStringLiteral("ca.pem"));
    const QString caKey = dir.filePath(QStringLiteral("ca.key"));

    CertificateAuthority ca;
    if (command == u"ca") {
        const int days = parser.isSet(daysOption) ? parser.value(daysOption).toInt()
                                                  : CertificateAuthority::DefaultAuthorityDays;
        if (!ca.create(name, days) || !ca.save(caCertificate, caKey, passphrase))
            return fail(ca.errorString());
        wrote(caCertificate, caKey);
        return 0;
    }

    CertificateAuthority::Purpose purpose;
    if (!parsePurpose(args.at(2), purpose))
        return fail(QStringLiteral("the purpose is server or client, not %1").arg(args.at(2)));
    const int days = parser.isSet(daysOption) ? parser.value(daysOption).toInt()
                                              : CertificateAuthority::DefaultCertificateDays;
    if (command == u"self") {
        QString error;
        const Credentials credentials = CertificateAuthority::selfSigned(name, purpose, days, &error);
        return credentials.isNull() ? fail(error) : saveCredentials(credentials, dir, name, passphrase);
    }
    if (command != u"issue")
        parser.showHelp(2);
    if (!ca.load(caCertificate, caKey, passphrase))
        return fail(ca.errorString());
    const Credentials credentials = ca.issue(name, purpose, days);
    return credentials.isNull() ? fail(ca.errorString()) : saveCredentials(credentials, dir, name, passphrase);
}
