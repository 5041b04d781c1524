#ifndef QONDUIT_TCPSTREAMSOCKET_P_H
#define QONDUIT_TCPSTREAMSOCKET_P_H

#include "transport/endpoint_p.h"
#include "transport/streamsocket_p.h"

#include <QtNetwork/qtcpsocket.h>

#include <memory>

namespace Qonduit {

// A tcp:// stream: a QTcpSocket with TCP_NODELAY, since the connection layer
// batches its own writes and Nagle would only add latency to small frames.
// Connects without a proxy, and resolves host names asynchronously
// (QTcpSocket's own lookup: never a blocking QHostInfo::fromName()); every
// address a name resolves to is tried in turn.
class TcpStreamSocket final : public StreamSocket
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
    bool isConnected() const override;
    void disconnectFromPeer() override;
    void abort() override;
    void setReadBufferSize(qint64 bytes) override;
    void flush() override;

    // The underlying socket, for socket options and addresses.
    QTcpSocket *tcpSocket() const { return m_socket; }

    // The URL of an address and port: tcp://1.2.3.4:5, tcp://[::1]:5; an
    // IPv4-mapped IPv6 address shows as IPv4.
    static QUrl urlOf(const QHostAddress &address, quint16 port);

private:
    explicit TcpStreamSocket(const Endpoint &endpoint);
    void watch();
    void onError(QAbstractSocket::SocketError socketError);
    void startConnecting() override;
    void abortDevice() override;
    bool isDeviceOpen() const override;

    Endpoint m_endpoint; // connecting: as dialled
    QUrl m_peer;
    bool m_accepted = false;
    QTcpSocket *m_socket = nullptr; // child
};

} // namespace Qonduit

#endif // QONDUIT_TCPSTREAMSOCKET_P_H
