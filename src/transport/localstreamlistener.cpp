#include "transport/localstreamlistener_p.h"

#include "global/qonduitlogging_p.h"
#include "transport/localstreamsocket_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qpointer.h>
#include <QtNetwork/qlocalsocket.h>

#include <cerrno>

#include <sys/socket.h>
#include <unistd.h>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::LocalStreamListener", text);
}

// Connections taken per event-loop turn: a flood of connects cannot starve
// the rest of the loop; the notifier fires again while more are queued.
constexpr int acceptBudget = 64;

} // namespace

LocalStreamListener::LocalStreamListener(QObject *parent)
    : StreamListener(parent)
{
    m_resumeTimer.setSingleShot(true);
    connect(&m_resumeTimer, &QTimer::timeout, this, [this] {
        if (m_notifier)
            m_notifier->setEnabled(true);
    });
}

LocalStreamListener::~LocalStreamListener()
{
    close();
}

bool LocalStreamListener::listen(const Endpoint &endpoint, Error &error, QString &errorText)
{
    Q_ASSERT(endpoint.scheme == Endpoint::Scheme::Local);
    if (isListening()) {
        error = Error::AddressInUseError;
        errorText = tr("This server already listens on %1; close it before it listens on %2.")
                        .arg(m_endpoint.toDisplayString(), endpoint.toDisplayString());
        return false;
    }
    const qintptr descriptor = m_file.create(endpoint, SOMAXCONN, error, errorText);
    if (descriptor < 0)
        return false;
    m_descriptor = int(descriptor);
    m_endpoint = endpoint;
    m_resumeDelay = 0;
    m_notifier = std::make_unique<QSocketNotifier>(descriptor, QSocketNotifier::Read);
    connect(m_notifier.get(), &QSocketNotifier::activated, this, &LocalStreamListener::acceptPending);
    qCDebug(lcQonduitTransportLocal) << "listening on" << endpoint.toDisplayString() << "at" << m_file.path();
    return true;
}

bool LocalStreamListener::isListening() const
{
    return m_descriptor >= 0;
}

QUrl LocalStreamListener::address() const
{
    return isListening() ? m_endpoint.toUrl() : QUrl();
}

void LocalStreamListener::close()
{
    if (!isListening())
        return;
    m_resumeTimer.stop();
    m_notifier.reset();
    ::close(m_descriptor);
    m_descriptor = -1;
    m_file.remove();
    qCDebug(lcQonduitTransportLocal) << "closed" << m_endpoint.toDisplayString();
}

QString LocalStreamListener::socketFilePath() const
{
    return m_file.path();
}

void LocalStreamListener::acceptPending()
{
    const QPointer<LocalStreamListener> guard(this);
    for (int taken = 0; taken < acceptBudget && isListening(); ++taken) {
        const int fd = ::accept4(m_descriptor, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            switch (errno) {
            case EINTR:
            case ECONNABORTED: // the client gave up while queued
            case EPROTO:
                continue;
            case EAGAIN:
#if EAGAIN != EWOULDBLOCK
            case EWOULDBLOCK:
#endif
                m_resumeDelay = 0;
                return;
            default: {
                // Out of descriptors or memory: the queued connection stays
                // queued, and the notifier would fire at once again.
                const int code = errno;
                m_resumeDelay = m_resumeDelay == 0 ? 5 : std::min(m_resumeDelay * 2, 1000);
                qCWarning(lcQonduitTransportLocal).nospace()
                        << "accepting on " << m_endpoint.toDisplayString() << " failed ("
                        << qt_error_string(code) << "); trying again in " << m_resumeDelay << " ms";
                m_notifier->setEnabled(false);
                m_resumeTimer.start(m_resumeDelay);
                return;
            }
            }
        }
        auto *accepted = new QLocalSocket;
        if (!accepted->setSocketDescriptor(fd, QLocalSocket::ConnectedState, QIODevice::ReadWrite)) {
            qCWarning(lcQonduitTransportLocal) << "cannot use an accepted socket:" << accepted->errorString();
            delete accepted;
            ::close(fd);
            continue;
        }
        auto socket = std::make_unique<LocalStreamSocket>(accepted, m_endpoint);
        if (!admit(*socket)) {
            socket->abort();
            continue;
        }
        handOut(std::move(socket));
        if (!guard)
            return;
    }
}

bool LocalStreamListener::admit(const LocalStreamSocket &socket) const
{
    const qint64 required = LocalStreamSocket::resolveUser(currentOptions().localPeerUser);
    if (required < 0)
        return true;
    const qint64 user = socket.peerUser();
    if (user == required)
        return true;
    qCInfo(lcQonduitTransportLocal).nospace().noquote()
            << "Refused a client of " << m_endpoint.toDisplayString() << ": it runs as user " << user
            << ", and this server admits only user " << required << " (ChannelOptions::localPeerUser).";
    return false;
}

} // namespace Qonduit
