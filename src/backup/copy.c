/*
 * copy.c - the work of one backup job: a table's COPY stream or the
 * globals, streamed into the repository under its owner's keys, never held
 * whole in memory; and the streams the schema dumps (ddl.c) store.
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
json_t *backup_tool_stream(Worker *w, RepoOwner *owner, char *const argv[],
                                  const char *dbname, PGconn *env_conn, Error *err)
{
    CopySink sink = {w->b, NULL, 0};

    sink.stream = repo_stream_begin(w->writer, owner, err);
    if (sink.stream == NULL)
        return NULL;
    return backup_stream_finish(w, &sink,
                                pg_tool_run(argv, env_conn, dbname, backup_sink, &sink, err), err);
}

/* Stores one part's archive under owner; returns its stream entry. */
json_t *backup_store_archive(Worker *w, RepoOwner *owner, const PgArchivePart *part,
                                    const PgArchiveHeader *h, Error *err)
{
    CopySink sink = {NULL, NULL, 0};

    sink.stream = repo_stream_begin(w->writer, owner, err);
    if (sink.stream == NULL)
        return NULL;
    return backup_stream_finish(
        w, &sink, pg_archive_part_write(part, h, backup_stream_write, &sink, err), err);
}

/*
 * pg_dumpall of recent minor releases opens its script with "\restrict KEY"
 * under a random key, so that two dumps of the same roles differ and would
 * be stored twice. A key derived from the shared owner's keys is the same
 * every time, and no more guessable by the server than a random one.
 */
bool backup_run_globals(Worker *w, Error *err)
{
    char key[65], restrict_opt[96];
    char *argv[] = {w->b->pg_dumpall, "--globals-only", "--no-role-passwords", NULL, NULL};
    RepoOwner *owner = repo_owner_get(w->b->repo, "shared", true, err);
    PGconn *conn;
    json_t *g;

    if (owner == NULL)
        return false;
    if (pg_tool_has_option(w->b->pg_dumpall, "--restrict-key"))
    {
        repo_owner_derive(owner, "pg_dumpall --restrict-key", key);
        snprintf(restrict_opt, sizeof(restrict_opt), "--restrict-key=%.32s", key);
        argv[3] = restrict_opt;
    }
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
    if (!pg_savepoint_undo(w->conn, "coffer_copy", NULL))
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
    j->unit->n_tables++;
    j->unit->bytes += sink.bytes;
    b->rows += rows;
    b->bytes_added += st.bytes_stored;
    pthread_mutex_unlock(&b->lock);
    return true;
}

