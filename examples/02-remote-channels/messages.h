// The messages channel-server and channel-client exchange. Both programs
// include this header: a typed message crosses the socket as a QVariant that
// names its type, and the receiving program finds the type by that name, so
// both must register it (registerMessageTypes()) with its QDataStream
// operators. Anything Qt can stream travels this way; a program that is not
// written with Qt would use CBOR (QCborMap) or raw bytes instead.
#ifndef QONDUIT_EXAMPLE_REMOTE_MESSAGES_H
#define QONDUIT_EXAMPLE_REMOTE_MESSAGES_H

#include <QtCore/QByteArray>
#include <QtCore/QDataStream>
#include <QtCore/QMetaType>
#include <QtCore/QString>
#include <QtCore/QStringList>

namespace RemoteExample {

// Client -> server: some text to analyse.
struct Request
{
    quint32 id = 0;
    QString text;

    friend QDataStream &operator<<(QDataStream &out, const Request &r) { return out << r.id << r.text; }
    friend QDataStream &operator>>(QDataStream &in, Request &r) { return in >> r.id >> r.text; }
};

// Server -> client: the answer to the request with the same id.
struct Reply
{
    quint32 id = 0;
    QString upper;   // the text in upper case
    qint32 words = 0; // how many words it has
    QString server;  // who answered: host and process id

    friend QDataStream &operator<<(QDataStream &out, const Reply &r)
    {
        return out << r.id << r.upper << r.words << r.server;
    }
    friend QDataStream &operator>>(QDataStream &in, Reply &r)
    {
        return in >> r.id >> r.upper >> r.words >> r.server;
    }
};

// The raw message a client sends to ask for the server's counters; the
// server answers with raw bytes too, a line of JSON.
inline QByteArray statsCommand()
{
    return QByteArrayLiteral("stats");
}

// What the server computes, here so that the client can check the reply.
inline qint32 countWords(const QString &text)
{
    return qint32(text.split(u' ', Qt::SkipEmptyParts).size());
}

} // namespace RemoteExample

Q_DECLARE_METATYPE(RemoteExample::Request)
Q_DECLARE_METATYPE(RemoteExample::Reply)

namespace RemoteExample {

inline void registerMessageTypes()
{
    qRegisterMetaType<Request>();
    qRegisterMetaType<Reply>();
}

} // namespace RemoteExample

#endif // QONDUIT_EXAMPLE_REMOTE_MESSAGES_H
