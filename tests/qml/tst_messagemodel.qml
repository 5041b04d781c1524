import QtQuick
import QtTest
import Qonduit
import QonduitTest

TestCase {
    id: testCase
    name: "MessageModel"
    width: 200
    height: 400
    when: windowShown

    Component {
        id: receiverComponent
        ChannelReceiver {}
    }

    Component {
        id: modelComponent
        MessageModel {}
    }

    Component {
        id: listComponent
        ListView {
            width: 200
            height: 400
            delegate: Text {
                required property int seq
                required property string name
                required property var message
                text: name + ":" + seq
                height: 10
            }
        }
    }

    function connectedReceiver(url) {
        const accepted = Peer.acceptedCount
        const receiver = createTemporaryObject(receiverComponent, testCase, { source: url })
        tryCompare(receiver, "status", ChannelReceiver.Connected)
        tryVerify(() => Peer.acceptedCount > accepted)
        return receiver
    }

    function test_rowsFollowTheReceiver() {
        const receiver = connectedReceiver(Peer.tcpUrl)
        const model = createTemporaryObject(modelComponent, testCase, { receiver: receiver })
        const view = createTemporaryObject(listComponent, testCase, { model: model })
        compare(view.count, 0)
        Peer.sendSequence(1, 3)
        tryCompare(model, "count", 3)
        tryCompare(view, "count", 3)
        compare(model.get(0).seq, 1)
        compare(model.get(2).name, "m3")
        compare(model.get(3), undefined)
        view.forceLayout()
        compare(view.itemAtIndex(0).text, "m1:1")
        compare(view.itemAtIndex(2).text, "m3:3")
        compare(view.itemAtIndex(1).message.seq, 2)
    }

    function test_capacityDropsTheOldest() {
        const receiver = connectedReceiver(Peer.localUrl)
        const model = createTemporaryObject(modelComponent, testCase, { receiver: receiver, capacity: 5 })
        const view = createTemporaryObject(listComponent, testCase, { model: model })
        Peer.sendSequence(1, 8)
        tryCompare(receiver, "count", 8)
        compare(model.count, 5)
        compare(model.droppedCount, 3)
        compare(model.get(0).seq, 4)
        compare(model.get(4).seq, 8)
        tryCompare(view, "count", 5)
        view.forceLayout()
        compare(view.itemAtIndex(0).text, "m4:4")

        model.capacity = 2
        compare(model.count, 2)
        compare(model.droppedCount, 6)
        compare(model.get(0).seq, 7)
    }

    function test_rolesGrowWithNewKeys() {
        const model = createTemporaryObject(modelComponent, testCase)
        const view = createTemporaryObject(listComponent, testCase, { model: model })
        model.append({ seq: 1, name: "first" })
        tryCompare(view, "count", 1)
        view.forceLayout()
        compare(view.itemAtIndex(0).text, "first:1")
        // A key seen for the first time becomes a role the view can read.
        model.append({ seq: 2, name: "second", extra: "new" })
        tryCompare(view, "count", 2)
        view.forceLayout()
        compare(view.itemAtIndex(1).text, "second:2")
        compare(model.get(1).extra, "new")
        compare(model.get(0).extra, undefined)
    }

    function test_nonObjectMessagesUseTheMessageRole() {
        const model = createTemporaryObject(modelComponent, testCase)
        model.append("plain text")
        model.append(42)
        compare(model.count, 2)
        compare(model.get(0), "plain text")
        compare(model.get(1), 42)
    }

    function test_clear() {
        const model = createTemporaryObject(modelComponent, testCase)
        model.append({ seq: 1 })
        model.append({ seq: 2 })
        compare(model.count, 2)
        model.clear()
        compare(model.count, 0)
        compare(model.get(0), undefined)
    }

    function test_coalescedReceiverFeedsTheLatest() {
        const receiver = connectedReceiver(Peer.inprocUrl)
        receiver.delivery = ChannelReceiver.LatestPerInterval
        receiver.updateInterval = 500
        const model = createTemporaryObject(modelComponent, testCase, { receiver: receiver })
        Peer.sendSequence(1, 100)
        tryCompare(receiver, "count", 100)
        tryVerify(() => model.count > 0 && model.get(model.count - 1).seq === 100)
        verify(model.count < 100)
        compare(model.count + receiver.coalescedCount, 100)
    }
}
