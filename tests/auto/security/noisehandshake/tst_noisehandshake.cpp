#include "security/noisehandshake_p.h"

#include <QtTest/QTest>

#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>

#include <algorithm>
#include <functional>

using namespace Qonduit::Security;
using Pattern = NoiseHandshake::Pattern;
using Role = NoiseHandshake::Role;
using State = NoiseHandshake::State;

namespace {

// Every supported pattern has two handshake messages: -> ..., <- ...
constexpr int handshakeMessages = 2;

const Pattern supportedPatterns[] = {Pattern::NN, Pattern::NNpsk0, Pattern::NNpsk2};

std::optional<Pattern> patternNamed(const QString &protocolName)
{
    for (Pattern pattern : supportedPatterns) {
        if (NoiseHandshake::protocolName(pattern) == protocolName.toLatin1())
            return pattern;
    }
    return std::nullopt;
}

QByteArray hexValue(const QJsonValue &value)
{
    return QByteArray::fromHex(value.toString().toLatin1());
}

SecretKey secret(const QByteArray &bytes)
{
    const std::optional<SecretKey> key = SecretKey::fromBytes(bytes);
    if (!key)
        qFatal("a Noise key must be 32 bytes");
    return *key;
}

// One side of a cacophony vector: its fields start with "init_" or "resp_".
NoiseHandshake::Config vectorConfig(const QJsonObject &vector, Pattern pattern, Role role)
{
    const QString side = role == Role::Initiator ? QStringLiteral("init_") : QStringLiteral("resp_");
    NoiseHandshake::Config config;
    config.pattern = pattern;
    config.role = role;
    config.prologue = hexValue(vector.value(side + QLatin1String("prologue")));
    const QJsonArray psks = vector.value(side + QLatin1String("psks")).toArray();
    if (!psks.isEmpty())
        config.psk = secret(hexValue(psks.first()));
    config.fixedEphemeralKey = secret(hexValue(vector.value(side + QLatin1String("ephemeral"))));
    return config;
}

// A side with random ephemeral keys, as in production.
NoiseHandshake::Config config(Pattern pattern, Role role, char pskByte = 'k',
                              const QByteArray &prologue = "prologue")
{
    NoiseHandshake::Config config;
    config.pattern = pattern;
    config.role = role;
    config.prologue = prologue;
    if (pattern != Pattern::NN)
        config.psk = secret(QByteArray(32, pskByte));
    return config;
}

QByteArray flipBit(QByteArray bytes, qsizetype bit)
{
    bytes[bit / 8] = char(bytes.at(bit / 8) ^ (1 << (bit % 8)));
    return bytes;
}

using Tamper = std::function<void(int message, QByteArray &bytes)>;

// Passes the handshake messages between the two sides, letting tamper change
// each on its way. Returns the index of the first message that could not be
// written or read, or -1 when both sides completed.
int runHandshake(NoiseHandshake &initiator, NoiseHandshake &responder, const Tamper &tamper = {})
{
    for (int i = 0; i < handshakeMessages; ++i) {
        NoiseHandshake &writer = i % 2 == 0 ? initiator : responder;
        NoiseHandshake &reader = i % 2 == 0 ? responder : initiator;
        QByteArray message;
        if (!writer.writeMessage(QByteArray(QByteArray("payload ") + QByteArray::number(i)), message))
            return i;
        if (tamper)
            tamper(i, message);
        QByteArray payload;
        if (!reader.readMessage(message, payload))
            return i;
    }
    return -1;
}

} // namespace

class tst_NoiseHandshake : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cacophony_data();
    void cacophony();
    void mismatch_data();
    void mismatch();
    void failedReadDeliversNothing();
    void flippedBit_data();
    void flippedBit();
    void transportOrder_data();
    void transportOrder();
    void randomEphemerals();
    void outOfTurn();
    void messageSizes();
    void configuration();

private:
    QJsonArray m_vectors;
};

void tst_NoiseHandshake::initTestCase()
{
    QFile file(QStringLiteral(QONDUIT_TEST_DATA_DIR "/noise/cacophony-subset.json"));
    QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(file.fileName() + QLatin1String(": ") + file.errorString()));
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(file.readAll(), &error);
    QVERIFY2(!document.isNull(), qPrintable(error.errorString()));
    m_vectors = document.object().value(QLatin1String("vectors")).toArray();

    // Every supported pattern must have its vector, or a row would vanish unnoticed.
    for (Pattern pattern : supportedPatterns) {
        const QString name = QString::fromLatin1(NoiseHandshake::protocolName(pattern));
        const auto found = std::count_if(m_vectors.begin(), m_vectors.end(), [&](const QJsonValue &vector) {
            return vector.toObject().value(QLatin1String("protocol_name")).toString() == name;
        });
        QVERIFY2(found == 1, qPrintable(name));
    }
}

void tst_NoiseHandshake::cacophony_data()
{
    QTest::addColumn<QJsonObject>("vector");
    QTest::addColumn<Pattern>("pattern");

    // Noise_XXpsk3_25519_ChaChaPoly_SHA256 gets no row: XX needs static keys
    // (the s, es and se tokens), which NoiseHandshake does not implement.
    for (const QJsonValue &value : std::as_const(m_vectors)) {
        const QJsonObject vector = value.toObject();
        const QString name = vector.value(QLatin1String("protocol_name")).toString();
        if (const std::optional<Pattern> pattern = patternNamed(name))
            QTest::newRow(qPrintable(name)) << vector << *pattern;
    }
}

void tst_NoiseHandshake::cacophony()
{
    QFETCH(QJsonObject, vector);
    QFETCH(Pattern, pattern);

    NoiseHandshake initiator(vectorConfig(vector, pattern, Role::Initiator));
    NoiseHandshake responder(vectorConfig(vector, pattern, Role::Responder));
    const QJsonArray messages = vector.value(QLatin1String("messages")).toArray();
    QVERIFY(messages.size() > handshakeMessages);

    NoiseHandshake::TransportCiphers initiatorCiphers;
    NoiseHandshake::TransportCiphers responderCiphers;
    for (int i = 0; i < messages.size(); ++i) {
        const QByteArray payload = hexValue(messages.at(i)[QLatin1String("payload")]);
        const QByteArray ciphertext = hexValue(messages.at(i)[QLatin1String("ciphertext")]);
        const bool fromInitiator = i % 2 == 0;
        QByteArray sent;
        QByteArray received;
        if (i < handshakeMessages) {
            NoiseHandshake &writer = fromInitiator ? initiator : responder;
            NoiseHandshake &reader = fromInitiator ? responder : initiator;
            QVERIFY2(writer.writeMessage(payload, sent), qPrintable(writer.errorString()));
            QCOMPARE(sent.toHex(), ciphertext.toHex());
            QVERIFY2(reader.readMessage(sent, received), qPrintable(reader.errorString()));
        } else {
            if (i == handshakeMessages) {
                QCOMPARE(initiator.state(), State::Complete);
                QCOMPARE(responder.state(), State::Complete);
                const QByteArray hash = hexValue(vector.value(QLatin1String("handshake_hash")));
                QCOMPARE(bytesOf(initiator.handshakeHash()).toByteArray().toHex(), hash.toHex());
                QCOMPARE(bytesOf(responder.handshakeHash()).toByteArray().toHex(), hash.toHex());
                initiatorCiphers = initiator.takeTransportCiphers();
                responderCiphers = responder.takeTransportCiphers();
            }
            NoiseCipherState &sender = fromInitiator ? initiatorCiphers.send : responderCiphers.send;
            NoiseCipherState &receiver = fromInitiator ? responderCiphers.receive : initiatorCiphers.receive;
            QVERIFY2(sender.encryptWithAd({}, payload, sent), qPrintable(sender.errorString()));
            QCOMPARE(sent.toHex(), ciphertext.toHex());
            QVERIFY2(receiver.decryptWithAd({}, sent, received), qPrintable(receiver.errorString()));
        }
        QCOMPARE(received, payload);
    }
}

void tst_NoiseHandshake::mismatch_data()
{
    QTest::addColumn<Pattern>("pattern");
    QTest::addColumn<char>("responderPsk");
    QTest::addColumn<QByteArray>("responderPrologue");
    QTest::addColumn<int>("failedMessage"); // 0: the responder reads message 1

    QTest::newRow("psk, NNpsk0") << Pattern::NNpsk0 << 'K' << QByteArray("prologue") << 0;
    QTest::newRow("psk, NNpsk2") << Pattern::NNpsk2 << 'K' << QByteArray("prologue") << 1;
    QTest::newRow("prologue, NN") << Pattern::NN << 'k' << QByteArray("Prologue") << 1;
    QTest::newRow("prologue, NNpsk0") << Pattern::NNpsk0 << 'k' << QByteArray("Prologue") << 0;
}

void tst_NoiseHandshake::mismatch()
{
    QFETCH(Pattern, pattern);
    QFETCH(char, responderPsk);
    QFETCH(QByteArray, responderPrologue);
    QFETCH(int, failedMessage);

    NoiseHandshake initiator(config(pattern, Role::Initiator));
    NoiseHandshake responder(config(pattern, Role::Responder, responderPsk, responderPrologue));
    QCOMPARE(runHandshake(initiator, responder), failedMessage);
    const NoiseHandshake &reader = failedMessage % 2 == 0 ? responder : initiator;
    QCOMPARE(reader.state(), State::Failed);
    QCOMPARE(reader.error(), NoiseError::AuthenticationFailed);
    QVERIFY(!reader.errorString().isEmpty());
}

void tst_NoiseHandshake::failedReadDeliversNothing()
{
    NoiseHandshake initiator(config(Pattern::NNpsk0, Role::Initiator, 'k'));
    NoiseHandshake responder(config(Pattern::NNpsk0, Role::Responder, 'K'));
    QByteArray message;
    QVERIFY(initiator.writeMessage("secret payload", message));
    QByteArray payload("untouched");
    QVERIFY(!responder.readMessage(message, payload));
    QCOMPARE(payload, "untouched");

    // The failure is final: the responder answers nothing, not even once.
    QByteArray reply;
    QVERIFY(!responder.writeMessage({}, reply));
    QVERIFY(reply.isEmpty());
    QCOMPARE(responder.error(), NoiseError::AuthenticationFailed);
    QVERIFY(!responder.takeTransportCiphers().send.hasKey());
}

void tst_NoiseHandshake::flippedBit_data()
{
    QTest::addColumn<Pattern>("pattern");
    QTest::addColumn<int>("message");

    for (Pattern pattern : supportedPatterns) {
        for (int message = 0; message < handshakeMessages; ++message) {
            QTest::addRow("%s, message %d", NoiseHandshake::protocolName(pattern).constData(), message + 1)
                << pattern << message;
        }
    }
}

void tst_NoiseHandshake::flippedBit()
{
    QFETCH(Pattern, pattern);
    QFETCH(int, message);

    // NN's first message is not encrypted: a flip there is noticed by the
    // initiator, whose transcript no longer matches the responder's.
    for (qsizetype bit = 0;; ++bit) {
        bool flipped = false;
        NoiseHandshake initiator(config(pattern, Role::Initiator));
        NoiseHandshake responder(config(pattern, Role::Responder));
        const int failed = runHandshake(initiator, responder, [&](int i, QByteArray &bytes) {
            if (i == message && bit < bytes.size() * 8) {
                bytes = flipBit(bytes, bit);
                flipped = true;
            }
        });
        if (!flipped)
            break;
        QVERIFY2(failed >= message, qPrintable(QString::number(bit)));
        const NoiseHandshake &reader = failed % 2 == 0 ? responder : initiator;
        QCOMPARE(reader.state(), State::Failed);
        QCOMPARE(reader.error(), NoiseError::AuthenticationFailed);
    }
}

void tst_NoiseHandshake::transportOrder_data()
{
    QTest::addColumn<QList<int>>("delivered");
    QTest::addColumn<int>("firstFailure"); // index into delivered; -1: none

    QTest::newRow("in order") << QList<int>{0, 1, 2} << -1;
    QTest::newRow("replayed") << QList<int>{0, 0} << 1;
    QTest::newRow("replayed later") << QList<int>{0, 1, 0} << 2;
    QTest::newRow("reordered") << QList<int>{1, 0} << 0;
    QTest::newRow("dropped") << QList<int>{0, 2} << 1;
}

void tst_NoiseHandshake::transportOrder()
{
    QFETCH(QList<int>, delivered);
    QFETCH(int, firstFailure);

    NoiseHandshake initiator(config(Pattern::NNpsk0, Role::Initiator));
    NoiseHandshake responder(config(Pattern::NNpsk0, Role::Responder));
    QCOMPARE(runHandshake(initiator, responder), -1);
    NoiseCipherState sender = initiator.takeTransportCiphers().send;
    NoiseCipherState receiver = responder.takeTransportCiphers().receive;

    QByteArrayList sent(3);
    for (int i = 0; i < sent.size(); ++i)
        QVERIFY(sender.encryptWithAd({}, QByteArray(QByteArray("record ") + QByteArray::number(i)), sent[i]));
    for (int i = 0; i < delivered.size(); ++i) {
        QByteArray received;
        const bool ok = receiver.decryptWithAd({}, sent.at(delivered.at(i)), received);
        if (i == firstFailure) {
            QVERIFY(!ok);
            QVERIFY(received.isEmpty());
            QCOMPARE(receiver.error(), NoiseError::AuthenticationFailed);
            return;
        }
        QVERIFY2(ok, qPrintable(receiver.errorString()));
        QCOMPARE(received, QByteArray(QByteArray("record ") + QByteArray::number(delivered.at(i))));
    }
    QCOMPARE(firstFailure, -1);
}

void tst_NoiseHandshake::randomEphemerals()
{
    QByteArray firstHash;
    for (int session = 0; session < 2; ++session) {
        NoiseHandshake initiator(config(Pattern::NNpsk0, Role::Initiator));
        NoiseHandshake responder(config(Pattern::NNpsk0, Role::Responder));
        QCOMPARE(runHandshake(initiator, responder), -1);
        const QByteArray hash = bytesOf(initiator.handshakeHash()).toByteArray();
        QCOMPARE(bytesOf(responder.handshakeHash()).toByteArray(), hash);
        QVERIFY(hash != firstHash);
        firstHash = hash;

        NoiseHandshake::TransportCiphers initiatorCiphers = initiator.takeTransportCiphers();
        NoiseHandshake::TransportCiphers responderCiphers = responder.takeTransportCiphers();
        QByteArray toResponder, toInitiator, received;
        QVERIFY(initiatorCiphers.send.encryptWithAd({}, "ping", toResponder));
        QVERIFY(responderCiphers.send.encryptWithAd({}, "pong", toInitiator));
        QVERIFY(responderCiphers.receive.decryptWithAd({}, toResponder, received));
        QVERIFY(initiatorCiphers.receive.decryptWithAd({}, toInitiator, received));
        QCOMPARE(received, "pingpong");

        // The ciphers are handed out once.
        QVERIFY(!initiator.takeTransportCiphers().send.hasKey());
    }
}

void tst_NoiseHandshake::outOfTurn()
{
    NoiseHandshake responder(config(Pattern::NNpsk0, Role::Responder));
    QByteArray message;
    QVERIFY(!responder.writeMessage("first", message));
    QVERIFY(message.isEmpty());
    QCOMPARE(responder.state(), State::Failed);
    QCOMPARE(responder.error(), NoiseError::ProtocolError);

    NoiseHandshake initiator(config(Pattern::NNpsk0, Role::Initiator));
    QByteArray payload;
    QVERIFY(!initiator.readMessage(QByteArray(64, 'x'), payload));
    QCOMPARE(initiator.error(), NoiseError::ProtocolError);

    NoiseHandshake done(config(Pattern::NN, Role::Initiator));
    NoiseHandshake peer(config(Pattern::NN, Role::Responder));
    QCOMPARE(runHandshake(done, peer), -1);
    QVERIFY(!done.writeMessage("after the end", message));
    QCOMPARE(done.error(), NoiseError::ProtocolError);
}

void tst_NoiseHandshake::messageSizes()
{
    NoiseHandshake tooShort(config(Pattern::NN, Role::Responder));
    QByteArray payload;
    QVERIFY(!tooShort.readMessage(QByteArray(31, 'e'), payload));
    QCOMPARE(tooShort.error(), NoiseError::ProtocolError);

    NoiseHandshake tooLong(config(Pattern::NN, Role::Responder));
    QVERIFY(!tooLong.readMessage(QByteArray(NoiseHandshake::maxMessageSize + 1, 'e'), payload));
    QCOMPARE(tooLong.error(), NoiseError::ProtocolError);
    QVERIFY(payload.isEmpty());

    // 32 bytes of ephemeral key leave room for 65503 bytes of clear payload.
    NoiseHandshake largest(config(Pattern::NN, Role::Initiator));
    QByteArray message;
    QVERIFY(largest.writeMessage(QByteArray(NoiseHandshake::maxMessageSize - 32, 'p'), message));
    QCOMPARE(message.size(), NoiseHandshake::maxMessageSize);

    NoiseHandshake tooLarge(config(Pattern::NN, Role::Initiator));
    message = "kept";
    QVERIFY(!tooLarge.writeMessage(QByteArray(NoiseHandshake::maxMessageSize - 31, 'p'), message));
    QCOMPARE(message, "kept");
    QCOMPARE(tooLarge.error(), NoiseError::ProtocolError);
}

void tst_NoiseHandshake::configuration()
{
    NoiseHandshake::Config withPsk = config(Pattern::NNpsk0, Role::Initiator);
    withPsk.pattern = Pattern::NN;
    NoiseHandshake nn(withPsk);
    QCOMPARE(nn.state(), State::Failed);
    QCOMPARE(nn.error(), NoiseError::InvalidConfiguration);

    NoiseHandshake::Config withoutPsk;
    withoutPsk.pattern = Pattern::NNpsk0;
    NoiseHandshake nnPsk0(withoutPsk);
    QCOMPARE(nnPsk0.state(), State::Failed);
    QCOMPARE(nnPsk0.error(), NoiseError::InvalidConfiguration);
    QByteArray message;
    QVERIFY(!nnPsk0.writeMessage("payload", message));
    QVERIFY(message.isEmpty());
}

QTEST_GUILESS_MAIN(tst_NoiseHandshake)
#include "tst_noisehandshake.moc"
