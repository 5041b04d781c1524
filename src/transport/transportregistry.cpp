#include "transport/transportregistry_p.h"

#include "security/noisestreamlistener_p.h"
#include "security/noisestreamsocket_p.h"
#include "transport/localstreamlistener_p.h"
#include "transport/localstreamsocket_p.h"
#include "transport/tcpstreamlistener_p.h"
#include "transport/tcpstreamsocket_p.h"
#include "transport/tlsstreamlistener_p.h"
#include "transport/tlsstreamsocket_p.h"

#include <QtCore/qcoreapplication.h>

namespace Qonduit {
namespace Transports {

namespace {

struct SocketTransport
{
    Endpoint::Scheme scheme;
    std::unique_ptr<StreamSocket> (*connectTo)(const Endpoint &endpoint, const ChannelOptions &options);
    std::unique_ptr<StreamListener> (*makeListener)();
    // Whether ChannelOptions::sharedKey wraps it (NoiseStreamSocket).
    bool takesSharedKey;
};

template<typename Socket>
std::unique_ptr<StreamSocket> connectWith(const Endpoint &endpoint, const ChannelOptions &)
{
    return Socket::connectTo(endpoint);
}

std::unique_ptr<StreamSocket> connectWithLocal(const Endpoint &endpoint, const ChannelOptions &options)
{
    return LocalStreamSocket::connectTo(endpoint, options.localPeerUser);
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
    {Endpoint::Scheme::Local, &connectWithLocal, &listenWith<LocalStreamListener>, true},
    {Endpoint::Scheme::Tcp, &connectWith<TcpStreamSocket>, &listenWith<TcpStreamListener>, true},
    {Endpoint::Scheme::Tls, &connectWithTls, &listenWith<TlsStreamListener>, false},
};

const SocketTransport *find(Endpoint::Scheme scheme)
{
    for (const SocketTransport &transport : socketTransports) {
        if (transport.scheme == scheme)
            return &transport;
    }
    return nullptr;
}

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::Transports", text);
}

} // namespace

bool isSocketScheme(Endpoint::Scheme scheme)
{
    return find(scheme) != nullptr;
}

std::unique_ptr<StreamSocket> connectTo(const Endpoint &endpoint, const ChannelOptions &options)
{
    const SocketTransport *transport = find(endpoint.scheme);
    if (!transport)
        return nullptr;
    auto socket = transport->connectTo(endpoint, options);
    if (transport->takesSharedKey && !options.sharedKey.isEmpty())
        return NoiseStreamSocket::connectTo(std::move(socket), options.sharedKey);
    return socket;
}

std::unique_ptr<StreamListener> makeListener(const Endpoint &endpoint, const ChannelOptions &options)
{
    const SocketTransport *transport = find(endpoint.scheme);
    if (!transport)
        return nullptr;
    auto listener = transport->makeListener();
    if (transport->takesSharedKey && !options.sharedKey.isEmpty())
        return std::make_unique<NoiseStreamListener>(std::move(listener));
    return listener;
}

QString checkSharedKey(const Endpoint &endpoint, const ChannelOptions &options)
{
    if (options.sharedKey.isEmpty())
        return QString();
    const SocketTransport *transport = find(endpoint.scheme);
    if (transport && transport->takesSharedKey)
        return QString();
    return tr("ChannelOptions::sharedKey is set, but shared keys work on tcp:// and local: only; tls:// "
              "authenticates with certificates (ChannelOptions::tls), and inproc: never leaves the process. "
              "Leave sharedKey empty here, or use a tcp:// or local: endpoint");
}

} // namespace Transports
} // namespace Qonduit
