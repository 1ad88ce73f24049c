/*
 * object.c - the small pieces every repository file uses: sealing (with the
 * null seal of "encryption: none"), envelope objects, object names, the
 * serialized chunk entry (shared by pack headers and index objects), time,
 * and the crash-point test hook.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/fmt.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define REPO_NULL_TAG_LEN 16

/* First 16 bytes of SHA-256(key | u64 aad length | aad | data). */
static void repo_null_tag(const unsigned char key[CODEC_KEY_LEN], const void *aad, size_t aad_len,
                          const void *data, size_t len, unsigned char tag[REPO_NULL_TAG_LEN])
{
    CodecHash *h = codec_hash_new();
    unsigned char n[8];
    char hex[65];

    write_u64le(n, aad_len);
    codec_hash_update(h, key, CODEC_KEY_LEN);
    codec_hash_update(h, n, sizeof(n));
    if (aad_len > 0)
        codec_hash_update(h, aad, aad_len);
    if (len > 0)
        codec_hash_update(h, data, len);
    codec_hash_final(h, hex);
    hex[2 * REPO_NULL_TAG_LEN] = '\0'; /* keep the first 16 bytes */
    hex_decode(hex, tag, REPO_NULL_TAG_LEN);
}

bool repo_seal(bool encrypted, const unsigned char key[CODEC_KEY_LEN], const void *aad,
               size_t aad_len, const void *in, size_t len, Buf *out, Error *err)
{
    unsigned char zero[CODEC_NONCE_LEN] = {0};
    unsigned char tag[REPO_NULL_TAG_LEN];

    if (encrypted)
        return codec_seal(key, aad, aad_len, in, len, out, err);
    repo_null_tag(key, aad, aad_len, in, len, tag);
    buf_append(out, zero, sizeof(zero));
    buf_append(out, in, len);
    buf_append(out, tag, sizeof(tag));
    return true;
}

bool repo_unseal(bool encrypted, const unsigned char key[CODEC_KEY_LEN], const void *aad,
                 size_t aad_len, const void *in, size_t len, Buf *out, Error *err)
{
    const unsigned char *p = in;
    unsigned char tag[REPO_NULL_TAG_LEN];
    size_t plen;

    if (encrypted)
    {
        if (!codec_open(key, aad, aad_len, in, len, out, err))
        {
            /* codec says "could not decrypt blob: authentication failed";
             * callers name the object, so keep only what went wrong */
            return error_set(err, ERR_FAILURE, "authentication failed");
        }
        return true;
    }
    buf_reset(out);
    if (len < CODEC_SEAL_OVERHEAD)
        return error_set(err, ERR_FAILURE, "checksum mismatch (blob too short)");
    plen = len - CODEC_SEAL_OVERHEAD;
    repo_null_tag(key, aad, aad_len, p + CODEC_NONCE_LEN, plen, tag);
    if (memcmp(tag, p + CODEC_NONCE_LEN + plen, sizeof(tag)) != 0)
        return error_set(err, ERR_FAILURE, "checksum mismatch");
    buf_append(out, p + CODEC_NONCE_LEN, plen);
    return true;
}

static void repo_envelope_header(unsigned char hdr[REPO_ENVELOPE_LEN], const char magic[4],
                                 uint32_t flags, uint64_t raw_len)
{
    memcpy(hdr, magic, 4);
    write_u32le(hdr + 4, REPO_FORMAT_VERSION);
    write_u32le(hdr + 8, flags);
    write_u64le(hdr + 12, raw_len);
}

/* AAD of an envelope: its header and its object key, so that an object
 * copied under another name no longer opens. */
static void repo_envelope_aad(Buf *aad, const unsigned char hdr[REPO_ENVELOPE_LEN], const char *key)
{
    buf_reset(aad);
    buf_append(aad, hdr, REPO_ENVELOPE_LEN);
    buf_append_str(aad, key);
}

bool repo_object_put(Repo *repo, const char *key, const char magic[4], const void *body, size_t len,
                     bool compress, Error *err)
{
    return repo_object_put_sealed(repo, key, magic, body, len, compress, repo->master_enc, err);
}

bool repo_object_put_sealed(Repo *repo, const char *key, const char magic[4], const void *body,
                            size_t len, bool compress, const unsigned char seal[CODEC_KEY_LEN],
                            Error *err)
{
    unsigned char hdr[REPO_ENVELOPE_LEN];
    Buf z, aad, out;
    bool compressed = false;
    bool ok = false;

    buf_init(&z);
    buf_init(&aad);
    buf_init(&out);
    if (compress && len > 0 && !codec_compress(repo->compression, body, len, &z, &compressed, err))
        goto done;
    repo_envelope_header(hdr, magic, compressed ? 1 : 0, len);
    repo_envelope_aad(&aad, hdr, key);
    buf_append(&out, hdr, sizeof(hdr));
    if (!repo_seal(repo->encrypted, seal, aad.data, aad.len, compressed ? z.data : body,
                   compressed ? z.len : len, &out, err))
        goto done;
    ok = storage_put(repo->st, key, out.data, out.len, err);
done:
    buf_free(&z);
    buf_free(&aad);
    buf_free(&out);
    return ok;
}

bool repo_get(Repo *repo, const char *key, const char *what, unsigned char **data, size_t *len,
              Error *err)
{
    bool exists = true;
    Error e2;

    if (storage_get(repo->st, key, data, len, err))
        return true;
    error_clear(&e2);
    if (storage_exists(repo->st, key, &exists, NULL, &e2) && !exists)
        error_set(err, ERR_FAILURE, "%s \"%s\" is missing", what, key);
    return false;
}

bool repo_object_get(Repo *repo, const char *key, const char magic[4], const char *what, Buf *out,
                     Error *err)
{
    return repo_object_get_sealed(repo, key, magic, what, repo->master_enc, out, err);
}

bool repo_object_get_sealed(Repo *repo, const char *key, const char magic[4], const char *what,
                            const unsigned char seal[CODEC_KEY_LEN], Buf *out, Error *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    unsigned char hdr[REPO_ENVELOPE_LEN];
    uint32_t version, flags;
    uint64_t raw_len;
    Buf aad, plain;
    bool ok = false;

    buf_reset(out);
    if (!repo_get(repo, key, what, &data, &len, err))
        return false;
    buf_init(&aad);
    buf_init(&plain);
    if (len < REPO_ENVELOPE_LEN)
    {
        error_set(err, ERR_FAILURE, "%s \"%s\" is truncated: %zu bytes", what, key, len);
        goto done;
    }
    if (memcmp(data, magic, 4) != 0)
    {
        error_set(err, ERR_FAILURE, "%s \"%s\" is not a coffer %s object (bad magic)", what, key,
                  what);
        goto done;
    }
    version = read_u32le(data + 4);
    flags = read_u32le(data + 8);
    raw_len = read_u64le(data + 12);
    if (version != REPO_FORMAT_VERSION)
    {
        /* the version is sealed with the rest: if the object opens as this
         * version, only its version field was damaged; a newer coffer's
         * object does not open, and neither does one damaged further */
        Error e2;
        bool intact;

        memcpy(hdr, data, sizeof(hdr));
        write_u32le(hdr + 4, REPO_FORMAT_VERSION);
        repo_envelope_aad(&aad, hdr, key);
        error_clear(&e2);
        intact = repo_unseal(repo->encrypted, seal, aad.data, aad.len, data + REPO_ENVELOPE_LEN,
                             len - REPO_ENVELOPE_LEN, &plain, &e2);
        if (intact || version < REPO_FORMAT_VERSION || version > REPO_FORMAT_VERSION + 16)
        {
            error_set(err, ERR_FAILURE,
                      "%s \"%s\" is damaged: its format version field reads %" PRIu32
                      " (this repository is version %d)",
                      what, key, version, REPO_FORMAT_VERSION);
            error_hint(err, "run \"coffer check\" to list damaged objects");
        }
        else
        {
            error_set(err, ERR_FAILURE,
                      "%s \"%s\" has unknown format version %" PRIu32
                      " (this coffer reads version %d)",
                      what, key, version, REPO_FORMAT_VERSION);
            error_hint(err, "a newer coffer wrote it: upgrade coffer to read this repository; "
                            "or the object is damaged, which \"coffer check\" tells");
        }
        goto done;
    }
    memcpy(hdr, data, sizeof(hdr));
    repo_envelope_aad(&aad, hdr, key);
    if (!repo_unseal(repo->encrypted, seal, aad.data, aad.len, data + REPO_ENVELOPE_LEN,
                     len - REPO_ENVELOPE_LEN, &plain, err))
    {
        error_prefix(err, "%s \"%s\"", what, key);
        error_hint(err, "the object is damaged; run \"coffer check\" to list damaged objects");
        goto done;
    }
    if (flags & 1)
    {
        if (raw_len > (uint64_t)1 << 34 ||
            !codec_decompress(plain.data, plain.len, (size_t)raw_len, out, err))
        {
            if (raw_len > (uint64_t)1 << 34)
                error_set(err, ERR_FAILURE, "implausible length %" PRIu64, raw_len);
            error_prefix(err, "%s \"%s\"", what, key);
            goto done;
        }
    }
    else
    {
        if (plain.len != raw_len)
        {
            error_set(err, ERR_FAILURE, "%s \"%s\": length mismatch", what, key);
            goto done;
        }
        buf_append(out, plain.data, plain.len);
    }
    ok = true;
done:
    free(data);
    buf_free(&aad);
    buf_free(&plain);
    return ok;
}

void repo_random_id(char out[65])
{
    unsigned char b[32];

    codec_random(b, sizeof(b));
    hex_encode(b, sizeof(b), out);
}

void repo_time_now(char out[40])
{
    fmt_utc_now(out);
}

void repo_pack_key(const unsigned char id[32], char out[80])
{
    char hex[65];

    hex_encode(id, 32, hex);
    snprintf(out, 80, "data/%.2s/%s", hex, hex);
}

bool repo_pack_key_parse(const char *key, unsigned char id[32])
{
    if (strlen(key) != 5 + 3 + 64 || strncmp(key, "data/", 5) != 0 || key[7] != '/')
        return false;
    if (strncmp(key + 5, key + 8, 2) != 0)
        return false;
    for (int i = 8; i < 72; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return false;
    return hex_decode(key + 8, id, 32) == 0;
}

void repo_chunk_str(const unsigned char id[32], char out[20])
{
    hex_encode(id, 8, out);
}

void repo_entry_put(Buf *b, const unsigned char id[32], uint32_t offset, uint32_t length,
                    uint32_t raw_length, uint8_t flags)
{
    buf_append(b, id, 32);
    buf_append_u32le(b, offset);
    buf_append_u32le(b, length);
    buf_append_u32le(b, raw_length);
    buf_append(b, &flags, 1);
}

void repo_crash_point(const char *name)
{
    static atomic_int hits;
    const char *want = getenv("COFFER_CRASH_POINT");
    const char *at;
    size_t n;

    if (want == NULL)
        return;
    at = strchr(want, '@');
    n = at ? (size_t)(at - want) : strlen(want);
    if (strlen(name) != n || strncmp(want, name, n) != 0)
        return;
    if (at != NULL && atomic_fetch_add(&hits, 1) + 1 < atoi(at + 1))
        return;
    kill(getpid(), SIGKILL);
}
