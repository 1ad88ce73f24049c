/*
 * index.c - which chunk lives where: index objects on storage and the
 * in-memory hash table built from them.
 *
 * Opening reads one listing of index/ and each index object once (one per
 * backup, consolidated by prune), never one object per tenant. Packs written
 * by this process join the table as soon as they are committed, so later
 * streams dedup against them, and are written out by repo_index_commit.
 * A chunk indexed twice keeps its first other copy aside, so that reads and
 * dedup can turn to it when the pack of the copy served is lost.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define REPO_RECORD_HEAD (32 + REPO_KID_LEN + 8 + 4)

static bool repo_index_pack_lost(const Repo *repo, const RepoEntry *e)
{
    return ((RepoPack *)repo_table_at(&repo->packs, e->pack))->lost;
}

bool repo_index_add_record(Repo *repo, const unsigned char *rec, size_t len, size_t *used,
                           bool pending, const char *what, Error *err)
{
    uint64_t size;
    uint32_t n, pidx;
    const unsigned char *e;
    char pk[80];

    if (len < REPO_RECORD_HEAD)
        return error_set(err, ERR_FAILURE, "%s is corrupt: pack record cut short", what);
    size = read_u64le(rec + 32 + REPO_KID_LEN);
    n = read_u32le(rec + 32 + REPO_KID_LEN + 8);
    repo_pack_key(rec, pk);
    if (n > (len - REPO_RECORD_HEAD) / REPO_ENTRY_LEN)
        return error_set(err, ERR_FAILURE,
                         "%s is corrupt: pack \"%s\" lists %" PRIu32
                         " chunks, more than the object holds",
                         what, pk, n);
    e = rec + REPO_RECORD_HEAD;
    /* validate the whole record before touching the tables */
    for (uint32_t i = 0; i < n; i++, e += REPO_ENTRY_LEN)
    {
        uint64_t off = read_u32le(e + 32);
        uint64_t l = read_u32le(e + 36);

        if (l < CODEC_SEAL_OVERHEAD || off + l > size)
            return error_set(err, ERR_FAILURE,
                             "%s is corrupt: chunk %" PRIu32 " of pack \"%s\" "
                             "lies outside the pack",
                             what, i, pk);
    }
    pidx = repo_table_find(&repo->packs, rec);
    if (pidx == REPO_NONE)
    {
        RepoPack p;

        memset(&p, 0, sizeof(p));
        memcpy(p.id, rec, 32);
        p.size = size;
        p.kid = repo_kid_intern(repo, rec + 32);
        pidx = repo_table_add(&repo->packs, &p);
    }
    e = rec + REPO_RECORD_HEAD;
    for (uint32_t i = 0; i < n; i++, e += REPO_ENTRY_LEN)
    {
        RepoEntry ent;

        uint32_t have = repo_table_find(&repo->entries, e);

        memcpy(ent.id, e, 32);
        ent.pack = pidx;
        ent.offset = read_u32le(e + 32);
        ent.length = read_u32le(e + 36);
        ent.raw_length = read_u32le(e + 40);
        ent.flags = e[44];
        ent.mark = 0;
        if (have != REPO_NONE)
        {
            /* the first other copy is kept: it serves reads and dedup when
             * the pack of the first one turns out to be lost */
            uint32_t alt = repo_table_find(&repo->alts, e);

            repo->index_dups++;
            if (alt == REPO_NONE)
                repo_table_add(&repo->alts, &ent);
            else if (repo_index_pack_lost(repo, ((RepoEntry *)repo_table_at(&repo->alts, alt))))
                *(RepoEntry *)repo_table_at(&repo->alts, alt) = ent;
            if (repo_index_pack_lost(repo, repo_table_at(&repo->entries, have)))
                repo_index_swap_alt(repo, have);
            continue;
        }
        repo_table_add(&repo->entries, &ent);
        ((RepoPack *)repo_table_at(&repo->packs, pidx))->entries++;
    }
    *used = REPO_RECORD_HEAD + (size_t)n * REPO_ENTRY_LEN;
    if (pending)
    {
        buf_append(&repo->pending, rec, *used);
        repo->pending_packs++;
    }
    return true;
}

/* Adds every pack record of an index object body. Caller holds mu. */
static bool repo_index_add_body(Repo *repo, const unsigned char *body, size_t len, const char *what,
                                Error *err)
{
    uint32_t npacks;
    size_t pos = 4;

    if (len < 4)
        return error_set(err, ERR_FAILURE, "%s is corrupt: empty", what);
    npacks = read_u32le(body);
    for (uint32_t i = 0; i < npacks; i++)
    {
        size_t used;

        if (!repo_index_add_record(repo, body + pos, len - pos, &used, false, what, err))
            return false;
        pos += used;
    }
    if (pos != len)
        return error_set(err, ERR_FAILURE, "%s is corrupt: %zu trailing bytes", what, len - pos);
    return true;
}

/* Reads and adds one index object. Caller holds mu. */
static bool repo_index_load_one(Repo *repo, const char *key, Error *err)
{
    Buf body;
    char what[128];
    bool ok;

    buf_init(&body);
    snprintf(what, sizeof(what), "index \"%s\"", key);
    ok = repo_object_get(repo, key, "CFRI", "index", &body, err) &&
         repo_index_add_body(repo, body.data, body.len, what, err);
    buf_free(&body);
    return ok;
}

static int repo_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool repo_index_has_name(const Repo *repo, const char *name)
{
    return repo->n_index_names > 0 && bsearch(&name, repo->index_names, repo->n_index_names,
                                              sizeof(char *), repo_name_cmp) != NULL;
}

static void repo_index_add_name(Repo *repo, const char *name)
{
    repo->index_names = xrealloc(repo->index_names, (repo->n_index_names + 1) * sizeof(char *));
    repo->index_names[repo->n_index_names++] = xstrdup(name);
    qsort(repo->index_names, repo->n_index_names, sizeof(char *), repo_name_cmp);
}

static bool repo_index_has_failed(const Repo *repo, const char *name)
{
    for (uint64_t i = 0; i < repo->index_errors; i++)
        if (strcmp(repo->index_failed[i], name) == 0)
            return true;
    return false;
}

static void repo_index_names_free(Repo *repo)
{
    for (size_t i = 0; i < repo->n_index_names; i++)
        free(repo->index_names[i]);
    free(repo->index_names);
    repo->index_names = NULL;
    repo->n_index_names = 0;
    for (uint64_t i = 0; i < repo->index_errors; i++)
    {
        free(repo->index_failed[i]);
        free(repo->index_failed_msg[i]);
    }
    free(repo->index_failed);
    free(repo->index_failed_msg);
    repo->index_failed = NULL;
    repo->index_failed_msg = NULL;
    repo->index_errors = 0;
}

/* Loads the index objects in list that are not loaded yet. Caller holds mu. */
static bool repo_index_load_new(Repo *repo, const StorageList *list, Error *err)
{
    for (size_t i = 0; i < list->count; i++)
    {
        const char *key = list->items[i].key;

        if (repo_index_has_name(repo, key) || repo_index_has_failed(repo, key))
            continue;
        if (!repo_index_load_one(repo, key, err))
        {
            if (!(repo->flags & REPO_OPEN_TOLERANT))
                return false;
            /* repo_check reports it */
            repo->index_failed =
                xrealloc(repo->index_failed, (repo->index_errors + 1) * sizeof(char *));
            repo->index_failed_msg =
                xrealloc(repo->index_failed_msg, (repo->index_errors + 1) * sizeof(char *));
            repo->index_failed[repo->index_errors] = xstrdup(key);
            repo->index_failed_msg[repo->index_errors] = xstrdup(err->message);
            repo->index_errors++;
            error_clear(err);
            continue;
        }
        repo_index_add_name(repo, key);
        /* packs another process indexed: not yet known to exist */
        repo->packs_verified = false;
    }
    return true;
}

/* Drops the tables (kids and their loaded owners stay). Caller holds mu. */
static void repo_index_clear(Repo *repo)
{
    repo_table_free(&repo->entries);
    repo_table_free(&repo->alts);
    repo_table_free(&repo->packs);
    repo_index_names_free(repo);
    repo->index_dups = 0;
    repo->packs_verified = false;
}

static bool repo_index_load_locked(Repo *repo, const StorageList *list, Error *err)
{
    Buf pending = repo->pending;
    uint32_t npending = repo->pending_packs;
    size_t pos = 0;
    bool ok;

    repo_index_clear(repo);
    buf_init(&repo->pending);
    repo->pending_packs = 0;
    ok = repo_index_load_new(repo, list, err);
    /* packs committed by this process but not yet in an index object stay
     * queued whatever happened to the load */
    for (uint32_t i = 0; i < npending; i++)
    {
        size_t used = 0;
        Error e2;

        error_clear(&e2);
        if (!repo_index_add_record(repo, pending.data + pos, pending.len - pos, &used, true,
                                   "pending index", &e2))
            break;
        pos += used;
    }
    buf_free(&pending);
    return ok;
}

bool repo_index_load(Repo *repo, Error *err)
{
    StorageList list;
    bool ok;

    if (!storage_list(repo->st, "index/", &list, err))
        return false;
    pthread_mutex_lock(&repo->mu);
    ok = repo_index_load_locked(repo, &list, err);
    pthread_mutex_unlock(&repo->mu);
    storage_list_free(&list);
    if (ok)
        log_debug("index of \"%s\": %" PRIu32 " chunks in %" PRIu32 " packs from %zu objects",
                  storage_location(repo->st), repo->entries.count, repo->packs.count,
                  repo->n_index_names);
    return ok;
}

bool repo_index_sync(Repo *repo, Error *err)
{
    StorageList list;
    bool ok = true;
    size_t seen = 0;

    if (!storage_list(repo->st, "index/", &list, err))
        return false;
    pthread_mutex_lock(&repo->mu);
    for (size_t i = 0; i < list.count; i++)
        if (repo_index_has_name(repo, list.items[i].key))
            seen++;
    /* an index object we loaded is gone: prune rewrote the index, start over */
    if (seen != repo->n_index_names)
        ok = repo_index_load_locked(repo, &list, err);
    else
        ok = repo_index_load_new(repo, &list, err);
    pthread_mutex_unlock(&repo->mu);
    storage_list_free(&list);
    return ok;
}

bool repo_index_commit(Repo *repo, Error *err)
{
    char key[80], id[65];
    uint32_t n;
    size_t plen;
    Buf body;
    bool ok;

    buf_init(&body);
    pthread_mutex_lock(&repo->mu);
    n = repo->pending_packs;
    plen = repo->pending.len;
    if (n > 0)
    {
        buf_append_u32le(&body, n);
        buf_append(&body, repo->pending.data, plen);
    }
    pthread_mutex_unlock(&repo->mu);
    if (n == 0)
        return true;
    repo_random_id(id);
    snprintf(key, sizeof(key), "index/%s", id);
    ok = repo_object_put(repo, key, "CFRI", body.data, body.len, false, err);
    buf_free(&body);
    if (!ok)
        return error_prefix(err, "could not write index");
    repo_crash_point("index-after-commit");
    pthread_mutex_lock(&repo->mu);
    /* writers may have queued more packs meanwhile: drop only what we wrote */
    memmove(repo->pending.data, repo->pending.data + plen, repo->pending.len - plen);
    repo->pending.len -= plen;
    repo->pending_packs -= n;
    repo_index_add_name(repo, key);
    pthread_mutex_unlock(&repo->mu);
    log_debug("wrote index \"%s\" (%" PRIu32 " packs)", key, n);
    return true;
}

bool repo_index_lookup(Repo *repo, const unsigned char id[32], RepoEntry *e, RepoPack *p)
{
    uint32_t i;

    pthread_mutex_lock(&repo->mu);
    i = repo_table_find(&repo->entries, id);
    if (i != REPO_NONE)
    {
        *e = *(RepoEntry *)repo_table_at(&repo->entries, i);
        if (p != NULL)
            *p = *(RepoPack *)repo_table_at(&repo->packs, e->pack);
    }
    pthread_mutex_unlock(&repo->mu);
    return i != REPO_NONE;
}

bool repo_index_lookup_alt(Repo *repo, const unsigned char id[32], RepoEntry *e, RepoPack *p)
{
    uint32_t i, m;
    bool found = false;

    pthread_mutex_lock(&repo->mu);
    i = repo_table_find(&repo->alts, id);
    m = repo_table_find(&repo->entries, id);
    if (i != REPO_NONE && m != REPO_NONE)
    {
        *e = *(RepoEntry *)repo_table_at(&repo->alts, i);
        found = e->pack != ((RepoEntry *)repo_table_at(&repo->entries, m))->pack;
        if (p != NULL)
            *p = *(RepoPack *)repo_table_at(&repo->packs, e->pack);
    }
    pthread_mutex_unlock(&repo->mu);
    return found;
}

void repo_index_swap_alt(Repo *repo, uint32_t i)
{
    RepoEntry *e = repo_table_at(&repo->entries, i);
    uint32_t a = repo_table_find(&repo->alts, e->id);
    RepoEntry *alt, tmp;

    if (a == REPO_NONE)
        return;
    alt = repo_table_at(&repo->alts, a);
    if (alt->pack == e->pack || repo_index_pack_lost(repo, alt))
        return;
    ((RepoPack *)repo_table_at(&repo->packs, e->pack))->entries--;
    ((RepoPack *)repo_table_at(&repo->packs, alt->pack))->entries++;
    tmp = *e;
    *e = *alt;
    e->mark = tmp.mark;
    *alt = tmp;
}

void repo_index_free(Repo *repo)
{
    repo_index_clear(repo);
    repo_table_free(&repo->kids);
    buf_free(&repo->pending);
}

static int repo_offset_cmp(const void *a, const void *b, void *arg)
{
    Repo *repo = arg;
    const RepoEntry *x = repo_table_at(&repo->entries, *(const uint32_t *)a);
    const RepoEntry *y = repo_table_at(&repo->entries, *(const uint32_t *)b);

    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

void repo_entries_by_pack(Repo *repo, uint32_t **first, uint32_t **order)
{
    uint32_t np = repo->packs.count, ne = repo->entries.count;
    uint32_t *f = xcalloc((size_t)np + 2, sizeof(uint32_t));
    uint32_t *o = xmalloc(((size_t)ne + 1) * sizeof(uint32_t));
    uint32_t *fill;

    /* counting sort by pack, then by offset inside each pack */
    for (uint32_t i = 0; i < ne; i++)
        f[((RepoEntry *)repo_table_at(&repo->entries, i))->pack + 1]++;
    for (uint32_t p = 0; p < np; p++)
        f[p + 1] += f[p];
    fill = xmalloc(((size_t)np + 1) * sizeof(uint32_t));
    memcpy(fill, f, ((size_t)np + 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < ne; i++)
        o[fill[((RepoEntry *)repo_table_at(&repo->entries, i))->pack]++] = i;
    free(fill);
    for (uint32_t p = 0; p < np; p++)
        qsort_r(o + f[p], f[p + 1] - f[p], sizeof(uint32_t), repo_offset_cmp, repo);
    *first = f;
    *order = o;
}
