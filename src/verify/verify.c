/*
 * verify.c - restore drills: choose the tenants, restore each into a
 * marked scratch database through the restore engine (which checks every
 * table's rows and content hash), run the class's smoke queries there,
 * drop the scratch database, record the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "manifest/manifest.h"
#include "pg/pg.h"
#include "restore/restore.h"
#include "verify/verify.h"

#define VERIFY_STATE "verify"
#define VERIFY_NOTE "verify"

/* A scratch database to drop at the end, or from the signal thread. */
typedef struct VerifyScratch
{
    const char *conninfo;
    char name[64];
} VerifyScratch;

static void verify_drop(void *arg)
{
    VerifyScratch *s = arg;
    Error err;
    PGconn *c;

    error_clear(&err);
    c = pg_connect(s->conninfo, "postgres", &err);
    if (c == NULL || !pg_drop_database(c, s->name, &err))
        log_warning("could not drop the drill's scratch database \"%s\": %s", s->name,
                    err.message);
    PQfinish(c);
}

time_t verify_last(Repo *repo, json_t *state, const char *tenant, bool *ok)
{
    char *owner = manifest_owner_name(tenant);
    char oid[REPO_OWNER_HEX];
    json_t *e;

    repo_owner_id(repo, owner, oid);
    free(owner);
    e = json_object_get(state, oid);
    if (ok != NULL)
        *ok = json_is_true(json_object_get(e, "ok"));
    return (time_t)json_integer_value(json_object_get(e, "time"));
}

/* Runs the class's smoke queries in the restored copy; fills the checks
 * array with {sql, ok, error}. */
static void verify_checks(const Config *cfg, const char *conninfo, const char *db,
                          const char *schema, const ConfigClass *c, VerifyTenant *vt,
                          json_t *checks)
{
    PGconn *conn;
    Error err;

    if (c == NULL || c->n_checks == 0)
        return;
    error_clear(&err);
    conn = pg_connect(conninfo, db, &err);
    if (conn != NULL && schema != NULL)
    {
        /* the tenant's schema first, then the shared ones, as the application sees it */
        Buf path;
        char *q = pg_quote_ident(conn, schema, &err);

        buf_init(&path);
        buf_printf(&path, "SET search_path = %s", q ? q : "public");
        free(q);
        for (size_t i = 0; i < cfg->n_shared; i++)
        {
            q = pg_quote_ident(conn, cfg->shared[i], &err);
            if (q != NULL)
                buf_printf(&path, ", %s", q);
            free(q);
        }
        pg_command(conn, "set search_path", (const char *)path.data, &err);
        buf_free(&path);
    }
    for (size_t i = 0; i < c->n_checks; i++)
    {
        PGresult *res = NULL;
        bool pass = false;
        char why[sizeof(err.message) + 64] = "";

        vt->checks++;
        error_clear(&err);
        if (conn != NULL)
            res = pg_query(conn, "smoke query", c->checks[i], 0, NULL, &err);
        if (res != NULL && PQntuples(res) == 1 && PQnfields(res) >= 1 &&
            strcmp(PQgetvalue(res, 0, 0), "t") == 0)
            pass = true;
        else if (res != NULL)
            snprintf(why, sizeof(why), "returned %s, not true",
                     PQntuples(res) > 0 && PQnfields(res) > 0 ? PQgetvalue(res, 0, 0) : "no row");
        else
            snprintf(why, sizeof(why), "%s", err.message);
        PQclear(res);
        if (!pass)
            vt->checks_failed++;
        json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "sql", c->checks[i], "ok",
                                                pass, "error", why));
    }
    PQfinish(conn);
}

/* Every table of the tenant as the snapshot has it, for the record. */
static json_t *verify_tables(Repo *repo, const char *snapshot, const char *tenant)
{
    ManifestSelect sel = {&tenant, 1};
    json_t *doc, *out = json_array();
    Manifest *m;
    const ManTenant *u;
    Error e;

    error_clear(&e);
    doc = manifest_load(repo, snapshot, &sel, &e);
    m = doc ? manifest_parse(doc, &e) : NULL;
    u = m ? manifest_find_tenant(m, tenant, false) : NULL;
    for (size_t i = 0; u != NULL && i < u->n_tables; i++)
        json_array_append_new(out, json_pack("{s:s, s:s, s:I, s:I}", "schema",
                                             u->tables[i].schema, "table", u->tables[i].name,
                                             "rows", (json_int_t)u->tables[i].rows, "bytes",
                                             (json_int_t)u->tables[i].data.bytes));
    manifest_free(m);
    json_decref(doc);
    return out;
}

/* One drill; fills vt (and the record's detail). */
static void verify_one(const VerifyPlan *p, Repo *repo, const Config *tcfg, const char *tenant,
                       size_t index, VerifyTenant *vt, json_t *detail)
{
    RestorePlan rp;
    RestoreResult res;
    VerifyScratch scratch;
    CleanupHandle guard;
    Restore *r;
    Error err;
    double t0 = fmt_now();
    const char *schema = NULL;
    bool ok;

    memset(&rp, 0, sizeof(rp));
    memset(&res, 0, sizeof(res));
    error_clear(&err);
    scratch.conninfo = tcfg->pg_conninfo;
    snprintf(scratch.name, sizeof(scratch.name), "coffer_scratch_verify_%d_%zu", (int)getpid(),
             index);
    rp.cfg = tcfg;
    rp.tenants = &tenant;
    rp.n_tenants = 1;
    rp.snapshot = p->snapshot;
    rp.into_db = scratch.name;
    rp.drill = true;
    rp.jobs = p->jobs;
    rp.progress = p->progress;
    rp.progress_arg = p->progress_arg;
    guard = cleanup_push(verify_drop, &scratch);
    r = restore_plan_check(&rp, &err) ? restore_prepare(&rp, repo, &res, &err) : NULL;
    ok = r != NULL && restore_execute(r, &res, &err);
    if (r != NULL)
        snprintf(vt->snapshot, sizeof(vt->snapshot), "%s", res.snapshot);
    for (size_t i = 0; r != NULL && i < res.n_targets; i++)
        if (!res.targets[i].shared)
        {
            vt->tables = res.targets[i].tables;
            vt->rows = res.targets[i].rows;
            vt->bytes = res.targets[i].bytes;
            schema = res.targets[i].schema;
        }
    if (ok)
        verify_checks(p->cfg, tcfg->pg_conninfo, scratch.name, schema,
                      config_find_class(p->cfg, vt->class) ? config_find_class(p->cfg, vt->class)
                                                          : config_find_class(p->cfg, "default"),
                      vt, json_object_get(detail, "checks"));
    restore_free(r);
    cleanup_pop(guard, true);
    vt->seconds = fmt_now() - t0;
    vt->ok = ok && vt->checks_failed == 0;
    if (!ok)
        vt->error = xstrdup(err.message);
    else if (vt->checks_failed > 0)
    {
        json_t *c = NULL;
        size_t i;

        /* the first failing query, and why, is what the operator needs */
        json_array_foreach (json_object_get(detail, "checks"), i, c)
            if (!json_is_true(json_object_get(c, "ok")))
                break;
        vt->error = xasprintf("%zu of %zu smoke queries failed: \"%s\" %s", vt->checks_failed,
                              vt->checks, json_string_value(json_object_get(c, "sql")),
                              json_string_value(json_object_get(c, "error")));
    }
    if (vt->snapshot[0] != '\0')
        json_object_set_new(detail, "tables", verify_tables(repo, vt->snapshot, tenant));
}

/* Records the drill: pass/fail in state/verify, the detail in the
 * tenant's sealed note. */
static void verify_record(Repo *repo, json_t *state, const VerifyTenant *vt, json_t *detail)
{
    char *owner = manifest_owner_name(vt->tenant);
    char oid[REPO_OWNER_HEX], when[32];
    time_t now = clock_now();
    RepoOwner *o;
    Error e;

    repo_owner_id(repo, owner, oid);
    json_object_set_new(state, oid, json_pack("{s:I, s:b, s:f}", "time", (json_int_t)now, "ok",
                                              vt->ok, "seconds", vt->seconds));
    clock_format(now, when);
    json_object_set_new(detail, "time", json_string(when));
    json_object_set_new(detail, "ok", json_boolean(vt->ok));
    json_object_set_new(detail, "snapshot", json_string(vt->snapshot));
    json_object_set_new(detail, "seconds", json_real(vt->seconds));
    json_object_set_new(detail, "error", vt->error ? json_string(vt->error) : json_null());
    error_clear(&e);
    o = repo_owner_get(repo, owner, false, &e);
    if (o == NULL || !repo_note_write(repo, o, VERIFY_NOTE, detail, &e))
        log_warning("the drill of \"%s\" could not be recorded in full: %s", vt->tenant,
                    e.message);
    free(owner);
}

static const Tenant *verify_find(const TenantList *list, const char *name)
{
    for (size_t i = 0; list != NULL && i < list->count; i++)
        if (!list->items[i].shared && strcmp(list->items[i].name, name) == 0)
            return &list->items[i];
    return NULL;
}

/* Candidates ordered by their last drill, never drilled first. */
typedef struct VerifyPick
{
    const Tenant *t;
    time_t last;
} VerifyPick;

static int verify_pick_cmp(const void *a, const void *b)
{
    const VerifyPick *x = a, *y = b;

    if (x->last != y->last)
        return x->last < y->last ? -1 : 1;
    return strcmp(x->t->name, y->t->name);
}

/* The names to drill, borrowed from the plan or the candidates. */
static const char **verify_choose(const VerifyPlan *p, Repo *repo, json_t *state, size_t *n)
{
    const char **names;
    VerifyPick *picks;
    size_t k = 0;

    if (p->n_tenants > 0)
    {
        *n = p->n_tenants;
        names = xcalloc(*n + 1, sizeof(char *));
        memcpy(names, p->tenants, sizeof(char *) * *n);
        return names;
    }
    picks = xcalloc(p->candidates->count + 1, sizeof(VerifyPick));
    for (size_t i = 0; i < p->candidates->count; i++)
        if (!p->candidates->items[i].shared)
        {
            picks[k].t = &p->candidates->items[i];
            picks[k].last = verify_last(repo, state, picks[k].t->name, NULL);
            k++;
        }
    qsort(picks, k, sizeof(VerifyPick), verify_pick_cmp);
    if (!p->all && p->sample < k)
        k = p->sample;
    names = xcalloc(k + 1, sizeof(char *));
    for (size_t i = 0; i < k; i++)
        names[i] = picks[i].t->name;
    free(picks);
    *n = k;
    return names;
}

bool verify_run(const VerifyPlan *p, Repo *repo, VerifyResult *res, Error *err)
{
    json_t *state = repo_state_load(repo, VERIFY_STATE, err);
    Config tcfg;
    const char **names;
    size_t n = 0;

    memset(res, 0, sizeof(*res));
    if (state == NULL)
        return false;
    names = verify_choose(p, repo, state, &n);
    if (n == 0)
    {
        json_decref(state);
        free(names);
        error_set(err, ERR_USAGE, "verify: no tenant to drill");
        return error_hint(err, "name one with --tenant, or use --sample N or --all on a "
                               "configuration that discovers tenants");
    }
    /* --into: the same configuration, another server */
    tcfg = *p->cfg;
    if (p->into != NULL)
        tcfg.pg_conninfo = (char *)p->into;
    res->tenants = xcalloc(n, sizeof(VerifyTenant));
    for (size_t i = 0; i < n && !cleanup_interrupted(); i++)
    {
        VerifyTenant *vt = &res->tenants[res->n++];
        const Tenant *t = verify_find(p->candidates, names[i]);
        json_t *detail = json_pack("{s:s, s:[]}", "tenant", names[i], "checks");

        vt->tenant = xstrdup(names[i]);
        vt->class = xstrdup(t != NULL ? t->class : "default");
        log_info("drill %zu of %zu: tenant \"%s\"", i + 1, n, names[i]);
        verify_one(p, repo, &tcfg, names[i], i, vt, detail);
        if (!vt->ok)
            res->failed++;
        if (vt->snapshot[0] != '\0')
            verify_record(repo, state, vt, detail);
        json_decref(detail);
    }
    free(names);
    if (!repo_state_write(repo, VERIFY_STATE, state, err))
    {
        json_decref(state);
        return false;
    }
    json_decref(state);
    if (cleanup_interrupted())
        return error_set(err, ERR_FAILURE, "interrupted");
    if (res->failed > 0)
    {
        error_set(err, ERR_FAILURE, "restore drill failed for %zu of %zu tenant%s", res->failed,
                  res->n, res->n == 1 ? "" : "s");
        return error_hint(err, "the errors above name each tenant, table and object; \"coffer "
                               "check --read-data\" lists damaged objects");
    }
    return true;
}

void verify_result_free(VerifyResult *res)
{
    for (size_t i = 0; i < res->n; i++)
    {
        free(res->tenants[i].tenant);
        free(res->tenants[i].class);
        free(res->tenants[i].error);
    }
    free(res->tenants);
    memset(res, 0, sizeof(*res));
}
