#include <Qonduit/channel.h>

#include "channel/channelfactory_p.h"
#include "channel/channelreceiver_p.h"
#include "channel/channelsender_p.h"
#include "connection/channellink_p.h"
#include "connection/connection_p.h"
#include "transport/endpoint_p.h"
#include "transport/inprocregistry_p.h"
#include "transport/transportregistry_p.h"

namespace Qonduit {

std::shared_ptr<Mailbox> ChannelFactory::makeMailbox(const ChannelOptions &options)
{
    return std::make_shared<Mailbox>(ChannelReceiverPrivate::limitsFrom(options));
}

void ChannelFactory::attachLink(ChannelEndpoint &end, std::shared_ptr<ChannelLink> link, bool isReceiver)
{
    if (!link)
        return;
    auto *d = ChannelEndpointPrivate::get(&end);
    d->state = link->registerEndpoint(&end, isReceiver ? ChannelLink::Role::Receiver : ChannelLink::Role::Sender);
    d->link = std::move(link);
}

std::unique_ptr<ChannelSender> ChannelFactory::makeSender(std::shared_ptr<Mailbox> mailbox, const QUrl &peer,
                                                          std::shared_ptr<ChannelLink> link)
{
    auto *d = new ChannelSenderPrivate(std::move(mailbox));
    d->peerAddress = peer;
    auto sender = std::make_unique<ChannelSender>(*d);
    attachLink(*sender, std::move(link), false);
    return sender;
}

std::unique_ptr<ChannelReceiver> ChannelFactory::makeReceiver(std::shared_ptr<Mailbox> mailbox,
                                                              const ChannelOptions &options, const QUrl &peer,
                                                              Delivery delivery, std::shared_ptr<ChannelLink> link)
{
    auto *d = new ChannelReceiverPrivate(std::move(mailbox), options);
    d->peerAddress = peer;
    auto receiver = std::make_unique<ChannelReceiver>(*d);
    attachLink(*receiver, std::move(link), true);
    if (delivery == Delivery::Now)
        d->startDelivery();
    return receiver;
}

void ChannelFactory::handOut(ChannelReceiver &receiver)
{
    static_cast<ChannelReceiverPrivate *>(ChannelEndpointPrivate::get(&receiver))->startDelivery();
}

ChannelPair ChannelFactory::makeSide(std::shared_ptr<Mailbox> outgoing, std::shared_ptr<Mailbox> incoming,
                                     const ChannelOptions &options, const QUrl &peer, Delivery delivery,
                                     std::shared_ptr<ChannelLink> link)
{
    return {makeSender(std::move(outgoing), peer, link),
            makeReceiver(std::move(incoming), options, peer, delivery, link)};
}

ChannelPair ChannelFactory::makeFailed(const ChannelOptions &options, const QUrl &endpoint, Error error,
                                       const QString &text)
{
    auto incoming = makeMailbox(options);
    ChannelPair pair = makeSide(nullptr, incoming, options, endpoint);
    for (ChannelEndpoint *end : std::initializer_list<ChannelEndpoint *>{pair.sender.get(), pair.receiver.get()}) {
        auto *d = ChannelEndpointPrivate::get(end);
        d->state = ChannelState::ConnectingState;
        d->setStateLater(ChannelState::UnconnectedState, error, text);
    }
    // Nothing will ever arrive: finish the queue so that receive() returns at
    // once and closed() follows the error.
    if (const auto lane = incoming->addSender())
        incoming->removeSender(*lane);
    return pair;
}

ChannelPair Channel::local(const ChannelOptions &options)
{
    auto mailbox = ChannelFactory::makeMailbox(options);
    return ChannelFactory::makeSide(mailbox, mailbox, options, QUrl());
}

ChannelPair Channel::connectTo(const QUrl &url, const ChannelOptions &options)
{
    Endpoint endpoint;
    QString errorText;
    const Error error = Endpoint::parse(url, endpoint, errorText);
    if (error != Error::NoError)
        return ChannelFactory::makeFailed(options, url, error, errorText);
    const QString keyProblem = Transports::checkSharedKey(endpoint, options);
    if (!keyProblem.isEmpty()) {
        return ChannelFactory::makeFailed(options, url, Error::AuthenticationError,
                                          ChannelSender::tr("Cannot connect to %1: %2.").arg(url.toString(), keyProblem));
    }

    if (Transports::isSocketScheme(endpoint.scheme)) {
        const Error unreachable = endpoint.checkConnectable(errorText);
        if (unreachable != Error::NoError)
            return ChannelFactory::makeFailed(options, url, unreachable, errorText);
        auto connection = Connection::create(Connection::Role::Client, Transports::connectTo(endpoint, options),
                                             Connection::Settings::from(options), endpoint.toUrl(), options);
        return connection->openStream();
    }

    ChannelPair pair;
    if (!InprocRegistry::instance().connect(endpoint.name, options, pair)) {
        return ChannelFactory::makeFailed(
            options, url, Error::ConnectionRefusedError,
            ChannelSender::tr("No server listens on %1; start a ChannelServer there first.").arg(url.toString()));
    }
    return pair;
}

} // namespace Qonduit
