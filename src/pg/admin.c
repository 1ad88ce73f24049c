/*
 * admin.c - server-side DDL that names objects: statements with quoted
 * identifiers, existence checks, settings applied without pasting values,
 * and dropping databases. Every name goes through PQescapeIdentifier and
 * every value as a parameter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/mem.h"
#include "pg/pg.h"

/* Runs a statement whose template has one or two "%s" places for
 * identifiers, each quoted with PQescapeIdentifier. */
bool pg_exec_ident(PGconn *conn, const char *what, const char *tmpl, const char *id1,
                   const char *id2, Error *err)
{
    const char *ids[2] = {id1, id2};
    int next = 0;
    Buf sql;
    bool ok = true;

    buf_init(&sql);
    for (const char *p = tmpl; *p && ok; p++)
    {
        char *q;

        if (p[0] != '%' || p[1] != 's')
        {
            buf_append(&sql, p, 1);
            continue;
        }
        q = next < 2 && ids[next] ? pg_quote_ident(conn, ids[next], err) : NULL;
        next++;
        if (q == NULL)
            ok = false;
        else
            buf_append_str(&sql, q);
        free(q);
        p++;
    }
    ok = ok && pg_command(conn, what, buf_cstr(&sql), err);
    buf_free(&sql);
    return ok;
}

static bool pg_exists(PGconn *conn, const char *sql, const char *name, bool *exists,
                           Error *err)
{
    const char *params[1] = {name};
    PGresult *res = pg_query(conn, "look up target", sql, 1, params, err);

    if (res == NULL)
        return false;
    *exists = PQntuples(res) > 0;
    PQclear(res);
    return true;
}

bool pg_database_exists(PGconn *conn, const char *db, bool *exists, Error *err)
{
    return pg_exists(conn, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", db, exists,
                     err);
}

bool pg_schema_exists(PGconn *conn, const char *schema, bool *exists, Error *err)
{
    return pg_exists(conn, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", schema,
                     exists, err);
}

/* Applies one "name=value" setting of a database (or, with role, of that
 * role in the database): set_config() then ALTER ... SET name FROM CURRENT
 * keeps the value exactly as it was stored, and no value is pasted into
 * SQL. This session's own value is put back afterwards. */
bool pg_apply_setting(PGconn *c, const char *db, const char *role, const char *kv, Error *err)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;
    char *name, *qname = NULL, *qdb = NULL, *qrole = NULL, *sql;
    const char *params[2];
    PGresult *res, *old;
    Error ignore;
    bool ok = false;

    if (eq == NULL)
        return true;
    name = xstrndup(kv, (size_t)(eq - kv));
    params[0] = name;
    params[1] = eq + 1;
    old =
        pg_query(c, "read setting", "SELECT pg_catalog.current_setting($1, true)", 1, params, err);
    res = old ? pg_query(c, "apply setting", "SELECT pg_catalog.set_config($1, $2, false)", 2,
                         params, err)
              : NULL;
    if (res != NULL)
    {
        qname = pg_quote_ident(c, name, err);
        qdb = qname ? pg_quote_ident(c, db, err) : NULL;
        qrole = qdb && role ? pg_quote_ident(c, role, err) : NULL;
    }
    PQclear(res);
    if (qdb != NULL && (role == NULL || qrole != NULL))
    {
        if (role != NULL)
            sql = xasprintf("ALTER ROLE %s IN DATABASE %s SET %s FROM CURRENT", qrole, qdb, qname);
        else
            sql = xasprintf("ALTER DATABASE %s SET %s FROM CURRENT", qdb, qname);
        ok = pg_command(c, "apply setting", sql, err);
        free(sql);
        if (!PQgetisnull(old, 0, 0))
        {
            params[1] = PQgetvalue(old, 0, 0);
            res = pg_query(c, "restore setting", "SELECT pg_catalog.set_config($1, $2, false)", 2,
                           params, ok ? err : &ignore);
            ok = ok && res != NULL;
            PQclear(res);
        }
        else
        {
            sql = xasprintf("RESET %s", qname);
            ok = pg_command(c, "restore setting", sql, ok ? err : &ignore) && ok;
            free(sql);
        }
    }
    PQclear(old);
    free(qname);
    free(qdb);
    free(qrole);
    free(name);
    return ok;
}

bool pg_drop_database(PGconn *conn, const char *db, Error *err)
{
    return pg_exec_ident(conn, "drop database", "DROP DATABASE IF EXISTS %s WITH (FORCE)", db, NULL,
                         err);
}

bool pg_terminate_sessions(PGconn *conn, const char *db, Error *err)
{
    const char *params[1] = {db};
    PGresult *res = pg_query(conn, "terminate sessions",
                             "SELECT pg_catalog.pg_terminate_backend(pid)"
                             "  FROM pg_catalog.pg_stat_activity"
                             " WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()",
                             1, params, err);

    if (res == NULL)
        return false;
    PQclear(res);
    return true;
}

bool pg_terminate_own(PGconn *conn, Error *err)
{
    const char *params[1] = {pg_app_name()};
    PGresult *res = pg_query(conn, "end this process's sessions",
                             "SELECT pg_catalog.pg_terminate_backend(pid)"
                             "  FROM pg_catalog.pg_stat_activity"
                             " WHERE application_name = $1 AND pid <> pg_catalog.pg_backend_pid()",
                             1, params, err);

    if (res == NULL)
        return false;
    PQclear(res);
    return true;
}

bool pg_terminate_own_wait(PGconn *conn, Error *err)
{
    const char *params[1] = {pg_app_name()};
    struct timespec pause = {0, 100 * 1000 * 1000};

    /* a session a client program opened just now may still appear: end
     * them until none is left twice in a row, for at most five seconds */
    for (int i = 0, quiet = 0; i < 50 && quiet < 2; i++)
    {
        PGresult *res;

        if (!pg_terminate_own(conn, err))
            return false;
        nanosleep(&pause, NULL);
        res = pg_query(conn, "count this process's sessions",
                       "SELECT count(*) FROM pg_catalog.pg_stat_activity"
                       " WHERE application_name = $1 AND pid <> pg_catalog.pg_backend_pid()",
                       1, params, err);
        if (res == NULL)
            return false;
        quiet = strcmp(PQgetvalue(res, 0, 0), "0") == 0 ? quiet + 1 : 0;
        PQclear(res);
    }
    return true;
}

char *pg_lock_holders(PGconn *conn, const char *schema)
{
    /* other sessions holding a lock on a relation of the schema ($1; NULL:
     * any of this database), this process's own sessions left out */
    static const char sql[] =
        "SELECT a.pid, coalesce(nullif(a.application_name, ''), '?'), coalesce(a.state, '?'),"
        "       coalesce(extract(epoch FROM now() - a.xact_start)::bigint, 0)"
        "  FROM pg_catalog.pg_stat_activity a"
        " WHERE a.pid <> pg_catalog.pg_backend_pid() AND a.application_name <> $2"
        "   AND a.pid IN (SELECT l.pid FROM pg_catalog.pg_locks l"
        "                  JOIN pg_catalog.pg_class c ON c.oid = l.relation"
        "                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        "                 WHERE l.granted AND l.database = (SELECT oid FROM pg_catalog.pg_database"
        "                                                    WHERE datname = current_database())"
        "                   AND ($1::text IS NULL OR n.nspname = $1))"
        " ORDER BY a.xact_start NULLS LAST, a.pid LIMIT 5";
    const char *params[2] = {schema, pg_app_name()};
    Error err;
    PGresult *res;
    Buf b;

    error_clear(&err);
    res = pg_query(conn, "find the sessions holding locks", sql, 2, params, &err);
    if (res == NULL || PQntuples(res) == 0)
    {
        PQclear(res);
        return NULL;
    }
    buf_init(&b);
    for (int i = 0; i < PQntuples(res); i++)
        buf_printf(&b, "%spid %s (application \"%s\", %s, in a transaction for %s s)",
                   i > 0 ? "; " : "", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
    PQclear(res);
    return (char *)b.data;
}

bool pg_comment_database(PGconn *conn, const char *db, const char *text, Error *err)
{
    /* the statement is built by the server: %I and %L quote name and text */
    const char *params[2] = {db, text};
    PGresult *res = pg_query(conn, "comment on a database",
                             "SELECT pg_catalog.format('COMMENT ON DATABASE %I IS %L',"
                             " $1::text, $2::text)",
                             2, params, err);
    bool ok;

    if (res == NULL)
        return false;
    ok = pg_command(conn, "comment on a database", PQgetvalue(res, 0, 0), err);
    PQclear(res);
    return ok;
}

bool pg_databases_like(PGconn *conn, const char *like, PgNameList *names, PgNameList *comments,
                       Error *err)
{
    const char *params[1] = {like};
    PGresult *res = pg_query(conn, "list databases",
                             "SELECT d.datname, coalesce(pg_catalog.shobj_description(d.oid, "
                             "'pg_database'), '') FROM pg_catalog.pg_database d"
                             " WHERE d.datname LIKE $1 ORDER BY 1",
                             1, params, err);

    memset(names, 0, sizeof(*names));
    memset(comments, 0, sizeof(*comments));
    if (res == NULL)
        return false;
    names->count = comments->count = (size_t)PQntuples(res);
    names->names = xcalloc(names->count + 1, sizeof(char *));
    comments->names = xcalloc(comments->count + 1, sizeof(char *));
    for (size_t i = 0; i < names->count; i++)
    {
        names->names[i] = xstrdup(PQgetvalue(res, (int)i, 0));
        comments->names[i] = xstrdup(PQgetvalue(res, (int)i, 1));
    }
    PQclear(res);
    return true;
}
