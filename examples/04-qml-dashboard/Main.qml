import QtQuick
import Qonduit

// The dashboard: the channels to the producer, the models they fill and the
// two windows that show them. main.cpp sets `source` (--connect) and, for
// --screenshot, `readySamples`, and waits for `ready`.
QtObject {
    id: dashboard

    property url source: "local:qonduit-dashboard"
    // --send: typed into the command field as soon as the sender connects.
    property string initialCommand
    property int readySamples: 0
    // The producer announced a command (ours or another dashboard's).
    property bool commandAnswered: false
    // Enough real data for a picture: a chart with a line, an event and the
    // answer to --send.
    readonly property bool ready: readySamples > 0 && stream.count >= readySamples && events.count > 0
                                  && (initialCommand.length === 0 || commandAnswered)
    readonly property int sampleCount: history.count + history.droppedCount
    readonly property string statusText: "stream " + chartWindow.streamStatus

    // Every message, in order: samples go to the chart's history, events to
    // the list. Reconnects when the producer restarts.
    property ChannelReceiver stream: ChannelReceiver {
        source: dashboard.source
        reconnectInterval: 1000
        onMessageReceived: (message) => {
            if (message.kind === "sample")
                dashboard.history.append(message)
            else if (message.kind === "event") {
                dashboard.events.append(message)
                if (message.level === "command" || message.level === "note")
                    dashboard.commandAnswered = true
            }
        }
    }
    // The gauges need only the newest values: at most one update per frame,
    // however fast the producer sends.
    property ChannelReceiver gauges: ChannelReceiver {
        source: dashboard.source
        reconnectInterval: 1000
        delivery: ChannelReceiver.LatestPerFrame
    }
    // Commands back to the producer.
    property ChannelSender commands: ChannelSender {
        target: dashboard.source
        reconnectInterval: 1000
    }

    property MessageModel history: MessageModel { capacity: 200 }
    property MessageModel events: MessageModel { capacity: 500 }

    property ChartWindow chartWindow: ChartWindow {
        x: 40
        y: 40
        stream: dashboard.stream
        gauges: dashboard.gauges
        history: dashboard.history
    }
    property EventWindow eventWindow: EventWindow {
        x: dashboard.chartWindow.x + dashboard.chartWindow.width + 16
        y: dashboard.chartWindow.y
        stream: dashboard.stream
        commands: dashboard.commands
        events: dashboard.events
        pendingCommand: dashboard.initialCommand
    }
}
