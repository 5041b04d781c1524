// Runs the Qt Quick Tests in this directory (tst_*.qml), each against real
// channels: the Peer singleton (import QonduitTest) serves tcp://, local:
// and inproc: from C++ in the same process.
#include <QtQuickTest/quicktest.h>

QUICK_TEST_MAIN(qonduit_qml)
