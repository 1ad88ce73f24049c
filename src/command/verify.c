/*
 * verify.c - "coffer verify": restore drills. Chooses the tenants (named,
 * a rotating sample, or all), lets the verify engine restore each into a
 * scratch database and check it, and prints the verdicts.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"
#include "common/clock.h"
#include "common/fmt.h"
#include "common/mem.h"
#include "common/progress.h"
#include "config/config.h"
#include "retention/retention.h"
#include "tenancy/tenancy.h"
#include "verify/verify.h"

enum
{
    OPT_TENANT = CMD_OPT_FIRST_COMMAND,
    OPT_SNAPSHOT,
    OPT_SAMPLE,
    OPT_ALL,
    OPT_INTO,
};

typedef struct VerifyArgs
{
    VerifyPlan plan;
    const char **tenants;
} VerifyArgs;

static bool verify_option(int opt, const char *arg, void *state, Error *err)
{
    VerifyArgs *a = state;
    char *end = NULL;

    switch (opt)
    {
    case OPT_TENANT:
        cmd_names_add(&a->tenants, &a->plan.n_tenants, arg);
        a->plan.tenants = a->tenants;
        return true;
    case OPT_SNAPSHOT:
        a->plan.snapshot = arg;
        return true;
    case OPT_SAMPLE:
        a->plan.sample = strtoul(arg, &end, 10);
        if (end == arg || *end != '\0' || a->plan.sample < 1)
            return error_set(err, ERR_USAGE, "verify: --sample takes a number of tenants, 1 or more");
        return true;
    case OPT_ALL:
        a->plan.all = true;
        return true;
    case OPT_INTO:
        a->plan.into = arg;
        return true;
    case 'j':
        a->plan.jobs = atoi(arg);
        if (a->plan.jobs < 1 || a->plan.jobs > 64)
            return error_set(err, ERR_USAGE, "verify: -j must be a number from 1 to 64");
        return true;
    }
    return false;
}

/* The verdicts, as JSON or one line each. */
void cmd_verify_print(const CmdContext *ctx, const VerifyResult *r, json_t *out)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < r->n; i++)
    {
        const VerifyTenant *t = &r->tenants[i];
        char name[256], secs[32], size[32];

        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:b, s:f, s:I, s:I, s:I, s:I, s:I, s:o}", "tenant",
                           t->tenant, "class", t->class, "snapshot", t->snapshot, "ok", t->ok,
                           "seconds", t->seconds, "tables", (json_int_t)t->tables, "rows",
                           (json_int_t)t->rows, "bytes", (json_int_t)t->bytes, "checks",
                           (json_int_t)t->checks, "checks_failed", (json_int_t)t->checks_failed,
                           "error", t->error ? json_string(t->error) : json_null()));
        if (ctx->json)
            continue;
        fmt_printable(t->tenant, name, sizeof(name));
        fmt_seconds(t->seconds, secs, sizeof(secs));
        fmt_bytes(t->bytes, size, sizeof(size));
        printf("%s  %-32s snapshot %.12s  %zu tables, %llu rows, %s, %zu/%zu checks, %s\n",
               t->ok ? "PASS" : "FAIL", name, t->snapshot[0] ? t->snapshot : "-", t->tables,
               (unsigned long long)t->rows, size, t->checks - t->checks_failed, t->checks, secs);
        if (t->error != NULL)
        {
            char why[1200];

            fmt_printable(t->error, why, sizeof(why));
            printf("      %s\n", why);
        }
    }
    if (out != NULL)
        json_object_set_new(out, "verify", arr);
    else
        json_decref(arr);
}

bool cmd_verify(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {{"tenant", required_argument, NULL, OPT_TENANT},
                                             {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
                                             {"sample", required_argument, NULL, OPT_SAMPLE},
                                             {"all", no_argument, NULL, OPT_ALL},
                                             {"into", required_argument, NULL, OPT_INTO},
                                             {"jobs", required_argument, NULL, 'j'},
                                             CMD_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    VerifyArgs a;
    VerifyResult res = {NULL, 0, 0};
    TenantList list = {0};
    ProgressPrinter printer = {0};
    Repo *repo = NULL;
    RepoLock *lock = NULL;
    json_t *out = NULL;
    bool exit_now, ok = false;
    int first, modes;

    memset(&a, 0, sizeof(a));
    a.plan.snapshot = "latest";
    a.plan.jobs = 2;
    first = cmd_parse(ctx, "verify", argc, argv, "j:", longopts, verify_option, &a, &exit_now, err);
    if (first < 0)
        goto done;
    modes = (a.plan.n_tenants > 0) + (a.plan.sample > 0) + a.plan.all;
    if (first < argc || modes != 1)
    {
        error_set(err, ERR_USAGE, first < argc ? "verify: unexpected argument \"%s\""
                                               : "verify: say which tenants: --tenant NAME, "
                                                 "--sample N or --all%s",
                  first < argc ? argv[first] : "");
        error_hint(err, "coffer verify --sample 5 drills the five tenants verified least "
                        "recently");
        goto done;
    }
    if (cmd_config(ctx, err) == NULL || !tenancy_discover(ctx->config, false, &list, err))
        goto done;
    repo = cmd_repo_open(ctx, ctx->config, 0, err);
    lock = repo ? repo_lock(repo, REPO_LOCK_SHARED, "verify", err) : NULL;
    if (lock == NULL)
        goto done;
    a.plan.cfg = ctx->config;
    a.plan.candidates = &list;
    a.plan.progress = ctx->json ? NULL : progress_print;
    a.plan.progress_arg = &printer;
    ok = verify_run(&a.plan, repo, &res, err);
    out = ctx->json ? json_object() : NULL;
    cmd_verify_print(ctx, &res, out);
    if (out != NULL)
    {
        json_dumpf(json_object_get(out, "verify"), stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    }
done:
    json_decref(out);
    verify_result_free(&res);
    if (lock != NULL)
        repo_unlock(lock);
    if (repo != NULL)
        repo_close(repo);
    tenancy_list_free(&list);
    free(a.tenants);
    return ok;
}

/* coffer run's drills: each class with verify: { every, sample } whose
 * last drill is older than every drills sample of its tenants. */
bool cmd_verify_due(CmdContext *ctx, Repo *repo, const TenantList *list, RetentionState *st,
                    bool dry_run, json_t *out, size_t *drilled, Error *err)
{
    const Config *cfg = ctx->config;
    time_t now = clock_now();
    bool ok = true;

    *drilled = 0;
    for (size_t c = 0; c < cfg->n_classes; c++)
    {
        const ConfigClass *cl = &cfg->classes[c];
        char key[300];
        TenantList sub = {0};
        VerifyPlan plan;
        VerifyResult res = {NULL, 0, 0};
        Error e;

        if (cl->verify_every == 0)
            continue;
        snprintf(key, sizeof(key), "verify:%s", cl->name);
        if (retention_state_time(st, key) != 0 &&
            now - retention_state_time(st, key) < cl->verify_every)
            continue;
        sub.items = xcalloc(list->count + 1, sizeof(Tenant));
        for (size_t i = 0; i < list->count; i++)
            if (!list->items[i].shared && strcmp(list->items[i].class, cl->name) == 0)
                sub.items[sub.count++] = list->items[i];
        if (sub.count > 0 && !dry_run)
        {
            memset(&plan, 0, sizeof(plan));
            plan.cfg = cfg;
            plan.snapshot = "latest";
            plan.sample = (size_t)cl->verify_sample;
            plan.candidates = &sub;
            plan.jobs = 2;
            error_clear(&e);
            if (!ctx->json)
                printf("drills of class %s: %zu of its %zu tenants\n", cl->name,
                       sub.count < plan.sample ? sub.count : plan.sample, sub.count);
            if (!verify_run(&plan, repo, &res, &e))
            {
                if (ok)
                    *err = e;
                ok = false;
            }
            *drilled += res.n;
            if (out == NULL)
                cmd_verify_print(ctx, &res, NULL);
            else
            {
                json_t *tmp = json_object();

                cmd_verify_print(ctx, &res, tmp);
                if (json_object_get(out, "verify") == NULL)
                    json_object_set_new(out, "verify", json_array());
                json_array_extend(json_object_get(out, "verify"), json_object_get(tmp, "verify"));
                json_decref(tmp);
            }
            verify_result_free(&res);
            retention_state_set_time(st, key, now);
        }
        else if (sub.count > 0)
            *drilled += sub.count < (size_t)cl->verify_sample ? sub.count
                                                                : (size_t)cl->verify_sample;
        free(sub.items);
    }
    return ok;
}
