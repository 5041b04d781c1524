#include "transport/endpoint_p.h"
#include "transport/transportregistry_p.h"

#include <QtTest/qtest.h>

using namespace Qonduit;

class tst_Endpoint : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void valid_data();
    void valid();
    void invalid_data();
    void invalid();
    void invalidUrlTextsNameTheSource();
    void unknownSchemeListsKnownSchemes();
    void portZeroOnlyListens_data();
    void portZeroOnlyListens();
    void toUrlRoundTrips_data();
    void toUrlRoundTrips();
    void socketSchemes();
};

void tst_Endpoint::valid_data()
{
    QTest::addColumn<QUrl>("url");
    QTest::addColumn<Endpoint::Scheme>("scheme");
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");

    const auto row = [](const char *tag, const QString &url, Endpoint::Scheme scheme, const QString &name,
                        const QString &host, int port) {
        QTest::newRow(tag) << QUrl(url) << scheme << name << host << port;
    };
    using S = Endpoint::Scheme;
    row("inproc", u"inproc:chat"_qs, S::Inproc, u"chat"_qs, {}, 0);
    row("inproc with slash", u"inproc:a/b"_qs, S::Inproc, u"a/b"_qs, {}, 0);
    row("inproc 255", u"inproc:"_qs + QString(255, u'n'), S::Inproc, QString(255, u'n'), {}, 0);

    row("local", u"local:chat"_qs, S::Local, u"chat"_qs, {}, 0);
    row("local upper-case scheme", u"LOCAL:chat"_qs, S::Local, u"chat"_qs, {}, 0);
    row("local dots and dashes", u"local:my.app-1_x"_qs, S::Local, u"my.app-1_x"_qs, {}, 0);
    row("local space", u"local:my%20app"_qs, S::Local, u"my app"_qs, {}, 0);
    row("local 100", u"local:"_qs + QString(100, u'n'), S::Local, QString(100, u'n'), {}, 0);
    row("local absolute", u"local:/run/user/1000/app"_qs, S::Local, u"/run/user/1000/app"_qs, {}, 0);
    row("local absolute, empty authority", u"local:///tmp/app"_qs, S::Local, u"/tmp/app"_qs, {}, 0);
    row("local query is not the name", u"local:chat?key=1"_qs, S::Local, u"chat"_qs, {}, 0);

    row("tcp name", u"tcp://example.com:7000"_qs, S::Tcp, {}, u"example.com"_qs, 7000);
    row("tcp name lower-cased", u"tcp://Example.COM:7000"_qs, S::Tcp, {}, u"example.com"_qs, 7000);
    row("tcp localhost", u"tcp://localhost:1"_qs, S::Tcp, {}, u"localhost"_qs, 1);
    row("tcp ipv4", u"tcp://127.0.0.1:65535"_qs, S::Tcp, {}, u"127.0.0.1"_qs, 65535);
    row("tcp ipv4 any", u"tcp://0.0.0.0:0"_qs, S::Tcp, {}, u"0.0.0.0"_qs, 0);
    row("tcp ipv6", u"tcp://[::1]:7000"_qs, S::Tcp, {}, u"::1"_qs, 7000);
    row("tcp ipv6 any", u"tcp://[::]:0"_qs, S::Tcp, {}, u"::"_qs, 0);
    row("tcp ipv6 full", u"tcp://[2001:db8::42:1]:80"_qs, S::Tcp, {}, u"2001:db8::42:1"_qs, 80);
    row("tcp ipv4-mapped", u"tcp://[::ffff:10.0.0.1]:80"_qs, S::Tcp, {}, u"::ffff:10.0.0.1"_qs, 80);
    row("tcp ipv6 scope", u"tcp://[fe80::1%25eth0]:80"_qs, S::Tcp, {}, u"fe80::1%eth0"_qs, 80);
    row("tcp port 0", u"tcp://127.0.0.1:0"_qs, S::Tcp, {}, u"127.0.0.1"_qs, 0);
    row("tcp trailing slash", u"tcp://h:1/"_qs, S::Tcp, {}, u"h"_qs, 1);

    row("tls name", u"tls://example.com:7000"_qs, S::Tls, {}, u"example.com"_qs, 7000);
    row("tls upper-case scheme", u"TLS://Example.com:7000"_qs, S::Tls, {}, u"example.com"_qs, 7000);
    row("tls ipv4", u"tls://127.0.0.1:443"_qs, S::Tls, {}, u"127.0.0.1"_qs, 443);
    row("tls ipv6", u"tls://[::1]:7000"_qs, S::Tls, {}, u"::1"_qs, 7000);
    row("tls port 0", u"tls://127.0.0.1:0"_qs, S::Tls, {}, u"127.0.0.1"_qs, 0);
}

void tst_Endpoint::valid()
{
    QFETCH(QUrl, url);
    QFETCH(Endpoint::Scheme, scheme);
    QFETCH(QString, name);
    QFETCH(QString, host);
    QFETCH(int, port);

    Endpoint endpoint;
    QString text;
    QCOMPARE(Endpoint::parse(url, endpoint, text), Error::NoError);
    QVERIFY2(text.isEmpty(), qPrintable(text));
    QCOMPARE(endpoint.scheme, scheme);
    QCOMPARE(endpoint.name, name);
    QCOMPARE(endpoint.host, host);
    QCOMPARE(int(endpoint.port), port);
}

void tst_Endpoint::invalid_data()
{
    QTest::addColumn<QUrl>("url");
    QTest::addColumn<Error>("error");

    const auto row = [](const char *tag, const QUrl &url, Error error = Error::InvalidEndpointError) {
        QTest::newRow(tag) << url << error;
    };
    row("empty", QUrl());
    row("no scheme", QUrl(u"chat"_qs));
    row("unknown scheme", QUrl(u"carrier-pigeon://coop"_qs), Error::UnsupportedSchemeError);
    row("ssl is not a scheme", QUrl(u"ssl://h:1"_qs), Error::UnsupportedSchemeError);

    row("inproc empty", QUrl(u"inproc:"_qs));
    row("inproc NUL", QUrl(u"inproc:a%00b"_qs));
    row("inproc 256", QUrl(u"inproc:"_qs + QString(256, u'n')));

    row("local empty", QUrl(u"local:"_qs));
    row("local NUL", QUrl(u"local:a%00b"_qs));
    row("local NUL in path", QUrl(u"local:/tmp/a%00b"_qs));
    row("local 101", QUrl(u"local:"_qs + QString(101, u'n')));
    row("local separator", QUrl(u"local:a/b"_qs));
    row("local encoded separator", QUrl(u"local:a%2Fb"_qs));
    row("local relative dir", QUrl(u"local:dir/"_qs));
    row("local dot", QUrl(u"local:."_qs));
    row("local dot dot", QUrl(u"local:.."_qs));
    row("local directory path", QUrl(u"local:/tmp/"_qs));
    row("local root", QUrl(u"local:/"_qs));
    row("local with host", QUrl(u"local://host/x"_qs));

    row("tcp no host", QUrl(u"tcp://:7000"_qs));
    row("tcp no port", QUrl(u"tcp://example.com"_qs));
    row("tcp empty port", QUrl(u"tcp://example.com:"_qs));
    row("tcp port too large", QUrl(u"tcp://example.com:65536"_qs));
    row("tcp port far too large", QUrl(u"tcp://example.com:70000"_qs));
    row("tcp negative port", QUrl(u"tcp://example.com:-1"_qs));
    row("tcp port not a number", QUrl(u"tcp://example.com:http"_qs));
    row("tcp path", QUrl(u"tcp://example.com:7000/chat"_qs));
    row("tcp user", QUrl(u"tcp://me@example.com:7000"_qs));
    row("tcp without slashes", QUrl(u"tcp:example.com:7000"_qs));
    row("tcp ipv6 without brackets", QUrl(u"tcp://::1:7000"_qs));
    row("tcp bad ipv6", QUrl(u"tcp://[::g]:7000"_qs));
    row("tcp space in host", QUrl(u"tcp://exa mple:7000"_qs));

    row("tls no host", QUrl(u"tls://:7000"_qs));
    row("tls no port", QUrl(u"tls://example.com"_qs));
    row("tls path", QUrl(u"tls://example.com:7000/chat"_qs));
    row("tls user", QUrl(u"tls://me@example.com:7000"_qs));
}

void tst_Endpoint::invalid()
{
    QFETCH(QUrl, url);
    QFETCH(Error, error);

    Endpoint endpoint;
    endpoint.name = u"untouched"_qs;
    QString text;
    QCOMPARE(Endpoint::parse(url, endpoint, text), error);
    QVERIFY(!text.isEmpty());
    if (!url.toString().isEmpty())
        QVERIFY2(text.contains(url.toString()), qPrintable(text));
    QCOMPARE(endpoint.name, u"untouched"_qs);
}

void tst_Endpoint::invalidUrlTextsNameTheSource()
{
    // An invalid QUrl prints as "": the text must still show what was given.
    Endpoint endpoint;
    QString text;
    QCOMPARE(Endpoint::parse(QUrl(u"tcp://example.com:70000"_qs), endpoint, text), Error::InvalidEndpointError);
    QVERIFY2(text.contains(u"tcp://example.com:70000"_qs), qPrintable(text));
    QVERIFY2(text.contains(u"tcp://HOST:PORT"_qs), qPrintable(text));
}

void tst_Endpoint::unknownSchemeListsKnownSchemes()
{
    Endpoint endpoint;
    QString text;
    QCOMPARE(Endpoint::parse(QUrl(u"smoke-signal:hill"_qs), endpoint, text), Error::UnsupportedSchemeError);
    for (const QString &scheme : {u"inproc:"_qs, u"local:"_qs, u"tcp://"_qs, u"tls://"_qs})
        QVERIFY2(text.contains(scheme), qPrintable(text));
    QVERIFY2(text.contains(u"smoke-signal"_qs), qPrintable(text));
}

void tst_Endpoint::portZeroOnlyListens_data()
{
    QTest::addColumn<QUrl>("url");
    QTest::addColumn<bool>("connectable");
    QTest::newRow("tcp port 0") << QUrl(u"tcp://127.0.0.1:0"_qs) << false;
    QTest::newRow("tcp port 1") << QUrl(u"tcp://127.0.0.1:1"_qs) << true;
    QTest::newRow("tls port 0") << QUrl(u"tls://127.0.0.1:0"_qs) << false;
    QTest::newRow("tls port 1") << QUrl(u"tls://127.0.0.1:1"_qs) << true;
    QTest::newRow("local") << QUrl(u"local:chat"_qs) << true;
    QTest::newRow("inproc") << QUrl(u"inproc:chat"_qs) << true;
}

void tst_Endpoint::portZeroOnlyListens()
{
    QFETCH(QUrl, url);
    QFETCH(bool, connectable);
    Endpoint endpoint;
    QString text;
    QCOMPARE(Endpoint::parse(url, endpoint, text), Error::NoError);
    QCOMPARE(endpoint.checkConnectable(text), connectable ? Error::NoError : Error::InvalidEndpointError);
    if (!connectable) {
        QVERIFY2(text.contains(url.toString()), qPrintable(text));
        QVERIFY2(text.contains(u"port 0"_qs), qPrintable(text));
    }
}

void tst_Endpoint::toUrlRoundTrips_data()
{
    QTest::addColumn<QUrl>("url");
    QTest::addColumn<QString>("canonical");
    const auto row = [](const char *tag, const QString &url, const QString &canonical) {
        QTest::newRow(tag) << QUrl(url) << canonical;
    };
    row("inproc", u"inproc:chat"_qs, u"inproc:chat"_qs);
    row("local", u"local:chat"_qs, u"local:chat"_qs);
    row("local absolute", u"local:///tmp/app"_qs, u"local:/tmp/app"_qs);
    row("local query dropped", u"local:chat?x=1#f"_qs, u"local:chat"_qs);
    row("tcp name", u"tcp://Example.com:7000/"_qs, u"tcp://example.com:7000"_qs);
    row("tcp ipv4", u"tcp://127.0.0.1:0"_qs, u"tcp://127.0.0.1:0"_qs);
    row("tcp ipv6", u"tcp://[::1]:7000"_qs, u"tcp://[::1]:7000"_qs);
    row("tls name", u"tls://Example.com:7000/"_qs, u"tls://example.com:7000"_qs);
    row("tls ipv6", u"tls://[::1]:7000"_qs, u"tls://[::1]:7000"_qs);
}

void tst_Endpoint::toUrlRoundTrips()
{
    QFETCH(QUrl, url);
    QFETCH(QString, canonical);
    Endpoint endpoint;
    QString text;
    QCOMPARE(Endpoint::parse(url, endpoint, text), Error::NoError);
    QCOMPARE(endpoint.toUrl().toString(), canonical);
    QCOMPARE(endpoint.toDisplayString(), canonical);

    Endpoint again;
    QCOMPARE(Endpoint::parse(endpoint.toUrl(), again, text), Error::NoError);
    QCOMPARE(again.scheme, endpoint.scheme);
    QCOMPARE(again.name, endpoint.name);
    QCOMPARE(again.host, endpoint.host);
    QCOMPARE(again.port, endpoint.port);
}

void tst_Endpoint::socketSchemes()
{
    QVERIFY(!Transports::isSocketScheme(Endpoint::Scheme::Inproc));
    QVERIFY(Transports::isSocketScheme(Endpoint::Scheme::Local));
    QVERIFY(Transports::isSocketScheme(Endpoint::Scheme::Tcp));
    QVERIFY(Transports::isSocketScheme(Endpoint::Scheme::Tls));

    Endpoint inproc;
    QString text;
    QCOMPARE(Endpoint::parse(QUrl(u"inproc:x"_qs), inproc, text), Error::NoError);
    QVERIFY(!Transports::connectTo(inproc));
    QVERIFY(!Transports::makeListener(inproc));
}

QTEST_GUILESS_MAIN(tst_Endpoint)

#include "tst_endpoint.moc"
