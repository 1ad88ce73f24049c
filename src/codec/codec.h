/*
 * codec.h - the stream stages between a database stream and a stored blob:
 * content-defined chunking, keyed chunk ids, zstd, AES-256-GCM, and the
 * passphrase key derivation. All crypto is OpenSSL libcrypto; all
 * compression is libzstd.
 */
#ifndef COFFER_CODEC_CODEC_H
#define COFFER_CODEC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

#define CODEC_KEY_LEN 32   /* AES-256 key, HMAC key */
#define CODEC_ID_LEN 32    /* HMAC-SHA-256 chunk id */
#define CODEC_DIGEST_LEN 32 /* SHA-256 of a chunk's bytes */
#define CODEC_NONCE_LEN 12 /* GCM nonce */
#define CODEC_TAG_LEN 16   /* GCM tag */
/* Sealed blob layout: nonce(12) | ciphertext | tag(16). */
#define CODEC_SEAL_OVERHEAD (CODEC_NONCE_LEN + CODEC_TAG_LEN)

/* ---- content-defined chunking (FastCDC-style gear hash) ---------------- */

typedef struct ChunkerParams
{
    uint32_t min_size; /* no cut before this many bytes */
    uint32_t avg_size; /* power of two; the normal cut mask targets it */
    uint32_t max_size; /* forced cut */
} ChunkerParams;

/* Default sizes: 64 KiB min, 256 KiB average, 1 MiB max: small enough that
 * clustered edits (1% of a table's rows) re-store under a tenth of it. */
ChunkerParams chunker_default_params(void);
/* Checks min < avg < max, avg a power of two, min at least 64 bytes and max
 * at most 64 MiB. Returns false with an ERR_USAGE error otherwise. */
bool chunker_params_valid(const ChunkerParams *p, Error *err);

typedef struct Chunker Chunker;

/* The callback receives each finished chunk, in order; returning false
 * stops the stream (the error is the callback's). The chunker holds at most
 * max_size bytes. data is valid only during the call: it points either into
 * the chunker's buffer or into the caller's chunker_write argument. */
typedef bool (*ChunkFn)(void *arg, const unsigned char *data, size_t len, Error *err);

/* p must pass chunker_params_valid; other sizes are a programming error and
 * abort. Never returns NULL. */
Chunker *chunker_new(const ChunkerParams *p, ChunkFn emit, void *arg);
/* Feeds bytes; emits every chunk whose end is found. The chunks do not
 * depend on how the stream is split into writes. After a callback failure
 * the chunker may only be freed. */
bool chunker_write(Chunker *c, const void *data, size_t len, Error *err);
/* Emits the last partial chunk (if any). The chunker can then be reused. */
bool chunker_finish(Chunker *c, Error *err);
void chunker_free(Chunker *c);

/* Cut-point finder over a whole buffer (the same scan chunker_write runs,
 * exposed for tests): returns the length of the first chunk in
 * data[0..len), which is len when no cut is found before max_size. The cut
 * points (gear table, masks) are part of the repository format. */
size_t chunker_find_cut(const ChunkerParams *p, const unsigned char *data, size_t len);

/* ---- hashing ------------------------------------------------------------ */

/* out = HMAC-SHA-256(key, data). */
void codec_mac(const unsigned char key[CODEC_KEY_LEN], const void *data, size_t len,
               unsigned char out[CODEC_ID_LEN]);

/* A chunk's digest = SHA-256(data) and its id = HMAC-SHA-256(key, digest):
 * the bytes are hashed once for both. digest may be NULL. The content hash of
 * a stream is the SHA-256 of its chunks' digests in order (see CodecHash). */
void codec_chunk_id(const unsigned char key[CODEC_KEY_LEN], const void *data, size_t len,
                    unsigned char id[CODEC_ID_LEN], unsigned char digest[CODEC_DIGEST_LEN]);

/* Incremental SHA-256 (a stream's content hash over its chunk digests). */
typedef struct CodecHash CodecHash;
CodecHash *codec_hash_new(void);
void codec_hash_update(CodecHash *h, const void *data, size_t len);
/* Writes the 64-hex-digit digest (+NUL) and frees h. */
void codec_hash_final(CodecHash *h, char hex[65]);
/* Frees h without finishing it; NULL is ignored. */
void codec_hash_free(CodecHash *h);

/* Cryptographically random bytes; aborts if the system RNG fails. */
void codec_random(void *out, size_t len);

/* ---- compression -------------------------------------------------------- */

/* Compresses in into out (replacing its contents) at level; returns true
 * and sets *compressed=true only when the result is smaller than the input,
 * otherwise copies the input raw and sets *compressed=false. Fails on a level
 * outside zstd's range. In all codec functions below, in must not point into
 * out (out may be reallocated). zstd, cipher and HMAC contexts are kept per
 * thread and freed when the thread exits. */
bool codec_compress(int level, const void *in, size_t len, Buf *out, bool *compressed, Error *err);
/* Decompresses a zstd frame; raw_len is the expected plaintext size. Fails
 * cleanly ("could not decompress data: ...") on anything that is not a frame
 * decompressing to exactly raw_len bytes. */
bool codec_decompress(const void *in, size_t len, size_t raw_len, Buf *out, Error *err);

/* ---- authenticated encryption (AES-256-GCM) ----------------------------- */

/* Appends nonce|ciphertext|tag of in to out, with a fresh random nonce.
 * aad (may be NULL) is authenticated, not stored. */
bool codec_seal(const unsigned char key[CODEC_KEY_LEN], const void *aad, size_t aad_len,
                const void *in, size_t len, Buf *out, Error *err);
/* Opens a sealed blob into out (replacing its contents). Fails with
 * "authentication failed" on any flipped byte, wrong key, wrong aad or
 * truncation, leaving out empty; callers prefix the object's name. */
bool codec_open(const unsigned char key[CODEC_KEY_LEN], const void *aad, size_t aad_len,
                const void *in, size_t len, Buf *out, Error *err);

/* ---- passphrase key derivation (scrypt) --------------------------------- */

typedef struct KdfParams
{
    uint64_t n; /* CPU/memory cost, power of two */
    uint32_t r;
    uint32_t p;
    unsigned char salt[32];
} KdfParams;

/* The largest scrypt costs a key file may ask for: 2^20 is 32 times the
 * default N, and r and p far above what any sane setting uses. Costs come
 * from files in the repository, so anything larger is refused on reading
 * rather than spending minutes of CPU on every command. */
#define CODEC_KDF_MAX_N ((uint64_t)1 << 20)
#define CODEC_KDF_MAX_R 32
#define CODEC_KDF_MAX_P 16

/* Default scrypt costs (N=2^15, r=8, p=1) and a fresh random salt. */
void codec_kdf_default(KdfParams *params);
/* Derives a 32-byte key from the passphrase. Fails on parameters that are
 * not valid scrypt costs or that would need more than 1 GiB of memory. */
bool codec_kdf(const char *passphrase, const KdfParams *params, unsigned char key[CODEC_KEY_LEN],
               Error *err);

#endif
