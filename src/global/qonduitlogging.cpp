#include "global/qonduitlogging_p.h"

Q_LOGGING_CATEGORY(lcQonduitChannel, "qonduit.channel", QtInfoMsg)
Q_LOGGING_CATEGORY(lcQonduitTransportInproc, "qonduit.transport.inproc", QtInfoMsg)
