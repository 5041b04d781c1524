#ifndef QONDUIT_CONNECTION_P_H
#define QONDUIT_CONNECTION_P_H

#include <Qonduit/channel.h>

#include "connection/connectionstream_p.h"
#include "wire/frame_p.h"

#include <QtCore/qbasictimer.h>
#include <QtCore/qelapsedtimer.h>
#include <QtCore/qobject.h>
#include <QtCore/qurl.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace Qonduit {

class StreamSocket;

// One socket carrying many streams (docs/protocol.md): the handshake, frame
// dispatch, per-stream flow control, write batching and heartbeats.
//
// Threading: lives in the thread that made it and does all its work there.
// Producers on other threads reach it only through the mailboxes, whose
// wake-ups call scheduleService(); the service runs once per event-loop turn
// however many producers woke it, and writes everything queued in one socket
// write. Ownership: shared by the ChannelLinks of its streams (and by a
// ChannelServer until it closes); when the last owner lets go, it says
// GOODBYE after sending what is queued, then deletes itself.
class Connection final : public QObject, public std::enable_shared_from_this<Connection>
{
    Q_OBJECT

public:
    enum class Role { Client, Server };

    struct Settings
    {
        quint32 maxFrame = Wire::defaultMaxFrame;
        quint32 window = 4 * 1024 * 1024; // what each stream direction may have in flight towards us
        int handshakeTimeoutMs = 10000;
        int heartbeatIntervalMs = 5000;
        int maxStreams = 1024;
        int closeTimeoutMs = 10000; // a graceful close that takes longer is cut
        int progressTimeoutMs = 30000;

        static Settings from(const ChannelOptions &options);
    };

    static std::shared_ptr<Connection> create(Role role, std::unique_ptr<StreamSocket> socket,
                                              const Settings &settings, const QUrl &peerAddress,
                                              const ChannelOptions &streamOptions);
    ~Connection() override;

    // A new stream from this side (the client's channel). Its OPEN and its
    // messages go out once the handshake is done.
    ChannelPair openStream();
    // Where streams the peer opens go; without one they are refused.
    void setStreamAcceptor(std::function<void(ChannelPair)> acceptor);

    // From any thread, with a mailbox locked: stream has work (messages to
    // send, or credit to return). Schedules at most one service event per turn
    // (TurnEvents: a posted event only when called from another thread).
    void scheduleService(quint32 streamId);
    // A sender queued a message. On the connection's thread, outside its own
    // handlers, the first such call of an event-loop turn writes what is
    // queued at once instead of at the service event (later sends of
    // the turn are batched by that event): a reply sent from a slot leaves in
    // the same turn, a flood still goes out in batches.
    void serviceNowIfFirstInTurn();

    QUrl peerAddress() const { return m_peerAddress; }

    // Deletes the connections of the calling thread whose owners let go and
    // that are still saying goodbye: run as the application object goes
    // (qAddPostRoutine), when no event loop will finish them. A worker
    // thread's are deleted likewise when that thread finishes (create()).
    static void deleteReleasedConnections();
    bool isClosed() const { return m_state == State::Closed; }

Q_SIGNALS:
    void closed();

protected:
    bool event(QEvent *event) override;
    void timerEvent(QTimerEvent *event) override;

private:
    enum class State { Connecting, AwaitingHello, AwaitingWelcome, Connected, Closing, Closed };

    Connection(Role role, std::unique_ptr<StreamSocket> socket, const Settings &settings, const QUrl &peerAddress,
               const ChannelOptions &streamOptions);
    void shutdown();

    void onSocketConnected();
    void onSocketDisconnected();
    void onReadyRead();
    void onBytesWritten();

    void handleFrame(Wire::Frame &frame);
    void handleHello(const Wire::Frame &frame);
    void handleWelcome(const Wire::Frame &frame);
    void handleOpen(const Wire::Frame &frame);
    void handleMessage(Wire::Frame &frame);
    // Hands what onReadyRead() brought in to the receivers' queues.
    void deliverArrivals();
    void handleClose(const Wire::Frame &frame);
    void handleCredit(const Wire::Frame &frame);
    void handleError(const Wire::Frame &frame);
    void handleGoodbye();
    ConnectionStream *streamFor(const Wire::Frame &frame);

    ConnectionStream &addStream(quint32 id, const ChannelOptions &options, ChannelPair &pair);
    void becomeConnected();
    void service();
    void credit(ConnectionStream &stream, qint64 bytes);
    void writeStreams();
    enum class Progress { Done, Blocked, More };
    Progress writeStream(ConnectionStream &stream);
    void appendMessage(ConnectionStream &stream, const Envelope &envelope);
    qint64 roomBeforeHighWater() const;
    bool backlogged() const;
    // Hands the batch to the socket and, once per pass of writeStreams() on
    // a socket that had nothing queued, pushes it to the system at once.
    void flush();
    void handOver();
    void pushIfIdle();
    void retireIfDone(ConnectionStream &stream);
    void finishShutdownIfDrained();
    // Deletes this object once the socket has flushed and closed (or at the
    // close timeout): deleting earlier would abort the socket and lose the
    // last frames.
    void deleteWhenSocketClosed();

    void failProtocol(Wire::WireError code, const QString &text);
    void closeWithError(Error error, const QString &text, Wire::WireError sendCode = Wire::WireError::None);

    const Role m_role;
    const Settings m_settings;
    QUrl m_peerAddress; // on a server, with the client's proved name (HELLO "client") as its user
    const ChannelOptions m_streamOptions;
    std::unique_ptr<StreamSocket> m_socket;
    State m_state;
    Wire::DeviceSource m_source; // reads ahead: one for the connection's life
    Wire::FrameDecoder m_decoder;
    QByteArray m_writeBuffer;
    bool m_pushWhenHandedOver = false; // in writeStreams(), see flush()
    bool m_flushing = false; // pushing: the socket's bytesWritten() is nested

    quint32 m_peerMaxFrame = Wire::minimumMaxFrame;
    quint32 m_peerWindow = 0;
    quint32 m_lastPeerStream = 0;
    quint32 m_nextOwnStream;
    std::map<quint32, std::unique_ptr<ConnectionStream>> m_streams;
    std::set<quint32> m_writable;
    std::vector<quint32> m_arrivals; // streams with messages that arrive()d this read
    std::function<void(ChannelPair)> m_acceptor;

    // Filled by scheduleService() from any thread.
    std::mutex m_scheduleMutex;
    std::set<quint32> m_scheduled;
    bool m_servicePosted = false;
    bool m_servicedInTurn = false; // serviceNowIfFirstInTurn() ran since the last service event
    int m_handlerDepth = 0;        // inside one of this object's handlers

    QBasicTimer m_deadlineTimer; // handshake, then the graceful close
    QBasicTimer m_heartbeatTimer;
    QBasicTimer m_progressTimer; // runs while a frame is partly here
    QElapsedTimer m_lastReceived;
    QElapsedTimer m_lastSent;
    bool m_peerSaidGoodbye = false;
    bool m_prefaceSent = false;
    bool m_socketDone = false; // closed, aborted or failed: nothing left to flush
    bool m_ownersGone = false;
    std::atomic<bool> m_released{false}; // the last owner let go (any thread)
};

} // namespace Qonduit

#endif // QONDUIT_CONNECTION_P_H
