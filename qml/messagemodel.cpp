#include "messagemodel.h"

namespace Qonduit {

MessageModel::MessageModel(QObject *parent)
    : QAbstractListModel(parent)
{
    m_roles.insert(Qt::DisplayRole, QByteArrayLiteral("display"));
    m_roles.insert(MessageRole, QByteArrayLiteral("message"));
}

void MessageModel::setReceiver(QmlMessageSource *receiver)
{
    if (m_receiver == receiver)
        return;
    if (m_receiver)
        m_receiver->disconnect(this);
    m_receiver = receiver;
    if (m_receiver)
        connect(m_receiver, &QmlMessageSource::messageReceived, this, &MessageModel::appendMessage);
    Q_EMIT receiverChanged();
}

void MessageModel::setCapacity(int rows)
{
    rows = qMax(1, rows);
    if (m_capacity == rows)
        return;
    m_capacity = rows;
    if (rowCount() > m_capacity)
        dropOldest(rowCount() - m_capacity);
    Q_EMIT capacityChanged();
}

void MessageModel::append(const QJSValue &message)
{
    appendMessage(message.toVariant());
}

void MessageModel::appendMessage(const QVariant &message)
{
    learnKeys(message);
    if (rowCount() == m_capacity)
        dropOldest(1);
    beginInsertRows(QModelIndex(), rowCount(), rowCount());
    m_rows.push_back(message);
    endInsertRows();
    Q_EMIT countChanged();
}

void MessageModel::clear()
{
    if (m_rows.empty())
        return;
    beginResetModel();
    m_rows.clear();
    endResetModel();
    Q_EMIT countChanged();
}

QVariant MessageModel::get(int row) const
{
    if (row < 0 || row >= rowCount())
        return {};
    return m_rows[size_t(row)];
}

int MessageModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

QVariant MessageModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const QVariant &message = m_rows[size_t(index.row())];
    if (role == Qt::DisplayRole || role == MessageRole)
        return message;
    const qsizetype key = role - FirstKeyRole;
    if (key < 0 || key >= m_keys.size() || message.metaType() != QMetaType::fromType<QVariantMap>())
        return {};
    return message.value<QVariantMap>().value(m_keys.at(key));
}

QHash<int, QByteArray> MessageModel::roleNames() const
{
    return m_roles;
}

// A key seen for the first time becomes a role. Views read the role names
// when they attach to the model or it resets, so new ones need a reset; keys
// settle after the first messages, so this happens rarely.
void MessageModel::learnKeys(const QVariant &message)
{
    if (message.metaType() != QMetaType::fromType<QVariantMap>())
        return;
    QStringList newKeys;
    const QVariantMap &map = message.value<QVariantMap>();
    for (auto it = map.keyBegin(); it != map.keyEnd(); ++it) {
        if (!m_keys.contains(*it) && *it != QLatin1String("display") && *it != QLatin1String("message"))
            newKeys.append(*it);
    }
    if (newKeys.isEmpty())
        return;
    beginResetModel();
    for (const QString &key : std::as_const(newKeys)) {
        m_roles.insert(FirstKeyRole + int(m_keys.size()), key.toUtf8());
        m_keys.append(key);
    }
    endResetModel();
}

void MessageModel::dropOldest(int rows)
{
    beginRemoveRows(QModelIndex(), 0, rows - 1);
    m_rows.erase(m_rows.begin(), m_rows.begin() + rows);
    endRemoveRows();
    m_droppedCount += rows;
    Q_EMIT droppedCountChanged();
    Q_EMIT countChanged();
}

} // namespace Qonduit
