/*
 * engine.c - the backup engine's entry point: select the parts, group them
 * by database, run the workers on the pool, then write the index and, last,
 * the snapshot (manifest). A part that failed is reported and left out; a
 * lost server or a failed globals dump writes nothing.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/backup_intern.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pool.h"
#include "manifest/manifest.h"

/* Picks the units to back up: selected tenants (or all), plus every shared part. */
static bool backup_select(Backup *b, TenantList *list, const BackupPlan *a, Error *err)
{
    b->units = xcalloc(list->count, sizeof(Unit));
    for (size_t i = 0; i < a->n_tenants; i++)
    {
        Tenant *t = tenancy_find(list, a->tenants[i]);

        if (t != NULL && t->shared)
        {
            error_set(err, ERR_FAILURE, "\"%s\" is a shared %s, not a tenant: nothing to back up",
                      a->tenants[i], b->ops->object);
            return error_hint(err, "shared parts are saved with every backup; name a tenant with "
                                   "--tenant (\"coffer tenants\" lists them)");
        }
        if (t == NULL)
        {
            error_set(err, ERR_USAGE, "unknown tenant \"%s\"", a->tenants[i]);
            return error_hint(err, "run \"coffer tenants\" to list the tenants the configuration "
                                   "discovers");
        }
    }
    if (a->class != NULL && !config_has_class(b->cfg, a->class))
    {
        error_set(err, ERR_USAGE, "unknown class \"%s\"", a->class);
        return error_hint(err, "classes are defined under classes: in \"%s\"", b->cfg->path);
    }
    for (size_t i = 0; i < list->count; i++)
    {
        Tenant *t = &list->items[i];
        bool take = t->shared;

        if (!t->shared)
        {
            take = a->n_tenants == 0 && !a->shared_only;
            for (size_t k = 0; k < a->n_tenants; k++)
                if (strcmp(a->tenants[k], t->name) == 0)
                    take = true;
            if (a->class != NULL && strcmp(a->class, t->class) != 0)
                take = false;
        }
        if (!take)
            continue;
        Unit *u = &b->units[b->n_units++];
        u->tenant = t;
        u->owner_name = t->shared ? xstrdup("shared") : xasprintf("tenant:%s", t->name);
        u->tables = json_array();
        u->sequences = json_array();
        u->matviews = json_array();
    }
    for (size_t i = 0; i < b->n_units; i++)
        if (!b->units[i].tenant->shared || a->shared_only)
            return true;
    if (a->class != NULL)
        error_set(err, ERR_FAILURE, "nothing to back up: no tenant of class \"%s\"%s", a->class,
                  a->n_tenants > 0 ? " among those named" : "");
    else
        error_set(err, ERR_FAILURE, "nothing to back up: the configuration discovers no tenant");
    return error_hint(err, "run \"coffer tenants\" to see the tenants and their classes");
}

/* Groups units by database into sessions. */
static void backup_sessions(Backup *b)
{
    b->sessions = xcalloc(b->n_units, sizeof(Session));
    for (size_t i = 0; i < b->n_units; i++)
    {
        Unit *u = &b->units[i];
        Session *s = NULL;

        for (size_t k = 0; k < b->n_sessions; k++)
            if (strcmp(b->sessions[k].dbname, u->tenant->database) == 0)
                s = &b->sessions[k];
        if (s == NULL)
        {
            s = &b->sessions[b->n_sessions++];
            s->dbname = xstrdup(u->tenant->database);
            s->units = xmalloc(sizeof(Unit *) * b->n_units);
            s->ddl_owner = xstrdup(b->ops->ddl_owner(u->owner_name));
        }
        s->units[s->n_units++] = u;
        u->session = s;
        if (u->tenant->bytes > 0)
            s->est_bytes += u->tenant->bytes;
    }
}

/* A unit's entry in the manifest. */
static json_t *backup_unit_doc(const Unit *u)
{
    const Tenant *t = u->tenant;
    json_t *doc = json_pack(
        "{s:s, s:s, s:b, s:s, s:o, s:s, s:I, s:I, s:O, s:O, s:O}", "name", t->name, "class",
        t->class, "shared", t->shared, "database", t->database, "schema",
        t->schema ? json_string(t->schema) : json_null(), "owner", u->owner_name, "rows",
        (json_int_t)u->rows, "bytes", (json_int_t)u->bytes, "tables", u->tables, "sequences",
        u->sequences, "matviews", u->matviews);

    if (u->ddl != NULL)
        json_object_set(doc, "ddl", u->ddl);
    return doc;
}

void backup_unit_done(Backup *b, Unit *u, int n)
{
    Session *s = u->session;
    json_t *tenants, *dbs, *ref = NULL;
    bool write;
    Error err;

    pthread_mutex_lock(&b->lock);
    u->pending -= n;
    write = u->pending == 0 && !u->failed && !u->tenant->shared && u->ref == NULL && !b->stop;
    pthread_mutex_unlock(&b->lock);
    if (!write)
        return;
    /* a tenant database's properties and DDL go in its part */
    tenants = json_pack("[o]", backup_unit_doc(u));
    dbs = b->ops->whole_database && s->doc != NULL ? json_pack("[O]", s->doc) : json_array();
    error_clear(&err);
    if (!manifest_part_write(b->repo, u->owner, tenants, dbs, &ref, &err))
        backup_unit_fail(b, u, &err);
    json_decref(tenants);
    json_decref(dbs);
    if (ref == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    u->ref = ref;
    json_array_append(b->refs, ref);
    if (b->ops->whole_database)
        s->doc_written = true;
    json_decref(u->tables);
    json_decref(u->sequences);
    json_decref(u->matviews);
    json_decref(u->ddl);
    u->tables = u->sequences = u->matviews = u->ddl = NULL;
    pthread_mutex_unlock(&b->lock);
}

static json_t *backup_manifest(Backup *b, const BackupPlan *a, double seconds, const char *started)
{
    json_t *doc = json_object();
    json_t *tenants = json_array(), *failed = json_array(), *dbs = json_array();
    char host[256] = "";
    uint64_t ntenants = 0, ntables = 0, nrows = 0;

    gethostname(host, sizeof(host) - 1);
    json_object_set_new(doc, "format", json_integer(1));
    json_object_set_new(doc, "kind", json_string("backup"));
    json_object_set_new(doc, "time", json_string(started));
    json_object_set_new(doc, "host", json_string(host));
    json_object_set_new(doc, "model", json_string(config_model_name(b->cfg->model)));
    json_object_set_new(doc, "server_version", json_string(b->server_version));
    json_object_set_new(doc, "server_major", json_integer(b->major));
    json_object_set_new(doc, "tags", a->tags ? json_deep_copy(a->tags) : json_array());
    if (a->pin_until != NULL)
        json_object_set_new(doc, "pin_until", json_string(a->pin_until));
    json_object_set_new(doc, "globals", json_incref(b->globals));
    for (size_t i = 0; i < b->n_sessions; i++)
        if (!b->sessions[i].failed && b->sessions[i].doc != NULL && !b->sessions[i].doc_written)
            json_array_append(dbs, b->sessions[i].doc);
    json_object_set_new(doc, "databases", dbs);
    for (size_t i = 0; i < b->n_units; i++)
    {
        Unit *u = &b->units[i];
        const Tenant *t = u->tenant;

        if (u->failed)
        {
            json_array_append_new(failed,
                                  json_pack("{s:s, s:s}", "name", t->name, "error", u->error));
            continue;
        }
        if (!t->shared)
            ntenants++;
        ntables += u->n_tables;
        nrows += u->rows;
        if (u->ref == NULL)
            json_array_append_new(tenants, backup_unit_doc(u));
    }
    json_object_set_new(doc, "tenants", tenants);
    json_object_set_new(doc, "failed", failed);
    json_object_set_new(doc, "stats",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:f}", "tenants", (json_int_t)ntenants,
                                  "tables", (json_int_t)ntables, "rows", (json_int_t)nrows,
                                  "bytes_read", (json_int_t)b->bytes_read, "bytes_added",
                                  (json_int_t)b->bytes_added, "seconds", seconds));
    return doc;
}

static void backup_free(Backup *b)
{
    for (size_t i = 0; i < b->n_units; i++)
    {
        free(b->units[i].owner_name);
        json_decref(b->units[i].tables);
        json_decref(b->units[i].sequences);
        json_decref(b->units[i].matviews);
        json_decref(b->units[i].ddl);
        json_decref(b->units[i].ref);
    }
    free(b->units);
    json_decref(b->refs);
    for (size_t i = 0; i < b->n_sessions; i++)
    {
        Session *s = &b->sessions[i];

        if (s->coord != NULL)
            PQfinish(s->coord);
        free(s->dbname);
        free(s->units);
        free(s->snapshot);
        free(s->ddl_owner);
        for (size_t k = 0; k < s->n_exclude; k++)
            free(s->exclude[k]);
        free(s->exclude);
        json_decref(s->doc);
    }
    free(b->sessions);
    for (Job **q = &b->queue; q != NULL; q = q == &b->queue ? &b->dumps : NULL)
        while (*q != NULL)
        {
            Job *j = *q;

            *q = j->next;
            job_free(j);
        }
    json_decref(b->globals);
    free(b->pg_dump);
    free(b->pg_dumpall);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->wake);
}

/* Finds the server version and the client programs matching it. */
static bool backup_prepare_tools(Backup *b, Error *err)
{
    PGconn *conn = pg_connect(b->cfg->pg_conninfo, NULL, err);

    if (conn == NULL)
        return false;
    b->major = pg_server_major(conn);
    snprintf(b->server_version, sizeof(b->server_version), "%s",
             PQparameterStatus(conn, "server_version"));
    PQfinish(conn);
    b->pg_dump = pg_tool_find(b->cfg->pg_bindir, "pg_dump", b->major, err);
    if (b->pg_dump == NULL)
        return false;
    b->pg_dumpall = pg_tool_find(b->cfg->pg_bindir, "pg_dumpall", b->major, err);
    return b->pg_dumpall != NULL;
}

/* Reports progress to the plan's callback. */
static void backup_tick(void *arg)
{
    Backup *b = arg;
    ProgressSample smp = {"backup", "read", 0, 0, 0, 0, 0, false};

    if (b->plan->progress == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    smp.done = b->tables_done;
    smp.total = b->tables_total;
    smp.bytes = b->bytes_read;
    pthread_mutex_unlock(&b->lock);
    smp.bytes_total = b->est_total > 0 ? (uint64_t)b->est_total : 0;
    smp.elapsed = fmt_now() - b->started;
    b->plan->progress(b->plan->progress_arg, &smp);
}

/* Runs the workers on the pool and waits, reporting progress; then every
 * writer hands its index entries over. */
static void backup_run_workers(Backup *b, int njobs)
{
    /* -j workers copy tables; one more thread runs the client programs,
     * which mostly wait on the server: a worker must not idle behind them */
    int nthreads = njobs + 1;
    ProgressSample last = {"backup", "read", 0, 0, 0, 0, 0, true};

    b->workers = xcalloc((size_t)nthreads, sizeof(Worker));
    for (int i = 0; i < nthreads; i++)
    {
        b->workers[i].b = b;
        b->workers[i].id = i;
        b->workers[i].dumps = i == njobs;
        b->workers[i].writer = repo_writer_new(b->repo);
    }
    pool_wait(pool_start(nthreads, backup_worker, b), 250, backup_tick, b);
    if (b->plan->progress != NULL)
        b->plan->progress(b->plan->progress_arg, &last);
    for (int i = 0; i < nthreads; i++)
    {
        Error err;

        error_clear(&err);
        if (!b->stop && !repo_writer_flush(b->workers[i].writer, &err))
        {
            b->stop = true;
            b->fatal = err;
        }
        repo_writer_free(b->workers[i].writer);
    }
    free(b->workers);
    b->workers = NULL;
}

bool backup_run(const BackupPlan *a, Repo *repo, BackupResult *res, Error *err)
{
    Backup b;
    TenantList list;
    char when[40];
    char *id_out = res->id;
    json_t *doc;
    size_t nfailed = 0, ntenants = 0;
    bool ok = false;

    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.wake, NULL);
    b.cfg = a->cfg;
    b.ops = tenancy_ops(a->cfg->model);
    b.plan = a;
    b.repo = repo;
    b.started = fmt_now();
    res->id[0] = '\0';
    res->manifest = NULL;
    res->held = NULL;
    memset(&list, 0, sizeof(list));
    fmt_utc_now(when);
    if (!b.ops->backup_check(err))
        return false;
    if (!tenancy_discover(b.cfg, true, &list, err))
        return false;
    b.all = &list;
    b.refs = json_array();
    if (!backup_select(&b, &list, a, err) || !backup_prepare_tools(&b, err))
        goto done;
    for (size_t i = 0; i < b.n_units; i++)
    {
        b.units[i].owner = repo_owner_get(repo, b.units[i].owner_name, true, err);
        if (b.units[i].owner == NULL)
            goto done;
    }
    backup_sessions(&b);
    {
        Job **open = xmalloc(sizeof(Job *) * (b.n_sessions + 1));

        for (size_t i = 0; i < b.n_sessions; i++)
        {
            open[i] = job_new(JOB_OPEN, &b.sessions[i], NULL, NULL, NULL, b.sessions[i].est_bytes);
            b.est_total += b.sessions[i].est_bytes;
        }
        backup_push_front(&b, open, b.n_sessions);
        b.opens_queued = (int)b.n_sessions;
        backup_push_dump(&b, job_new(JOB_GLOBALS, NULL, NULL, NULL, NULL, 0));
        free(open);
    }
    log_info("backing up %zu part%s in %zu database%s with %d worker%s", b.n_units,
             b.n_units == 1 ? "" : "s", b.n_sessions, b.n_sessions == 1 ? "" : "s", a->jobs,
             a->jobs == 1 ? "" : "s");
    backup_run_workers(&b, a->jobs);
    if (b.stop)
    {
        *err = b.fatal;
        error_hint(err, "no snapshot was written; the repository is unchanged apart from "
                        "unreferenced data that \"coffer prune\" removes");
        goto done;
    }
    for (size_t i = 0; i < b.n_units; i++)
    {
        if (b.units[i].failed)
            nfailed++;
        else if (!b.units[i].tenant->shared)
            ntenants++;
    }
    if (ntenants == 0 && !(a->shared_only && nfailed == 0))
    {
        error_set(err, ERR_FAILURE, "backup failed for every tenant; no snapshot was written");
        error_hint(err, "see the errors above");
        goto done;
    }
    if (!repo_index_commit(repo, err))
        goto done;
    doc = backup_manifest(&b, a, fmt_now() - b.started, when);
    if (!manifest_write(repo, doc, b.refs, id_out, err))
    {
        json_decref(doc);
        goto done;
    }
    json_object_set_new(doc, "id", json_string(id_out));
    res->manifest = doc;
    res->held = json_array();
    for (size_t i = 0; i < b.n_units; i++)
        if (!b.units[i].failed)
            json_array_append_new(res->held, json_pack("{s:s, s:b}", "name", b.units[i].tenant->name,
                                                       "shared", b.units[i].tenant->shared));
    ok = true;
    if (nfailed == 0 && list.warnings > 0)
    {
        error_set(err, ERR_PARTIAL,
                  "snapshot %.12s written, but discovery reported %zu "
                  "problem%s (see warnings above)",
                  id_out, list.warnings, list.warnings == 1 ? "" : "s");
        ok = false;
    }
    if (nfailed > 0)
    {
        error_set(err, ERR_PARTIAL, "%zu part%s failed and %s left out of snapshot %.12s", nfailed,
                  nfailed == 1 ? "" : "s", nfailed == 1 ? "is" : "are", id_out);
        ok = false;
    }
done:
    backup_free(&b);
    tenancy_list_free(&list);
    return ok;
}

void backup_result_free(BackupResult *res)
{
    json_decref(res->manifest);
    json_decref(res->held);
    res->manifest = NULL;
    res->held = NULL;
}
