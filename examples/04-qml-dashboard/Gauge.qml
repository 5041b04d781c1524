import QtQuick
import QtQuick.Controls.Basic

// One value as a 270° arc, a big number and a caption.
Rectangle {
    id: gauge

    property string label
    property string unit
    property string caption
    property real value: NaN
    property real minimum: 0
    property real maximum: 100
    property int decimals: 1
    property color accent: Theme.load

    readonly property real fraction: isNaN(value) ? 0
        : Math.max(0, Math.min(1, (value - minimum) / (maximum - minimum)))

    radius: 10
    color: Theme.card
    onFractionChanged: arc.requestPaint()

    Label {
        x: 14
        y: 10
        text: gauge.label
        color: Theme.dim
        font.pixelSize: 13
    }
    Canvas {
        id: arc
        anchors.centerIn: parent
        anchors.verticalCenterOffset: 8
        width: Math.min(gauge.width - 20, gauge.height - 30)
        height: width
        onPaint: {
            const ctx = getContext("2d")
            ctx.reset()
            const r = width / 2 - 7
            const start = 0.75 * Math.PI
            const sweep = 1.5 * Math.PI
            ctx.lineCap = "round"
            ctx.lineWidth = 9
            ctx.strokeStyle = Theme.grid
            ctx.beginPath()
            ctx.arc(width / 2, height / 2, r, start, start + sweep, false)
            ctx.stroke()
            if (gauge.fraction > 0) {
                ctx.strokeStyle = gauge.accent
                ctx.beginPath()
                ctx.arc(width / 2, height / 2, r, start, start + sweep * gauge.fraction, false)
                ctx.stroke()
            }
        }
    }
    Column {
        anchors.centerIn: arc
        Label {
            anchors.horizontalCenter: parent.horizontalCenter
            text: isNaN(gauge.value) ? "–" : gauge.value.toFixed(gauge.decimals)
            color: Theme.text
            font.pixelSize: 30
            font.bold: true
        }
        Label {
            anchors.horizontalCenter: parent.horizontalCenter
            text: gauge.unit
            color: Theme.dim
            font.pixelSize: 13
        }
    }
    Label {
        anchors.horizontalCenter: parent.horizontalCenter
        anchors.bottom: parent.bottom
        anchors.bottomMargin: 8
        text: gauge.caption
        color: Theme.dim
        font.pixelSize: 11
    }
}
