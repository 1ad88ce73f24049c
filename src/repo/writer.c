/*
 * writer.c - turning streams into chunks in packs, and chunks back into
 * streams.
 *
 * A stream is chunked, each chunk gets its keyed id, and a chunk already in
 * the index (or in one of this writer's open packs) costs nothing more: no
 * compression, no encryption, no write. That is what makes the second backup
 * of unchanged data cheap. Memory per writer: one chunk, its compressed and
 * sealed copies, and the small header lists of its open packs.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

struct RepoWriter
{
    Repo *repo;
    PackWriter *packs[REPO_WRITER_PACKS];
    int npacks;
    uint64_t tick;
    Buf zbuf; /* compressed chunk */
    Buf sbuf; /* sealed chunk */
};

struct RepoStream
{
    RepoWriter *w;
    RepoOwner *owner;
    Chunker *chunker;
    json_t *ids;
    CodecHash *content; /* over the chunks' digests */
    uint64_t chunked;   /* bytes the chunker handed out */
    RepoStreamStats stats;
    bool failed;
};

RepoWriter *repo_writer_new(Repo *repo)
{
    RepoWriter *w = xcalloc(1, sizeof(*w));

    w->repo = repo;
    buf_init(&w->zbuf);
    buf_init(&w->sbuf);
    return w;
}

/* Finishes one open pack and hands its entries to the repository. */
static bool repo_writer_close_pack(RepoWriter *w, int i, Error *err)
{
    PackWriter *pw = w->packs[i];
    Repo *repo = w->repo;
    Buf rec;
    bool ok;

    buf_init(&rec);
    ok = pack_writer_finish(pw, &rec, err);
    if (ok)
    {
        size_t used;

        pthread_mutex_lock(&repo->mu);
        ok = repo_index_add_record(repo, rec.data, rec.len, &used, true, "new pack", err);
        pthread_mutex_unlock(&repo->mu);
    }
    buf_free(&rec);
    pack_writer_free(pw);
    w->packs[i] = w->packs[--w->npacks];
    return ok;
}

bool repo_writer_flush(RepoWriter *w, Error *err)
{
    while (w->npacks > 0)
        if (!repo_writer_close_pack(w, w->npacks - 1, err))
            return false;
    return true;
}

void repo_writer_free(RepoWriter *w)
{
    if (w == NULL)
        return;
    for (int i = 0; i < w->npacks; i++)
        pack_writer_free(w->packs[i]);
    buf_free(&w->zbuf);
    buf_free(&w->sbuf);
    free(w);
}

/* The open pack of this owner, opening one (and finishing the least
 * recently used when all slots are taken) when needed. */
static PackWriter *repo_writer_pack(RepoWriter *w, const RepoOwner *owner, Error *err)
{
    PackWriter *pw;
    int lru = 0;

    for (int i = 0; i < w->npacks; i++)
    {
        if (memcmp(w->packs[i]->kid, owner->kid, REPO_KID_LEN) == 0)
        {
            w->packs[i]->last_use = ++w->tick;
            return w->packs[i];
        }
        if (w->packs[i]->last_use < w->packs[lru]->last_use)
            lru = i;
    }
    if (w->npacks == REPO_WRITER_PACKS && !repo_writer_close_pack(w, lru, err))
        return NULL;
    pw = pack_writer_new(w->repo, owner->kid, err);
    if (pw == NULL)
        return NULL;
    pw->last_use = ++w->tick;
    w->packs[w->npacks++] = pw;
    return pw;
}

static bool repo_writer_known(RepoWriter *w, const unsigned char id[32])
{
    Repo *repo = w->repo;
    bool known;
    uint32_t e;

    pthread_mutex_lock(&repo->mu);
    e = repo_table_find(&repo->entries, id);
    /* a chunk whose pack is missing or truncated is stored again */
    known = e != REPO_NONE &&
            !((RepoPack *)repo_table_at(&repo->packs,
                                        ((RepoEntry *)repo_table_at(&repo->entries, e))->pack))
                 ->lost;
    pthread_mutex_unlock(&repo->mu);
    for (int i = 0; !known && i < w->npacks; i++)
        known = repo_table_find(&w->packs[i]->ids, id) != REPO_NONE;
    return known;
}

static bool repo_stream_chunk(void *arg, const unsigned char *data, size_t len, Error *err)
{
    RepoStream *s = arg;
    RepoWriter *w = s->w;
    Repo *repo = w->repo;
    unsigned char id[CODEC_ID_LEN];
    unsigned char digest[CODEC_DIGEST_LEN];
    unsigned char aad[34];
    char hex[65];
    bool compressed;
    PackWriter *pw;

    codec_chunk_id(s->owner->id_key, data, len, id, digest);
    codec_hash_update(s->content, digest, sizeof(digest));
    s->chunked += len;
    hex_encode(id, sizeof(id), hex);
    json_array_append_new(s->ids, json_string(hex));
    s->stats.chunks++;
    if (repo_writer_known(w, id))
        return true;
    if (!codec_compress(repo->compression, data, len, &w->zbuf, &compressed, err))
        return false;
    aad[0] = 'B';
    memcpy(aad + 1, id, 32);
    aad[33] = compressed ? REPO_ENTRY_COMPRESSED : 0;
    buf_reset(&w->sbuf);
    if (!repo_seal(repo->encrypted, s->owner->data_key, aad, sizeof(aad), w->zbuf.data, w->zbuf.len,
                   &w->sbuf, err))
        return false;
    pw = repo_writer_pack(w, s->owner, err);
    if (pw == NULL)
        return false;
    if (!pack_writer_add(pw, id, aad[33], (uint32_t)len, w->sbuf.data, w->sbuf.len, err))
        return false;
    s->stats.chunks_new++;
    s->stats.bytes_stored += w->sbuf.len;
    if (pw->size >= repo->pack_size)
    {
        for (int i = 0; i < w->npacks; i++)
            if (w->packs[i] == pw)
                return repo_writer_close_pack(w, i, err);
    }
    return true;
}

RepoStream *repo_stream_begin(RepoWriter *w, RepoOwner *owner, Error *err)
{
    RepoStream *s;

    if (owner->destroyed)
    {
        error_set(err, ERR_FAILURE, "keys of owner \"%s\" were destroyed", owner->name);
        return NULL;
    }
    /* before the first dedup: packs known to be lost must not serve it */
    if (!repo_packs_verify_once(w->repo, err))
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->w = w;
    s->owner = owner;
    s->ids = json_array();
    s->content = codec_hash_new();
    s->chunker = chunker_new(&w->repo->chunker, repo_stream_chunk, s);
    return s;
}

bool repo_stream_write(RepoStream *s, const void *data, size_t len, Error *err)
{
    if (s->failed)
        return error_set(err, ERR_FAILURE, "stream already failed");
    s->stats.bytes_in += len;
    if (!chunker_write(s->chunker, data, len, err))
    {
        s->failed = true;
        return false;
    }
    return true;
}

json_t *repo_stream_end(RepoStream *s, RepoStreamStats *stats, Error *err)
{
    json_t *ids = NULL;
    bool ok;

    if (s->failed)
        ok = error_set(err, ERR_FAILURE, "stream already failed");
    else
        ok = chunker_finish(s->chunker, err);
    /* the chunks must add up to the stream: a cheap end-to-end check on the
     * chunker, since the content hash is computed over what it emitted */
    if (ok && s->chunked != s->stats.bytes_in)
        ok = error_set(err, ERR_FAILURE,
                       "internal error: %" PRIu64 " bytes were written to the stream but %" PRIu64
                       " were chunked",
                       s->stats.bytes_in, s->chunked);
    if (ok)
    {
        ids = s->ids;
        s->ids = NULL;
        codec_hash_final(s->content, s->stats.hash);
        s->content = NULL;
        if (stats != NULL)
            *stats = s->stats;
    }
    repo_stream_abort(s);
    return ids;
}

void repo_stream_abort(RepoStream *s)
{
    if (s == NULL)
        return;
    chunker_free(s->chunker);
    json_decref(s->ids);
    codec_hash_free(s->content);
    free(s);
}

/* Names the pack problem of a failed range read: missing or truncated. */
static void repo_read_range_error(Repo *repo, const char *pk, const char *cs, const RepoEntry *e,
                                  Error *err)
{
    bool exists = true;
    uint64_t size = 0;
    Error e2;

    error_clear(&e2);
    if (!storage_exists(repo->st, pk, &exists, &size, &e2))
        return;
    if (!exists)
    {
        error_set(err, ERR_FAILURE, "pack \"%s\" is missing (needed for chunk \"%s\")", pk, cs);
        error_hint(err, "run \"coffer check\" to list damaged objects");
    }
    else if (size < (uint64_t)e->offset + e->length)
    {
        error_set(err, ERR_FAILURE,
                  "pack \"%s\" is truncated: chunk \"%s\" ends at byte %" PRIu64
                  ", the object has %" PRIu64,
                  pk, cs, (uint64_t)e->offset + e->length, size);
        error_hint(err, "run \"coffer check\" to list damaged objects");
    }
}

/* A range of one pack read ahead: the chunks a stream lists one after
 * another usually sit one after another in the same pack, and one ranged
 * read for several of them saves a request each on object storage. */
#define REPO_READ_AHEAD (4u * 1024 * 1024)

typedef struct ReadAhead
{
    char pk[80];
    uint64_t start;
    uint64_t len;
    unsigned char *data;
} ReadAhead;

/* How far the chunks after position i of chunks continue e in the same
 * pack, within REPO_READ_AHEAD: the end of the range to read. */
static uint64_t repo_read_span(Repo *repo, json_t *chunks, size_t i, const RepoEntry *e,
                               const RepoPack *p)
{
    uint64_t start = e->offset, end = (uint64_t)e->offset + e->length;

    for (size_t j = i + 1; j < json_array_size(chunks); j++)
    {
        const char *hex = json_string_value(json_array_get(chunks, j));
        unsigned char id[32];
        RepoEntry n;
        RepoPack q;

        if (hex == NULL || strlen(hex) != 64 || hex_decode(hex, id, 32) != 0 ||
            !repo_index_lookup(repo, id, &n, &q) || memcmp(q.id, p->id, sizeof(q.id)) != 0 ||
            n.offset != end || end + n.length - start > REPO_READ_AHEAD)
            break;
        end += n.length;
    }
    return end;
}

/* Reads, opens and checks one chunk from the place e and p name, through
 * the read-ahead range when it holds the chunk (ra may be NULL). */
static bool repo_read_one(Repo *repo, json_t *chunks, size_t i, const unsigned char id[32],
                          const RepoEntry *e, const RepoPack *p, ReadAhead *ra, Buf *plain,
                          Buf *tmp, unsigned char digest[CODEC_DIGEST_LEN], Error *err)
{
    unsigned char *blob = NULL;
    char pk[80], cs[20];
    RepoOwner *owner;
    bool ok;

    repo_chunk_str(id, cs);
    repo_pack_key(p->id, pk);
    owner = repo_owner_for_kid(repo, p->kid, err);
    if (owner == NULL)
        return error_prefix(err, "chunk \"%s\" in pack \"%s\"", cs, pk);
    if (ra != NULL && !(strcmp(ra->pk, pk) == 0 && e->offset >= ra->start &&
                        (uint64_t)e->offset + e->length <= ra->start + ra->len))
    {
        uint64_t end = repo_read_span(repo, chunks, i, e, p);

        free(ra->data);
        ra->data = NULL;
        ra->pk[0] = '\0';
        /* a range that fails (a truncated pack) is read again as this chunk
         * alone, so that the error names the first chunk really missing */
        ok = storage_get_range(repo->st, pk, e->offset, end - e->offset, &ra->data, err);
        if (!ok && end > (uint64_t)e->offset + e->length)
        {
            error_clear(err);
            end = (uint64_t)e->offset + e->length;
            ok = storage_get_range(repo->st, pk, e->offset, e->length, &ra->data, err);
        }
        if (!ok)
        {
            repo_read_range_error(repo, pk, cs, e, err);
            return false;
        }
        snprintf(ra->pk, sizeof(ra->pk), "%s", pk);
        ra->start = e->offset;
        ra->len = end - e->offset;
    }
    if (ra != NULL)
        blob = ra->data + (e->offset - ra->start);
    else if (!storage_get_range(repo->st, pk, e->offset, e->length, &blob, err))
    {
        repo_read_range_error(repo, pk, cs, e, err);
        return false;
    }
    ok = repo_blob_open(repo, owner, id, e->flags, e->raw_length, blob, e->length, plain, tmp,
                        digest, err);
    if (ra == NULL)
        free(blob);
    if (!ok)
    {
        error_prefix(err, "pack \"%s\": chunk \"%s\" at offset %" PRIu32, pk, cs, e->offset);
        error_hint(err, "run \"coffer check --read-data\" to list damaged objects");
    }
    return ok;
}

bool repo_read_chunks(Repo *repo, json_t *chunks, SinkFn fn, void *arg, char hash[65],
                      Error *err)
{
    Buf plain, tmp;
    size_t i;
    json_t *v;
    bool ok = true;
    CodecHash *content;
    ReadAhead ra = {"", 0, 0, NULL};

    if (!json_is_array(chunks))
        return error_set(err, ERR_FAILURE, "chunk list is not an array");
    content = codec_hash_new();
    buf_init(&plain);
    buf_init(&tmp);
    json_array_foreach (chunks, i, v)
    {
        unsigned char id[32];
        unsigned char digest[CODEC_DIGEST_LEN];
        char cs[20];
        RepoEntry e;
        RepoPack p;

        if (!json_is_string(v) || json_string_length(v) != 64 ||
            hex_decode(json_string_value(v), id, 32) != 0)
        {
            ok = error_set(err, ERR_FAILURE, "chunk list entry %zu is not a chunk id", i);
            break;
        }
        if (!repo_index_lookup(repo, id, &e, &p))
        {
            repo_chunk_str(id, cs);
            ok = error_set(err, ERR_FAILURE,
                           "chunk \"%s\" is not in the index of repository "
                           "\"%s\"",
                           cs, storage_location(repo->st));
            error_hint(err, "run \"coffer check\" to list damaged objects");
            break;
        }
        ok = repo_read_one(repo, chunks, i, id, &e, &p, &ra, &plain, &tmp, digest, err);
        /* a backup that found this pack lost stored the chunk again */
        if (!ok && repo_index_lookup_alt(repo, id, &e, &p))
        {
            Error e2;

            error_clear(&e2);
            ok = repo_read_one(repo, chunks, i, id, &e, &p, NULL, &plain, &tmp, digest, &e2);
            if (ok)
                error_clear(err);
        }
        if (!ok)
            break;
        codec_hash_update(content, digest, sizeof(digest));
        if (!fn(arg, plain.data, plain.len, err))
        {
            ok = false;
            break;
        }
    }
    if (plain.data != NULL)
        mem_wipe(plain.data, plain.cap);
    buf_free(&plain);
    buf_free(&tmp);
    free(ra.data);
    if (ok && hash != NULL)
        codec_hash_final(content, hash);
    else
        codec_hash_free(content);
    return ok;
}
