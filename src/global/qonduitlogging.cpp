#include "global/qonduitlogging_p.h"

Q_LOGGING_CATEGORY(lcQonduitChannel, "qonduit.channel", QtInfoMsg)
Q_LOGGING_CATEGORY(lcQonduitConnection, "qonduit.connection", QtInfoMsg)
Q_LOGGING_CATEGORY(lcQonduitTransportInproc, "qonduit.transport.inproc", QtInfoMsg)
Q_LOGGING_CATEGORY(lcQonduitTransportLocal, "qonduit.transport.local", QtInfoMsg)
Q_LOGGING_CATEGORY(lcQonduitTransportTcp, "qonduit.transport.tcp", QtInfoMsg)
Q_LOGGING_CATEGORY(lcQonduitTransportTls, "qonduit.transport.tls", QtInfoMsg)
Q_LOGGING_CATEGORY(lcQonduitTransportSharedKey, "qonduit.transport.sharedkey", QtInfoMsg)
