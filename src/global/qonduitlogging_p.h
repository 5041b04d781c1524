#ifndef QONDUIT_QONDUITLOGGING_P_H
#define QONDUIT_QONDUITLOGGING_P_H

#include <QtCore/qloggingcategory.h>

// Categories are declared once here and named qonduit.<area> so users can
// switch an area on with QT_LOGGING_RULES="qonduit.channel.debug=true".
Q_DECLARE_LOGGING_CATEGORY(lcQonduitChannel)
Q_DECLARE_LOGGING_CATEGORY(lcQonduitConnection)
Q_DECLARE_LOGGING_CATEGORY(lcQonduitTransportInproc)
Q_DECLARE_LOGGING_CATEGORY(lcQonduitTransportLocal)
Q_DECLARE_LOGGING_CATEGORY(lcQonduitTransportTcp)
Q_DECLARE_LOGGING_CATEGORY(lcQonduitTransportTls)
Q_DECLARE_LOGGING_CATEGORY(lcQonduitTransportSharedKey)

#endif // QONDUIT_QONDUITLOGGING_P_H
