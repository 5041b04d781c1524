#include "transport/transportregistry_p.h"

#include "transport/localstreamlistener_p.h"
#include "transport/localstreamsocket_p.h"
#include "transport/tcpstreamlistener_p.h"
#include "transport/tcpstreamsocket_p.h"

namespace Qonduit {
namespace Transports {

namespace {

struct SocketTransport
{
    Endpoint::Scheme scheme;
    std::unique_ptr<StreamSocket> (*connectTo)(const Endpoint &endpoint);
    std::unique_ptr<StreamListener> (*makeListener)();
};

template<typename Socket>
std::unique_ptr<StreamSocket> connectWith(const Endpoint &endpoint)
{
    return Socket::connectTo(endpoint);
}

template<typename Listener>
std::unique_ptr<StreamListener> listenWith()
{
    return std::make_unique<Listener>();
}

const SocketTransport socketTransports[] = {
    {Endpoint::Scheme::Local, &connectWith<LocalStreamSocket>, &listenWith<LocalStreamListener>},
    {Endpoint::Scheme::Tcp, &connectWith<TcpStreamSocket>, &listenWith<TcpStreamListener>},
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

std::unique_ptr<StreamSocket> connectTo(const Endpoint &endpoint)
{
    const SocketTransport *transport = find(endpoint.scheme);
    return transport ? transport->connectTo(endpoint) : nullptr;
}

std::unique_ptr<StreamListener> makeListener(const Endpoint &endpoint)
{
    const SocketTransport *transport = find(endpoint.scheme);
    return transport ? transport->makeListener() : nullptr;
}

} // namespace Transports
} // namespace Qonduit
