/*
 * backup.c - "coffer backup": parses the options, opens and locks the
 * repository, runs the backup engine and prints what it wrote.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup.h"
#include "command/command.h"
#include "common/clock.h"
#include "common/fmt.h"
#include "common/mem.h"
#include "common/progress.h"
#include "config/config.h"
#include "copy/copy.h"
#include "manifest/manifest.h"

typedef struct BackupArgs
{
    const char **tenants;
    size_t n_tenants;
    const char *class;
    json_t *tags;
    const char *pin;
    int jobs;
} BackupArgs;

enum
{
    OPT_TENANT = CMD_OPT_FIRST_COMMAND,
    OPT_CLASS,
    OPT_TAG,
    OPT_PIN,
};

static bool backup_option(int opt, const char *arg, void *state, Error *err)
{
    BackupArgs *a = state;

    switch (opt)
    {
    case OPT_TENANT:
        cmd_names_add(&a->tenants, &a->n_tenants, arg);
        return true;
    case OPT_CLASS:
        a->class = arg;
        return true;
    case OPT_TAG:
        json_array_append_new(a->tags, json_string(arg));
        return true;
    case OPT_PIN:
        a->pin = arg;
        return true;
    case 'j':
        a->jobs = atoi(arg);
        if (a->jobs < 1 || a->jobs > 64)
        {
            error_set(err, ERR_USAGE, "backup: -j must be a number from 1 to 64");
            return false;
        }
        return true;
    }
    return false;
}

static void backup_print(const Manifest *m, const char *id, bool as_json)
{
    const ManStats *st = &m->stats;

    if (as_json)
    {
        json_t *failed = json_array();
        json_t *out;

        for (size_t i = 0; i < m->n_failed; i++)
            json_array_append_new(failed, json_pack("{s:s, s:s}", "name", m->failed[i].name,
                                                    "error", m->failed[i].error));
        out = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:o}", "id", id, "tenants",
                        (json_int_t)st->tenants, "tables", (json_int_t)st->tables, "rows",
                        (json_int_t)st->rows, "bytes_read", (json_int_t)st->bytes_read,
                        "bytes_added", (json_int_t)st->bytes_added, "seconds", st->seconds,
                        "failed", failed);
        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(out);
        return;
    }
    {
        char rd[32], add[32], secs[32];

        fmt_bytes(st->bytes_read, rd, sizeof(rd));
        fmt_bytes(st->bytes_added, add, sizeof(add));
        fmt_seconds(st->seconds, secs, sizeof(secs));
        printf("snapshot %s saved\n", id);
        printf("  %llu tenants, %llu tables, %llu rows, %s read, %s added, %s\n",
               (unsigned long long)st->tenants, (unsigned long long)st->tables,
               (unsigned long long)st->rows, rd, add, secs);
    }
}

/* backup --repo all: the snapshot just written to the first repository
 * goes to each other one in turn, the same database snapshot everywhere. */
static bool backup_copy_rest(CmdContext *ctx, Repo *first, const char *id, Error *err)
{
    const Config *cfg = ctx->config;
    bool ok = true;

    for (size_t i = 1; ok && i < cfg->n_repos; i++)
    {
        const char *name = cfg->repos[i].name;
        Repo *to = cmd_repo_open_named(ctx, name, 0, err);
        RepoLock *lock = to != NULL ? repo_lock(to, REPO_LOCK_SHARED, "backup", err) : NULL;
        CopyPlan plan = {id, NULL, 0, NULL, NULL};
        CopyResult res = {0};

        ok = lock != NULL && copy_run(&plan, first, to, &res, err);
        if (ok && !ctx->json)
            printf("snapshot %s copied to repository \"%s\" (%s): %llu of %llu chunks new\n", id,
                   name, repo_location(to), (unsigned long long)res.chunks_new,
                   (unsigned long long)res.chunks);
        if (!ok)
            error_prefix(err, "repository \"%s\"", name);
        copy_result_free(&res);
        repo_unlock(lock);
        if (to != NULL)
            repo_close(to);
    }
    return ok;
}

bool cmd_backup(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {{"tenant", required_argument, NULL, OPT_TENANT},
                                             {"class", required_argument, NULL, OPT_CLASS},
                                             {"tag", required_argument, NULL, OPT_TAG},
                                             {"pin", required_argument, NULL, OPT_PIN},
                                             {"jobs", required_argument, NULL, 'j'},
                                             CMD_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    BackupArgs a = {NULL, 0, NULL, json_array(), NULL, 2};
    char pin_until[32];
    int64_t pin_secs;
    bool exit_now;
    Repo *repo = NULL;
    RepoLock *lock = NULL;
    BackupPlan plan;
    BackupResult res = {"", NULL, NULL};
    ProgressPrinter printer = {0};
    int first;
    bool ok = false, all = false;

    first = cmd_parse(ctx, "backup", argc, argv, "j:", longopts, backup_option, &a, &exit_now, err);
    if (first < 0)
        goto out;
    if (first < argc)
    {
        error_set(err, ERR_USAGE, "backup: unexpected argument \"%s\"", argv[first]);
        error_hint(err, "name tenants with --tenant NAME");
        goto out;
    }
    /* --pin 14d, or --pin 2027-01-31 */
    if (a.pin != NULL &&
        !cmd_pin_until(clock_parse_duration(a.pin, &pin_secs) ? NULL : a.pin,
                       clock_parse_duration(a.pin, &pin_secs) ? a.pin : NULL, pin_until, err))
    {
        error_prefix(err, "backup --pin");
        goto out;
    }
    if (cmd_config(ctx, err) == NULL)
        goto out;
    all = ctx->repo != NULL && strcmp(ctx->repo, "all") == 0;
    if (all && ctx->config->n_repos == 0)
    {
        error_set(err, ERR_USAGE, "backup --repo all: the configuration names no repository");
        goto out;
    }
    repo = all ? cmd_repo_open_named(ctx, ctx->config->repos[0].name, 0, err)
               : cmd_repo_open(ctx, ctx->config, 0, err);
    if (repo == NULL)
        goto out;
    lock = repo_lock(repo, REPO_LOCK_SHARED, "backup", err);
    if (lock == NULL)
        goto out;
    memset(&plan, 0, sizeof(plan));
    plan.cfg = ctx->config;
    plan.tenants = a.tenants;
    plan.n_tenants = a.n_tenants;
    plan.class = a.class;
    plan.tags = a.tags;
    plan.pin_until = a.pin != NULL ? pin_until : NULL;
    plan.jobs = a.jobs;
    plan.progress = progress_print;
    plan.progress_arg = &printer;
    ok = backup_run(&plan, repo, &res, err);
    if (res.manifest != NULL)
    {
        Error perr;
        Manifest *m;

        error_clear(&perr);
        m = manifest_parse(res.manifest, &perr);
        if (m != NULL)
            backup_print(m, res.id, ctx->json);
        manifest_free(m);
    }
    if (all && res.id[0] != '\0')
        ok = backup_copy_rest(ctx, repo, res.id, err) && ok;
out:
    if (lock != NULL)
        repo_unlock(lock);
    if (repo != NULL)
        repo_close(repo);
    backup_result_free(&res);
    json_decref(a.tags);
    free(a.tenants);
    return ok;
}
