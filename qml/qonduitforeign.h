#ifndef QONDUIT_QONDUITFOREIGN_H
#define QONDUIT_QONDUITFOREIGN_H

#include <Qonduit/qonduitnamespace.h>

#include <QtQml/qqml.h>

// The core's enums in QML: Qonduit.AuthenticationError, Qonduit.DropOldest, ...
// The core library never links QtQml; this foreign declaration registers its
// namespace from the QML module instead.
namespace QonduitForeign {
Q_NAMESPACE
QML_FOREIGN_NAMESPACE(Qonduit)
QML_NAMED_ELEMENT(Qonduit)
} // namespace QonduitForeign

#endif // QONDUIT_QONDUITFOREIGN_H
