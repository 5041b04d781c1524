#include "security/noisestreamlistener_p.h"

#include "global/qonduitlogging_p.h"
#include "security/noisestreamsocket_p.h"

#include <QtCore/qcoreapplication.h>

namespace Qonduit {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::NoiseStreamListener", text);
}

} // namespace

NoiseStreamListener::NoiseStreamListener(std::unique_ptr<StreamListener> inner, QObject *parent)
    : StreamListener(parent),
      m_inner(std::move(inner)),
      m_handshaking(
              this, lcQonduitTransportSharedKey, QStringLiteral("shared-key"),
              [this](std::unique_ptr<StreamSocket> socket) { handOut(std::move(socket)); },
              [this](Error error, const QString &text) { Q_EMIT refused(error, text); })
{
    m_inner->setOptionsSource([this] { return currentOptions(); });
    connect(m_inner.get(), &StreamListener::incoming, this, &NoiseStreamListener::take);
}

NoiseStreamListener::~NoiseStreamListener()
{
    m_handshaking.clear();
}

bool NoiseStreamListener::listen(const Endpoint &endpoint, Error &error, QString &errorText)
{
    const QString unusable = NoiseStreamSocket::checkKey(currentOptions().sharedKey);
    if (!isListening() && !unusable.isEmpty()) {
        error = Error::AuthenticationError;
        errorText = tr("Cannot listen on %1: %2.").arg(endpoint.toDisplayString(), unusable);
        return false;
    }
    return m_inner->listen(endpoint, error, errorText);
}

bool NoiseStreamListener::isListening() const
{
    return m_inner->isListening();
}

QUrl NoiseStreamListener::address() const
{
    return m_inner->address();
}

void NoiseStreamListener::close()
{
    m_inner->close();
    m_handshaking.clear();
}

void NoiseStreamListener::take(StreamSocket *accepted)
{
    const ChannelOptions options = currentOptions();
    m_handshaking.add(NoiseStreamSocket::accept(std::unique_ptr<StreamSocket>(accepted), options.sharedKey,
                                                std::chrono::milliseconds(std::max(1, options.handshakeTimeoutMs))));
}

} // namespace Qonduit
