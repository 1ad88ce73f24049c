/*
 * ddl.c - the DDL side of a restore: the stored schema dump fetched into a
 * private file, filtered to the target's entries, replayed by pg_restore
 * (pre-data in one transaction, post-data in parallel), the snapshot's
 * missing roles created first, and a new schema name made in a scratch
 * database.
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
#include "common/cleanup.h"
#include "pg/toc.h"
#include "restore/restore_intern.h"

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

/* The hash of what was read must be the manifest's. */
static bool restore_check_hash(const ManStream *stream, const char *label, const char hash[65],
                               Error *err)
{
    const char *want = stream->hash;

    if (strcmp(hash, want) == 0)
        return true;
    error_set(err, ERR_FAILURE,
              "the %s read back does not match the snapshot (hash %.12s; manifest says %.12s)",
              label, hash, want);
    return error_hint(err, "run \"coffer check --read-data\" on the repository");
}

/* Reads a small stored stream (the globals) into out, checked. */
static bool restore_fetch_buf(Restore *r, const ManStream *stream, const char *label, Buf *out,
                              Error *err)
{
    char hash[65];

    return repo_read_chunks(r->repo, stream->chunks, sink_to_buf, out, hash,
                            err) &&
           restore_check_hash(stream, label, hash, err);
}

/* Writes a stored stream (DDL archive) to a private temp file; returns its path. */
char *restore_fetch(Restore *r, const ManStream *stream, const char *label, Error *err)
{
    char *path = xasprintf("%s/%d-%s", r->tmpdir, ++r->tmpseq, label);
    FileSink f = {-1, path};
    char hash[65];
    bool ok;

    f.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f.fd < 0)
    {
        error_set(err, ERR_FAILURE, "could not create \"%s\": %s", path, strerror(errno));
        free(path);
        return NULL;
    }
    ok = repo_read_chunks(r->repo, stream->chunks, restore_file_write, &f, hash,
                          err);
    if (ok)
        ok = restore_check_hash(stream, label, hash, err);
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

/* ---- putting a tenant's DDL back together ----------------------------------- */

static bool ddl_read_feed(void *arg, const void *data, size_t len, Error *err)
{
    return pg_archive_feed(arg, data, len, err);
}

bool restore_read_ddl(Restore *r, const ManStream *stream, const char *label, PgArchiveEntryFn fn,
                      void *arg, PgArchiveHeader **h, Error *err)
{
    PgArchiveReader *reader = pg_archive_reader_new(0, fn, arg);
    char hash[65];
    bool ok;

    ok = repo_read_chunks(r->repo, stream->chunks, ddl_read_feed, reader, hash, err) &&
         restore_check_hash(stream, label, hash, err) && pg_archive_finish(reader, err);
    if (ok && h != NULL && *h == NULL)
        *h = pg_archive_header_copy(pg_archive_reader_header(reader));
    pg_archive_reader_free(reader);
    return ok;
}

/* Collects each entry into the part arg. */
static bool ddl_read_entry(void *arg, const PgArchiveEntry *e, Error *err)
{
    (void)err;
    pg_archive_part_add(arg, e);
    return true;
}

char *restore_fetch_ddl(Restore *r, Target *t, Error *err)
{
    const ManStream *own = t->unit->ddl;
    PgArchivePart *shared, *tenant, *merged;
    PgArchiveHeader *h = NULL;
    char *path = NULL;
    FileSink f = {-1, NULL};
    size_t n;
    int max_id = 0;

    if (own == NULL)
        return restore_fetch(r, t->mdb->ddl, "ddl", err);
    /* the database's shared DDL first, then the tenant's own, each in the
     * order pg_dump wrote it; the setup entries both carry, once */
    shared = pg_archive_part_new();
    tenant = pg_archive_part_new();
    merged = pg_archive_part_new();
    if (!restore_read_ddl(r, t->mdb->ddl, "shared DDL", ddl_read_entry, shared, &h, err) ||
        !restore_read_ddl(r, own, "tenant's DDL", ddl_read_entry, tenant, &h, err))
        goto done;
    n = pg_archive_part_count(shared);
    for (size_t i = 0; i < n; i++)
    {
        const PgArchiveEntry *e = pg_archive_part_entry(shared, i);

        pg_archive_part_add(merged, e);
        max_id = e->dump_id > max_id ? e->dump_id : max_id;
    }
    /* the tenant's part is numbered on its own: after the shared ids */
    pg_archive_part_renumber(tenant, max_id + 1);
    for (size_t i = 0; i < pg_archive_part_count(tenant); i++)
    {
        const PgArchiveEntry *e = pg_archive_part_entry(tenant, i);

        if (!pg_archive_entry_is_setup(e))
            pg_archive_part_add(merged, e);
    }
    path = xasprintf("%s/%d-ddl", r->tmpdir, ++r->tmpseq);
    f.path = path;
    f.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f.fd < 0)
    {
        error_set(err, ERR_FAILURE, "could not create \"%s\": %s", path, strerror(errno));
        free(path);
        path = NULL;
        goto done;
    }
    if (!pg_archive_part_write(merged, h, restore_file_write, &f, err) || close(f.fd) != 0)
    {
        if (!error_is_set(err))
            error_set(err, ERR_FAILURE, "could not write \"%s\": %s", path, strerror(errno));
        unlink(path);
        free(path);
        path = NULL;
    }
done:
    pg_archive_part_free(shared);
    pg_archive_part_free(tenant);
    pg_archive_part_free(merged);
    pg_archive_header_free(h);
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
char *restore_list(Restore *r, const char *archive, const char *const *schemas,
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
        !pg_tool_run(full_argv, NULL, NULL, sink_to_buf, &listing, err) ||
        !pg_tool_run(argv, NULL, NULL, sink_to_buf, &selected, err))
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
bool restore_run_pg_restore(Restore *r, const char *archive, const char *list, const char *section,
                            const char *db, bool create, int jobs, Error *err)
{
    PgRestoreRun run = {r->pg_restore, archive, list, section, db, create, jobs};

    return pg_restore_run(&run, r->admin, err);
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
bool restore_post_data(Restore *r, const char *archive, const char *list, const char *db,
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
                     : !pg_tool_run(argv, NULL, NULL, sink_to_buf, &all, err))
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

/*
 * Creates the roles of the snapshot's globals that this server lacks (a
 * fresh cluster, or a role dropped since the backup), with their attributes,
 * settings and memberships, so that owners and grants of the restored
 * objects resolve. Roles that exist are never altered. Without the right to
 * create roles, each is a warning, and pg_restore names what it then lacks.
 */
bool restore_missing_roles(Restore *r, Error *err)
{
    const ManStream *globals = r->man->globals;
    PgRoleStatements st;
    Buf text;
    size_t created = 0;

    if (globals == NULL)
        return true; /* nothing to go by */
    if (!restore_roles(r, err))
        return false;
    buf_init(&text);
    /* the globals are small: read into memory, never onto disk in clear */
    if (!restore_fetch_buf(r, globals, "globals", &text, err))
    {
        buf_free(&text);
        return error_prefix(err, "could not read the snapshot's roles");
    }
    pg_globals_missing_roles(buf_cstr(&text), (const char *const *)r->roles, r->n_roles, &st);
    for (size_t i = 0; i < st.count; i++)
    {
        Error e2;

        error_clear(&e2);
        if (!pg_command(r->admin, "create role", st.items[i].sql, &e2))
            log_warning("could not apply \"%s\" from the snapshot's roles: %s", st.items[i].sql,
                        e2.message);
        else if (st.items[i].created != NULL)
        {
            log_info("created role %s from the snapshot: it was missing", st.items[i].created);
            created++;
        }
    }
    if (created > 0)
    {
        /* the role list feeds the DDL filter: read it again */
        for (size_t i = 0; i < r->n_roles; i++)
            free(r->roles[i]);
        free(r->roles);
        r->roles = NULL;
        r->n_roles = 0;
    }
    pg_role_statements_free(&st);
    buf_free(&text);
    return true;
}

typedef struct ScratchGuard
{
    const Config *cfg;
    const char *name;
} ScratchGuard;

/* Drops the scratch database, on a connection of its own: also run from
 * the signal thread after an interrupt. */
static void restore_scratch_drop(void *arg)
{
    ScratchGuard *g = arg;
    Error err;
    PGconn *c;

    error_clear(&err);
    c = pg_connect(g->cfg->pg_conninfo, "postgres", &err);
    if (c == NULL || !pg_drop_database(c, g->name, &err))
        log_warning("could not drop the scratch database \"%s\": %s", g->name, err.message);
    PQfinish(c);
}

/* Restores the tenant's DDL (with the shared schemas it needs and the
 * extensions) into a scratch database, renames the schema there, and dumps
 * it again. Returns the path of the renamed schema's archive. */
char *restore_scratch(Restore *r, Target *t, const char *archive, Error *err)
{
    char *scratch = xasprintf("coffer_scratch_%d_%ld", (int)getpid(), (long)time(NULL));
    const Manifest *m = r->man;
    const char **schemas = xcalloc(m->n_tenants + 1, sizeof(char *));
    size_t n = 0, i;
    char *list = NULL, *out = NULL;
    PGconn *sc = NULL;
    ScratchGuard guard = {r->cfg, NULL};
    CleanupHandle drop;

    for (i = 0; i < m->n_tenants; i++)
        if (m->tenants[i].shared && strcmp(m->tenants[i].database, t->src_db) == 0)
            schemas[n++] = m->tenants[i].schema;
    schemas[n++] = t->src_schema;
    log_info("preparing schema \"%s\" as \"%s\" in a scratch database", t->src_schema, t->schema);
    guard.name = scratch;
    drop = cleanup_push(restore_scratch_drop, &guard);
    if (!restore_create_db(r, scratch, t->mdb, err) || !restore_mark_scratch(r, scratch, err))
        goto done;
    list = restore_list(r, archive, schemas, n, true, err);
    if (list == NULL || !restore_run_pg_restore(r, archive, list, NULL, scratch, false, 1, err))
        goto done;
    sc = pg_connect(r->cfg->pg_conninfo, scratch, err);
    if (sc == NULL || !pg_exec_ident(sc, "rename schema", "ALTER SCHEMA %s RENAME TO %s",
                                          t->src_schema, t->schema, err))
        goto done;
    {
        /* function bodies and search_path are text: the rename does not reach them */
        PgRewriteResult rw = {0};
        bool rewritten = pg_rewrite_schema_functions(sc, t->schema, t->src_schema, &rw, err);

        pg_rewrite_result_log(&rw, t->src_schema);
        pg_rewrite_result_free(&rw);
        if (!rewritten)
            goto done;
    }
    PQfinish(sc);
    sc = NULL;
    out = xasprintf("%s/%d-renamed", r->tmpdir, ++r->tmpseq);
    if (!pg_dump_schema_file(r->pg_dump, t->schema, scratch, out, r->admin, err))
    {
        unlink(out);
        free(out);
        out = NULL;
    }
done:
    if (sc != NULL)
        PQfinish(sc);
    cleanup_pop(drop, true);
    free(scratch);
    free(schemas);
    if (list != NULL)
        unlink(list);
    free(list);
    return out;
}
