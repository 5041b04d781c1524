#include "transport/localsocketfile_p.h"

#include "global/qonduitlogging_p.h"

#include <QtCore/qcoreapplication.h>
#include <QtCore/qdir.h>
#include <QtCore/qfile.h>
#include <QtCore/qfileinfo.h>
#include <QtCore/qlockfile.h>
#include <QtCore/qrandom.h>
#include <QtCore/qscopeguard.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::LocalSocketFile", text);
}

bool fitsEncoded(const QByteArray &path)
{
    return size_t(path.size()) < sizeof(sockaddr_un::sun_path);
}

sockaddr_un addressOf(const QByteArray &path)
{
    sockaddr_un address;
    std::memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.constData(), size_t(path.size()));
    return address;
}

enum class Probe { Live, Refused, Gone, NoAccess };

// Whether anybody listens on the socket file. Never blocks: a non-blocking
// connect to a Unix-domain socket completes or fails at once (EAGAIN when
// the server's backlog is full, which is a live server too).
Probe probe(const QByteArray &path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return Probe::Live; // unsure: never remove
    const sockaddr_un address = addressOf(path);
    int result;
    do {
        result = ::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address);
    } while (result < 0 && errno == EINTR);
    const int code = result < 0 ? errno : 0;
    ::close(fd);
    switch (code) {
    case ECONNREFUSED:
        return Probe::Refused;
    case ENOENT:
        return Probe::Gone;
    case EACCES:
    case EPERM:
        return Probe::NoAccess;
    default:
        return Probe::Live; // connected, EAGAIN, or something we cannot judge
    }
}

bool sameFile(const QByteArray &path, quint64 device, quint64 inode)
{
    struct stat status;
    return ::lstat(path.constData(), &status) == 0 && quint64(status.st_dev) == device
           && quint64(status.st_ino) == inode;
}

class Descriptor
{
public:
    explicit Descriptor(int fd) : m_fd(fd) { }
    ~Descriptor()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    int get() const { return m_fd; }
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd;
};

} // namespace

QString LocalSocketFile::pathFor(const QString &name)
{
    if (name.startsWith(u'/'))
        return name;
    return QDir::cleanPath(QDir::tempPath()) + u'/' + name;
}

bool LocalSocketFile::fits(const QString &path)
{
    return fitsEncoded(QFile::encodeName(path));
}

qintptr LocalSocketFile::create(const Endpoint &endpoint, int backlog, Error &error, QString &errorText)
{
    const QString path = pathFor(endpoint.name);
    const QString shown = endpoint.toDisplayString();
    const QByteArray encodedPath = QFile::encodeName(path);
    const QString directory = QFileInfo(path).absolutePath();
    const QByteArray encodedDirectory = QFile::encodeName(directory);

    const auto fail = [&](Error code, const QString &text) {
        error = code;
        errorText = text;
        return qintptr(-1);
    };
    const auto systemFail = [&](int code) {
        switch (code) {
        case EACCES:
        case EPERM:
        case EROFS:
            return fail(Error::PermissionDeniedError,
                        tr("Cannot listen on %1: this user may not create the socket file %2 (%3).")
                            .arg(shown, path, qt_error_string(code)));
        case ENOENT:
        case ENOTDIR:
            return fail(Error::InvalidEndpointError,
                        tr("Cannot listen on %1: the directory %2 does not exist.").arg(shown, directory));
        default:
            return fail(Error::NetworkError,
                        tr("Cannot listen on %1: %2 (socket file %3).").arg(shown, qt_error_string(code), path));
        }
    };

    if (!fitsEncoded(encodedPath)) {
        return fail(Error::InvalidEndpointError,
                    tr("Cannot use %1: its socket file %2 is longer than the %3 bytes a Unix-domain socket "
                       "allows; pick a shorter name or a shorter absolute path.")
                        .arg(shown, path, QString::number(sizeof(sockaddr_un::sun_path) - 1)));
    }

    Descriptor socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (socket.get() < 0)
        return systemFail(errno);

    // A private name in the same directory, because link() cannot cross file
    // systems. Nobody can connect to it before listen(), and it is 0700 by then.
    QByteArray temporary;
    for (int attempt = 0;; ++attempt) {
        temporary = encodedDirectory + "/.qonduit-"
                    + QByteArray::number(QRandomGenerator::global()->generate64() & 0xffffffffffULL, 36);
        if (!fitsEncoded(temporary)) {
            return fail(Error::InvalidEndpointError,
                        tr("Cannot use %1: the directory %2 has too long a path for a Unix-domain socket; "
                           "pick a shorter one.")
                            .arg(shown, directory));
        }
        const sockaddr_un address = addressOf(temporary);
        if (::bind(socket.get(), reinterpret_cast<const sockaddr *>(&address), sizeof address) == 0)
            break;
        if (errno != EADDRINUSE || attempt == 8)
            return systemFail(errno);
    }
    const auto removeTemporary = qScopeGuard([&] { ::unlink(temporary.constData()); });
    if (::chmod(temporary.constData(), S_IRWXU) != 0 || ::listen(socket.get(), backlog) != 0)
        return systemFail(errno);

    bool linked = false;
    for (int attempt = 0; attempt < 3 && !linked; ++attempt) {
        if (::link(temporary.constData(), encodedPath.constData()) == 0) {
            linked = true;
            break;
        }
        if (errno != EEXIST)
            return systemFail(errno);

        // Taken. Whoever recovers a stale file does it under this lock, and
        // keeps it until the new file is in place, so that no two processes
        // judge the same file dead and then remove each other's live one.
        QLockFile lock(path + QStringLiteral(".lock"));
        if (!lock.tryLock(5000)) {
            if (lock.error() == QLockFile::PermissionError)
                return systemFail(EACCES);
            return fail(Error::AddressInUseError,
                        tr("Cannot listen on %1: another process holds %2.lock for longer than 5 s.")
                            .arg(shown, path));
        }
        struct stat status;
        if (::lstat(encodedPath.constData(), &status) != 0) {
            if (errno == ENOENT)
                continue; // gone meanwhile: try the link again
            return systemFail(errno);
        }
        if (!S_ISSOCK(status.st_mode)) {
            return fail(Error::AddressInUseError,
                        tr("Cannot listen on %1: %2 exists and is not a socket; remove it or pick another name.")
                            .arg(shown, path));
        }
        switch (probe(encodedPath)) {
        case Probe::Live:
            return fail(Error::AddressInUseError,
                        tr("Another server already listens on %1; pick another name or stop that server.")
                            .arg(shown));
        case Probe::NoAccess:
            return fail(Error::AddressInUseError,
                        tr("Cannot listen on %1: %2 is the socket of another user's server, or one this user may "
                           "not use; pick another name.")
                            .arg(shown, path));
        case Probe::Gone:
            continue;
        case Probe::Refused:
            break;
        }
        // Nobody listens: the file of a server that is gone.
        if (!sameFile(encodedPath, quint64(status.st_dev), quint64(status.st_ino)))
            continue; // replaced after the probe: judge the new one
        if (::unlink(encodedPath.constData()) != 0 && errno != ENOENT)
            return systemFail(errno);
        qCInfo(lcQonduitTransportLocal) << "removed the stale socket file" << path
                                        << "of a server that is gone";
        if (::link(temporary.constData(), encodedPath.constData()) == 0)
            linked = true;
        else if (errno != EEXIST)
            return systemFail(errno);
    }
    if (!linked) {
        return fail(Error::AddressInUseError,
                    tr("Cannot listen on %1: other processes keep taking %2; pick another name.").arg(shown, path));
    }

    struct stat status;
    if (::lstat(encodedPath.constData(), &status) != 0)
        return systemFail(errno);
    m_path = path;
    m_device = quint64(status.st_dev);
    m_inode = quint64(status.st_ino);
    error = Error::NoError;
    errorText.clear();
    return socket.release();
}

void LocalSocketFile::remove()
{
    if (m_path.isEmpty())
        return;
    const QByteArray encodedPath = QFile::encodeName(m_path);
    // Only our own file: if somebody removed it and listens there now, that
    // server's file stays.
    if (sameFile(encodedPath, m_device, m_inode))
        ::unlink(encodedPath.constData());
    m_path.clear();
}

} // namespace Qonduit
