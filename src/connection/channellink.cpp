#include "connection/channellink_p.h"

#include "connection/connection_p.h"

#include "channel/channelendpoint_p.h"
#include "global/turnevents_p.h"
#include "wire/messagecodec_p.h"

#include <QtCore/qcborarray.h>
#include <QtCore/qcbormap.h>
#include <QtCore/qcoreapplication.h>

namespace Qonduit {

ChannelLink::ChannelLink(std::shared_ptr<Connection> connection, quint32 maxFramePayload, ChannelState state)
    : m_connection(std::move(connection))
    , m_peerMaxFrame(maxFramePayload)
    , m_state(state)
{
}

ChannelLink::~ChannelLink() = default;

ChannelState ChannelLink::registerEndpoint(ChannelEndpoint *endpoint, Role role)
{
    std::lock_guard lock(m_mutex);
    m_endpoints.append({endpoint, role});
    return m_state;
}

void ChannelLink::unregisterEndpoint(ChannelEndpoint *endpoint)
{
    std::lock_guard lock(m_mutex);
    m_endpoints.removeIf([endpoint](const Registered &r) { return r.endpoint == endpoint; });
}

template <typename Call>
void ChannelLink::post(Role role, Call call)
{
    // Registration and posting share the lock: an end registered after a
    // post was made reads the new state instead.
    std::lock_guard lock(m_mutex);
    for (const Registered &r : std::as_const(m_endpoints)) {
        if (r.role != role)
            continue;
        ChannelEndpoint *endpoint = r.endpoint;
        // The endpoint is the context: if it dies first, the call is dropped.
        TurnEvents::invoke(endpoint, [endpoint, call] { call(*ChannelEndpointPrivate::get(endpoint)); });
    }
}

void ChannelLink::notifyConnected()
{
    {
        std::lock_guard lock(m_mutex);
        m_state = ChannelState::ConnectedState;
    }
    const auto connect = [](ChannelEndpointPrivate &d) {
        if (d.state == ChannelState::ConnectingState)
            d.setState(ChannelState::ConnectedState);
    };
    post(Role::Sender, connect);
    post(Role::Receiver, connect);
}

void ChannelLink::notifyDisconnected(Error error, const QString &text)
{
    {
        std::lock_guard lock(m_mutex);
        m_state = ChannelState::UnconnectedState;
    }
    post(Role::Sender, [error, text](ChannelEndpointPrivate &d) {
        if (d.state == ChannelState::UnconnectedState)
            return;
        if (error != Error::NoError)
            d.setErrorAndEmit(error, text);
        d.setState(ChannelState::UnconnectedState);
    });
}

void ChannelLink::notifySendersError(Error error, const QString &text)
{
    post(Role::Sender, [error, text](ChannelEndpointPrivate &d) { d.setErrorAndEmit(error, text); });
}

void ChannelLink::messageQueued() const
{
    m_connection->serviceNowIfFirstInTurn();
}

bool ChannelLink::prepare(Envelope &envelope, Error &error, QString &text) const
{
    if (envelope.kind == Envelope::Kind::Typed) {
        const QMetaType type = envelope.payload.metaType();
        QByteArray bytes;
        Wire::Encoding encoding = Wire::Encoding::DataStream;
        if (type == QMetaType::fromType<QCborValue>() || type == QMetaType::fromType<QCborMap>()
            || type == QMetaType::fromType<QCborArray>()) {
            bytes = Wire::encodeCbor(QCborValue::fromVariant(envelope.payload));
            encoding = Wire::Encoding::Cbor;
        } else {
            bytes = Wire::encodeDataStream(envelope.payload, &text);
        }
        if (bytes.isNull()) {
            error = Error::MessageEncodeError;
            text = QCoreApplication::translate("Qonduit::ChannelSender", "This message cannot travel to %1: %2")
                       .arg(m_connection->peerAddress().toString(), text);
            return false;
        }
        envelope = Envelope::encoded(bytes, quint8(encoding));
    }
    const quint32 limit = m_peerMaxFrame.load();
    if (envelope.bytes > qint64(limit)) {
        error = Error::MessageTooLargeError;
        text = QCoreApplication::translate("Qonduit::ChannelSender",
                                           "The message is %1 bytes; the peer accepts at most %2 in one message.")
                   .arg(envelope.bytes)
                   .arg(limit);
        return false;
    }
    return true;
}

} // namespace Qonduit
