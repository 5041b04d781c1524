#include "peer.h"

#include <QtCore/qcborarray.h>
#include <QtCore/qcbormap.h>
#include <QtCore/qcborvalue.h>
#include <QtCore/qcoreapplication.h>
#include <QtCore/qdatetime.h>

#include <algorithm>

using namespace Qonduit;

namespace {

QString uniqueName(const char *kind)
{
    static int counter = 0;
    return QStringLiteral("tst_qml-%1-%2-%3")
        .arg(QLatin1String(kind))
        .arg(QCoreApplication::applicationPid())
        .arg(++counter);
}

QVariantMap nestedSample()
{
    return {
        {QStringLiteral("text"), QStringLiteral("héllo")},
        {QStringLiteral("ratio"), 0.25},
        {QStringLiteral("flag"), true},
        {QStringLiteral("nothing"), QVariant::fromValue(nullptr)},
        {QStringLiteral("list"), QVariantList{1, QStringLiteral("two"), 3.5}},
        {QStringLiteral("when"), QDateTime(QDate(2026, 11, 22), QTime(12, 30, 15), Qt::UTC)},
        {QStringLiteral("inner"), QVariantMap{{QStringLiteral("depth"), 2}}},
    };
}

} // namespace

Peer::Peer(QObject *parent)
    : QObject(parent)
{
    for (const QUrl &url : {QUrl(QStringLiteral("tcp://127.0.0.1:0")),
                            QUrl(QStringLiteral("local:") + uniqueName("local")),
                            QUrl(QStringLiteral("inproc:") + uniqueName("inproc"))}) {
        listenOn(url);
    }
}

Peer::~Peer()
{
    m_clients.clear();
}

bool Peer::listenOn(const QUrl &url)
{
    auto server = std::make_unique<ChannelServer>();
    if (!server->listen(url)) {
        qWarning("Peer cannot listen on %s: %s", qPrintable(url.toString()), qPrintable(server->errorString()));
        return false;
    }
    ChannelServer *raw = server.get();
    connect(raw, &ChannelServer::newChannel, this, [this, raw] { accept(raw); });
    m_servers.push_back(std::move(server));
    return true;
}

QUrl Peer::spareUrl()
{
    return QUrl(QStringLiteral("local:") + uniqueName("spare"));
}

void Peer::accept(ChannelServer *server)
{
    while (server->hasPendingChannels()) {
        auto client = std::make_unique<Client>();
        client->pair = server->nextPendingChannel();
        client->server = server;
        hook(client->pair, server);
        m_clients.push_back(std::move(client));
        ++m_acceptedCount;
    }
    Q_EMIT clientCountChanged();
}

void Peer::hook(ChannelPair &pair, ChannelServer *server)
{
    ChannelReceiver *receiver = pair.receiver.get();
    auto record = [this, server](const QVariant &message, bool raw) {
        ++m_receivedCount;
        m_lastReceived = message;
        m_lastTypes = raw ? QStringLiteral("raw:%1").arg(message.toByteArray().toHex()) : describe(message);
        // Echo to every client of the same server.
        for (const auto &client : m_clients) {
            if (server && client->server == server) {
                if (raw)
                    client->pair.sender->sendRaw(message.toByteArray());
                else
                    client->pair.sender->send(message);
            }
        }
        Q_EMIT received();
    };
    connect(receiver, &ChannelReceiver::messageReceived, this, [record](const QVariant &m) { record(m, false); });
    connect(receiver, &ChannelReceiver::rawMessageReceived, this,
            [record](const QByteArray &data) { record(QVariant(data), true); });
    connect(receiver, &ChannelReceiver::closed, this, [this, receiver] {
        const auto gone = std::find_if(m_clients.begin(), m_clients.end(),
                                       [receiver](const auto &c) { return c->pair.receiver.get() == receiver; });
        if (gone != m_clients.end() && (*gone)->server) {
            m_clients.erase(gone);
            Q_EMIT clientCountChanged();
        }
    });
}

void Peer::sendToAll(const QVariant &message, bool raw)
{
    for (const auto &client : m_clients) {
        if (raw)
            client->pair.sender->sendRaw(message.toByteArray());
        else
            client->pair.sender->send(message);
    }
}

void Peer::sendSample(const QString &kind)
{
    if (kind == QLatin1String("raw"))
        sendToAll(QByteArray("\x01\x02\x03", 3), true);
    else if (kind == QLatin1String("cbor"))
        sendToAll(QVariant::fromValue(QCborMap::fromVariantMap(nestedSample())), false);
    else
        sendToAll(nestedSample(), false);
}

void Peer::sendSequence(int first, int count)
{
    for (int seq = first; seq < first + count; ++seq)
        sendToAll(QVariantMap{{QStringLiteral("seq"), seq}, {QStringLiteral("name"), QStringLiteral("m%1").arg(seq)}},
                  false);
}

void Peer::connectClient(const QUrl &url)
{
    auto client = std::make_unique<Client>();
    client->pair = Channel::connectTo(url);
    hook(client->pair, nullptr);
    m_clients.push_back(std::move(client));
}

void Peer::disconnectClient()
{
    m_clients.erase(std::remove_if(m_clients.begin(), m_clients.end(), [](const auto &c) { return !c->server; }),
                    m_clients.end());
}

// The C++ types of value, with containers spelled out and map keys sorted:
// "QVariantMap{a:int,b:QVariantList[QString,double]}".
QString Peer::describe(const QVariant &value)
{
    const QMetaType type = value.metaType();
    if (type == QMetaType::fromType<QVariantMap>()) {
        QStringList parts;
        const QVariantMap map = value.toMap();
        for (auto it = map.cbegin(); it != map.cend(); ++it)
            parts.append(it.key() + QLatin1Char(':') + describe(it.value()));
        return QStringLiteral("QVariantMap{") + parts.join(QLatin1Char(',')) + QLatin1Char('}');
    }
    if (type == QMetaType::fromType<QVariantList>()) {
        QStringList parts;
        for (const QVariant &item : value.toList())
            parts.append(describe(item));
        return QStringLiteral("QVariantList[") + parts.join(QLatin1Char(',')) + QLatin1Char(']');
    }
    if (!type.isValid())
        return QStringLiteral("invalid");
    return QString::fromLatin1(type.name());
}
