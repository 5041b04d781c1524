#include <Qonduit/channelserver.h>

#include "channel/channelfactory_p.h"
#include "channel/channelserver_p.h"
#include "connection/connection_p.h"
#include "transport/endpoint_p.h"
#include "transport/inprocregistry_p.h"
#include "transport/transportregistry_p.h"

#include <QtCore/qthread.h>

namespace Qonduit {

void ChannelServerPrivate::setErrorAndEmit(Error error, const QString &text)
{
    Q_Q(ChannelServer);
    errorState.set(error, text);
    Q_EMIT q->errorOccurred(error);
}

ChannelOptions ChannelServerPrivate::channelOptions() const
{
    std::lock_guard lock(mutex);
    return options;
}

void ChannelServerPrivate::accept(ChannelPair pair)
{
    Q_Q(ChannelServer);
    QThread *serverThread = q->thread();
    if (QThread::currentThread() != serverThread) {
        pair.sender->moveToThread(serverThread);
        pair.receiver->moveToThread(serverThread);
    }
    {
        std::lock_guard lock(mutex);
        pending.push_back(std::move(pair));
    }
    QMetaObject::invokeMethod(q, &ChannelServer::newChannel, Qt::QueuedConnection);
}

void ChannelServerPrivate::adopt(StreamSocket *rawSocket)
{
    Q_Q(ChannelServer);
    std::unique_ptr<StreamSocket> socket(rawSocket);
    const QUrl peer = socket->peerAddress();
    const ChannelOptions streamOptions = channelOptions();
    auto connection = Connection::create(Connection::Role::Server, std::move(socket),
                                         Connection::Settings::from(streamOptions), peer, streamOptions);
    connection->setStreamAcceptor([this](ChannelPair pair) { accept(std::move(pair)); });
    std::weak_ptr<Connection> weak = connection;
    QObject::connect(connection.get(), &Connection::closed, q, [this, weak] {
        if (auto closed = weak.lock())
            connections.erase(closed);
    });
    connections.insert(std::move(connection));
}

void ChannelServerPrivate::stopListening()
{
    if (listener) {
        listener->close();
        listener.reset();
    }
    if (!boundName.isEmpty()) {
        InprocRegistry::instance().unbind(boundName, this);
        boundName.clear();
    }
    address.clear();
    // Connections whose channels were handed out live on through them; the
    // others close.
    for (const auto &connection : connections)
        connection->setStreamAcceptor(nullptr);
    std::set<std::shared_ptr<Connection>> released;
    released.swap(connections);
    std::deque<ChannelPair> unclaimed;
    {
        std::lock_guard lock(mutex);
        unclaimed.swap(pending);
    }
}

ChannelServer::ChannelServer(QObject *parent)
    : QObject(parent)
    , d_ptr(std::make_unique<ChannelServerPrivate>())
{
    d_ptr->q_ptr = this;
}

ChannelServer::~ChannelServer()
{
    Q_D(ChannelServer);
    d->stopListening();
}

bool ChannelServer::listen(const QUrl &url)
{
    Q_D(ChannelServer);
    if (isListening()) {
        d->setErrorAndEmit(Error::AddressInUseError,
                           tr("The server already listens on %1; close() it first.").arg(d->address.toString()));
        return false;
    }
    Endpoint endpoint;
    QString errorText;
    Error error = Endpoint::parse(url, endpoint, errorText);
    if (error != Error::NoError) {
        d->setErrorAndEmit(error, errorText);
        return false;
    }
    const QString keyProblem = Transports::checkSharedKey(endpoint, d->channelOptions());
    if (!keyProblem.isEmpty()) {
        d->setErrorAndEmit(Error::AuthenticationError, tr("Cannot listen on %1: %2.").arg(url.toString(), keyProblem));
        return false;
    }
    if (Transports::isSocketScheme(endpoint.scheme)) {
        auto listener = Transports::makeListener(endpoint, d->channelOptions());
        // Read for every client, so setChannelOptions() applies to the next.
        listener->setOptionsSource([d] { return d->channelOptions(); });
        if (!listener->listen(endpoint, error, errorText)) {
            d->setErrorAndEmit(error, errorText);
            return false;
        }
        connect(listener.get(), &StreamListener::incoming, this,
                [d](StreamSocket *socket) { d->adopt(socket); });
        d->address = listener->address();
        d->listener = std::move(listener);
        Q_EMIT listeningChanged();
        return true;
    }
    // Connecting threads read the address once bind() publishes the server.
    d->address = url;
    if (!InprocRegistry::instance().bind(endpoint.name, d)) {
        d->address.clear();
        d->setErrorAndEmit(Error::AddressInUseError,
                           tr("Another server already listens on %1; pick another name or close that server.")
                               .arg(url.toString()));
        return false;
    }
    d->boundName = endpoint.name;
    Q_EMIT listeningChanged();
    return true;
}

void ChannelServer::close()
{
    Q_D(ChannelServer);
    if (!isListening())
        return;
    d->stopListening();
    Q_EMIT listeningChanged();
}

bool ChannelServer::isListening() const
{
    Q_D(const ChannelServer);
    return !d->boundName.isEmpty() || d->listener;
}

QUrl ChannelServer::address() const
{
    Q_D(const ChannelServer);
    return d->address;
}

void ChannelServer::setChannelOptions(const ChannelOptions &options)
{
    Q_D(ChannelServer);
    std::lock_guard lock(d->mutex);
    d->options = options;
}

ChannelOptions ChannelServer::channelOptions() const
{
    Q_D(const ChannelServer);
    return d->channelOptions();
}

bool ChannelServer::hasPendingChannels() const
{
    Q_D(const ChannelServer);
    std::lock_guard lock(d->mutex);
    return !d->pending.empty();
}

ChannelPair ChannelServer::nextPendingChannel()
{
    Q_D(ChannelServer);
    std::lock_guard lock(d->mutex);
    if (d->pending.empty())
        return {};
    ChannelPair pair = std::move(d->pending.front());
    d->pending.pop_front();
    ChannelFactory::handOut(*pair.receiver);
    return pair;
}

Error ChannelServer::error() const
{
    Q_D(const ChannelServer);
    return d->errorState.error();
}

QString ChannelServer::errorString() const
{
    Q_D(const ChannelServer);
    return d->errorState.errorString();
}

} // namespace Qonduit
