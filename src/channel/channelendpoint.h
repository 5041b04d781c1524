#ifndef QONDUIT_CHANNELENDPOINT_H
#define QONDUIT_CHANNELENDPOINT_H

#include <Qonduit/qonduitnamespace.h>

#include <QtCore/qobject.h>
#include <QtCore/qurl.h>

#include <memory>

namespace Qonduit {

class ChannelEndpointPrivate;

// What both ends of a channel share: the connection's state, the peer's
// address and the error reporting. Not made directly: see ChannelSender and
// ChannelReceiver.
class QONDUIT_EXPORT ChannelEndpoint : public QObject
{
    Q_OBJECT
    Q_PROPERTY(Qonduit::ChannelState state READ state NOTIFY stateChanged)
    Q_PROPERTY(QUrl peerAddress READ peerAddress CONSTANT)
    Q_PROPERTY(Qonduit::Error error READ error NOTIFY errorOccurred)
    Q_PROPERTY(QString errorString READ errorString NOTIFY errorOccurred)

public:
    ~ChannelEndpoint() override;

    ChannelState state() const;
    // Where the other end is: the server's URL on the ends connectTo() made;
    // empty for Channel::local() and for a server's ends of an inproc channel
    // (an in-process client has no address).
    QUrl peerAddress() const;

    // The last error; safe to call from any thread.
    Error error() const;
    QString errorString() const;

Q_SIGNALS:
    void stateChanged(Qonduit::ChannelState state);
    void connected();
    void disconnected();
    // Emitted on the thread where the error happened (for a sender, the thread
    // that called send()).
    void errorOccurred(Qonduit::Error error);

protected:
    explicit ChannelEndpoint(ChannelEndpointPrivate &dd, QObject *parent);
    std::unique_ptr<ChannelEndpointPrivate> d_ptr;

private:
    Q_DECLARE_PRIVATE(ChannelEndpoint)
    Q_DISABLE_COPY_MOVE(ChannelEndpoint)
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELENDPOINT_H
