#include "connection/connectionstream_p.h"

#include "connection/connection_p.h"

#include <QtCore/qthread.h>

namespace Qonduit {

ConnectionStream::ConnectionStream(Connection &connection, quint32 streamId, std::shared_ptr<Mailbox> out,
                                   std::shared_ptr<Mailbox> in, qint64 window)
    : id(streamId)
    , outgoing(std::move(out))
    , incoming(std::move(in))
    , sendWindow(window)
    , m_connection(connection)
    // The connection is one of the incoming queue's senders: the receiver's
    // closed() waits for the peer's CLOSE.
    , m_incomingLane(incoming->addSender())
{
    Q_ASSERT(m_incomingLane); // a fresh mailbox, which no sender left yet
    incoming->setReleaseObserver(this);
    outgoing->attachConsumer(this);
}

ConnectionStream::~ConnectionStream()
{
    endOutgoing();
    endIncoming();
    incoming->setReleaseObserver(nullptr);
}

void ConnectionStream::wake()
{
    m_connection.scheduleService(id);
}

bool ConnectionStream::drainsOnCurrentThread() const
{
    return m_connection.thread() == QThread::currentThread();
}

void ConnectionStream::released(qint64 bytes)
{
    m_released.fetch_add(bytes);
    m_connection.scheduleService(id);
}

void ConnectionStream::arrive(Envelope &&envelope)
{
    if (!incomingEnded)
        m_parked.push_back(std::move(envelope));
}

qint64 ConnectionStream::deliverParked()
{
    return incoming->pushFront(*m_incomingLane, m_parked);
}

void ConnectionStream::endIncoming(Error error, const QString &text)
{
    if (incomingEnded)
        return;
    incomingEnded = true;
    // Complete messages that waited for room still reach the receiver, before
    // the event that ends the stream; no policy may drop that event.
    for (Envelope &parked : m_parked)
        incoming->pushUnbounded(*m_incomingLane, parked);
    m_parked.clear();
    if (error != Error::NoError) {
        Envelope event = Envelope::error(error, text);
        incoming->pushUnbounded(*m_incomingLane, event);
    }
    incoming->removeSender(*m_incomingLane);
}

void ConnectionStream::endOutgoing()
{
    outgoing->detachConsumer();
}

} // namespace Qonduit
