#ifndef QONDUIT_TCPSTREAMLISTENER_P_H
#define QONDUIT_TCPSTREAMLISTENER_P_H

#include "transport/streamlistener_p.h"

#include <QtCore/qloggingcategory.h>
#include <QtCore/qtimer.h>
#include <QtNetwork/qtcpserver.h>

#include <memory>

namespace Qonduit {

// Listens on tcp://ADDRESS:PORT. ADDRESS is an IP address (0.0.0.0 or [::]
// for every interface; [::] also takes IPv4 where the system allows
// dual-stack) or "localhost" (127.0.0.1); a server never resolves a host
// name, so listen() never waits for DNS. Port 0 picks a free port, which
// address() reports. Without a proxy; SO_REUSEADDR as QTcpServer sets it, so
// a restarted server can take its port back at once. TlsStreamListener builds
// tls:// on it.
class TcpStreamListener : public StreamListener
{
    Q_OBJECT

public:
    explicit TcpStreamListener(QObject *parent = nullptr);
    ~TcpStreamListener() override;

    bool listen(const Endpoint &endpoint, Error &error, QString &errorText) override;
    bool isListening() const override;
    QUrl address() const override;
    void close() override;

protected:
    using LoggingCategory = const QLoggingCategory &(*)();

    // server makes the sockets (a QTcpServer subclass may make QSslSockets).
    TcpStreamListener(QObject *parent, std::unique_ptr<QTcpServer> server, LoggingCategory category);
    // A socket the server accepted, parentless: hands it out as a tcp://
    // stream; tls:// runs the handshake first.
    virtual void takeAccepted(QTcpSocket *accepted);

private:
    void onNewConnection();
    void onAcceptError(QAbstractSocket::SocketError socketError);

    Endpoint m_endpoint;
    LoggingCategory m_category;
    std::unique_ptr<QTcpServer> m_server;
    // QTcpServer pauses accepting after an accept error such as EMFILE; it
    // resumes after a pause that doubles up to 1 s, as Go's net/http does.
    QTimer m_resumeTimer;
    int m_resumeDelay = 0;
};

} // namespace Qonduit

#endif // QONDUIT_TCPSTREAMLISTENER_P_H
