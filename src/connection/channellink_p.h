#ifndef QONDUIT_CHANNELLINK_P_H
#define QONDUIT_CHANNELLINK_P_H

#include <Qonduit/qonduitnamespace.h>

#include "channel/envelope_p.h"

#include <QtCore/qlist.h>
#include <QtCore/qstring.h>

#include <atomic>
#include <memory>
#include <mutex>

namespace Qonduit {

class ChannelEndpoint;
class Connection;

// What the senders and the receiver of one socket stream share with the
// connection that carries it. Endpoints hold it (and through it keep the
// connection alive); the connection holds it weakly.
//
// Thread safety: every member may be called from any thread. State changes
// reach each endpoint on its own thread through a queued call; an endpoint
// unregisters in its destructor, under the same lock, so no call is posted to
// a dead object.
class ChannelLink
{
public:
    ChannelLink(std::shared_ptr<Connection> connection, quint32 maxFramePayload, ChannelState state);
    ~ChannelLink();
    Q_DISABLE_COPY_MOVE(ChannelLink)

    enum class Role { Sender, Receiver };
    // Returns the state the endpoint starts in: an end made (or cloned) after
    // the connection came up is connected at once.
    ChannelState registerEndpoint(ChannelEndpoint *endpoint, Role role);
    void unregisterEndpoint(ChannelEndpoint *endpoint);

    // The connection is up: every endpoint becomes ConnectedState.
    void notifyConnected();
    // The connection ended: senders report error (when not NoError) and become
    // UnconnectedState. Receivers learn it in stream order, from their queue.
    void notifyDisconnected(Error error, const QString &text);
    // A failure that concerns one message a sender already queued.
    void notifySendersError(Error error, const QString &text);

    // Turns a message handed to send() into what travels: a typed message is
    // encoded here, on the producer's thread (QDataStream, or CBOR for
    // QCborValue/QCborMap/QCborArray). Fails when its type cannot be encoded
    // or it is larger than the peer accepts in one frame.
    bool prepare(Envelope &envelope, Error &error, QString &text) const;
    // A message was queued: see Connection::serviceNowIfFirstInTurn().
    void messageQueued() const;
    void setPeerMaxFrame(quint32 maxFramePayload) { m_peerMaxFrame.store(maxFramePayload); }

private:
    struct Registered
    {
        ChannelEndpoint *endpoint;
        Role role;
    };
    template <typename Call>
    void post(Role role, Call call);

    const std::shared_ptr<Connection> m_connection;
    std::atomic<quint32> m_peerMaxFrame;
    std::mutex m_mutex;
    QList<Registered> m_endpoints;
    ChannelState m_state;
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELLINK_P_H
