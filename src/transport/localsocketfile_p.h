#ifndef QONDUIT_LOCALSOCKETFILE_P_H
#define QONDUIT_LOCALSOCKETFILE_P_H

#include "transport/endpoint_p.h"

#include <QtCore/qstring.h>

namespace Qonduit {

// The file of a listening Unix-domain socket, made so that a live server's
// name is never taken over and the file left by a server that crashed is
// recovered.
//
// QLocalServer::listen(name) cannot do this in Qt 6.4: with UserAccessOption it
// binds a temporary name and rename()s it over the real one, which silently
// replaces the file of a server that is running; without the option it
// refuses a stale file forever and leaves the mode to the umask. So create()
// binds a private temporary name in the target's directory, makes it
// user-only (0700, as UserAccessOption does), listens, and only then link()s
// it to the real name: link() never replaces a file, and the real name never
// points at a socket that does not listen yet. When the name is taken, the
// file is probed with a non-blocking connect under a lock file (NAME.lock,
// shared by every Qonduit process): a connect that succeeds means a live
// server (AddressInUseError; that server sees one connection that closes at
// once); ECONNREFUSED means nobody listens, so the file is removed and the
// link retried, still under the lock so that two servers recovering the same
// name cannot remove each other's live file. Anything that is not a socket,
// or that this user may not connect to, is never removed.
class LocalSocketFile
{
public:
    // Where QLocalServer and QLocalSocket put a name: QDir::tempPath()/NAME,
    // or NAME itself when it is an absolute path.
    static QString pathFor(const QString &name);
    // Whether the path fits a sockaddr_un.
    static bool fits(const QString &path);

    LocalSocketFile() = default;
    ~LocalSocketFile() = default; // keeps the file: remove() is explicit
    Q_DISABLE_COPY_MOVE(LocalSocketFile)

    // Makes the socket file for a local: endpoint and returns the listening,
    // non-blocking descriptor, which the caller owns, or -1 with an error and a text
    // naming the endpoint. Blocks only for file system calls, and for up to
    // a few seconds on the lock when another process recovers the same name.
    qintptr create(const Endpoint &endpoint, int backlog, Error &error, QString &errorText);

    QString path() const { return m_path; }
    // Removes the file if it is still the one create() made.
    void remove();

private:
    QString m_path;
    quint64 m_device = 0;
    quint64 m_inode = 0;
};

} // namespace Qonduit

#endif // QONDUIT_LOCALSOCKETFILE_P_H
