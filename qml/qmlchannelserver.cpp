#include "qmlchannelserver.h"

#include <algorithm>

namespace Qonduit {

QmlChannelServer::QmlChannelServer(QObject *parent)
    : QmlMessageSource(parent)
{
    connect(&m_server, &ChannelServer::newChannel, this, &QmlChannelServer::acceptClients);
    connect(&m_server, &ChannelServer::listeningChanged, this, &QmlChannelServer::listeningChanged);
    connect(&m_server, &ChannelServer::errorOccurred, this,
            [this](Qonduit::Error error) { setError(error, m_server.errorString()); });
    m_server.setChannelOptions(queueOptions());
}

QmlChannelServer::~QmlChannelServer()
{
    closeClients();
}

void QmlChannelServer::setEndpoint(const QUrl &endpoint)
{
    if (m_endpoint == endpoint)
        return;
    m_endpoint = endpoint;
    m_server.close();
    closeClients();
    setError(Qonduit::Error::NoError, QString());
    if (m_endpoint.isEmpty())
        setStatus(Null);
    else if (m_server.listen(m_endpoint))
        setStatus(Listening);
    else
        setStatus(Error);
    Q_EMIT endpointChanged();
}

bool QmlChannelServer::send(const QJSValue &value)
{
    const std::optional<JsValues::Outgoing> outgoing =
        outgoingMessage(value, JsValues::isInProcess(m_endpoint));
    if (!outgoing)
        return false;
    bool all = true;
    for (const ChannelPair &client : m_clients) {
        if (!outgoing->sendThrough(*client.sender)) {
            setError(client.sender->error(), client.sender->errorString());
            all = false;
        }
    }
    return all;
}

void QmlChannelServer::applyQueueOptions()
{
    ChannelOptions options = m_server.channelOptions();
    options.capacity = queueOptions().capacity;
    options.overflowPolicy = queueOptions().overflowPolicy;
    m_server.setChannelOptions(options);
    for (const ChannelPair &client : m_clients) {
        client.receiver->setCapacity(options.capacity);
        client.receiver->setOverflowPolicy(options.overflowPolicy);
    }
}

void QmlChannelServer::acceptClients()
{
    while (m_server.hasPendingChannels()) {
        ChannelPair client = m_server.nextPendingChannel();
        ChannelReceiver *receiver = client.receiver.get();
        connect(receiver, &ChannelReceiver::messageReceived, this, &QmlChannelServer::arrive);
        connect(receiver, &ChannelReceiver::rawMessageReceived, this,
                [this](const QByteArray &data) { arrive(QVariant(data)); });
        connect(receiver, &ChannelReceiver::lagged, this, &QmlChannelServer::addDropped);
        // A client is dropped once it went away and its last message was
        // delivered; one that only closed its sending side still hears send().
        // In-process there is no connection to lose: a client that closed
        // its sender is taken to be gone.
        ChannelSender *sender = client.sender.get();
        connect(receiver, &ChannelReceiver::closed, this, [this, receiver, sender] {
            if (sender->state() == ChannelState::UnconnectedState || JsValues::isInProcess(m_endpoint))
                dropClient(receiver);
        });
        connect(sender, &ChannelSender::disconnected, this, [this, receiver] {
            if (receiver->isClosed())
                dropClient(receiver);
        });
        m_clients.push_back(std::move(client));
    }
    Q_EMIT clientCountChanged();
}

void QmlChannelServer::dropClient(const ChannelReceiver *receiver)
{
    const auto found = std::find_if(m_clients.begin(), m_clients.end(),
                                    [receiver](const ChannelPair &client) { return client.receiver.get() == receiver; });
    if (found == m_clients.end())
        return;
    m_clients.erase(found);
    Q_EMIT clientCountChanged();
}

void QmlChannelServer::closeClients()
{
    for (const ChannelPair &client : m_clients) {
        client.receiver->disconnect(this);
        client.sender->disconnect(this);
    }
    const bool hadClients = !m_clients.empty();
    m_clients.clear();
    if (hadClients)
        Q_EMIT clientCountChanged();
}

} // namespace Qonduit
