/*
 * data_only.c - --data-only: rows into the existing tables in one
 * transaction on one connection, with ALWAYS triggers and NOT VALID checks
 * handled, and --clean emptying them first in the same transaction.
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

/* Appends ", schema.name" to the TRUNCATE statement for each partitioned
 * table of schema, from the live catalog. */
static bool restore_truncate_all_parents(PGconn *conn, const char *schema, Buf *sql, Error *err)
{
    const char *params[1] = {schema};
    PGresult *res = pg_query(conn, "list partitioned tables",
                             "SELECT c.relname FROM pg_catalog.pg_class c"
                             "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                             " WHERE c.relkind = 'p' AND n.nspname = $1 ORDER BY 1",
                             1, params, err);
    bool ok = res != NULL;

    for (int k = 0; ok && k < PQntuples(res); k++)
    {
        char *q = pg_quote_qualified(conn, schema, PQgetvalue(res, k, 0), err);

        if (q == NULL)
            ok = false;
        else
            buf_printf(sql, ", %s", q);
        free(q);
    }
    PQclear(res);
    return ok;
}

/* Appends ", schema.name" for each partitioned table --table selected:
 * all its partitions are selected, and a foreign key declared on it
 * references through it. */
static bool restore_truncate_sel_parents(PGconn *conn, Restore *r, Target *t, Buf *sql, Error *err)
{
    for (size_t i = 0; i < t->n_sel; i++)
    {
        const SelTable *o = &t->sel[i];
        char *q;

        if (!o->partitioned)
            continue;
        q = pg_quote_qualified(conn, r->ops->table_schema(t->schema, o->schema), o->name, err);
        if (q == NULL)
            return false;
        buf_printf(sql, ", %s", q);
        free(q);
    }
    return true;
}

/* --data-only --clean: empties the tables about to be loaded, in one
 * statement (foreign keys among them are fine). The partitioned tables
 * above them are named too (all of the schemas' without --table, those
 * --table selected with it): a foreign key declared on a partitioned table
 * is what references the loaded tables, and TRUNCATE wants every
 * referencing table in the list. */
static bool restore_truncate(PGconn *conn, Restore *r, Target *t, Error *err)
{
    size_t i;
    Buf sql;
    bool any = false, ok = true;
    json_t *schemas = json_array();
    json_t *v;

    buf_init(&sql);
    buf_append_str(&sql, "TRUNCATE ");
    for (i = 0; i < t->unit->n_tables; i++)
    {
        const ManTable *o = &t->unit->tables[i];
        const char *schema = r->ops->table_schema(t->schema, o->schema);
        char *q;
        bool seen = false;
        size_t k;

        if (!restore_table_selected(r, t, o->name))
            continue;
        q = pg_quote_qualified(conn, schema, o->name, err);
        if (q == NULL)
        {
            ok = false;
            break;
        }
        buf_printf(&sql, "%sONLY %s", any ? ", " : "", q);
        any = true;
        free(q);
        json_array_foreach (schemas, k, v)
            seen = seen || strcmp(json_string_value(v), schema) == 0;
        if (!seen)
            json_array_append_new(schemas, json_string(schema));
    }
    if (r->a->n_tables > 0)
        ok = ok && restore_truncate_sel_parents(conn, r, t, &sql, err);
    else
        json_array_foreach (schemas, i, v)
            ok = ok && restore_truncate_all_parents(conn, json_string_value(v), &sql, err);
    ok = ok && (!any || pg_command(conn, "truncate tables", buf_cstr(&sql), err));
    json_decref(schemas);
    buf_free(&sql);
    return ok;
}

/* Runs each statement (one per row, column col of res) on conn. */
static bool restore_exec_rows(PGconn *conn, PGresult *res, int col, Error *err)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (!PQgetisnull(res, i, col) &&
            !pg_command(conn, "prepare tables for loading", PQgetvalue(res, i, col), err))
            return false;
    return true;
}

/* --data-only: loads into the existing tables in one transaction on one
 * connection, so that a failure leaves every table as it was. Foreign keys
 * and ordinary triggers are off (session_replication_role = replica);
 * triggers enabled ALWAYS, which fire even then, are disabled on the loaded
 * tables for the transaction; CHECK constraints marked NOT VALID (which
 * rows older than them may violate, and which COPY would enforce) are
 * dropped and added back, NOT VALID again, with their comments. With
 * --clean the tables are emptied first, in the same transaction. */
bool restore_data_only(Restore *r, Target *t, PGconn *conn, Error *err)
{
    /* statements to run before (column 0) and after (the other columns) the
     * load, built by the server (format %I/%L quotes every name) */
    static const char triggers_sql[] =
        "SELECT pg_catalog.format('ALTER TABLE ONLY %I.%I DISABLE TRIGGER %I', n.nspname, "
        "c.relname,"
        "                         g.tgname),"
        "       pg_catalog.format('ALTER TABLE ONLY %I.%I ENABLE ALWAYS TRIGGER %I', n.nspname,"
        "                         c.relname, g.tgname)"
        "  FROM pg_catalog.pg_trigger g"
        "  JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relname = $2 AND g.tgenabled = 'A' AND NOT g.tgisinternal";
    static const char checks_sql[] =
        "SELECT pg_catalog.format('ALTER TABLE %I.%I DROP CONSTRAINT %I', n.nspname, c.relname,"
        "                         k.conname),"
        "       pg_catalog.format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', n.nspname, c.relname,"
        "                         k.conname, pg_catalog.pg_get_constraintdef(k.oid)),"
        "       pg_catalog.format('COMMENT ON CONSTRAINT %I ON %I.%I IS %L', k.conname, n.nspname,"
        "                         c.relname, pg_catalog.obj_description(k.oid, 'pg_constraint'))"
        "  FROM pg_catalog.pg_constraint k"
        "  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND k.contype = 'c' AND NOT k.convalidated AND k.conislocal"
        " ORDER BY c.relname, k.conname";
    json_t *schemas = json_array();
    json_t *v;
    PGresult **held = NULL;
    size_t n_held = 0, i;
    PGresult *res;
    bool ok = false, super;

    res = pg_query(conn, "check privileges", "SELECT pg_catalog.current_setting('is_superuser')", 0,
                   NULL, err);
    if (res == NULL)
        goto done;
    super = strcmp(PQgetvalue(res, 0, 0), "on") == 0;
    PQclear(res);
    if (!pg_command(conn, "begin", "BEGIN", err))
        goto done;
    if (super)
    {
        if (!pg_command(conn, "disable triggers", "SET LOCAL session_replication_role = replica",
                        err))
            goto done;
    }
    else
        log_warning("not a superuser: foreign keys are checked and triggers fire while loading");
    /* one result per loaded table, one per schema (at most as many) */
    held = xcalloc(2 * t->unit->n_tables + 1, sizeof(PGresult *));
    for (i = 0; i < t->unit->n_tables; i++)
    {
        const ManTable *o = &t->unit->tables[i];
        const char *schema = r->ops->table_schema(t->schema, o->schema);
        const char *params[2] = {schema, o->name};
        bool seen = false;
        size_t k;

        json_array_foreach (schemas, k, v)
            seen = seen || strcmp(json_string_value(v), schema) == 0;
        if (!seen)
            json_array_append_new(schemas, json_string(schema));
        if (!restore_table_selected(r, t, o->name))
            continue;
        res = pg_query(conn, "list triggers", triggers_sql, 2, params, err);
        if (res == NULL)
            goto done;
        held[n_held++] = res;
        if (!restore_exec_rows(conn, res, 0, err))
            goto done;
    }
    json_array_foreach (schemas, i, v)
    {
        const char *params[1] = {json_string_value(v)};

        res = pg_query(conn, "list NOT VALID constraints", checks_sql, 1, params, err);
        if (res == NULL)
            goto done;
        held[n_held++] = res;
        if (!restore_exec_rows(conn, res, 0, err))
            goto done;
    }
    if (r->a->clean && !restore_truncate(conn, r, t, err))
        goto done;
    if (!restore_tables(r, t, LOAD_DATA, conn, err))
        goto done;
    for (i = n_held; i-- > 0;)
        for (int col = 1; col < PQnfields(held[i]); col++)
            if (!restore_exec_rows(conn, held[i], col, err))
                goto done;
    ok = restore_finish(r, t, conn, err) && restore_tables(r, t, LOAD_ANALYZE, conn, err) &&
         pg_command(conn, "commit", "COMMIT", err);
done:
    if (!ok && PQtransactionStatus(conn) != PQTRANS_IDLE)
    {
        Error ignore;

        pg_command(conn, "roll back", "ROLLBACK", &ignore);
    }
    for (i = 0; i < n_held; i++)
        PQclear(held[i]);
    free(held);
    json_decref(schemas);
    return ok;
}
