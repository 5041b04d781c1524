#ifndef QONDUIT_MESSAGEMODEL_H
#define QONDUIT_MESSAGEMODEL_H

#include "qmlmessagesource.h"

#include <QtCore/qabstractitemmodel.h>
#include <QtCore/qpointer.h>
#include <QtQml/qjsvalue.h>
#include <QtQml/qqml.h>

#include <deque>

namespace Qonduit {

// MessageModel { receiver: someReceiver; capacity: 100 }: the messages a
// ChannelReceiver or ChannelServer delivers, as rows of a list model, oldest
// first; when full, the oldest row goes. A message that is an object gives
// one role per key (the roles grow as new keys appear); every row also has
// the role "message" with the whole value.
class MessageModel : public QAbstractListModel
{
    Q_OBJECT
    Q_PROPERTY(Qonduit::QmlMessageSource *receiver READ receiver WRITE setReceiver NOTIFY receiverChanged)
    Q_PROPERTY(int capacity READ capacity WRITE setCapacity NOTIFY capacityChanged)
    Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
    Q_PROPERTY(double droppedCount READ droppedCount NOTIFY droppedCountChanged)
    QML_ELEMENT

public:
    explicit MessageModel(QObject *parent = nullptr);

    QmlMessageSource *receiver() const { return m_receiver; }
    void setReceiver(QmlMessageSource *receiver);
    int capacity() const { return m_capacity; }
    void setCapacity(int rows);
    // Rows the capacity pushed out.
    qint64 droppedCount() const { return m_droppedCount; }

    // Adds a row as if the receiver had delivered message.
    Q_INVOKABLE void append(const QJSValue &message);
    Q_INVOKABLE void clear();
    // The message of row, or undefined outside the rows.
    Q_INVOKABLE QVariant get(int row) const;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

Q_SIGNALS:
    void receiverChanged();
    void capacityChanged();
    void countChanged();
    void droppedCountChanged();

private:
    static constexpr int MessageRole = Qt::UserRole;
    // Role of m_keys[i]: FirstKeyRole + i.
    static constexpr int FirstKeyRole = MessageRole + 1;
    void appendMessage(const QVariant &message);
    void learnKeys(const QVariant &message);
    void dropOldest(int rows);

    QPointer<QmlMessageSource> m_receiver;
    int m_capacity = 1000;
    qint64 m_droppedCount = 0;
    std::deque<QVariant> m_rows;
    QHash<int, QByteArray> m_roles;
    QStringList m_keys;
};

} // namespace Qonduit

#endif // QONDUIT_MESSAGEMODEL_H
