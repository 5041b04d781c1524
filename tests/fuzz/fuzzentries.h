#ifndef QONDUIT_FUZZENTRIES_H
#define QONDUIT_FUZZENTRIES_H

#include <cstddef>
#include <cstdint>

// The bodies of the libFuzzer targets, shared by the fuzzers (built with
// clang -fsanitize=fuzzer) and by tst_fuzzreplay, which every build runs
// over the committed corpora. Each returns 0 and aborts on a broken
// invariant, as libFuzzer expects.
namespace QonduitFuzz {

// Input: byte 0 options (bit 0: no preface expected; bits 1-2: maximum frame
// size 16 KiB, 64 KiB, 1 MiB or 16 MiB), bytes 1-4 the sizes of the chunks
// in which the rest arrives (cycled; size = byte + 1), then the byte stream.
int frameDecoder(const uint8_t *data, size_t size);

// Input: byte 0 picks the decoder (DATA QDataStream, DATA CBOR, HELLO,
// WELCOME, CREDIT, ERROR, DATA with the byte as flags), the rest is the payload.
int messageCodec(const uint8_t *data, size_t size);

} // namespace QonduitFuzz

#endif // QONDUIT_FUZZENTRIES_H
