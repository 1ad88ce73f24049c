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
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* SQL condition on pg_namespace aliased "n": a user schema, not the
 * catalog, information_schema, TOAST or temporary schemas. */
#define PG_SQL_USER_SCHEMA                                                                         \
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"

/* SQL condition on pg_class aliased "c": not a member of an extension
 * (the extension creates it again). */
#define PG_SQL_NOT_EXTENSION_MEMBER                                                                \
    "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"                                             \
    " WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"

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

/* ---- snapshots (snapshot.c) ------------------------------------------- */

/* Opens a REPEATABLE READ READ ONLY transaction on conn and exports its
 * snapshot; returns the snapshot name (malloc'd) or NULL with err. The
 * transaction must stay open while others import the snapshot. */
char *pg_snapshot_export(PGconn *conn, Error *err);

/* Starts a REPEATABLE READ READ ONLY transaction on conn that sees exactly
 * the exported snapshot. Rolls back a transaction already open first. */
bool pg_snapshot_import(PGconn *conn, const char *snapshot, Error *err);

/* ---- COPY streaming (copy.c) ------------------------------------------- */

/* Receives COPY text data in batches (whole rows); false stops. */
typedef bool (*PgCopyFn)(void *arg, const char *data, size_t len, Error *err);

/* Runs COPY "schema"."table" TO STDOUT and hands the text stream to fn in
 * batches of about 256 KiB, never the whole table. Counts rows. */
bool pg_copy_out(PGconn *conn, const char *schema, const char *table, PgCopyFn fn, void *arg,
                 uint64_t *rows, Error *err);

/* COPY "schema"."table" FROM STDIN: begin, write any number of times, end.
 * pg_copy_in_end with abort_reason != NULL cancels the COPY (the server
 * rolls the table's rows back). */
bool pg_copy_in_begin(PGconn *conn, const char *schema, const char *table, Error *err);
bool pg_copy_in_write(PGconn *conn, const void *data, size_t len, Error *err);
bool pg_copy_in_end(PGconn *conn, const char *abort_reason, Error *err);

/* ---- PostgreSQL client programs (tool.c) ------------------------------- */

/* Finds NAME (pg_dump, pg_restore, pg_dumpall) of the server's major
 * version: postgres.bin_dir when set, else /usr/lib/postgresql/MAJOR/bin,
 * else PATH. Checks "NAME --version"; a missing program or another major
 * version is an error with a hint to set postgres.bin_dir. */
char *pg_tool_find(const char *bindir, const char *name, int major, Error *err);

/* Receives a child's standard output; false stops (and kills the child). */
typedef bool (*PgToolOutFn)(void *arg, const void *data, size_t len, Error *err);

/* Runs the program with argv (argv[0] is its path) and the connection
 * settings of conn passed through the environment (PGHOST, PGPORT, PGUSER,
 * PGPASSWORD, ...), never on the command line; dbname replaces the
 * database. Standard output goes to out (or is discarded when out is NULL);
 * the end of standard error is kept for the error message. Fails when the
 * program exits non-zero or is killed. */
bool pg_tool_run(char *const argv[], PGconn *conn, const char *dbname, PgToolOutFn out,
                 void *out_arg, Error *err);

#endif
