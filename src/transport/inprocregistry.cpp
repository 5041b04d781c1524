#include "transport/inprocregistry_p.h"

#include "channel/channelendpoint_p.h"
#include "channel/channelfactory_p.h"
#include "channel/channelserver_p.h"
#include "global/qonduitlogging_p.h"

namespace Qonduit {

InprocRegistry &InprocRegistry::instance()
{
    static InprocRegistry registry;
    return registry;
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
    auto toServer = ChannelFactory::makeMailbox(server->channelOptions());
    auto toClient = ChannelFactory::makeMailbox(clientOptions);
    const QUrl address = server->address;
    clientSide = ChannelFactory::makeSide(toServer, toClient, clientOptions, address);
    server->accept(ChannelFactory::makeSide(toClient, toServer, server->channelOptions(), QUrl(),
                                            ChannelFactory::Delivery::WhenHandedOut));
    for (ChannelEndpoint *end :
         std::initializer_list<ChannelEndpoint *>{clientSide.sender.get(), clientSide.receiver.get()}) {
        auto *d = ChannelEndpointPrivate::get(end);
        d->state = ChannelState::ConnectingState;
        d->setStateLater(ChannelState::ConnectedState);
    }
    qCDebug(lcQonduitTransportInproc) << "connected to" << name;
    return true;
}

} // namespace Qonduit
