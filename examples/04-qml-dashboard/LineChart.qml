import QtQuick
import QtQuick.Controls.Basic
import Qonduit

// The last samples of a MessageModel as a chart: the temperature as a line
// on its own scale, with its set point dashed, and the load (0–100 %) as an
// area behind it.
Rectangle {
    id: chart

    required property MessageModel model

    radius: 10
    color: Theme.card

    Connections {
        target: chart.model
        function onCountChanged() { plot.requestPaint() }
    }

    Row {
        id: legend
        x: 14
        y: 10
        spacing: 16
        Repeater {
            model: [
                { name: qsTr("Temperature °C"), color: Theme.temperature },
                { name: qsTr("Set point"), color: Theme.dim },
                { name: qsTr("Load % (right axis)"), color: Theme.load },
            ]
            delegate: Row {
                id: entry
                required property var modelData
                spacing: 6
                Rectangle {
                    anchors.verticalCenter: parent.verticalCenter
                    width: 14
                    height: 3
                    color: entry.modelData.color
                }
                Label {
                    text: entry.modelData.name
                    color: Theme.dim
                    font.pixelSize: 12
                }
            }
        }
    }
    Label {
        anchors.right: parent.right
        anchors.rightMargin: 14
        y: 10
        text: qsTr("last %1 samples").arg(chart.model.count)
        color: Theme.dim
        font.pixelSize: 12
    }

    Canvas {
        id: plot
        anchors {
            fill: parent
            topMargin: 32
            leftMargin: 40
            rightMargin: 36
            bottomMargin: 12
        }
        onPaint: {
            const ctx = getContext("2d")
            ctx.reset()
            const n = chart.model.count
            const samples = []
            for (let i = 0; i < n; ++i)
                samples.push(chart.model.get(i))
            // The temperature scale: the data and the set point, with room.
            let low = Infinity
            let high = -Infinity
            for (const s of samples) {
                low = Math.min(low, s.temperature, s.setpoint)
                high = Math.max(high, s.temperature, s.setpoint)
            }
            if (n === 0) {
                low = 0
                high = 1
            }
            const pad = Math.max(0.5, (high - low) * 0.1)
            low = Math.floor(low - pad)
            high = Math.ceil(high + pad)
            const capacity = chart.model.capacity
            const xAt = (i) => (i + capacity - n) * width / (capacity - 1)
            const yAt = (t) => height - (t - low) / (high - low) * height

            ctx.font = "11px sans-serif"
            ctx.lineWidth = 1
            ctx.strokeStyle = Theme.grid
            ctx.fillStyle = Theme.dim
            for (let k = 0; k <= 4; ++k) {
                const y = Math.round(k * height / 4) + 0.5
                ctx.beginPath()
                ctx.moveTo(0, y)
                ctx.lineTo(width, y)
                ctx.stroke()
            }
            if (n < 2)
                return

            ctx.fillStyle = Qt.rgba(Theme.load.r, Theme.load.g, Theme.load.b, 0.18)
            ctx.beginPath()
            ctx.moveTo(xAt(0), height)
            for (let i = 0; i < n; ++i)
                ctx.lineTo(xAt(i), height - samples[i].load / 100 * height)
            ctx.lineTo(xAt(n - 1), height)
            ctx.closePath()
            ctx.fill()
            ctx.strokeStyle = Theme.load
            ctx.lineWidth = 1.5
            ctx.beginPath()
            for (let i = 0; i < n; ++i)
                ctx.lineTo(xAt(i), height - samples[i].load / 100 * height)
            ctx.stroke()

            ctx.strokeStyle = Theme.dim
            ctx.lineWidth = 1
            ctx.setLineDash([6, 4])
            ctx.beginPath()
            for (let i = 0; i < n; ++i)
                ctx.lineTo(xAt(i), yAt(samples[i].setpoint))
            ctx.stroke()
            ctx.setLineDash([])

            ctx.strokeStyle = Theme.temperature
            ctx.lineWidth = 2.5
            ctx.lineJoin = "round"
            ctx.beginPath()
            for (let i = 0; i < n; ++i)
                ctx.lineTo(xAt(i), yAt(samples[i].temperature))
            ctx.stroke()

            axisLabels.low = low
            axisLabels.high = high
        }
    }
    // Axis labels as text items (crisper than Canvas text), five per side.
    Item {
        id: axisLabels
        property real low: 0
        property real high: 1
        anchors.fill: plot
        Repeater {
            model: [axisLabels.high, 0.75 * axisLabels.high + 0.25 * axisLabels.low,
                    0.5 * (axisLabels.high + axisLabels.low), 0.25 * axisLabels.high + 0.75 * axisLabels.low,
                    axisLabels.low]
            delegate: Label {
                id: temperatureLabel
                required property int index
                required property real modelData
                x: -width - 6
                y: index * parent.height / 4 - height / 2
                text: temperatureLabel.modelData.toFixed(1)
                color: Theme.temperature
                font.pixelSize: 11
            }
        }
        Repeater {
            model: [100, 75, 50, 25, 0]
            delegate: Label {
                id: loadLabel
                required property int index
                required property int modelData
                x: parent.width + 6
                y: index * parent.height / 4 - height / 2
                text: loadLabel.modelData
                color: Theme.load
                font.pixelSize: 11
            }
        }
    }
}
