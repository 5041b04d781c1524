#include "connection/connection_p.h"

#include "channel/channelendpoint_p.h"
#include "channel/channelfactory_p.h"
#include "connection/channellink_p.h"
#include "global/qonduitlogging_p.h"
#include "global/turnevents_p.h"
#include "transport/streamsocket_p.h"
#include "wire/messagecodec_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qendian.h>
#include <QtCore/qiodevice.h>
#include <QtCore/qscopedvaluerollback.h>
#include <QtCore/qthread.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace Qonduit {

namespace {

constexpr quint32 protocolVersion = 1;
constexpr qint64 maxWindow = std::numeric_limits<qint32>::max();
// Below this much unsent data the socket is fed more; above it, producers
// wait in their mailboxes (whose policy then applies).
constexpr qint64 writeHighWater = 1024 * 1024;
// Payloads this large go to the socket as they are instead of being copied
// into the batch buffer first.
constexpr qint64 directWriteThreshold = 64 * 1024;
// A batch this large goes to the socket before more is added: big enough to
// cost one system call for hundreds of small frames, small enough to stay in
// the cache.
constexpr qsizetype batchSize = 64 * 1024;
// QIODevice::write() keeps a reference to a QByteArray this large (Qt's
// QRINGBUFFER_CHUNKSIZE) instead of copying it.
constexpr qsizetype qtWriteChunkSize = 4096;

constexpr int messagesPerStreamPerPass = 256;
// What Qt may buffer from the kernel before we read it; we drain it on every
// readyRead, so this only caps a burst.
constexpr qint64 socketReadBuffer = 4 * 1024 * 1024;

// Every connection of the process, so that those whose owners let go can be
// deleted when the application object goes: the event loop that would have
// finished their goodbye is gone by then, and without this they (with their
// sockets and buffers) would outlive it as leaks.
struct ConnectionRegistry
{
    std::mutex mutex;
    std::set<Connection *> connections;
};

ConnectionRegistry &registry()
{
    static ConnectionRegistry instance;
    return instance;
}

QEvent::Type serviceEventType()
{
    static const auto type = QEvent::Type(QEvent::registerEventType());
    return type;
}

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::Connection", text);
}

Error errorFromWire(Wire::WireError code)
{
    switch (code) {
    case Wire::WireError::VersionMismatch:
        return Error::VersionMismatchError;
    case Wire::WireError::Timeout:
        return Error::TimeoutError;
    case Wire::WireError::Refused:
        return Error::ConnectionRefusedError;
    case Wire::WireError::FrameTooLarge:
        return Error::MessageTooLargeError;
    default:
        return Error::ProtocolError;
    }
}

// A DATA frame's message, or the error that it is not one.
Envelope decodeEnvelope(const Wire::Frame &frame)
{
    QVariant message;
    QString text;
    if (Wire::decodeMessage(frame.flags, frame.payload, message, text))
        return Envelope::typed(std::move(message));
    return Envelope::error(Error::MessageDecodeError, text);
}

} // namespace

Connection::Settings Connection::Settings::from(const ChannelOptions &options)
{
    Settings settings;
    // The receiving queue bounds the window, and the window bounds what one
    // stream may park here when the receiver is slow.
    settings.window = quint32(std::clamp<qint64>(options.capacityBytes, 1, Wire::defaultMaxWindow));
    settings.maxFrame = quint32(std::clamp<qint64>(options.maxMessageSize, Wire::minimumMaxFrame, maxWindow));
    settings.handshakeTimeoutMs = std::max(1, options.handshakeTimeoutMs);
    settings.heartbeatIntervalMs = std::max(0, options.heartbeatIntervalMs);
    settings.progressTimeoutMs = std::max(1, options.messageProgressTimeoutMs);
    return settings;
}

std::shared_ptr<Connection> Connection::create(Role role, std::unique_ptr<StreamSocket> socket,
                                               const Settings &settings, const QUrl &peerAddress,
                                               const ChannelOptions &streamOptions)
{
    auto *connection = new Connection(role, std::move(socket), settings, peerAddress, streamOptions);
    {
        static const bool cleanupAdded = [] {
            qAddPostRoutine(&Connection::deleteReleasedConnections);
            return true;
        }();
        Q_UNUSED(cleanupAdded);
        const std::lock_guard lock(registry().mutex);
        registry().connections.insert(connection);
    }
    // A worker thread's loop may end while the connection still says
    // goodbye; finished() is the last moment it can go (in its own thread).
    // The main thread's are deleted with the application object instead.
    QThread *own = connection->thread();
    if (const QCoreApplication *app = QCoreApplication::instance(); app && own != app->thread()) {
        QObject::connect(
                own, &QThread::finished, connection,
                [connection] {
                    if (connection->m_released.load())
                        delete connection;
                },
                Qt::DirectConnection);
    }
    // The last owner may let go on any thread; the goodbye happens on the
    // connection's own.
    return std::shared_ptr<Connection>(connection, [](Connection *c) {
        c->m_released.store(true);
        if (QThread::currentThread() == c->thread())
            c->shutdown();
        else
            QMetaObject::invokeMethod(c, &Connection::shutdown, Qt::QueuedConnection);
    });
}

Connection::Connection(Role role, std::unique_ptr<StreamSocket> socket, const Settings &settings,
                       const QUrl &peerAddress, const ChannelOptions &streamOptions)
    : m_role(role)
    , m_settings(settings)
    , m_peerAddress(peerAddress)
    , m_streamOptions(streamOptions)
    , m_socket(std::move(socket))
    , m_state(role == Role::Client ? State::Connecting : State::AwaitingHello)
    , m_source(*m_socket->device())
    , m_decoder(settings.maxFrame, true)
    , m_nextOwnStream(role == Role::Client ? 1 : 2)
{
    m_socket->setParent(this);
    m_socket->setReadBufferSize(socketReadBuffer);
    QIODevice *device = m_socket->device();
    connect(m_socket.get(), &StreamSocket::connected, this, &Connection::onSocketConnected);
    connect(m_socket.get(), &StreamSocket::disconnected, this, &Connection::onSocketDisconnected);
    connect(m_socket.get(), &StreamSocket::failed, this, [this](Error error, const QString &text) {
        // The transport calls any close by the peer a failure; after the
        // peer's GOODBYE, or during our own, it is the expected end. Before
        // the socket connected (a close during the TLS handshake), the
        // transport's text says more.
        if (error == Error::RemoteClosedError && m_state != State::Connecting) {
            onSocketDisconnected();
        } else {
            m_socketDone = true;
            closeWithError(error, text);
        }
    });
    connect(device, &QIODevice::readyRead, this, &Connection::onReadyRead);
    connect(device, &QIODevice::bytesWritten, this, &Connection::onBytesWritten);
    m_lastReceived.start();
    m_lastSent.start();
    if (role == Role::Server) {
        m_deadlineTimer.start(m_settings.handshakeTimeoutMs, this);
        // Bytes may have arrived before this object was listening.
        if (device->bytesAvailable() > 0)
            QMetaObject::invokeMethod(this, &Connection::onReadyRead, Qt::QueuedConnection);
    }
}

Connection::~Connection()
{
    {
        const std::lock_guard lock(registry().mutex);
        registry().connections.erase(this);
    }
    // Streams detach from their mailboxes before anything they point to goes.
    m_streams.clear();
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

void Connection::deleteReleasedConnections()
{
    std::vector<Connection *> doomed;
    {
        const std::lock_guard lock(registry().mutex);
        for (Connection *connection : registry().connections) {
            if (connection->m_released.load() && connection->thread() == QThread::currentThread())
                doomed.push_back(connection);
        }
    }
    // Each destructor takes the registry's lock itself.
    for (Connection *connection : doomed)
        delete connection;
}

ChannelPair Connection::openStream()
{
    ChannelPair pair;
    const quint32 id = m_nextOwnStream;
    m_nextOwnStream += 2;
    ConnectionStream &stream = addStream(id, m_streamOptions, pair);
    if (m_state == State::Connected) {
        Wire::appendFrame(m_writeBuffer, Wire::FrameType::Open, 0, id, {});
        stream.sendWindow = m_peerWindow;
        flush();
    } else if (m_state == State::Closed) {
        stream.endIncoming(Error::ChannelClosedError, tr("The connection to %1 is closed.").arg(m_peerAddress.toString()));
        stream.endOutgoing();
    }
    return pair;
}

void Connection::setStreamAcceptor(std::function<void(ChannelPair)> acceptor)
{
    m_acceptor = std::move(acceptor);
}

ConnectionStream &Connection::addStream(quint32 id, const ChannelOptions &options, ChannelPair &pair)
{
    ChannelOptions sendQueue = options;
    sendQueue.capacityBytes = std::min(options.capacityBytes, m_socket->sendQueueBytes());
    auto outgoing = ChannelFactory::makeMailbox(sendQueue);
    auto incoming = ChannelFactory::makeMailbox(options);
    // Until WELCOME says otherwise, assume the peer takes the default frame.
    const bool connected = m_state == State::Connected;
    auto link = std::make_shared<ChannelLink>(shared_from_this(), connected ? m_peerMaxFrame : Wire::defaultMaxFrame,
                                              connected ? ChannelState::ConnectedState : ChannelState::ConnectingState);
    const auto delivery = m_role == Role::Server ? ChannelFactory::Delivery::WhenHandedOut
                                                 : ChannelFactory::Delivery::Now;
    pair = ChannelFactory::makeSide(outgoing, incoming, options, m_peerAddress, delivery, link);
    auto stream = std::make_unique<ConnectionStream>(*this, id, std::move(outgoing), std::move(incoming), 0);
    stream->link = link;
    stream->receiveBudget = m_settings.window;
    ConnectionStream &ref = *stream;
    m_streams.emplace(id, std::move(stream));
    return ref;
}

void Connection::scheduleService(quint32 streamId)
{
    std::lock_guard lock(m_scheduleMutex);
    m_scheduled.insert(streamId);
    if (std::exchange(m_servicePosted, true))
        return;
    TurnEvents::post(this, serviceEventType());
}

bool Connection::event(QEvent *event)
{
    if (event->type() != serviceEventType())
        return QObject::event(event);
    const QScopedValueRollback<int> inHandler(m_handlerDepth, m_handlerDepth + 1);
    m_servicedInTurn = false;
    service();
    return true;
}

void Connection::serviceNowIfFirstInTurn()
{
    if (m_servicedInTurn || m_handlerDepth > 0 || QThread::currentThread() != thread())
        return;
    const QScopedValueRollback<int> inHandler(m_handlerDepth, m_handlerDepth + 1);
    m_servicedInTurn = true;
    service();
}

void Connection::timerEvent(QTimerEvent *event)
{
    const QScopedValueRollback<int> inHandler(m_handlerDepth, m_handlerDepth + 1);
    if (event->timerId() == m_deadlineTimer.timerId()) {
        m_deadlineTimer.stop();
        if (m_state == State::Closed) { // the socket never finished flushing
            m_socket->abort();
            m_socketDone = true;
            deleteLater();
            return;
        }
        if (m_state == State::Closing) {
            closeWithError(Error::TimeoutError,
                           tr("%1 did not take the last messages within %2 ms; the connection was cut.")
                               .arg(m_peerAddress.toString())
                               .arg(m_settings.closeTimeoutMs));
        } else {
            closeWithError(Error::TimeoutError,
                           tr("%1 did not complete the handshake within %2 ms.")
                               .arg(m_peerAddress.toString())
                               .arg(m_settings.handshakeTimeoutMs),
                           Wire::WireError::Timeout);
        }
        return;
    }
    if (event->timerId() == m_progressTimer.timerId()) {
        m_progressTimer.stop();
        closeWithError(Error::TimeoutError,
                       tr("%1 started a message and did not finish it within %2 ms; the connection was cut.")
                           .arg(m_peerAddress.toString())
                           .arg(m_settings.progressTimeoutMs),
                       Wire::WireError::Timeout);
        return;
    }
    if (event->timerId() == m_heartbeatTimer.timerId()) {
        const qint64 interval = m_settings.heartbeatIntervalMs;
        if (m_lastReceived.elapsed() > 3 * interval) {
            closeWithError(Error::TimeoutError,
                           tr("No sign of life from %1 for %2 ms: the connection is considered dead.")
                               .arg(m_peerAddress.toString())
                               .arg(m_lastReceived.elapsed()),
                           Wire::WireError::Timeout);
        } else if (m_lastSent.elapsed() >= interval) {
            const quint64 stamp = quint64(m_lastReceived.msecsSinceReference());
            char payload[8];
            qToBigEndian(stamp, payload);
            Wire::appendFrame(m_writeBuffer, Wire::FrameType::Ping, 0, 0, QByteArrayView(payload, 8));
            flush();
        }
        return;
    }
    QObject::timerEvent(event);
}

void Connection::shutdown()
{
    const QScopedValueRollback<int> inHandler(m_handlerDepth, m_handlerDepth + 1);
    m_ownersGone = true;
    m_acceptor = nullptr;
    switch (m_state) {
    case State::Connected:
        m_state = State::Closing;
        m_deadlineTimer.start(m_settings.closeTimeoutMs, this);
        for (auto &entry : m_streams)
            m_writable.insert(entry.first);
        writeStreams();
        break;
    case State::Closing:
        break;
    case State::Closed:
        deleteWhenSocketClosed();
        break;
    default: // never admitted: nothing to say goodbye to
        closeWithError(Error::NoError, {});
        break;
    }
}

void Connection::onSocketConnected()
{
    const QScopedValueRollback<int> inHandler(m_handlerDepth, m_handlerDepth + 1);
    if (m_state != State::Connecting)
        return;
    m_state = State::AwaitingWelcome;
    m_deadlineTimer.start(m_settings.handshakeTimeoutMs, this);
    Wire::Hello hello;
    hello.versions = {protocolVersion};
    hello.maxFrame = m_settings.maxFrame;
    hello.window = m_settings.window;
    hello.heartbeatMs = quint32(m_settings.heartbeatIntervalMs);
    m_writeBuffer.append(Wire::preface());
    m_prefaceSent = true;
    // TlsOptions are for tls:// only; there the claim travels encrypted.
    if (m_peerAddress.scheme() == u"tls")
        hello.client = m_streamOptions.tls.clientName;
    Wire::appendFrame(m_writeBuffer, Wire::FrameType::Hello, 0, 0, Wire::encodeHello(hello, Wire::FrameType::Hello));
    flush();
}

void Connection::onSocketDisconnected()
{
    const QScopedValueRollback<int> inHandler(m_handlerDepth, m_handlerDepth + 1);
    m_socketDone = true;
    if (m_state == State::Closed) {
        if (m_ownersGone)
            deleteLater();
        return;
    }
    // The socket may report the close before the last frames were read
    // (among them, perhaps, the peer's CLOSE and GOODBYE).
    onReadyRead();
    if (m_state == State::Closed)
        return;
    // With no stream open, nothing was cut short: a client that closed its
    // channels and exited before its GOODBYE left the socket.
    if (m_peerSaidGoodbye || m_state == State::Closing || m_streams.empty())
        closeWithError(Error::NoError, {});
    else
        closeWithError(Error::RemoteClosedError,
                       tr("%1 closed the connection without closing the channel.").arg(m_peerAddress.toString()));
}

void Connection::onReadyRead()
{
    const QScopedValueRollback<int> inHandler(m_handlerDepth, m_handlerDepth + 1);
    if (!m_socket->device()->isOpen())
        return; // a reset: nothing buffered is readable any more
    // Any byte is a sign of life: a peer in the middle of a long frame (a
    // large message on a slow link) cannot send PING or PONG until it ends,
    // and the progress timeout bounds that frame already.
    if (m_socket->device()->bytesAvailable() > 0)
        m_lastReceived.restart();
    Wire::Frame frame;
    bool completedAny = false;
    while (m_state != State::Closed) {
        const auto status = m_decoder.next(m_source, frame);
        if (status == Wire::FrameDecoder::Status::NeedMore)
            break;
        if (status == Wire::FrameDecoder::Status::Error) {
            if (!m_decoder.prefaceSeen()) {
                // Not our protocol: answer nothing (docs/protocol.md 2).
                closeWithError(Error::ProtocolError,
                               tr("%1 does not speak the Qonduit protocol: %2")
                                   .arg(m_peerAddress.toString(), m_decoder.errorString()));
            } else {
                failProtocol(m_decoder.error(), m_decoder.errorString());
            }
            return;
        }
        completedAny = true;
        handleFrame(frame);
    }
    deliverArrivals();
    if (m_state == State::Closed)
        return;
    // Each frame gets the whole progress timeout from when it began.
    if (m_decoder.partialBytes() == 0)
        m_progressTimer.stop();
    else if (completedAny || !m_progressTimer.isActive())
        m_progressTimer.start(m_settings.progressTimeoutMs, this);
    writeStreams();
}

void Connection::onBytesWritten()
{
    const QScopedValueRollback<int> inHandler(m_handlerDepth, m_handlerDepth + 1);
    if (m_flushing)
        return; // the writer that flushed goes on by itself
    if (!m_writable.empty() && !backlogged())
        writeStreams();
    if (m_state == State::Closing)
        finishShutdownIfDrained();
}

void Connection::handleFrame(Wire::Frame &frame)
{
    using Wire::FrameType;
    if (m_state == State::AwaitingHello) {
        if (frame.type != FrameType::Hello)
            return failProtocol(Wire::WireError::ProtocolError, tr("The first frame must be HELLO."));
        return handleHello(frame);
    }
    if (m_state == State::AwaitingWelcome) {
        if (frame.type == FrameType::Error)
            return handleError(frame);
        if (frame.type != FrameType::Welcome)
            return failProtocol(Wire::WireError::ProtocolError, tr("The server's first frame must be WELCOME."));
        return handleWelcome(frame);
    }
    switch (frame.type) {
    case FrameType::Hello:
    case FrameType::Welcome:
        return failProtocol(Wire::WireError::ProtocolError, tr("A second HELLO or WELCOME."));
    case FrameType::Open:
        return handleOpen(frame);
    case FrameType::Data:
    case FrameType::Raw:
        return handleMessage(frame);
    case FrameType::Close:
        return handleClose(frame);
    case FrameType::Credit:
        return handleCredit(frame);
    case FrameType::Ping:
        // A peer that floods PINGs and reads nothing must not fill our memory
        // with PONGs; one that reads nothing needs no proof of life either.
        if (!backlogged())
            Wire::appendFrame(m_writeBuffer, FrameType::Pong, 0, 0, frame.payload);
        return;
    case FrameType::Pong:
        return;
    case FrameType::Error:
        return handleError(frame);
    case FrameType::Goodbye:
        return handleGoodbye();
    }
}

void Connection::handleHello(const Wire::Frame &frame)
{
    Wire::Hello hello;
    QString text;
    if (!Wire::decodeHello(frame.payload, Wire::FrameType::Hello, hello, text))
        return failProtocol(Wire::WireError::ProtocolError, text);
    if (!hello.versions.contains(protocolVersion)) {
        QStringList offered;
        for (quint32 version : std::as_const(hello.versions))
            offered.append(QString::number(version));
        m_writeBuffer.append(Wire::preface());
        m_prefaceSent = true;
        const QString reason = tr("The client speaks protocol versions %1; this server speaks %2.")
                                   .arg(offered.join(u", "))
                                   .arg(protocolVersion);
        Wire::appendFrame(m_writeBuffer, Wire::FrameType::Error, 0, 0,
                          Wire::encodeError(Wire::WireError::VersionMismatch, reason));
        return closeWithError(Error::VersionMismatchError, reason, Wire::WireError::None);
    }
    if (const QString &name = hello.client; !name.isEmpty()) {
        const QString problem = m_socket->checkClientName(name);
        if (!problem.isEmpty()) {
            return closeWithError(Error::AuthenticationError,
                                  tr("Refused the client %1: %2.").arg(m_peerAddress.toString(), problem),
                                  Wire::WireError::Refused);
        }
        // Every channel of this client carries its proved name.
        m_peerAddress.setUserName(name, QUrl::DecodedMode);
    }
    m_peerMaxFrame = hello.maxFrame;
    m_peerWindow = quint32(std::min<qint64>(hello.window, maxWindow));
    Wire::Hello welcome;
    welcome.version = protocolVersion;
    welcome.maxFrame = m_settings.maxFrame;
    welcome.window = m_settings.window;
    welcome.heartbeatMs = quint32(m_settings.heartbeatIntervalMs);
    m_writeBuffer.append(Wire::preface());
    m_prefaceSent = true;
    Wire::appendFrame(m_writeBuffer, Wire::FrameType::Welcome, 0, 0,
                      Wire::encodeHello(welcome, Wire::FrameType::Welcome));
    becomeConnected();
}

void Connection::handleWelcome(const Wire::Frame &frame)
{
    Wire::Hello welcome;
    QString text;
    if (!Wire::decodeHello(frame.payload, Wire::FrameType::Welcome, welcome, text))
        return failProtocol(Wire::WireError::ProtocolError, text);
    if (welcome.version != protocolVersion)
        return failProtocol(Wire::WireError::VersionMismatch,
                            tr("The server chose protocol version %1, which was not offered.").arg(welcome.version));
    m_peerMaxFrame = welcome.maxFrame;
    m_peerWindow = quint32(std::min<qint64>(welcome.window, maxWindow));
    for (auto &[id, stream] : m_streams) {
        Wire::appendFrame(m_writeBuffer, Wire::FrameType::Open, 0, id, {});
        stream->sendWindow = m_peerWindow;
    }
    becomeConnected();
}

void Connection::becomeConnected()
{
    m_state = State::Connected;
    m_deadlineTimer.stop();
    if (m_settings.heartbeatIntervalMs > 0)
        m_heartbeatTimer.start(m_settings.heartbeatIntervalMs, this);
    for (auto &[id, stream] : m_streams) {
        if (auto link = stream->link.lock()) {
            link->setPeerMaxFrame(m_peerMaxFrame);
            link->notifyConnected();
        }
        m_writable.insert(id);
    }
    qCDebug(lcQonduitConnection) << "connected to" << m_peerAddress;
}

ConnectionStream *Connection::streamFor(const Wire::Frame &frame)
{
    const auto it = m_streams.find(frame.stream);
    if (it == m_streams.end()) {
        failProtocol(Wire::WireError::ProtocolError, tr("A frame for stream %1, which is not open.").arg(frame.stream));
        return nullptr;
    }
    return it->second.get();
}

void Connection::handleOpen(const Wire::Frame &frame)
{
    const bool peerParity = (frame.stream % 2 == 1) == (m_role == Role::Server);
    if (!peerParity || frame.stream <= m_lastPeerStream)
        return failProtocol(Wire::WireError::ProtocolError,
                            tr("The peer may not open stream %1 now.").arg(frame.stream));
    if (!Wire::isValidOpenPayload(frame.payload))
        return failProtocol(Wire::WireError::ProtocolError,
                            tr("The OPEN of stream %1 carries a payload that is not a CBOR map with a text "
                               "\"name\".").arg(frame.stream));
    m_lastPeerStream = frame.stream;
    const auto refuse = [&](Wire::WireError code, const QString &text) {
        Wire::appendFrame(m_writeBuffer, Wire::FrameType::Error, 0, frame.stream, Wire::encodeError(code, text));
    };
    if (!m_acceptor || m_state != State::Connected)
        return refuse(Wire::WireError::Refused, tr("Nobody accepts channels here."));
    if (qsizetype(m_streams.size()) >= m_settings.maxStreams)
        return refuse(Wire::WireError::StreamLimit,
                      tr("At most %1 streams may be open on one connection.").arg(m_settings.maxStreams));
    ChannelPair pair;
    ConnectionStream &stream = addStream(frame.stream, m_streamOptions, pair);
    stream.sendWindow = m_peerWindow;
    m_acceptor(std::move(pair));
}

void Connection::handleMessage(Wire::Frame &frame)
{
    ConnectionStream *stream = streamFor(frame);
    if (!stream)
        return;
    if (stream->incomingEnded)
        return failProtocol(Wire::WireError::ProtocolError,
                            tr("A message on stream %1 after its CLOSE.").arg(frame.stream));
    if (stream->receiveBudget <= 0)
        return failProtocol(Wire::WireError::FlowControlError,
                            tr("The peer sent on stream %1 beyond the credit it was given.").arg(frame.stream));
    const qint64 bytes = frame.payload.size() + Wire::windowChargePerMessage;
    stream->receiveBudget -= bytes;
    // Made where it stays until arrive() moves it into the stream: each move
    // of an envelope just written reloads it in wider loads than it was
    // stored with, and a default-constructed envelope assigned the message
    // took two (a store-forwarding stall that made this function the top of
    // a 64-byte flood's receiving profile).
    Envelope envelope = frame.type == Wire::FrameType::Raw ? Envelope::rawBytes(frame.payload) : decodeEnvelope(frame);
    envelope.bytes = bytes;
    frame.payload = QByteArray();
    stream->arrive(std::move(envelope));
    if (!std::exchange(stream->arrivals, true))
        m_arrivals.push_back(stream->id);
}

void Connection::deliverArrivals()
{
    for (const quint32 id : std::exchange(m_arrivals, {})) {
        const auto it = m_streams.find(id);
        if (it == m_streams.end())
            continue; // retired: its CLOSE delivered what had arrived
        ConnectionStream &stream = *it->second;
        stream.arrivals = false;
        credit(stream, stream.deliverParked());
    }
}

void Connection::handleClose(const Wire::Frame &frame)
{
    ConnectionStream *stream = streamFor(frame);
    if (!stream)
        return;
    if (stream->incomingEnded)
        return failProtocol(Wire::WireError::ProtocolError, tr("A second CLOSE on stream %1.").arg(frame.stream));
    stream->endIncoming();
    retireIfDone(*stream);
}

void Connection::handleCredit(const Wire::Frame &frame)
{
    ConnectionStream *stream = streamFor(frame);
    if (!stream)
        return;
    quint32 increment = 0;
    if (!Wire::decodeCredit(frame.payload, increment))
        return failProtocol(Wire::WireError::ProtocolError, tr("A CREDIT frame that is not 1 to 2^31-1."));
    stream->sendWindow += increment;
    if (stream->sendWindow > maxWindow)
        return failProtocol(Wire::WireError::FlowControlError,
                            tr("CREDIT took the window of stream %1 past 2^31-1.").arg(frame.stream));
    m_writable.insert(frame.stream);
}

void Connection::handleError(const Wire::Frame &frame)
{
    Wire::WireError code = Wire::WireError::None;
    QString text;
    if (!Wire::decodeError(frame.payload, code, text))
        return failProtocol(Wire::WireError::ProtocolError, tr("An ERROR frame that does not decode."));
    const QString reason = tr("%1 reported: %2").arg(m_peerAddress.toString(), text);
    // A connection the peer refuses to admit: it could not authenticate us.
    if (frame.stream == 0 && code == Wire::WireError::Refused)
        return closeWithError(Error::AuthenticationError, reason);
    if (frame.stream == 0)
        return closeWithError(errorFromWire(code), reason);
    const auto it = m_streams.find(frame.stream);
    if (it == m_streams.end())
        return;
    ConnectionStream &stream = *it->second;
    stream.endIncoming(errorFromWire(code), reason);
    stream.endOutgoing();
    stream.outgoingFinished = true;
    if (auto link = stream.link.lock())
        link->notifyDisconnected(errorFromWire(code), reason);
    retireIfDone(stream);
}

void Connection::handleGoodbye()
{
    m_peerSaidGoodbye = true;
    for (auto &entry : m_streams)
        entry.second->endIncoming();
    // The peer reads nothing more: what is still queued here goes nowhere.
    closeWithError(Error::NoError, {});
}

void Connection::service()
{
    std::set<quint32> scheduled;
    {
        std::lock_guard lock(m_scheduleMutex);
        scheduled.swap(m_scheduled);
        m_servicePosted = false;
    }
    if (m_state == State::Closed)
        return;
    for (quint32 id : scheduled) {
        const auto it = m_streams.find(id);
        if (it == m_streams.end())
            continue;
        ConnectionStream &stream = *it->second;
        // Room in the receiver's queue may take parked messages in.
        const qint64 discarded = stream.deliverParked();
        credit(stream, stream.takeReleased() + discarded);
        m_writable.insert(id);
    }
    writeStreams();
}

void Connection::credit(ConnectionStream &stream, qint64 bytes)
{
    if (bytes <= 0 || stream.incomingEnded)
        return;
    stream.creditOwed += bytes;
    // Batched: a peer whose window ran out has at least three quarters of it
    // still unconsumed here, so holding back a quarter never stalls it.
    const qint64 threshold = std::max<qint64>(1, m_settings.window / 4);
    if (stream.creditOwed < threshold || m_state != State::Connected)
        return;
    const auto increment = quint32(std::min(stream.creditOwed, maxWindow));
    stream.creditOwed -= increment;
    stream.receiveBudget += increment;
    Wire::appendFrame(m_writeBuffer, Wire::FrameType::Credit, 0, stream.id, Wire::encodeCredit(increment));
}

qint64 Connection::roomBeforeHighWater() const
{
    return writeHighWater - (m_writeBuffer.size() + m_socket->device()->bytesToWrite());
}

bool Connection::backlogged() const
{
    return roomBeforeHighWater() <= 0;
}

void Connection::writeStreams()
{
    // With nothing of ours still in Qt's buffer, the first batch of this pass
    // goes to the system at once rather than at the event loop's next write
    // notification: a round trip is a turn shorter, and the peer starts
    // reading while the rest of the pass is batched.
    m_pushWhenHandedOver = m_socket && m_socket->device()->bytesToWrite() == 0;
    if (m_state == State::Connected || m_state == State::Closing) {
        bool progressed = true;
        while (progressed && !m_writable.empty() && !backlogged()) {
            progressed = false;
            for (auto it = m_writable.begin(); it != m_writable.end() && !backlogged();) {
                const auto found = m_streams.find(*it);
                const Progress progress = found == m_streams.end() ? Progress::Done : writeStream(*found->second);
                if (progress == Progress::More) {
                    progressed = true;
                    ++it;
                } else {
                    it = m_writable.erase(it);
                }
            }
        }
    }
    flush();
    m_pushWhenHandedOver = false;
    if (m_state == State::Closing)
        finishShutdownIfDrained();
}

Connection::Progress Connection::writeStream(ConnectionStream &stream)
{
    for (int budget = messagesPerStreamPerPass; budget > 0; --budget) {
        if (stream.nextOut == stream.pendingOut.size()) {
            stream.pendingOut.clear();
            stream.nextOut = 0;
            if (stream.outgoingFinished)
                return Progress::Done;
            // No more than the socket takes now: what is taken leaves the
            // send queue's bound, so taking 8 MiB of large messages at once
            // let the sender queue 8 MiB more and the heap swing by that.
            const Mailbox::Batch batch =
                stream.outgoing->takeBatch(stream.pendingOut, messagesPerStreamPerPass, roomBeforeHighWater());
            if (batch.lagged > 0) {
                if (auto link = stream.link.lock())
                    link->notifySendersError(Error::QueueFullError,
                                             tr("%1 messages were dropped from the send queue to %2 by the overflow "
                                                "policy: the peer reads slower than they are sent.")
                                                 .arg(batch.lagged)
                                                 .arg(m_peerAddress.toString()));
            }
            if (stream.pendingOut.empty()) {
                if (batch.finished) {
                    Wire::appendFrame(m_writeBuffer, Wire::FrameType::Close, 0, stream.id, {});
                    stream.outgoingFinished = true;
                    retireIfDone(stream);
                }
                return Progress::Done;
            }
        }
        if (stream.sendWindow <= 0)
            return Progress::Blocked; // CREDIT puts the stream back
        // Moved out, so that the payload goes as soon as the socket wrote it:
        // a batch that kept its payloads until it was done freed 8 MiB of
        // 1 MiB messages at once, and the heap shrank and refaulted each time.
        const Envelope envelope = std::move(stream.pendingOut[stream.nextOut++]);
        appendMessage(stream, envelope);
        if (backlogged())
            return Progress::More;
    }
    return Progress::More;
}

void Connection::appendMessage(ConnectionStream &stream, const Envelope &envelope)
{
    // Senders prepare typed messages on their own thread; this covers one
    // queued before its sender had a link.
    Envelope prepared;
    if (envelope.kind == Envelope::Kind::Typed) {
        prepared = envelope;
        Error error = Error::NoError;
        QString text;
        auto link = stream.link.lock();
        if (!link || !link->prepare(prepared, error, text)) {
            if (link)
                link->notifySendersError(error, text);
            return;
        }
    }
    const Envelope &message = envelope.kind == Envelope::Kind::Typed ? prepared : envelope;
    // Read in place, not copied.
    const QByteArray &payload = message.bytesPayload();
    if (payload.size() > qsizetype(m_peerMaxFrame)) {
        if (auto link = stream.link.lock())
            link->notifySendersError(Error::MessageTooLargeError,
                                     tr("A message of %1 bytes was dropped: %2 accepts at most %3.")
                                         .arg(payload.size())
                                         .arg(m_peerAddress.toString())
                                         .arg(m_peerMaxFrame));
        return;
    }
    const auto type = message.kind == Envelope::Kind::Raw ? Wire::FrameType::Raw : Wire::FrameType::Data;
    const quint8 flags = type == Wire::FrameType::Data ? message.wireFlags : 0;
    stream.sendWindow -= payload.size() + Wire::windowChargePerMessage;
    if (payload.size() < directWriteThreshold) {
        Wire::appendFrame(m_writeBuffer, type, flags, stream.id, payload);
        if (m_writeBuffer.size() >= batchSize)
            flush();
        return;
    }
    // The header and the payload reach Qt together, so that a socket pushed
    // at once does not send the header alone.
    Wire::appendHeader(m_writeBuffer, type, flags, stream.id, quint32(payload.size()));
    handOver();
    m_socket->device()->write(payload);
    pushIfIdle();
}

void Connection::flush()
{
    handOver();
    pushIfIdle();
}

void Connection::handOver()
{
    if (m_writeBuffer.isEmpty() || !m_socket)
        return;
    // Qt keeps a reference to a buffer of its chunk size or more, and copies
    // a smaller one: the first gets a fresh buffer, the second keeps ours.
    const bool handedOver = m_writeBuffer.size() >= qtWriteChunkSize;
    m_socket->device()->write(m_writeBuffer);
    if (handedOver) {
        m_writeBuffer = QByteArray();
        m_writeBuffer.reserve(batchSize + batchSize / 4);
    } else {
        m_writeBuffer.resize(0);
    }
    m_lastSent.restart();
}

void Connection::pushIfIdle()
{
    if (!m_pushWhenHandedOver || m_socket->device()->bytesToWrite() == 0)
        return;
    m_pushWhenHandedOver = false;
    // The socket may emit bytesWritten() before flush() returns:
    // onBytesWritten() leaves that to the pass under way.
    const QScopedValueRollback<bool> flushing(m_flushing, true);
    m_socket->flush();
}

void Connection::retireIfDone(ConnectionStream &stream)
{
    if (!stream.outgoingFinished || !stream.incomingEnded)
        return;
    // m_writable may be mid-iteration: the writer skips ids that are gone.
    m_streams.erase(stream.id);
}

void Connection::finishShutdownIfDrained()
{
    if (m_state != State::Closing)
        return;
    for (const auto &entry : m_streams) {
        if (!entry.second->outgoingFinished)
            return;
    }
    if (!m_socketDone && (m_socket->device()->bytesToWrite() > 0 || !m_writeBuffer.isEmpty()))
        return; // bytesWritten() calls again
    if (!m_socketDone) {
        Wire::appendFrame(m_writeBuffer, Wire::FrameType::Goodbye, 0, 0, {});
        flush();
    }
    m_state = State::Closed;
    m_heartbeatTimer.stop();
    m_deadlineTimer.stop();
    for (auto &entry : m_streams)
        entry.second->endIncoming();
    m_streams.clear();
    m_socket->disconnectFromPeer();
    Q_EMIT closed();
    deleteWhenSocketClosed();
}

void Connection::deleteWhenSocketClosed()
{
    if (m_socketDone) {
        deleteLater();
        return;
    }
    m_deadlineTimer.start(m_settings.closeTimeoutMs, this); // onSocketDisconnected() usually comes first
}

void Connection::failProtocol(Wire::WireError code, const QString &text)
{
    closeWithError(errorFromWire(code), tr("Protocol error with %1: %2").arg(m_peerAddress.toString(), text), code);
}

void Connection::closeWithError(Error error, const QString &text, Wire::WireError sendCode)
{
    if (m_state == State::Closed)
        return;
    const bool wasOpen = m_state != State::Connecting;
    m_state = State::Closed;
    m_heartbeatTimer.stop();
    m_deadlineTimer.stop();
    m_progressTimer.stop();
    if (error != Error::NoError)
        qCInfo(lcQonduitConnection).noquote() << text;
    else
        qCDebug(lcQonduitConnection).noquote() << "the connection to" << m_peerAddress.toString() << "closed";
    // A peer that proved it speaks the protocol hears why; it reads our
    // preface first (a server sends it only with its answer to HELLO).
    if (sendCode != Wire::WireError::None && wasOpen && m_decoder.prefaceSeen()) {
        if (!std::exchange(m_prefaceSent, true))
            m_writeBuffer.append(Wire::preface());
        Wire::appendFrame(m_writeBuffer, Wire::FrameType::Error, 0, 0, Wire::encodeError(sendCode, text));
    }
    if (!m_writeBuffer.isEmpty() && wasOpen) {
        flush();
        m_socket->disconnectFromPeer();
    } else {
        m_socket->abort();
        m_socketDone = true;
    }
    for (auto &entry : m_streams) {
        ConnectionStream &stream = *entry.second;
        stream.endIncoming(error, text);
        stream.endOutgoing();
        if (auto link = stream.link.lock())
            link->notifyDisconnected(error, text);
    }
    m_streams.clear();
    m_writable.clear();
    Q_EMIT closed();
    if (m_ownersGone)
        deleteWhenSocketClosed();
}

} // namespace Qonduit
