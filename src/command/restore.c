/*
 * restore.c - "coffer restore": one tenant (or all) back from a snapshot,
 * in place, beside the live one under another name, or into another
 * database, without touching any other tenant.
 *
 * Order: pre-data DDL (pg_restore -L with the tenant's entries, in one
 * transaction), data by N parallel COPY streams read straight from the
 * repository (row counts and hashes checked against the manifest), post-data
 * (pg_restore -j N), sequence values, materialized views, ANALYZE.
 *
 * What restore replaces is never dropped first: the live schema or database
 * is renamed aside, and dropped only when the restore succeeded; on failure
 * the partial copy is dropped and the old one renamed back. A new schema
 * name goes through a scratch database (restore DDL there, ALTER SCHEMA ...
 * RENAME, dump it again) so that no SQL text is ever rewritten.
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

#include "command/backup.h"
#include "command/command.h"
#include "common/buf.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "config/config.h"
#include "pg/pg.h"
#include "pg/toc.h"
#include "repo/repo.h"
#include "tenancy/tenancy.h"

typedef struct RestoreArgs
{
    char **tenants;
    size_t n_tenants;
    bool all;
    const char *snapshot;
    const char *as;
    const char *into_db;
    char **tables;
    size_t n_tables;
    bool data_only;
    bool schema_only;
    bool clean;
    int jobs;
} RestoreArgs;

typedef struct Restore
{
    CliContext *ctx;
    const Config *cfg;
    Repo *repo;
    RestoreArgs *a;
    json_t *snap;
    char *pg_restore;
    char *pg_dump;
    int major;
    char tmpdir[64];
    int tmpseq;
    PGconn *admin; /* maintenance connection (database "postgres") */
    char **roles;  /* role names, read when first needed */
    size_t n_roles;

    pthread_mutex_t lock;
    uint64_t tables_total;
    uint64_t tables_done;
    uint64_t bytes;
    uint64_t bytes_total; /* of the tables queued so far, from the manifest */
    uint64_t rows;
    double started;
    double last_log;    /* when progress was last logged (not on a terminal) */
    char safety_id[65]; /* the safety backup taken before replacing, or "" */
} Restore;

/* One restore target: a tenant (or shared part) of the snapshot and where it goes. */
typedef struct Target
{
    json_t *unit;  /* the manifest's tenants[] entry */
    json_t *dbdoc; /* the manifest's databases[] entry of its database */
    const char *name;
    const char *src_db;
    const char *src_schema; /* schema model */
    char *db;               /* target database */
    char *schema;           /* target schema (schema model) */
    char *aside;            /* what the live copy was renamed to, or NULL */
    bool created;           /* the target schema/database was created by this restore */
    bool keep_aside;        /* not in the safety backup: keep what it replaces */
} Target;

/* ---- small helpers ------------------------------------------------------- */

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* A conninfo value "dbname='...'" for -d, escaped for the conninfo syntax
 * (names containing '=' would otherwise be read as a connection string). */
static char *restore_dbarg(const char *db)
{
    Buf b;

    buf_init(&b);
    buf_append_str(&b, "dbname='");
    for (const char *p = db; *p; p++)
    {
        if (*p == '\'' || *p == '\\')
            buf_append(&b, "\\", 1);
        buf_append(&b, p, 1);
    }
    buf_append_str(&b, "'");
    return (char *)b.data;
}

static bool restore_collect(void *arg, const void *data, size_t len, Error *err)
{
    (void)err;
    buf_append(arg, data, len);
    return true;
}

/* A name for something renamed aside, unique and at most 63 bytes. The
 * name is cut on a character boundary: half a UTF-8 character is not a
 * name the server accepts. */
static char *restore_aside_name(const char *name)
{
    char suffix[48];
    size_t keep = strlen(name);

    snprintf(suffix, sizeof(suffix), "_coffer_old_%ld_%d", (long)time(NULL), (int)getpid());
    if (keep > 63 - strlen(suffix))
    {
        keep = 63 - strlen(suffix);
        while (keep > 0 && ((unsigned char)name[keep] & 0xC0) == 0x80)
            keep--;
    }
    return xasprintf("%.*s%s", (int)keep, name, suffix);
}

/* Runs a statement whose template has one or two "%s" places for
 * identifiers, each quoted with PQescapeIdentifier. */
static bool restore_exec_ident(PGconn *conn, const char *what, const char *tmpl, const char *id1,
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

static bool restore_exists(PGconn *conn, const char *sql, const char *name, bool *exists,
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

static bool restore_db_exists(Restore *r, const char *db, bool *exists, Error *err)
{
    return restore_exists(r->admin, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", db,
                          exists, err);
}

static bool restore_schema_exists(PGconn *conn, const char *schema, bool *exists, Error *err)
{
    return restore_exists(conn, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", schema,
                          exists, err);
}

/* ---- the DDL archive ------------------------------------------------------ */

typedef struct FileSink
{
    int fd;
    const char *path;
} FileSink;

static bool restore_file_write(void *arg, const void *data, size_t len, Error *err)
{
    FileSink *f = arg;
    const char *p = data;

    while (len > 0)
    {
        ssize_t n = write(f->fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(err, ERR_FAILURE, "could not write \"%s\": %s", f->path,
                             strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Writes a stored stream (DDL archive) to a private temp file; returns its path. */
static char *restore_fetch(Restore *r, json_t *stream, const char *label, Error *err)
{
    char *path = xasprintf("%s/%d-%s", r->tmpdir, ++r->tmpseq, label);
    FileSink f = {-1, path};
    const char *want = jstr(stream, "hash");
    char hash[65];
    bool ok;

    f.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f.fd < 0)
    {
        error_set(err, ERR_FAILURE, "could not create \"%s\": %s", path, strerror(errno));
        free(path);
        return NULL;
    }
    ok = repo_read_chunks(r->repo, json_object_get(stream, "chunks"), restore_file_write, &f, hash,
                          err);
    if (ok && strcmp(hash, want) != 0)
    {
        ok = error_set(err, ERR_FAILURE,
                       "the %s read back does not match the snapshot (hash %.12s; manifest says "
                       "%.12s)",
                       label, hash, want);
        error_hint(err, "run \"coffer check --read-data\" on the repository");
    }
    if (close(f.fd) != 0 && ok)
        ok = error_set(err, ERR_FAILURE, "could not write \"%s\": %s", path, strerror(errno));
    if (!ok)
    {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

/* Every role name of the server, once: the filter tells a schema's own
 * entry ("SCHEMA - NAME OWNER") apart by its owner. */
static bool restore_roles(Restore *r, Error *err)
{
    PGresult *res;

    if (r->roles != NULL)
        return true;
    res = pg_query(r->admin, "list roles", "SELECT rolname FROM pg_catalog.pg_roles", 0, NULL, err);
    if (res == NULL)
        return false;
    r->roles = xcalloc((size_t)PQntuples(res) + 1, sizeof(char *));
    for (int i = 0; i < PQntuples(res); i++)
        r->roles[r->n_roles++] = xstrdup(PQgetvalue(res, i, 0));
    PQclear(res);
    return true;
}

/* Writes listing lines to a new -L file in the temp directory; returns its path. */
static char *restore_write_list(Restore *r, Buf *lines, Error *err)
{
    char *path = xasprintf("%s/%d-list", r->tmpdir, ++r->tmpseq);
    FileSink f = {-1, path};

    f.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f.fd < 0)
    {
        error_set(err, ERR_FAILURE, "could not create \"%s\": %s", path, strerror(errno));
        free(path);
        return NULL;
    }
    if (!restore_file_write(&f, lines->data ? lines->data : (unsigned char *)"", lines->len, err))
    {
        close(f.fd);
        unlink(path);
        free(path);
        return NULL;
    }
    close(f.fd);
    return path;
}

/* The archive's listing, filtered to the schemas, as a -L file. Objects in
 * the schemas are those "pg_restore --list --schema=..." selects (an exact
 * match on the namespace, which the listing's text cannot give: names may
 * hold spaces); the schemas' own entries and the extensions come from the
 * whole listing. */
static char *restore_list(Restore *r, const char *archive, const char *const *schemas,
                          size_t n_schemas, bool extensions, Error *err)
{
    char **argv = xcalloc(n_schemas + 4, sizeof(char *));
    char *full_argv[] = {r->pg_restore, "--list", (char *)archive, NULL};
    TocFilter filter;
    TocExact exact;
    Buf listing, selected, kept;
    char *path = NULL;
    size_t n = 0;

    buf_init(&listing);
    buf_init(&selected);
    buf_init(&kept);
    argv[n++] = r->pg_restore;
    argv[n++] = "--list";
    for (size_t i = 0; i < n_schemas; i++)
        argv[n++] = xasprintf("--schema=%s", schemas[i]);
    argv[n++] = (char *)archive;
    argv[n] = NULL;
    if (!restore_roles(r, err) ||
        !pg_tool_run(full_argv, NULL, NULL, restore_collect, &listing, err) ||
        !pg_tool_run(argv, NULL, NULL, restore_collect, &selected, err))
        goto done;
    filter.schemas = schemas;
    filter.n_schemas = n_schemas;
    filter.extensions = extensions;
    exact.selected = buf_cstr(&selected);
    exact.roles = (const char *const *)r->roles;
    exact.n_roles = r->n_roles;
    toc_filter_exact(buf_cstr(&listing), &filter, &exact, &kept);
    path = restore_write_list(r, &kept, err);
done:
    for (size_t i = 2; i < 2 + n_schemas; i++)
        free(argv[i]);
    free(argv);
    buf_free(&listing);
    buf_free(&selected);
    buf_free(&kept);
    return path;
}

/* pg_restore of an archive (optionally a -L list and a section) into db. */
static bool restore_run_pg_restore(Restore *r, const char *archive, const char *list,
                                   const char *section, const char *db, bool create, int jobs,
                                   Error *err)
{
    char *argv[16];
    int n = 0;
    char *dbarg = restore_dbarg(db);
    char *sect = section ? xasprintf("--section=%s", section) : NULL;
    char *jarg = jobs > 1 ? xasprintf("--jobs=%d", jobs) : NULL;
    bool ok;

    argv[n++] = r->pg_restore;
    argv[n++] = "--exit-on-error";
    if (sect != NULL)
        argv[n++] = sect;
    if (list != NULL)
    {
        argv[n++] = "--use-list";
        argv[n++] = (char *)list;
    }
    if (create)
        argv[n++] = "--create";
    if (jarg != NULL)
        argv[n++] = jarg;
    else if (!create)
        argv[n++] = "--single-transaction"; /* pg_restore refuses it with --create */
    argv[n++] = "--dbname";
    argv[n++] = dbarg;
    argv[n++] = (char *)archive;
    argv[n] = NULL;
    ok = pg_tool_run(argv, r->admin, NULL, NULL, NULL, err);
    free(dbarg);
    free(sect);
    free(jarg);
    return ok;
}

/* Reads a whole (small) file: a -L list this restore wrote. */
static bool restore_read_file(const char *path, Buf *out, Error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char tmp[65536];
    ssize_t n;

    if (fd < 0)
        return error_set(err, ERR_FAILURE, "could not open \"%s\": %s", path, strerror(errno));
    while ((n = read(fd, tmp, sizeof(tmp))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            buf_append(out, tmp, (size_t)n);
    close(fd);
    if (n < 0)
        return error_set(err, ERR_FAILURE, "could not read \"%s\": %s", path, strerror(errno));
    return true;
}

/* Post-data: indexes, constraints, triggers, policies, in parallel. Parallel
 * pg_restore can deadlock on partitioned indexes (two ALTER INDEX ... ATTACH
 * PARTITION at different levels of one partition tree, or one of them and
 * an index build, lock the same relations in opposite orders), so when the
 * archive has INDEX ATTACH entries they run apart, one at a time, after the
 * rest, and the foreign keys (which need the attached, valid parent
 * indexes) after them, in parallel again. list is the -L file of the
 * target (NULL: the whole archive). */
static bool restore_post_data(Restore *r, const char *archive, const char *list, const char *db,
                              Error *err)
{
    static const char *const attach[] = {"INDEX ATTACH"};
    static const char *const late[] = {"INDEX ATTACH", "FK CONSTRAINT"};
    static const char *const fk[] = {"FK CONSTRAINT"};
    char *argv[] = {r->pg_restore, "--list", (char *)archive, NULL};
    char *paths[3] = {NULL, NULL, NULL};
    Buf all, part;
    bool ok = false;

    buf_init(&all);
    buf_init(&part);
    if (list != NULL ? !restore_read_file(list, &all, err)
                     : !pg_tool_run(argv, NULL, NULL, restore_collect, &all, err))
        goto done;
    if (toc_select_types(buf_cstr(&all), attach, 1, true, &part) == 0 || r->a->jobs < 2)
    {
        ok = restore_run_pg_restore(r, archive, list, "post-data", db, false, r->a->jobs, err);
        goto done;
    }
    paths[1] = restore_write_list(r, &part, err);
    buf_reset(&part);
    toc_select_types(buf_cstr(&all), late, 2, false, &part);
    paths[0] = paths[1] ? restore_write_list(r, &part, err) : NULL;
    buf_reset(&part);
    toc_select_types(buf_cstr(&all), fk, 1, true, &part);
    paths[2] = paths[0] ? restore_write_list(r, &part, err) : NULL;
    ok = paths[2] != NULL &&
         restore_run_pg_restore(r, archive, paths[0], "post-data", db, false, r->a->jobs, err) &&
         restore_run_pg_restore(r, archive, paths[1], "post-data", db, false, 1, err) &&
         restore_run_pg_restore(r, archive, paths[2], "post-data", db, false, r->a->jobs, err);
done:
    for (int i = 0; i < 3; i++)
    {
        if (paths[i] != NULL)
            unlink(paths[i]);
        free(paths[i]);
    }
    buf_free(&all);
    buf_free(&part);
    return ok;
}

/* ---- roles ------------------------------------------------------------------ */

/* The length of the SQL identifier at p as pg_dumpall writes it: "quoted"
 * (with "" for a quote) or plain up to a space or semicolon; 0 if none. */
static size_t restore_ident_len(const char *p)
{
    size_t n = 0;

    if (p[0] != '"')
    {
        while (p[n] != '\0' && p[n] != ' ' && p[n] != ';' && p[n] != '\n')
            n++;
        return n;
    }
    for (n = 1; p[n] != '\0' && p[n] != '\n'; n++)
        if (p[n] == '"' && p[++n] != '"')
            return n;
    return 0;
}

/* The role name an identifier of restore_ident_len's spells (unquoted). */
static char *restore_ident_name(const char *p, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;

    if (p[0] != '"')
        memcpy(out, p, o = len);
    else
        for (size_t i = 1; i + 1 < len; i++)
        {
            out[o++] = p[i];
            if (p[i] == '"')
                i++;
        }
    out[o] = '\0';
    return out;
}

/* Does line start with prefix followed by one of the identifiers in
 * created (as the dump spells them)? Returns the identifier's length or 0. */
static size_t restore_line_names(const char *line, const char *prefix, char **created, size_t n)
{
    size_t plen = strlen(prefix), len;

    if (strncmp(line, prefix, plen) != 0)
        return 0;
    len = restore_ident_len(line + plen);
    for (size_t i = 0; len > 0 && i < n; i++)
        if (strlen(created[i]) == len && strncmp(created[i], line + plen, len) == 0)
            return len;
    return 0;
}

/*
 * Creates the roles of the snapshot's globals that this server lacks (a
 * fresh cluster, or a role dropped since the backup), with their attributes,
 * settings and memberships, so that owners and grants of the restored
 * objects resolve. Roles that exist are never altered. Without the right to
 * create roles, each is a warning, and pg_restore names what it then lacks.
 */
static bool restore_missing_roles(Restore *r, Error *err)
{
    json_t *globals = json_object_get(r->snap, "globals");
    char **created = NULL;
    size_t n_created = 0;
    char *path;
    Buf text;
    bool ok = true;

    if (!json_is_object(globals))
        return true; /* nothing to go by */
    if (!restore_roles(r, err))
        return false;
    path = restore_fetch(r, globals, "globals", err);
    if (path == NULL)
        return error_prefix(err, "could not read the snapshot's roles");
    buf_init(&text);
    ok = restore_read_file(path, &text, err);
    unlink(path);
    free(path);
    buf_append(&text, "", 1);
    /* pass 1: which roles are missing */
    for (char *line = (char *)text.data; ok && line != NULL && *line != '\0';)
    {
        char *next = strchr(line, '\n');
        size_t len = strncmp(line, "CREATE ROLE ", 12) == 0 ? restore_ident_len(line + 12) : 0;

        if (len > 0)
        {
            char *name = restore_ident_name(line + 12, len);
            bool exists = false;

            for (size_t i = 0; i < r->n_roles && !exists; i++)
                exists = strcmp(r->roles[i], name) == 0;
            if (!exists)
            {
                created = xrealloc(created, (n_created + 1) * sizeof(char *));
                created[n_created++] = xstrndup(line + 12, len);
            }
            free(name);
        }
        line = next ? next + 1 : NULL;
    }
    /* pass 2: their statements, in the dump's order */
    for (char *line = (char *)text.data; ok && n_created > 0 && line != NULL && *line != '\0';)
    {
        char *next = strchr(line, '\n');
        size_t role_len = 0;
        size_t create_len = restore_line_names(line, "CREATE ROLE ", created, n_created);
        bool run;
        Error e2;

        if (next != NULL)
            *next = '\0';
        run = create_len > 0 || restore_line_names(line, "ALTER ROLE ", created, n_created) > 0;
        if (!run && strncmp(line, "GRANT ", 6) == 0 &&
            (role_len = restore_ident_len(line + 6)) > 0)
        {
            const char *to = line + 6 + role_len;

            /* a membership "GRANT role TO member ...": one of them is new */
            run = strncmp(to, " TO ", 4) == 0 &&
                  (restore_line_names(line, "GRANT ", created, n_created) > 0 ||
                   restore_line_names(to, " TO ", created, n_created) > 0);
        }
        if (run)
        {
            error_clear(&e2);
            if (!pg_command(r->admin, "create role", line, &e2))
                log_warning("could not apply \"%s\" from the snapshot's roles: %s", line,
                            e2.message);
            else if (create_len > 0)
                log_info("created role %.*s from the snapshot: it was missing", (int)create_len,
                         line + 12);
        }
        line = next ? next + 1 : NULL;
    }
    if (n_created > 0)
    {
        /* the role list feeds the DDL filter: read it again */
        for (size_t i = 0; i < r->n_roles; i++)
            free(r->roles[i]);
        free(r->roles);
        r->roles = NULL;
        r->n_roles = 0;
    }
    for (size_t i = 0; i < n_created; i++)
        free(created[i]);
    free(created);
    buf_free(&text);
    return ok;
}

/* ---- parallel data load ----------------------------------------------------- */

typedef struct LoadJob
{
    json_t *table; /* manifest table entry */
    const char *schema;
    const char *name;
    int64_t bytes;
} LoadJob;

/* What the workers do with each table: load its data, or ANALYZE it. */
typedef enum
{
    LOAD_DATA,
    LOAD_ANALYZE,
} LoadKind;

typedef struct Loader
{
    Restore *r;
    Target *t;
    LoadKind kind;
    LoadJob *jobs;
    size_t n_jobs;
    size_t next;
    int running; /* workers not yet finished */
    bool failed;
    PGconn *shared; /* data-only: work on this connection, in its transaction */
    Error err;
    pthread_mutex_t lock;
    pthread_cond_t done; /* signalled as each worker finishes */
} Loader;

typedef struct LoadSink
{
    Restore *r;
    PGconn *conn;
    uint64_t rows;
    uint64_t bytes;
} LoadSink;

static bool restore_load_write(void *arg, const void *data, size_t len, Error *err)
{
    LoadSink *s = arg;
    const char *p = data;

    /* in COPY text format every row ends with a newline; embedded ones are escaped */
    for (const char *q = memchr(p, '\n', len); q != NULL;
         q = memchr(q + 1, '\n', len - (size_t)(q + 1 - p)))
        s->rows++;
    s->bytes += len;
    pthread_mutex_lock(&s->r->lock);
    s->r->bytes += len;
    pthread_mutex_unlock(&s->r->lock);
    return pg_copy_in_write(s->conn, data, len, err);
}

/* Reading a table's chunks (fetch, decrypt, decompress, verify) runs on a
 * thread of its own and hands plaintext over through a few slots, so that
 * preparing the next chunk overlaps sending this one to the server. Memory
 * stays bounded: RESTORE_PREFETCH chunks per loading worker. */
#define RESTORE_PREFETCH 4

typedef struct Prefetch
{
    pthread_mutex_t mu;
    pthread_cond_t cond;
    Buf slots[RESTORE_PREFETCH];
    size_t head;  /* the slot the sender takes next */
    size_t count; /* filled slots */
    bool done;    /* the reader finished (see failed) */
    bool failed;
    bool cancel; /* the sender gave up: the reader stops */
    Error err;
    Repo *repo;
    json_t *chunks;
    char hash[65]; /* content hash of what was read, once done */
} Prefetch;

static bool restore_prefetch_put(void *arg, const void *data, size_t len, Error *err)
{
    Prefetch *p = arg;
    Buf *slot;

    pthread_mutex_lock(&p->mu);
    while (p->count == RESTORE_PREFETCH && !p->cancel)
        pthread_cond_wait(&p->cond, &p->mu);
    if (p->cancel)
    {
        pthread_mutex_unlock(&p->mu);
        return error_set(err, ERR_FAILURE, "loading the table was cancelled");
    }
    /* the slot after the filled ones is never the one being sent */
    slot = &p->slots[(p->head + p->count) % RESTORE_PREFETCH];
    pthread_mutex_unlock(&p->mu);
    buf_reset(slot);
    buf_append(slot, data, len);
    pthread_mutex_lock(&p->mu);
    p->count++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return true;
}

static void *restore_prefetch_run(void *arg)
{
    Prefetch *p = arg;
    Error err;
    bool ok;

    error_clear(&err);
    ok = repo_read_chunks(p->repo, p->chunks, restore_prefetch_put, p, p->hash, &err);
    pthread_mutex_lock(&p->mu);
    p->done = true;
    if (!ok)
    {
        p->failed = true;
        p->err = err;
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Streams the table's chunks into the open COPY and sets hash to the
 * content hash of what was sent; false with err when reading or sending
 * failed. */
static bool restore_send_chunks(Loader *l, LoadJob *j, LoadSink *sink, char hash[65], Error *err)
{
    Prefetch p;
    pthread_t reader;
    bool ok = true;

    memset(&p, 0, sizeof(p));
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cond, NULL);
    for (int i = 0; i < RESTORE_PREFETCH; i++)
        buf_init(&p.slots[i]);
    p.repo = l->r->repo;
    p.chunks = json_object_get(j->table, "chunks");
    pthread_create(&reader, NULL, restore_prefetch_run, &p);
    for (;;)
    {
        Buf *slot;

        pthread_mutex_lock(&p.mu);
        while (p.count == 0 && !p.done)
            pthread_cond_wait(&p.cond, &p.mu);
        if (p.count == 0)
        {
            pthread_mutex_unlock(&p.mu);
            break;
        }
        slot = &p.slots[p.head];
        pthread_mutex_unlock(&p.mu);
        ok = restore_load_write(sink, slot->data, slot->len, err);
        pthread_mutex_lock(&p.mu);
        p.head = (p.head + 1) % RESTORE_PREFETCH;
        p.count--;
        if (!ok)
            p.cancel = true;
        pthread_cond_broadcast(&p.cond);
        pthread_mutex_unlock(&p.mu);
        if (!ok)
            break;
    }
    pthread_join(reader, NULL);
    if (ok && p.failed)
    {
        *err = p.err;
        ok = false;
    }
    if (ok)
        memcpy(hash, p.hash, sizeof(p.hash));
    for (int i = 0; i < RESTORE_PREFETCH; i++)
        buf_free(&p.slots[i]);
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.mu);
    return ok;
}

static bool restore_load_table(Loader *l, PGconn *conn, LoadJob *j, Error *err)
{
    LoadSink s = {l->r, conn, 0, 0};
    const char *want_hash = jstr(j->table, "hash");
    uint64_t want_rows = (uint64_t)json_integer_value(json_object_get(j->table, "rows"));
    char hash[65];

    if (!pg_copy_in_begin(conn, j->schema, j->name, err))
        return false;
    if (!restore_send_chunks(l, j, &s, hash, err))
    {
        Error ignore;

        pg_copy_in_end(conn, "restore aborted", &ignore);
        return error_prefix(err, "table \"%s\".\"%s\"", j->schema, j->name);
    }
    if (s.rows != want_rows || strcmp(hash, want_hash) != 0)
    {
        Error ignore;

        pg_copy_in_end(conn, "content check failed", &ignore);
        error_set(err, ERR_FAILURE,
                  "table \"%s\".\"%s\": restored data does not match the snapshot (%llu rows, "
                  "hash %.12s; manifest says %llu rows, hash %.12s)",
                  j->schema, j->name, (unsigned long long)s.rows, hash,
                  (unsigned long long)want_rows, want_hash);
        return error_hint(err, "run \"coffer check --read-data\" on the repository");
    }
    if (!pg_copy_in_end(conn, NULL, err))
        return error_prefix(err, "table \"%s\".\"%s\"", j->schema, j->name);
    pthread_mutex_lock(&l->r->lock);
    l->r->rows += s.rows;
    pthread_mutex_unlock(&l->r->lock);
    return true;
}

static bool restore_analyze_table(PGconn *conn, LoadJob *j, Error *err)
{
    char *q = pg_quote_qualified(conn, j->schema, j->name, err);
    char *sql;
    bool ok;

    if (q == NULL)
        return false;
    sql = xasprintf("ANALYZE %s", q);
    ok = pg_command(conn, "analyze", sql, err);
    free(sql);
    free(q);
    return ok;
}

static void *restore_load_worker(void *arg)
{
    Loader *l = arg;
    Error err;
    PGconn *conn;

    error_clear(&err);
    conn = l->shared ? l->shared : pg_connect(l->r->cfg->pg_conninfo, l->t->db, &err);
    if (conn != NULL && l->shared == NULL)
    {
        pg_command(conn, "tune session", "SET synchronous_commit = off", &err);
        error_clear(&err);
    }
    for (;;)
    {
        LoadJob *j = NULL;

        pthread_mutex_lock(&l->lock);
        if (!l->failed && l->next < l->n_jobs && conn != NULL)
            j = &l->jobs[l->next++];
        pthread_mutex_unlock(&l->lock);
        if (j == NULL)
            break;
        if (l->kind == LOAD_ANALYZE)
        {
            if (!restore_analyze_table(conn, j, &err))
                break;
            continue;
        }
        if (!restore_load_table(l, conn, j, &err))
            break;
        pthread_mutex_lock(&l->r->lock);
        l->r->tables_done++;
        pthread_mutex_unlock(&l->r->lock);
    }
    pthread_mutex_lock(&l->lock);
    if (error_is_set(&err) && !l->failed)
    {
        l->failed = true;
        l->err = err;
    }
    l->running--;
    pthread_cond_broadcast(&l->done);
    pthread_mutex_unlock(&l->lock);
    if (l->shared == NULL)
        PQfinish(conn);
    return NULL;
}

static int restore_job_cmp(const void *a, const void *b)
{
    const LoadJob *x = a, *y = b;

    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static bool restore_table_selected(Restore *r, const char *name)
{
    if (r->a->n_tables == 0)
        return true;
    for (size_t i = 0; i < r->a->n_tables; i++)
        if (strcmp(r->a->tables[i], name) == 0)
            return true;
    return false;
}

/* Tables, bytes, rate and ETA: a status line on a terminal, else a log
 * line every 30 seconds. */
static void restore_progress(Restore *r)
{
    char b[32], rate[32], eta[32] = "-";
    double now = fmt_now(), el = now - r->started;
    double bps;

    pthread_mutex_lock(&r->lock);
    bps = el > 0 ? (double)r->bytes / el : 0;
    fmt_bytes(r->bytes, b, sizeof(b));
    fmt_bytes((uint64_t)bps, rate, sizeof(rate));
    if (bps > 0 && r->bytes_total > r->bytes)
        fmt_seconds((double)(r->bytes_total - r->bytes) / bps, eta, sizeof(eta));
    if (log_is_tty())
        log_status("restore: %llu/%llu tables, %s, %s/s, ETA %s",
                   (unsigned long long)r->tables_done, (unsigned long long)r->tables_total, b, rate,
                   eta);
    else if (now - r->last_log >= 30)
    {
        log_info("progress: %llu/%llu tables, %s loaded, %s/s", (unsigned long long)r->tables_done,
                 (unsigned long long)r->tables_total, b, rate);
        r->last_log = now;
    }
    pthread_mutex_unlock(&r->lock);
}

/* Loads (or, with kind LOAD_ANALYZE, analyzes) the target's selected
 * tables in parallel, the biggest first; schema = the target schema (schema
 * model) or the table's own schema (database model). With shared, one table
 * after another on that connection (inside its transaction). */
static bool restore_tables(Restore *r, Target *t, LoadKind kind, PGconn *shared, Error *err)
{
    json_t *tables = json_object_get(t->unit, "tables");
    Loader l;
    pthread_t *threads;
    size_t idx;
    json_t *tab;
    int njobs;

    memset(&l, 0, sizeof(l));
    l.r = r;
    l.t = t;
    l.kind = kind;
    l.shared = shared;
    pthread_mutex_init(&l.lock, NULL);
    pthread_cond_init(&l.done, NULL);
    l.jobs = xcalloc(json_array_size(tables) + 1, sizeof(LoadJob));
    json_array_foreach (tables, idx, tab)
    {
        LoadJob *j;

        if (!restore_table_selected(r, jstr(tab, "name")))
            continue;
        j = &l.jobs[l.n_jobs++];
        j->table = tab;
        j->schema = t->schema != NULL ? t->schema : jstr(tab, "schema");
        j->name = jstr(tab, "name");
        j->bytes = json_integer_value(json_object_get(tab, "bytes"));
    }
    qsort(l.jobs, l.n_jobs, sizeof(LoadJob), restore_job_cmp);
    if (kind == LOAD_DATA)
    {
        pthread_mutex_lock(&r->lock);
        r->tables_total += l.n_jobs;
        for (size_t k = 0; k < l.n_jobs; k++)
            r->bytes_total += (uint64_t)l.jobs[k].bytes;
        pthread_mutex_unlock(&r->lock);
    }
    njobs = r->a->jobs < (int)l.n_jobs ? r->a->jobs : (int)l.n_jobs;
    if (shared != NULL && njobs > 1)
        njobs = 1;
    threads = xcalloc((size_t)njobs + 1, sizeof(pthread_t));
    l.running = njobs;
    for (int i = 0; i < njobs; i++)
        pthread_create(&threads[i], NULL, restore_load_worker, &l);
    /* progress four times a second, and no waiting once the last worker is done */
    pthread_mutex_lock(&l.lock);
    while (l.running > 0)
    {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000 * 1000;
        if (until.tv_nsec >= 1000 * 1000 * 1000)
        {
            until.tv_sec++;
            until.tv_nsec -= 1000 * 1000 * 1000;
        }
        if (pthread_cond_timedwait(&l.done, &l.lock, &until) != 0 && kind == LOAD_DATA)
        {
            pthread_mutex_unlock(&l.lock);
            restore_progress(r);
            pthread_mutex_lock(&l.lock);
        }
    }
    pthread_mutex_unlock(&l.lock);
    for (int i = 0; i < njobs; i++)
        pthread_join(threads[i], NULL);
    if (kind == LOAD_DATA)
        log_status("%s", "");
    free(threads);
    free(l.jobs);
    pthread_cond_destroy(&l.done);
    pthread_mutex_destroy(&l.lock);
    if (l.failed)
    {
        *err = l.err;
        return false;
    }
    return true;
}

/* ---- after the data ----------------------------------------------------------- */

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
    json_t *o;
    size_t i;

    *mine = false;
    json_array_foreach (json_object_get(t->unit, "tables"), i, o)
    {
        char *qt;
        const char *params[2];
        PGresult *res;

        if (!restore_table_selected(r, jstr(o, "name")))
            continue;
        qt = pg_quote_qualified(conn, t->schema ? t->schema : jstr(o, "schema"), jstr(o, "name"),
                                err);
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
static bool restore_finish(Restore *r, Target *t, PGconn *conn, Error *err)
{
    json_t *seqs = json_object_get(t->unit, "sequences");
    json_t *mvs = json_object_get(t->unit, "matviews");
    json_t *o;
    size_t i;

    json_array_foreach (seqs, i, o)
    {
        json_t *v = json_object_get(o, "last_value");
        json_t *called = json_object_get(o, "is_called");
        char *qname;
        const char *params[3];
        PGresult *res;

        qname = pg_quote_qualified(conn, t->schema ? t->schema : jstr(o, "schema"), jstr(o, "name"),
                                   err);
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
        if (json_is_string(v))
        {
            params[1] = json_string_value(v);
            params[2] = json_is_false(called) ? "false" : "true";
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
    json_array_foreach (mvs, i, o)
    {
        char *q = pg_quote_qualified(conn, t->schema ? t->schema : jstr(o, "schema"),
                                     jstr(o, "name"), err);
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

/* ---- creating databases --------------------------------------------------- */

/* CREATE DATABASE with the source's encoding, locale and owner, then its
 * settings (set_config + SET ... FROM CURRENT keeps each value exactly as
 * stored). */
/* Applies one "name=value" setting of a database (or, with role, of that
 * role in the database): set_config() then ALTER ... SET name FROM CURRENT
 * keeps the value exactly as it was stored, and no value is pasted into
 * SQL. This session's own value is put back afterwards. */
static bool restore_apply_setting(PGconn *c, const char *db, const char *role, const char *kv,
                                  Error *err)
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

/* The database's comment, grants and per-role settings from the snapshot
 * (absent in snapshots taken before they were recorded). */
static bool restore_db_extras(PGconn *c, const char *db, json_t *dbdoc, Error *err)
{
    static const char *const privileges[] = {"CREATE", "CONNECT", "TEMPORARY"};
    json_t *comment = json_object_get(dbdoc, "comment");
    json_t *acl = json_object_get(dbdoc, "acl");
    json_t *o, *v;
    size_t i, k;
    bool ok = true;

    if (json_is_string(comment))
    {
        const char *text = json_string_value(comment);
        char *lit = PQescapeLiteral(c, text, strlen(text));
        char *qdb = lit ? pg_quote_ident(c, db, err) : NULL;
        char *sql;

        if (qdb == NULL)
        {
            PQfreemem(lit);
            return false;
        }
        sql = xasprintf("COMMENT ON DATABASE %s IS %s", qdb, lit);
        ok = pg_command(c, "comment on database", sql, err);
        free(sql);
        free(qdb);
        PQfreemem(lit);
    }
    if (ok && json_is_array(acl))
    {
        /* explicit grants replace the defaults: start from none */
        ok = restore_exec_ident(c, "revoke defaults", "REVOKE ALL ON DATABASE %s FROM PUBLIC", db,
                                NULL, err);
        json_array_foreach (acl, i, o)
        {
            const char *priv = json_string_value(json_object_get(o, "privilege"));
            const char *grantee = json_string_value(json_object_get(o, "grantee"));
            bool known = false;
            char tmpl[128];

            for (k = 0; priv != NULL && k < sizeof(privileges) / sizeof(privileges[0]); k++)
                known = known || strcmp(priv, privileges[k]) == 0;
            if (!ok || !known)
                continue;
            snprintf(tmpl, sizeof(tmpl), "GRANT %s ON DATABASE %%s TO %s%s", priv,
                     grantee ? "%s" : "PUBLIC",
                     json_is_true(json_object_get(o, "grantable")) ? " WITH GRANT OPTION" : "");
            ok = restore_exec_ident(c, "grant on database", tmpl, db, grantee, err);
        }
    }
    json_array_foreach (json_object_get(dbdoc, "role_settings"), i, o)
        json_array_foreach (json_object_get(o, "settings"), k, v)
            if (ok)
                ok = restore_apply_setting(c, db, json_string_value(json_object_get(o, "role")),
                                           json_string_value(v), err);
    return ok;
}

static bool restore_create_db(Restore *r, const char *db, json_t *dbdoc, Error *err)
{
    PGconn *c = r->admin;
    char *qdb = pg_quote_ident(c, db, err);
    char *enc = NULL, *col = NULL, *ctype = NULL, *sql;
    json_t *settings = json_object_get(dbdoc, "settings");
    json_t *s;
    size_t i;
    bool ok;

    if (qdb == NULL)
        return false;
    enc = PQescapeLiteral(c, jstr(dbdoc, "encoding"), strlen(jstr(dbdoc, "encoding")));
    col = PQescapeLiteral(c, jstr(dbdoc, "collate"), strlen(jstr(dbdoc, "collate")));
    ctype = PQescapeLiteral(c, jstr(dbdoc, "ctype"), strlen(jstr(dbdoc, "ctype")));
    sql = xasprintf("CREATE DATABASE %s TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s",
                    qdb, enc, col, ctype);
    ok = pg_command(c, "create database", sql, err);
    free(sql);
    PQfreemem(enc);
    PQfreemem(col);
    PQfreemem(ctype);
    /* the source's owner (its public schema belongs to the owner too) */
    if (ok && jstr(dbdoc, "dba")[0] != '\0')
        ok = restore_exec_ident(c, "set database owner", "ALTER DATABASE %s OWNER TO %s", db,
                                jstr(dbdoc, "dba"), err);
    json_array_foreach (settings, i, s)
        if (ok)
            ok = restore_apply_setting(c, db, NULL, json_string_value(s), err);
    if (ok)
        ok = restore_db_extras(c, db, dbdoc, err);
    free(qdb);
    return ok;
}

static void restore_drop_db(Restore *r, const char *db)
{
    Error err;

    error_clear(&err);
    if (!restore_exec_ident(r->admin, "drop database", "DROP DATABASE IF EXISTS %s WITH (FORCE)",
                            db, NULL, &err))
        log_warning("could not drop database \"%s\": %s", db, err.message);
}

/* ---- a new schema name: through a scratch database ------------------------------ */

/* Restores the tenant's DDL (with the shared schemas it needs and the
 * extensions) into a scratch database, renames the schema there, and dumps
 * it again. Returns the path of the renamed schema's archive. */
static char *restore_scratch(Restore *r, Target *t, const char *archive, Error *err)
{
    char *scratch = xasprintf("coffer_scratch_%d_%ld", (int)getpid(), (long)time(NULL));
    json_t *units = json_object_get(r->snap, "tenants");
    const char **schemas = xcalloc(json_array_size(units) + 1, sizeof(char *));
    size_t n = 0, i;
    json_t *u;
    char *list = NULL, *out = NULL, *pattern = NULL;
    PGconn *sc = NULL;
    Buf pat;

    json_array_foreach (units, i, u)
        if (json_is_true(json_object_get(u, "shared")) &&
            strcmp(jstr(u, "database"), t->src_db) == 0)
            schemas[n++] = jstr(u, "schema");
    schemas[n++] = t->src_schema;
    log_info("preparing schema \"%s\" as \"%s\" in a scratch database", t->src_schema, t->schema);
    if (!restore_create_db(r, scratch, t->dbdoc, err))
        goto done;
    list = restore_list(r, archive, schemas, n, true, err);
    if (list == NULL || !restore_run_pg_restore(r, archive, list, NULL, scratch, false, 1, err))
        goto done;
    sc = pg_connect(r->cfg->pg_conninfo, scratch, err);
    if (sc == NULL || !restore_exec_ident(sc, "rename schema", "ALTER SCHEMA %s RENAME TO %s",
                                          t->src_schema, t->schema, err))
        goto done;
    {
        /* functions whose text still names the old schema cannot be rewritten safely */
        static const char sql[] =
            "SELECT p.oid::pg_catalog.regprocedure::text FROM pg_catalog.pg_proc p"
            "  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = $1 AND (pg_catalog.strpos(p.prosrc, $2) > 0"
            "    OR pg_catalog.strpos(coalesce(p.proconfig::text, ''), $2) > 0)"
            " ORDER BY 1";
        const char *params[2] = {t->schema, t->src_schema};
        PGresult *res = pg_query(sc, "check function bodies", sql, 2, params, err);

        if (res == NULL)
            goto done;
        for (int k = 0; k < PQntuples(res); k++)
            log_warning("function %s names schema \"%s\" in its body or settings; it was not "
                        "rewritten and still refers to the original schema",
                        PQgetvalue(res, k, 0), t->src_schema);
        PQclear(res);
    }
    PQfinish(sc);
    sc = NULL;
    /* a pg_dump pattern matching exactly this name: quoted, quotes doubled */
    buf_init(&pat);
    buf_append_str(&pat, "--schema=\"");
    for (const char *p = t->schema; *p; p++)
    {
        buf_append(&pat, p, 1);
        if (*p == '"')
            buf_append(&pat, "\"", 1);
    }
    buf_append_str(&pat, "\"");
    pattern = (char *)pat.data;
    out = xasprintf("%s/%d-renamed", r->tmpdir, ++r->tmpseq);
    {
        char *fileopt = xasprintf("--file=%s", out);
        char *dbarg = restore_dbarg(scratch);
        char *argv[] = {r->pg_dump,     "--schema-only", "--format=custom",
                        "--compress=0", pattern,         fileopt,
                        "--dbname",     dbarg,           NULL};
        bool ok = pg_tool_run(argv, r->admin, NULL, NULL, NULL, err);

        free(fileopt);
        free(dbarg);
        if (!ok)
        {
            free(out);
            out = NULL;
        }
    }
done:
    if (sc != NULL)
        PQfinish(sc);
    restore_drop_db(r, scratch);
    free(scratch);
    free(schemas);
    free(list);
    free(pattern);
    return out;
}

/* ---- one target ----------------------------------------------------------------- */

/* Puts back what the target replaced, after a failure. */
/* Returns true when the target is back as it was before the restore. */
static bool restore_rollback(Restore *r, Target *t, PGconn *conn)
{
    Error err;
    bool failed = false;

    error_clear(&err);
    if (t->schema != NULL && conn != NULL && PQstatus(conn) == CONNECTION_OK)
    {
        if (t->created)
            restore_exec_ident(conn, "drop partial schema", "DROP SCHEMA IF EXISTS %s CASCADE",
                               t->schema, NULL, &err);
        if (t->aside != NULL && !error_is_set(&err))
            restore_exec_ident(conn, "rename back", "ALTER SCHEMA %s RENAME TO %s", t->aside,
                               t->schema, &err);
    }
    else if (t->schema == NULL && r->admin != NULL && PQstatus(r->admin) == CONNECTION_OK)
    {
        if (t->created)
            restore_drop_db(r, t->db);
        if (t->aside != NULL)
            restore_exec_ident(r->admin, "rename back", "ALTER DATABASE %s RENAME TO %s", t->aside,
                               t->db, &err);
    }
    else
        error_set(&err, ERR_FAILURE, "no connection to the server");
    if (error_is_set(&err) || (conn == NULL && t->schema != NULL))
    {
        log_error("the target could not be put back as it was: %s",
                  error_is_set(&err) ? err.message : "no connection");
        failed = true;
        if (t->aside != NULL)
            log_error("the previous %s \"%s\" is kept as \"%s\"; \"%s\" may be incomplete",
                      t->schema ? "schema" : "database", t->schema ? t->schema : t->db, t->aside,
                      t->schema ? t->schema : t->db);
        else
            log_error("%s \"%s\" may be incomplete; drop it before trying again",
                      t->schema ? "schema" : "database", t->schema ? t->schema : t->db);
    }
    else if (t->aside != NULL)
        log_info("%s \"%s\" was left as it was", t->schema ? "schema" : "database",
                 t->schema ? t->schema : t->db);
    return !failed;
}

/* --data-only --clean: empties the tables about to be loaded, in one
 * statement (foreign keys among them are fine). Without --table, the
 * partitioned tables of the schemas are named too: a foreign key declared
 * on a partitioned table is what references the loaded tables, and
 * TRUNCATE wants every referencing table in the list. */
static bool restore_truncate(PGconn *conn, Restore *r, Target *t, Error *err)
{
    json_t *tables = json_object_get(t->unit, "tables");
    json_t *o;
    size_t i;
    Buf sql;
    bool any = false, ok = true;
    json_t *schemas = json_array();

    buf_init(&sql);
    buf_append_str(&sql, "TRUNCATE ");
    json_array_foreach (tables, i, o)
    {
        const char *schema = t->schema ? t->schema : jstr(o, "schema");
        char *q;
        bool seen = false;
        size_t k;
        json_t *v;

        if (!restore_table_selected(r, jstr(o, "name")))
            continue;
        q = pg_quote_qualified(conn, schema, jstr(o, "name"), err);
        if (q == NULL)
        {
            ok = false;
            goto done;
        }
        buf_printf(&sql, "%sONLY %s", any ? ", " : "", q);
        any = true;
        free(q);
        json_array_foreach (schemas, k, v)
            seen = seen || strcmp(json_string_value(v), schema) == 0;
        if (!seen)
            json_array_append_new(schemas, json_string(schema));
    }
    if (r->a->n_tables == 0)
    {
        json_t *v;

        json_array_foreach (schemas, i, v)
        {
            const char *params[1] = {json_string_value(v)};
            PGresult *res = pg_query(conn, "list partitioned tables",
                                     "SELECT c.relname FROM pg_catalog.pg_class c"
                                     "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                                     " WHERE c.relkind = 'p' AND n.nspname = $1 ORDER BY 1",
                                     1, params, err);

            if (res == NULL)
            {
                ok = false;
                goto done;
            }
            for (int k = 0; k < PQntuples(res) && ok; k++)
            {
                char *q = pg_quote_qualified(conn, params[0], PQgetvalue(res, k, 0), err);

                if (q == NULL)
                    ok = false;
                else
                    buf_printf(&sql, ", %s", q);
                free(q);
            }
            PQclear(res);
            if (!ok)
                goto done;
        }
    }
    ok = !any || pg_command(conn, "truncate tables", buf_cstr(&sql), err);
done:
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
static bool restore_data_only(Restore *r, Target *t, PGconn *conn, Error *err)
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
    json_t *tables = json_object_get(t->unit, "tables");
    json_t *schemas = json_array();
    json_t *o, *v;
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
    held = xcalloc(2 * json_array_size(tables) + 1, sizeof(PGresult *));
    json_array_foreach (tables, i, o)
    {
        const char *schema = t->schema ? t->schema : jstr(o, "schema");
        const char *params[2] = {schema, jstr(o, "name")};
        bool seen = false;
        size_t k;

        json_array_foreach (schemas, k, v)
            seen = seen || strcmp(json_string_value(v), schema) == 0;
        if (!seen)
            json_array_append_new(schemas, json_string(schema));
        if (!restore_table_selected(r, jstr(o, "name")))
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

/* Logs (at debug) how long a step of a target took, and restarts the clock. */
static bool restore_step(Target *t, const char *step, double *t0, bool ok)
{
    double now = fmt_now();

    if (ok)
        log_debug("%s: %s took %.3fs", t->name, step, now - *t0);
    *t0 = now;
    return ok;
}

static bool restore_target(Restore *r, Target *t, Error *err)
{
    const RestoreArgs *a = r->a;
    char *archive = NULL, *renamed = NULL, *list = NULL;
    PGconn *conn = NULL;
    bool exists = false, ok = false;
    bool db_model = t->schema == NULL;
    bool new_db = strcmp(t->db, t->src_db) != 0;
    double t0 = fmt_now();

    archive = restore_fetch(r, json_object_get(t->dbdoc, "ddl"), "ddl", err);
    if (!restore_step(t, "fetching the DDL", &t0, archive != NULL))
        goto done;
    if (db_model)
    {
        if (!restore_db_exists(r, t->db, &exists, err))
            goto done;
        if (exists && !a->data_only)
        {
            const char *params[1] = {t->db};
            PGresult *res;

            res = pg_query(r->admin, "terminate sessions",
                           "SELECT pg_catalog.pg_terminate_backend(pid)"
                           "  FROM pg_catalog.pg_stat_activity"
                           " WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()",
                           1, params, err);
            if (res == NULL)
                goto done;
            PQclear(res);
            t->aside = restore_aside_name(t->db);
            if (!restore_exec_ident(r->admin, "rename database aside",
                                    "ALTER DATABASE %s RENAME TO %s", t->db, t->aside, err))
            {
                free(t->aside);
                t->aside = NULL;
                goto done;
            }
        }
        if (!a->data_only)
        {
            t->created = true;
            if (!new_db)
            {
                if (!restore_run_pg_restore(r, archive, NULL, "pre-data", "postgres", true, 0, err))
                    goto fail;
            }
            else if (!restore_create_db(r, t->db, t->dbdoc, err) ||
                     !restore_run_pg_restore(r, archive, NULL, "pre-data", t->db, false, 0, err))
                goto fail;
        }
        conn = pg_connect(r->cfg->pg_conninfo, t->db, err);
        if (conn == NULL)
            goto fail;
    }
    else
    {
        const char *schemas[1];

        conn = pg_connect(r->cfg->pg_conninfo, t->db, err);
        if (conn == NULL)
            goto done;
        if (!restore_schema_exists(conn, t->schema, &exists, err))
            goto done;
        if (!a->data_only)
        {
            /* pg_dump never creates "public" (the database has it from its
             * template) and extensions live in it: it is restored into, never
             * renamed aside, which would take the extensions, and every
             * column of their types, with it when dropped */
            bool merge = strcmp(t->schema, "public") == 0 && strcmp(t->src_schema, "public") == 0;

            if (exists && !merge)
            {
                t->aside = restore_aside_name(t->schema);
                if (!restore_exec_ident(conn, "rename schema aside", "ALTER SCHEMA %s RENAME TO %s",
                                        t->schema, t->aside, err))
                {
                    free(t->aside);
                    t->aside = NULL;
                    goto done;
                }
            }
            if (strcmp(t->schema, t->src_schema) != 0)
            {
                renamed = restore_scratch(r, t, archive, err);
                if (renamed == NULL)
                    goto fail;
                schemas[0] = t->schema;
            }
            else
                schemas[0] = t->src_schema;
            list = restore_list(r, renamed ? renamed : archive, schemas, 1, new_db, err);
            if (!restore_step(t, "listing the DDL", &t0, list != NULL))
                goto fail;
            if (!restore_run_pg_restore(r, renamed ? renamed : archive, list, "pre-data", t->db,
                                        false, 0, err))
                goto fail;
            t->created = !(exists && merge);
        }
    }
    if (a->data_only)
    {
        if (!restore_data_only(r, t, conn, err))
            goto fail;
    }
    else if (!restore_step(t, "pre-data", &t0, true) ||
             !restore_step(t, "data", &t0,
                           a->schema_only || restore_tables(r, t, LOAD_DATA, NULL, err)) ||
             !restore_step(t, "post-data", &t0,
                           restore_post_data(r, renamed ? renamed : archive, list, t->db, err)) ||
             !restore_step(t, "sequences and statistics", &t0,
                           a->schema_only || (restore_finish(r, t, conn, err) &&
                                              restore_tables(r, t, LOAD_ANALYZE, NULL, err))))
        goto fail;
    /* what was renamed aside is dropped when every target succeeded */
    ok = true;
    goto done;
fail:
    error_prefix(err, "restore of \"%s\" failed", t->name);
    if (!restore_rollback(r, t, conn))
    {
        const char *what = t->schema ? "schema" : "database";
        const char *name = t->schema ? t->schema : t->db;

        if (t->aside != NULL)
            error_hint(err,
                       "when the server is back, drop the incomplete %s \"%s\" and rename "
                       "\"%s\" back to \"%s\"%s%.12s",
                       what, name, t->aside, name,
                       r->safety_id[0] ? ", or restore the safety snapshot " : "", r->safety_id);
        else
            error_hint(err, "drop the incomplete %s \"%s\" before trying again", what, name);
    }
done:
    if (!ok && error_is_set(err) && err->hint[0] == '\0')
        error_hint(err, "nothing else was changed; fix the cause and run the restore again");
    PQfinish(conn);
    if (archive != NULL)
        unlink(archive);
    if (renamed != NULL)
        unlink(renamed);
    if (list != NULL)
        unlink(list);
    free(archive);
    free(renamed);
    free(list);
    return ok;
}

/* Undoes a target that was restored, because a later one failed: the
 * restore is all or nothing. */
static bool restore_undo(Restore *r, Target *t)
{
    Error err;
    PGconn *conn = NULL;

    error_clear(&err);
    if (!t->created && t->aside == NULL)
        return false;
    if (t->schema != NULL)
    {
        conn = pg_connect(r->cfg->pg_conninfo, t->db, &err);
        if (conn == NULL)
            log_error("could not connect to database \"%s\": %s", t->db, err.message);
    }
    log_info("undoing the restore of \"%s\"", t->name);
    restore_rollback(r, t, conn);
    PQfinish(conn);
    free(t->aside);
    t->aside = NULL;
    t->created = false;
    return true;
}

/* Objects outside schema nsp that depend on objects in it (at most a few,
 * described), or NULL when there are none. */
static char *restore_outside_dependents(PGconn *conn, const char *nsp, Error *err)
{
    static const char sql[] =
        "WITH ns AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1),"
        " objs AS ("
        "  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS cls, oid, relnamespace AS nsp"
        "    FROM pg_catalog.pg_class"
        "  UNION ALL SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass, a.oid, c.relnamespace"
        "    FROM pg_catalog.pg_attrdef a JOIN pg_catalog.pg_class c ON c.oid = a.adrelid"
        "  UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, oid, connamespace"
        "    FROM pg_catalog.pg_constraint"
        "  UNION ALL SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid, c.relnamespace"
        "    FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
        "  UNION ALL SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, w.oid, c.relnamespace"
        "    FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_class c ON c.oid = w.ev_class"
        "  UNION ALL SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid, c.relnamespace"
        "    FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid"
        "  UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, oid, pronamespace"
        "    FROM pg_catalog.pg_proc"
        "  UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, oid, typnamespace"
        "    FROM pg_catalog.pg_type"
        "  UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, oid, stxnamespace"
        "    FROM pg_catalog.pg_statistic_ext"
        "  UNION ALL SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, oid, collnamespace"
        "    FROM pg_catalog.pg_collation"
        "  UNION ALL SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, oid, cfgnamespace"
        "    FROM pg_catalog.pg_ts_config"
        "  UNION ALL SELECT 'pg_catalog.pg_extension'::pg_catalog.regclass, oid, extnamespace"
        "    FROM pg_catalog.pg_extension"
        "  UNION ALL SELECT 'pg_catalog.pg_default_acl'::pg_catalog.regclass, oid, defaclnamespace"
        "    FROM pg_catalog.pg_default_acl"
        "  UNION ALL SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, oid, dictnamespace"
        "    FROM pg_catalog.pg_ts_dict"
        "  UNION ALL SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, oid, connamespace"
        "    FROM pg_catalog.pg_conversion"
        "  UNION ALL SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, oid, oprnamespace"
        "    FROM pg_catalog.pg_operator"
        "  UNION ALL SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, oid, opcnamespace"
        "    FROM pg_catalog.pg_opclass"
        "  UNION ALL SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, oid, opfnamespace"
        "    FROM pg_catalog.pg_opfamily"
        "  UNION ALL SELECT 'pg_catalog.pg_amop'::pg_catalog.regclass, a.oid, f.opfnamespace"
        "    FROM pg_catalog.pg_amop a JOIN pg_catalog.pg_opfamily f ON f.oid = a.amopfamily"
        "  UNION ALL SELECT 'pg_catalog.pg_amproc'::pg_catalog.regclass, a.oid, f.opfnamespace"
        "    FROM pg_catalog.pg_amproc a JOIN pg_catalog.pg_opfamily f ON f.oid = a.amprocfamily"
        "  UNION ALL SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass, oid, oid"
        "    FROM pg_catalog.pg_namespace)"
        " SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, 0)"
        "   FROM pg_catalog.pg_depend d"
        "   JOIN objs r ON r.cls = d.refclassid AND r.oid = d.refobjid"
        "   LEFT JOIN objs o ON o.cls = d.classid AND o.oid = d.objid"
        "  WHERE r.nsp = (SELECT oid FROM ns) AND d.deptype IN ('n', 'a')"
        "    AND o.nsp IS DISTINCT FROM (SELECT oid FROM ns)"
        "  ORDER BY 1 LIMIT 4";
    const char *params[1] = {nsp};
    PGresult *res = pg_query(conn, "look for dependent objects", sql, 1, params, err);
    Buf b;

    if (res == NULL)
        return NULL;
    if (PQntuples(res) == 0)
    {
        PQclear(res);
        return NULL;
    }
    buf_init(&b);
    for (int i = 0; i < PQntuples(res); i++)
        buf_printf(&b, "%s%s", i ? ", " : "", PQgetvalue(res, i, 0));
    PQclear(res);
    return (char *)b.data;
}

/* Every target succeeded: drops what they replaced, last restored first
 * (tenants before the shared schemas they depended on). A replaced schema
 * that objects elsewhere still depend on is kept, with a warning: dropping
 * it would cascade into them. */
static void restore_drop_asides(Restore *r, Target *targets, size_t n)
{
    for (size_t i = n; i-- > 0;)
    {
        Target *t = &targets[i];
        Error err;
        PGconn *conn;
        char *deps;

        if (t->aside == NULL)
            continue;
        error_clear(&err);
        if (t->keep_aside)
        {
            log_warning("the replaced %s \"%s\" is kept as \"%s\"; drop it when it is no "
                        "longer needed",
                        t->schema ? "schema" : "database", t->schema ? t->schema : t->db, t->aside);
            continue;
        }
        if (t->schema == NULL)
        {
            restore_drop_db(r, t->aside);
            continue;
        }
        conn = pg_connect(r->cfg->pg_conninfo, t->db, &err);
        deps = conn ? restore_outside_dependents(conn, t->aside, &err) : NULL;
        if (error_is_set(&err))
            log_warning("the replaced schema \"%s\" was kept: %s", t->aside, err.message);
        else if (deps != NULL)
            log_warning("the replaced schema \"%s\" was kept: objects outside it still depend on "
                        "it (%s); drop it yourself when they are dealt with",
                        t->aside, deps);
        else if (!restore_exec_ident(conn, "drop replaced schema", "DROP SCHEMA %s CASCADE",
                                     t->aside, NULL, &err))
            log_warning("could not drop the replaced schema \"%s\": %s", t->aside, err.message);
        free(deps);
        PQfinish(conn);
    }
}

/* ---- planning -------------------------------------------------------------------- */

static json_t *restore_find_unit(json_t *snap, const char *name, bool shared)
{
    json_t *units = json_object_get(snap, "tenants");
    json_t *u;
    size_t i;

    json_array_foreach (units, i, u)
        if (strcmp(jstr(u, "name"), name) == 0 &&
            json_is_true(json_object_get(u, "shared")) == shared)
            return u;
    return NULL;
}

static json_t *restore_find_db(json_t *snap, const char *db)
{
    json_t *dbs = json_object_get(snap, "databases");
    json_t *d;
    size_t i;

    json_array_foreach (dbs, i, d)
        if (strcmp(jstr(d, "name"), db) == 0)
            return d;
    return NULL;
}

static void restore_target_init(Restore *r, Target *t, json_t *unit, Error *err)
{
    const RestoreArgs *a = r->a;
    bool shared = json_is_true(json_object_get(unit, "shared"));
    const char *schema = json_string_value(json_object_get(unit, "schema"));

    memset(t, 0, sizeof(*t));
    (void)err;
    t->unit = unit;
    t->name = jstr(unit, "name");
    t->src_db = jstr(unit, "database");
    t->src_schema = schema;
    t->dbdoc = restore_find_db(r->snap, t->src_db);
    if (schema != NULL)
    {
        t->db = xstrdup(a->into_db ? a->into_db : t->src_db);
        t->schema = xstrdup(a->as && !shared ? a->as : schema);
    }
    else
        t->db = xstrdup(a->as && !shared ? a->as : a->into_db && !shared ? a->into_db : t->src_db);
}

static void restore_target_free(Target *t)
{
    free(t->db);
    free(t->schema);
    free(t->aside);
}

/* Checks every target before anything is changed. */
static bool restore_preflight(Restore *r, Target *targets, size_t n, bool *replaces, Error *err)
{
    const RestoreArgs *a = r->a;

    *replaces = false;
    for (size_t i = 0; i < n; i++)
    {
        Target *t = &targets[i];
        bool db_exists = false, exists = false;

        if (t->dbdoc == NULL || json_object_get(t->dbdoc, "ddl") == NULL)
        {
            error_set(err, ERR_FAILURE, "snapshot has no schema dump of database \"%s\"",
                      t->src_db);
            return error_hint(err, "run \"coffer check\"; the snapshot may be damaged");
        }
        if (!restore_db_exists(r, t->db, &db_exists, err))
            return false;
        if (t->schema != NULL && db_exists)
        {
            PGconn *c = pg_connect(r->cfg->pg_conninfo, t->db, err);

            if (c == NULL || !restore_schema_exists(c, t->schema, &exists, err))
            {
                PQfinish(c);
                return false;
            }
            PQfinish(c);
        }
        else if (t->schema == NULL)
            exists = db_exists;
        if (a->data_only)
        {
            if (!exists)
            {
                error_set(err, ERR_FAILURE, "--data-only needs the target %s \"%s\" to exist",
                          t->schema ? "schema" : "database", t->schema ? t->schema : t->db);
                return error_hint(err, "restore without --data-only to create it");
            }
            if (a->clean)
                *replaces = true;
            continue;
        }
        if (exists && !a->clean)
        {
            if (t->schema != NULL)
                error_set(err, ERR_FAILURE,
                          "tenant \"%s\": schema \"%s\" already exists in database \"%s\"", t->name,
                          t->schema, t->db);
            else
                error_set(err, ERR_FAILURE, "tenant \"%s\": database \"%s\" already exists",
                          t->name, t->db);
            return error_hint(err, "add --clean to replace it (a safety backup is taken first), "
                                   "or --as NEWNAME to restore beside it");
        }
        if (exists)
            *replaces = true;
    }
    return true;
}

static bool restore_confirm(Restore *r, Target *targets, size_t n, Error *err)
{
    FILE *tty;
    char answer[16] = "";

    if (r->ctx->yes)
        return true;
    if (!isatty(STDIN_FILENO))
    {
        error_set(err, ERR_USAGE, "restore --clean replaces live data and needs confirmation");
        return error_hint(err, "pass --yes when not running on a terminal");
    }
    tty = fopen("/dev/tty", "r+");
    if (tty == NULL)
        return error_set(err, ERR_USAGE, "cannot ask for confirmation: no terminal; pass --yes");
    fprintf(tty, "This replaces:\n");
    for (size_t i = 0; i < n; i++)
    {
        char name[256];

        fmt_printable(targets[i].schema ? targets[i].schema : targets[i].db, name, sizeof(name));
        fprintf(tty, "  %s \"%s\"%s%s\n", targets[i].schema ? "schema" : "database", name,
                targets[i].schema ? " in database " : "", targets[i].schema ? targets[i].db : "");
    }
    fprintf(tty, "A safety backup is taken first. Continue? [y/N] ");
    fflush(tty);
    if (fgets(answer, sizeof(answer), tty) == NULL)
        answer[0] = '\0';
    fclose(tty);
    if (answer[0] != 'y' && answer[0] != 'Y')
        return error_set(err, ERR_FAILURE, "restore cancelled; nothing was changed");
    return true;
}

/* Backs up the tenants about to be replaced, so that --clean loses nothing. */
static bool restore_safety_backup(Restore *r, Target *targets, size_t n, Error *err)
{
    BackupArgs b = {NULL, 0, NULL, json_array(), r->a->jobs};
    TenantList list;
    json_t *doc = NULL;
    char id[65];
    bool ok;

    memset(&list, 0, sizeof(list));
    log_info("taking a safety backup of what the restore replaces");
    /* only tenants discovery finds now can be backed up (a registry row may
     * be gone: the restore may be what brings it back); when it finds none
     * of them, the list stays empty, which backs up every tenant */
    if (!tenancy_discover(r->cfg, false, &list, err))
    {
        json_decref(b.tags);
        return error_prefix(err, "safety backup failed, nothing was changed");
    }
    b.tenants = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
    {
        Tenant *found = tenancy_find(&list, targets[i].name);

        if (!json_is_true(json_object_get(targets[i].unit, "shared")) && found != NULL &&
            !found->shared)
            b.tenants[b.n_tenants++] = (char *)targets[i].name;
    }
    json_array_append_new(b.tags, json_string("safety"));
    ok = backup_execute(r->ctx, r->repo, &b, id, &doc, err);
    if (!ok && err->code == ERR_PARTIAL)
        ok = true; /* what failed is found below and kept aside */
    if (ok)
    {
        error_clear(err);
        printf("safety backup: snapshot %s\n", id);
        snprintf(r->safety_id, sizeof(r->safety_id), "%s", id);
        fflush(stdout);
        /* what the safety backup does not hold is kept aside, not dropped */
        for (size_t i = 0; i < n; i++)
        {
            Target *t = &targets[i];
            bool shared = json_is_true(json_object_get(t->unit, "shared"));
            json_t *u;
            size_t k;

            t->keep_aside = true;
            json_array_foreach (json_object_get(doc, "tenants"), k, u)
                if (strcmp(jstr(u, "name"), t->name) == 0 &&
                    json_is_true(json_object_get(u, "shared")) == shared)
                    t->keep_aside = false;
            if (t->keep_aside)
                log_warning("%s \"%s\" is not in the safety backup (not discovered now, or its "
                            "backup failed): what the restore replaces is kept, renamed aside",
                            shared ? "shared part" : "tenant", t->name);
        }
    }
    else
        error_prefix(err, "safety backup failed, nothing was changed");
    json_decref(doc);
    tenancy_list_free(&list);
    free(b.tenants);
    json_decref(b.tags);
    return ok;
}

/* ---- the command ------------------------------------------------------------------ */

enum
{
    OPT_TENANT = CLI_OPT_FIRST_COMMAND,
    OPT_ALL,
    OPT_SNAPSHOT,
    OPT_AS,
    OPT_INTO_DB,
    OPT_TABLE,
    OPT_DATA_ONLY,
    OPT_SCHEMA_ONLY,
    OPT_CLEAN,
};

static bool restore_option(int opt, const char *arg, void *state, Error *err)
{
    RestoreArgs *a = state;

    switch (opt)
    {
    case OPT_TENANT:
        a->tenants = xrealloc(a->tenants, sizeof(char *) * (a->n_tenants + 1));
        a->tenants[a->n_tenants++] = (char *)arg;
        return true;
    case OPT_ALL:
        a->all = true;
        return true;
    case OPT_SNAPSHOT:
        a->snapshot = arg;
        return true;
    case OPT_AS:
        a->as = arg;
        return true;
    case OPT_INTO_DB:
        a->into_db = arg;
        return true;
    case OPT_TABLE:
        a->tables = xrealloc(a->tables, sizeof(char *) * (a->n_tables + 1));
        a->tables[a->n_tables++] = (char *)arg;
        return true;
    case OPT_DATA_ONLY:
        a->data_only = true;
        return true;
    case OPT_SCHEMA_ONLY:
        a->schema_only = true;
        return true;
    case OPT_CLEAN:
        a->clean = true;
        return true;
    case 'j':
        a->jobs = atoi(arg);
        if (a->jobs < 1 || a->jobs > 64)
            return error_set(err, ERR_USAGE, "restore: -j must be a number from 1 to 64");
        return true;
    }
    return false;
}

static bool restore_check_args(const RestoreArgs *a, const Config *cfg, Error *err)
{
    if (a->n_tenants == 0 && !a->all)
        error_set(err, ERR_USAGE, "restore: name a tenant with --tenant NAME, or use --all");
    else if (a->n_tenants > 0 && a->all)
        error_set(err, ERR_USAGE, "restore: --tenant and --all exclude each other");
    else if (a->as != NULL && (a->n_tenants != 1 || a->all))
        error_set(err, ERR_USAGE, "restore: --as renames one tenant; name exactly one --tenant");
    else if (a->as != NULL && a->into_db != NULL && cfg->model == TENANCY_DATABASE)
        error_set(err, ERR_USAGE,
                  "restore: in the database model --as and --into-db both name "
                  "the new database; give one");
    else if (a->data_only && a->schema_only)
        error_set(err, ERR_USAGE, "restore: --data-only and --schema-only exclude each other");
    else if (a->n_tables > 0 && a->schema_only)
        error_set(err, ERR_USAGE,
                  "restore: --table selects data; it does not go with "
                  "--schema-only");
    else if (a->as != NULL && (a->as[0] == '\0' || strlen(a->as) > 63))
        error_set(err, ERR_USAGE, "restore: --as needs a name of 1 to 63 bytes");
    else if (a->into_db != NULL && (a->into_db[0] == '\0' || strlen(a->into_db) > 63))
        error_set(err, ERR_USAGE, "restore: --into-db needs a name of 1 to 63 bytes");
    else if (cfg->model == TENANCY_ROW)
        error_set(err, ERR_USAGE, "restore does not support the row model yet");
    else
        return true;
    return error_hint(err, "run \"coffer help restore\"");
}

/* Builds the list of targets: the named tenants (or all, shared parts
 * first), plus for --into-db the shared schemas the target lacks. */
static Target *restore_plan(Restore *r, size_t *n_out, Error *err)
{
    json_t *units = json_object_get(r->snap, "tenants");
    Target *targets = xcalloc(json_array_size(units) + 1, sizeof(Target));
    size_t n = 0, i;
    json_t *u;

    if (r->a->all)
    {
        for (int pass = 0; pass < 2; pass++)
            json_array_foreach (units, i, u)
                if (json_is_true(json_object_get(u, "shared")) == (pass == 0))
                    restore_target_init(r, &targets[n++], u, err);
        *n_out = n;
        return targets;
    }
    for (size_t k = 0; k < r->a->n_tenants; k++)
    {
        u = restore_find_unit(r->snap, r->a->tenants[k], false);
        if (u == NULL)
        {
            error_set(err, ERR_FAILURE, "unknown tenant \"%s\" in snapshot %.12s", r->a->tenants[k],
                      jstr(r->snap, "id"));
            error_hint(err, "run \"coffer info %.12s\" to list the tenants it holds",
                       jstr(r->snap, "id"));
            goto fail;
        }
        for (size_t t = 0; t < r->a->n_tables; t++)
        {
            json_t *tab;
            size_t j;
            bool found = false;

            json_array_foreach (json_object_get(u, "tables"), j, tab)
                found = found || strcmp(jstr(tab, "name"), r->a->tables[t]) == 0;
            if (!found)
            {
                error_set(err, ERR_FAILURE, "tenant \"%s\" has no table \"%s\" in snapshot %.12s",
                          r->a->tenants[k], r->a->tables[t], jstr(r->snap, "id"));
                error_hint(err, "run \"coffer info %.12s --tenant %s\" to list its tables",
                           jstr(r->snap, "id"), r->a->tenants[k]);
                goto fail;
            }
        }
        restore_target_init(r, &targets[n++], u, err);
    }
    *n_out = n;
    return targets;
fail:
    for (size_t k = 0; k < n; k++)
        restore_target_free(&targets[k]);
    free(targets);
    return NULL;
}

/* --into-db in the schema model: the database is created when missing, and
 * the shared schemas it lacks come first (all of them when it was created
 * just now: its "public" is the template's, empty). */
static bool restore_add_shared(Restore *r, Target **targets, size_t *n, Error *err)
{
    json_t *units = json_object_get(r->snap, "tenants");
    json_t *u;
    size_t i, added = 0;
    bool db_exists = false;
    PGconn *c = NULL;

    if (r->a->into_db == NULL || r->ctx->config->model != TENANCY_SCHEMA || *n == 0)
        return true;
    if (!restore_db_exists(r, r->a->into_db, &db_exists, err))
        return false;
    if (!db_exists)
    {
        if (!restore_create_db(r, r->a->into_db, (*targets)[0].dbdoc, err))
            return false;
        log_info("created database \"%s\"", r->a->into_db);
    }
    if (r->a->all)
        return true; /* every shared part is a target already */
    c = pg_connect(r->cfg->pg_conninfo, r->a->into_db, err);
    if (c == NULL)
        return false;
    *targets = xrealloc(*targets, sizeof(Target) * (*n + json_array_size(units) + 1));
    memmove(*targets + json_array_size(units), *targets, sizeof(Target) * *n);
    json_array_foreach (units, i, u)
    {
        bool exists = true;

        if (!json_is_true(json_object_get(u, "shared")) ||
            strcmp(jstr(u, "database"), (*targets)[json_array_size(units)].src_db) != 0)
            continue;
        if (!restore_schema_exists(c, jstr(u, "schema"), &exists, err))
        {
            PQfinish(c);
            return false;
        }
        /* a database made just now holds only its template's empty "public" */
        if (!exists || !db_exists)
        {
            restore_target_init(r, &(*targets)[added], u, err);
            log_info("shared schema \"%s\" is missing in \"%s\" and is restored too",
                     jstr(u, "schema"), r->a->into_db);
            added++;
        }
    }
    memmove(*targets + added, *targets + json_array_size(units), sizeof(Target) * *n);
    *n += added;
    PQfinish(c);
    return true;
}

static bool restore_is_safety(json_t *snap)
{
    json_t *t;
    size_t i;

    json_array_foreach (json_object_get(snap, "tags"), i, t)
        if (strcmp(json_string_value(t), "safety") == 0)
            return true;
    return false;
}

/* "latest" means the newest snapshot holding the tenant(s), safety backups
 * excepted: after a failed --clean, the safety copy of the broken state must
 * not become what the next attempt restores. Any id names exactly one. */
static json_t *restore_pick_snapshot(Restore *r, Error *err)
{
    json_t *all, *s, *best = NULL;
    size_t i;

    if (strcmp(r->a->snapshot, "latest") != 0)
    {
        json_t *snap = repo_snapshot_load(r->repo, r->a->snapshot, err);

        if (snap == NULL && err->hint[0] == '\0')
        {
            if (r->a->n_tenants > 0)
                error_hint(err, "run \"coffer list --tenant %s\" to see the snapshots that hold it",
                           r->a->tenants[0]);
            else
                error_hint(err, "run \"coffer list\" to see the snapshots");
        }
        return snap;
    }
    all = repo_snapshot_list(r->repo, err);
    if (all == NULL)
        return NULL;
    json_array_foreach (all, i, s)
    {
        bool has_all = !restore_is_safety(s);

        for (size_t k = 0; k < r->a->n_tenants && has_all; k++)
            has_all = restore_find_unit(s, r->a->tenants[k], false) != NULL;
        if (has_all)
            best = s; /* the list is oldest first */
    }
    if (best != NULL)
        json_incref(best);
    json_decref(all);
    if (best == NULL)
    {
        if (r->a->n_tenants > 0)
            error_set(err, ERR_FAILURE, "no snapshot holds tenant \"%s\"", r->a->tenants[0]);
        else
            error_set(err, ERR_FAILURE, "the repository has no snapshot to restore");
        error_hint(err, "run \"coffer list\" to see the snapshots");
    }
    return best;
}

/* How many of the target's tables the restore loaded (--table selects). */
static size_t restore_count_selected(Restore *r, Target *t)
{
    json_t *o;
    size_t i, n = 0;

    json_array_foreach (json_object_get(t->unit, "tables"), i, o)
        n += restore_table_selected(r, jstr(o, "name"));
    return n;
}

bool cmd_restore(CliContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {{"tenant", required_argument, NULL, OPT_TENANT},
                                             {"all", no_argument, NULL, OPT_ALL},
                                             {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
                                             {"as", required_argument, NULL, OPT_AS},
                                             {"into-db", required_argument, NULL, OPT_INTO_DB},
                                             {"table", required_argument, NULL, OPT_TABLE},
                                             {"data-only", no_argument, NULL, OPT_DATA_ONLY},
                                             {"schema-only", no_argument, NULL, OPT_SCHEMA_ONLY},
                                             {"clean", no_argument, NULL, OPT_CLEAN},
                                             {"jobs", required_argument, NULL, 'j'},
                                             CLI_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    RestoreArgs a;
    Restore r;
    Target *targets = NULL;
    size_t n = 0;
    RepoLock *lock = NULL;
    bool exit_now, replaces = false, ok = false;
    int first;

    memset(&a, 0, sizeof(a));
    memset(&r, 0, sizeof(r));
    a.snapshot = "latest";
    a.jobs = 2;
    pthread_mutex_init(&r.lock, NULL);
    first =
        cli_parse(ctx, "restore", argc, argv, "j:", longopts, restore_option, &a, &exit_now, err);
    if (first < 0)
        goto out;
    if (first < argc)
    {
        error_set(err, ERR_USAGE, "restore: unexpected argument \"%s\"", argv[first]);
        error_hint(err, "name the tenant with --tenant NAME");
        goto out;
    }
    if (cli_config(ctx, err) == NULL || !restore_check_args(&a, ctx->config, err))
        goto out;
    r.ctx = ctx;
    r.cfg = ctx->config;
    r.a = &a;
    r.started = fmt_now();
    r.last_log = r.started;
    r.repo = repo_open_from_config(ctx->config, NULL, err);
    if (r.repo == NULL)
        goto out;
    lock = repo_lock(r.repo, REPO_LOCK_SHARED, "restore", err);
    if (lock == NULL)
        goto out;
    r.snap = restore_pick_snapshot(&r, err);
    if (r.snap == NULL)
        goto out;
    if (strcmp(jstr(r.snap, "model"), config_model_name(ctx->config->model)) != 0)
    {
        error_set(err, ERR_FAILURE,
                  "snapshot %.12s was taken with the %s model, the "
                  "configuration says %s",
                  jstr(r.snap, "id"), jstr(r.snap, "model"), config_model_name(ctx->config->model));
        goto out;
    }
    r.admin = pg_connect(ctx->config->pg_conninfo, "postgres", err);
    if (r.admin == NULL)
        goto out;
    r.major = pg_server_major(r.admin);
    r.pg_restore = pg_tool_find(ctx->config->pg_bindir, "pg_restore", r.major, err);
    if (r.pg_restore == NULL)
        goto out;
    /* pg_dump is only needed to rename a schema (--as in the schema model);
     * it is looked up now so that a missing one fails before any change */
    if (a.as != NULL && ctx->config->model == TENANCY_SCHEMA)
    {
        r.pg_dump = pg_tool_find(ctx->config->pg_bindir, "pg_dump", r.major, err);
        if (r.pg_dump == NULL)
            goto out;
    }
    targets = restore_plan(&r, &n, err);
    if (targets == NULL || !restore_preflight(&r, targets, n, &replaces, err))
        goto out;
    if (replaces &&
        (!restore_confirm(&r, targets, n, err) || !restore_safety_backup(&r, targets, n, err)))
        goto out;
    snprintf(r.tmpdir, sizeof(r.tmpdir), "/tmp/coffer-restore-XXXXXX");
    if (mkdtemp(r.tmpdir) == NULL)
    {
        error_set(err, ERR_FAILURE, "could not create a temporary directory: %s", strerror(errno));
        goto out;
    }
    if (!restore_add_shared(&r, &targets, &n, err) ||
        (!a.data_only && !restore_missing_roles(&r, err)))
        goto out;
    for (size_t i = 0; i < n; i++)
    {
        Target *t = &targets[i];
        uint64_t rows0 = r.rows, bytes0 = r.bytes;
        double t0 = fmt_now();
        char size[32], secs[32];

        log_info("restoring %s \"%s\" into %s \"%s\"%s%s",
                 json_is_true(json_object_get(t->unit, "shared")) ? "shared part" : "tenant",
                 t->name, t->schema ? "schema" : "database", t->schema ? t->schema : t->db,
                 t->schema ? " of database " : "", t->schema ? t->db : "");
        if (!restore_target(&r, t, err))
        {
            bool undone = false;

            for (size_t k = i; k-- > 0;)
                undone = restore_undo(&r, &targets[k]) || undone;
            if (a.data_only && i > 0)
                error_hint(err, "the targets before it were loaded and keep the restored data; "
                                "fix the cause and run the restore again");
            else if (undone)
                error_hint(err, "the targets restored before it were put back as they were; fix "
                                "the cause and run the restore again");
            goto out;
        }
        fmt_bytes(r.bytes - bytes0, size, sizeof(size));
        fmt_seconds(fmt_now() - t0, secs, sizeof(secs));
        if (ctx->json)
            continue;
        printf("restored \"%s\" into %s \"%s\"%s%s: %zu tables, %llu rows, %s in %s, verified\n",
               t->name, t->schema ? "schema" : "database", t->schema ? t->schema : t->db,
               t->schema ? " of database " : "", t->schema ? t->db : "",
               a.schema_only ? (size_t)0 : restore_count_selected(&r, t),
               (unsigned long long)(r.rows - rows0), size, secs);
    }
    restore_drop_asides(&r, targets, n);
    if (ctx->json)
    {
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:f}", "snapshot", jstr(r.snap, "id"),
                              "targets", (json_int_t)n, "rows", (json_int_t)r.rows, "bytes",
                              (json_int_t)r.bytes, "seconds", fmt_now() - r.started);

        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
    }
    ok = true;
out:
    for (size_t i = 0; i < n; i++)
        restore_target_free(&targets[i]);
    free(targets);
    if (r.tmpdir[0] != '\0' && strstr(r.tmpdir, "XXXXXX") == NULL)
        rmdir(r.tmpdir);
    if (r.admin != NULL)
        PQfinish(r.admin);
    free(r.pg_restore);
    free(r.pg_dump);
    for (size_t i = 0; i < r.n_roles; i++)
        free(r.roles[i]);
    free(r.roles);
    json_decref(r.snap);
    if (lock != NULL)
        repo_unlock(lock);
    if (r.repo != NULL)
        repo_close(r.repo);
    free(a.tenants);
    free(a.tables);
    pthread_mutex_destroy(&r.lock);
    return ok;
}
