#ifndef QONDUIT_QONDUITNAMESPACE_H
#define QONDUIT_QONDUITNAMESPACE_H

#include <Qonduit/qonduitglobal.h>

#include <QtCore/qobjectdefs.h>

// Every enum the API shares, in one namespace so moc registers them once:
// QDebug output, queued connections and QML all come with Q_ENUM_NS.
namespace Qonduit {
Q_NAMESPACE_EXPORT(QONDUIT_EXPORT)

// What went wrong, on any object of the library. docs/errors.md says, for each
// value, what causes it and what to do about it.
enum class Error {
    NoError = 0,
    InvalidEndpointError,   // the URL is malformed or names nothing
    UnsupportedSchemeError, // no transport serves the URL's scheme
    AddressInUseError,      // another server already listens on that name
    ConnectionRefusedError, // nobody listens on the endpoint
    ChannelClosedError,     // the other end is gone, or this end was closed
    QueueFullError,         // the channel is at capacity and the policy refuses to wait
    TimeoutError,           // a deadline passed: blocking receive, handshake, heartbeat
    HostNotFoundError,      // the host name of a tcp:// endpoint did not resolve
    PermissionDeniedError,  // the operating system refused access (socket file, port)
    NetworkError,           // the socket failed for another reason the text gives
    RemoteClosedError,      // the peer went away without closing the channel
    ProtocolError,          // the peer broke the wire protocol; the connection is closed
    VersionMismatchError,   // the peer speaks no protocol version this build speaks
    MessageTooLargeError,   // a message is larger than the peer accepts in one frame
    MessageDecodeError,     // one message could not be decoded (unknown type, truncated); later ones still arrive
    MessageEncodeError,     // a message's type cannot be sent across processes (no QDataStream operators)
    CertificateError,       // a certificate or key could not be made, read, decrypted or written
    AuthenticationError,    // the peer could not be authenticated, or refused this side (certificate, pin, key)
};
Q_ENUM_NS(Error)

// What a full channel does with one more message.
enum class OverflowPolicy {
    Block,      // the producer waits for room (a thread that runs an event loop is never blocked: it gets QueueFullError)
    Reject,     // send() returns false with QueueFullError; nothing is dropped
    DropOldest, // the oldest queued message is dropped and counted; the new one is queued
    DropNewest, // the new message is dropped and counted; send() returns false
};
Q_ENUM_NS(OverflowPolicy)

// The life of one end of a channel.
enum class ChannelState {
    UnconnectedState, // not connected, or the connection ended
    ConnectingState,  // waiting for the other end to accept
    ConnectedState,   // messages flow
};
Q_ENUM_NS(ChannelState)

} // namespace Qonduit

#endif // QONDUIT_QONDUITNAMESPACE_H
