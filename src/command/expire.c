/*
 * expire.c - "coffer expire": retention per tenant class. Discovery says
 * which tenants still exist, the retention module decides which parts of
 * which snapshots go, and this file shows, asks and applies.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"
#include "common/clock.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "config/config.h"
#include "policy/policy.h"
#include "retention/retention.h"
#include "tenancy/tenancy.h"

enum
{
    OPT_TENANT = CMD_OPT_FIRST_COMMAND,
    OPT_DRY_RUN,
    OPT_ALLOW_EMPTY,
    OPT_OFFLINE,
};

typedef struct ExpireArgs
{
    CmdExpireOpts o;
    const char **tenants;
    bool offline;
} ExpireArgs;

static bool expire_option(int opt, const char *arg, void *state, Error *err)
{
    ExpireArgs *a = state;

    (void)err;
    switch (opt)
    {
    case OPT_TENANT:
        cmd_names_add(&a->tenants, &a->o.n_tenants, arg);
        a->o.tenants = a->tenants;
        return true;
    case OPT_DRY_RUN:
        a->o.dry_run = true;
        return true;
    case OPT_ALLOW_EMPTY:
        a->o.allow_empty = true;
        return true;
    case OPT_OFFLINE:
        a->offline = true;
        return true;
    }
    return false;
}

static const char *expire_who(const ExpireOwner *w, char *buf, size_t len)
{
    char name[256];

    if (w->tenant == NULL)
        return snprintf(buf, len, "shared part"), buf;
    fmt_printable(w->tenant, name, sizeof(name));
    snprintf(buf, len, "tenant %s", name);
    return buf;
}

static json_t *expire_json(const ExpireResult *r, bool dry_run, time_t now)
{
    json_t *owners = json_array();
    char t[32];

    for (size_t i = 0; i < r->n_owners; i++)
    {
        const ExpireOwner *w = &r->owners[i];
        json_t *snaps = json_array();

        for (size_t k = 0; k < w->n_snaps; k++)
        {
            char why[160];

            clock_format(w->snaps[k].time, t);
            policy_kept_str(w->snaps[k].kept, why, sizeof(why));
            json_array_append_new(snaps, json_pack("{s:s, s:s, s:b, s:s}", "id", w->snaps[k].id,
                                                   "time", t, "keep", w->snaps[k].kept != 0,
                                                   "why", w->snaps[k].kept ? why : ""));
        }
        clock_format(w->last_seen, t);
        json_array_append_new(
            owners, json_pack("{s:o, s:b, s:o, s:b, s:s, s:I, s:I, s:o}", "tenant",
                              w->tenant ? json_string(w->tenant) : json_null(), "shared",
                              w->tenant == NULL, "class",
                              w->class ? json_string(w->class) : json_null(), "gone", w->gone,
                              "last_seen", t, "kept", (json_int_t)w->n_kept, "dropped",
                              (json_int_t)(w->n_snaps - w->n_kept), "snapshots", snaps));
    }
    clock_format(now, t);
    return json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:o}", "now", t, "dry_run", dry_run,
                     "snapshots", (json_int_t)r->snapshots, "forgotten", (json_int_t)r->forget,
                     "rewritten", (json_int_t)r->rewrite, "parts_dropped",
                     (json_int_t)r->parts_dropped, "unreadable", (json_int_t)r->unreadable,
                     "owners", owners);
}

static void expire_print(FILE *f, const ExpireResult *r, bool every)
{
    for (size_t i = 0; i < r->n_owners; i++)
    {
        const ExpireOwner *w = &r->owners[i];
        char who[300], cls[128], seen[32];

        if (!every && w->n_kept == w->n_snaps)
            continue;
        fmt_printable(w->class ? w->class : "-", cls, sizeof(cls));
        fprintf(f, "%s (class %s", expire_who(w, who, sizeof(who)), cls);
        if (w->gone)
        {
            clock_format(w->last_seen, seen);
            fprintf(f, "; gone, last seen %s", seen);
        }
        fprintf(f, "): keeps %zu of %zu snapshots\n", w->n_kept, w->n_snaps);
        for (size_t k = 0; every && k < w->n_snaps; k++)
        {
            char t[32], why[160];

            clock_format(w->snaps[k].time, t);
            policy_kept_str(w->snaps[k].kept, why, sizeof(why));
            fprintf(f, "  %s  %s  %.12s  %s\n", w->snaps[k].kept ? "keep" : "drop", t,
                    w->snaps[k].id, w->snaps[k].kept ? why : "");
        }
    }
}

static void expire_show(FILE *tty, const void *arg)
{
    const ExpireResult *r = arg;

    fprintf(tty, "expire would forget %zu of %zu snapshots", r->forget, r->snapshots);
    fprintf(tty, " and drop tenants' parts from %zu more.\n", r->rewrite);
}

bool cmd_expire_with(CmdContext *ctx, Repo *repo, const TenantList *live, RetentionState *st,
                     const CmdExpireOpts *o, json_t *out, Error *err)
{
    ExpirePlan plan = {ctx->config, clock_now(), live, st, o->tenants, o->n_tenants,
                       o->allow_empty};
    ExpireResult r;
    bool ok;

    if (!expire_prepare(&plan, repo, &r, err))
        return false;
    ok = retention_clock_check(plan.now, r.newest, "the newest snapshot", err);
    if (ok && !o->dry_run && r.forget > 0 && r.forget * 2 > r.snapshots)
        ok = cmd_confirm(ctx, "expire", "expire: forgetting more than half of the snapshots",
                         expire_show, &r, "Forget them?", err);
    if (ok && !o->dry_run)
        ok = expire_apply(repo, &r, err);
    if (ok && out != NULL)
        json_object_set_new(out, "expire", expire_json(&r, o->dry_run, plan.now));
    else if (ok)
    {
        expire_print(stdout, &r, o->dry_run || o->verbose);
        printf("expire%s: %zu snapshots read, %zu parts %s, %zu snapshots %s%s\n",
               o->dry_run ? " (dry run)" : "", r.snapshots, r.parts_dropped,
               o->dry_run ? "would be dropped" : "dropped", r.forget,
               o->dry_run ? "would be forgotten" : "forgotten",
               r.unreadable ? "; some owners' parts could not be read and were left alone" : "");
    }
    expire_result_free(&r);
    return ok;
}

bool cmd_expire(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {{"tenant", required_argument, NULL, OPT_TENANT},
                                             {"dry-run", no_argument, NULL, OPT_DRY_RUN},
                                             {"allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY},
                                             {"offline", no_argument, NULL, OPT_OFFLINE},
                                             CMD_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    ExpireArgs a;
    TenantList list = {0};
    RetentionState *st = NULL;
    RepoLock *lock = NULL;
    Repo *repo = NULL;
    json_t *out = NULL;
    bool exit_now, ok = false;
    int first;

    memset(&a, 0, sizeof(a));
    first = cmd_parse(ctx, "expire", argc, argv, "", longopts, expire_option, &a, &exit_now, err);
    if (first < 0)
        goto done;
    if (first < argc)
    {
        error_set(err, ERR_USAGE, "expire: unexpected argument \"%s\"", argv[first]);
        error_hint(err, "name tenants with --tenant NAME");
        goto done;
    }
    if (cmd_config(ctx, err) == NULL)
        goto done;
    if (!a.offline && !tenancy_discover(ctx->config, false, &list, err))
    {
        error_hint(err, "expire asks discovery which tenants still exist; --offline counts "
                        "every tenant as live");
        goto done;
    }
    repo = cmd_repo_open(ctx, ctx->config, 0, err);
    lock = repo ? repo_lock(repo, REPO_LOCK_FREEING, "expire", err) : NULL;
    st = lock ? retention_state_open(repo, err) : NULL;
    if (st == NULL)
        goto done;
    if (!a.offline)
        retention_state_saw(st, &list, clock_now());
    out = ctx->json ? json_object() : NULL;
    ok = cmd_expire_with(ctx, repo, a.offline ? NULL : &list, st, &a.o, out, err);
    if (ok && !a.o.dry_run)
        ok = retention_state_save(st, err);
    if (ok && out != NULL)
    {
        json_t *e = json_object_get(out, "expire");

        json_dumpf(e, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    }
    else if (ok && !a.o.dry_run)
        printf("run \"coffer prune\" to free the space they used\n");
done:
    json_decref(out);
    retention_state_free(st);
    if (lock != NULL)
        repo_unlock(lock);
    if (repo != NULL)
        repo_close(repo);
    tenancy_list_free(&list);
    free(a.tenants);
    return ok;
}
