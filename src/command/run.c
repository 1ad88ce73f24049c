/*
 * run.c - "coffer run": the one command a timer calls. It backs up the
 * tenants whose class is due (together, from one database snapshot),
 * then applies retention, and prunes at most once per run.prune_every.
 * Running it again does nothing until something is due.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup.h"
#include "command/command.h"
#include "common/clock.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/progress.h"
#include "config/config.h"
#include "manifest/manifest.h"
#include "policy/policy.h"
#include "retention/retention.h"
#include "tenancy/tenancy.h"

enum
{
    OPT_DRY_RUN = CMD_OPT_FIRST_COMMAND,
};

typedef struct RunArgs
{
    bool dry_run;
    int jobs;
} RunArgs;

/* What is due now, and what is not and why. */
typedef struct RunDue
{
    const char **tenants; /* borrowed from the discovery list */
    size_t n_tenants;
    bool shared;   /* the shared part's own class is due */
    json_t *items; /* [{"tenant", "class", "due", "last", "next", "why"}] */
} RunDue;

static bool run_option(int opt, const char *arg, void *state, Error *err)
{
    RunArgs *a = state;

    if (opt == OPT_DRY_RUN)
        a->dry_run = true;
    else if (opt == 'j')
    {
        a->jobs = atoi(arg);
        if (a->jobs < 1 || a->jobs > 64)
            return error_set(err, ERR_USAGE, "run: -j must be a number from 1 to 64");
    }
    else
        return false;
    return true;
}

static json_t *run_time(time_t t)
{
    char s[32];

    if (t == 0)
        return json_null();
    clock_format(t, s);
    return json_string(s);
}

/* Decides for one owner; returns whether it is due. */
static bool run_decide(RetentionState *st, const ConfigClass *c, const char *tenant,
                       const char *owner, time_t now, json_t *items)
{
    time_t last = retention_state_last(st, owner);
    bool due = policy_due(c, last, now);
    const char *why;

    if (c->every == 0)
        why = "its class has no every: backed up only by hand";
    else if (due)
        why = last == 0 ? "never backed up" : "its period began after its last backup";
    else
        why = "backed up in this period";
    json_array_append_new(items, json_pack("{s:o, s:s, s:b, s:o, s:o, s:s}", "tenant",
                                           tenant ? json_string(tenant) : json_null(), "class",
                                           c->name, "due", due, "last", run_time(last), "next",
                                           run_time(policy_next(c, now)), "why", why));
    return due;
}

static bool run_due(const Config *cfg, const TenantList *list, RetentionState *st, time_t now,
                    RunDue *d, Error *err)
{
    d->items = json_array();
    d->tenants = xcalloc(list->count + 1, sizeof(char *));
    for (size_t i = 0; i < list->count; i++)
    {
        const Tenant *t = &list->items[i];
        const ConfigClass *c;
        char *owner;

        if (t->shared)
            continue;
        c = config_class_for(cfg, t->class, t->name, err);
        if (c == NULL)
            return false;
        owner = manifest_owner_name(t->name);
        if (run_decide(st, c, t->name, owner, now, d->items))
            d->tenants[d->n_tenants++] = t->name;
        free(owner);
    }
    if (cfg->shared_class != NULL)
        d->shared = run_decide(st, config_find_class(cfg, cfg->shared_class), NULL,
                               MANIFEST_SHARED_OWNER, now, d->items);
    return true;
}

/* Backs up what is due, from one snapshot per database. */
static bool run_backup(CmdContext *ctx, Repo *repo, const RunDue *d, int jobs, json_t *out,
                       Error *err)
{
    BackupPlan plan;
    BackupResult res = {"", NULL, NULL};
    ProgressPrinter printer = {0};
    bool ok;

    memset(&plan, 0, sizeof(plan));
    plan.cfg = ctx->config;
    plan.tenants = d->tenants;
    plan.n_tenants = d->n_tenants;
    plan.shared_only = d->n_tenants == 0;
    plan.jobs = jobs;
    plan.tags = NULL;
    plan.progress = ctx->json ? NULL : progress_print;
    plan.progress_arg = &printer;
    ok = backup_run(&plan, repo, &res, err);
    if (res.id[0] != '\0')
    {
        json_t *st = json_object_get(res.manifest, "stats");
        json_t *b = json_pack("{s:s, s:O, s:O}", "id", res.id, "stats", st ? st : json_null(),
                              "failed", json_object_get(res.manifest, "failed"));

        if (!ctx->json)
            printf("backed up: snapshot %s (%lld tenants, %zu failed)\n", res.id,
                   (long long)json_integer_value(json_object_get(st, "tenants")),
                   json_array_size(json_object_get(res.manifest, "failed")));
        json_object_set_new(out, "backup", b);
    }
    backup_result_free(&res);
    return ok;
}

static void run_print_due(const RunDue *d)
{
    size_t waiting = 0;
    json_t *it;
    size_t i;

    json_array_foreach (d->items, i, it)
    {
        const char *t = json_string_value(json_object_get(it, "tenant"));
        char name[256];

        fmt_printable(t ? t : "shared part", name, sizeof(name));
        if (json_is_true(json_object_get(it, "due")))
            printf("  due      %-32s class %s: %s\n", name,
                   json_string_value(json_object_get(it, "class")),
                   json_string_value(json_object_get(it, "why")));
        else
            waiting++;
    }
    if (waiting > 0)
        printf("  not due  %zu (coffer run --dry-run --json lists each, with its next time)\n",
               waiting);
}

bool cmd_run(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {{"dry-run", no_argument, NULL, OPT_DRY_RUN},
                                             {"jobs", required_argument, NULL, 'j'},
                                             CMD_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    RunArgs a = {false, 2};
    RunDue d = {NULL, 0, false, NULL};
    TenantList list = {0};
    Repo *repo = NULL;
    RepoLock *lock = NULL;
    RetentionState *st = NULL;
    json_t *out = json_object();
    time_t now = clock_now(), newest;
    bool exit_now, ok = false, backed_up = false;
    size_t drilled = 0;
    int first;
    char nows[32];

    first = cmd_parse(ctx, "run", argc, argv, "j:", longopts, run_option, &a, &exit_now, err);
    if (first < 0)
        goto done;
    if (first < argc)
    {
        error_set(err, ERR_USAGE, "run: unexpected argument \"%s\"", argv[first]);
        goto done;
    }
    if (cmd_config(ctx, err) == NULL || !tenancy_discover(ctx->config, false, &list, err))
        goto done;
    repo = cmd_repo_open(ctx, ctx->config, 0, err);
    lock = repo ? repo_lock(repo, REPO_LOCK_SOLO, "run", err) : NULL;
    st = lock ? retention_state_open(repo, err) : NULL;
    if (st == NULL)
        goto done;
    newest = retention_state_newest(st);
    if (!retention_clock_check(now, retention_state_time(st, "run"), "the last run", err) ||
        !retention_clock_check(now, newest, "the newest snapshot", err) ||
        !run_due(ctx->config, &list, st, now, &d, err))
        goto done;
    clock_format(now, nows);
    json_object_set_new(out, "now", json_string(nows));
    json_object_set_new(out, "dry_run", json_boolean(a.dry_run));
    json_object_set(out, "owners", d.items);
    if (!ctx->json)
    {
        printf("run at %s%s: %zu tenants due%s\n", nows, a.dry_run ? " (dry run)" : "",
               d.n_tenants, d.shared ? ", and the shared part" : "");
        run_print_due(&d);
        fflush(stdout); /* before the backup's log lines */
    }
    ok = true;
    if (a.dry_run)
    {
        ok = cmd_verify_due(ctx, repo, &list, st, true, NULL, &drilled, err);
        json_object_set_new(out, "drills_due", json_integer((json_int_t)drilled));
        if (!ctx->json && drilled > 0)
            printf("  drills due: %zu\n", drilled);
        goto done;
    }
    retention_state_saw(st, &list, now);
    if (d.n_tenants > 0 || d.shared)
    {
        Error berr;

        error_clear(&berr);
        backed_up = true;
        /* a partial backup still wrote a snapshot: retention runs, the
         * failed tenants are due again next run */
        ok = run_backup(ctx, repo, &d, a.jobs, out, &berr);
        if (!ok)
            *err = berr;
        if (!ok && berr.code != ERR_PARTIAL)
            goto save;
        if (!retention_state_sync(st, err))
            goto save;
    }
    if (backed_up)
    {
        CmdExpireOpts eo = {false, false, false, NULL, 0};
        Error eerr;

        error_clear(&eerr);
        if (!cmd_expire_with(ctx, repo, &list, st, &eo, ctx->json ? out : NULL, &eerr))
        {
            if (ok)
                *err = eerr;
            ok = false;
            goto save;
        }
    }
    {
        Error verr;

        error_clear(&verr);
        if (!cmd_verify_due(ctx, repo, &list, st, false, ctx->json ? out : NULL, &drilled,
                            &verr))
        {
            if (ok)
                *err = verr;
            ok = false;
        }
    }
    if (backed_up && !cmd_prune_due(ctx, repo, st, &lock, out, ok ? err : &(Error){0}))
    {
        ok = false;
        goto done;
    }
    if (!backed_up && drilled == 0 && !ctx->json)
        printf("nothing to do until something is due\n");
save:
    retention_state_set_time(st, "run", now);
    if (lock != NULL && !retention_state_save(st, ok ? err : &(Error){0}))
        ok = false;
done:
    if (ctx->json && json_object_get(out, "now") != NULL)
    {
        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    }
    json_decref(out);
    json_decref(d.items);
    free(d.tenants);
    retention_state_free(st);
    if (lock != NULL)
        repo_unlock(lock);
    if (repo != NULL)
        repo_close(repo);
    tenancy_list_free(&list);
    return ok;
}
