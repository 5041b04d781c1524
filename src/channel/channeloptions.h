#ifndef QONDUIT_CHANNELOPTIONS_H
#define QONDUIT_CHANNELOPTIONS_H

#include <Qonduit/qonduitnamespace.h>
#include <Qonduit/tlsoptions.h>

#include <QtCore/qbytearray.h>
#include <QtCore/qglobal.h>

namespace Qonduit {

// How a channel's queue is bounded and drained. Given when a channel is made;
// the receiver's setters change the same values later.
struct ChannelOptions
{
    // Most messages queued at once; at least 1.
    qsizetype capacity = 65536;
    // Most bytes queued at once (payload sizes as ChannelReceiver documents);
    // at least 1. A message larger than this still fits into an empty queue,
    // so one huge message is delivered rather than refused forever. A socket
    // channel's send queue holds 8 MiB at most, 2 MiB on local:
    // (docs/transports.md).
    qint64 capacityBytes = qint64(64) * 1024 * 1024;
    OverflowPolicy overflowPolicy = OverflowPolicy::Block;
    // Most messages delivered per event-loop turn before other events run.
    int deliveryBudget = 256;

    // Socket channels (local:, tcp://, tls://) only; docs/protocol.md has the rules.
    // Largest message accepted from the peer, in bytes (at least 16 KiB).
    qint64 maxMessageSize = qint64(16) * 1024 * 1024;
    // A peer must complete the handshake within this many milliseconds (on
    // tls://, the TLS handshake, then again the protocol's).
    int handshakeTimeoutMs = 10000;
    // A PING goes out after this much silence; three intervals with nothing
    // from the peer close the connection with TimeoutError. 0 disables both.
    int heartbeatIntervalMs = 5000;
    // A message that has started to arrive must finish within this many
    // milliseconds, so that a peer announcing a large message and then
    // trickling cannot hold a connection and its buffer for ever.
    int messageProgressTimeoutMs = 30000;

    // local: only: the user the peer's process must run as, read from the
    // socket (SO_PEERCRED). A server drops a client of another user; a client
    // fails with AuthenticationError when the server runs as another user
    // (say, a program of another user that made a socket file of that name
    // in the shared temporary directory first, open to all). SameUser, the
    // default: the user this process runs as; AnyUser: no check (for a
    // server of one user that serves others, or the other way round);
    // otherwise a user id.
    static constexpr qint64 AnyUser = -1;
    static constexpr qint64 SameUser = -2;
    qint64 localPeerUser = SameUser;

    // tls:// only: certificates, trust and pinning (docs/security.md).
    TlsOptions tls = TlsOptions();

    // tcp:// and local: only: a pre-shared key of exactly 32 bytes (empty: off).
    // With a key, the connection is encrypted and authenticated
    // (Noise_NNpsk0_25519_ChaChaPoly_SHA256, docs/security.md "Shared-key
    // channels"); a client whose key differs fails with AuthenticationError.
    // A key of another length makes connectTo() and listen() fail with
    // AuthenticationError. Set it on both sides. tls:// (which authenticates
    // with certificates: tls) and inproc: take no key, and never ignore one:
    // connectTo() and listen() fail with AuthenticationError.
    QByteArray sharedKey = QByteArray();
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELOPTIONS_H
