/*
 * backup.c - "coffer backup": every selected tenant from one consistent
 * snapshot per database, streamed by N workers into the repository.
 *
 * Jobs are opened lazily per database: the first worker to reach a database
 * connects, exports a snapshot and lists its tables; then the DDL dump
 * (pg_dump --schema-only --snapshot) and one COPY job per table are queued
 * at the front, largest first, so at most about N databases are open at a
 * time. The snapshot (manifest) is written last, after the index; a tenant
 * that fails is reported and left out, the others still complete (exit 3).
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "command/command.h"
#include "command/backup.h"
#include "common/buf.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "config/config.h"
#include "pg/pg.h"
#include "repo/repo.h"
#include "tenancy/tenancy.h"

typedef struct Session Session;

/* A tenant or a shared part: what ends up as one entry of the manifest. */
typedef struct Unit
{
    const Tenant *tenant;
    Session *session;
    char *owner_name;
    RepoOwner *owner;
    json_t *tables;    /* results, in completion order */
    json_t *sequences; /* read by the session's coordinator */
    json_t *matviews;
    uint64_t rows;
    uint64_t bytes;
    bool failed;
    char error[1024];
} Unit;

/* One database being read under one exported snapshot. */
struct Session
{
    char *dbname;
    Unit **units;
    size_t n_units;
    int64_t est_bytes;
    PGconn *coord;
    char *snapshot;
    int pending; /* jobs not finished; the coordinator closes at zero */
    bool failed;
    json_t *doc; /* the manifest's "databases" entry */
    char *ddl_owner;
    char **exclude; /* schemas the DDL dump leaves out: failed or unreadable */
    size_t n_exclude;
};

typedef enum
{
    JOB_GLOBALS,
    JOB_OPEN,
    JOB_DDL,
    JOB_TABLE,
} JobKind;

typedef struct Job
{
    JobKind kind;
    Session *session;
    Unit *unit;
    char *schema;
    char *table;
    int64_t est_bytes;
    struct Job *more; /* further tables of the same unit, run by the same worker */
    struct Job *next;
} Job;

typedef struct Backup
{
    const Config *cfg;
    Repo *repo;
    char *pg_dump;
    char *pg_dumpall;
    int major;
    char server_version[32];

    pthread_mutex_t lock;
    pthread_cond_t wake; /* a job was queued or finished, or the backup stops */
    Job *queue;          /* opening databases and copying tables: the -j workers */
    Job *dumps;          /* pg_dumpall and pg_dump --schema-only: one thread of its own */
    int opens_queued;    /* JOB_OPEN jobs in the queue */
    int opens_running;   /* ... and being run: they may still queue more work */
    int jobs_running;
    bool stop; /* fatal: stop handing out jobs */
    Error fatal;

    Unit *units;
    size_t n_units;
    Session *sessions;
    size_t n_sessions;
    json_t *globals;

    /* progress, under lock */
    uint64_t tables_total;
    uint64_t tables_done;
    uint64_t bytes_read;
    uint64_t bytes_added;
    uint64_t rows;
    int64_t est_total;
} Backup;

typedef struct Worker
{
    Backup *b;
    int id;
    PGconn *conn;
    Session *joined;
    RepoWriter *writer;
    bool dumps; /* the thread that runs pg_dump and pg_dumpall */
} Worker;

/* ---- job queue ----------------------------------------------------------- */

static Job *job_new(JobKind kind, Session *s, Unit *u, const char *schema, const char *table,
                    int64_t est)
{
    Job *j = xcalloc(1, sizeof(Job));

    j->kind = kind;
    j->session = s;
    j->unit = u;
    j->schema = schema ? xstrdup(schema) : NULL;
    j->table = table ? xstrdup(table) : NULL;
    j->est_bytes = est;
    return j;
}

static void job_free(Job *j)
{
    while (j != NULL)
    {
        Job *more = j->more;

        free(j->schema);
        free(j->table);
        free(j);
        j = more;
    }
}

static uint64_t job_tables(const Job *j)
{
    uint64_t n = 0;

    for (; j != NULL; j = j->more)
        n++;
    return n;
}

/* A tenant smaller than this is one job: its tables go through one worker
 * one after the other, so they share that worker's open pack instead of
 * scattering over a pack per worker (2,000 tiny tenants would otherwise
 * make twice as many tiny packs, each with its own fsync). */
#define BACKUP_BUNDLE_BYTES (64 * 1024 * 1024)

/* Chains the table jobs of each small unit behind its largest one; returns
 * the new number of top-level jobs in jobs[0..n). */
static size_t backup_bundle(Job **jobs, size_t n)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++)
    {
        Job *head = NULL;

        if (jobs[i] == NULL)
            continue;
        if (jobs[i]->unit->tenant->bytes < 0 || jobs[i]->unit->tenant->bytes >= BACKUP_BUNDLE_BYTES)
        {
            jobs[out++] = jobs[i];
            continue;
        }
        head = jobs[i];
        for (size_t k = i + 1; k < n; k++)
        {
            if (jobs[k] == NULL || jobs[k]->unit != head->unit)
                continue;
            jobs[k]->more = head->more;
            head->more = jobs[k];
            head->est_bytes += jobs[k]->est_bytes;
            jobs[k] = NULL;
        }
        jobs[out++] = head;
    }
    return out;
}

static int job_cmp_size(const void *a, const void *b)
{
    const Job *x = *(Job *const *)a, *y = *(Job *const *)b;

    return x->est_bytes < y->est_bytes ? 1 : x->est_bytes > y->est_bytes ? -1 : 0;
}

/* Appends a dump job (schema dump or globals) to its queue; lock held. */
static void backup_push_dump(Backup *b, Job *j)
{
    Job **tail = &b->dumps;

    while (*tail != NULL)
        tail = &(*tail)->next;
    j->next = NULL;
    *tail = j;
    pthread_cond_broadcast(&b->wake);
}

/* Puts jobs at the front of the queue, largest first; lock held. */
static void backup_push_front(Backup *b, Job **jobs, size_t n)
{
    qsort(jobs, n, sizeof(Job *), job_cmp_size);
    for (size_t i = n; i-- > 0;)
    {
        jobs[i]->next = b->queue;
        b->queue = jobs[i];
    }
    pthread_cond_broadcast(&b->wake);
}

static void backup_unit_fail(Backup *b, Unit *u, const Error *err)
{
    pthread_mutex_lock(&b->lock);
    if (!u->failed)
    {
        u->failed = true;
        snprintf(u->error, sizeof(u->error), "%s", err->message);
        log_error("%s \"%s\" failed: %s", u->tenant->shared ? "shared part" : "tenant",
                  u->tenant->name, err->message);
        if (err->detail[0] != '\0')
            log_error("DETAIL: %s", err->detail);
        if (err->hint[0] != '\0')
            log_error("HINT: %s", err->hint);
    }
    pthread_mutex_unlock(&b->lock);
}

static void backup_session_fail(Backup *b, Session *s, const Error *err)
{
    s->failed = true;
    for (size_t i = 0; i < s->n_units; i++)
        backup_unit_fail(b, s->units[i], err);
}

/* A job of the session finished: the last one closes the coordinator. */
static void backup_session_done(Backup *b, Session *s)
{
    PGconn *close_conn = NULL;

    pthread_mutex_lock(&b->lock);
    if (--s->pending == 0)
    {
        close_conn = s->coord;
        s->coord = NULL;
    }
    pthread_mutex_unlock(&b->lock);
    if (close_conn != NULL)
        PQfinish(close_conn);
}

/* ---- opening a database -------------------------------------------------- */

static Unit *session_unit_for_schema(Session *s, const char *schema)
{
    for (size_t i = 0; i < s->n_units; i++)
    {
        const Tenant *t = s->units[i]->tenant;

        /* the database model: one unit owns every schema of its database */
        if (t->schema == NULL || strcmp(t->schema, schema) == 0)
            return s->units[i];
    }
    return NULL;
}

/* Rolls back to a savepoint and releases it: what ran inside it (a COPY, a
 * read of sequences) leaves no lock behind, and an error inside it does not
 * abort the snapshot's transaction. False when the connection is unusable. */
static bool backup_release(PGconn *conn, const char *savepoint)
{
    char sql[96];
    Error e;

    error_clear(&e);
    snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT %s", savepoint);
    if (!pg_command(conn, "release locks", sql, &e))
        return false;
    snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT %s", savepoint);
    return pg_command(conn, "release savepoint", sql, &e);
}

/* Leaves a schema out of the session's DDL dump (once). */
static void session_exclude(Session *s, const char *schema)
{
    for (size_t i = 0; i < s->n_exclude; i++)
        if (strcmp(s->exclude[i], schema) == 0)
            return;
    s->exclude = xrealloc(s->exclude, sizeof(char *) * (s->n_exclude + 1));
    s->exclude[s->n_exclude++] = xstrdup(schema);
}

/* A unit the session can no longer back up: it is reported and left out of
 * the snapshot; in the schema model its schema is also left out of the DDL
 * dump, whose locks would otherwise fail the whole database. */
static void backup_unit_drop(Backup *b, Session *s, Unit *u, const Error *err)
{
    bool all = true;

    backup_unit_fail(b, u, err);
    if (u->tenant->schema != NULL)
        session_exclude(s, u->tenant->schema);
    for (size_t i = 0; i < s->n_units; i++)
        all = all && s->units[i]->failed;
    if (all)
        s->failed = true;
}

/* Fails the units whose schema is missing from the snapshot: dropped (or
 * renamed) between discovery and the snapshot. Without this they would be
 * saved as empty tenants. */
static bool backup_check_schemas(Backup *b, Session *s, Error *err)
{
    static const char sql[] = "SELECT n.nspname FROM pg_catalog.pg_namespace n";
    PGresult *res = pg_query(s->coord, "list schemas", sql, 0, NULL, err);

    if (res == NULL)
        return false;
    for (size_t i = 0; i < s->n_units; i++)
    {
        Unit *u = s->units[i];
        bool found = false;
        Error e;

        if (u->tenant->schema == NULL)
            continue;
        for (int r = 0; r < PQntuples(res) && !found; r++)
            found = strcmp(PQgetvalue(res, r, 0), u->tenant->schema) == 0;
        if (found)
            continue;
        error_clear(&e);
        error_set(&e, ERR_FAILURE,
                  "schema \"%s\" no longer exists in database \"%s\": it was "
                  "dropped or renamed during the backup",
                  u->tenant->schema, s->dbname);
        error_hint(&e,
                   "it is not in this snapshot; \"coffer list --tenant %s\" shows the "
                   "earlier ones that hold it",
                   u->tenant->name);
        backup_unit_drop(b, s, u, &e);
    }
    PQclear(res);
    return true;
}

/* Finds relations the backup cannot read: tables and sequences whose
 * privileges are missing, or that were dropped since the snapshot. The
 * list comes from the snapshot; privileges and existence are looked up in
 * the current catalog (has_*_privilege is NULL for a dropped object), so
 * this also sees what changed after the snapshot was taken. Each unit with
 * such a relation fails; a schema that belongs to no unit is only left out
 * of the DDL dump (pg_dump locks every table it dumps). *found counts what
 * is new. */
static bool backup_check_relations(Backup *b, Session *s, int *found, Error *err)
{
    static const char sql[] =
        "SELECT nspname, relname, relkind, readable FROM ("
        "  SELECT n.nspname, c.relname, c.relkind,"
        "         pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND"
        "         CASE WHEN c.relkind = 'S'"
        "              THEN pg_catalog.has_sequence_privilege(c.oid, 'SELECT,USAGE')"
        "              ELSE pg_catalog.has_table_privilege(c.oid, 'SELECT') END AS readable"
        "    FROM pg_catalog.pg_class c"
        "    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        "   WHERE c.relkind IN ('r', 'p', 'S')"
        "     AND " PG_SQL_USER_SCHEMA " AND " PG_SQL_NOT_EXTENSION_MEMBER ") q"
        " WHERE readable IS NOT TRUE"
        " ORDER BY nspname, relname";
    PGresult *res = pg_query(s->coord, "check privileges", sql, 0, NULL, err);
    const char *role = PQuser(s->coord);

    *found = 0;
    if (res == NULL)
        return false;
    for (int i = 0; i < PQntuples(res); i++)
    {
        const char *nsp = PQgetvalue(res, i, 0), *rel = PQgetvalue(res, i, 1);
        const char *kind = PQgetvalue(res, i, 2)[0] == 'S' ? "sequence" : "table";
        bool gone = PQgetisnull(res, i, 3);
        Unit *u = session_unit_for_schema(s, nsp);
        Error e;

        if (u == NULL)
        {
            size_t before = s->n_exclude;

            /* another tenant's or an unlisted schema: pg_dump must not lock it */
            if (kind[0] == 't')
                session_exclude(s, nsp);
            if (s->n_exclude > before)
            {
                log_info("database \"%s\": schema \"%s\" is not backed up now and its table "
                         "\"%s\" cannot be read (%s); it is left out of the schema dump",
                         s->dbname, nsp, rel, gone ? "dropped" : "permission denied");
                (*found)++;
            }
            continue;
        }
        if (u->failed)
            continue;
        error_clear(&e);
        if (gone)
        {
            error_set(&e, ERR_FAILURE, "%s \"%s\".\"%s\" was dropped during the backup", kind, nsp,
                      rel);
            error_hint(&e, "it is not in this snapshot; back it up again once its schema "
                           "changes are done");
        }
        else
        {
            error_set(&e, ERR_FAILURE, "permission denied for %s \"%s\".\"%s\" (role \"%s\")", kind,
                      nsp, rel, role ? role : "?");
            error_hint(&e,
                       "grant the backup role USAGE on schema \"%s\" and SELECT on its "
                       "tables and sequences (GRANT SELECT ON ALL TABLES IN SCHEMA ..., "
                       "GRANT SELECT ON ALL SEQUENCES IN SCHEMA ...), or membership in "
                       "pg_read_all_data",
                       nsp);
        }
        backup_unit_drop(b, s, u, &e);
        (*found)++;
    }
    PQclear(res);
    return true;
}

/* The manifest entry of a sequence pg_sequence_last_value() returns NULL
 * for: its row's last_value and is_called, read on a connection of its own
 * (an error must not abort the coordinator's snapshot). If it cannot be
 * read, last_value stays null and restore leaves the sequence as created. */
static json_t *backup_read_sequence_row(Backup *b, Session *s, PGconn **conn, const char *nsp,
                                        const char *name)
{
    json_t *o = json_pack("{s:s, s:s, s:n}", "schema", nsp, "name", name, "last_value");
    Error err;
    char *q = NULL, *sql;
    PGresult *res;

    error_clear(&err);
    if (*conn == NULL)
        *conn = pg_connect(b->cfg->pg_conninfo, s->dbname, &err);
    if (*conn != NULL)
        q = pg_quote_qualified(*conn, nsp, name, &err);
    if (q == NULL)
        return o;
    sql = xasprintf("SELECT last_value::text, is_called FROM %s", q);
    res = pg_query(*conn, "read sequence", sql, 0, NULL, &err);
    if (res != NULL && PQntuples(res) == 1)
    {
        json_object_set_new(o, "last_value", json_string(PQgetvalue(res, 0, 0)));
        json_object_set_new(o, "is_called", json_boolean(PQgetvalue(res, 0, 1)[0] == 't'));
    }
    PQclear(res);
    free(sql);
    free(q);
    return o;
}

/* Reads the sequence values of the session's units. Which sequences exist
 * comes from the snapshot; their values (not transactional, so no snapshot
 * applies to them) are read over a short connection of their own:
 * pg_sequence_last_value keeps its lock until the end of the transaction,
 * and in the coordinator's that would be the end of the backup, blocking
 * every DROP of a tenant until then. A sequence dropped while the read
 * waited for its lock fails the read once; the retry skips it (its
 * privilege test is NULL then) and its part fails. */
static bool backup_read_sequences(Backup *b, Session *s, Error *err)
{
    static const char list_sql[] =
        "SELECT n.nspname, c.relname, c.oid"
        "  FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'S' AND NOT pg_catalog.pg_is_other_temp_schema(n.oid)"
        "   AND ($1::json IS NULL"
        "        OR n.nspname IN (SELECT pg_catalog.json_array_elements_text($1::json)))"
        " ORDER BY c.oid";
    static const char value_sql[] =
        "SELECT pg_catalog.has_sequence_privilege(x, 'SELECT,USAGE'),"
        "       CASE WHEN pg_catalog.has_sequence_privilege(x, 'SELECT,USAGE')"
        "            THEN pg_catalog.pg_sequence_last_value(x)::text END"
        "  FROM unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS s(x, i) ORDER BY i";
    json_t *schemas = json_array();
    const char *params[1];
    char *text;
    PGresult *list, *vals = NULL;
    PGconn *conn, *seq_conn = NULL;
    Buf oids;

    /* only the sequences of the parts being backed up (all of them in the
     * database model), so another tenant's DDL cannot get in the way */
    for (size_t i = 0; i < s->n_units && schemas != NULL; i++)
    {
        if (s->units[i]->tenant->schema == NULL)
        {
            json_decref(schemas);
            schemas = NULL;
        }
        else if (!s->units[i]->failed)
            json_array_append_new(schemas, json_string(s->units[i]->tenant->schema));
    }
    text = schemas ? json_dumps(schemas, JSON_COMPACT) : NULL;
    json_decref(schemas);
    params[0] = text;
    list = pg_query(s->coord, "list sequences", list_sql, 1, params, err);
    free(text);
    if (list == NULL)
        return false;
    if (PQntuples(list) == 0)
    {
        PQclear(list);
        return true;
    }
    buf_init(&oids);
    buf_append_str(&oids, "{");
    for (int i = 0; i < PQntuples(list); i++)
        buf_printf(&oids, "%s%s", i > 0 ? "," : "", PQgetvalue(list, i, 2));
    buf_append_str(&oids, "}");
    params[0] = buf_cstr(&oids);
    conn = pg_connect(b->cfg->pg_conninfo, s->dbname, err);
    for (int attempt = 0; conn != NULL && vals == NULL; attempt++)
    {
        vals = pg_query(conn, "read sequences", value_sql, 1, params, err);
        if (vals == NULL && (attempt == 2 || PQstatus(conn) != CONNECTION_OK))
            break;
        if (vals == NULL)
        {
            log_info("database \"%s\": reading sequences again (%s)", s->dbname, err->message);
            error_clear(err);
        }
    }
    PQfinish(conn);
    buf_free(&oids);
    if (vals == NULL || PQntuples(vals) != PQntuples(list))
    {
        if (vals != NULL)
            error_set(err, ERR_FAILURE, "read sequences: expected %d rows, got %d", PQntuples(list),
                      PQntuples(vals));
        PQclear(vals);
        PQclear(list);
        return false;
    }
    for (int i = 0; i < PQntuples(list); i++)
    {
        const char *nsp = PQgetvalue(list, i, 0), *name = PQgetvalue(list, i, 1);
        Unit *u = session_unit_for_schema(s, nsp);

        if (u == NULL || u->failed)
            continue;
        if (PQgetisnull(vals, i, 0) || PQgetvalue(vals, i, 0)[0] != 't')
        {
            /* a value we cannot read must not be saved as "never called" */
            Error e;

            error_clear(&e);
            if (PQgetisnull(vals, i, 0))
                error_set(&e, ERR_FAILURE, "sequence \"%s\".\"%s\" was dropped during the backup",
                          nsp, name);
            else
            {
                error_set(&e, ERR_FAILURE, "permission denied for sequence \"%s\".\"%s\"", nsp,
                          name);
                error_hint(&e,
                           "grant the backup role SELECT on the sequences of schema \"%s\" "
                           "(GRANT SELECT ON ALL SEQUENCES IN SCHEMA ...), or membership in "
                           "pg_read_all_data",
                           nsp);
            }
            backup_unit_drop(b, s, u, &e);
            continue;
        }
        if (PQgetisnull(vals, i, 1))
        {
            /* never called, or reset with setval(..., false): only the
             * sequence's own row tells its value and is_called */
            json_t *seq = backup_read_sequence_row(b, s, &seq_conn, nsp, name);

            json_array_append_new(u->sequences, seq);
            continue;
        }
        json_array_append_new(u->sequences,
                              json_pack("{s:s, s:s, s:s, s:b}", "schema", nsp, "name", name,
                                        "last_value", PQgetvalue(vals, i, 1), "is_called", 1));
    }
    PQfinish(seq_conn);
    PQclear(vals);
    PQclear(list);
    return true;
}

/* Reads, inside the snapshot, what the manifest needs besides data:
 * tables to copy, sequence values, populated materialized views,
 * extensions and database properties. Queues the DDL and table jobs. */
static bool backup_open(Backup *b, Session *s, Error *err)
{
    /* user tables with data, largest first (partitions are their own tables) */
    static const char tables_sql[] =
        "SELECT n.nspname, c.relname, pg_catalog.pg_relation_size(c.oid)"
        "  FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND " PG_SQL_USER_SCHEMA " AND " PG_SQL_NOT_EXTENSION_MEMBER;
    /* materialized views that hold data, in creation order */
    static const char mv_sql[] = "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"
                                 "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                                 " WHERE c.relkind = 'm' AND c.relispopulated ORDER BY c.oid";
    /* extensions, which a scratch or new database must create first */
    static const char ext_sql[] = "SELECT e.extname, n.nspname FROM pg_catalog.pg_extension e"
                                  "  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
                                  " ORDER BY e.oid";
    /* database properties for re-creating the database */
    static const char db_sql[] =
        "SELECT pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,"
        "       pg_catalog.pg_get_userbyid(d.datdba),"
        "       (SELECT array_to_json(s.setconfig)::text FROM pg_catalog.pg_db_role_setting s"
        "         WHERE s.setdatabase = d.oid AND s.setrole = 0),"
        "       pg_catalog.shobj_description(d.oid, 'pg_database'),"
        "       CASE WHEN d.datacl IS NOT NULL THEN coalesce((SELECT pg_catalog.json_agg("
        "           pg_catalog.json_build_object('grantee', CASE WHEN a.grantee = 0 THEN NULL"
        "               ELSE pg_catalog.pg_get_userbyid(a.grantee) END,"
        "             'privilege', a.privilege_type, 'grantable', a.is_grantable))"
        "         FROM pg_catalog.aclexplode(d.datacl) a), '[]')::text END,"
        "       coalesce((SELECT pg_catalog.json_agg(pg_catalog.json_build_object("
        "             'role', pg_catalog.pg_get_userbyid(s.setrole), 'settings', s.setconfig))"
        "         FROM pg_catalog.pg_db_role_setting s"
        "        WHERE s.setdatabase = d.oid AND s.setrole <> 0), '[]')::text"
        "  FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()";
    PGresult *res;
    Job **jobs = NULL;
    size_t n = 0;
    json_t *exts = json_array();

    s->coord = pg_connect(b->cfg->pg_conninfo, s->dbname, err);
    if (s->coord == NULL)
        return false;
    s->snapshot = pg_snapshot_export(s->coord, err);
    if (s->snapshot == NULL)
        return false;
    {
        int found;

        if (!backup_check_schemas(b, s, err) || !backup_check_relations(b, s, &found, err))
            return false;
    }
    if (s->failed)
    {
        /* every unit of the database failed and was reported: nothing to queue */
        PQfinish(s->coord);
        s->coord = NULL;
        return true;
    }
    res = pg_query(s->coord, "list tables", tables_sql, 0, NULL, err);
    if (res == NULL)
        return false;
    jobs = xmalloc(sizeof(Job *) * ((size_t)PQntuples(res) + 1));
    for (int i = 0; i < PQntuples(res); i++)
    {
        Unit *u = session_unit_for_schema(s, PQgetvalue(res, i, 0));

        if (u != NULL && !u->failed)
            jobs[n++] = job_new(JOB_TABLE, s, u, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                                strtoll(PQgetvalue(res, i, 2), NULL, 10));
    }
    PQclear(res);

    if (!backup_read_sequences(b, s, err))
        goto fail;

    res = pg_query(s->coord, "list materialized views", mv_sql, 0, NULL, err);
    if (res == NULL)
        goto fail;
    for (int i = 0; i < PQntuples(res); i++)
    {
        Unit *u = session_unit_for_schema(s, PQgetvalue(res, i, 0));

        if (u != NULL)
            json_array_append_new(u->matviews,
                                  json_pack("{s:s, s:s}", "schema", PQgetvalue(res, i, 0), "name",
                                            PQgetvalue(res, i, 1)));
    }
    PQclear(res);

    res = pg_query(s->coord, "list extensions", ext_sql, 0, NULL, err);
    if (res == NULL)
        goto fail;
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(exts, json_pack("{s:s, s:s}", "name", PQgetvalue(res, i, 0), "schema",
                                              PQgetvalue(res, i, 1)));
    PQclear(res);

    res = pg_query(s->coord, "read database properties", db_sql, 0, NULL, err);
    if (res == NULL)
        goto fail;
    s->doc = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s}", "name", s->dbname, "owner",
                       s->ddl_owner, "extensions", exts, "encoding", PQgetvalue(res, 0, 0),
                       "collate", PQgetvalue(res, 0, 1), "ctype", PQgetvalue(res, 0, 2), "dba",
                       PQgetvalue(res, 0, 3));
    exts = NULL;
    if (!PQgetisnull(res, 0, 4))
        json_object_set_new(s->doc, "settings", json_loads(PQgetvalue(res, 0, 4), 0, NULL));
    /* comment, grants (null: the defaults) and per-role settings, for a
     * database restored under another name */
    json_object_set_new(s->doc, "comment",
                        PQgetisnull(res, 0, 5) ? json_null() : json_string(PQgetvalue(res, 0, 5)));
    json_object_set_new(s->doc, "acl",
                        PQgetisnull(res, 0, 6) ? json_null()
                                               : json_loads(PQgetvalue(res, 0, 6), 0, NULL));
    json_object_set_new(s->doc, "role_settings", json_loads(PQgetvalue(res, 0, 7), 0, NULL));
    PQclear(res);

    pthread_mutex_lock(&b->lock);
    b->tables_total += n;
    pthread_mutex_unlock(&b->lock);
    n = backup_bundle(jobs, n);
    pthread_mutex_lock(&b->lock);
    s->pending += (int)n + 1;
    backup_push_front(b, jobs, n);
    backup_push_dump(b, job_new(JOB_DDL, s, NULL, NULL, NULL, 0));
    pthread_mutex_unlock(&b->lock);
    free(jobs);
    return true;
fail:
    json_decref(exts);
    for (size_t i = 0; i < n; i++)
        job_free(jobs[i]);
    free(jobs);
    return false;
}

/* ---- running jobs -------------------------------------------------------- */

typedef struct CopySink
{
    Backup *b;
    RepoStream *stream;
    uint64_t bytes;
} CopySink;

static bool backup_sink(void *arg, const void *data, size_t len, Error *err)
{
    CopySink *k = arg;

    k->bytes += len;
    pthread_mutex_lock(&k->b->lock);
    k->b->bytes_read += len;
    pthread_mutex_unlock(&k->b->lock);
    return repo_stream_write(k->stream, data, len, err);
}

static bool backup_copy_sink(void *arg, const char *data, size_t len, Error *err)
{
    return backup_sink(arg, data, len, err);
}

/* Streams a client program's output (pg_dump, pg_dumpall) into the repo. */
static json_t *backup_tool_stream(Worker *w, RepoOwner *owner, char *const argv[],
                                  const char *dbname, PGconn *env_conn, Error *err)
{
    CopySink sink = {w->b, NULL, 0};
    RepoStreamStats st;
    json_t *chunks;

    sink.stream = repo_stream_begin(w->writer, owner, err);
    if (sink.stream == NULL)
        return NULL;
    if (!pg_tool_run(argv, env_conn, dbname, backup_sink, &sink, err))
    {
        repo_stream_abort(sink.stream);
        return NULL;
    }
    chunks = repo_stream_end(sink.stream, &st, err);
    if (chunks == NULL)
        return NULL;
    pthread_mutex_lock(&w->b->lock);
    w->b->bytes_added += st.bytes_stored;
    pthread_mutex_unlock(&w->b->lock);
    return json_pack("{s:o, s:I, s:s}", "chunks", chunks, "bytes", (json_int_t)sink.bytes, "hash",
                     st.hash);
}

/* A pg_dump pattern that matches exactly this name: inside double quotes
 * nothing is special, and a double quote is written twice. */
static char *backup_exact_pattern(const char *name)
{
    size_t n = 0;
    char *out = xmalloc(strlen(name) * 2 + 3);

    out[n++] = '"';
    for (const char *p = name; *p != '\0'; p++)
    {
        if (*p == '"')
            out[n++] = '"';
        out[n++] = *p;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

/* Runs the database's schema dump once, leaving out the excluded schemas. */
static json_t *backup_dump_ddl(Worker *w, Session *s, RepoOwner *owner, Error *err)
{
    size_t n = 0;
    char **argv = xcalloc(s->n_exclude * 2 + 8, sizeof(char *));
    char *snap_opt = xasprintf("--snapshot=%s", s->snapshot);
    size_t first_pattern;
    json_t *ddl;

    argv[n++] = w->b->pg_dump;
    argv[n++] = "--schema-only";
    argv[n++] = "--create";
    argv[n++] = "--format=custom";
    argv[n++] = "--compress=0";
    argv[n++] = snap_opt;
    first_pattern = n;
    for (size_t i = 0; i < s->n_exclude; i++)
    {
        argv[n++] = "--exclude-schema";
        argv[n++] = backup_exact_pattern(s->exclude[i]);
    }
    argv[n] = NULL;
    ddl = backup_tool_stream(w, owner, argv, s->dbname, s->coord, err);
    for (size_t i = first_pattern + 1; i < n; i += 2)
        free(argv[i]);
    free(argv);
    free(snap_opt);
    return ddl;
}

/* The schema dump of one database. pg_dump locks every table it dumps; a
 * table dropped since the snapshot (or whose SELECT was revoked) fails it.
 * Then the parts that hold such tables are failed, and the dump runs again
 * without their schemas, so one tenant does not take the others down. */
static bool backup_run_ddl(Worker *w, Session *s, Error *err)
{
    RepoOwner *owner = repo_owner_get(w->b->repo, s->ddl_owner, true, err);
    json_t *ddl = NULL;

    if (owner == NULL)
        return false;
    for (int attempt = 0; ddl == NULL; attempt++)
    {
        Error e2;
        int found = 0;

        ddl = backup_dump_ddl(w, s, owner, err);
        if (ddl != NULL || s->failed)
            break;
        error_clear(&e2);
        if (attempt == 2 || !backup_check_relations(w->b, s, &found, &e2) || found == 0)
            break;
        if (s->failed)
            return false; /* every unit failed and was reported */
        log_info("database \"%s\": running the schema dump again without the failed part%s",
                 s->dbname, found == 1 ? "" : "s");
        error_clear(err);
    }
    if (ddl == NULL)
        return false;
    json_object_set_new(s->doc, "ddl", ddl);
    return true;
}

static bool backup_run_globals(Worker *w, Error *err)
{
    char *argv[] = {w->b->pg_dumpall, "--globals-only", "--no-role-passwords", NULL};
    RepoOwner *owner = repo_owner_get(w->b->repo, "shared", true, err);
    PGconn *conn;
    json_t *g;

    if (owner == NULL)
        return false;
    conn = pg_connect(w->b->cfg->pg_conninfo, NULL, err);
    if (conn == NULL)
        return false;
    g = backup_tool_stream(w, owner, argv, NULL, conn, err);
    PQfinish(conn);
    if (g == NULL)
        return false;
    w->b->globals = g;
    return true;
}

/* Makes the worker's connection see the session's snapshot. */
static bool backup_join(Worker *w, Session *s, Error *err)
{
    if (w->joined == s && w->conn != NULL && PQstatus(w->conn) == CONNECTION_OK &&
        PQtransactionStatus(w->conn) == PQTRANS_INTRANS)
        return true;
    if (w->conn != NULL &&
        (PQstatus(w->conn) != CONNECTION_OK || strcmp(PQdb(w->conn), s->dbname) != 0))
    {
        PQfinish(w->conn);
        w->conn = NULL;
    }
    w->joined = NULL;
    if (w->conn == NULL)
    {
        w->conn = pg_connect(w->b->cfg->pg_conninfo, s->dbname, err);
        if (w->conn == NULL)
            return false;
    }
    if (!pg_snapshot_import(w->conn, s->snapshot, err))
        return false;
    w->joined = s;
    return true;
}

static bool backup_run_table(Worker *w, Job *j, Error *err)
{
    Backup *b = w->b;
    CopySink sink = {b, NULL, 0};
    RepoStreamStats st;
    uint64_t rows = 0;
    json_t *chunks;
    bool copied = false;

    if (!backup_join(w, j->session, err))
        return false;
    /* the COPY runs in a savepoint that is rolled back afterwards: that
     * releases the table's lock at once, so a DROP or ALTER of a table
     * already copied neither waits for the end of the backup nor, waiting,
     * blocks the schema dump into a deadlock the server cannot see */
    if (!pg_command(w->conn, "savepoint", "SAVEPOINT coffer_copy", err))
    {
        w->joined = NULL;
        return false;
    }
    sink.stream = repo_stream_begin(w->writer, j->unit->owner, err);
    if (sink.stream != NULL)
    {
        copied = pg_copy_out(w->conn, j->schema, j->table, backup_copy_sink, &sink, &rows, err);
        if (!copied)
            repo_stream_abort(sink.stream);
    }
    if (!backup_release(w->conn, "coffer_copy"))
        w->joined = NULL; /* join again for the next job */
    if (!copied)
        return false;
    chunks = repo_stream_end(sink.stream, &st, err);
    if (chunks == NULL)
        return false;
    pthread_mutex_lock(&b->lock);
    json_array_append_new(j->unit->tables,
                          json_pack("{s:s, s:s, s:I, s:I, s:s, s:o}", "schema", j->schema, "name",
                                    j->table, "rows", (json_int_t)rows, "bytes",
                                    (json_int_t)sink.bytes, "hash", st.hash, "chunks", chunks));
    j->unit->rows += rows;
    j->unit->bytes += sink.bytes;
    b->rows += rows;
    b->bytes_added += st.bytes_stored;
    pthread_mutex_unlock(&b->lock);
    return true;
}

/* The next job for a -j worker (dumps false) or for the dump thread. An
 * empty queue ends a worker only when no database is still being opened:
 * opening one queues its tables (and its schema dump). */
static Job *backup_next_job(Backup *b, bool dumps)
{
    Job *j = NULL;

    pthread_mutex_lock(&b->lock);
    while (!b->stop)
    {
        Job **q = dumps ? &b->dumps : &b->queue;

        /* with no table left to copy, a worker helps with the schema dumps
         * before opening another database: every open database holds a
         * connection until its dump is done, and opening them faster than
         * they are dumped runs the server out of connections */
        if (!dumps && b->dumps != NULL && (b->queue == NULL || b->queue->kind == JOB_OPEN))
            q = &b->dumps;
        if (*q == NULL)
        {
            struct timespec until;
            bool more = dumps ? b->opens_queued > 0 || b->opens_running > 0
                              : b->opens_running > 0;

            if (!more)
                break;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 100 * 1000 * 1000;
            if (until.tv_nsec >= 1000000000L)
            {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&b->wake, &b->lock, &until);
            continue;
        }
        j = *q;
        *q = j->next;
        /* skip work for units or databases that already failed */
        if ((j->kind == JOB_TABLE && j->unit->failed) || (j->kind == JOB_DDL && j->session->failed))
        {
            Session *s = j->session;

            if (j->kind == JOB_TABLE)
                b->tables_done += job_tables(j);
            job_free(j);
            j = NULL;
            pthread_mutex_unlock(&b->lock);
            backup_session_done(b, s);
            pthread_mutex_lock(&b->lock);
            continue;
        }
        if (j->kind == JOB_OPEN)
        {
            b->opens_queued--;
            b->opens_running++;
        }
        break;
    }
    if (j != NULL)
        b->jobs_running++;
    pthread_mutex_unlock(&b->lock);
    return j;
}

/* After a job failed: if the server itself is gone (or restarting after a
 * crash), this is not one tenant's failure. Every part still running is
 * cut off and what finished may predate a crash the server recovers from:
 * the backup stops without a snapshot. Returns true when it stopped it. */
static bool backup_server_lost(Backup *b, const Error *cause)
{
    Error probe;
    PGconn *conn;

    error_clear(&probe);
    conn = pg_connect(b->cfg->pg_conninfo, NULL, &probe);
    if (conn != NULL)
    {
        PQfinish(conn);
        return false;
    }
    pthread_mutex_lock(&b->lock);
    if (!b->stop)
    {
        b->stop = true;
        error_clear(&b->fatal);
        error_set(&b->fatal, ERR_FAILURE, "lost the server during the backup: %s", cause->message);
        error_detail(&b->fatal, "%s", probe.message);
    }
    pthread_mutex_unlock(&b->lock);
    return true;
}

static void *backup_worker(void *arg)
{
    Worker *w = arg;
    Backup *b = w->b;
    Job *j;

    while ((j = backup_next_job(b, w->dumps)) != NULL)
    {
        Error err;
        bool ok = true;

        error_clear(&err);
        switch (j->kind)
        {
        case JOB_GLOBALS:
            ok = backup_run_globals(w, &err);
            if (!ok)
            {
                pthread_mutex_lock(&b->lock);
                b->stop = true;
                b->fatal = err;
                error_prefix(&b->fatal, "backing up roles and tablespaces");
                pthread_mutex_unlock(&b->lock);
            }
            break;
        case JOB_OPEN:
            if (!backup_open(b, j->session, &err))
            {
                error_prefix(&err, "database \"%s\"", j->session->dbname);
                if (!backup_server_lost(b, &err))
                    backup_session_fail(b, j->session, &err);
            }
            break;
        case JOB_DDL:
            if (!backup_run_ddl(w, j->session, &err))
            {
                error_prefix(&err, "schema dump of database \"%s\"", j->session->dbname);
                if (!backup_server_lost(b, &err))
                    backup_session_fail(b, j->session, &err);
            }
            backup_session_done(b, j->session);
            break;
        case JOB_TABLE:
            for (Job *t = j; t != NULL; t = t->more)
            {
                /* a bundle stops at its unit's first failure */
                if (!j->unit->failed && !b->stop && !backup_run_table(w, t, &err) &&
                    !backup_server_lost(b, &err))
                    backup_unit_fail(b, t->unit, &err);
                error_clear(&err);
                pthread_mutex_lock(&b->lock);
                b->tables_done++;
                pthread_mutex_unlock(&b->lock);
            }
            backup_session_done(b, j->session);
            break;
        }
        pthread_mutex_lock(&b->lock);
        b->jobs_running--;
        if (j->kind == JOB_OPEN)
            b->opens_running--;
        pthread_cond_broadcast(&b->wake);
        pthread_mutex_unlock(&b->lock);
        job_free(j);
    }
    if (w->conn != NULL)
        PQfinish(w->conn);
    w->conn = NULL;
    return NULL;
}

/* ---- progress ------------------------------------------------------------ */

static void backup_progress(Backup *b, double started, bool final)
{
    uint64_t done, total, bytes;
    double elapsed = fmt_now() - started;
    char sbytes[32], srate[32], seta[32];
    double rate;

    pthread_mutex_lock(&b->lock);
    done = b->tables_done;
    total = b->tables_total;
    bytes = b->bytes_read;
    pthread_mutex_unlock(&b->lock);
    rate = elapsed > 0 ? (double)bytes / elapsed : 0;
    fmt_bytes(bytes, sbytes, sizeof(sbytes));
    fmt_bytes((uint64_t)rate, srate, sizeof(srate));
    if (b->est_total > 0 && rate > 0 && (int64_t)bytes < b->est_total)
        fmt_seconds((double)(b->est_total - (int64_t)bytes) / rate, seta, sizeof(seta));
    else
        snprintf(seta, sizeof(seta), "-");
    if (final)
        log_status("%s", "");
    else if (log_is_tty())
        log_status("backup: %llu/%llu tables, %s, %s/s, ETA %s", (unsigned long long)done,
                   (unsigned long long)total, sbytes, srate, seta);
    else
        log_info("progress: %llu/%llu tables, %s read, %s/s", (unsigned long long)done,
                 (unsigned long long)total, sbytes, srate);
}

/* ---- the command --------------------------------------------------------- */

enum
{
    OPT_TENANT = CLI_OPT_FIRST_COMMAND,
    OPT_CLASS,
    OPT_TAG,
};

static bool backup_option(int opt, const char *arg, void *state, Error *err)
{
    BackupArgs *a = state;

    switch (opt)
    {
    case OPT_TENANT:
        a->tenants = xrealloc(a->tenants, sizeof(char *) * (a->n_tenants + 1));
        a->tenants[a->n_tenants++] = (char *)arg;
        return true;
    case OPT_CLASS:
        a->class = (char *)arg;
        return true;
    case OPT_TAG:
        json_array_append_new(a->tags, json_string(arg));
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

/* Picks the units to back up: selected tenants (or all), plus every shared part. */
static bool backup_select(Backup *b, TenantList *list, BackupArgs *a, Error *err)
{
    b->units = xcalloc(list->count, sizeof(Unit));
    for (size_t i = 0; i < a->n_tenants; i++)
    {
        Tenant *t = tenancy_find(list, a->tenants[i]);

        if (t != NULL && t->shared)
        {
            error_set(err, ERR_FAILURE, "\"%s\" is a shared %s, not a tenant: nothing to back up",
                      a->tenants[i], t->schema != NULL ? "schema" : "database");
            return error_hint(err, "shared parts are saved with every backup; name a tenant with "
                                   "--tenant (\"coffer tenants\" lists them)");
        }
        if (t == NULL)
        {
            error_set(err, ERR_FAILURE, "unknown tenant \"%s\"", a->tenants[i]);
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
            take = a->n_tenants == 0;
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
        if (!b->units[i].tenant->shared)
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
            /* the database model: a tenant's database DDL is its own */
            s->ddl_owner = xstrdup(b->cfg->model == TENANCY_DATABASE ? u->owner_name : "shared");
        }
        s->units[s->n_units++] = u;
        u->session = s;
        if (u->tenant->bytes > 0)
            s->est_bytes += u->tenant->bytes;
    }
}

static json_t *backup_manifest(Backup *b, BackupArgs *a, double seconds, const char *started)
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
    json_object_set_new(doc, "tags", json_incref(a->tags));
    json_object_set_new(doc, "globals", json_incref(b->globals));
    for (size_t i = 0; i < b->n_sessions; i++)
        if (!b->sessions[i].failed && b->sessions[i].doc != NULL)
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
        json_array_append_new(
            tenants,
            json_pack("{s:s, s:s, s:b, s:s, s:o, s:s, s:I, s:I, s:O, s:O, s:O}", "name", t->name,
                      "class", t->class, "shared", t->shared, "database", t->database, "schema",
                      t->schema ? json_string(t->schema) : json_null(), "owner", u->owner_name,
                      "rows", (json_int_t)u->rows, "bytes", (json_int_t)u->bytes, "tables",
                      u->tables, "sequences", u->sequences, "matviews", u->matviews));
        if (!t->shared)
            ntenants++;
        ntables += json_array_size(u->tables);
        nrows += u->rows;
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
    }
    free(b->units);
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

/* Runs the workers and waits, showing progress. */
static void backup_run_workers(Backup *b, int njobs, double started)
{
    /* -j workers copy tables; one more thread runs the client programs,
     * which mostly wait on the server: a worker must not idle behind them */
    int nthreads = njobs + 1;
    pthread_t *threads = xcalloc((size_t)nthreads, sizeof(pthread_t));
    Worker *workers = xcalloc((size_t)nthreads, sizeof(Worker));
    double last = fmt_now();

    for (int i = 0; i < nthreads; i++)
    {
        workers[i].b = b;
        workers[i].id = i;
        workers[i].dumps = i == njobs;
        workers[i].writer = repo_writer_new(b->repo);
        pthread_create(&threads[i], NULL, backup_worker, &workers[i]);
    }
    for (;;)
    {
        bool busy;
        struct timespec ts = {0, 200 * 1000 * 1000};

        pthread_mutex_lock(&b->lock);
        busy = ((b->queue != NULL || b->dumps != NULL) && !b->stop) || b->jobs_running > 0;
        pthread_mutex_unlock(&b->lock);
        if (!busy)
            break;
        nanosleep(&ts, NULL);
        if (log_is_tty() ? fmt_now() - last > 0.25 : fmt_now() - last > 30)
        {
            backup_progress(b, started, false);
            last = fmt_now();
        }
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    backup_progress(b, started, true);
    for (int i = 0; i < nthreads; i++)
    {
        Error err;

        error_clear(&err);
        if (!b->stop && !repo_writer_flush(workers[i].writer, &err))
        {
            b->stop = true;
            b->fatal = err;
        }
        repo_writer_free(workers[i].writer);
    }
    free(threads);
    free(workers);
}

static void backup_print(const json_t *doc, const char *id, bool as_json)
{
    json_t *st = json_object_get(doc, "stats");

    if (as_json)
    {
        json_t *out = json_pack(
            "{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "id", id, "tenants",
            json_object_get(st, "tenants"), "tables", json_object_get(st, "tables"), "rows",
            json_object_get(st, "rows"), "bytes_read", json_object_get(st, "bytes_read"),
            "bytes_added", json_object_get(st, "bytes_added"), "seconds",
            json_object_get(st, "seconds"), "failed", json_object_get(doc, "failed"));

        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(out);
        return;
    }
    {
        char rd[32], add[32], secs[32];

        fmt_bytes((uint64_t)json_integer_value(json_object_get(st, "bytes_read")), rd, sizeof(rd));
        fmt_bytes((uint64_t)json_integer_value(json_object_get(st, "bytes_added")), add,
                  sizeof(add));
        fmt_seconds(json_real_value(json_object_get(st, "seconds")), secs, sizeof(secs));
        printf("snapshot %s saved\n", id);
        printf("  %lld tenants, %lld tables, %lld rows, %s read, %s added, %s\n",
               (long long)json_integer_value(json_object_get(st, "tenants")),
               (long long)json_integer_value(json_object_get(st, "tables")),
               (long long)json_integer_value(json_object_get(st, "rows")), rd, add, secs);
    }
}

bool backup_execute(CliContext *ctx, Repo *repo, BackupArgs *a, char id_out[65], json_t **doc_out,
                    Error *err)
{
    Backup b;
    TenantList list;
    double started = fmt_now();
    char when[40];
    json_t *doc;
    size_t nfailed = 0, ntenants = 0;
    bool ok = false;

    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.wake, NULL);
    b.cfg = ctx->config;
    b.repo = repo;
    fmt_utc_now(when);
    if (b.cfg->model == TENANCY_ROW)
    {
        error_set(err, ERR_USAGE, "backup does not support the row model yet");
        return error_hint(err, "use the schema or database model for now");
    }
    if (!tenancy_discover(b.cfg, true, &list, err))
        return false;
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
    backup_run_workers(&b, a->jobs, started);
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
    if (ntenants == 0)
    {
        error_set(err, ERR_FAILURE, "backup failed for every tenant; no snapshot was written");
        error_hint(err, "see the errors above");
        goto done;
    }
    if (!repo_index_commit(repo, err))
        goto done;
    doc = backup_manifest(&b, a, fmt_now() - started, when);
    if (!repo_snapshot_write(repo, doc, id_out, err))
    {
        json_decref(doc);
        goto done;
    }
    if (doc_out != NULL)
        *doc_out = doc;
    else
        json_decref(doc);
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

bool cmd_backup(CliContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {{"tenant", required_argument, NULL, OPT_TENANT},
                                             {"class", required_argument, NULL, OPT_CLASS},
                                             {"tag", required_argument, NULL, OPT_TAG},
                                             {"jobs", required_argument, NULL, 'j'},
                                             CLI_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    BackupArgs a = {NULL, 0, NULL, json_array(), 2};
    bool exit_now;
    Repo *repo = NULL;
    RepoLock *lock = NULL;
    json_t *doc = NULL;
    char id[65];
    int first;
    bool ok = false;

    first = cli_parse(ctx, "backup", argc, argv, "j:", longopts, backup_option, &a, &exit_now, err);
    if (first < 0)
        goto out;
    if (first < argc)
    {
        error_set(err, ERR_USAGE, "backup: unexpected argument \"%s\"", argv[first]);
        error_hint(err, "name tenants with --tenant NAME");
        goto out;
    }
    if (cli_config(ctx, err) == NULL)
        goto out;
    repo = repo_open_from_config(ctx->config, NULL, err);
    if (repo == NULL)
        goto out;
    lock = repo_lock(repo, REPO_LOCK_SHARED, "backup", err);
    if (lock == NULL)
        goto out;
    ok = backup_execute(ctx, repo, &a, id, &doc, err);
    if (doc != NULL)
        backup_print(doc, id, ctx->json);
out:
    if (lock != NULL)
        repo_unlock(lock);
    if (repo != NULL)
        repo_close(repo);
    json_decref(doc);
    json_decref(a.tags);
    free(a.tenants);
    return ok;
}
