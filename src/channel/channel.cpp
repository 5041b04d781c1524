#include <Qonduit/channel.h>

#include "channel/channelfactory_p.h"
#include "channel/channelreceiver_p.h"
#include "channel/channelsender_p.h"
#include "transport/endpoint_p.h"
#include "transport/inprocregistry_p.h"

namespace Qonduit {

std::shared_ptr<Mailbox> ChannelFactory::makeMailbox(const ChannelOptions &options)
{
    return std::make_shared<Mailbox>(ChannelReceiverPrivate::limitsFrom(options));
}

std::unique_ptr<ChannelSender> ChannelFactory::makeSender(std::shared_ptr<Mailbox> mailbox, const QUrl &peer)
{
    auto *d = new ChannelSenderPrivate(std::move(mailbox));
    d->peerAddress = peer;
    return std::make_unique<ChannelSender>(*d);
}

std::unique_ptr<ChannelReceiver> ChannelFactory::makeReceiver(std::shared_ptr<Mailbox> mailbox,
                                                              const ChannelOptions &options, const QUrl &peer,
                                                              Delivery delivery)
{
    auto *d = new ChannelReceiverPrivate(std::move(mailbox), options);
    d->peerAddress = peer;
    auto receiver = std::make_unique<ChannelReceiver>(*d);
    if (delivery == Delivery::Now)
        d->startDelivery();
    return receiver;
}

void ChannelFactory::handOut(ChannelReceiver &receiver)
{
    static_cast<ChannelReceiverPrivate *>(ChannelEndpointPrivate::get(&receiver))->startDelivery();
}

ChannelPair ChannelFactory::makeSide(std::shared_ptr<Mailbox> outgoing, std::shared_ptr<Mailbox> incoming,
                                     const ChannelOptions &options, const QUrl &peer, Delivery delivery)
{
    return {makeSender(std::move(outgoing), peer), makeReceiver(std::move(incoming), options, peer, delivery)};
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
    incoming->addSender();
    incoming->removeSender();
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

    ChannelPair pair;
    if (!InprocRegistry::instance().connect(endpoint.name, options, pair)) {
        return ChannelFactory::makeFailed(
            options, url, Error::ConnectionRefusedError,
            ChannelSender::tr("No server listens on %1; start a ChannelServer there first.").arg(url.toString()));
    }
    return pair;
}

} // namespace Qonduit
