import QtQuick
import QtTest
import Qonduit
import QonduitTest

TestCase {
    id: testCase
    name: "ChannelReceiver"

    Component {
        id: receiverComponent
        ChannelReceiver {}
    }

    Component {
        id: boundLabel
        Text {
            property ChannelReceiver receiver
            text: receiver.latest ? receiver.latest.name : ""
        }
    }

    SignalSpy {
        id: deliveries
        signalName: "messageReceived"
    }

    function makeReceiver(properties) {
        const receiver = createTemporaryObject(receiverComponent, testCase, properties)
        verify(receiver)
        return receiver
    }

    function connectedReceiver(url, properties) {
        const accepted = Peer.acceptedCount
        const receiver = makeReceiver(Object.assign({ source: url }, properties || {}))
        tryCompare(receiver, "status", ChannelReceiver.Connected)
        compare(receiver.error, Qonduit.NoError)
        // The peer takes the channel from its event loop: wait until it has.
        tryVerify(() => Peer.acceptedCount > accepted)
        return receiver
    }

    function init() {
        deliveries.clear()
    }

    function transports_data() {
        return [
            { tag: "tcp", url: Peer.tcpUrl },
            { tag: "local", url: Peer.localUrl },
            { tag: "inproc", url: Peer.inprocUrl },
        ]
    }

    function test_latestIsBindable_data() {
        // As the docs write it: a host name, not an address.
        const byName = "tcp://localhost:" + String(Peer.tcpUrl).split(":").pop()
        return transports_data().concat([{ tag: "tcp by host name", url: byName }])
    }
    function test_latestIsBindable(data) {
        const receiver = connectedReceiver(data.url)
        const label = createTemporaryObject(boundLabel, testCase, { receiver: receiver })
        compare(label.text, "")
        Peer.sendSequence(1, 3)
        tryCompare(receiver, "count", 3)
        compare(receiver.latest.seq, 3)
        compare(label.text, "m3")
    }

    function test_cppValuesArriveAsJavaScript_data() {
        const rows = []
        for (const transport of transports_data()) {
            rows.push({ tag: transport.tag + " QVariantMap", url: transport.url, kind: "nested" })
            rows.push({ tag: transport.tag + " QCborMap", url: transport.url, kind: "cbor" })
        }
        return rows
    }
    function test_cppValuesArriveAsJavaScript(data) {
        const receiver = connectedReceiver(data.url)
        deliveries.target = receiver
        Peer.sendSample(data.kind)
        deliveries.wait()
        const message = deliveries.signalArguments[0][0]
        compare(message.text, "héllo")
        compare(message.ratio, 0.25)
        compare(message.flag, true)
        compare(message.nothing, null)
        verify(Array.isArray(message.list))
        compare(message.list.length, 3)
        compare(message.list[0], 1)
        compare(message.list[1], "two")
        compare(message.list[2], 3.5)
        compare(message.inner.depth, 2)
        verify(message.when instanceof Date)
        compare(message.when.getTime(), Date.UTC(2026, 10, 22, 12, 30, 15))
        compare(receiver.latest.text, "héllo")
    }

    function test_rawMessagesArriveAsArrayBuffer() {
        const receiver = connectedReceiver(Peer.localUrl)
        Peer.sendSample("raw")
        tryCompare(receiver, "count", 1)
        verify(receiver.latest instanceof ArrayBuffer)
        compare(Array.from(new Uint8Array(receiver.latest)), [1, 2, 3])
    }

    function test_errorsShowInStatus_data() {
        return [
            { tag: "refused", url: "tcp://127.0.0.1:1", error: Qonduit.ConnectionRefusedError },
            { tag: "nobody on the name", url: Peer.spareUrl(), error: Qonduit.ConnectionRefusedError },
            { tag: "unknown scheme", url: "carrier-pigeon://coop", error: Qonduit.UnsupportedSchemeError },
            { tag: "no host", url: "tcp://:7000", error: Qonduit.InvalidEndpointError },
        ]
    }
    function test_errorsShowInStatus(data) {
        const receiver = makeReceiver({ source: data.url })
        tryCompare(receiver, "status", ChannelReceiver.Error)
        compare(receiver.error, data.error)
        verify(receiver.errorString.length > 0, "errorString says why")
    }

    function test_noSourceIsNull() {
        const receiver = makeReceiver({})
        compare(receiver.status, ChannelReceiver.Null)
        const connected = connectedReceiver(Peer.tcpUrl)
        connected.source = ""
        compare(connected.status, ChannelReceiver.Null)
        compare(connected.error, Qonduit.NoError)
    }

    function test_changingSourceReconnects() {
        const receiver = connectedReceiver(Peer.tcpUrl)
        Peer.sendSequence(1, 1)
        tryCompare(receiver, "count", 1)

        const before = Peer.clientCount
        receiver.source = Peer.localUrl
        compare(receiver.status, ChannelReceiver.Connecting)
        tryCompare(receiver, "status", ChannelReceiver.Connected)
        // The tcp:// channel was closed: the peer has the same number of clients.
        tryCompare(Peer, "clientCount", before)
        Peer.sendSequence(2, 1)
        tryCompare(receiver, "count", 2)
        compare(receiver.latest.seq, 2)
    }

    function test_reconnectsWhenTheServerComesUp() {
        const url = Peer.spareUrl()
        const receiver = makeReceiver({ source: url, reconnectInterval: 20 })
        tryCompare(receiver, "status", ChannelReceiver.Error)
        compare(receiver.error, Qonduit.ConnectionRefusedError)
        verify(Peer.listenOn(url))
        tryCompare(receiver, "status", ChannelReceiver.Connected)
        compare(receiver.error, Qonduit.NoError)
        compare(receiver.errorString, "")
    }

    function test_deliveryCoalesces_data() {
        return [
            { tag: "per interval", delivery: ChannelReceiver.LatestPerInterval },
            { tag: "per frame", delivery: ChannelReceiver.LatestPerFrame },
        ]
    }
    function test_deliveryCoalesces(data) {
        const receiver = connectedReceiver(Peer.inprocUrl, { delivery: data.delivery, updateInterval: 500 })
        deliveries.target = receiver
        const total = 200
        // In-process, the whole burst is queued before the receiver's thread runs.
        Peer.sendSequence(1, total)
        tryCompare(receiver, "count", total)
        tryVerify(() => receiver.latest.seq === total, 2000, "the last message is always delivered")
        verify(deliveries.count >= 2 && deliveries.count < total,
               "delivered " + deliveries.count + " of " + total)
        compare(receiver.coalescedCount + deliveries.count, total)
        compare(deliveries.signalArguments[0][0].seq, 1, "the first message goes out at once")
    }

    function test_everyMessageIsTheDefault() {
        const receiver = connectedReceiver(Peer.inprocUrl)
        compare(receiver.delivery, ChannelReceiver.EveryMessage)
        deliveries.target = receiver
        Peer.sendSequence(1, 50)
        tryCompare(deliveries, "count", 50)
        compare(receiver.coalescedCount, 0)
    }

    function test_overflowIsCounted() {
        const receiver = connectedReceiver(Peer.inprocUrl, { capacity: 10, overflowPolicy: Qonduit.DropOldest })
        compare(receiver.capacity, 10)
        Peer.sendSequence(1, 100)
        tryCompare(receiver, "droppedCount", 90)
        tryCompare(receiver, "count", 10)
        compare(receiver.latest.seq, 100)
    }
}
