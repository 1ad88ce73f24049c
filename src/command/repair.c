/*
 * repair.c - "coffer repair index" and "coffer repair snapshots": after a
 * pack went missing or was truncated, drop it from the index, then drop
 * from each snapshot the tenants whose data went with it, so that check is
 * clean and prune runs again. Both work under the exclusive lock; the work
 * itself is in repo/repair.c and manifest/repair.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "command/command.h"
#include "config/config.h"
#include "manifest/manifest.h"
#include "repo/repo.h"

enum
{
    REPAIR_OPT_FORCE = CMD_OPT_FIRST_COMMAND,
};

typedef struct RepairArgs
{
    bool force;
} RepairArgs;

static bool repair_option(int opt, const char *arg, void *state, Error *err)
{
    RepairArgs *a = state;

    (void)err, (void)arg;
    switch (opt)
    {
    case REPAIR_OPT_FORCE:
        a->force = true;
        return true;
    default:
        return false;
    }
}

/* Parses the options of "repair WHAT", opens the repository and takes the
 * exclusive lock. */
static Repo *repair_open(CmdContext *ctx, const char *name, bool with_force, int argc, char **argv,
                         RepairArgs *a, RepoLock **lock, Error *err)
{
    static const struct option index_opts[] = {
        CMD_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    static const struct option snapshot_opts[] = {
        {"force", no_argument, NULL, REPAIR_OPT_FORCE},
        CMD_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    Config *cfg = NULL;
    bool exit_now;
    Repo *repo;
    int first;

    first = cmd_parse(ctx, name, argc, argv, "", with_force ? snapshot_opts : index_opts,
                      repair_option, a, &exit_now, err);
    if (first < 0)
        return NULL;
    if (first < argc)
    {
        error_set(err, ERR_USAGE, "%s: unexpected argument \"%s\"", name, argv[first]);
        return NULL;
    }
    if (!cmd_repo_config(ctx, &cfg, err))
        return NULL;
    repo = cmd_repo_open(ctx, cfg, 0, err);
    if (repo == NULL)
        return NULL;
    *lock = repo_lock(repo, REPO_LOCK_EXCLUSIVE, name, err);
    if (*lock == NULL)
    {
        repo_close(repo);
        return NULL;
    }
    return repo;
}

static void repair_print_json(json_t *o)
{
    char *text = json_dumps(o, JSON_INDENT(2));

    printf("%s\n", text);
    free(text);
    json_decref(o);
}

static const char *repair_pack_problem(const RepoLostPack *p)
{
    if (p->missing)
        return "missing";
    return p->found < p->size ? "truncated" : "wrong size";
}

static void repair_index_print(const char *loc, const RepoRepairReport *r, bool json)
{
    if (json)
    {
        json_t *packs = json_array();

        for (size_t i = 0; i < r->n_packs; i++)
        {
            const RepoLostPack *p = &r->packs[i];

            json_array_append_new(
                packs, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "pack", p->key, "problem",
                                 repair_pack_problem(p), "size", (json_int_t)p->size, "found",
                                 (json_int_t)p->found, "chunks", (json_int_t)p->chunks, "kept",
                                 (json_int_t)p->moved));
        }
        repair_print_json(json_pack("{s:s, s:I, s:I, s:I, s:o}", "repository", loc, "packs_dropped",
                                    (json_int_t)r->n_packs, "chunks_lost",
                                    (json_int_t)r->chunks_lost, "index_objects_replaced",
                                    (json_int_t)r->index_removed, "packs", packs));
        return;
    }
    if (r->n_packs == 0)
    {
        printf("nothing to repair: every pack the index of \"%s\" names exists with its size\n",
               loc);
        return;
    }
    for (size_t i = 0; i < r->n_packs; i++)
    {
        const RepoLostPack *p = &r->packs[i];

        printf("dropped pack \"%s\" from the index: %s", p->key, repair_pack_problem(p));
        if (!p->missing)
            printf(" (%" PRIu64 " bytes, the index says %" PRIu64 ")", p->found, p->size);
        printf("; %" PRIu64 " chunk%s lost with it", p->chunks - p->moved,
               p->chunks - p->moved == 1 ? "" : "s");
        if (p->moved > 0)
            printf(", %" PRIu64 " still held by other packs", p->moved);
        putchar('\n');
    }
    printf("repaired the index of \"%s\": %zu pack%s dropped, %" PRIu64 " chunk%s lost\n", loc,
           r->n_packs, r->n_packs == 1 ? "" : "s", r->chunks_lost, r->chunks_lost == 1 ? "" : "s");
    if (r->chunks_lost > 0)
        printf("run \"coffer repair snapshots\" to drop the tenants that used them from their "
               "snapshots\n");
}

bool cmd_repair_index(CmdContext *ctx, int argc, char **argv, Error *err)
{
    RepairArgs a = {false};
    RepoRepairReport r = {0};
    RepoLock *lock = NULL;
    Repo *repo = repair_open(ctx, "repair index", false, argc, argv, &a, &lock, err);
    bool ok;

    if (repo == NULL)
        return false;
    ok = repo_repair_index(repo, &r, err);
    if (ok)
        repair_index_print(repo_location(repo), &r, ctx->json);
    repo_repair_report_free(&r);
    repo_unlock(lock);
    repo_close(repo);
    return ok;
}

static const char *repair_action(ManifestLostAction a)
{
    switch (a)
    {
    case MANIFEST_LOST_DROPPED:
        return "dropped";
    case MANIFEST_LOST_FORGOTTEN:
        return "forgotten";
    default:
        return "left";
    }
}

static void repair_snapshots_print(const char *loc, const ManifestRepairReport *r, bool json)
{
    if (json)
    {
        json_t *lost = json_array();

        for (size_t i = 0; i < r->n_lost; i++)
        {
            const ManifestLost *l = &r->lost[i];

            json_array_append_new(
                lost, json_pack("{s:s, s:s, s:s?, s:b, s:I, s:s}", "snapshot", l->snapshot, "time",
                                l->time, "tenant", l->tenant, "shared", l->tenant == NULL, "chunks",
                                (json_int_t)l->chunks, "action", repair_action(l->action)));
        }
        repair_print_json(json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "repository", loc,
                                    "snapshots", (json_int_t)r->snapshots, "rewritten",
                                    (json_int_t)r->rewritten, "forgotten", (json_int_t)r->forgotten,
                                    "left", (json_int_t)r->left, "lost", lost));
        return;
    }
    for (size_t i = 0; i < r->n_lost; i++)
    {
        const ManifestLost *l = &r->lost[i];

        printf("snapshot %.12s (%.19s): ", l->snapshot, l->time);
        if (l->tenant != NULL)
            printf("tenant \"%s\"", l->tenant);
        else
            printf("the shared part");
        printf(" lost %" PRIu64 " chunk%s: ", l->chunks, l->chunks == 1 ? "" : "s");
        if (l->action == MANIFEST_LOST_DROPPED)
            printf("dropped from the snapshot\n");
        else if (l->action == MANIFEST_LOST_FORGOTTEN)
            printf("the snapshot was forgotten\n");
        else if (l->tenant == NULL)
            printf("the snapshot cannot be repaired tenant by tenant; left as it is\n");
        else
            printf("left as it is with its snapshot\n");
    }
    if (r->n_lost == 0)
        printf("nothing to repair: no snapshot of \"%s\" uses lost chunks (%" PRIu64
               " snapshots read)\n",
               loc, r->snapshots);
    else
        printf("%" PRIu64 " snapshot%s rewritten without the tenants that lost data, %" PRIu64
               " forgotten, %" PRIu64 " left as they are\n",
               r->rewritten, r->rewritten == 1 ? "" : "s", r->forgotten, r->left);
}

bool cmd_repair_snapshots(CmdContext *ctx, int argc, char **argv, Error *err)
{
    RepairArgs a = {false};
    ManifestRepairReport r;
    RepoLock *lock = NULL;
    Repo *repo = repair_open(ctx, "repair snapshots", true, argc, argv, &a, &lock, err);
    bool ok;

    if (repo == NULL)
        return false;
    ok = manifest_repair_lost(repo, a.force, &r, err);
    if (ok)
        repair_snapshots_print(repo_location(repo), &r, ctx->json);
    if (ok && r.left > 0)
    {
        /* partial: the rest was repaired */
        error_set(err, ERR_PARTIAL,
                  "%" PRIu64 " snapshot%s lost data of the shared part and %s left as %s; "
                  "\"coffer repair snapshots --force\" forgets %s",
                  r.left, r.left == 1 ? "" : "s", r.left == 1 ? "was" : "were",
                  r.left == 1 ? "it was" : "they were", r.left == 1 ? "it" : "them");
        ok = false;
    }
    manifest_repair_report_free(&r);
    repo_unlock(lock);
    repo_close(repo);
    return ok;
}
