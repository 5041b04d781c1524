// What only local: does: the socket file, its mode, stale files and live
// names. The behaviour every transport shares is in tst_streamsocket.

#include "transporttest.h"

#include "transport/localsocketfile_p.h"
#include "transport/localstreamlistener_p.h"
#include "transport/localstreamsocket_p.h"

#include <QtCore/qdir.h>
#include <QtCore/qfile.h>
#include <QtCore/qscopeguard.h>
#include <QtCore/qtemporarydir.h>
#include <QtTest/qsignalspy.h>
#include <QtTest/qtest.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace Qonduit;
using namespace TransportTest;

namespace {

sockaddr_un addressOf(const QString &path)
{
    const QByteArray encoded = QFile::encodeName(path);
    sockaddr_un address {};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, encoded.constData(), size_t(encoded.size()));
    return address;
}

// What a server that crashed leaves behind: a socket file nobody listens on.
bool makeStaleSocketFile(const QString &path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un address = addressOf(path);
    const bool bound = ::bind(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) == 0;
    ::close(fd);
    return bound;
}

// A server that is not ours: a raw socket listening on path. Returns the fd.
int listenRaw(const QString &path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un address = addressOf(path);
    if (::bind(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) != 0 || ::listen(fd, 8) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool connectsRaw(const QString &path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un address = addressOf(path);
    const bool connected = ::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) == 0;
    ::close(fd);
    return connected;
}

struct FileId
{
    bool exists = false;
    bool isSocket = false;
    mode_t mode = 0;
    uid_t owner = 0;
    dev_t device = 0;
    ino_t inode = 0;
    bool operator==(const FileId &other) const
    {
        return exists == other.exists && device == other.device && inode == other.inode;
    }
};

FileId fileId(const QString &path)
{
    struct stat status;
    FileId id;
    if (::lstat(QFile::encodeName(path).constData(), &status) != 0)
        return id;
    id.exists = true;
    id.isSocket = S_ISSOCK(status.st_mode);
    id.mode = status.st_mode & 07777;
    id.owner = status.st_uid;
    id.device = status.st_dev;
    id.inode = status.st_ino;
    return id;
}

} // namespace

class tst_LocalTransport : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void socketFileIsUserOnly();
    void anotherUserCannotConnect();
    void peerAddressIsTheServerName();
    void peerUserIsChecked();
    void staleFileIsRecovered();
    void liveNameIsNeverTakenOver();
    void foreignLiveSocketIsNeverRemoved();
    void fileThatIsNotASocketIsNeverRemoved();
    void racingRecoveriesLeaveOneServer();
    void closeRemovesTheFile();
    void closeLeavesAReplacedFile();
    void absolutePath();
    void missingDirectory();
    void pathTooLong();
    void serverNotFoundText();
    void staleFileRefusesConnections();
    void listenTwice();

private:
    Endpoint uniqueEndpoint(const QString &tag) const
    {
        return endpointOf(QUrl(u"local:"_qs + uniqueLocalName(tag)));
    }
    void listenOn(LocalStreamListener &listener, const Endpoint &endpoint);
    void connectPair(StreamListener &listener, Acceptor &acceptor, std::unique_ptr<StreamSocket> &client);
};

void tst_LocalTransport::listenOn(LocalStreamListener &listener, const Endpoint &endpoint)
{
    Error error = Error::NoError;
    QString text;
    QVERIFY2(listener.listen(endpoint, error, text), qPrintable(text));
}

void tst_LocalTransport::connectPair(StreamListener &listener, Acceptor &acceptor, std::unique_ptr<StreamSocket> &client)
{
    const size_t before = acceptor.sockets.size();
    client = Transports::connectTo(endpointOf(listener.address()));
    QSignalSpy connected(client.get(), &StreamSocket::connected);
    QVERIFY(connected.wait(10000));
    QTRY_COMPARE(acceptor.sockets.size(), before + 1);
}

void tst_LocalTransport::socketFileIsUserOnly()
{
    LocalStreamListener listener;
    const Endpoint endpoint = uniqueEndpoint(u"mode"_qs);
    listenOn(listener, endpoint);
    QCOMPARE(listener.socketFilePath(), LocalSocketFile::pathFor(endpoint.name));

    const FileId id = fileId(listener.socketFilePath());
    QVERIFY(id.exists);
    QVERIFY(id.isSocket);
    QCOMPARE(id.owner, ::geteuid());
    QVERIFY2((id.mode & 077) == 0, qPrintable(QString::number(id.mode, 8)));
    QCOMPARE(id.mode & 0700, mode_t(0700));
}

void tst_LocalTransport::anotherUserCannotConnect()
{
    if (::geteuid() != 0)
        QSKIP("acting as another user needs root; socketFileIsUserOnly checks the mode");
    LocalStreamListener listener;
    listenOn(listener, uniqueEndpoint(u"otheruser"_qs));
    Acceptor acceptor(&listener);
    const sockaddr_un address = addressOf(listener.socketFilePath());

    // A child that becomes "nobody" and tries to connect; only
    // async-signal-safe calls after fork().
    const pid_t child = ::fork();
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0)
            ::_exit(100);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        const int result = ::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address);
        ::_exit(result == 0 ? 0 : (errno == EACCES ? 13 : 101));
    }
    QVERIFY(child > 0);
    int status = 0;
    QCOMPARE(::waitpid(child, &status, 0), child);
    QVERIFY(WIFEXITED(status));
    QCOMPARE(WEXITSTATUS(status), 13); // EACCES
    QCOMPARE(acceptor.sockets.size(), size_t(0));
}

void tst_LocalTransport::peerAddressIsTheServerName()
{
    LocalStreamListener listener;
    const Endpoint endpoint = uniqueEndpoint(u"peer"_qs);
    listenOn(listener, endpoint);
    QCOMPARE(listener.address(), endpoint.toUrl());
    Acceptor acceptor(&listener);
    std::unique_ptr<StreamSocket> client;
    connectPair(listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(client->peerAddress(), endpoint.toUrl());
    QCOMPARE(acceptor.sockets.front()->peerAddress(), endpoint.toUrl());
    QVERIFY(static_cast<LocalStreamSocket *>(acceptor.sockets.front().get())->socketDescriptor() >= 0);
}

// ChannelOptions::localPeerUser on both ends, with this process's user and
// with one it does not run as (so that no second user is needed).
void tst_LocalTransport::peerUserIsChecked()
{
    LocalStreamListener listener;
    listenOn(listener, uniqueEndpoint(u"peeruser"_qs));
    Acceptor acceptor(&listener);
    const qint64 me = qint64(::geteuid());
    const qint64 someoneElse = me + 1;
    const Endpoint endpoint = endpointOf(listener.address());

    // Both ends see this process's user.
    std::unique_ptr<StreamSocket> client;
    connectPair(listener, acceptor, client);
    QCOMPARE(static_cast<LocalStreamSocket *>(client.get())->peerUser(), me);
    QCOMPARE(static_cast<LocalStreamSocket *>(acceptor.sockets.back().get())->peerUser(), me);

    // A client that requires another user refuses this server.
    const auto picky = LocalStreamSocket::connectTo(endpoint, someoneElse);
    QSignalSpy pickyFailed(picky.get(), &StreamSocket::failed);
    QSignalSpy pickyConnected(picky.get(), &StreamSocket::connected);
    QVERIFY(pickyFailed.wait(10000));
    QCOMPARE(pickyFailed.at(0).at(0).value<Error>(), Error::AuthenticationError);
    const QString text = pickyFailed.at(0).at(1).toString();
    QVERIFY2(text.contains(u"runs as user %1, not as user %2"_qs.arg(me).arg(someoneElse)), qPrintable(text));
    QCOMPARE(pickyConnected.count(), 0);
    const auto same = LocalStreamSocket::connectTo(endpoint, ChannelOptions::SameUser);
    QSignalSpy sameConnected(same.get(), &StreamSocket::connected);
    QVERIFY(sameConnected.wait(10000));

    // (The server took both, before it starts checking.)
    QTRY_COMPARE(acceptor.sockets.size(), size_t(3));

    // A server that admits only another user drops this client unseen...
    ChannelOptions options;
    options.localPeerUser = someoneElse;
    listener.setOptionsSource([options] { return options; });
    const auto refused = Transports::connectTo(endpoint);
    QSignalSpy refusedClosed(refused.get(), &StreamSocket::disconnected);
    QVERIFY(refusedClosed.wait(10000));
    QCOMPARE(acceptor.sockets.size(), size_t(3));
    // ...and one that admits its own user takes it.
    options.localPeerUser = ChannelOptions::SameUser;
    listener.setOptionsSource([options] { return options; });
    std::unique_ptr<StreamSocket> admitted;
    connectPair(listener, acceptor, admitted);
}

void tst_LocalTransport::staleFileIsRecovered()
{
    const Endpoint endpoint = uniqueEndpoint(u"stale"_qs);
    const QString path = LocalSocketFile::pathFor(endpoint.name);
    QVERIFY(makeStaleSocketFile(path));
    const FileId stale = fileId(path);
    QVERIFY(stale.isSocket);
    QVERIFY(!connectsRaw(path));

    LocalStreamListener listener;
    listenOn(listener, endpoint);
    const FileId fresh = fileId(path);
    QVERIFY(fresh.isSocket);
    QVERIFY(!(fresh == stale));

    Acceptor acceptor(&listener);
    std::unique_ptr<StreamSocket> client;
    connectPair(listener, acceptor, client);
}

void tst_LocalTransport::liveNameIsNeverTakenOver()
{
    const Endpoint endpoint = uniqueEndpoint(u"live"_qs);
    LocalStreamListener first;
    listenOn(first, endpoint);
    Acceptor acceptor(&first);
    const FileId before = fileId(first.socketFilePath());

    LocalStreamListener second;
    Error error = Error::NoError;
    QString text;
    QVERIFY(!second.listen(endpoint, error, text));
    QCOMPARE(error, Error::AddressInUseError);
    QVERIFY2(text.contains(endpoint.toDisplayString()), qPrintable(text));
    QVERIFY(!second.isListening());
    QCOMPARE(fileId(first.socketFilePath()), before);

    // The probe was a real connection: the first server sees it come and go.
    QTRY_COMPARE(acceptor.sockets.size(), size_t(1));
    QTRY_VERIFY(!acceptor.sockets.front()->isConnected());

    std::unique_ptr<StreamSocket> client;
    connectPair(first, acceptor, client);
    QCOMPARE(fileId(first.socketFilePath()), before);

    // The failed second listener leaves the first one's file alone, even
    // when it is destroyed.
    second.close();
    QCOMPARE(fileId(first.socketFilePath()), before);
}

void tst_LocalTransport::foreignLiveSocketIsNeverRemoved()
{
    const Endpoint endpoint = uniqueEndpoint(u"foreign"_qs);
    const QString path = LocalSocketFile::pathFor(endpoint.name);
    const int foreign = listenRaw(path);
    QVERIFY(foreign >= 0);
    const auto cleanup = qScopeGuard([&] {
        ::close(foreign);
        ::unlink(QFile::encodeName(path).constData());
    });
    const FileId before = fileId(path);

    LocalStreamListener listener;
    Error error = Error::NoError;
    QString text;
    QVERIFY(!listener.listen(endpoint, error, text));
    QCOMPARE(error, Error::AddressInUseError);
    QCOMPARE(fileId(path), before);
    QVERIFY(connectsRaw(path));
}

void tst_LocalTransport::fileThatIsNotASocketIsNeverRemoved()
{
    const Endpoint endpoint = uniqueEndpoint(u"regular"_qs);
    const QString path = LocalSocketFile::pathFor(endpoint.name);
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("precious");
    file.close();
    const auto cleanup = qScopeGuard([&] { QFile::remove(path); });

    LocalStreamListener listener;
    Error error = Error::NoError;
    QString text;
    QVERIFY(!listener.listen(endpoint, error, text));
    QCOMPARE(error, Error::AddressInUseError);
    QVERIFY2(text.contains(path), qPrintable(text));
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll(), QByteArray("precious"));
}

void tst_LocalTransport::racingRecoveriesLeaveOneServer()
{
    // Two servers find the same stale file at the same moment: one must win,
    // and the loser must not remove the winner's live file.
    for (int round = 0; round < 25; ++round) {
        const Endpoint endpoint = uniqueEndpoint(u"race"_qs);
        const QString path = LocalSocketFile::pathFor(endpoint.name);
        QVERIFY(makeStaleSocketFile(path));

        LocalSocketFile files[2];
        qintptr fds[2] = {-1, -1};
        Error errors[2] = {Error::NoError, Error::NoError};
        QString texts[2];
        std::thread racers[2];
        for (int i = 0; i < 2; ++i)
            racers[i] = std::thread([&, i] { fds[i] = files[i].create(endpoint, 8, errors[i], texts[i]); });
        for (std::thread &racer : racers)
            racer.join();

        const int winners = int(fds[0] >= 0) + int(fds[1] >= 0);
        QCOMPARE(winners, 1);
        const int loser = fds[0] >= 0 ? 1 : 0;
        QCOMPARE(errors[loser], Error::AddressInUseError);
        QVERIFY(connectsRaw(path));
        ::close(int(fds[1 - loser]));
        files[1 - loser].remove();
        QVERIFY(!fileId(path).exists);
    }
}

void tst_LocalTransport::closeRemovesTheFile()
{
    QString path;
    {
        LocalStreamListener listener;
        listenOn(listener, uniqueEndpoint(u"close"_qs));
        path = listener.socketFilePath();
        QVERIFY(fileId(path).exists);
        listener.close();
        QVERIFY(!listener.isListening());
        QVERIFY(!fileId(path).exists);

        // Listening again on the same name works, and destruction cleans up too.
        listenOn(listener, endpointOf(QUrl(u"local:"_qs + QFileInfo(path).fileName())));
        QVERIFY(fileId(path).exists);
    }
    QVERIFY(!fileId(path).exists);
}

void tst_LocalTransport::closeLeavesAReplacedFile()
{
    LocalStreamListener listener;
    listenOn(listener, uniqueEndpoint(u"replaced"_qs));
    const QString path = listener.socketFilePath();

    // Somebody removed our file and another server listens there now.
    QVERIFY(::unlink(QFile::encodeName(path).constData()) == 0);
    const int other = listenRaw(path);
    QVERIFY(other >= 0);
    const auto cleanup = qScopeGuard([&] {
        ::close(other);
        ::unlink(QFile::encodeName(path).constData());
    });
    const FileId theirs = fileId(path);

    listener.close();
    QCOMPARE(fileId(path), theirs);
    QVERIFY(connectsRaw(path));
}

void tst_LocalTransport::absolutePath()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(u"app.sock"_qs);
    const Endpoint endpoint = endpointOf(QUrl(u"local:"_qs + path));
    QCOMPARE(endpoint.name, path);

    LocalStreamListener listener;
    listenOn(listener, endpoint);
    QCOMPARE(listener.socketFilePath(), path);
    QVERIFY(fileId(path).isSocket);
    QCOMPARE(listener.address().toString(), u"local:"_qs + path);
    // The temporary name it was bound to first is gone.
    QCOMPARE(QDir(dir.path()).entryList(QDir::AllEntries | QDir::System | QDir::Hidden | QDir::NoDotAndDotDot),
             QStringList{u"app.sock"_qs});

    Acceptor acceptor(&listener);
    std::unique_ptr<StreamSocket> client;
    connectPair(listener, acceptor, client);
    if (QTest::currentTestFailed())
        return;
    Reader reader(acceptor.sockets.front().get());
    client->device()->write("by path");
    QTRY_COMPARE(reader.data, QByteArray("by path"));
    listener.close();
    QVERIFY(!fileId(path).exists);
}

void tst_LocalTransport::missingDirectory()
{
    const Endpoint endpoint = endpointOf(
            QUrl(QStringLiteral("local:/nonexistent-qonduit-%1/app").arg(QCoreApplication::applicationPid())));
    LocalStreamListener listener;
    Error error = Error::NoError;
    QString text;
    QVERIFY(!listener.listen(endpoint, error, text));
    QCOMPARE(error, Error::InvalidEndpointError);
    QVERIFY2(text.contains(endpoint.toDisplayString()), qPrintable(text));
}

void tst_LocalTransport::pathTooLong()
{
    const Endpoint endpoint = endpointOf(QUrl(u"local:/tmp/"_qs + QString(120, u'x')));
    LocalStreamListener listener;
    Error error = Error::NoError;
    QString text;
    QVERIFY(!listener.listen(endpoint, error, text));
    QCOMPARE(error, Error::InvalidEndpointError);
    QVERIFY2(text.contains(u"longer"_qs), qPrintable(text));

    auto client = Transports::connectTo(endpoint);
    SignalLog log(client.get());
    QTRY_COMPARE(log.events, (QStringList{u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(log.errors.front(), Error::InvalidEndpointError);
}

void tst_LocalTransport::serverNotFoundText()
{
    const Endpoint endpoint = uniqueEndpoint(u"notfound"_qs);
    auto client = Transports::connectTo(endpoint);
    SignalLog log(client.get());
    QTRY_COMPARE(log.events, (QStringList{u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(log.errors.front(), Error::ConnectionRefusedError);
    QVERIFY2(log.texts.front().contains(endpoint.toDisplayString()), qPrintable(log.texts.front()));
    QVERIFY2(log.texts.front().contains(LocalSocketFile::pathFor(endpoint.name)), qPrintable(log.texts.front()));
}

void tst_LocalTransport::staleFileRefusesConnections()
{
    const Endpoint endpoint = uniqueEndpoint(u"refused"_qs);
    const QString path = LocalSocketFile::pathFor(endpoint.name);
    QVERIFY(makeStaleSocketFile(path));
    const auto cleanup = qScopeGuard([&] { ::unlink(QFile::encodeName(path).constData()); });

    auto client = Transports::connectTo(endpoint);
    SignalLog log(client.get());
    QTRY_COMPARE(log.events, (QStringList{u"failed"_qs, u"disconnected"_qs}));
    QCOMPARE(log.errors.front(), Error::ConnectionRefusedError);
    // A client never removes anything.
    QVERIFY(fileId(path).isSocket);
}

void tst_LocalTransport::listenTwice()
{
    LocalStreamListener listener;
    listenOn(listener, uniqueEndpoint(u"twice"_qs));
    const QString path = listener.socketFilePath();
    Error error = Error::NoError;
    QString text;
    QVERIFY(!listener.listen(uniqueEndpoint(u"twice"_qs), error, text));
    QCOMPARE(error, Error::AddressInUseError);
    QVERIFY(listener.isListening());
    QCOMPARE(listener.socketFilePath(), path);
}

QTEST_GUILESS_MAIN(tst_LocalTransport)

#include "tst_localtransport.moc"
