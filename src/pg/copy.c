/*
 * copy.c - streaming COPY out of and into PostgreSQL in text format.
 *
 * Rows are gathered into a fixed batch buffer before they are handed on, so
 * that the per-row cost of the caller's pipeline (chunker, hash) stays low,
 * and memory is bounded by the batch size whatever the table size.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "pg/pg.h"

#define PG_COPY_BATCH (256 * 1024)

static char *pg_copy_sql(PGconn *conn, const char *schema, const char *table, const char *dir,
                         Error *err)
{
    char *qname = pg_quote_qualified(conn, schema, table, err);
    char *sql;

    if (qname == NULL)
        return NULL;
    sql = xasprintf("COPY %s %s", qname, dir);
    free(qname);
    return sql;
}

/* The first line of a result's error message (or the connection's). */
static void pg_copy_message(PGconn *conn, PGresult *res, char *msg, size_t len)
{
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (m == NULL || m[0] == '\0')
        m = PQerrorMessage(conn);
    snprintf(msg, len, "%s", m);
    msg[strcspn(msg, "\n")] = '\0';
}

static bool pg_copy_fail(PGconn *conn, const char *what, const char *schema, const char *table,
                         Error *err)
{
    PGresult *res;
    char msg[512];

    /* collect the final result, which carries the server's message */
    res = PQgetResult(conn);
    pg_copy_message(conn, res, msg, sizeof(msg));
    error_set(err, ERR_FAILURE, "%s of table \"%s\".\"%s\" failed: %s", what, schema, table, msg);
    if (PQstatus(conn) == CONNECTION_BAD)
        error_hint(err, "the connection to the server was lost; check that it is running");
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
    return false;
}

bool pg_copy_out(PGconn *conn, const char *schema, const char *table, SinkFn fn, void *arg,
                 uint64_t *rows, Error *err)
{
    char *sql = pg_copy_sql(conn, schema, table, "TO STDOUT", err);
    PGresult *res;
    char *batch;
    size_t used = 0;
    uint64_t n = 0;
    bool ok = true;

    if (sql == NULL)
        return false;
    res = PQexec(conn, sql);
    free(sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT)
    {
        char msg[512];

        pg_copy_message(conn, res, msg, sizeof(msg));
        PQclear(res);
        error_set(err, ERR_FAILURE, "copy of table \"%s\".\"%s\" failed: %s", schema, table, msg);
        if (PQstatus(conn) == CONNECTION_BAD)
            error_hint(err, "the connection to the server was lost; check that it is running");
        else if (strstr(msg, "row-level security") != NULL)
            error_hint(err, "row-level security would hide some of its rows from the backup role "
                            "\"%s\": grant it BYPASSRLS (ALTER ROLE ... BYPASSRLS), or back up "
                            "as the table's owner or a superuser",
                       PQuser(conn));
        return false;
    }
    PQclear(res);
    batch = xmalloc(PG_COPY_BATCH);
    for (;;)
    {
        char *row = NULL;
        int len = PQgetCopyData(conn, &row, 0);

        if (len == -1)
            break; /* done */
        if (len < 0)
        {
            free(batch);
            return pg_copy_fail(conn, "copy", schema, table, err);
        }
        n++;
        if (used + (size_t)len > PG_COPY_BATCH && used > 0)
        {
            ok = ok && fn(arg, batch, used, err);
            used = 0;
        }
        if ((size_t)len > PG_COPY_BATCH)
            ok = ok && fn(arg, row, (size_t)len, err);
        else
        {
            memcpy(batch + used, row, (size_t)len);
            used += (size_t)len;
        }
        PQfreemem(row);
        if (!ok)
        {
            /* the consumer failed: drop the connection's COPY by cancelling */
            PGcancel *cancel = PQgetCancel(conn);
            char buf[256];

            if (cancel != NULL)
            {
                PQcancel(cancel, buf, sizeof(buf));
                PQfreeCancel(cancel);
            }
            while (PQgetCopyData(conn, &row, 0) >= 0)
                PQfreemem(row);
            while ((res = PQgetResult(conn)) != NULL)
                PQclear(res);
            free(batch);
            return false;
        }
    }
    if (used > 0)
        ok = fn(arg, batch, used, err);
    free(batch);
    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
    {
        char msg[512];

        pg_copy_message(conn, res, msg, sizeof(msg));
        PQclear(res);
        while ((res = PQgetResult(conn)) != NULL)
            PQclear(res);
        if (!ok)
            return false;
        return error_set(err, ERR_FAILURE, "copy of table \"%s\".\"%s\" failed: %s", schema, table,
                         msg);
    }
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
    if (rows != NULL)
        *rows = n;
    return ok;
}

bool pg_copy_in_begin(PGconn *conn, const char *schema, const char *table, Error *err)
{
    char *sql = pg_copy_sql(conn, schema, table, "FROM STDIN", err);
    PGresult *res;

    if (sql == NULL)
        return false;
    res = PQexec(conn, sql);
    free(sql);
    if (PQresultStatus(res) != PGRES_COPY_IN)
    {
        char msg[512];

        pg_copy_message(conn, res, msg, sizeof(msg));
        PQclear(res);
        return error_set(err, ERR_FAILURE, "loading table \"%s\".\"%s\" failed: %s", schema, table,
                         msg);
    }
    PQclear(res);
    return true;
}

bool pg_copy_in_write(PGconn *conn, const void *data, size_t len, Error *err)
{
    const char *p = data;

    /* PQputCopyData takes an int length */
    while (len > 0)
    {
        int n = len > (1U << 30) ? (1 << 30) : (int)len;

        if (PQputCopyData(conn, p, n) != 1)
            return error_set(err, ERR_FAILURE, "sending data to the server failed: %s",
                             PQerrorMessage(conn));
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool pg_copy_in_end(PGconn *conn, const char *abort_reason, Error *err)
{
    PGresult *res;
    bool ok;
    char msg[512] = "";

    if (PQputCopyEnd(conn, abort_reason) != 1)
        return error_set(err, ERR_FAILURE, "ending the load failed: %s", PQerrorMessage(conn));
    res = PQgetResult(conn);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
    {
        pg_copy_message(conn, res, msg, sizeof(msg));
    }
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
    if (!ok && abort_reason == NULL)
        return error_set(err, ERR_FAILURE, "loading data failed: %s", msg);
    return abort_reason == NULL;
}
