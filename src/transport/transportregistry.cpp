#include "transport/transportregistry_p.h"

#include "transport/localstreamlistener_p.h"
#include "transport/localstreamsocket_p.h"
#include "transport/tcpstreamlistener_p.h"
#include "transport/tcpstreamsocket_p.h"
#include "transport/tlsstreamlistener_p.h"
#include "transport/tlsstreamsocket_p.h"

namespace Qonduit {
namespace Transports {

namespace {

struct SocketTransport
{
    Endpoint::Scheme scheme;
    std::unique_ptr<StreamSocket> (*connectTo)(const Endpoint &endpoint, const ChannelOptions &options);
    std::unique_ptr<StreamListener> (*makeListener)();
};

template<typename Socket>
std::unique_ptr<StreamSocket> connectWith(const Endpoint &endpoint, const ChannelOptions &)
{
    return Socket::connectTo(endpoint);
}

std::unique_ptr<StreamSocket> connectWithTls(const Endpoint &endpoint, const ChannelOptions &options)
{
    return TlsStreamSocket::connectTo(endpoint, options.tls);
}

template<typename Listener>
std::unique_ptr<StreamListener> listenWith()
{
    return std::make_unique<Listener>();
}

const SocketTransport socketTransports[] = {
    {Endpoint::Scheme::Local, &connectWith<LocalStreamSocket>, &listenWith<LocalStreamListener>},
    {Endpoint::Scheme::Tcp, &connectWith<TcpStreamSocket>, &listenWith<TcpStreamListener>},
    {Endpoint::Scheme::Tls, &connectWithTls, &listenWith<TlsStreamListener>},
};

const SocketTransport *find(Endpoint::Scheme scheme)
{
    for (const SocketTransport &transport : socketTransports) {
        if (transport.scheme == scheme)
            return &transport;
    }
    return nullptr;
}

} // namespace

bool isSocketScheme(Endpoint::Scheme scheme)
{
    return find(scheme) != nullptr;
}

std::unique_ptr<StreamSocket> connectTo(const Endpoint &endpoint, const ChannelOptions &options)
{
    const SocketTransport *transport = find(endpoint.scheme);
    return transport ? transport->connectTo(endpoint, options) : nullptr;
}

std::unique_ptr<StreamListener> makeListener(const Endpoint &endpoint)
{
    const SocketTransport *transport = find(endpoint.scheme);
    return transport ? transport->makeListener() : nullptr;
}

} // namespace Transports
} // namespace Qonduit
