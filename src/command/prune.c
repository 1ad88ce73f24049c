/*
 * prune.c - "coffer forget" and "coffer prune": drop snapshots, then free
 * the space no snapshot uses any more.
 *
 * Retention per tenant class is coffer expire's; these are the manual tools
 * the other commands' hints point at, and coffer run's prune once a day.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "command/command.h"
#include "common/clock.h"
#include "common/fmt.h"
#include "config/config.h"
#include "repo/repo.h"
#include "retention/retention.h"

static bool prune_option(int opt, const char *arg, void *state, Error *err)
{
    (void)opt, (void)arg, (void)state, (void)err;
    return false;
}

static const struct option prune_longopts[] = {
    CMD_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

/* Parses the options and opens the repository; with lock != NULL also
 * takes a shared lock (repo_prune takes its own exclusive one). */
static Repo *prune_open(CmdContext *ctx, const char *name, int argc, char **argv, RepoLock **lock,
                        int *first, Error *err)
{
    Config *cfg = NULL;
    bool exit_now;
    Repo *repo;

    *first = cmd_parse(ctx, name, argc, argv, "", prune_longopts, prune_option, NULL,
                       &exit_now, err);
    if (*first < 0 || !cmd_repo_config(ctx, &cfg, err))
        return NULL;
    repo = cmd_repo_open(ctx, cfg, 0, err);
    if (repo == NULL)
        return NULL;
    if (lock == NULL)
        return repo;
    *lock = repo_lock(repo, REPO_LOCK_FREEING, name, err);
    if (*lock == NULL)
    {
        repo_close(repo);
        return NULL;
    }
    return repo;
}

bool cmd_forget(CmdContext *ctx, int argc, char **argv, Error *err)
{
    RepoLock *lock = NULL;
    int first;
    Repo *repo = prune_open(ctx, "forget", argc, argv, &lock, &first, err);
    json_t *forgotten;
    bool ok = true;

    if (repo == NULL)
        return false;
    if (first >= argc)
    {
        error_set(err, ERR_USAGE, "forget: name the snapshots to forget");
        error_hint(err, "run \"coffer list\" to see their ids");
        repo_unlock(lock);
        repo_close(repo);
        return false;
    }
    forgotten = json_array();
    for (int i = first; ok && i < argc; i++)
    {
        /* resolve prefixes and "latest" to one id before removing; an id is
         * resolved without reading the snapshot, so a damaged one can go */
        char id[65];

        ok = repo_snapshot_resolve(repo, argv[i], id, err) && repo_snapshot_forget(repo, id, err);
        if (ok)
            json_array_append_new(forgotten, json_string(id));
        if (ok && !ctx->json)
            printf("forgot snapshot %s\n", id);
    }
    /* with --json the ids forgotten before a failure are printed too: they
     * are gone either way, and a script must learn which */
    if (ctx->json)
    {
        json_t *o = json_pack("{s:O}", "forgotten", forgotten);

        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
    }
    else if (ok)
        printf("run \"coffer prune\" to free the space they used\n");
    json_decref(forgotten);
    repo_unlock(lock);
    repo_close(repo);
    return ok;
}

bool cmd_prune(CmdContext *ctx, int argc, char **argv, Error *err)
{
    RepoPruneStats st = {0};
    int first;
    Repo *repo = prune_open(ctx, "prune", argc, argv, NULL, &first, err);
    bool ok;

    if (repo == NULL)
        return false;
    if (first < argc)
    {
        repo_close(repo);
        return error_set(err, ERR_USAGE, "prune: unexpected argument \"%s\"", argv[first]);
    }
    ok = repo_prune(repo, &st, err);
    if (ok && ctx->json)
    {
        json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I}", "packs_deleted",
                              (json_int_t)st.packs_deleted, "packs_repacked",
                              (json_int_t)st.packs_repacked, "bytes_freed",
                              (json_int_t)st.bytes_freed, "index_rewritten",
                              (json_int_t)st.index_rewritten, "temp_files_removed",
                              (json_int_t)st.temp_removed);

        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
    }
    else if (ok)
    {
        char freed[32];

        fmt_bytes(st.bytes_freed, freed, sizeof(freed));
        printf("pruned: %llu packs deleted, %llu repacked, %s freed",
               (unsigned long long)st.packs_deleted, (unsigned long long)st.packs_repacked, freed);
        if (st.temp_removed > 0)
            printf(", %llu temp files of interrupted writes removed",
                   (unsigned long long)st.temp_removed);
        putchar('\n');
    }
    repo_close(repo);
    return ok;
}

/* Prunes when the last prune is older than run.prune_every. The lock is
 * dropped for it: prune takes its own, exclusive one. */
bool cmd_prune_due(CmdContext *ctx, Repo *repo, RetentionState *st, RepoLock **lock,
                      json_t *out, Error *err)
{
    time_t now = clock_now(), last = retention_state_time(st, "prune");
    RepoPruneStats ps = {0};
    char when[32];

    if (last != 0 && now - last < ctx->config->prune_every)
    {
        clock_format(last, when);
        json_object_set_new(out, "prune", json_pack("{s:b, s:s}", "ran", false, "last", when));
        if (!ctx->json)
            printf("prune: not yet (last at %s)\n", when);
        return true;
    }
    repo_unlock(*lock);
    *lock = NULL;
    if (!repo_prune(repo, &ps, err))
        return false;
    *lock = repo_lock(repo, REPO_LOCK_SOLO, "run", err);
    if (*lock == NULL)
        return false;
    retention_state_set_time(st, "prune", now);
    json_object_set_new(out, "prune", json_pack("{s:b, s:I, s:I}", "ran", true, "bytes_freed",
                                                (json_int_t)ps.bytes_freed, "packs_deleted",
                                                (json_int_t)ps.packs_deleted));
    if (!ctx->json)
    {
        char freed[32];

        fmt_bytes(ps.bytes_freed, freed, sizeof(freed));
        printf("prune: %llu packs deleted, %s freed\n", (unsigned long long)ps.packs_deleted,
               freed);
    }
    return true;
}
