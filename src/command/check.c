/*
 * check.c - "coffer check [--read-data[=PERCENT]] [--rebuild-index]": verify
 * the repository under a shared lock and print a summary; exit 0 when clean,
 * 1 with errors (each already logged with the object it concerns). With
 * --rebuild-index, first re-index unindexed packs from their headers under
 * an exclusive lock (the repair for a lost or damaged index object).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"
#include "common/log.h"
#include "config/config.h"
#include "repo/repo.h"
#include "restore/restore.h"

enum
{
    CHECK_OPT_READ_DATA = CMD_OPT_FIRST_COMMAND,
    CHECK_OPT_REBUILD_INDEX,
    CHECK_OPT_NAGIOS,
    CHECK_OPT_STALE_WARNING,
    CHECK_OPT_STALE_CRITICAL,
    CHECK_OPT_FAILED_CRITICAL,
};

typedef struct CheckArgs
{
    bool read_data;
    int percent;
    bool rebuild_index;
    bool nagios;
    CmdNagiosLimits lim;
} CheckArgs;

static bool check_limit(const char *arg, int *out, Error *err)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (end == arg || *end != '\0' || v < 1 || v > 1000000)
        return error_set(err, ERR_USAGE, "check: a threshold is a number of tenants, 1 or more, "
                                         "not \"%s\"", arg);
    *out = (int)v;
    return true;
}

static bool check_option(int opt, const char *arg, void *state, Error *err)
{
    CheckArgs *a = state;

    switch (opt)
    {
    case CHECK_OPT_READ_DATA:
        a->read_data = true;
        a->percent = 100;
        if (arg != NULL)
        {
            char *end;
            long v = strtol(arg, &end, 10);

            if (end == arg || (*end != '\0' && strcmp(end, "%") != 0) || v < 1 || v > 100)
            {
                error_set(err, ERR_USAGE,
                          "check: --read-data=PERCENT needs a number from 1 to "
                          "100, not \"%s\"",
                          arg);
                return false;
            }
            a->percent = (int)v;
        }
        return true;
    case CHECK_OPT_REBUILD_INDEX:
        a->rebuild_index = true;
        return true;
    case CHECK_OPT_NAGIOS:
        a->nagios = true;
        return true;
    case CHECK_OPT_STALE_WARNING:
        return check_limit(arg, &a->lim.stale_warning, err);
    case CHECK_OPT_STALE_CRITICAL:
        return check_limit(arg, &a->lim.stale_critical, err);
    case CHECK_OPT_FAILED_CRITICAL:
        return check_limit(arg, &a->lim.failed_critical, err);
    default:
        return false;
    }
}

/* What interrupted restores left: warnings, since the repository itself
 * is fine, each naming what to do. */
static void check_print_leftovers(json_t *leftovers, const Error *pg_err)
{
    size_t i;
    json_t *l;

    if (error_is_set(pg_err))
        log_info("did not look for what interrupted restores left in PostgreSQL: %s",
                 pg_err->message);
    json_array_foreach (leftovers, i, l)
    {
        const char *db = json_string_value(json_object_get(l, "database"));

        log_warning("%s \"%s\"%s%s%s: %s", json_string_value(json_object_get(l, "kind")),
                    json_string_value(json_object_get(l, "name")), db ? " in database \"" : "",
                    db ? db : "", db ? "\"" : "", json_string_value(json_object_get(l, "what")));
    }
    if (json_array_size(leftovers) > 0)
        log_info("run \"coffer restore --recover\" to put interrupted restores right; an aside "
                 "copy no journal names is never dropped for you: compare it with the live "
                 "tenant, then drop it or rename it back");
}

static void check_print(const char *loc, const CheckArgs *a, const RepoCheckReport *r,
                        json_t *leftovers, bool json)
{
    if (json)
    {
        json_t *o = json_pack(
            "{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "repository", loc, "ok",
            r->errors == 0, "snapshots", (json_int_t)r->snapshots, "packs", (json_int_t)r->packs,
            "chunks", (json_int_t)r->chunks, "packs_read", (json_int_t)r->packs_read,
            "read_data_percent", (json_int_t)(a->read_data ? a->percent : 0), "errors",
            (json_int_t)r->errors, "unreferenced_packs", (json_int_t)r->unreferenced_packs,
            "index_objects", (json_int_t)r->index_objects, "duplicates", (json_int_t)r->duplicates,
            "destroyed_packs", (json_int_t)r->destroyed_packs);
        char *text;

        json_object_set_new(o, "problems", r->problems ? json_incref(r->problems) : json_array());
        json_object_set_new(o, "leftovers", leftovers ? json_incref(leftovers) : json_array());
        text = json_dumps(o, JSON_INDENT(2));

        printf("%s\n", text);
        free(text);
        json_decref(o);
        return;
    }
    printf("repository \"%s\": %" PRIu64 " snapshot%s, %" PRIu64 " pack%s, %" PRIu64 " chunk%s",
           loc, r->snapshots, r->snapshots == 1 ? "" : "s", r->packs, r->packs == 1 ? "" : "s",
           r->chunks, r->chunks == 1 ? "" : "s");
    if (a->read_data)
        printf(", %" PRIu64 " pack%s read", r->packs_read, r->packs_read == 1 ? "" : "s");
    printf("\n%" PRIu64 " error%s", r->errors, r->errors == 1 ? "" : "s");
    if (r->unreferenced_packs > 0 && r->errors == 0)
        printf(", %" PRIu64 " unreferenced pack%s (harmless; \"coffer prune\" removes them)",
               r->unreferenced_packs, r->unreferenced_packs == 1 ? "" : "s");
    else if (r->unreferenced_packs > 0)
        /* with the index damaged or lost, they may hold what the snapshots need */
        printf(", %" PRIu64 " pack%s the index does not name (they may hold data a damaged index "
               "lost: run \"coffer check --rebuild-index\" before \"coffer prune\")",
               r->unreferenced_packs, r->unreferenced_packs == 1 ? "" : "s");
    if (r->destroyed_packs > 0)
        printf(", %" PRIu64 " pack%s of erased owners", r->destroyed_packs,
               r->destroyed_packs == 1 ? "" : "s");
    printf("\n");
    if (json_array_size(leftovers) > 0)
        printf("%zu leftover%s of interrupted restores (see the warnings above)\n",
               json_array_size(leftovers), json_array_size(leftovers) == 1 ? "" : "s");
}

/* check --nagios: the structure check, then the status, as one plugin
 * line; anything that stops it is UNKNOWN (exit 3), not an error. */
static bool check_nagios(CmdContext *ctx, const CheckArgs *a, Error *err)
{
    RepoCheckOptions opts = {a->read_data, a->percent};
    RepoCheckReport report;
    Repo *repo = NULL;
    RepoLock *lock = NULL;
    Error e;
    char problem[1100] = "";
    bool ok;

    error_clear(&e);
    (void)err;
    ok = cmd_config(ctx, &e) != NULL && (repo = cmd_repo_open(ctx, ctx->config, REPO_OPEN_TOLERANT,
                                                              &e)) != NULL &&
         (lock = repo_lock(repo, REPO_LOCK_SHARED, "check --nagios", &e)) != NULL;
    memset(&report, 0, sizeof(report));
    if (ok && !repo_check(repo, &opts, &report, &e))
        snprintf(problem, sizeof(problem), "%s", e.message);
    else if (ok && report.errors > 0)
        snprintf(problem, sizeof(problem), "%" PRIu64 " error%s (run \"coffer check\")",
                 report.errors, report.errors == 1 ? "" : "s");
    if (ok)
        cmd_status_nagios(ctx, repo, problem[0] ? problem : NULL, &a->lim);
    else
    {
        printf("COFFER UNKNOWN - %s\n", e.message);
        ctx->exit_status = 3;
    }
    json_decref(report.problems);
    if (lock != NULL)
        repo_unlock(lock);
    if (repo != NULL)
        repo_close(repo);
    return true;
}

bool cmd_check(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {
        {"read-data", optional_argument, NULL, CHECK_OPT_READ_DATA},
        {"rebuild-index", no_argument, NULL, CHECK_OPT_REBUILD_INDEX},
        {"nagios", no_argument, NULL, CHECK_OPT_NAGIOS},
        {"stale-warning", required_argument, NULL, CHECK_OPT_STALE_WARNING},
        {"stale-critical", required_argument, NULL, CHECK_OPT_STALE_CRITICAL},
        {"failed-critical", required_argument, NULL, CHECK_OPT_FAILED_CRITICAL},
        CMD_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    CheckArgs a = {false, 100, false, false, {1, 5, 1}};
    RepoCheckOptions opts;
    RepoCheckReport report;
    Config *cfg = NULL;
    Repo *repo;
    RepoLock *lock;
    json_t *leftovers;
    Error pg_err;
    bool exit_now, ok;
    int first;

    first = cmd_parse(ctx, "check", argc, argv, "", longopts, check_option, &a, &exit_now, err);
    if (first < 0)
        return false;
    if (first < argc)
        return error_set(err, ERR_USAGE, "check: unexpected argument \"%s\"", argv[first]);
    if (a.nagios)
        return check_nagios(ctx, &a, err);
    if (!cmd_repo_config(ctx, &cfg, err))
        return false;
    /* tolerant: a damaged index object is one of the errors to report */
    repo = cmd_repo_open(ctx, cfg, REPO_OPEN_TOLERANT, err);
    if (repo == NULL)
        return false;
    lock = repo_lock(repo, a.rebuild_index ? REPO_LOCK_EXCLUSIVE : REPO_LOCK_SHARED,
                     a.rebuild_index ? "check --rebuild-index" : "check", err);
    if (lock == NULL)
    {
        repo_close(repo);
        return false;
    }
    if (a.rebuild_index)
    {
        uint64_t added = 0, removed = 0;

        if (!repo_index_rebuild(repo, &added, &removed, err))
        {
            repo_unlock(lock);
            repo_close(repo);
            return false;
        }
        log_info("rebuilt the index: %" PRIu64 " pack%s indexed from their headers, %" PRIu64
                 " damaged index object%s removed",
                 added, added == 1 ? "" : "s", removed, removed == 1 ? "" : "s");
    }
    opts.read_data = a.read_data;
    opts.read_data_percent = a.percent;
    ok = repo_check(repo, &opts, &report, err);
    leftovers = ok ? restore_leftovers(cfg, repo, &pg_err, err) : NULL;
    ok = ok && leftovers != NULL;
    if (ok)
        check_print_leftovers(leftovers, &pg_err);
    check_print(repo_location(repo), &a, &report, leftovers, ctx->json);
    json_decref(leftovers);
    json_decref(report.problems);
    repo_unlock(lock);
    repo_close(repo);
    return ok;
}
