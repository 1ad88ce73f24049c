/*
 * restore.c - "coffer restore": parses the options, opens and locks the
 * repository, lets the restore engine plan, asks before replacing live
 * data, runs the engine, and prints the targets that were restored.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command/command.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/progress.h"
#include "restore/restore.h"

enum
{
    OPT_TENANT = CMD_OPT_FIRST_COMMAND,
    OPT_ALL,
    OPT_SNAPSHOT,
    OPT_TAG,
    OPT_AS,
    OPT_INTO_DB,
    OPT_TABLE,
    OPT_DATA_ONLY,
    OPT_SCHEMA_ONLY,
    OPT_CLEAN,
    OPT_RECOVER,
};

static bool restore_option(int opt, const char *arg, void *state, Error *err)
{
    RestorePlan *a = state;

    switch (opt)
    {
    case OPT_TENANT:
        a->tenants = xrealloc((void *)a->tenants, sizeof(char *) * (a->n_tenants + 1));
        ((const char **)a->tenants)[a->n_tenants++] = arg;
        return true;
    case OPT_ALL:
        a->all = true;
        return true;
    case OPT_SNAPSHOT:
        a->snapshot = arg;
        return true;
    case OPT_TAG:
        a->tag = arg;
        return true;
    case OPT_AS:
        a->as = arg;
        return true;
    case OPT_INTO_DB:
        a->into_db = arg;
        return true;
    case OPT_TABLE:
        a->tables = xrealloc((void *)a->tables, sizeof(char *) * (a->n_tables + 1));
        ((const char **)a->tables)[a->n_tables++] = arg;
        return true;
    case OPT_DATA_ONLY:
        a->data_only = true;
        return true;
    case OPT_SCHEMA_ONLY:
        a->schema_only = true;
        return true;
    case OPT_RECOVER:
        a->recover = true;
        return true;
    case OPT_CLEAN:
        a->clean = true;
        return true;
    case 'j':
        a->jobs = atoi(arg);
        if (a->jobs < 1 || a->jobs > 64)
            return error_set(err, ERR_USAGE, "restore: -j must be a number from 1 to 64");
        return true;
    }
    return false;
}

/* What a --clean restore replaces, on the terminal that confirms it. */
static void restore_show(FILE *tty, const void *arg)
{
    const RestoreResult *res = arg;

    fprintf(tty, "This replaces:\n");
    for (size_t i = 0; i < res->n_targets; i++)
    {
        const RestoreTargetInfo *t = &res->targets[i];
        char name[256], db[256];

        fmt_printable(t->schema ? t->schema : t->db, name, sizeof(name));
        fmt_printable(t->db, db, sizeof(db));
        fprintf(tty, "  %s \"%s\"%s%s\n", t->schema ? "schema" : "database", name,
                t->schema ? " in database " : "", t->schema ? db : "");
    }
}

static bool restore_confirm(CmdContext *ctx, const RestoreResult *res, Error *err)
{
    for (size_t i = 0; i < res->n_targets; i++)
    {
        const RestoreTargetInfo *t = &res->targets[i];
        char other[256], name[256];

        if (t->other_tenant == NULL)
            continue;
        fmt_printable(t->other_tenant, other, sizeof(other));
        fmt_printable(t->name, name, sizeof(name));
        if (!ctx->yes)
        {
            /* a terminal's "y" is not enough to replace a tenant not named */
            error_set(err, ERR_USAGE,
                      "restoring \"%s\" --as \"%s\" replaces tenant \"%s\", another tenant than "
                      "the one restored",
                      name, other, other);
            return error_hint(err, "pass --yes if that is what you want (a safety backup of \"%s\" "
                                   "is taken first)",
                              other);
        }
        log_warning("restoring \"%s\" replaces tenant \"%s\"; it is in the safety backup", name,
                    other);
    }
    return cmd_confirm(ctx, "restore", "restore --clean replaces live data and", restore_show,
                       res, "A safety backup is taken first. Continue?", err);
}

/* What stands: the targets restored and verified, and the safety backup. */
static void restore_print(CmdContext *ctx, const RestoreResult *res, bool ok)
{
    if (res->safety_id[0] != '\0' && !ctx->json)
        printf("safety backup: snapshot %s\n", res->safety_id);
    if (!ok)
        return;
    if (ctx->json)
    {
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:f}", "snapshot", res->snapshot, "targets",
                              (json_int_t)res->n_targets, "rows", (json_int_t)res->rows, "bytes",
                              (json_int_t)res->bytes, "seconds", res->seconds);

        if (res->safety_id[0] != '\0')
            json_object_set_new(o, "safety_snapshot", json_string(res->safety_id));
        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
        return;
    }
    for (size_t i = 0; i < res->n_targets; i++)
    {
        const RestoreTargetInfo *t = &res->targets[i];
        char size[32], secs[32], name[256], into[256], db[256];

        fmt_bytes(t->bytes, size, sizeof(size));
        fmt_seconds(t->seconds, secs, sizeof(secs));
        fmt_printable(t->name, name, sizeof(name));
        fmt_printable(t->schema ? t->schema : t->db, into, sizeof(into));
        fmt_printable(t->db, db, sizeof(db));
        printf("restored \"%s\" into %s \"%s\"%s%s: %zu tables, %llu rows, %s in %s, verified\n",
               name, t->schema ? "schema" : "database", into, t->schema ? " of database " : "",
               t->schema ? db : "", t->tables,
               (unsigned long long)t->rows, size, secs);
    }
}

bool cmd_restore(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {{"tenant", required_argument, NULL, OPT_TENANT},
                                             {"all", no_argument, NULL, OPT_ALL},
                                             {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
                                             {"tag", required_argument, NULL, OPT_TAG},
                                             {"as", required_argument, NULL, OPT_AS},
                                             {"into-db", required_argument, NULL, OPT_INTO_DB},
                                             {"table", required_argument, NULL, OPT_TABLE},
                                             {"data-only", no_argument, NULL, OPT_DATA_ONLY},
                                             {"schema-only", no_argument, NULL, OPT_SCHEMA_ONLY},
                                             {"clean", no_argument, NULL, OPT_CLEAN},
                                             {"recover", no_argument, NULL, OPT_RECOVER},
                                             {"jobs", required_argument, NULL, 'j'},
                                             CMD_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    RestorePlan plan;
    RestoreResult res;
    ProgressPrinter printer = {0};
    Restore *r = NULL;
    Repo *repo = NULL;
    RepoLock *lock = NULL;
    bool exit_now, ok = false;
    int first;

    memset(&plan, 0, sizeof(plan));
    memset(&res, 0, sizeof(res));
    plan.snapshot = "latest";
    plan.jobs = 2;
    first =
        cmd_parse(ctx, "restore", argc, argv, "j:", longopts, restore_option, &plan, &exit_now, err);
    if (first < 0)
        goto out;
    if (first < argc)
    {
        error_set(err, ERR_USAGE, "restore: unexpected argument \"%s\"", argv[first]);
        error_hint(err, "name the tenant with --tenant NAME");
        goto out;
    }
    if (plan.tag != NULL && strcmp(plan.snapshot, "latest") != 0)
    {
        error_set(err, ERR_USAGE, "restore: give --snapshot or --tag, not both");
        goto out;
    }
    if (cmd_config(ctx, err) == NULL)
        goto out;
    plan.cfg = ctx->config;
    plan.progress = progress_print;
    plan.progress_arg = &printer;
    if (!plan.recover && !restore_plan_check(&plan, err))
        goto out;
    repo = cmd_repo_open(ctx, ctx->config, 0, err);
    if (repo == NULL)
        goto out;
    lock = repo_lock(repo, REPO_LOCK_SHARED, "restore", err);
    if (lock == NULL)
        goto out;
    if (plan.recover)
    {
        size_t n = 0;

        ok = restore_recover_only(&plan, repo, &n, err);
        if (ok)
            printf("%zu interrupted restore%s put right\n", n, n == 1 ? "" : "s");
        goto out;
    }
    r = restore_prepare(&plan, repo, &res, err);
    if (r == NULL || (res.replaces && !restore_confirm(ctx, &res, err)))
        goto out;
    ok = restore_execute(r, &res, err);
    restore_print(ctx, &res, ok || err->code == ERR_PARTIAL);
out:
    restore_free(r);
    if (lock != NULL)
        repo_unlock(lock);
    if (repo != NULL)
        repo_close(repo);
    free((void *)plan.tenants);
    free((void *)plan.tables);
    return ok;
}
