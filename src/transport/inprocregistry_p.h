#ifndef QONDUIT_INPROCREGISTRY_P_H
#define QONDUIT_INPROCREGISTRY_P_H

#include <Qonduit/channel.h>

#include <QtCore/qhash.h>
#include <QtCore/qstring.h>

#include <mutex>

namespace Qonduit {

class ChannelServerPrivate;

// The names of the process's inproc: servers. A connecting thread hands its
// half of a new channel to the server while holding the registry lock; a
// server leaves the registry under the same lock before it dies, so a server
// found here is alive for as long as the lock is held.
class InprocRegistry
{
public:
    static InprocRegistry &instance();

    // False when the name is taken.
    bool bind(const QString &name, ChannelServerPrivate *server);
    void unbind(const QString &name, const ChannelServerPrivate *server);

    // Makes both halves of a channel to the server bound to name and queues
    // the server's half there. Returns false when no server has the name.
    bool connect(const QString &name, const ChannelOptions &clientOptions, ChannelPair &clientSide);

private:
    std::mutex m_mutex;
    QHash<QString, ChannelServerPrivate *> m_servers;
};

} // namespace Qonduit

#endif // QONDUIT_INPROCREGISTRY_P_H
