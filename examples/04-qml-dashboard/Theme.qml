pragma Singleton
import QtQuick

// The colours both windows share.
QtObject {
    readonly property color window: "#14171f"
    readonly property color card: "#1e2330"
    readonly property color grid: "#2c3344"
    readonly property color text: "#e8ebf2"
    readonly property color dim: "#8a93a8"
    readonly property color temperature: "#ff9f43"
    readonly property color pressure: "#54a0ff"
    readonly property color load: "#1dd1a1"
    readonly property color warning: "#feca57"
    readonly property color error: "#ff6b6b"

    function levelColor(level: string): color {
        switch (level) {
        case "warning": return warning
        case "error": return error
        case "command": return temperature
        case "note": return pressure
        case "status": return dim
        default: return load
        }
    }
}
