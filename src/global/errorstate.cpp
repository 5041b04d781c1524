#include "global/errorstate_p.h"

namespace Qonduit {

void ErrorState::set(Error error, const QString &text)
{
    std::lock_guard lock(m_mutex);
    m_error = error;
    m_text = text;
}

Error ErrorState::error() const
{
    std::lock_guard lock(m_mutex);
    return m_error;
}

QString ErrorState::errorString() const
{
    std::lock_guard lock(m_mutex);
    return m_text;
}

} // namespace Qonduit
