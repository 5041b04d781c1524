import QtQuick
import QtTest
import Qonduit
import QonduitTest

TestCase {
    id: testCase
    name: "ChannelSender"

    Component {
        id: senderComponent
        ChannelSender {}
    }

    Component {
        id: receiverComponent
        ChannelReceiver {}
    }

    Item {
        id: someItem
    }

    function connected(component, properties) {
        const accepted = Peer.acceptedCount
        const object = createTemporaryObject(component, testCase, properties)
        verify(object)
        tryCompare(object, "status", ChannelSender.Connected)
        tryVerify(() => Peer.acceptedCount > accepted)
        return object
    }

    function transports_data() {
        return [
            { tag: "tcp", url: Peer.tcpUrl },
            { tag: "local", url: Peer.localUrl },
            { tag: "inproc", url: Peer.inprocUrl },
        ]
    }

    readonly property var sample: ({
        text: "héllo",
        count: 42,
        ratio: 0.5,
        flag: false,
        nothing: null,
        list: [1, "two", [3]],
        inner: { depth: 2 },
        when: new Date(Date.UTC(2026, 10, 22, 8, 15, 0)),
    })

    // The C++ peer sees plain Qt types, whatever the transport.
    function test_javaScriptValuesArriveAsQtTypes_data() { return transports_data() }
    function test_javaScriptValuesArriveAsQtTypes(data) {
        const sender = connected(senderComponent, { target: data.url })
        const before = Peer.receivedCount
        verify(sender.send(sample))
        compare(sender.sentCount, 1)
        tryCompare(Peer, "receivedCount", before + 1)
        const integer = data.tag === "inproc" ? "int" : "qlonglong"
        compare(Peer.lastTypes,
                "QVariantMap{count:" + integer + ",flag:bool,inner:QVariantMap{depth:" + integer
                + "},list:QVariantList[" + integer + ",QString,QVariantList[" + integer
                + "]],nothing:std::nullptr_t,ratio:double,text:QString,when:QDateTime}")
        compare(Peer.lastReceived.text, "héllo")
    }

    // QML -> C++ -> QML: the peer echoes to every client of its server.
    function test_valuesRoundTrip_data() { return transports_data() }
    function test_valuesRoundTrip(data) {
        const receiver = connected(receiverComponent, { source: data.url })
        const sender = connected(senderComponent, { target: data.url })
        verify(sender.send(sample))
        tryCompare(receiver, "count", 1)
        const echoed = receiver.latest
        compare(echoed.text, sample.text)
        compare(echoed.count, 42)
        compare(echoed.ratio, 0.5)
        compare(echoed.flag, false)
        compare(echoed.nothing, null)
        compare(JSON.stringify(echoed.list), JSON.stringify(sample.list))
        compare(echoed.inner.depth, 2)
        verify(echoed.when instanceof Date)
        compare(echoed.when.getTime(), sample.when.getTime())
    }

    function test_scalarsTravel_data() {
        return [
            { tag: "string", value: "just text" },
            { tag: "number", value: 3.25 },
            { tag: "integer", value: -7 },
            { tag: "boolean", value: true },
            { tag: "null", value: null },
            { tag: "empty object", value: {} },
            { tag: "empty array", value: [] },
        ]
    }
    function test_scalarsTravel(data) {
        const receiver = connected(receiverComponent, { source: Peer.tcpUrl })
        const sender = connected(senderComponent, { target: Peer.tcpUrl })
        verify(sender.send(data.value))
        tryCompare(receiver, "count", 1)
        compare(JSON.stringify(receiver.latest), JSON.stringify(data.value))
    }

    function test_arrayBufferTravelsRaw() {
        const receiver = connected(receiverComponent, { source: Peer.localUrl })
        const sender = connected(senderComponent, { target: Peer.localUrl })
        verify(sender.send(new Uint8Array([7, 8, 9, 255]).buffer))
        tryCompare(receiver, "count", 1)
        compare(Peer.lastTypes, "raw:070809ff")
        verify(receiver.latest instanceof ArrayBuffer)
        compare(Array.from(new Uint8Array(receiver.latest)), [7, 8, 9, 255])
    }

    function test_sendRightAfterSettingTheTarget() {
        const before = Peer.receivedCount
        const sender = createTemporaryObject(senderComponent, testCase, { target: Peer.tcpUrl })
        verify(sender.send("early"))
        tryCompare(Peer, "receivedCount", before + 1)
        compare(Peer.lastReceived, "early")
    }

    function test_valuesThatCannotTravelAreRefused_data() {
        return [
            { tag: "undefined", value: undefined },
            { tag: "function", value: function () {} },
            { tag: "QML object", value: someItem },
            { tag: "QML object inside an object", value: { item: someItem } },
        ]
    }
    function test_valuesThatCannotTravelAreRefused(data) {
        const sender = connected(senderComponent, { target: Peer.tcpUrl })
        const before = Peer.receivedCount
        verify(!sender.send(data.value))
        compare(sender.error, Qonduit.MessageEncodeError)
        verify(sender.errorString.length > 0)
        compare(sender.sentCount, 0)
        compare(sender.status, ChannelSender.Connected, "a refused value does not break the channel")
        // Nothing partial went out: the next message is the next the peer sees.
        verify(sender.send("after"))
        tryCompare(Peer, "receivedCount", before + 1)
        compare(Peer.lastReceived, "after")
    }

    function test_sendWithoutTargetFails() {
        const sender = createTemporaryObject(senderComponent, testCase)
        compare(sender.status, ChannelSender.Null)
        verify(!sender.send("lost"))
        compare(sender.error, Qonduit.ChannelClosedError)
        verify(sender.errorString.length > 0)
    }

    function test_sendToNobodyFailsWithTheConnectionError() {
        const sender = createTemporaryObject(senderComponent, testCase, { target: Peer.spareUrl() })
        tryCompare(sender, "status", ChannelSender.Error)
        compare(sender.error, Qonduit.ConnectionRefusedError)
        verify(!sender.send("lost"))
        compare(sender.sentCount, 0)
    }
}
