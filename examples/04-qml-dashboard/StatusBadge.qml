import QtQuick
import QtQuick.Controls.Basic
import Qonduit

// A channel's status as a coloured dot and a line of text: what the user
// sees while connecting, when the producer is gone and after it is back.
Row {
    id: badge

    required property int status
    required property string errorString
    required property int reconnectInterval
    readonly property string description: {
        switch (status) {
        case ChannelReceiver.Connected: return qsTr("Connected")
        case ChannelReceiver.Connecting: return qsTr("Connecting…")
        case ChannelReceiver.Closed: return qsTr("Producer closed the channel, retrying every %1 s")
                                            .arg(reconnectInterval / 1000)
        case ChannelReceiver.Error: return qsTr("Error: %1 (retrying every %2 s)")
                                           .arg(errorString).arg(reconnectInterval / 1000)
        default: return qsTr("No source")
        }
    }

    spacing: 8
    Rectangle {
        anchors.verticalCenter: parent.verticalCenter
        width: 10
        height: 10
        radius: 5
        color: badge.status === ChannelReceiver.Connected ? Theme.load
             : badge.status === ChannelReceiver.Error ? Theme.error : Theme.warning
    }
    Label {
        text: badge.description
        color: Theme.dim
        elide: Text.ElideRight
        width: Math.min(implicitWidth, 420)
    }
}
