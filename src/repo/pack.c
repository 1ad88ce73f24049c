/*
 * pack.c - packs: many sealed chunks of one owner in one object, streamed to
 * storage blob by blob (never held whole in memory), closed by a header
 * sealed with the master key and a fixed-size trailer that finds it.
 *
 * The header repeats what the index says about the pack, so that check can
 * cross-examine the two and a lost index could be rebuilt from the packs.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define PACK_HEADER_HEAD (4 + REPO_KID_LEN + 4)

PackWriter *pack_writer_new(Repo *repo, const unsigned char kid[REPO_KID_LEN], Error *err)
{
    PackWriter *pw = xcalloc(1, sizeof(*pw));

    pw->repo = repo;
    memcpy(pw->kid, kid, REPO_KID_LEN);
    codec_random(pw->id, sizeof(pw->id));
    repo_pack_key(pw->id, pw->key);
    buf_init(&pw->entries);
    repo_table_init(&pw->ids, 32, 32);
    pw->sw = storage_put_begin(repo->st, pw->key, err);
    if (pw->sw == NULL)
    {
        pack_writer_free(pw);
        return NULL;
    }
    return pw;
}

bool pack_writer_add(PackWriter *pw, const unsigned char id[32], uint8_t flags, uint32_t raw_len,
                     const void *blob, size_t len, Error *err)
{
    if (pw->size + len >= UINT32_MAX)
        return error_set(err, ERR_FAILURE, "pack \"%s\" would exceed 4 GiB", pw->key);
    if (!storage_put_write(pw->sw, blob, len, err))
        return false;
    repo_entry_put(&pw->entries, id, (uint32_t)pw->size, (uint32_t)len, raw_len, flags);
    repo_table_add(&pw->ids, id);
    pw->size += len;
    pw->count++;
    return true;
}

bool pack_writer_finish(PackWriter *pw, Buf *record, Error *err)
{
    Repo *repo = pw->repo;
    unsigned char aad[33];
    unsigned char trailer[REPO_PACK_TRAILER_LEN];
    Buf plain, sealed;
    bool ok = false;
    uint64_t total;

    buf_init(&plain);
    buf_init(&sealed);
    buf_append_u32le(&plain, REPO_FORMAT_VERSION);
    buf_append(&plain, pw->kid, REPO_KID_LEN);
    buf_append_u32le(&plain, pw->count);
    buf_append(&plain, pw->entries.data, pw->entries.len);
    aad[0] = 'H';
    memcpy(aad + 1, pw->id, 32);
    if (!repo_seal(repo->encrypted, repo->master_enc, aad, sizeof(aad), plain.data, plain.len,
                   &sealed, err))
        goto done;
    write_u32le(trailer, (uint32_t)sealed.len);
    write_u32le(trailer + 4, REPO_FORMAT_VERSION);
    memcpy(trailer + 8, REPO_PACK_MAGIC, 8);
    if (!storage_put_write(pw->sw, sealed.data, sealed.len, err) ||
        !storage_put_write(pw->sw, trailer, sizeof(trailer), err))
        goto done;
    total = pw->size + sealed.len + sizeof(trailer);
    repo_crash_point("pack-before-commit");
    ok = storage_put_end(pw->sw, err);
    pw->sw = NULL; /* freed by put_end either way */
    if (!ok)
        goto done;
    repo_crash_point("pack-after-commit");
    buf_append(record, pw->id, 32);
    buf_append(record, pw->kid, REPO_KID_LEN);
    buf_append_u64le(record, total);
    buf_append_u32le(record, pw->count);
    buf_append(record, pw->entries.data, pw->entries.len);
    log_debug("wrote pack \"%s\": %" PRIu32 " chunks, %" PRIu64 " bytes", pw->key, pw->count,
              total);
done:
    buf_free(&plain);
    buf_free(&sealed);
    return ok;
}

void pack_writer_free(PackWriter *pw)
{
    if (pw == NULL)
        return;
    storage_put_abort(pw->sw);
    buf_free(&pw->entries);
    repo_table_free(&pw->ids);
    free(pw);
}

bool pack_header_read(Repo *repo, const unsigned char packid[32], uint64_t size, PackHeader *h,
                      Error *err)
{
    char key[80];
    unsigned char *tr = NULL, *sealed = NULL;
    unsigned char aad[33];
    uint32_t hlen, version;
    Buf plain;
    bool ok = false;

    memset(h, 0, sizeof(*h));
    buf_init(&plain);
    repo_pack_key(packid, key);
    if (size < REPO_PACK_TRAILER_LEN + CODEC_SEAL_OVERHEAD + PACK_HEADER_HEAD)
        return error_set(err, ERR_FAILURE,
                         "pack \"%s\" is truncated: %" PRIu64 " bytes, too short for a pack", key,
                         size);
    if (!storage_get_range(repo->st, key, size - REPO_PACK_TRAILER_LEN, REPO_PACK_TRAILER_LEN, &tr,
                           err))
        return false;
    if (memcmp(tr + 8, REPO_PACK_MAGIC, 8) != 0)
    {
        error_set(err, ERR_FAILURE, "pack \"%s\" has no pack trailer: truncated or not a pack",
                  key);
        goto done;
    }
    hlen = read_u32le(tr);
    version = read_u32le(tr + 4);
    if (version != REPO_FORMAT_VERSION)
    {
        error_set(err, ERR_FAILURE,
                  "pack \"%s\" has unknown format version %" PRIu32
                  " (this coffer reads version %d)",
                  key, version, REPO_FORMAT_VERSION);
        goto done;
    }
    if ((uint64_t)hlen + REPO_PACK_TRAILER_LEN > size ||
        hlen < CODEC_SEAL_OVERHEAD + PACK_HEADER_HEAD)
    {
        error_set(err, ERR_FAILURE,
                  "pack \"%s\" is corrupt: its trailer gives a header of %" PRIu32
                  " bytes in a %" PRIu64 "-byte object",
                  key, hlen, size);
        goto done;
    }
    h->data_end = size - REPO_PACK_TRAILER_LEN - hlen;
    if (!storage_get_range(repo->st, key, h->data_end, hlen, &sealed, err))
        goto done;
    aad[0] = 'H';
    memcpy(aad + 1, packid, 32);
    if (!repo_unseal(repo->encrypted, repo->master_enc, aad, sizeof(aad), sealed, hlen, &plain,
                     err))
    {
        error_prefix(err, "pack \"%s\": header", key);
        goto done;
    }
    if (plain.len < PACK_HEADER_HEAD || read_u32le(plain.data) != REPO_FORMAT_VERSION)
    {
        error_set(err, ERR_FAILURE, "pack \"%s\": header has an unknown format", key);
        goto done;
    }
    memcpy(h->kid, plain.data + 4, REPO_KID_LEN);
    h->count = read_u32le(plain.data + 4 + REPO_KID_LEN);
    if ((uint64_t)h->count * REPO_ENTRY_LEN != plain.len - PACK_HEADER_HEAD)
    {
        error_set(err, ERR_FAILURE,
                  "pack \"%s\": header is corrupt (%" PRIu32 " chunks in %zu "
                  "bytes)",
                  key, h->count, plain.len);
        goto done;
    }
    h->entries = xmalloc((size_t)h->count * REPO_ENTRY_LEN + 1);
    memcpy(h->entries, plain.data + PACK_HEADER_HEAD, (size_t)h->count * REPO_ENTRY_LEN);
    for (uint32_t i = 0; i < h->count; i++)
    {
        const unsigned char *e = h->entries + (size_t)i * REPO_ENTRY_LEN;

        if ((uint64_t)read_u32le(e + 32) + read_u32le(e + 36) > h->data_end)
        {
            error_set(err, ERR_FAILURE,
                      "pack \"%s\": header is corrupt (chunk %" PRIu32 " lies outside the data)",
                      key, i);
            goto done;
        }
    }
    ok = true;
done:
    if (!ok)
        pack_header_free(h);
    free(tr);
    free(sealed);
    buf_free(&plain);
    return ok;
}

void pack_header_free(PackHeader *h)
{
    free(h->entries);
    h->entries = NULL;
    h->count = 0;
}

bool repo_blob_open(Repo *repo, const RepoOwner *owner, const unsigned char id[32], uint8_t flags,
                    uint32_t raw_len, const void *blob, size_t len, Buf *plain, Buf *tmp,
                    unsigned char digest[CODEC_DIGEST_LEN], Error *err)
{
    unsigned char aad[34];
    unsigned char check[CODEC_ID_LEN];
    bool compressed = (flags & REPO_ENTRY_COMPRESSED) != 0;

    aad[0] = 'B';
    memcpy(aad + 1, id, 32);
    aad[33] = flags;
    if (!repo_unseal(repo->encrypted, owner->data_key, aad, sizeof(aad), blob, len,
                     compressed ? tmp : plain, err))
        return false;
    if (compressed)
    {
        if (!codec_decompress(tmp->data, tmp->len, raw_len, plain, err))
            return false;
    }
    else if (plain->len != raw_len)
        return error_set(err, ERR_FAILURE, "length mismatch: %zu bytes, index says %" PRIu32,
                         plain->len, raw_len);
    codec_chunk_id(owner->id_key, plain->data, plain->len, check, digest);
    if (memcmp(check, id, CODEC_ID_LEN) != 0)
        return error_set(err, ERR_FAILURE, "content does not match its id");
    return true;
}
