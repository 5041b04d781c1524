#ifndef QONDUIT_QONDUITGLOBAL_H
#define QONDUIT_QONDUITGLOBAL_H

#include <Qonduit/qonduit_export.h>

#include <QtCore/qglobal.h>

#define QONDUIT_VERSION_MAJOR 0
#define QONDUIT_VERSION_MINOR 1
#define QONDUIT_VERSION_PATCH 0
#define QONDUIT_VERSION_STR "0.1.0"

#endif // QONDUIT_QONDUITGLOBAL_H
