#include "transport/streamlistener_p.h"

#include "transport/streamsocket_p.h"

#include <QtCore/qmetaobject.h>

namespace Qonduit {

StreamListener::StreamListener(QObject *parent)
    : QObject(parent)
{
}

StreamListener::~StreamListener() = default;

void StreamListener::setOptionsSource(std::function<ChannelOptions()> source)
{
    m_optionsSource = std::move(source);
}

ChannelOptions StreamListener::currentOptions() const
{
    return m_optionsSource ? m_optionsSource() : ChannelOptions();
}

void StreamListener::handOut(std::unique_ptr<StreamSocket> socket)
{
    static const QMetaMethod signal = QMetaMethod::fromSignal(&StreamListener::incoming);
    if (!isSignalConnected(signal)) {
        // Nobody to own it: closing is better than leaking a descriptor.
        socket->abort();
        return;
    }
    Q_EMIT incoming(socket.release());
}

} // namespace Qonduit
