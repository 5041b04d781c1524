#ifndef QONDUIT_CRYPTO_P_H
#define QONDUIT_CRYPTO_P_H

#include <QtCore/qbytearray.h>
#include <QtCore/qbytearrayview.h>
#include <QtCore/qstring.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <initializer_list>
#include <optional>

// The only door to cryptography in Qonduit (DESIGN.md, "Security"): the
// primitives that the Noise layer needs, without a trace of the library that
// provides them. crypto.cpp implements them with OpenSSL 3; a QCA
// implementation can take its place where Qt 6 builds of QCA are packaged.
//
// Contract for every function: no exceptions, no crashes on any input. A
// failure returns false or an empty optional and, when errorText is given,
// a short reason. Outputs are written only on success, except where a
// function says otherwise.
namespace Qonduit::Security {

inline constexpr std::size_t hashSize = 32;
inline constexpr std::size_t keySize = 32;
inline constexpr std::size_t dhSize = 32;
inline constexpr std::size_t nonceSize = 12;
inline constexpr qsizetype tagSize = 16;

// Overwrites memory in a way the compiler may not optimize away.
void wipe(void *data, std::size_t size);

// Fixed-size secret bytes (keys, chaining keys, DH outputs), wiped when
// destroyed. Every copy wipes itself: there is no move that would leave
// secret bytes behind in a moved-from object.
template <std::size_t N>
class Secret
{
public:
    Secret() = default;
    Secret(const Secret &) = default;
    Secret &operator=(const Secret &) = default;
    ~Secret() { wipe(m_bytes.data(), N); }

    // Empty unless bytes holds exactly N bytes.
    static std::optional<Secret> fromBytes(QByteArrayView bytes)
    {
        if (bytes.size() != qsizetype(N))
            return std::nullopt;
        Secret secret;
        std::copy(bytes.begin(), bytes.end(), secret.m_bytes.begin());
        return secret;
    }

    static constexpr std::size_t size() { return N; }
    quint8 *data() { return m_bytes.data(); }
    const quint8 *data() const { return m_bytes.data(); }
    QByteArrayView view() const { return QByteArrayView(m_bytes.data(), qsizetype(N)); }

private:
    std::array<quint8, N> m_bytes{};
};

using SecretKey = Secret<keySize>;
using Digest = std::array<quint8, hashSize>;
using PublicKey = std::array<quint8, dhSize>;
using Nonce = std::array<quint8, nonceSize>;

struct KeyPair
{
    SecretKey privateKey;
    PublicKey publicKey;
};

template <std::size_t N>
QByteArrayView bytesOf(const std::array<quint8, N> &bytes)
{
    return QByteArrayView(bytes.data(), qsizetype(N));
}

// Hash functions take their input in parts, hashed as if concatenated, so
// that callers never copy secrets together into a temporary buffer.
std::optional<Digest> sha256(std::initializer_list<QByteArrayView> parts, QString *errorText = nullptr);
std::optional<SecretKey> hmacSha256(QByteArrayView key, std::initializer_list<QByteArrayView> parts,
                                    QString *errorText = nullptr);

// HKDF-SHA256 of RFC 5869 (extract, then expand to size bytes at out, at
// most 255 * 32). An empty salt means hashSize zero bytes, as the RFC says.
bool hkdfSha256(QByteArrayView salt, QByteArrayView inputKeyMaterial, QByteArrayView info,
                quint8 *out, qsizetype size, QString *errorText = nullptr);

// HKDF(chaining_key, input_key_material, num_outputs) of the Noise
// specification (revision 34, section 4.3), with 2 or 3 outputs. An output
// may be the chaining key itself (MixKey() overwrites ck so).
bool noiseHkdf(const SecretKey &chainingKey, QByteArrayView inputKeyMaterial,
               SecretKey &output1, SecretKey &output2, QString *errorText = nullptr);
bool noiseHkdf(const SecretKey &chainingKey, QByteArrayView inputKeyMaterial,
               SecretKey &output1, SecretKey &output2, SecretKey &output3,
               QString *errorText = nullptr);

// ChaCha20-Poly1305 of RFC 8439. seal() appends ciphertext and the 16-byte
// tag to out. open() takes ciphertext and tag and appends the plaintext to
// out only when the tag is right: on any failure out is left as it was and
// the plaintext decrypted so far is wiped, so a forgery never yields a byte.
// The input may not point into out (out may reallocate).
bool aeadSeal(const SecretKey &key, const Nonce &nonce, QByteArrayView associatedData,
              QByteArrayView plaintext, QByteArray &out, QString *errorText = nullptr);
bool aeadOpen(const SecretKey &key, const Nonce &nonce, QByteArrayView associatedData,
              QByteArrayView ciphertextAndTag, QByteArray &out, QString *errorText = nullptr);

// X25519 of RFC 7748. keyPairFromPrivateKey() exists for known-answer tests
// and fixed keys; everything else wants generateKeyPair(). x25519() refuses a
// peer key of small order (an all-zero shared secret), which would let the
// peer fix the result regardless of our key.
std::optional<KeyPair> generateKeyPair(QString *errorText = nullptr);
std::optional<KeyPair> keyPairFromPrivateKey(const SecretKey &privateKey, QString *errorText = nullptr);
std::optional<SecretKey> x25519(const SecretKey &privateKey, const PublicKey &peerPublicKey,
                                QString *errorText = nullptr);

// From the operating system's generator, through OpenSSL's DRBG.
bool randomBytes(quint8 *out, qsizetype size, QString *errorText = nullptr);

// Whether a and b hold the same bytes, in a time that depends on their sizes
// only (sizes are not secret; contents are).
bool constantTimeEquals(QByteArrayView a, QByteArrayView b);

} // namespace Qonduit::Security

#endif // QONDUIT_CRYPTO_P_H
