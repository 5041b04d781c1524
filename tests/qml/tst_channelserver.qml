import QtQuick
import QtTest
import Qonduit
import QonduitTest

TestCase {
    id: testCase
    name: "ChannelServer"

    Component {
        id: serverComponent
        ChannelServer {}
    }

    Component {
        id: receiverComponent
        ChannelReceiver {}
    }

    Component {
        id: senderComponent
        ChannelSender {}
    }

    SignalSpy {
        id: arrivals
        signalName: "messageReceived"
    }

    function init() {
        arrivals.clear()
    }

    function listening(endpoint) {
        const server = createTemporaryObject(serverComponent, testCase, { endpoint: endpoint })
        verify(server)
        compare(server.status, ChannelServer.Listening)
        verify(server.listening)
        compare(server.error, Qonduit.NoError)
        return server
    }

    function endpoints_data() {
        return [
            { tag: "tcp", endpoint: "tcp://127.0.0.1:0" },
            { tag: "local", endpoint: Peer.spareUrl() },
            { tag: "inproc", endpoint: "inproc:tst_qml-server-" + Date.now() + "-" + Math.random() },
        ]
    }

    // A C++ client talks to a QML server, both ways.
    function test_cppClient_data() { return endpoints_data() }
    function test_cppClient(data) {
        const server = listening(data.endpoint)
        if (data.tag === "tcp")
            verify(server.address.toString().match(/^tcp:\/\/127\.0\.0\.1:[1-9][0-9]*$/), server.address)
        else
            compare(server.address, server.endpoint)
        arrivals.target = server
        Peer.connectClient(server.address)
        tryCompare(server, "clientCount", 1)

        Peer.sendSample("nested")
        arrivals.wait()
        const message = arrivals.signalArguments[0][0]
        compare(message.text, "héllo")
        compare(message.list[1], "two")
        verify(message.when instanceof Date)
        compare(server.count, 1)
        compare(server.latest.inner.depth, 2)

        const before = Peer.receivedCount
        verify(server.send({ reply: [1, 2], to: "cpp" }))
        tryCompare(Peer, "receivedCount", before + 1)
        verify(Peer.lastTypes.startsWith("QVariantMap{reply:QVariantList["), Peer.lastTypes)

        Peer.disconnectClient()
        tryCompare(server, "clientCount", 0)
    }

    // QML on both ends, every client hears every broadcast.
    function test_qmlClientsHearBroadcasts_data() { return endpoints_data() }
    function test_qmlClientsHearBroadcasts(data) {
        const server = listening(data.endpoint)
        const first = createTemporaryObject(receiverComponent, testCase, { source: server.address })
        const second = createTemporaryObject(receiverComponent, testCase, { source: server.address })
        tryCompare(server, "clientCount", 2)
        tryCompare(first, "status", ChannelReceiver.Connected)
        tryCompare(second, "status", ChannelReceiver.Connected)
        verify(server.send({ tick: 1 }))
        verify(server.send({ tick: 2 }))
        tryCompare(first, "count", 2)
        tryCompare(second, "count", 2)
        compare(first.latest.tick, 2)
        compare(second.latest.tick, 2)
    }

    function test_qmlSenderToQmlServer() {
        const server = listening("tcp://127.0.0.1:0")
        const sender = createTemporaryObject(senderComponent, testCase, { target: server.address })
        arrivals.target = server
        verify(sender.send({ n: 1 }))
        verify(sender.send({ n: 2 }))
        tryCompare(server, "count", 2)
        compare(arrivals.signalArguments[0][0].n, 1)
        compare(arrivals.signalArguments[1][0].n, 2)
        sender.destroy()
        tryCompare(server, "clientCount", 0)
    }

    function test_takenNameIsAnError() {
        const endpoint = Peer.spareUrl()
        const first = listening(endpoint)
        const second = createTemporaryObject(serverComponent, testCase, { endpoint: endpoint })
        compare(second.status, ChannelServer.Error)
        compare(second.error, Qonduit.AddressInUseError)
        verify(second.errorString.length > 0)
        verify(!second.listening)
        // The first server is undisturbed.
        const receiver = createTemporaryObject(receiverComponent, testCase, { source: endpoint })
        tryCompare(first, "clientCount", 1)
        tryCompare(receiver, "status", ChannelReceiver.Connected)
    }

    function test_changingTheEndpointClosesClients() {
        const server = listening(Peer.spareUrl())
        const receiver = createTemporaryObject(receiverComponent, testCase, { source: server.address })
        tryCompare(server, "clientCount", 1)
        tryCompare(receiver, "status", ChannelReceiver.Connected)
        server.endpoint = Peer.spareUrl()
        compare(server.status, ChannelServer.Listening)
        compare(server.clientCount, 0)
        tryVerify(() => receiver.status === ChannelReceiver.Closed || receiver.status === ChannelReceiver.Error)
        server.endpoint = ""
        compare(server.status, ChannelServer.Null)
        verify(!server.listening)
    }

    function test_badEndpoints_data() {
        return [
            { tag: "unknown scheme", endpoint: "smoke-signal://hill", error: Qonduit.UnsupportedSchemeError },
            { tag: "no name", endpoint: "local:", error: Qonduit.InvalidEndpointError },
        ]
    }
    function test_badEndpoints(data) {
        const server = createTemporaryObject(serverComponent, testCase, { endpoint: data.endpoint })
        compare(server.status, ChannelServer.Error)
        compare(server.error, data.error)
        verify(server.errorString.length > 0)
    }

    function test_unsendableValueIsRefused() {
        const server = listening("tcp://127.0.0.1:0")
        verify(!server.send(undefined))
        compare(server.error, Qonduit.MessageEncodeError)
    }
}
