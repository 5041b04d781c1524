#ifndef QONDUIT_LOCALSTREAMSOCKET_P_H
#define QONDUIT_LOCALSTREAMSOCKET_P_H

#include "transport/endpoint_p.h"
#include "transport/streamsocket_p.h"

#include <Qonduit/channeloptions.h>

#include <QtNetwork/qlocalsocket.h>

#include <memory>

namespace Qonduit {

// A local: stream: a QLocalSocket on a Unix-domain socket file.
class LocalStreamSocket final : public StreamSocket
{
    Q_OBJECT

public:
    // Starts connecting to endpoint (a local: endpoint) from the event loop.
    // With requiredPeerUser (a ChannelOptions::localPeerUser), a server of
    // another user fails the connect with AuthenticationError.
    static std::unique_ptr<LocalStreamSocket> connectTo(const Endpoint &endpoint,
                                                        qint64 requiredPeerUser = ChannelOptions::AnyUser);
    // Takes over a socket a server accepted on endpoint.
    LocalStreamSocket(QLocalSocket *accepted, const Endpoint &endpoint);
    ~LocalStreamSocket() override;

    QIODevice *device() const override;
    QUrl peerAddress() const override;
    void setReadBufferSize(qint64 bytes) override;
    // The kernel holds about 200 KiB of a Unix-domain stream, so the payloads
    // waiting for it are all in this process: 2 MiB in front of it, not 8.
    qint64 sendQueueBytes() const override;
    void flush() override;

    // The descriptor, for passing descriptors; -1 when closed.
    qintptr socketDescriptor() const;
    // The user id of the peer's process (SO_PEERCRED); -1 when unknown.
    qint64 peerUser() const;
    // A ChannelOptions::localPeerUser as a user id: -1 for AnyUser.
    static qint64 resolveUser(qint64 localPeerUser);

private:
    explicit LocalStreamSocket(const Endpoint &endpoint);
    void watch();
    void onError(QLocalSocket::LocalSocketError socketError);
    void startConnecting() override;
    void abortDevice() override;
    void closeDevice() override;
    bool isDeviceOpen() const override;
    qintptr halfClosableDescriptor() const override;

    Endpoint m_endpoint;
    bool m_accepted = false;
    qint64 m_requiredPeerUser = -1; // resolved; -1: any
    QLocalSocket *m_socket = nullptr; // child
};

} // namespace Qonduit

#endif // QONDUIT_LOCALSTREAMSOCKET_P_H
