#include <Qonduit/qonduitnamespace.h>

#include "moc_qonduitnamespace.cpp"
