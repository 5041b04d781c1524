// What only tcp:// does; the behaviour every transport shares is in
// tst_streamsocket.

#include "transporttest.h"

#include "transport/tcpstreamlistener_p.h"
#include "transport/tcpstreamsocket_p.h"

#include <QtNetwork/qnetworkinterface.h>
#include <QtNetwork/qtcpserver.h>
#include <QtTest/qsignalspy.h>
#include <QtTest/qtest.h>

using namespace Qonduit;
using namespace TransportTest;

class tst_TcpTransport : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void portZeroReportsTheRealPort();
    void lowDelayOnBothEnds();
    void peerAddresses();
    void ipv6Loopback();
    void dualStackPeerShowsAsIPv4();
    void listenOnLocalhost();
    void connectionRefusedText();
    void hostNotFound();
    void connectToPortZero();
    void addressInUse();
    void listenOnHostNameIsRefused();
    void listenOnForeignAddress();
    void listenTwice();

private:
    void listenOn(TcpStreamListener &listener, const QString &url);
    void connectPair(StreamListener &listener, Acceptor &acceptor, std::unique_ptr<StreamSocket> &client,
                     const QUrl &url = QUrl());
};

void tst_TcpTransport::listenOn(TcpStreamListener &listener, const QString &url)
{
    Error error = Error::NoError;
    QString text;
    QVERIFY2(listener.listen(endpointOf(QUrl(url)), error, text), qPrintable(text));
}

void tst_TcpTransport::connectPair(StreamListener &listener, Acceptor &acceptor, std::unique_ptr<StreamSocket> &client,
                                   const QUrl &url)
{
    const size_t before = acceptor.sockets.size();
    client = Transports::connectTo(endpointOf(url.isEmpty() ? listener.address() : url));
    QSignalSpy connected(client.get(), &StreamSocket::connected);
    QVERIFY(connected.wait(10000));
    QTRY_COMPARE(acceptor.sockets.size(), before + 1);
}

void tst_TcpTransport::portZeroReportsTheRealPort()
{
    TcpStreamListener listener;
    QVERIFY(listener.address().isEmpty());
    listenOn(listener, u"tcp://127.0.0.1:0"_qs);
    const QUrl address = listener.address();
    QCOMPARE(address.scheme(), u"tcp"_qs);
    QCOMPARE(address.host(), u"127.0.0.1"_qs);
    QVERIFY(address.port() > 0);

    Acceptor acceptor(&listener);
    std::unique_ptr<StreamSocket> client;
    connectPair(listener, acceptor, client);
    auto *tcp = static_cast<TcpStreamSocket *>(client.get());
    QCOMPARE(int(tcp->tcpSocket()->peerPort()), address.port());

    listener.close();
    QVERIFY(!listener.isListening());
    QVERIFY(listener.address().isEmpty());
}

void tst_TcpTransport::lowDelayOnBothEnds()
{
    TcpStreamListener listener;
    listenOn(listener, u"tcp://127.0.0.1:0"_qs);
    Acceptor acceptor(&listener);
    std::unique_ptr<StreamSocket> client;
    connectPair(listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;

    // socketOption() asks the kernel (getsockopt), not a cached value.
    auto *clientSide = static_cast<TcpStreamSocket *>(client.get());
    auto *serverSide = static_cast<TcpStreamSocket *>(acceptor.sockets.front().get());
    QCOMPARE(clientSide->tcpSocket()->socketOption(QAbstractSocket::LowDelayOption).toInt(), 1);
    QCOMPARE(serverSide->tcpSocket()->socketOption(QAbstractSocket::LowDelayOption).toInt(), 1);
}

void tst_TcpTransport::peerAddresses()
{
    TcpStreamListener listener;
    listenOn(listener, u"tcp://127.0.0.1:0"_qs);
    Acceptor acceptor(&listener);
    std::unique_ptr<StreamSocket> client;
    connectPair(listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;

    // The client keeps the endpoint it dialled; the server sees the client.
    QCOMPARE(client->peerAddress(), listener.address());
    const quint16 clientPort = static_cast<TcpStreamSocket *>(client.get())->tcpSocket()->localPort();
    QCOMPARE(acceptor.sockets.front()->peerAddress().toString(), QStringLiteral("tcp://127.0.0.1:%1").arg(clientPort));

    // Still valid after the connection ended.
    client->disconnectFromPeer();
    QSignalSpy gone(acceptor.sockets.front().get(), &StreamSocket::disconnected);
    QVERIFY(gone.wait());
    QCOMPARE(acceptor.sockets.front()->peerAddress().toString(), QStringLiteral("tcp://127.0.0.1:%1").arg(clientPort));
}

void tst_TcpTransport::ipv6Loopback()
{
    TcpStreamListener listener;
    Error error = Error::NoError;
    QString text;
    if (!listener.listen(endpointOf(QUrl(u"tcp://[::1]:0"_qs)), error, text))
        QSKIP("this machine has no IPv6 loopback");
    QCOMPARE(listener.address().toString(), QStringLiteral("tcp://[::1]:%1").arg(listener.address().port()));

    Acceptor acceptor(&listener);
    std::unique_ptr<StreamSocket> client;
    connectPair(listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    const quint16 clientPort = static_cast<TcpStreamSocket *>(client.get())->tcpSocket()->localPort();
    QCOMPARE(acceptor.sockets.front()->peerAddress().toString(), QStringLiteral("tcp://[::1]:%1").arg(clientPort));

    Reader reader(acceptor.sockets.front().get());
    client->device()->write("v6");
    QTRY_COMPARE(reader.data, QByteArray("v6"));
}

void tst_TcpTransport::dualStackPeerShowsAsIPv4()
{
    TcpStreamListener listener;
    Error error = Error::NoError;
    QString text;
    if (!listener.listen(endpointOf(QUrl(u"tcp://[::]:0"_qs)), error, text))
        QSKIP("this machine has no IPv6");
    Acceptor acceptor(&listener);
    std::unique_ptr<StreamSocket> client;
    const QUrl viaIPv4(QStringLiteral("tcp://127.0.0.1:%1").arg(listener.address().port()));
    connectPair(listener, acceptor, client, viaIPv4);
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(acceptor.sockets.front()->peerAddress().host(), u"127.0.0.1"_qs);
}

void tst_TcpTransport::listenOnLocalhost()
{
    TcpStreamListener listener;
    listenOn(listener, u"tcp://localhost:0"_qs);
    QCOMPARE(listener.address().host(), u"localhost"_qs);
    QVERIFY(listener.address().port() > 0);

    // A client resolves "localhost" and tries each address in turn.
    Acceptor acceptor(&listener);
    std::unique_ptr<StreamSocket> client;
    connectPair(listener, acceptor, client);
    QCOMPARE(client->peerAddress(), listener.address());
}

void tst_TcpTransport::connectionRefusedText()
{
    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
    const quint16 port = probe.serverPort();
    probe.close();

    auto client = Transports::connectTo(endpointOf(QUrl(QStringLiteral("tcp://127.0.0.1:%1").arg(port))));
    SignalLog log(client.get());
    QTRY_COMPARE(log.events, (QStringList{u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(log.errors.front(), Error::ConnectionRefusedError);
    QCOMPARE(log.texts.front(),
             QStringLiteral("Connection refused by tcp://127.0.0.1:%1: nobody listens there.").arg(port));
}

void tst_TcpTransport::hostNotFound()
{
    // .invalid is reserved (RFC 6761): resolvers answer NXDOMAIN without asking
    // the network.
    const QUrl url(u"tcp://nohost.invalid:7000"_qs);
    auto client = Transports::connectTo(endpointOf(url));
    SignalLog log(client.get());
    QTRY_COMPARE_WITH_TIMEOUT(log.events, (QStringList{u"failed"_qs, u"disconnected"_qs}), 15000);
    QCOMPARE(log.errors.front(), Error::HostNotFoundError);
    QVERIFY2(log.texts.front().contains(url.toString()), qPrintable(log.texts.front()));
}

void tst_TcpTransport::connectToPortZero()
{
    auto client = Transports::connectTo(endpointOf(QUrl(u"tcp://127.0.0.1:0"_qs)));
    QVERIFY(client);
    SignalLog log(client.get());
    QVERIFY(log.events.isEmpty());
    QTRY_COMPARE(log.events, (QStringList{u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(log.errors.front(), Error::InvalidEndpointError);
    QVERIFY2(log.texts.front().contains(u"tcp://127.0.0.1:0"_qs), qPrintable(log.texts.front()));
}

void tst_TcpTransport::addressInUse()
{
    TcpStreamListener first;
    listenOn(first, u"tcp://127.0.0.1:0"_qs);
    const QUrl address = first.address();

    TcpStreamListener second;
    Error error = Error::NoError;
    QString text;
    QVERIFY(!second.listen(endpointOf(address), error, text));
    QCOMPARE(error, Error::AddressInUseError);
    QVERIFY2(text.contains(address.toString()), qPrintable(text));
    QVERIFY(!second.isListening());

    Acceptor acceptor(&first);
    std::unique_ptr<StreamSocket> client;
    connectPair(first, acceptor, client);
}

void tst_TcpTransport::listenOnHostNameIsRefused()
{
    // A server never waits for DNS: it takes addresses and "localhost" only.
    TcpStreamListener listener;
    Error error = Error::NoError;
    QString text;
    QVERIFY(!listener.listen(endpointOf(QUrl(u"tcp://example.com:0"_qs)), error, text));
    QCOMPARE(error, Error::InvalidEndpointError);
    QVERIFY2(text.contains(u"tcp://example.com:0"_qs), qPrintable(text));
}

void tst_TcpTransport::listenOnForeignAddress()
{
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): no interface of ours has it.
    const QHostAddress foreign(u"192.0.2.1"_qs);
    if (QNetworkInterface::allAddresses().contains(foreign))
        QSKIP("this machine has 192.0.2.1");
    TcpStreamListener listener;
    Error error = Error::NoError;
    QString text;
    QVERIFY(!listener.listen(endpointOf(QUrl(u"tcp://192.0.2.1:0"_qs)), error, text));
    QCOMPARE(error, Error::InvalidEndpointError);
    QVERIFY2(text.contains(u"tcp://192.0.2.1:0"_qs), qPrintable(text));
}

void tst_TcpTransport::listenTwice()
{
    TcpStreamListener listener;
    listenOn(listener, u"tcp://127.0.0.1:0"_qs);
    Error error = Error::NoError;
    QString text;
    QVERIFY(!listener.listen(endpointOf(QUrl(u"tcp://127.0.0.1:0"_qs)), error, text));
    QCOMPARE(error, Error::AddressInUseError);
    QVERIFY(listener.isListening());
}

QTEST_GUILESS_MAIN(tst_TcpTransport)

#include "tst_tcptransport.moc"
