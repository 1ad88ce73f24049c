/*
 * finish.c - after the data: sequences back to their snapshot values (with
 * --table only those of the selected tables) and materialized views
 * refreshed; statistics are gathered by the loader.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "restore/restore_intern.h"

/* With --table: is the sequence (quoted name) one of a selected table's,
 * owned by one of its columns (serial, identity) or used by one of its
 * defaults? Only those go back to their snapshot values: putting back
 * another table's sequence would hand out keys its newer rows hold. */
static bool restore_seq_of_tables(Restore *r, Target *t, PGconn *conn, const char *qseq, bool *mine,
                                  Error *err)
{
    static const char sql[] =
        "SELECT 1 FROM pg_catalog.pg_depend d"
        " WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
        "   AND d.objid = $1::pg_catalog.regclass"
        "   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
        "   AND d.refobjid = $2::pg_catalog.regclass AND d.deptype IN ('a', 'i')"
        " UNION ALL "
        "SELECT 1 FROM pg_catalog.pg_attrdef a"
        "  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass"
        "   AND d.objid = a.oid"
        " WHERE a.adrelid = $2::pg_catalog.regclass"
        "   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
        "   AND d.refobjid = $1::pg_catalog.regclass";
    *mine = false;
    /* partitioned tables too: an identity column of one owns a sequence
     * that nothing of its partitions names */
    for (size_t i = 0; i < t->n_sel; i++)
    {
        const SelTable *o = &t->sel[i];
        char *qt;
        const char *params[2];
        PGresult *res;

        qt = pg_quote_qualified(conn, r->ops->table_schema(t->schema, o->schema), o->name, err);
        if (qt == NULL)
            return false;
        params[0] = qseq;
        params[1] = qt;
        res = pg_query(conn, "match sequences to tables", sql, 2, params, err);
        free(qt);
        if (res == NULL)
            return false;
        *mine = PQntuples(res) > 0;
        PQclear(res);
        if (*mine)
            return true;
    }
    return true;
}

/* Sequence values and materialized views; restore_tables(LOAD_ANALYZE)
 * then gathers statistics. */
bool restore_finish(Restore *r, Target *t, PGconn *conn, Error *err)
{
    for (size_t i = 0; i < t->unit->n_sequences; i++)
    {
        const ManSequence *o = &t->unit->sequences[i];
        char *qname;
        const char *params[3];
        PGresult *res;

        qname = pg_quote_qualified(conn, r->ops->table_schema(t->schema, o->schema), o->name, err);
        if (qname == NULL)
            return false;
        params[0] = qname;
        if (r->a->n_tables > 0)
        {
            bool mine = false;

            if (!restore_seq_of_tables(r, t, conn, qname, &mine, err))
            {
                free(qname);
                return false;
            }
            if (!mine)
            {
                free(qname);
                continue; /* another table's: its rows were not replaced */
            }
        }
        /* the sequence's name goes as a regclass parameter, never as SQL text */
        if (o->last_value != NULL)
        {
            params[1] = o->last_value;
            params[2] = o->is_called ? "true" : "false";
            res = pg_query(conn, "set sequence value",
                           "SELECT pg_catalog.setval($1::regclass, $2::bigint, $3::boolean)", 3,
                           params, err);
        }
        else
        {
            /* never used: as it was created (a --data-only target may have
             * been used since); the server builds the statement */
            res = pg_query(conn, "reset sequence",
                           "SELECT pg_catalog.format('ALTER SEQUENCE %s RESTART',"
                           "                         $1::pg_catalog.regclass)",
                           1, params, err);
            if (res != NULL)
            {
                bool ok = pg_command(conn, "reset sequence", PQgetvalue(res, 0, 0), err);

                PQclear(res);
                res = ok ? PQmakeEmptyPGresult(conn, PGRES_COMMAND_OK) : NULL;
            }
        }
        free(qname);
        if (res == NULL)
            return false;
        PQclear(res);
    }
    for (size_t i = 0; i < t->unit->n_matviews; i++)
    {
        const ManMatview *o = &t->unit->matviews[i];
        char *q = pg_quote_qualified(
            conn, r->ops->table_schema(t->schema, o->schema), o->name, err);
        char *sql;
        bool ok;

        if (q == NULL)
            return false;
        sql = xasprintf("REFRESH MATERIALIZED VIEW %s", q);
        ok = pg_command(conn, "refresh materialized view", sql, err);
        free(sql);
        free(q);
        if (!ok)
            return false;
    }
    return true;
}
