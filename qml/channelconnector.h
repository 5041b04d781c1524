#ifndef QONDUIT_CHANNELCONNECTOR_H
#define QONDUIT_CHANNELCONNECTOR_H

#include "qmlendpoint.h"

#include <Qonduit/channel.h>

#include <QtCore/qobject.h>
#include <QtCore/qtimer.h>
#include <QtCore/qurl.h>

namespace Qonduit {

// The connection behind a QML ChannelReceiver or ChannelSender: turns a URL
// into a ChannelPair, follows one end's state into a QmlEndpoint::Status and
// reconnects after a failure or a close when asked to.
//
// Connecting waits for the event loop, so that the properties QML sets while
// it creates an object (source, capacity, ...) all apply to the first
// connection, and a burst of changes makes one connection.
class ChannelConnector : public QObject
{
    Q_OBJECT

public:
    // The end whose state the status follows: the one the QML type uses.
    enum class Watched { Receiver, Sender };

    explicit ChannelConnector(Watched watched, QObject *parent = nullptr);
    ~ChannelConnector() override;

    QUrl url() const { return m_url; }
    // Closes the current channel and, for a non-empty url, connects anew.
    // False when url is the current one (nothing happens then).
    bool setUrl(const QUrl &url);
    // Used from the next connection on.
    void setOptions(const ChannelOptions &options) { m_options = options; }
    const ChannelOptions &options() const { return m_options; }
    // Milliseconds between a failure or close and the next attempt; 0 never
    // retries. False when it was already so.
    int reconnectInterval() const { return m_reconnectInterval; }
    bool setReconnectInterval(int milliseconds);

    // Connects now if a connection is due but not made yet, so that a
    // send() right after the URL was set has a channel to queue into.
    void ensureChannel();

    bool isInProcess() const;
    ChannelSender *sender() const { return m_pair.sender.get(); }
    ChannelReceiver *receiver() const { return m_pair.receiver.get(); }

Q_SIGNALS:
    // A new pair exists (its state is Connecting): hook its signals.
    void channelOpened();
    void statusReport(Qonduit::QmlEndpoint::Status status);
    // An error of the watched end (NoError when a connection comes up).
    void errorReport(Qonduit::Error error, const QString &text);

private:
    ChannelEndpoint *watchedEnd() const;
    void connectNow();
    void closeChannel();
    void follow(ChannelEndpoint *end);
    void onStateChanged(ChannelState state);
    void scheduleReconnect();

    const Watched m_watched;
    QUrl m_url;
    ChannelOptions m_options;
    int m_reconnectInterval = 0;
    ChannelPair m_pair;
    QTimer m_connectTimer;
};

} // namespace Qonduit

#endif // QONDUIT_CHANNELCONNECTOR_H
