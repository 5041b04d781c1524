#ifndef QONDUIT_LOCALSTREAMLISTENER_P_H
#define QONDUIT_LOCALSTREAMLISTENER_P_H

#include "transport/localsocketfile_p.h"
#include "transport/streamlistener_p.h"

#include <QtCore/qsocketnotifier.h>
#include <QtCore/qtimer.h>

#include <memory>

namespace Qonduit {

class LocalStreamSocket;

// Listens on local:NAME. The socket file is user-only (mode 0700, what
// QLocalServer::UserAccessOption gives) and is made by LocalSocketFile: a
// stale file left by a crash is recovered, a live server's file is never
// taken over (QLocalServer::listen() cannot promise either; see
// localsocketfile_p.h). Accepting is a non-blocking accept4() loop rather
// than QLocalServer's: QLocalServer closes itself for good, without a
// signal, when accept() fails once (EMFILE); this one logs, pauses and
// resumes, as TcpStreamListener does. Accepted descriptors become
// QLocalSockets.
class LocalStreamListener final : public StreamListener
{
    Q_OBJECT

public:
    explicit LocalStreamListener(QObject *parent = nullptr);
    ~LocalStreamListener() override;

    bool listen(const Endpoint &endpoint, Error &error, QString &errorText) override;
    bool isListening() const override;
    QUrl address() const override; // local:NAME as given to listen()
    void close() override;

    // The socket file's path: QDir::tempPath()/NAME or the absolute NAME.
    QString socketFilePath() const;

private:
    void acceptPending();
    // The one place that admits a peer: with ChannelOptions::localPeerUser,
    // only a client of that user (SO_PEERCRED); the file mode already keeps
    // other users out unless they are root.
    bool admit(const LocalStreamSocket &socket) const;

    Endpoint m_endpoint;
    LocalSocketFile m_file;
    int m_descriptor = -1;
    std::unique_ptr<QSocketNotifier> m_notifier;
    QTimer m_resumeTimer;
    int m_resumeDelay = 0;
};

} // namespace Qonduit

#endif // QONDUIT_LOCALSTREAMLISTENER_P_H
