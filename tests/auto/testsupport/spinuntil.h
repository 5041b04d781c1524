#ifndef QONDUIT_TESTS_SPINUNTIL_H
#define QONDUIT_TESTS_SPINUNTIL_H

#include <QtCore/qdeadlinetimer.h>

#include <thread>

namespace QonduitTest {

// Yields until predicate() holds, which another thread makes true; false
// after timeoutMs. For waits that must not run the event loop (it would
// drain the channel under test), and for threads that have none.
template <typename Predicate>
bool spinUntil(Predicate predicate, int timeoutMs = 5000)
{
    const QDeadlineTimer deadline(timeoutMs);
    while (!predicate()) {
        if (deadline.hasExpired())
            return false;
        std::this_thread::yield();
    }
    return true;
}

} // namespace QonduitTest

#endif // QONDUIT_TESTS_SPINUNTIL_H
