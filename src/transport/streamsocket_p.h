#ifndef QONDUIT_STREAMSOCKET_P_H
#define QONDUIT_STREAMSOCKET_P_H

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qelapsedtimer.h>
#include <QtCore/qobject.h>
#include <QtCore/qtimer.h>
#include <QtCore/qurl.h>

#include <chrono>

QT_BEGIN_NAMESPACE
class QIODevice;
QT_END_NAMESPACE

namespace Qonduit {

// One byte stream of a socket transport (local:, tcp://, tls://), connected or
// connecting. Made by Transports::connectTo() or handed out, already
// connected, by StreamListener::incoming(). Lives in one thread and is used
// only there.
//
// Life: Connecting -> Connected -> closed, or Connecting -> closed.
//   - connected() once, when a connect attempt succeeds (tls://: when the
//     TLS handshake did); never for a socket from a listener (it is
//     connected from the start).
//   - failed(error, text) at most once, when a connect attempt fails or the
//     connection breaks; the text names the endpoint and says what to do.
//     RemoteClosedError means the peer closed or reset the stream: the
//     transport cannot tell an orderly close from a crash, the protocol above
//     (GOODBYE) can.
//   - disconnected() exactly once when the socket is over for any reason,
//     after failed() when there was one, and also after a failed connect
//     attempt: it is the one "clean up now" signal. Not emitted after abort()
//     or destruction.
//   - failed() and disconnected() are always delivered from the event loop,
//     never from inside a call on this object, so a slot may delete the
//     socket (delete, deleteLater or unique_ptr reset all work). connected()
//     too comes from the event loop, never from inside connectTo().
//   - Nothing is emitted after abort() or after destruction, by this object
//     or by device().
//
// Bytes: read and write device(); its readyRead() and bytesWritten() are the
// data signals. A readyRead() carries any number of bytes: the framing above
// must not assume one read is one frame. Bytes already received stay readable
// in device() after disconnected() (Qt keeps the read buffer), unless our own
// disconnectFromPeer() came first: from then on input is dropped.
class StreamSocket : public QObject
{
    Q_OBJECT

public:
    static constexpr std::chrono::milliseconds defaultConnectTimeout{10000};
    static constexpr std::chrono::milliseconds lingerTimeout{2000};
    // sendQueueBytes() unless a transport knows better: beyond the peer's
    // window (4 MiB at most) more queued bytes only cost memory (D44).
    static constexpr qint64 defaultSendQueueBytes = qint64(8) * 1024 * 1024;

    ~StreamSocket() override;

    virtual QIODevice *device() const = 0;
    // tcp: the endpoint as dialled (tcp://example.com:7000) on a connecting
    //      socket; the peer's address (tcp://127.0.0.1:53122, tcp://[::1]:53122)
    //      on one from a listener. IPv4 peers of a dual-stack server show as
    //      IPv4, not as ::ffff:a.b.c.d.
    // tls: as tcp, with the scheme tls.
    // local: local:NAME of the server on both sides (a Unix-domain client has
    //      no name of its own).
    virtual QUrl peerAddress() const = 0;
    // True between connected() (or the hand-out by a listener) and the first
    // of disconnectFromPeer(), abort() or the end of the connection.
    bool isConnected() const { return m_phase == Phase::Connected; }
    // Writes what is queued, then closes; disconnected() follows. While still
    // connecting it gives the attempt up: disconnected() follows, no failed().
    // A peer that never reads keeps the socket closing: abort() ends that.
    // Where the transport allows it the close lingers: once the queued bytes
    // are written only the sending side is shut, and what the peer still
    // sends is read and dropped until it closes too (or lingerTimeout
    // passes). Closing with unread input would reset the connection, and a
    // reset can destroy the last frames (an ERROR) before the peer reads
    // them. A peer closing during the close is no failure: only
    // disconnected() follows.
    void disconnectFromPeer();
    // Closes now and drops queued bytes; no signal follows.
    void abort();
    // Bytes device() buffers before it stops reading from the socket (0 =
    // unlimited, the default): the kernel's window then slows the peer down.
    virtual void setReadBufferSize(qint64 bytes) = 0;
    // The most bytes a stream's send queue holds in front of this socket
    // (ChannelOptions::capacityBytes when smaller), decision D56. A deeper
    // queue only holds payloads longer before they are written, out of the
    // cache by then; a shallower one on a socket whose kernel buffer takes a
    // whole large message at once lets every queued payload be freed before
    // the sender refills, and glibc trims and refaults the heap each time.
    virtual qint64 sendQueueBytes() const;
    // Hands what device() buffered to the system now, as much as it takes,
    // instead of at the event loop's next write notification. May emit
    // device()->bytesWritten() before it returns.
    virtual void flush() = 0;

    // A connect attempt that neither succeeds nor fails within this time fails
    // with TimeoutError. Counted from connectTo(); setting it while connecting
    // moves the deadline. Default defaultConnectTimeout; 0 or less: no
    // deadline of ours (the system's own, minutes for TCP, still applies).
    void setConnectTimeout(std::chrono::milliseconds timeout);
    std::chrono::milliseconds connectTimeout() const;

    // A socket from a listener, once connected: empty when the client has
    // proved that name is its own (tls:// with client certificates: its
    // certificate's subjectAltName carries the name); otherwise why not, for a
    // person, to follow "Refused the client URL: ". By default no transport
    // can prove a name.
    virtual QString checkClientName(const QString &name) const;

Q_SIGNALS:
    void connected();
    void disconnected();
    void failed(Qonduit::Error error, const QString &text);

protected:
    enum class Phase { Connecting, Connected, Closing, Closed };

    explicit StreamSocket(QObject *parent);

    Phase phase() const { return m_phase; }
    // For a connecting socket: runs startConnecting() from the event loop and
    // starts the connect deadline.
    void connectLater();
    // The connect attempt succeeded: emits connected() now.
    void reportConnected();
    // Queues failed(); later calls and calls after reportClosed() are ignored.
    void reportFailure(Error error, const QString &text);
    // Queues disconnected() once; the socket is Closed.
    void reportClosed();
    // Queues a check that the device closed after an error; closes it if not,
    // so that disconnected() always follows failed().
    void closeAfterError();
    // A socket error, whatever the transport: a failed connect ends at once,
    // an error on an open connection closes it from the event loop.
    void failWith(Error error, const QString &text);
    // abort(): nothing is emitted any more.
    void silence();
    bool isSilenced() const { return m_silenced; }

    // Starts the device's connect; called once, from the event loop.
    virtual void startConnecting() = 0;
    // Closes the device at once without a signal reaching this object.
    virtual void abortDevice() = 0;
    // disconnectFromPeer() of a connected socket: writes what is queued, then
    // closes the device, which reports the close as usual. May report it at
    // once; disconnected() is queued regardless.
    virtual void closeDevice() = 0;
    // Whether the device is still open (connecting, connected or closing).
    virtual bool isDeviceOpen() const = 0;
    // The socket whose sending side disconnectFromPeer() may shut on its
    // own; -1 (the default) when the transport must close as a whole.
    virtual qintptr halfClosableDescriptor() const;

private:
    void startConnectTimer();
    void onConnectDeadline();
    void startLingering();
    void shutSendingSideWhenWritten();
    void dropInputWhileClosing();
    void onLingerDeadline();

    Phase m_phase = Phase::Connected;
    bool m_silenced = false;
    bool m_failureReported = false;
    std::chrono::milliseconds m_connectTimeout = defaultConnectTimeout;
    QElapsedTimer m_connectClock;
    QTimer m_connectTimer;
    QTimer m_lingerTimer;
    bool m_sendingShut = false;
};

} // namespace Qonduit

#endif // QONDUIT_STREAMSOCKET_P_H
