/*
 * locks.c - how many relation locks Coffer may hold at once, and the reads
 * that lock one relation each (sizes, sequence values) done in batches
 * within that budget.
 *
 * Every heavyweight lock of every session lives in one shared table sized
 * max_locks_per_transaction x (max_connections + max_prepared_transactions)
 * at server start. A backup that locks 16,000 tables in one transaction
 * fills it: its own query fails with "out of shared memory", and so do the
 * application's transactions meanwhile. Coffer keeps to a quarter of that
 * table by default, and to half of what is free when others hold much.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "pg/pg.h"

bool pg_lock_budget(PGconn *conn, long configured, PgLockBudget *out, Error *err)
{
    static const char sql[] =
        "SELECT current_setting('max_locks_per_transaction')::bigint *"
        "       (current_setting('max_connections')::bigint +"
        "        current_setting('max_prepared_transactions')::bigint)";
    PGresult *res = pg_query(conn, "read the lock settings", sql, 0, NULL, err);

    if (res == NULL)
        return false;
    out->capacity = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    out->budget = configured > 0 ? configured : out->capacity / 4;
    if (out->budget < 1)
        out->budget = 1;
    return true;
}

long pg_lock_room(PGconn *conn, const PgLockBudget *b)
{
    /* fast-path locks live in each backend, not in the shared table */
    static const char sql[] = "SELECT count(*) FROM pg_catalog.pg_locks WHERE NOT fastpath";
    Error err;
    PGresult *res;
    long held, room;

    error_clear(&err);
    res = pg_query(conn, "count the locks held", sql, 0, NULL, &err);
    if (res == NULL)
        return b->budget;
    held = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    room = (b->capacity - held) / 2;
    if (room >= b->budget)
        return b->budget;
    log_info("the server's lock table is %ld%% full: taking at most %ld locks at once instead of "
             "%ld",
             b->capacity > 0 ? held * 100 / b->capacity : 100, room > 1 ? room : 1, b->budget);
    return room > 1 ? room : 1;
}

/* Runs one batch of a read that locks what it reads. In a transaction (a
 * snapshot being held), inside a savepoint rolled back afterwards, which
 * releases the locks; otherwise the statement is its own transaction. */
static PGresult *locks_batch_query(PGconn *conn, const char *what, const char *sql,
                                   const char *param, Error *err)
{
    bool in_tx = PQtransactionStatus(conn) == PQTRANS_INTRANS;
    PGresult *res;

    if (in_tx && !pg_command(conn, "savepoint", "SAVEPOINT coffer_batch", err))
        return NULL;
    res = pg_query(conn, what, sql, 1, &param, err);
    if (in_tx)
    {
        Error e2;

        error_clear(&e2);
        if (!pg_savepoint_undo(conn, "coffer_batch", &e2))
        {
            PQclear(res);
            if (!error_is_set(err))
                *err = e2;
            return NULL;
        }
    }
    return res;
}

/* "{oid,oid,...}" of oids[from..to). */
static char *locks_oid_array(const uint32_t *oids, size_t from, size_t to)
{
    Buf b;

    buf_init(&b);
    buf_append_str(&b, "{");
    for (size_t i = from; i < to; i++)
        buf_printf(&b, "%s%u", i > from ? "," : "", (unsigned)oids[i]);
    buf_append_str(&b, "}");
    return (char *)b.data;
}

bool pg_relation_sizes(PGconn *conn, long configured, const uint32_t *oids, size_t n, bool total,
                       int64_t *out, Error *err)
{
    /* the size of each oid of $1, in order; 0 for one dropped meanwhile */
    static const char sql_main[] =
        "SELECT coalesce(pg_catalog.pg_relation_size(x), 0)"
        "  FROM unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS s(x, i) ORDER BY i";
    static const char sql_total[] =
        "SELECT coalesce(pg_catalog.pg_total_relation_size(x), 0)"
        "  FROM unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS s(x, i) ORDER BY i";
    PgLockBudget budget;
    size_t done = 0;

    if (n == 0)
        return true;
    if (!pg_lock_budget(conn, configured, &budget, err))
        return false;
    while (done < n)
    {
        /* the total size also opens the TOAST table, its index and every
         * index of the table: count four locks a relation */
        long room = pg_lock_room(conn, &budget) / (total ? 4 : 1);
        size_t batch = room > 0 ? (size_t)room : 1, end = done + batch < n ? done + batch : n;
        char *param = locks_oid_array(oids, done, end);
        PGresult *res = locks_batch_query(conn, "measure relations", total ? sql_total : sql_main,
                                          param, err);

        free(param);
        if (res == NULL)
            return false;
        for (size_t i = done; i < end && (int)(i - done) < PQntuples(res); i++)
            out[i] = strtoll(PQgetvalue(res, (int)(i - done), 0), NULL, 10);
        PQclear(res);
        done = end;
    }
    return true;
}

bool pg_catalog_sequence_values(PGconn *conn, long lock_budget, const PgRelationList *sequences,
                                PgSequenceValueList *out, Error *err)
{
    /* for each oid of $1, in order: whether the role may read the sequence
     * (NULL: dropped) and, if so, pg_sequence_last_value() as text */
    static const char sql[] =
        "SELECT pg_catalog.has_sequence_privilege(x, 'SELECT,USAGE'),"
        "       CASE WHEN pg_catalog.has_sequence_privilege(x, 'SELECT,USAGE')"
        "            THEN pg_catalog.pg_sequence_last_value(x)::text END"
        "  FROM unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS s(x, i) ORDER BY i";
    uint32_t *oids = xcalloc(sequences->count + 1, sizeof(uint32_t));
    PgLockBudget budget;
    size_t done = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sequences->count; i++)
        oids[i] = sequences->items[i].oid;
    out->items = xcalloc(sequences->count + 1, sizeof(PgSequenceValue));
    if (!pg_lock_budget(conn, lock_budget, &budget, err))
        goto fail;
    while (done < sequences->count)
    {
        long room = pg_lock_room(conn, &budget);
        size_t n = sequences->count, end = done + (size_t)room < n ? done + (size_t)room : n;
        char *param = locks_oid_array(oids, done, end);
        PGresult *res = locks_batch_query(conn, "read sequences", sql, param, err);

        free(param);
        if (res == NULL)
            goto fail;
        if ((size_t)PQntuples(res) != end - done)
        {
            error_set(err, ERR_FAILURE, "read sequences: expected %zu rows, got %d", end - done,
                      PQntuples(res));
            PQclear(res);
            goto fail;
        }
        for (size_t i = done; i < end; i++)
        {
            PgSequenceValue *v = &out->items[i];
            int row = (int)(i - done);

            if (PQgetisnull(res, row, 0))
                v->access = PG_ACCESS_DROPPED;
            else if (PQgetvalue(res, row, 0)[0] != 't')
                v->access = PG_ACCESS_DENIED;
            else
                v->access = PG_ACCESS_READABLE;
            v->last_value = PQgetisnull(res, row, 1) ? NULL : xstrdup(PQgetvalue(res, row, 1));
        }
        out->count = end;
        PQclear(res);
        done = end;
    }
    free(oids);
    return true;
fail:
    free(oids);
    pg_sequence_value_list_free(out);
    return false;
}
