/*
 * pg.c - libpq connections and queries with uniform error reporting.
 */
#include "pg/pg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

/* libpq messages end with a newline and may span lines; keep the first line
 * for the message and the rest for the detail. */
static void pg_error_text(const char *msg, char *first, size_t first_len, char *rest,
                          size_t rest_len)
{
    const char *nl;
    size_t n;

    if (msg == NULL)
        msg = "";
    nl = strchr(msg, '\n');
    n = nl ? (size_t)(nl - msg) : strlen(msg);
    if (n >= first_len)
        n = first_len - 1;
    memcpy(first, msg, n);
    first[n] = '\0';
    rest[0] = '\0';
    if (nl != NULL && nl[1] != '\0')
    {
        snprintf(rest, rest_len, "%s", nl + 1);
        n = strlen(rest);
        while (n > 0 && (rest[n - 1] == '\n' || rest[n - 1] == ' '))
            rest[--n] = '\0';
    }
}

/* Server notices ("drop cascades to ...") are for --verbose only. */
static void pg_notice(void *arg, const char *message)
{
    size_t len = strlen(message);

    (void)arg;
    while (len > 0 && message[len - 1] == '\n')
        len--;
    log_debug("server: %.*s", (int)len, message);
}

/* "coffer:PID": set once, read by every thread. */
static char pg_app_name_buf[32];
static pthread_once_t pg_app_name_once = PTHREAD_ONCE_INIT;

static void pg_app_name_init(void)
{
    snprintf(pg_app_name_buf, sizeof(pg_app_name_buf), "coffer:%d", (int)getpid());
}

const char *pg_app_name(void)
{
    pthread_once(&pg_app_name_once, pg_app_name_init);
    return pg_app_name_buf;
}

PGconn *pg_connect(const char *conninfo, const char *dbname, Error *err)
{
    return pg_connect_with(conninfo, dbname, NULL, err);
}

/* The conninfo's own "options" with more appended ("-c name=value ..."). */
static char *pg_merge_options(const char *conninfo, const char *more)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo != NULL ? conninfo : "", NULL);
    const char *have = NULL;
    char *merged;

    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val != NULL && o->val[0] != '\0')
            have = o->val;
    merged = have != NULL ? xasprintf("%s %s", have, more) : xstrdup(more);
    PQconninfoFree(opts);
    return merged;
}

PGconn *pg_connect_with(const char *conninfo, const char *dbname, const char *options, Error *err)
{
    const char *keys[6];
    const char *vals[6];
    int n = 0;
    PGconn *conn;
    char first[512], rest[512];
    char *merged = options != NULL ? pg_merge_options(conninfo, options) : NULL;

    /* the first dbname is expanded as a conninfo string; a later one overrides it */
    keys[n] = "dbname";
    vals[n++] = conninfo != NULL ? conninfo : "";
    if (dbname != NULL)
    {
        keys[n] = "dbname";
        vals[n++] = dbname;
    }
    if (merged != NULL)
    {
        /* server settings of every session, and of the client programs
         * run with it (their PGOPTIONS comes from the connection) */
        keys[n] = "options";
        vals[n++] = merged;
    }
    keys[n] = "fallback_application_name";
    vals[n++] = pg_app_name();
    keys[n] = NULL;
    vals[n] = NULL;
    conn = PQconnectdbParams(keys, vals, 1);
    free(merged);
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
    {
        PGresult *res;

        PQsetClientEncoding(conn, "UTF8");
        PQsetNoticeProcessor(conn, pg_notice, NULL);
        /* COPY text depends on these; a database or role may set them
         * otherwise (ALTER DATABASE ... SET datestyle = 'SQL, DMY' writes
         * 01/02/2024, which another session reads as January 2nd;
         * extra_float_digits = 0 loses float precision). Every session
         * writes and reads one exact, unambiguous form, as pg_dump's do. */
        res = PQexec(conn, "SET datestyle = 'ISO, YMD'; SET intervalstyle = 'postgres';"
                           " SET extra_float_digits = 3; SET bytea_output = 'hex';"
                           " SET xmloption = 'content'; SET timezone = 'UTC'");
        if (PQresultStatus(res) == PGRES_COMMAND_OK)
        {
            PQclear(res);
            return conn;
        }
        pg_error_text(PQresultErrorMessage(res), first, sizeof(first), rest, sizeof(rest));
        PQclear(res);
        PQfinish(conn);
        error_set(err, ERR_FAILURE, "could not set up a session on database \"%s\": %s",
                  dbname != NULL ? dbname : "(default)", first);
        if (rest[0] != '\0')
            error_detail(err, "%s", rest);
        return NULL;
    }
    pg_error_text(conn ? PQerrorMessage(conn) : "out of memory", first, sizeof(first), rest,
                  sizeof(rest));
    if (dbname != NULL)
        error_set(err, ERR_FAILURE, "could not connect to database \"%s\": %s", dbname, first);
    else
        error_set(err, ERR_FAILURE, "could not connect to PostgreSQL: %s", first);
    if (rest[0] != '\0')
        error_detail(err, "%s", rest);
    if (strstr(first, "authentication") != NULL || strstr(first, "password") != NULL)
        error_hint(err, "check the user and password: postgres.conninfo, PGUSER, PGPASSWORD "
                        "or ~/.pgpass");
    else if (strstr(first, "does not exist") != NULL)
        error_hint(err, "check the database name in postgres.conninfo or PGDATABASE");
    else
        error_hint(err, "check that the server is running and postgres.conninfo (or "
                        "PGHOST/PGPORT) points at it");
    PQfinish(conn);
    return NULL;
}

PGresult *pg_query(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params, Error *err)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    char first[512], rest[512];

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    /* the server's primary message and detail, without libpq's "ERROR:  " prefix */
    if (res != NULL && PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) != NULL)
    {
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

        snprintf(first, sizeof(first), "%s", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        snprintf(rest, sizeof(rest), "%s", detail ? detail : "");
    }
    else
        pg_error_text(PQerrorMessage(conn), first, sizeof(first), rest, sizeof(rest));
    error_set(err, ERR_FAILURE, "%s failed: %s", what, first);
    if (rest[0] != '\0')
        error_detail(err, "%s", rest);
    if (PQstatus(conn) == CONNECTION_BAD)
        error_hint(err, "the connection to the server was lost; check that it is running");
    PQclear(res);
    return NULL;
}

bool pg_command(PGconn *conn, const char *what, const char *sql, Error *err)
{
    PGresult *res = pg_query(conn, what, sql, 0, NULL, err);

    if (res == NULL)
        return false;
    PQclear(res);
    return true;
}

bool pg_savepoint_undo(PGconn *conn, const char *savepoint, Error *err)
{
    char sql[96];
    Error local;

    if (err == NULL)
    {
        error_clear(&local);
        err = &local;
    }
    snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT %s", savepoint);
    if (!pg_command(conn, "release locks", sql, err))
        return false;
    snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT %s", savepoint);
    return pg_command(conn, "release savepoint", sql, err);
}

char *pg_quote_ident(PGconn *conn, const char *ident, Error *err)
{
    char *q = PQescapeIdentifier(conn, ident, strlen(ident));
    char *out;

    if (q == NULL)
    {
        error_set(err, ERR_FAILURE, "could not quote identifier: %s", PQerrorMessage(conn));
        return NULL;
    }
    out = xstrdup(q);
    PQfreemem(q);
    return out;
}

char *pg_quote_qualified(PGconn *conn, const char *schema, const char *name, Error *err)
{
    char *s = pg_quote_ident(conn, schema, err);
    char *n = s ? pg_quote_ident(conn, name, err) : NULL;
    char *out = NULL;

    if (s != NULL && n != NULL)
        out = xasprintf("%s.%s", s, n);
    free(s);
    free(n);
    return out;
}

int pg_server_major(PGconn *conn)
{
    return PQserverVersion(conn) / 10000;
}

const char *pg_dbname(PGconn *conn)
{
    return PQdb(conn);
}
