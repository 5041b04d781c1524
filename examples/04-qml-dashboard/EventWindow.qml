import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts
import Qonduit

// Window 2: the producer's events as a list, and a field that sends
// commands back to it.
ApplicationWindow {
    id: window

    required property ChannelReceiver stream
    required property ChannelSender commands
    required property MessageModel events
    // Typed into the field and sent once the sender is connected.
    property string pendingCommand

    // A number sets the producer's set point; anything else is a note that
    // the producer passes on to every dashboard.
    function sendCommand() {
        const text = field.text.trim()
        if (text.length === 0)
            return
        const number = Number(text)
        if (commands.send(isNaN(number) ? { note: text } : { setpoint: number }))
            field.clear()
    }

    Connections {
        target: window.commands
        function onStatusChanged() {
            if (window.commands.status !== ChannelSender.Connected || window.pendingCommand.length === 0)
                return
            field.text = window.pendingCommand
            window.pendingCommand = ""
            window.sendCommand()
        }
    }

    width: 440
    height: 480
    visible: true
    title: qsTr("Qonduit dashboard — events")
    color: Theme.window
    palette.windowText: Theme.text
    palette.base: Theme.card
    palette.text: Theme.text
    palette.button: Theme.grid
    palette.buttonText: Theme.text
    palette.mid: Theme.grid

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 16
        spacing: 12

        RowLayout {
            Label {
                text: qsTr("Events")
                color: Theme.text
                font.pixelSize: 20
                font.bold: true
            }
            Item { Layout.fillWidth: true }
            Label {
                text: qsTr("%1 in the list").arg(window.events.count)
                color: Theme.dim
            }
        }

        Rectangle {
            Layout.fillWidth: true
            Layout.fillHeight: true
            radius: 10
            color: Theme.card

            ListView {
                id: list
                anchors.fill: parent
                anchors.margins: 8
                clip: true
                spacing: 2
                model: window.events
                onCountChanged: positionViewAtEnd()
                delegate: RowLayout {
                    id: row
                    required property string level
                    required property string text
                    required property date time
                    width: ListView.view.width
                    spacing: 8
                    Label {
                        text: Qt.formatTime(row.time, "hh:mm:ss")
                        color: Theme.dim
                        font.pixelSize: 12
                        font.family: "monospace"
                    }
                    Rectangle {
                        Layout.preferredWidth: 62
                        Layout.preferredHeight: 18
                        radius: 9
                        color: Qt.rgba(Theme.levelColor(row.level).r, Theme.levelColor(row.level).g,
                                       Theme.levelColor(row.level).b, 0.2)
                        Label {
                            anchors.centerIn: parent
                            text: row.level
                            color: Theme.levelColor(row.level)
                            font.pixelSize: 11
                        }
                    }
                    Label {
                        Layout.fillWidth: true
                        text: row.text
                        color: Theme.text
                        font.pixelSize: 13
                        elide: Text.ElideRight
                    }
                }
            }
        }

        RowLayout {
            spacing: 8
            TextField {
                id: field
                Layout.fillWidth: true
                placeholderText: qsTr("Set point (e.g. 42) or a note")
                placeholderTextColor: Theme.dim
                onAccepted: window.sendCommand()
            }
            Button {
                text: qsTr("Send")
                enabled: field.text.trim().length > 0 && window.commands.status === ChannelSender.Connected
                onClicked: window.sendCommand()
            }
        }

        RowLayout {
            Label {
                text: qsTr("Stream:")
                color: Theme.dim
            }
            StatusBadge {
                Layout.fillWidth: true
                status: window.stream.status
                errorString: window.stream.errorString
                reconnectInterval: window.stream.reconnectInterval
            }
        }
        RowLayout {
            Label {
                text: qsTr("Commands: %1 sent ·").arg(window.commands.sentCount)
                color: Theme.dim
            }
            StatusBadge {
                Layout.fillWidth: true
                status: window.commands.status
                errorString: window.commands.errorString
                reconnectInterval: window.commands.reconnectInterval
            }
        }
    }
}
