/*
 * pg.h - talking to PostgreSQL through libpq: connections, queries with
 * parameters, identifier quoting, and error messages that say what to do.
 *
 * No SQL text is built by pasting user input: values go as parameters and
 * identifiers through pg_quote_ident (PQescapeIdentifier).
 */
#ifndef COFFER_PG_PG_H
#define COFFER_PG_PG_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "common/error.h"

/* Connects with the configured conninfo (PG* variables and .pgpass apply);
 * dbname, when not NULL, replaces the conninfo's database. Errors say
 * whether the server was unreachable or refused the login, with a hint. */
PGconn *pg_connect(const char *conninfo, const char *dbname, Error *err);

/* Runs a query with text parameters; returns the result (caller PQclear's)
 * or NULL with err set to "WHAT: server message". what names the purpose
 * ("list schemas", "discovery query"). Commands and tuples both count as ok. */
PGresult *pg_query(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params, Error *err);

/* Runs a command that returns no rows; false with err on failure. */
bool pg_command(PGconn *conn, const char *what, const char *sql, Error *err);

/* Returns a malloc'd quoted identifier ("a""b"), or NULL with err. */
char *pg_quote_ident(PGconn *conn, const char *ident, Error *err);

/* Returns a malloc'd "schema"."name", both quoted. */
char *pg_quote_qualified(PGconn *conn, const char *schema, const char *name, Error *err);

/* The server's major version (15 for 15.4). */
int pg_server_major(PGconn *conn);

/* The current database's name. */
const char *pg_dbname(PGconn *conn);

#endif
