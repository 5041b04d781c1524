#include "security/crypto_p.h"

#include <QtCore/qcoreapplication.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <climits>
#include <memory>

namespace Qonduit::Security {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Qonduit::Security", text);
}

template <auto Free>
struct FreeWith
{
    template <typename T>
    void operator()(T *object) const { Free(object); }
};

template <typename T, auto Free>
using Owned = std::unique_ptr<T, FreeWith<Free>>;

// What every failing function returns: false, or an empty optional.
struct Failure
{
    operator bool() const { return false; }
    template <typename T>
    operator std::optional<T>() const { return std::nullopt; }
};

// Qt's TLS backend reads the same thread-local OpenSSL error queue, so it is
// left empty: a stale entry of ours would be blamed on a later QSslSocket.
Failure fail(QString *errorText, const QString &what)
{
    const unsigned long code = ERR_peek_last_error();
    if (errorText) {
        *errorText = what;
        if (code != 0) {
            char reason[256];
            ERR_error_string_n(code, reason, sizeof reason);
            *errorText += QLatin1String(" (") + QLatin1String(reason) + QLatin1Char(')');
        }
    }
    ERR_clear_error();
    return {};
}

// OpenSSL reads a null pointer with a zero length as "not given" in places
// (an HMAC key, an HKDF input), which is not what an empty view means.
const unsigned char *bytes(QByteArrayView view)
{
    static const unsigned char none = 0;
    return view.isEmpty() ? &none : reinterpret_cast<const unsigned char *>(view.data());
}

OSSL_PARAM octetParam(const char *name, QByteArrayView view)
{
    return OSSL_PARAM_construct_octet_string(name, const_cast<unsigned char *>(bytes(view)),
                                             size_t(view.size()));
}

OSSL_PARAM sha256Param(const char *name)
{
    return OSSL_PARAM_construct_utf8_string(name, const_cast<char *>("SHA256"), 0);
}

// Algorithms are fetched once: an implicit fetch at every call would look
// them up again under a lock.
EVP_MD *sha256Algorithm()
{
    static const Owned<EVP_MD, EVP_MD_free> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    return md.get();
}

EVP_MAC *hmacAlgorithm()
{
    static const Owned<EVP_MAC, EVP_MAC_free> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    return mac.get();
}

EVP_KDF *hkdfAlgorithm()
{
    static const Owned<EVP_KDF, EVP_KDF_free> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    return kdf.get();
}

EVP_CIPHER *chachaPolyAlgorithm()
{
    static const Owned<EVP_CIPHER, EVP_CIPHER_free> cipher(
        EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr));
    return cipher.get();
}

using CipherContext = Owned<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using PKey = Owned<EVP_PKEY, EVP_PKEY_free>;

// EVP's update functions count in int.
bool fitsInt(qsizetype size)
{
    return size >= 0 && size <= INT_MAX;
}

// A context for one AEAD operation, its associated data already absorbed.
CipherContext startAead(const SecretKey &key, const Nonce &nonce, QByteArrayView associatedData,
                        bool encrypt)
{
    CipherContext context(EVP_CIPHER_CTX_new());
    int written = 0;
    if (!context || !chachaPolyAlgorithm()
        || !EVP_CipherInit_ex2(context.get(), chachaPolyAlgorithm(), key.data(), nonce.data(),
                               encrypt ? 1 : 0, nullptr)
        || !fitsInt(associatedData.size())
        || !EVP_CipherUpdate(context.get(), nullptr, &written, bytes(associatedData),
                             int(associatedData.size()))) {
        return nullptr;
    }
    return context;
}

bool aeadTag(EVP_CIPHER_CTX *context, quint8 *tag, bool get)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, size_t(tagSize)),
        OSSL_PARAM_construct_end()};
    return get ? EVP_CIPHER_CTX_get_params(context, params) : EVP_CIPHER_CTX_set_params(context, params);
}

// Runs the cipher over input into output (same size) and finishes it.
bool aeadRun(EVP_CIPHER_CTX *context, QByteArrayView input, quint8 *output)
{
    int written = 0;
    int finalWritten = 0;
    return EVP_CipherUpdate(context, output, &written, bytes(input), int(input.size()))
        && EVP_CipherFinal_ex(context, output + written, &finalWritten);
}

PKey privateKeyObject(const SecretKey &privateKey)
{
    return PKey(EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", nullptr, privateKey.data(),
                                                privateKey.size()));
}

bool deriveNoiseOutputs(const SecretKey &chainingKey, QByteArrayView inputKeyMaterial,
                        std::initializer_list<SecretKey *> outputs, QString *errorText)
{
    // Noise's HKDF is RFC 5869's with the chaining key as salt and no info:
    // temp_key is the PRK, and output i is the expansion's block T(i).
    Secret<3 * keySize> derived;
    if (!hkdfSha256(chainingKey.view(), inputKeyMaterial, {}, derived.data(),
                    qsizetype(outputs.size() * keySize), errorText)) {
        return false;
    }
    const quint8 *from = derived.data();
    for (SecretKey *output : outputs) {
        std::copy_n(from, keySize, output->data());
        from += keySize;
    }
    return true;
}

} // namespace

void wipe(void *data, std::size_t size)
{
    OPENSSL_cleanse(data, size);
}

std::optional<Digest> sha256(std::initializer_list<QByteArrayView> parts, QString *errorText)
{
    const Owned<EVP_MD_CTX, EVP_MD_CTX_free> context(EVP_MD_CTX_new());
    if (!context || !sha256Algorithm() || !EVP_DigestInit_ex2(context.get(), sha256Algorithm(), nullptr))
        return fail(errorText, tr("SHA-256 is not available."));
    for (QByteArrayView part : parts) {
        if (!EVP_DigestUpdate(context.get(), bytes(part), size_t(part.size())))
            return fail(errorText, tr("SHA-256 failed."));
    }
    Digest digest;
    unsigned int size = 0;
    if (!EVP_DigestFinal_ex(context.get(), digest.data(), &size) || size != hashSize)
        return fail(errorText, tr("SHA-256 failed."));
    return digest;
}

std::optional<SecretKey> hmacSha256(QByteArrayView key, std::initializer_list<QByteArrayView> parts,
                                    QString *errorText)
{
    const Owned<EVP_MAC_CTX, EVP_MAC_CTX_free> context(
        hmacAlgorithm() ? EVP_MAC_CTX_new(hmacAlgorithm()) : nullptr);
    OSSL_PARAM params[] = {sha256Param(OSSL_MAC_PARAM_DIGEST), OSSL_PARAM_construct_end()};
    if (!context || !EVP_MAC_init(context.get(), bytes(key), size_t(key.size()), params))
        return fail(errorText, tr("HMAC-SHA256 is not available."));
    for (QByteArrayView part : parts) {
        if (!EVP_MAC_update(context.get(), bytes(part), size_t(part.size())))
            return fail(errorText, tr("HMAC-SHA256 failed."));
    }
    SecretKey mac;
    size_t size = 0;
    if (!EVP_MAC_final(context.get(), mac.data(), &size, mac.size()) || size != mac.size())
        return fail(errorText, tr("HMAC-SHA256 failed."));
    return mac;
}

bool hkdfSha256(QByteArrayView salt, QByteArrayView inputKeyMaterial, QByteArrayView info,
                quint8 *out, qsizetype size, QString *errorText)
{
    if (size <= 0 || size > 255 * qsizetype(hashSize))
        return fail(errorText, tr("HKDF-SHA256 cannot make %1 bytes.").arg(size));
    const Owned<EVP_KDF_CTX, EVP_KDF_CTX_free> context(
        hkdfAlgorithm() ? EVP_KDF_CTX_new(hkdfAlgorithm()) : nullptr);
    if (!context)
        return fail(errorText, tr("HKDF-SHA256 is not available."));
    OSSL_PARAM params[] = {
        sha256Param(OSSL_KDF_PARAM_DIGEST),
        octetParam(OSSL_KDF_PARAM_KEY, inputKeyMaterial),
        octetParam(OSSL_KDF_PARAM_SALT, salt),
        octetParam(OSSL_KDF_PARAM_INFO, info),
        OSSL_PARAM_construct_end()};
    if (!EVP_KDF_derive(context.get(), out, size_t(size), params))
        return fail(errorText, tr("HKDF-SHA256 failed."));
    return true;
}

bool noiseHkdf(const SecretKey &chainingKey, QByteArrayView inputKeyMaterial,
               SecretKey &output1, SecretKey &output2, QString *errorText)
{
    return deriveNoiseOutputs(chainingKey, inputKeyMaterial, {&output1, &output2}, errorText);
}

bool noiseHkdf(const SecretKey &chainingKey, QByteArrayView inputKeyMaterial,
               SecretKey &output1, SecretKey &output2, SecretKey &output3, QString *errorText)
{
    return deriveNoiseOutputs(chainingKey, inputKeyMaterial, {&output1, &output2, &output3}, errorText);
}

bool aeadSeal(const SecretKey &key, const Nonce &nonce, QByteArrayView associatedData,
              QByteArrayView plaintext, QByteArray &out, QString *errorText)
{
    if (!fitsInt(plaintext.size() + tagSize))
        return fail(errorText, tr("The message is too large to encrypt."));
    const CipherContext context = startAead(key, nonce, associatedData, true);
    if (!context)
        return fail(errorText, tr("ChaCha20-Poly1305 is not available."));
    const qsizetype start = out.size();
    out.resize(start + plaintext.size() + tagSize);
    quint8 *ciphertext = reinterpret_cast<quint8 *>(out.data()) + start;
    if (!aeadRun(context.get(), plaintext, ciphertext)
        || !aeadTag(context.get(), ciphertext + plaintext.size(), true)) {
        out.truncate(start);
        return fail(errorText, tr("ChaCha20-Poly1305 encryption failed."));
    }
    return true;
}

bool aeadOpen(const SecretKey &key, const Nonce &nonce, QByteArrayView associatedData,
              QByteArrayView ciphertextAndTag, QByteArray &out, QString *errorText)
{
    if (ciphertextAndTag.size() < tagSize || !fitsInt(ciphertextAndTag.size()))
        return fail(errorText, tr("The encrypted message has an impossible size."));
    const QByteArrayView ciphertext = ciphertextAndTag.chopped(tagSize);
    std::array<quint8, tagSize> tag;
    std::copy_n(ciphertextAndTag.cend() - tagSize, tagSize, tag.begin());
    const CipherContext context = startAead(key, nonce, associatedData, false);
    if (!context || !aeadTag(context.get(), tag.data(), false))
        return fail(errorText, tr("ChaCha20-Poly1305 is not available."));
    const qsizetype start = out.size();
    out.resize(start + ciphertext.size());
    quint8 *plaintext = reinterpret_cast<quint8 *>(out.data()) + start;
    if (!aeadRun(context.get(), ciphertext, plaintext)) {
        wipe(plaintext, size_t(ciphertext.size()));
        out.truncate(start);
        return fail(errorText, tr("The message failed authentication."));
    }
    return true;
}

std::optional<KeyPair> generateKeyPair(QString *errorText)
{
    SecretKey privateKey;
    if (!randomBytes(privateKey.data(), qsizetype(privateKey.size()), errorText))
        return std::nullopt;
    return keyPairFromPrivateKey(privateKey, errorText);
}

std::optional<KeyPair> keyPairFromPrivateKey(const SecretKey &privateKey, QString *errorText)
{
    const PKey key = privateKeyObject(privateKey);
    KeyPair pair{privateKey, {}};
    size_t size = pair.publicKey.size();
    if (!key || !EVP_PKEY_get_raw_public_key(key.get(), pair.publicKey.data(), &size)
        || size != pair.publicKey.size()) {
        return fail(errorText, tr("X25519 key pair failed."));
    }
    return pair;
}

std::optional<SecretKey> x25519(const SecretKey &privateKey, const PublicKey &peerPublicKey,
                                QString *errorText)
{
    const PKey ours = privateKeyObject(privateKey);
    const PKey theirs(EVP_PKEY_new_raw_public_key_ex(nullptr, "X25519", nullptr,
                                                     peerPublicKey.data(), peerPublicKey.size()));
    const Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free> context(
        ours ? EVP_PKEY_CTX_new_from_pkey(nullptr, ours.get(), nullptr) : nullptr);
    if (!theirs || !context || EVP_PKEY_derive_init(context.get()) <= 0)
        return fail(errorText, tr("X25519 is not available."));
    SecretKey shared;
    size_t size = shared.size();
    // OpenSSL refuses a result of all zeros: the peer's key was of small order.
    if (EVP_PKEY_derive_set_peer(context.get(), theirs.get()) <= 0
        || EVP_PKEY_derive(context.get(), shared.data(), &size) <= 0 || size != shared.size()) {
        return fail(errorText, tr("X25519 refused the peer's public key."));
    }
    return shared;
}

bool randomBytes(quint8 *out, qsizetype size, QString *errorText)
{
    if (!fitsInt(size) || RAND_bytes(out, int(size)) != 1)
        return fail(errorText, tr("No random bytes are available."));
    return true;
}

bool constantTimeEquals(QByteArrayView a, QByteArrayView b)
{
    return a.size() == b.size() && CRYPTO_memcmp(bytes(a), bytes(b), size_t(a.size())) == 0;
}

} // namespace Qonduit::Security
