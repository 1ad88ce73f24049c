/*
 * status.c - the status report (per tenant: newest backup, age against its
 * schedule, size and growth, last drill) and its Prometheus textfile form.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "manifest/manifest.h"
#include "status/status.h"
#include "verify/verify.h"

#define STATUS_MONTH (30 * 86400)

/* Reads every header: totals, and per owner id its parts newest first as
 * [[time, ref], ...]. */
static json_t *status_headers(Repo *repo, StatusReport *r, Error *err)
{
    json_t *ids = repo_snapshot_ids(repo, err), *owners, *v;
    size_t i;

    if (ids == NULL)
        return NULL;
    owners = json_object();
    json_array_foreach (ids, i, v)
    {
        json_t *h, *ref;
        time_t t = 0;
        size_t k;
        Error e;

        error_clear(&e);
        h = repo_snapshot_load(repo, json_string_value(v), &e);
        if (h == NULL)
        {
            log_warning("%s; status leaves it out", e.message);
            continue;
        }
        clock_parse(json_string_value(json_object_get(h, "time")), &t, NULL);
        r->snapshots++;
        r->logical_bytes += (uint64_t)json_integer_value(
            json_object_get(json_object_get(h, "stats"), "bytes_read"));
        if (t >= r->newest)
        {
            r->newest = t;
            r->newest_added = (uint64_t)json_integer_value(
                json_object_get(json_object_get(h, "stats"), "bytes_added"));
        }
        json_array_foreach (json_object_get(h, "parts"), k, ref)
        {
            char oid[REPO_OWNER_HEX];
            json_t *list;

            if (!repo_part_owner(ref, oid))
                continue;
            list = json_object_get(owners, oid);
            if (list == NULL)
            {
                list = json_array();
                json_object_set_new(owners, oid, list);
            }
            json_array_append_new(list, json_pack("[I, O, s]", (json_int_t)t, ref,
                                                  json_string_value(v)));
        }
        json_decref(h);
    }
    json_decref(ids);
    return owners;
}

/* Rows and bytes of tenant (NULL: every shared unit) in a part. */
static void status_part_size(Repo *repo, json_t *ref, const char *tenant, uint64_t *rows,
                             uint64_t *bytes)
{
    Error e;
    json_t *part, *u;
    size_t i;

    *rows = *bytes = 0;
    error_clear(&e);
    part = repo_part_load(repo, ref, NULL, &e);
    json_array_foreach (json_object_get(part, "tenants"), i, u)
    {
        bool shared = json_is_true(json_object_get(u, "shared"));
        const char *name = json_string_value(json_object_get(u, "name"));

        if (tenant == NULL ? shared : (!shared && name != NULL && strcmp(name, tenant) == 0))
        {
            *rows += (uint64_t)json_integer_value(json_object_get(u, "rows"));
            *bytes += (uint64_t)json_integer_value(json_object_get(u, "bytes"));
        }
    }
    json_decref(part);
}

/* Fills one tenant's entry from its parts. */
static void status_tenant(Repo *repo, json_t *owners, json_t *verify, time_t now,
                          StatusTenant *t)
{
    char *owner = t->tenant ? manifest_owner_name(t->tenant) : xstrdup(MANIFEST_SHARED_OWNER);
    char oid[REPO_OWNER_HEX];
    json_t *list, *e, *newest = NULL, *before = NULL;
    size_t i;
    uint64_t rows;

    repo_owner_id(repo, owner, oid);
    free(owner);
    list = json_object_get(owners, oid);
    json_array_foreach (list, i, e)
    {
        time_t ti = (time_t)json_integer_value(json_array_get(e, 0));

        if (newest == NULL || ti > (time_t)json_integer_value(json_array_get(newest, 0)))
            newest = e;
        if (ti <= now - STATUS_MONTH &&
            (before == NULL || ti > (time_t)json_integer_value(json_array_get(before, 0))))
            before = e;
    }
    if (newest != NULL)
    {
        t->last = (time_t)json_integer_value(json_array_get(newest, 0));
        snprintf(t->last_id, sizeof(t->last_id), "%s", json_string_value(json_array_get(newest, 2)));
        status_part_size(repo, json_array_get(newest, 1), t->tenant, &t->rows, &t->bytes);
    }
    if (before != NULL)
    {
        t->before = (time_t)json_integer_value(json_array_get(before, 0));
        status_part_size(repo, json_array_get(before, 1), t->tenant, &rows, &t->bytes_before);
    }
    t->stale = t->every > 0 && (t->last == 0 ||
                                (double)(now - t->last) > STATUS_STALE_FACTOR * (double)t->every);
    if (t->tenant != NULL)
        t->verify_time = verify_last(repo, verify, t->tenant, &t->verify_ok);
}

bool status_collect(const Config *cfg, Repo *repo, const TenantList *live, StatusReport *r,
                    Error *err)
{
    json_t *owners, *verify;
    const char *shared_class = cfg->shared_class;

    memset(r, 0, sizeof(*r));
    r->now = clock_now();
    owners = status_headers(repo, r, err);
    if (owners == NULL)
        return false;
    verify = repo_state_load(repo, "verify", err);
    if (verify == NULL || !repo_size(repo, &r->repo_bytes, &r->packs, err))
    {
        json_decref(owners);
        json_decref(verify);
        return false;
    }
    r->tenants = xcalloc(live->count + 2, sizeof(StatusTenant));
    for (size_t i = 0; i <= live->count; i++)
    {
        const Tenant *lt = i < live->count ? &live->items[i] : NULL;
        StatusTenant *t = &r->tenants[r->n];
        const char *cname = lt ? lt->class : (shared_class ? shared_class : "default");
        const ConfigClass *c = config_find_class(cfg, cname);

        if (lt != NULL && lt->shared)
            continue;
        if (c == NULL && lt != NULL)
            c = config_find_class(cfg, "default");
        t->tenant = lt ? xstrdup(lt->name) : NULL;
        t->class = c ? xstrdup(c->name) : NULL;
        t->every = c ? c->every : 0;
        status_tenant(repo, owners, verify, r->now, t);
        r->stale += t->stale;
        r->never += t->last == 0;
        r->verify_failed += t->verify_time != 0 && !t->verify_ok;
        r->n++;
    }
    json_decref(owners);
    json_decref(verify);
    return true;
}

void status_report_free(StatusReport *r)
{
    for (size_t i = 0; i < r->n; i++)
    {
        free(r->tenants[i].tenant);
        free(r->tenants[i].class);
    }
    free(r->tenants);
    memset(r, 0, sizeof(*r));
}

/* A label value in the text format: backslash, quote and newline escaped. */
static void status_label(FILE *f, const char *s)
{
    for (; s != NULL && *s; s++)
    {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n')
        {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
}

static void status_metric_head(FILE *f, const char *name, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void status_tenant_labels(FILE *f, const StatusTenant *t, const char *repo)
{
    fputs("{tenant=\"", f);
    status_label(f, t->tenant ? t->tenant : "(shared)");
    fputs("\",class=\"", f);
    status_label(f, t->class ? t->class : "");
    fputs("\",repo=\"", f);
    status_label(f, repo);
    fputs("\"}", f);
}

bool status_write_prometheus(const StatusReport *r, const char *repo, const char *path,
                             Error *err)
{
    static const struct
    {
        const char *name, *help;
    } m[] = {
        {"coffer_backup_last_success_timestamp_seconds",
         "time of the newest snapshot holding the tenant (0: never)"},
        {"coffer_backup_since_last_completion_seconds", "seconds since that snapshot"},
        {"coffer_backup_stale", "1 when the newest snapshot is older than 1.5 x the class's every"},
        {"coffer_backup_size_bytes", "the tenant's bytes in its newest snapshot"},
        {"coffer_verify_last_status", "1: the last restore drill passed, 0: it failed, -1: never"},
        {"coffer_verify_last_timestamp_seconds", "time of the last restore drill (0: never)"},
    };
    char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    bool ok;

    if (f == NULL)
    {
        error_set(err, ERR_FAILURE, "could not write \"%s\": %s", tmp, strerror(errno));
        free(tmp);
        return error_hint(err, "give --prometheus a file in a writable directory (the "
                               "node_exporter textfile directory)");
    }
    for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++)
    {
        status_metric_head(f, m[k].name, m[k].help);
        for (size_t i = 0; i < r->n; i++)
        {
            const StatusTenant *t = &r->tenants[i];
            double v[] = {(double)t->last,
                          t->last ? (double)(r->now - t->last) : -1,
                          t->stale ? 1 : 0,
                          (double)t->bytes,
                          t->verify_time == 0 ? -1 : t->verify_ok ? 1 : 0,
                          (double)t->verify_time};

            fputs(m[k].name, f);
            status_tenant_labels(f, t, repo);
            fprintf(f, " %.0f\n", v[k]);
        }
    }
    status_metric_head(f, "coffer_backup_added_bytes", "bytes the newest snapshot added");
    fputs("coffer_backup_added_bytes{repo=\"", f);
    status_label(f, repo);
    fprintf(f, "\"} %llu\n", (unsigned long long)r->newest_added);
    status_metric_head(f, "coffer_repo_size_bytes", "bytes the repository's packs take");
    fputs("coffer_repo_size_bytes{repo=\"", f);
    status_label(f, repo);
    fprintf(f, "\"} %llu\n", (unsigned long long)r->repo_bytes);
    status_metric_head(f, "coffer_repo_snapshots", "snapshots in the repository");
    fputs("coffer_repo_snapshots{repo=\"", f);
    status_label(f, repo);
    fprintf(f, "\"} %zu\n", r->snapshots);
    status_metric_head(f, "coffer_repo_status", "1: the repository could be read for this report");
    fputs("coffer_repo_status{repo=\"", f);
    status_label(f, repo);
    fputs("\"} 1\n", f);
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok)
    {
        error_set(err, ERR_FAILURE, "could not write \"%s\": %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}
