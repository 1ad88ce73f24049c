/*
 * status.c - "coffer status": per tenant, the newest backup and its age
 * against the class's schedule, size and growth, the last restore drill;
 * the repository's size and dedup ratio. As a table, JSON, a Prometheus
 * textfile, or (for coffer check --nagios) one Nagios line.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"
#include "common/clock.h"
#include "common/fmt.h"
#include "common/mem.h"
#include "config/config.h"
#include "status/status.h"
#include "tenancy/tenancy.h"

enum
{
    OPT_PROMETHEUS = CMD_OPT_FIRST_COMMAND,
};

static bool status_option(int opt, const char *arg, void *state, Error *err)
{
    (void)err;
    if (opt != OPT_PROMETHEUS)
        return false;
    *(const char **)state = arg;
    return true;
}

static json_t *status_time(time_t t)
{
    char s[32];

    if (t == 0)
        return json_null();
    clock_format(t, s);
    return json_string(s);
}

static double status_growth(const StatusTenant *t)
{
    return t->before != 0 && t->bytes_before > 0
               ? ((double)t->bytes - (double)t->bytes_before) / (double)t->bytes_before
               : 0.0;
}

static json_t *status_json(const StatusReport *r)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < r->n; i++)
    {
        const StatusTenant *t = &r->tenants[i];

        json_array_append_new(
            arr, json_pack("{s:o, s:o, s:o, s:o, s:I, s:b, s:I, s:I, s:o, s:f, s:o, s:o}", "tenant",
                           t->tenant ? json_string(t->tenant) : json_null(), "class",
                           t->class ? json_string(t->class) : json_null(), "last_backup",
                           status_time(t->last), "snapshot",
                           t->last ? json_string(t->last_id) : json_null(), "age_seconds",
                           (json_int_t)(t->last ? r->now - t->last : -1), "stale", t->stale,
                           "rows", (json_int_t)t->rows, "bytes", (json_int_t)t->bytes,
                           "bytes_30_days_before",
                           t->before ? json_integer((json_int_t)t->bytes_before) : json_null(),
                           "growth", status_growth(t), "last_verify", status_time(t->verify_time),
                           "verify_ok", t->verify_time ? json_boolean(t->verify_ok) : json_null()));
    }
    return json_pack("{s:o, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:o}", "now", status_time(r->now),
                     "snapshots", (json_int_t)r->snapshots, "repo_bytes",
                     (json_int_t)r->repo_bytes, "logical_bytes", (json_int_t)r->logical_bytes,
                     "dedup_ratio",
                     r->repo_bytes ? (double)r->logical_bytes / (double)r->repo_bytes : 0.0,
                     "stale", (json_int_t)r->stale, "never", (json_int_t)r->never,
                     "verify_failed", (json_int_t)r->verify_failed, "tenants", arr);
}

static void status_print(const StatusReport *r)
{
    char size[32], logical[32];

    printf("%-28s %-8s %-20s %9s %10s %7s %-20s\n", "TENANT", "CLASS", "LAST BACKUP", "AGE",
           "SIZE", "GROWTH", "LAST DRILL");
    for (size_t i = 0; i < r->n; i++)
    {
        const StatusTenant *t = &r->tenants[i];
        char name[256], cls[64], last[32] = "never", age[32] = "-", drill[40] = "never",
                                                growth[16] = "-";

        fmt_printable(t->tenant ? t->tenant : "(shared)", name, sizeof(name));
        fmt_printable(t->class ? t->class : "-", cls, sizeof(cls));
        if (t->last)
        {
            clock_format(t->last, last);
            fmt_seconds((double)(r->now - t->last), age, sizeof(age));
        }
        fmt_bytes(t->bytes, size, sizeof(size));
        if (t->before)
            snprintf(growth, sizeof(growth), "%+.0f%%", 100.0 * status_growth(t));
        if (t->verify_time)
        {
            clock_format(t->verify_time, drill);
            strcat(drill, t->verify_ok ? " ok" : " FAIL");
        }
        printf("%-28.28s %-8.8s %-20s %9s %10s %7s %-24s%s\n", name, cls, last, age, size, growth,
               drill, t->stale ? "  STALE" : "");
    }
    fmt_bytes(r->repo_bytes, size, sizeof(size));
    fmt_bytes(r->logical_bytes, logical, sizeof(logical));
    printf("\nrepository: %zu snapshots, %s stored for %s read (dedup %.1fx); %zu stale, %zu "
           "never backed up, %zu failed their last drill\n",
           r->snapshots, size, logical,
           r->repo_bytes ? (double)r->logical_bytes / (double)r->repo_bytes : 0.0, r->stale,
           r->never, r->verify_failed);
}

/* Discovery, then the report; the caller holds a lock on repo. */
static bool status_gather(CmdContext *ctx, Repo *repo, StatusReport *r, Error *err)
{
    TenantList list = {0};
    bool ok = tenancy_discover(ctx->config, false, &list, err) &&
              status_collect(ctx->config, repo, &list, r, err);

    tenancy_list_free(&list);
    return ok;
}

bool cmd_status(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {
        {"prometheus", required_argument, NULL, OPT_PROMETHEUS}, CMD_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}};
    const char *prom = NULL;
    StatusReport r;
    Repo *repo = NULL;
    RepoLock *lock = NULL;
    bool exit_now, ok = false;
    int first;

    memset(&r, 0, sizeof(r));
    first = cmd_parse(ctx, "status", argc, argv, "", longopts, status_option, &prom, &exit_now,
                      err);
    if (first < 0)
        return false;
    if (first < argc)
        return error_set(err, ERR_USAGE, "status: unexpected argument \"%s\"", argv[first]);
    if (cmd_config(ctx, err) == NULL)
        return false;
    repo = cmd_repo_open(ctx, ctx->config, 0, err);
    lock = repo ? repo_lock(repo, REPO_LOCK_SHARED, "status", err) : NULL;
    if (lock != NULL && status_gather(ctx, repo, &r, err))
    {
        ok = prom == NULL ||
             status_write_prometheus(&r, ctx->config->repo_name ? ctx->config->repo_name
                                                                : "default",
                                     prom, err);
        if (ok && ctx->json)
        {
            json_t *o = status_json(&r);

            json_dumpf(o, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(o);
        }
        else if (ok && prom == NULL)
            status_print(&r);
    }
    status_report_free(&r);
    if (lock != NULL)
        repo_unlock(lock);
    if (repo != NULL)
        repo_close(repo);
    return ok;
}

bool cmd_status_nagios(CmdContext *ctx, Repo *repo, const char *check_problem,
                       const CmdNagiosLimits *lim)
{
    StatusReport r;
    Error err;
    int state = 0;
    time_t oldest = 0;
    static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    char text[600];

    error_clear(&err);
    memset(&r, 0, sizeof(r));
    if (!status_gather(ctx, repo, &r, &err))
    {
        printf("COFFER UNKNOWN - %s\n", err.message);
        ctx->exit_status = 3;
        return true;
    }
    for (size_t i = 0; i < r.n; i++)
        if (r.tenants[i].last != 0 && (oldest == 0 || r.tenants[i].last < oldest))
            oldest = r.tenants[i].last;
    if (r.stale >= (size_t)lim->stale_warning)
        state = 1;
    if (r.stale >= (size_t)lim->stale_critical || r.verify_failed >= (size_t)lim->failed_critical)
        state = 2;
    if (check_problem != NULL)
        state = 2;
    if (check_problem != NULL)
        snprintf(text, sizeof(text), "repository check failed: %s", check_problem);
    else
        snprintf(text, sizeof(text), "%zu tenants, %zu stale, %zu failed their last drill, "
                                     "%zu snapshots",
                 r.n, r.stale, r.verify_failed, r.snapshots);
    printf("COFFER %s - %s | 'stale'=%zu;%d;%d;0 'failed'=%zu;;%d;0 'oldest_backup'=%llds "
           "'repo_size'=%lluB\n",
           names[state], text, r.stale, lim->stale_warning, lim->stale_critical,
           r.verify_failed, lim->failed_critical,
           (long long)(oldest ? r.now - oldest : 0), (unsigned long long)r.repo_bytes);
    ctx->exit_status = state;
    status_report_free(&r);
    return true;
}
