#include "transport/inprocregistry_p.h"

#include "channel/channelendpoint_p.h"
#include "channel/channelfactory_p.h"
#include "channel/channelserver_p.h"
#include "global/qonduitlogging_p.h"

namespace Qonduit {

InprocRegistry &InprocRegistry::instance()
{
    // Never destroyed: a ChannelServer with static storage may still unbind
    // after function-local statics are gone.
    static auto *registry = new InprocRegistry;
    return *registry;
}

bool InprocRegistry::bind(const QString &name, ChannelServerPrivate *server)
{
    std::lock_guard lock(m_mutex);
    if (m_servers.contains(name))
        return false;
    m_servers.insert(name, server);
    qCDebug(lcQonduitTransportInproc) << "listening on" << name;
    return true;
}

void InprocRegistry::unbind(const QString &name, const ChannelServerPrivate *server)
{
    std::lock_guard lock(m_mutex);
    const auto it = m_servers.constFind(name);
    if (it != m_servers.cend() && it.value() == server)
        m_servers.erase(it);
}

bool InprocRegistry::connect(const QString &name, const ChannelOptions &clientOptions, ChannelPair &clientSide)
{
    std::lock_guard lock(m_mutex);
    ChannelServerPrivate *server = m_servers.value(name);
    if (!server)
        return false;
    const ChannelOptions serverOptions = server->channelOptions();
    auto toServer = ChannelFactory::makeMailbox(serverOptions);
    auto toClient = ChannelFactory::makeMailbox(clientOptions);
    clientSide = ChannelFactory::makeSide(toServer, toClient, clientOptions, server->address);
    // Queued before the server learns of the channel: whatever it sends
    // reaches the client's receiver after connected().
    for (ChannelEndpoint *end :
         std::initializer_list<ChannelEndpoint *>{clientSide.sender.get(), clientSide.receiver.get()}) {
        auto *d = ChannelEndpointPrivate::get(end);
        d->state = ChannelState::ConnectingState;
        d->setStateLater(ChannelState::ConnectedState);
    }
    server->accept(ChannelFactory::makeSide(toClient, toServer, serverOptions, QUrl(),
                                            ChannelFactory::Delivery::WhenHandedOut));
    qCDebug(lcQonduitTransportInproc) << "connected to" << name;
    return true;
}

} // namespace Qonduit
