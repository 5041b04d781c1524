#ifndef QONDUIT_STREAMLISTENER_P_H
#define QONDUIT_STREAMLISTENER_P_H

#include <Qonduit/channeloptions.h>

#include "transport/endpoint_p.h"

#include <QtCore/qobject.h>
#include <QtCore/qurl.h>

#include <functional>
#include <memory>

namespace Qonduit {

class StreamSocket;

// The server side of a socket transport (local:, tcp://, tls://). Made by
// Transports::makeListener(); lives in one thread.
//
// listen() binds synchronously and returns false with an error and a text
// naming the endpoint (AddressInUseError, PermissionDeniedError,
// InvalidEndpointError, NetworkError; tls:// also CertificateError). Accepting never blocks: every
// connection the kernel queued is accepted and handed out from the event
// loop, one incoming() each.
class StreamListener : public QObject
{
    Q_OBJECT

public:
    ~StreamListener() override;

    virtual bool listen(const Endpoint &endpoint, Error &error, QString &errorText) = 0;
    virtual bool isListening() const = 0;
    // The real address: tcp:// with port 0 gives the port the system chose;
    // empty when not listening.
    virtual QUrl address() const = 0;
    // Stops listening and frees the address (local: removes the socket file
    // if it is still this listener's). Sockets already handed out live on.
    virtual void close() = 0;

    // Where the listener reads the options of a new connection (tls://: the
    // certificates and trust, and the handshake timeout): called in this
    // thread, by listen() and for every client. Without one: ChannelOptions().
    void setOptionsSource(std::function<ChannelOptions()> source);
    ChannelOptions currentOptions() const;

Q_SIGNALS:
    // A connected socket, parentless, in this thread. The slot owns it
    // (setParent, or wrap in a unique_ptr) and must be connected directly:
    // a socket emitted with nobody connected is closed and deleted. The slot
    // may close or delete the listener.
    void incoming(Qonduit::StreamSocket *socket);

protected:
    explicit StreamListener(QObject *parent);

    // Emits incoming(), or drops the socket when nobody would take it.
    void handOut(std::unique_ptr<StreamSocket> socket);

private:
    std::function<ChannelOptions()> m_optionsSource;
};

} // namespace Qonduit

#endif // QONDUIT_STREAMLISTENER_P_H
