import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts
import Qonduit

// Window 1: the newest values as gauges, the recent ones as a chart.
ApplicationWindow {
    id: window

    required property ChannelReceiver stream
    required property ChannelReceiver gauges
    required property MessageModel history
    readonly property string streamStatus: badge.description
    // The newest sample: the gauges' receiver also delivers events.
    property var sample: null

    width: 760
    height: 480
    visible: true
    title: qsTr("Qonduit dashboard — live values")
    color: Theme.window
    palette.windowText: Theme.text

    Connections {
        target: window.gauges
        function onLatestChanged() {
            const latest = window.gauges.latest
            if (latest && latest.kind === "sample")
                window.sample = latest
        }
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 16
        spacing: 12

        RowLayout {
            Label {
                text: qsTr("Plant 7 · live values")
                color: Theme.text
                font.pixelSize: 20
                font.bold: true
            }
            Item { Layout.fillWidth: true }
            StatusBadge {
                id: badge
                status: window.stream.status
                errorString: window.stream.errorString
                reconnectInterval: window.stream.reconnectInterval
            }
        }

        RowLayout {
            spacing: 12
            // The gauges fill their row; the chart takes the rest.
            Layout.fillHeight: false
            Layout.preferredHeight: 170
            Gauge {
                Layout.fillWidth: true
                Layout.fillHeight: true
                label: qsTr("Temperature")
                unit: "°C"
                caption: window.sample ? qsTr("set point %1 °C").arg(window.sample.setpoint) : ""
                value: window.sample ? window.sample.temperature : NaN
                minimum: 0
                maximum: 50
                accent: Theme.temperature
            }
            Gauge {
                Layout.fillWidth: true
                Layout.fillHeight: true
                label: qsTr("Pressure")
                unit: "hPa"
                value: window.sample ? window.sample.pressure : NaN
                minimum: 990
                maximum: 1036
                decimals: 0
                accent: Theme.pressure
            }
            Gauge {
                Layout.fillWidth: true
                Layout.fillHeight: true
                label: qsTr("Load")
                unit: "%"
                caption: value > 80 ? qsTr("above alarm threshold") : ""
                value: window.sample ? window.sample.load : NaN
                decimals: 0
                accent: value > 80 ? Theme.warning : Theme.load
            }
        }

        LineChart {
            Layout.fillWidth: true
            Layout.fillHeight: true
            model: window.history
        }

        Label {
            Layout.fillWidth: true
            text: qsTr("%1 messages received · gauges updated %2 times, %3 coalesced · %4 history rows dropped")
                  .arg(window.stream.count).arg(window.gauges.count)
                  .arg(window.gauges.coalescedCount).arg(window.history.droppedCount)
            color: Theme.dim
            font.pixelSize: 11
            elide: Text.ElideRight
        }
    }
}
