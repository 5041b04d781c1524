#ifndef QONDUIT_CHANNELSERVER_H
#define QONDUIT_CHANNELSERVER_H

#include <Qonduit/channel.h>

#include <QtCore/qobject.h>
#include <QtCore/qurl.h>

#include <memory>

namespace Qonduit {

class ChannelServerPrivate;

// Listens on an endpoint URL and accepts any number of channels. Each client
// that connects yields a ChannelPair: newChannel() is emitted and
// nextPendingChannel() hands the pair over. Pairs nobody took are destroyed
// with the server, which their peers see as a closed channel.
class QONDUIT_EXPORT ChannelServer : public QObject
{
    Q_OBJECT
    Q_PROPERTY(QUrl address READ address NOTIFY listeningChanged)
    Q_PROPERTY(bool listening READ isListening NOTIFY listeningChanged)
    Q_PROPERTY(Qonduit::Error error READ error NOTIFY errorOccurred)
    Q_PROPERTY(QString errorString READ errorString NOTIFY errorOccurred)

public:
    explicit ChannelServer(QObject *parent = nullptr);
    ~ChannelServer() override;

    // Starts listening on endpoint ("inproc:NAME", "local:NAME",
    // "tcp://HOST:PORT", "tls://HOST:PORT"; docs/transports.md). Returns
    // false, with error() set, when the URL is invalid, its scheme
    // unsupported, or the name or port taken.
    bool listen(const QUrl &endpoint);
    void close();
    bool isListening() const;
    QUrl address() const;

    // Bounds the receiving queue of every channel accepted from now on.
    void setChannelOptions(const ChannelOptions &options);
    ChannelOptions channelOptions() const;

    bool hasPendingChannels() const;
    // The next accepted pair, or an empty one when none is pending. The pair
    // lives in the server's thread. Its receiver starts delivering (from the
    // event loop) only now: what the client sent meanwhile waits in its queue.
    ChannelPair nextPendingChannel();

    Error error() const;
    QString errorString() const;

Q_SIGNALS:
    void newChannel();
    void listeningChanged();
    void errorOccurred(Qonduit::Error error);

private:
    Q_DECLARE_PRIVATE(ChannelServer)
    Q_DISABLE_COPY_MOVE(ChannelServer)
    std::unique_ptr<ChannelServerPrivate> d_ptr;
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELSERVER_H
