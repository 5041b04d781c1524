#ifndef QONDUIT_TCPSTREAMSOCKET_P_H
#define QONDUIT_TCPSTREAMSOCKET_P_H

#include "transport/endpoint_p.h"
#include "transport/streamsocket_p.h"

#include <QtCore/qloggingcategory.h>
#include <QtNetwork/qtcpsocket.h>

#include <memory>

namespace Qonduit {

// A tcp:// stream: a QTcpSocket with TCP_NODELAY, since the connection layer
// batches its own writes and Nagle would only add latency to small frames.
// Connects without a proxy, and resolves host names asynchronously
// (QTcpSocket's own lookup: never a blocking QHostInfo::fromName()); every
// address a name resolves to is tried in turn. TlsStreamSocket builds tls://
// on it.
class TcpStreamSocket : public StreamSocket
{
    Q_OBJECT

public:
    // Starts connecting to endpoint (a tcp:// endpoint) from the event loop.
    // Port 0 fails there with InvalidEndpointError.
    static std::unique_ptr<TcpStreamSocket> connectTo(const Endpoint &endpoint);
    // Takes over a socket a server accepted.
    explicit TcpStreamSocket(QTcpSocket *accepted);
    ~TcpStreamSocket() override;

    QIODevice *device() const override;
    QUrl peerAddress() const override;
    void setReadBufferSize(qint64 bytes) override;
    void flush() override;

    // The underlying socket, for socket options and addresses.
    QTcpSocket *tcpSocket() const { return m_socket; }

    // The URL of an address and port: tcp://1.2.3.4:5, tcp://[::1]:5; an
    // IPv4-mapped IPv6 address shows as IPv4. scheme "tls" for tls://.
    static QUrl urlOf(const QHostAddress &address, quint16 port, const QString &scheme = QStringLiteral("tcp"));

protected:
    using LoggingCategory = const QLoggingCategory &(*)();

    // Connecting to endpoint (tcp:// or tls://) through socket, which this
    // object adopts; accepted: a socket a server accepted, adopted too.
    TcpStreamSocket(const Endpoint &endpoint, QTcpSocket *socket, LoggingCategory category);
    TcpStreamSocket(QTcpSocket *accepted, const QString &scheme, LoggingCategory category);

    const Endpoint &endpoint() const { return m_endpoint; }
    bool isAccepted() const { return m_accepted; }
    // A connecting socket's TCP connection is up (TCP_NODELAY set): reports
    // connected(); tls:// waits for the handshake instead.
    virtual void onTcpConnected();
    // The error and the text for a socket error; tls:// adds its own causes.
    virtual void describeError(QAbstractSocket::SocketError socketError, Error &error, QString &text) const;
    // Whether the device closes by itself right after this error, and must
    // not be aborted before (a TLS alert is still to go out): the close is
    // then checked from the event loop.
    virtual bool closesItselfAfter(QAbstractSocket::SocketError socketError) const;
    qintptr halfClosableDescriptor() const override;
    void startConnecting() override;
    // Starts the device's connect to the endpoint, checked connectable.
    virtual void connectDevice();

private:
    explicit TcpStreamSocket(const Endpoint &endpoint);
    void watch();
    void onError(QAbstractSocket::SocketError socketError);
    void abortDevice() override;
    void closeDevice() override;
    bool isDeviceOpen() const override;

    Endpoint m_endpoint; // connecting: as dialled
    QUrl m_peer;
    bool m_accepted = false;
    LoggingCategory m_category;
    QTcpSocket *m_socket = nullptr; // child
};

} // namespace Qonduit

#endif // QONDUIT_TCPSTREAMSOCKET_P_H
