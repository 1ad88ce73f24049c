/*
 * repair.c - living with packs that were lost: the index names a pack that
 * is missing, or whose size is not the one indexed (truncated, replaced).
 *
 * One listing of data/ tells which packs are lost. A backup then stores
 * their chunks again instead of deduplicating against them, reads turn to a
 * copy in a sound pack where there is one, and "coffer repair index" writes
 * the index again without them (crash-safe like prune: the new index object
 * first, then removal of the old ones).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

typedef struct RepairListed
{
    unsigned char id[32];
    uint64_t size;
} RepairListed;

bool repo_packs_scan(Repo *repo, uint64_t *lost, RepoPackProblem **problems, Error *err)
{
    RepoTable listed;
    StorageList list;
    RepoPackProblem *pr;
    uint64_t n = 0;

    *lost = 0;
    if (problems != NULL)
        *problems = NULL;
    if (!storage_list(repo->st, "data/", &list, err))
        return error_prefix(err, "could not list the packs of repository \"%s\"",
                            storage_location(repo->st));
    repo_table_init(&listed, sizeof(RepairListed), 32);
    for (size_t i = 0; i < list.count; i++)
    {
        RepairListed rl;

        if (!repo_pack_key_parse(list.items[i].key, rl.id))
            continue;
        rl.size = list.items[i].size;
        if (repo_table_find(&listed, rl.id) == REPO_NONE)
            repo_table_add(&listed, &rl);
    }
    storage_list_free(&list);

    pthread_mutex_lock(&repo->mu);
    pr = xcalloc((size_t)repo->packs.count + 1, sizeof(*pr));
    for (uint32_t p = 0; p < repo->packs.count; p++)
    {
        RepoPack *rp = repo_table_at(&repo->packs, p);
        uint32_t li = repo_table_find(&listed, rp->id);
        uint64_t found = li == REPO_NONE ? 0 : ((RepairListed *)repo_table_at(&listed, li))->size;

        rp->lost = li == REPO_NONE || found != rp->size;
        if (rp->lost)
            pr[n++] = (RepoPackProblem){p, li == REPO_NONE, found, rp->entries};
    }
    /* chunks of lost packs that a sound pack holds too are served from there */
    for (uint32_t i = 0; n > 0 && i < repo->entries.count; i++)
    {
        RepoEntry *e = repo_table_at(&repo->entries, i);

        if (((RepoPack *)repo_table_at(&repo->packs, e->pack))->lost)
            repo_index_swap_alt(repo, i);
    }
    repo->packs_verified = true;
    pthread_mutex_unlock(&repo->mu);
    repo_table_free(&listed);
    *lost = n;
    if (problems != NULL)
        *problems = pr;
    else
        free(pr);
    return true;
}

bool repo_packs_verify(Repo *repo, uint64_t *lost, Error *err)
{
    return repo_packs_scan(repo, lost, NULL, err);
}

bool repo_packs_verify_once(Repo *repo, Error *err)
{
    uint64_t lost = 0;
    bool done, ok = true;

    pthread_mutex_lock(&repo->verify_mu);
    pthread_mutex_lock(&repo->mu);
    /* an empty index needs no listing: nothing can serve dedup */
    done = repo->packs_verified || repo->packs.count == 0;
    pthread_mutex_unlock(&repo->mu);
    if (!done)
        ok = repo_packs_scan(repo, &lost, NULL, err);
    pthread_mutex_unlock(&repo->verify_mu);
    if (ok && lost > 0)
        log_warning("%" PRIu64 " pack%s named by the index %s missing or truncated; %s chunks "
                    "are stored again; run \"coffer repair index\"",
                    lost, lost == 1 ? "" : "s", lost == 1 ? "is" : "are",
                    lost == 1 ? "its" : "their");
    return ok;
}

typedef struct RepairCount
{
    Repo *repo;
    uint64_t lost;
} RepairCount;

static bool repair_count_visit(void *arg, const char *hex, Error *err)
{
    RepairCount *c = arg;
    unsigned char id[32];
    RepoEntry e;
    RepoPack p;

    (void)err;
    if (strlen(hex) != 64 || hex_decode(hex, id, 32) != 0 ||
        !repo_index_lookup(c->repo, id, &e, &p) || p.lost)
        c->lost++;
    return true;
}

uint64_t repo_chunks_lost(Repo *repo, json_t *doc)
{
    RepairCount c = {repo, 0};
    Error err;

    error_clear(&err);
    repo_snapshot_walk(doc, repair_count_visit, &c, &err);
    return c.lost;
}

/* Appends the index record of a sound pack: the entries it serves. */
static void repair_pack_record(Repo *repo, uint32_t p, const uint32_t *first, const uint32_t *order,
                               Buf *out)
{
    RepoPack *rp = repo_table_at(&repo->packs, p);

    buf_append(out, rp->id, 32);
    buf_append(out, ((RepoKid *)repo_table_at(&repo->kids, rp->kid))->kid, REPO_KID_LEN);
    buf_append_u64le(out, rp->size);
    buf_append_u32le(out, first[p + 1] - first[p]);
    for (uint32_t k = first[p]; k < first[p + 1]; k++)
    {
        RepoEntry *e = repo_table_at(&repo->entries, order[k]);

        repo_entry_put(out, e->id, e->offset, e->length, e->raw_length, e->flags);
    }
}

/* Writes the index again without the lost packs, then removes the old
 * index objects. The caller owns the repository (exclusive lock). */
static bool repair_rewrite(Repo *repo, RepoRepairReport *r, Error *err)
{
    uint32_t *first, *order;
    uint32_t npacks = 0;
    char key[80] = "";
    Buf body;
    bool ok = true;

    buf_init(&body);
    buf_append_u32le(&body, 0); /* pack count, filled in below */
    repo_entries_by_pack(repo, &first, &order);
    for (uint32_t p = 0; p < repo->packs.count; p++)
    {
        if (((RepoPack *)repo_table_at(&repo->packs, p))->lost)
            continue;
        repair_pack_record(repo, p, first, order, &body);
        npacks++;
    }
    free(first);
    free(order);
    write_u32le(body.data, npacks);
    if (npacks > 0)
    {
        char id[65];

        repo_random_id(id);
        snprintf(key, sizeof(key), "index/%s", id);
        ok = repo_object_put(repo, key, "CFRI", body.data, body.len, false, err);
        if (!ok)
            error_prefix(err, "could not write index");
    }
    buf_free(&body);
    repo_crash_point("repair-after-index");
    for (size_t i = 0; ok && i < repo->n_index_names; i++)
    {
        ok = storage_remove(repo->st, repo->index_names[i], err);
        if (ok)
            r->index_removed++;
    }
    if (ok && key[0] != '\0')
        log_debug("wrote index \"%s\" (%" PRIu32 " packs)", key, npacks);
    return ok;
}

bool repo_repair_index(Repo *repo, RepoRepairReport *r, Error *err)
{
    RepoPackProblem *pr = NULL;
    uint64_t n = 0;
    bool ok;

    memset(r, 0, sizeof(*r));
    if (repo->pending_packs > 0)
        return error_set(err, ERR_FAILURE,
                         "cannot repair the index while this process has "
                         "packs not yet in an index object");
    if (!repo_packs_scan(repo, &n, &pr, err))
        return false;
    r->packs = xcalloc(n + 1, sizeof(RepoLostPack));
    for (uint64_t i = 0; i < n; i++)
    {
        RepoPack *rp = repo_table_at(&repo->packs, pr[i].pack);
        RepoLostPack *lp = &r->packs[r->n_packs++];

        repo_pack_key(rp->id, lp->key);
        lp->missing = pr[i].missing;
        lp->size = rp->size;
        lp->found = pr[i].found;
        lp->chunks = pr[i].entries;
        lp->moved = pr[i].entries - rp->entries;
        r->chunks_lost += rp->entries;
    }
    free(pr);
    if (n == 0)
        return true;
    ok = repair_rewrite(repo, r, err) && repo_index_load(repo, err);
    if (ok)
        log_debug("repaired the index of \"%s\": %" PRIu64 " lost packs dropped, %" PRIu64
                  " chunks with them",
                  storage_location(repo->st), n, r->chunks_lost);
    return ok;
}

void repo_repair_report_free(RepoRepairReport *r)
{
    free(r->packs);
    r->packs = NULL;
    r->n_packs = 0;
}
