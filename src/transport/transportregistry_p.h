#ifndef QONDUIT_TRANSPORTREGISTRY_P_H
#define QONDUIT_TRANSPORTREGISTRY_P_H

#include "transport/endpoint_p.h"
#include "transport/streamlistener_p.h"
#include "transport/streamsocket_p.h"

#include <memory>

namespace Qonduit {

// The one table from scheme to socket transport: local: (Unix-domain
// sockets), tcp:// and tls://. inproc: stays apart (InprocRegistry): it has
// no sockets and hands mailboxes over directly. A new transport is one more
// row in transportregistry.cpp.
namespace Transports {

// Whether the scheme is served by a socket transport of this table.
bool isSocketScheme(Endpoint::Scheme scheme);

// Starts connecting to a parsed endpoint and returns at once, before any
// signal; connected() or failed() + disconnected() follow from the event
// loop of the calling thread (host names resolve asynchronously, never in
// this call). A tcp:// or tls:// port 0 fails there with
// InvalidEndpointError (Endpoint::checkConnectable() says so up front).
// tls:// reads options.tls and reports connected() once the TLS handshake
// is done. local: and tcp:// with options.sharedKey set are wrapped in a
// NoiseStreamSocket: connected() follows the shared-key handshake.
// nullptr when the scheme is not a socket scheme.
std::unique_ptr<StreamSocket> connectTo(const Endpoint &endpoint, const ChannelOptions &options = ChannelOptions());

// A listener for the endpoint's scheme, not yet listening: give it its
// options (StreamListener::setOptionsSource(); tls:// needs them), then call
// listen(). local: and tcp:// with options.sharedKey set (read here, once)
// are wrapped in a NoiseStreamListener, which reads the key itself for every
// client. nullptr when the scheme is not a socket scheme.
std::unique_ptr<StreamListener> makeListener(const Endpoint &endpoint, const ChannelOptions &options = ChannelOptions());

// Empty when options.sharedKey is empty or the endpoint's scheme uses it
// (local:, tcp://); otherwise why the key cannot be used there, for a person,
// to follow "Cannot connect to URL: ". A security setting is never dropped
// in silence: Channel::connectTo() and ChannelServer::listen() fail with
// AuthenticationError on it (tls:// and inproc: take no shared key).
QString checkSharedKey(const Endpoint &endpoint, const ChannelOptions &options);

} // namespace Transports
} // namespace Qonduit

#endif // QONDUIT_TRANSPORTREGISTRY_P_H
