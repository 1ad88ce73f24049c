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

#include "common/buf.h"
#include "common/error.h"
#include "common/sink.h"

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

/* "coffer:PID": the application_name of this process's sessions (unless
 * the conninfo sets one) and of the client programs it runs, so that
 * cleanup after an interrupt can find and end them. */
const char *pg_app_name(void);

/* Runs a query with text parameters; returns the result (caller PQclear's)
 * or NULL with err set to "WHAT: server message". what names the purpose
 * ("list schemas", "discovery query"). Commands and tuples both count as ok. */
PGresult *pg_query(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params, Error *err);

/* Runs a command that returns no rows; false with err on failure. */
bool pg_command(PGconn *conn, const char *what, const char *sql, Error *err);

/* Rolls back to a savepoint (a fixed name of ours) and releases it: what
 * ran inside it (a COPY, a batch of reads that lock) leaves no lock
 * behind, and an error inside it does not abort the transaction. False
 * with err (may be NULL) when the connection is unusable. */
bool pg_savepoint_undo(PGconn *conn, const char *savepoint, Error *err);

/* pg_connect with server settings added to the conninfo's own "options"
 * (e.g. "-c lock_timeout=30s"); client programs run with the connection
 * (pg_tool_run) get them too. options NULL: as pg_connect. */
PGconn *pg_connect_with(const char *conninfo, const char *dbname, const char *options, Error *err);

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

/* Runs COPY "schema"."table" TO STDOUT and hands the text stream (whole rows) to fn in
 * batches of about 256 KiB, never the whole table. Counts rows. */
bool pg_copy_out(PGconn *conn, const char *schema, const char *table, SinkFn fn, void *arg,
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

/* Does the program at path list option (e.g. "--restrict-key") in its
 * --help? Minor releases add options, so the major version cannot tell. */
bool pg_tool_has_option(const char *path, const char *option);

/* Runs the program with argv (argv[0] is its path) and the connection
 * settings of conn passed through the environment (PGHOST, PGPORT, PGUSER,
 * PGPASSWORD, ...), never on the command line; dbname replaces the
 * database. Standard output goes to out (or is discarded when out is NULL);
 * the end of standard error is kept for the error message. Fails when the
 * program exits non-zero or is killed. */
bool pg_tool_run(char *const argv[], PGconn *conn, const char *dbname, SinkFn out,
                 void *out_arg, Error *err);

/* ---- server-side DDL (admin.c) ------------------------------------------ */

/* Runs a statement whose template has one or two "%s" places for
 * identifiers (id1, id2), each quoted with PQescapeIdentifier. what names
 * the purpose for the error. */
bool pg_exec_ident(PGconn *conn, const char *what, const char *tmpl, const char *id1,
                   const char *id2, Error *err);

/* Does the database (the schema, in conn's database) exist? */
bool pg_database_exists(PGconn *conn, const char *db, bool *exists, Error *err);
bool pg_schema_exists(PGconn *conn, const char *schema, bool *exists, Error *err);

/* Applies one "name=value" setting of database db (or, with role, of that
 * role in db): set_config() then ALTER ... SET name FROM CURRENT keeps the
 * value exactly as stored, and no value is pasted into SQL. The session's
 * own value is put back afterwards. A kv without '=' is ignored. */
bool pg_apply_setting(PGconn *conn, const char *db, const char *role, const char *kv, Error *err);

/* DROP DATABASE IF EXISTS ... WITH (FORCE). */
bool pg_drop_database(PGconn *conn, const char *db, Error *err);

/* Ends every other session connected to database db. */
bool pg_terminate_sessions(PGconn *conn, const char *db, Error *err);

/* Ends this process's other sessions (application_name pg_app_name()),
 * so that their locks go: cleanup after an interrupt. */
bool pg_terminate_own(PGconn *conn, Error *err);

/* The same, until none of them is left (at most about five seconds). */
bool pg_terminate_own_wait(PGconn *conn, Error *err);

/* The other sessions (this process's left out) holding a lock on a
 * relation of schema (NULL: any relation of conn's database), described
 * for a message: "pid N (application \"x\", idle in transaction, in a
 * transaction for S s); ...", at most five; NULL when none (malloc'd). */
char *pg_lock_holders(PGconn *conn, const char *schema);

/* COMMENT ON DATABASE db IS text (both quoted by the server). */
bool pg_comment_database(PGconn *conn, const char *db, const char *text, Error *err);


/* ---- catalog queries with typed results (catalog.c) ---------------------- */

/* What the backup reads from a database's catalog, as C values. Strings are
 * malloc'd and owned by the result; each _free releases what a result holds
 * and zeroes it (a zeroed result is empty and may be freed). A failed query
 * leaves the result zeroed and sets err to "WHAT: server message". */

/* Names: schemas, or "name=value" settings. */
typedef struct PgNameList
{
    char **names;
    size_t count;
} PgNameList;

void pg_name_list_free(PgNameList *list);

/* The databases whose name is LIKE like, with their comments ("" for
 * none), in name order; free both with pg_name_list_free. */
bool pg_databases_like(PGconn *conn, const char *like, PgNameList *names, PgNameList *comments,
                       Error *err);

/* What the connection's role can do with a relation; the privilege test is
 * NULL for an object dropped since the list was read. */
typedef enum
{
    PG_ACCESS_READABLE,
    PG_ACCESS_DENIED,
    PG_ACCESS_DROPPED,
} PgAccess;

/* A relation. Names and kind are always filled; oid, bytes and access only
 * where a query below says so (else zero). */
typedef struct PgRelation
{
    char *schema;
    char *name;
    char kind; /* relkind: 'r' table, 'p' partitioned table, 'S' sequence, 'm' matview */
    uint32_t oid;
    int64_t bytes; /* pg_relation_size */
    PgAccess access;
} PgRelation;

typedef struct PgRelationList
{
    PgRelation *items;
    size_t count;
} PgRelationList;

void pg_relation_list_free(PgRelationList *list);

/* ---- the lock budget (locks.c) --------------------------------------------- */

/* The server's shared lock table holds capacity locks for every session;
 * Coffer holds at most budget relation locks at once. */
typedef struct PgLockBudget
{
    long capacity; /* max_locks_per_transaction x (max_connections + max_prepared_transactions) */
    long budget;   /* configured (postgres.lock_budget), or a quarter of capacity */
} PgLockBudget;

/* Reads the server's settings; configured > 0 overrides the budget. */
bool pg_lock_budget(PGconn *conn, long configured, PgLockBudget *out, Error *err);

/* How many locks may be taken now: the budget, or half of what the lock
 * table has free when other sessions hold much of it (at least 1). */
long pg_lock_room(PGconn *conn, const PgLockBudget *b);

/* The sizes of relations by oid (pg_total_relation_size when total, else
 * pg_relation_size; 0 for one dropped), into out[0..n). Each size locks its
 * relation: they are read in batches within the lock budget, each batch's
 * locks released before the next (in a savepoint when conn is in a
 * transaction). */
bool pg_relation_sizes(PGconn *conn, long lock_budget, const uint32_t *oids, size_t n, bool total,
                       int64_t *out, Error *err);

/* Every schema of the database (catalog schemas included), as the
 * transaction's snapshot sees them. */
bool pg_catalog_schemas(PGconn *conn, PgNameList *out, Error *err);

/* User tables (relkind 'r', partitions included) that are no extension's,
 * with bytes, in no particular order. */
bool pg_catalog_tables(PGconn *conn, long lock_budget, PgRelationList *out, Error *err);

/* The tables (plain and partitioned) and sequences of user schemas, not an
 * extension's, that the role cannot read, ordered by schema and name, with
 * kind and access (PG_ACCESS_DENIED or PG_ACCESS_DROPPED). The list comes
 * from the snapshot; privileges and existence from the current catalog, so
 * it also sees what changed after the snapshot was taken. */
bool pg_catalog_unreadable(PGconn *conn, PgRelationList *out, Error *err);

/* The sequences of the schemas named (every schema when schemas is NULL;
 * none when n_schemas is 0), other sessions' temporary schemas left out,
 * with oid, in creation (oid) order. */
bool pg_catalog_sequences(PGconn *conn, const char *const *schemas, size_t n_schemas,
                          PgRelationList *out, Error *err);

/* Populated materialized views of every schema, in creation order. */
bool pg_catalog_matviews(PGconn *conn, PgRelationList *out, Error *err);

/* A sequence's value as pg_sequence_last_value() reports it. */
typedef struct PgSequenceValue
{
    PgAccess access;
    char *last_value; /* NULL when not readable, and when never called or reset with
                         setval(..., false): then only the sequence's row tells */
} PgSequenceValue;

typedef struct PgSequenceValueList
{
    PgSequenceValue *items;
    size_t count;
} PgSequenceValueList;

void pg_sequence_value_list_free(PgSequenceValueList *list);

/* The values of sequences (by their oid), one per sequence in the same
 * order. pg_sequence_last_value() keeps a lock on each sequence until the
 * end of its transaction: conn must not be in one, and the read runs in
 * batches of at most the lock budget (lock_budget: configured, or 0 for the
 * server's default), each its own transaction. An error (a sequence dropped
 * while the read waited for its lock) fails the read. */
bool pg_catalog_sequence_values(PGconn *conn, long lock_budget, const PgRelationList *sequences,
                                PgSequenceValueList *out, Error *err);

/* The last_value (text, malloc'd) and is_called of a sequence's own row;
 * false with err when it cannot be read (or does not return one row). */
bool pg_catalog_sequence_row(PGconn *conn, const char *schema, const char *name, char **last_value,
                             bool *is_called, Error *err);

/* An installed extension and the schema of its objects. */
typedef struct PgExtension
{
    char *name;
    char *schema;
} PgExtension;

typedef struct PgExtensionList
{
    PgExtension *items;
    size_t count;
} PgExtensionList;

void pg_extension_list_free(PgExtensionList *list);

/* The database's extensions, in creation order. */
bool pg_catalog_extensions(PGconn *conn, PgExtensionList *out, Error *err);

/* One privilege of a database's ACL (aclexplode). */
typedef struct PgGrant
{
    char *grantee; /* NULL: PUBLIC */
    char *privilege;
    bool grantable;
} PgGrant;

/* The settings of a role in a database (ALTER ROLE ... IN DATABASE ... SET). */
typedef struct PgRoleSettings
{
    char *role;
    PgNameList *settings; /* "name=value"; NULL when the catalog holds NULL */
} PgRoleSettings;

/* What re-creating the current database needs. */
typedef struct PgDatabaseProps
{
    char *encoding;
    char *collate;
    char *ctype;
    char *dba;
    PgNameList *settings; /* ALTER DATABASE ... SET, "name=value"; NULL: none */
    char *comment;        /* NULL: none */
    bool has_acl;         /* false: the default privileges (datacl NULL) */
    PgGrant *acl;
    size_t n_acl;
    PgRoleSettings *role_settings; /* in catalog order */
    size_t n_role_settings;
} PgDatabaseProps;

/* The current database's properties; false with err when the query fails
 * or returns something unexpected. */
bool pg_catalog_database(PGconn *conn, PgDatabaseProps *out, Error *err);
void pg_database_props_free(PgDatabaseProps *props);

/* ---- roles in pg_dumpall --globals-only output (globals.c) ---------------- */

typedef struct PgRoleStatements
{
    struct
    {
        char *sql;     /* one statement, as the dump wrote it */
        char *created; /* for a CREATE ROLE: the role as the dump spells it */
    } *items;
    size_t count;
} PgRoleStatements;

/* The statements of globals (pg_dumpall --globals-only text) that create
 * the roles missing from existing, with their attributes, settings and
 * memberships, in the dump's order. Roles that exist are never touched. */
void pg_globals_missing_roles(const char *globals, const char *const *existing, size_t n_existing,
                              PgRoleStatements *out);
void pg_role_statements_free(PgRoleStatements *st);

/* ---- argument lists of the client programs (dump.c) --------------------- */

/* A pg_dump/pg_restore pattern that matches exactly this name (quoted, with
 * quotes doubled), malloc'd. */
char *pg_dump_exact_pattern(const char *name);

/* A conninfo value "dbname='...'" for --dbname, escaped for the conninfo
 * syntax (a name holding '=' would otherwise be read as a connection
 * string); malloc'd. */
char *pg_dump_dbarg(const char *db);

/* pg_dump --schema-only --format=custom of one schema (matched exactly) of
 * database dbname into file. */
bool pg_dump_schema_file(const char *program, const char *schema, const char *dbname,
                         const char *file, PGconn *conn, Error *err);

/* One pg_restore run of an archive into a database. */
typedef struct PgRestoreRun
{
    const char *program; /* pg_restore's path */
    const char *archive;
    const char *list;    /* a -L file, or NULL for every entry */
    const char *section; /* "pre-data", "post-data", or NULL */
    const char *dbname;  /* the database to connect to */
    bool create;         /* --create (dbname is then the maintenance database) */
    int jobs;            /* > 1: --jobs; else one transaction (unless create) */
} PgRestoreRun;

/* Runs pg_restore --exit-on-error as run says, with conn's settings. */
bool pg_restore_run(const PgRestoreRun *run, PGconn *conn, Error *err);

/* "pg_restore --list" of archive (with --schema=S for each schema, which
 * pg_restore matches exactly) appended to out. */
bool pg_restore_list(const char *program, const char *archive, const char *const *schemas,
                     size_t n_schemas, Buf *out, Error *err);

/* ---- pg_dump custom-format archives (archive.c) ------------------------ */

/* A schema-only "pg_dump --format=custom" of a database is split into one
 * archive per owner (each tenant, and the shared part) at backup time; each
 * part is a valid archive that pg_restore reads. Archive versions 1.14
 * (pg_dump 12 to 15), 1.15 (16) and 1.16 (17) are read and written. */

/* An entry's section (pg_dump's teSection). */
#define PG_ARCHIVE_SECTION_NONE 1 /* comments, grants: restored where they stand */
#define PG_ARCHIVE_SECTION_PRE_DATA 2
#define PG_ARCHIVE_SECTION_DATA 3
#define PG_ARCHIVE_SECTION_POST_DATA 4

/* Where an entry's data block is (the custom format's offset flag). */
#define PG_ARCHIVE_DATA_NOT_SET 1 /* has data, position unknown (written to a pipe) */
#define PG_ARCHIVE_DATA_SET 2     /* has data at data_offset */
#define PG_ARCHIVE_DATA_NONE 3    /* no data: every entry of a schema-only dump */

/* What comes before the table of contents. raw holds its bytes as pg_dump
 * wrote them (magic to dump version), which the writer copies. */
typedef struct PgArchiveHeader
{
    int major, minor, rev; /* archive version: 1.14.0 for pg_dump 15 */
    int int_size;          /* bytes of an integer (after its sign byte) */
    int off_size;          /* bytes of a data offset */
    int format;            /* 1: custom */
    int compression;       /* 1.14: the level; 1.15+: the algorithm */
    int created[7];        /* sec, min, hour, mday, mon, year, isdst */
    char *dbname;          /* each may be NULL */
    char *server_version;
    char *dump_version;
    int entries; /* the entry count of the archive read (a writer writes its own) */
    unsigned char *raw;
    size_t raw_len;
    size_t created_off; /* where the creation time starts in raw */
} PgArchiveHeader;

/* One entry of the table of contents. Strings are NULL where pg_dump wrote
 * none (desc never is). */
typedef struct PgArchiveEntry
{
    int dump_id;
    bool had_dumper; /* has a data block (never, in a schema-only dump) */
    uint32_t table_oid;
    uint32_t oid;
    char *tag;   /* the object's name as the listing shows it ("SCHEMA x" for a
                    comment or grant on schema x) */
    char *desc;  /* its type: "TABLE", "FK CONSTRAINT", "SCHEMA", ... */
    int section; /* PG_ARCHIVE_SECTION_* */
    char *defn;
    char *drop_stmt;
    char *copy_stmt;
    char *namespace; /* the schema the object is in, NULL for none */
    char *tablespace;
    char *tableam;
    int relkind; /* 1.16+ only, else 0 */
    char *owner;
    bool with_oids;
    int *deps; /* dump ids of the entries this one depends on */
    size_t n_deps;
    int data_state;       /* PG_ARCHIVE_DATA_* */
    uint64_t data_offset; /* with PG_ARCHIVE_DATA_SET */
} PgArchiveEntry;

/* Receives each entry as soon as it is whole; the entry and its strings
 * are valid during the call only (pg_archive_entry_copy keeps one). false
 * (with err set) stops the reader. */
typedef bool (*PgArchiveEntryFn)(void *arg, const PgArchiveEntry *entry, Error *err);

typedef struct PgArchiveReader PgArchiveReader;

/* A push parser: feed it the archive in chunks of any size, then finish.
 * It holds about one entry plus one chunk; an entry (or one string) larger
 * than max_entry bytes is an error (0: 64 MiB). */
PgArchiveReader *pg_archive_reader_new(size_t max_entry, PgArchiveEntryFn fn, void *arg);
void pg_archive_reader_free(PgArchiveReader *r);

/* Parses the next len bytes and hands every entry they complete to fn.
 * False with err on an unsupported version, a format other than custom, a
 * corrupt field, an entry with data or any byte after the table of
 * contents (a schema-only archive has no data blocks), or when fn fails;
 * the reader then accepts nothing more. */
bool pg_archive_feed(PgArchiveReader *r, const void *data, size_t len, Error *err);

/* At the end of the input: false with err ("truncated: it ends in entry N
 * of M") unless the header and every entry were read. */
bool pg_archive_finish(PgArchiveReader *r, Error *err);

/* The header, once read (else NULL); valid until the reader is freed. */
const PgArchiveHeader *pg_archive_reader_header(const PgArchiveReader *r);

/* The number of entries handed to fn so far. */
size_t pg_archive_reader_count(const PgArchiveReader *r);

/* Deep copies, and their release (NULL is allowed). */
PgArchiveHeader *pg_archive_header_copy(const PgArchiveHeader *h);
/* Sets the creation time a header says (in created and in raw) to
 * 2000-01-01 00:00:00: two dumps of unchanged DDL then write the same
 * bytes, which the repository stores once. pg_restore only prints it. */
void pg_archive_header_fix_time(PgArchiveHeader *h);
void pg_archive_header_free(PgArchiveHeader *h);
PgArchiveEntry *pg_archive_entry_copy(const PgArchiveEntry *e);
void pg_archive_entry_free(PgArchiveEntry *e);

typedef struct PgArchiveWriter PgArchiveWriter;

/* Writes an archive of exactly n_entries entries to sink: begin writes the
 * header (h's raw bytes) and the count, each pg_archive_write_entry one
 * entry (marked as having no data), end checks the count. begin returns
 * NULL with err when h is incomplete or sink fails. An entry with data is
 * refused: a part has no data blocks. */
PgArchiveWriter *pg_archive_write_begin(const PgArchiveHeader *h, size_t n_entries, SinkFn sink,
                                        void *arg, Error *err);
bool pg_archive_write_entry(PgArchiveWriter *w, const PgArchiveEntry *e, Error *err);
/* Frees w; false with err when fewer entries than announced were written
 * (err may be NULL when abandoning a writer after an error). */
bool pg_archive_write_end(PgArchiveWriter *w, Error *err);

/* The entries of one part (an owner's), collected while reading, then
 * written out as one archive. Entries are copied; keep their order. */
typedef struct PgArchivePart PgArchivePart;

PgArchivePart *pg_archive_part_new(void);
void pg_archive_part_add(PgArchivePart *p, const PgArchiveEntry *e);
size_t pg_archive_part_count(const PgArchivePart *p);
/* About how many bytes the part's entries hold. */
size_t pg_archive_part_bytes(const PgArchivePart *p);
/* The i-th entry, or NULL past the end. */
const PgArchiveEntry *pg_archive_part_entry(const PgArchivePart *p, size_t i);
/* Gives the part's entries the dump ids first_id, first_id + 1, ... in
 * order, rewrites their dependencies on each other to match and drops
 * those on entries outside the part (another dump's numbering). Returns
 * the next free id. A part so renumbered merges with the archive of
 * another dump whose ids are all below first_id. */
int pg_archive_part_renumber(PgArchivePart *p, int first_id);
/* Writes the part as an archive with header h (of the archive read). */
bool pg_archive_part_write(const PgArchivePart *p, const PgArchiveHeader *h, SinkFn sink, void *arg,
                           Error *err);
void pg_archive_part_free(PgArchivePart *p);

/* Which tenant of the schema model an entry belongs to: true with *which
 * the index in schemas of the tenant schema that is its namespace, or that
 * it is (a SCHEMA entry), or that it comments, grants or labels (tag
 * "SCHEMA name", name bare or quoted as pg_dump's fmtId prints it). Names
 * are compared exactly. False: the entry is shared (database, extensions,
 * casts, publications, entries of shared schemas, ...). */
bool pg_archive_entry_owner(const PgArchiveEntry *e, const char *const *schemas, size_t n_schemas,
                            size_t *which);

/* True for the ENCODING, STDSTRINGS and SEARCHPATH entries, which set up
 * pg_restore's session: every part needs a copy, or pg_restore falls back
 * to SQL_ASCII and standard_conforming_strings = off. */
bool pg_archive_entry_is_setup(const PgArchiveEntry *e);

/* ---- rewriting function bodies (rewrite.c) ------------------------------ */

/* What a rewrite changed and what it left. The functions below add to the
 * counts, so that one report sums a body and its settings; zero it first. */
typedef struct PgRewriteReport
{
    int rewritten;   /* references to the old schema replaced by the new name */
    int in_strings;  /* mentions inside string literals and dollar-quoted strings */
    int in_comments; /* mentions inside comments */
    int as_names;    /* the old name as an identifier that is not a qualifier */
    int unsure;      /* the old name where it may or may not mean the schema:
                        between two dots, in a U&"..." identifier, in a body
                        of another language */
    int in_settings; /* settings other than search_path that mention it */
} PgRewriteReport;

/* Rewrites the schema qualifiers of a SQL or PL/pgSQL function body
 * (prosrc) from old_schema to new_schema: an identifier followed by "."
 * (spaces and comments may come between) and not itself after a ".", that
 * is unquoted and folds (ASCII lower case, 63 bytes at most) to old_schema,
 * or double-quoted and equal to it. String literals ('', E'', U&'', B'',
 * X'', dollar-quoted) and comments are never changed; the old name found in
 * them is counted in report (ASCII case-insensitively, as a whole word).
 * The new name is written bare when the old one was bare and it is a plain
 * lowercase identifier and no keyword, else double-quoted. Returns the new
 * body, malloc'd. */
char *pg_rewrite_body(const char *body, const char *old_schema, const char *new_schema,
                      PgRewriteReport *report);

/* Rewrites one proconfig entry "name=value": in search_path, the list
 * elements that name old_schema (unquoted ones folded to lower case) become
 * new_schema, quoted as pg_rewrite_body quotes; any other setting that
 * mentions old_schema is left as is and counted in report->in_settings.
 * Returns the entry, rewritten or not, malloc'd. */
char *pg_rewrite_setting(const char *entry, const char *old_schema, const char *new_schema,
                         PgRewriteReport *report);

/* True when report counts a mention of the old schema that was not
 * rewritten: in a string, comment or setting, where it may or may not be
 * the schema, or as another kind of name in a body whose qualifiers were
 * rewritten (an alias or label of that name makes them doubtful). */
bool pg_rewrite_report_leftover(const PgRewriteReport *report);

/* Says where report's leftovers are ("in a string literal, in a comment"),
 * malloc'd; "" when there are none. */
char *pg_rewrite_report_describe(const PgRewriteReport *report);

/* One function or procedure of the schema. */
typedef struct PgRewriteFunction
{
    char *signature;        /* regprocedure text, e.g. tenant_copy.log_order() */
    PgRewriteReport report; /* its body and settings together */
} PgRewriteFunction;

typedef struct PgRewriteResult
{
    PgRewriteFunction *rewritten; /* body or settings changed */
    size_t n_rewritten;
    PgRewriteFunction *leftovers; /* still mention the old schema (may be in both lists) */
    size_t n_leftovers;
} PgRewriteResult;

/* Run on a database where schema was just renamed from old_schema: rewrites
 * the bodies (pg_rewrite_body) and search_path settings
 * (pg_rewrite_setting) of the schema's SQL and PL/pgSQL functions and
 * procedures, with CREATE OR REPLACE from pg_get_functiondef (only the body
 * replaced) and ALTER ROUTINE ... SET, all in one transaction (conn must
 * not be in one already). SQL-standard bodies (BEGIN ATOMIC, RETURN) need
 * nothing: the server follows the rename. Fills res (zero it first;
 * pg_rewrite_result_free frees it, even after a failure); false with err,
 * and nothing changed, when a query or DDL fails or a definition cannot be
 * taken apart. */
bool pg_rewrite_schema_functions(PGconn *conn, const char *schema, const char *old_schema,
                                 PgRewriteResult *res, Error *err);

/* Logs res: a summary line, each rewritten function at debug level
 * (--verbose), and a warning naming old_schema for each leftover. */
void pg_rewrite_result_log(const PgRewriteResult *res, const char *old_schema);

/* Frees what res holds and zeroes it. */
void pg_rewrite_result_free(PgRewriteResult *res);

#endif
