/*
 * copy.c - the work of one backup job: a table's COPY stream, the
 * database's schema dump or the globals, each streamed into the repository
 * under its owner's keys, never held whole in memory.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup_intern.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"

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

/* Writes to the stream only (what was read is counted elsewhere). */
static bool backup_stream_write(void *arg, const void *data, size_t len, Error *err)
{
    CopySink *k = arg;

    k->bytes += len;
    return repo_stream_write(k->stream, data, len, err);
}

/* Ends a stream that produced (or, failing, aborts it) and returns its
 * manifest entry: chunks, bytes and content hash. */
static json_t *backup_stream_finish(Worker *w, CopySink *sink, bool produced, Error *err)
{
    RepoStreamStats st;
    json_t *chunks;

    if (!produced)
    {
        repo_stream_abort(sink->stream);
        return NULL;
    }
    chunks = repo_stream_end(sink->stream, &st, err);
    if (chunks == NULL)
        return NULL;
    pthread_mutex_lock(&w->b->lock);
    w->b->bytes_added += st.bytes_stored;
    pthread_mutex_unlock(&w->b->lock);
    return json_pack("{s:o, s:I, s:s}", "chunks", chunks, "bytes", (json_int_t)sink->bytes, "hash",
                     st.hash);
}

/* Streams a client program's output (pg_dump, pg_dumpall) into the repo. */
static json_t *backup_tool_stream(Worker *w, RepoOwner *owner, char *const argv[],
                                  const char *dbname, PGconn *env_conn, Error *err)
{
    CopySink sink = {w->b, NULL, 0};

    sink.stream = repo_stream_begin(w->writer, owner, err);
    if (sink.stream == NULL)
        return NULL;
    return backup_stream_finish(w, &sink,
                                pg_tool_run(argv, env_conn, dbname, backup_sink, &sink, err), err);
}

/* ---- the schema dump, split per tenant ------------------------------------ */

/* The schema dump of a database in the schema model is split while it
 * streams in: each tenant's entries, with the setup entries every archive
 * needs (encoding, standard strings, search path), become an archive of
 * their own, stored under the tenant's key; the rest (the database, its
 * extensions, the shared schemas) stays the database's, shared. Restore
 * puts the shared archive and one tenant's back together. */
typedef struct DdlSplit
{
    PgArchiveReader *reader;
    const char **schemas; /* the tenants' schemas, n of them */
    Unit **units;
    PgArchivePart **parts;
    size_t n;
    PgArchivePart *rest;
    Backup *b;
} DdlSplit;

static bool ddl_split_entry(void *arg, const PgArchiveEntry *e, Error *err)
{
    DdlSplit *d = arg;
    size_t which = 0;

    (void)err;
    if (pg_archive_entry_is_setup(e))
    {
        for (size_t i = 0; i < d->n; i++)
            pg_archive_part_add(d->parts[i], e);
        pg_archive_part_add(d->rest, e);
    }
    else if (pg_archive_entry_owner(e, d->schemas, d->n, &which))
        pg_archive_part_add(d->parts[which], e);
    else
        pg_archive_part_add(d->rest, e);
    return true;
}

static bool ddl_split_feed(void *arg, const void *data, size_t len, Error *err)
{
    DdlSplit *d = arg;

    pthread_mutex_lock(&d->b->lock);
    d->b->bytes_read += len;
    pthread_mutex_unlock(&d->b->lock);
    return pg_archive_feed(d->reader, data, len, err);
}

/* Stores one part's archive under owner; returns its stream entry. */
static json_t *backup_store_archive(Worker *w, RepoOwner *owner, const PgArchivePart *part,
                                    const PgArchiveHeader *h, Error *err)
{
    CopySink sink = {NULL, NULL, 0};

    sink.stream = repo_stream_begin(w->writer, owner, err);
    if (sink.stream == NULL)
        return NULL;
    return backup_stream_finish(
        w, &sink, pg_archive_part_write(part, h, backup_stream_write, &sink, err), err);
}

static json_t *backup_split_ddl(Worker *w, Session *s, RepoOwner *owner, char *const argv[],
                                Error *err)
{
    DdlSplit d;
    const PgArchiveHeader *h;
    json_t *rest = NULL;
    json_t **ddls = NULL;
    size_t i;
    bool ok;

    memset(&d, 0, sizeof(d));
    d.b = w->b;
    d.schemas = xcalloc(s->n_units + 1, sizeof(char *));
    d.units = xcalloc(s->n_units + 1, sizeof(Unit *));
    d.parts = xcalloc(s->n_units + 1, sizeof(PgArchivePart *));
    for (i = 0; i < s->n_units; i++)
    {
        Unit *u = s->units[i];

        if (u->tenant->shared || u->failed)
            continue;
        d.schemas[d.n] = u->tenant->schema;
        d.units[d.n] = u;
        d.parts[d.n++] = pg_archive_part_new();
    }
    d.rest = pg_archive_part_new();
    d.reader = pg_archive_reader_new(0, ddl_split_entry, &d);
    ok = pg_tool_run(argv, s->coord, s->dbname, ddl_split_feed, &d, err) &&
         pg_archive_finish(d.reader, err);
    if (!ok)
    {
        error_prefix(err, "schema dump");
        goto done;
    }
    h = pg_archive_reader_header(d.reader);
    ddls = xcalloc(d.n + 1, sizeof(json_t *));
    for (i = 0; i < d.n && ok; i++)
    {
        ddls[i] = backup_store_archive(w, d.units[i]->owner, d.parts[i], h, err);
        ok = ddls[i] != NULL;
    }
    if (ok)
        rest = backup_store_archive(w, owner, d.rest, h, err);
    if (rest != NULL)
    {
        pthread_mutex_lock(&w->b->lock);
        for (i = 0; i < d.n; i++)
        {
            json_decref(d.units[i]->ddl);
            d.units[i]->ddl = ddls[i];
            ddls[i] = NULL;
        }
        pthread_mutex_unlock(&w->b->lock);
    }
done:
    for (i = 0; i < d.n; i++)
    {
        if (ddls != NULL)
            json_decref(ddls[i]);
        pg_archive_part_free(d.parts[i]);
    }
    free(ddls);
    pg_archive_part_free(d.rest);
    pg_archive_reader_free(d.reader);
    free(d.schemas);
    free(d.units);
    free(d.parts);
    return rest;
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
        argv[n++] = pg_dump_exact_pattern(s->exclude[i]);
    }
    argv[n] = NULL;
    /* a tenant database's dump is its own, whole; a database of tenant
     * schemas is split between them */
    if (!w->b->ops->whole_database)
        ddl = backup_split_ddl(w, s, owner, argv, err);
    else
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
bool backup_run_ddl(Worker *w, Session *s, Error *err)
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

bool backup_run_globals(Worker *w, Error *err)
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
        /* as pg_dump does: a table that row-level security would filter
         * fails its COPY instead of being backed up with rows missing */
        if (!pg_command(w->conn, "disable row security", "SET row_security = off", err))
            return false;
    }
    if (!pg_snapshot_import(w->conn, s->snapshot, err))
        return false;
    w->joined = s;
    return true;
}

bool backup_run_table(Worker *w, Job *j, Error *err)
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
        copied = pg_copy_out(w->conn, j->schema, j->table, backup_sink, &sink, &rows, err);
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

