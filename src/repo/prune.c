/*
 * prune.c - giving space back: packs no snapshot needs are deleted, packs
 * that are mostly dead are repacked, and the index is rewritten as one
 * object without the dead entries.
 *
 * The order makes a kill at any point harmless: new packs, then the new
 * index, then removal of the old index objects, then removal of old packs.
 * Until the new index exists nothing old is touched; once it exists every
 * live chunk is reachable through it; packs go only when no index object
 * that could name them is left.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

enum
{
    PRUNE_KEEP = 0,
    PRUNE_DELETE,
    PRUNE_REPACK,
};

typedef struct PruneListed
{
    unsigned char id[32];
    uint64_t size;
    bool indexed;
} PruneListed;

typedef struct PruneMark
{
    Repo *repo;
    uint64_t missing;
    char first_missing[20];
} PruneMark;

static bool prune_visit(void *arg, const char *hex, Error *err)
{
    PruneMark *pm = arg;
    unsigned char id[32];
    uint32_t i;

    if (strlen(hex) != 64 || hex_decode(hex, id, 32) != 0)
        return error_set(err, ERR_FAILURE, "malformed chunk id \"%s\"", hex);
    i = repo_table_find(&pm->repo->entries, id);
    if (i == REPO_NONE)
    {
        if (pm->missing++ == 0)
            repo_chunk_str(id, pm->first_missing);
        return true;
    }
    ((RepoEntry *)repo_table_at(&pm->repo->entries, i))->mark = 1;
    return true;
}

/* Marks every chunk a snapshot references; fails when any snapshot is
 * unreadable or references a chunk the index lacks. */
static bool prune_mark(Repo *repo, uint64_t *nsnap, Error *err)
{
    json_t *snaps = repo_snapshot_list(repo, err);
    json_t *doc;
    size_t i;

    if (snaps == NULL)
    {
        error_hint(err, "prune deletes nothing while a snapshot cannot be read; run \"coffer "
                        "check\"");
        return false;
    }
    for (uint32_t e = 0; e < repo->entries.count; e++)
        ((RepoEntry *)repo_table_at(&repo->entries, e))->mark = 0;
    *nsnap = json_array_size(snaps);
    json_array_foreach (snaps, i, doc)
    {
        PruneMark pm = {repo, 0, ""};

        if (!repo_snapshot_walk_all(repo, doc, prune_visit, &pm, NULL, err) || pm.missing > 0)
        {
            const char *id = json_string_value(json_object_get(doc, "id"));

            if (pm.missing > 0)
                error_set(err, ERR_FAILURE,
                          "snapshot \"%s\" references %" PRIu64 " chunk%s "
                          "missing from the index (the first is \"%s\")",
                          id, pm.missing, pm.missing == 1 ? "" : "s", pm.first_missing);
            else
                error_prefix(err, "snapshot \"%s\"", id);
            error_hint(err, "prune deletes nothing while snapshots are damaged; run \"coffer "
                            "check\"");
            json_decref(snaps);
            return false;
        }
    }
    json_decref(snaps);
    return true;
}

/* Appends the index record of a kept pack: its live entries only. */
static void prune_keep_record(Repo *repo, uint32_t p, const uint32_t *first, const uint32_t *order,
                              Buf *out, uint32_t *npacks)
{
    RepoPack *rp = repo_table_at(&repo->packs, p);
    uint32_t n = 0;

    for (uint32_t k = first[p]; k < first[p + 1]; k++)
        n += ((RepoEntry *)repo_table_at(&repo->entries, order[k]))->mark;
    buf_append(out, rp->id, 32);
    buf_append(out, ((RepoKid *)repo_table_at(&repo->kids, rp->kid))->kid, REPO_KID_LEN);
    buf_append_u64le(out, rp->size);
    buf_append_u32le(out, n);
    for (uint32_t k = first[p]; k < first[p + 1]; k++)
    {
        RepoEntry *e = repo_table_at(&repo->entries, order[k]);

        if (e->mark)
            repo_entry_put(out, e->id, e->offset, e->length, e->raw_length, e->flags);
    }
    (*npacks)++;
}

/* Copies the live blobs of the packs marked REPACK into new packs, one
 * owner at a time, appending the new packs' records to out. */
static bool prune_repack(Repo *repo, const uint8_t *action, const uint32_t *first,
                         const uint32_t *order, Buf *out, uint32_t *npacks, uint64_t *new_bytes,
                         Error *err)
{
    bool *done = xcalloc((size_t)repo->packs.count + 1, sizeof(bool));
    bool ok = true;

    for (uint32_t p = 0; ok && p < repo->packs.count; p++)
    {
        uint32_t kid = ((RepoPack *)repo_table_at(&repo->packs, p))->kid;
        PackWriter *pw = NULL;

        if (action[p] != PRUNE_REPACK || done[p])
            continue;
        for (uint32_t q = p; ok && q < repo->packs.count; q++)
        {
            RepoPack *rq = repo_table_at(&repo->packs, q);
            char key[80];

            if (action[q] != PRUNE_REPACK || done[q] || rq->kid != kid)
                continue;
            done[q] = true;
            repo_pack_key(rq->id, key);
            for (uint32_t k = first[q]; ok && k < first[q + 1]; k++)
            {
                RepoEntry *e = repo_table_at(&repo->entries, order[k]);
                unsigned char *blob = NULL;

                if (!e->mark)
                    continue;
                if (pw == NULL)
                {
                    pw = pack_writer_new(repo, ((RepoKid *)repo_table_at(&repo->kids, kid))->kid,
                                         err);
                    if (pw == NULL)
                    {
                        ok = false;
                        break;
                    }
                }
                /* sealed blobs move as they are: no owner key needed */
                ok = storage_get_range(repo->st, key, e->offset, e->length, &blob, err) &&
                     pack_writer_add(pw, e->id, e->flags, e->raw_length, blob, e->length, err);
                free(blob);
                if (ok && pw->size >= repo->pack_size)
                {
                    size_t before = out->len;

                    ok = pack_writer_finish(pw, out, err);
                    if (ok)
                    {
                        *new_bytes += read_u64le(out->data + before + 32 + REPO_KID_LEN);
                        (*npacks)++;
                    }
                    pack_writer_free(pw);
                    pw = NULL;
                }
            }
        }
        if (ok && pw != NULL)
        {
            size_t before = out->len;

            ok = pack_writer_finish(pw, out, err);
            if (ok)
            {
                *new_bytes += read_u64le(out->data + before + 32 + REPO_KID_LEN);
                (*npacks)++;
            }
        }
        pack_writer_free(pw);
    }
    free(done);
    return ok;
}

/* The prune itself, with the exclusive lock held and a fresh index. */
/* One pass of prune. Without repack, packs worth repacking are kept and
 * *more says a second pass (with repack) is wanted: deleting first frees
 * the space repacking needs, which matters on a full disk. */
static bool prune_locked(Repo *repo, RepoPruneStats *stats, bool repack, bool *more, Error *err)
{
    RepoTable listed;
    StorageList list;
    uint32_t *first = NULL, *order = NULL;
    uint64_t *live_bytes = NULL;
    uint8_t *action = NULL;
    Buf body;
    uint32_t npacks = 0;
    uint64_t nsnap = 0, dead_entries = 0, new_bytes = 0, freed = 0;
    bool rewrite, ok = false;
    char newkey[80] = "";
    uint32_t np;

    buf_init(&body);
    repo_table_init(&listed, sizeof(PruneListed), 32);
    if (repo->pending_packs > 0)
        return error_set(err, ERR_FAILURE,
                         "cannot prune while this process has packs not yet "
                         "in an index object");
    if (!prune_mark(repo, &nsnap, err))
        goto done;
    if (!storage_list(repo->st, "data/", &list, err))
        goto done;
    for (size_t i = 0; i < list.count; i++)
    {
        PruneListed pl;

        if (!repo_pack_key_parse(list.items[i].key, pl.id))
            continue;
        pl.size = list.items[i].size;
        pl.indexed = false;
        if (repo_table_find(&listed, pl.id) == REPO_NONE)
            repo_table_add(&listed, &pl);
    }
    storage_list_free(&list);

    np = repo->packs.count;
    live_bytes = xcalloc((size_t)np + 1, sizeof(uint64_t));
    action = xcalloc((size_t)np + 1, 1);
    repo_entries_by_pack(repo, &first, &order);
    for (uint32_t i = 0; i < repo->entries.count; i++)
    {
        RepoEntry *e = repo_table_at(&repo->entries, i);

        if (e->mark)
            live_bytes[e->pack] += e->length;
        else
            dead_entries++;
    }
    for (uint32_t p = 0; p < np; p++)
    {
        RepoPack *rp = repo_table_at(&repo->packs, p);
        uint32_t li = repo_table_find(&listed, rp->id);
        PruneListed *pl = li == REPO_NONE ? NULL : repo_table_at(&listed, li);
        char key[80];

        repo_pack_key(rp->id, key);
        if (pl != NULL)
            pl->indexed = true;
        if (live_bytes[p] == 0)
        {
            action[p] = PRUNE_DELETE;
            continue;
        }
        if (pl == NULL || pl->size != rp->size)
        {
            error_set(err, ERR_FAILURE, "pack \"%s\" holds chunks that snapshots use, but it is %s",
                      key, pl == NULL ? "missing" : "damaged (wrong size)");
            error_hint(err, "prune deletes nothing while the repository is damaged; run "
                            "\"coffer check\"");
            goto done;
        }
        if (live_bytes[p] * 2 < rp->size)
        {
            action[p] = repack ? PRUNE_REPACK : PRUNE_KEEP;
            *more = *more || !repack;
        }
    }
    /* a second pass rewrites the index anyway: this one only when it deletes */
    rewrite = !*more && (dead_entries > 0 || repo->n_index_names > 1 || repo->index_dups > 0);
    for (uint32_t i = 0; i < listed.count; i++)
        rewrite = rewrite || !((PruneListed *)repo_table_at(&listed, i))->indexed;
    for (uint32_t p = 0; p < np; p++)
        rewrite = rewrite || action[p] != PRUNE_KEEP;
    if (!rewrite)
    {
        if (!*more)
            log_info("nothing to prune: %" PRIu64 " snapshots, %" PRIu32 " packs, all in use",
                     nsnap, np);
        ok = true;
        goto done;
    }

    /* 1. new packs */
    buf_append_u32le(&body, 0); /* pack count, filled in below */
    if (!prune_repack(repo, action, first, order, &body, &npacks, &new_bytes, err))
    {
        error_prefix(err, "could not repack");
        goto done;
    }
    repo_crash_point("prune-after-packs");
    /* 2. the new index */
    for (uint32_t p = 0; p < np; p++)
        if (action[p] == PRUNE_KEEP)
            prune_keep_record(repo, p, first, order, &body, &npacks);
    write_u32le(body.data, npacks);
    if (npacks > 0)
    {
        char id[65];

        repo_random_id(id);
        snprintf(newkey, sizeof(newkey), "index/%s", id);
        if (!repo_object_put(repo, newkey, "CFRI", body.data, body.len, false, err))
        {
            error_prefix(err, "could not write index");
            goto done;
        }
    }
    repo_crash_point("prune-after-index");
    /* 3. the old index objects */
    for (size_t i = 0; i < repo->n_index_names; i++)
    {
        if (!storage_remove(repo->st, repo->index_names[i], err))
            goto done;
        stats->index_rewritten++;
        repo_crash_point("prune-index-delete");
    }
    /* 4. the old packs: dead, repacked, and those no index mentioned */
    for (uint32_t p = 0; p < np; p++)
    {
        RepoPack *rp = repo_table_at(&repo->packs, p);
        uint32_t li = repo_table_find(&listed, rp->id);
        char key[80];

        if (action[p] == PRUNE_KEEP)
            continue;
        repo_pack_key(rp->id, key);
        if (li != REPO_NONE && !storage_remove(repo->st, key, err))
            goto done;
        if (li != REPO_NONE)
            freed += ((PruneListed *)repo_table_at(&listed, li))->size;
        if (action[p] == PRUNE_REPACK)
            stats->packs_repacked++;
        else if (li != REPO_NONE)
            stats->packs_deleted++;
        repo_crash_point("prune-pack-delete");
    }
    for (uint32_t i = 0; i < listed.count; i++)
    {
        PruneListed *pl = repo_table_at(&listed, i);
        char key[80];

        if (pl->indexed)
            continue;
        repo_pack_key(pl->id, key);
        if (!storage_remove(repo->st, key, err))
            goto done;
        freed += pl->size;
        stats->packs_deleted++;
        repo_crash_point("prune-pack-delete");
    }
    stats->bytes_freed += freed > new_bytes ? freed - new_bytes : 0;
    log_debug("pruned repository \"%s\": %" PRIu64 " packs deleted, %" PRIu64 " repacked, %" PRIu64
             " bytes freed",
             storage_location(repo->st), stats->packs_deleted, stats->packs_repacked,
             stats->bytes_freed);
    ok = true;
done:
    repo_table_free(&listed);
    free(first);
    free(order);
    free(live_bytes);
    free(action);
    buf_free(&body);
    return ok;
}

/*
 * Removes the temp files of writes that a crash or kill -9 cut short. Under
 * the exclusive lock no other process writes data, index, snapshot or key
 * objects, so every temp file there is a leftover. A process that is taking
 * a lock right now writes one under locks/, so those go only once they are
 * older than any lock write could take.
 */
#define PRUNE_LOCK_TEMP_AGE 600

static bool prune_sweep(Repo *repo, RepoPruneStats *stats, Error *err)
{
    static const char *const prefixes[] = {"data/", "index/", "snapshots/", "parts/", "journal/", "keys/",
                                           "state/", "notes/", "config"};
    uint64_t n;

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
    {
        if (!storage_sweep(repo->st, prefixes[i], 0, &n, err))
            return false;
        stats->temp_removed += n;
    }
    if (!storage_sweep(repo->st, "locks/", PRUNE_LOCK_TEMP_AGE, &n, err))
        return false;
    stats->temp_removed += n;
    if (stats->temp_removed > 0)
        log_debug("removed %" PRIu64 " temp files left by interrupted writes", stats->temp_removed);
    /* parts no snapshot lists: an interrupted backup's, or a forgotten snapshot's */
    if (!repo_parts_sweep(repo, &n, err))
        return false;
    stats->parts_removed = n;
    return true;
}

bool repo_prune(Repo *repo, RepoPruneStats *stats, Error *err)
{
    RepoPruneStats local;
    RepoLock *lock;
    unsigned saved = repo->flags;
    bool ok, more = false;

    if (stats == NULL)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    lock = repo_lock(repo, REPO_LOCK_EXCLUSIVE, "prune", err);
    if (lock == NULL)
        return false;
    /* decide on a fresh, complete index: a damaged index object must stop
     * prune, or its packs would look unreferenced */
    repo->flags &= ~(unsigned)REPO_OPEN_TOLERANT;
    ok = repo_index_load(repo, err) && prune_locked(repo, stats, false, &more, err);
    if (ok && more)
    {
        more = false;
        ok = repo_index_load(repo, err) && prune_locked(repo, stats, true, &more, err);
    }
    ok = ok && prune_sweep(repo, stats, err);
    if (ok)
        ok = repo_index_load(repo, err);
    repo->flags = saved;
    repo_unlock(lock);
    return ok;
}
