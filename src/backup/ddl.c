/*
 * ddl.c - the schema dumps of the backup, within the lock budget.
 *
 * pg_dump locks every table it dumps until it ends. One dump of a database
 * of 2,000 tenant schemas locks 16,000 tables at once, which a server with
 * default settings cannot hold. So in the schema model the database is
 * dumped in pieces, all under the session's exported snapshot:
 *   - the shared part once: everything but the tenants' schemas (the
 *     database, extensions, shared schemas), stored as the database's DDL;
 *   - the selected tenants' schemas in batches whose tables fit the lock
 *     budget; each batch's archive is split per tenant as it streams in,
 *     each tenant's entries renumbered after the shared part's, so that
 *     restore merges the two archives without a clash of dump ids.
 * A tenant database (database model) is one dump, whole.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup_intern.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"

typedef struct DdlSplit
{
    PgArchiveReader *reader;
    const char **schemas; /* the batch's tenant schemas, n of them */
    Unit **units;
    PgArchivePart **parts;
    size_t n;
    PgArchivePart *rest; /* NULL: entries of no tenant are not kept */
    size_t dropped;      /* ... and counted */
    Backup *b;
} DdlSplit;

static bool ddl_split_entry(void *arg, const PgArchiveEntry *e, Error *err)
{
    DdlSplit *d = arg;
    size_t which = 0;

    (void)err;
    if (pg_archive_entry_is_setup(e))
    {
        for (size_t i = 0; i < d->n; i++)
            pg_archive_part_add(d->parts[i], e);
        if (d->rest != NULL)
            pg_archive_part_add(d->rest, e);
    }
    else if (d->n > 0 && pg_archive_entry_owner(e, d->schemas, d->n, &which))
        pg_archive_part_add(d->parts[which], e);
    else if (d->rest != NULL)
        pg_archive_part_add(d->rest, e);
    else
        d->dropped++;
    return true;
}

static bool ddl_split_feed(void *arg, const void *data, size_t len, Error *err)
{
    DdlSplit *d = arg;

    pthread_mutex_lock(&d->b->lock);
    d->b->bytes_read += len;
    pthread_mutex_unlock(&d->b->lock);
    return pg_archive_feed(d->reader, data, len, err);
}

static void ddl_split_free(DdlSplit *d)
{
    for (size_t i = 0; i < d->n; i++)
        pg_archive_part_free(d->parts[i]);
    pg_archive_part_free(d->rest);
    pg_archive_reader_free(d->reader);
    free(d->schemas);
    free(d->units);
    free(d->parts);
}

/* Stores a part with its header's creation time fixed: unchanged DDL is
 * then the same bytes in every backup, and deduplicated. */
static json_t *ddl_store(Worker *w, RepoOwner *owner, const PgArchivePart *part,
                         const PgArchiveHeader *h, Error *err)
{
    PgArchiveHeader *fixed = pg_archive_header_copy(h);
    json_t *ddl;

    pg_archive_header_fix_time(fixed);
    ddl = backup_store_archive(w, owner, part, fixed, err);
    pg_archive_header_free(fixed);
    return ddl;
}

/* The pg_dump command line of one dump: the shared part (with_create: the
 * database itself, leaving out the schemas in skip) or a batch of tenant
 * schemas (the schemas in only). Returned strings are freed by argv_free. */
static char **ddl_argv(Backup *b, Session *s, bool shared, const char *const *names, size_t n,
                       size_t *argc)
{
    char **argv = xcalloc(n * 2 + 10, sizeof(char *));
    size_t k = 0;

    argv[k++] = xstrdup(b->pg_dump);
    argv[k++] = xstrdup("--schema-only");
    if (shared)
        argv[k++] = xstrdup("--create");
    argv[k++] = xstrdup("--format=custom");
    argv[k++] = xstrdup("--compress=0");
    argv[k++] = xasprintf("--snapshot=%s", s->snapshot);
    for (size_t i = 0; i < n; i++)
    {
        argv[k++] = xstrdup(shared ? "--exclude-schema" : "--schema");
        argv[k++] = pg_dump_exact_pattern(names[i]);
    }
    argv[k] = NULL;
    *argc = k;
    return argv;
}

static void argv_free(char **argv, size_t argc)
{
    for (size_t i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}

static bool ddl_name_listed(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* The schemas the shared dump leaves out: every tenant schema of the
 * database (backed up now or not: a tenant's DDL is its own), and what the
 * session excludes because it cannot be read. */
static char **ddl_shared_excludes(Backup *b, Session *s, size_t *n_out)
{
    const TenantList *all = b->all;
    char **names = xcalloc(all->count + s->n_exclude + 1, sizeof(char *));
    size_t n = 0;

    for (size_t i = 0; i < all->count; i++)
    {
        const Tenant *t = &all->items[i];

        if (!t->shared && t->schema != NULL && strcmp(t->database, s->dbname) == 0)
            names[n++] = t->schema;
    }
    for (size_t i = 0; i < s->n_exclude; i++)
        if (!ddl_name_listed(names, n, s->exclude[i]))
            names[n++] = s->exclude[i];
    *n_out = n;
    return names;
}

/* Dumps the shared part of a database of tenant schemas. */
static json_t *ddl_dump_shared(Worker *w, Session *s, RepoOwner *owner, Error *err)
{
    DdlSplit d;
    size_t n, argc;
    char **names = ddl_shared_excludes(w->b, s, &n);
    char **argv = ddl_argv(w->b, s, true, (const char *const *)names, n, &argc);
    json_t *ddl = NULL;

    memset(&d, 0, sizeof(d));
    d.b = w->b;
    d.rest = pg_archive_part_new();
    d.reader = pg_archive_reader_new(0, ddl_split_entry, &d);
    if (pg_tool_run(argv, s->coord, s->dbname, ddl_split_feed, &d, err) &&
        pg_archive_finish(d.reader, err))
        ddl = ddl_store(w, owner, d.rest, pg_archive_reader_header(d.reader), err);
    else
        error_prefix(err, "schema dump");
    ddl_split_free(&d);
    argv_free(argv, argc);
    free(names);
    return ddl;
}

/* Dumps the schemas of units[0..n) in one pg_dump, splits the archive per
 * tenant, renumbers each part after first_id, and stores it under the
 * tenant's key. False with err when the dump failed (nothing is kept). */
static bool ddl_dump_batch(Worker *w, Session *s, Unit **units, size_t n, int first_id,
                           Error *err)
{
    DdlSplit d;
    size_t argc;
    json_t **ddls = xcalloc(n + 1, sizeof(json_t *));
    char **argv;
    bool ok;

    memset(&d, 0, sizeof(d));
    d.b = w->b;
    d.schemas = xcalloc(n + 1, sizeof(char *));
    d.units = xcalloc(n + 1, sizeof(Unit *));
    d.parts = xcalloc(n + 1, sizeof(PgArchivePart *));
    for (size_t i = 0; i < n; i++)
    {
        d.schemas[d.n] = units[i]->tenant->schema;
        d.units[d.n] = units[i];
        d.parts[d.n++] = pg_archive_part_new();
    }
    argv = ddl_argv(w->b, s, false, d.schemas, d.n, &argc);
    d.reader = pg_archive_reader_new(0, ddl_split_entry, &d);
    ok = pg_tool_run(argv, s->coord, s->dbname, ddl_split_feed, &d, err) &&
         pg_archive_finish(d.reader, err);
    if (!ok)
        error_prefix(err, "schema dump");
    if (ok && d.dropped > 0)
        log_debug("database \"%s\": %zu entries of a batch's schema dump belong to no tenant "
                  "of it and were left to the shared dump",
                  s->dbname, d.dropped);
    for (size_t i = 0; i < d.n && ok; i++)
    {
        pg_archive_part_renumber(d.parts[i], first_id);
        ddls[i] = ddl_store(w, d.units[i]->owner, d.parts[i], pg_archive_reader_header(d.reader),
                            err);
        ok = ddls[i] != NULL;
    }
    if (ok)
    {
        pthread_mutex_lock(&w->b->lock);
        for (size_t i = 0; i < d.n; i++)
        {
            json_decref(d.units[i]->ddl);
            d.units[i]->ddl = ddls[i];
            ddls[i] = NULL;
        }
        pthread_mutex_unlock(&w->b->lock);
        for (size_t i = 0; i < d.n; i++)
            backup_unit_done(w->b, d.units[i], 1);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(ddls[i]);
    free(ddls);
    ddl_split_free(&d);
    argv_free(argv, argc);
    return ok;
}

/* Runs dump (the shared part, or a batch) up to three times: a table
 * dropped since the snapshot, or whose SELECT was revoked, fails pg_dump;
 * the parts that hold such tables are failed (and left out) before the
 * next attempt. */
typedef bool (*DdlAttempt)(Worker *w, Session *s, void *arg, Error *err);

static bool ddl_with_retries(Worker *w, Session *s, DdlAttempt attempt, void *arg, Error *err)
{
    for (int i = 0;; i++)
    {
        Error e2;
        int found = 0;

        if (attempt(w, s, arg, err))
            return true;
        error_clear(&e2);
        if (i == 2 || s->failed || !backup_check_relations(w->b, s, &found, &e2) || found == 0)
            return false;
        log_info("database \"%s\": running the schema dump again without the failed part%s",
                 s->dbname, found == 1 ? "" : "s");
        error_clear(err);
    }
}

typedef struct DdlShared
{
    RepoOwner *owner;
    json_t *ddl;
} DdlShared;

static bool ddl_attempt_shared(Worker *w, Session *s, void *arg, Error *err)
{
    DdlShared *sh = arg;

    sh->ddl = ddl_dump_shared(w, s, sh->owner, err);
    return sh->ddl != NULL;
}

typedef struct DdlBatch
{
    Unit **units; /* the batch; failed units are skipped at each attempt */
    size_t n;
    int first_id;
} DdlBatch;

static bool ddl_attempt_batch(Worker *w, Session *s, void *arg, Error *err)
{
    DdlBatch *bt = arg;
    Unit **live = xcalloc(bt->n + 1, sizeof(Unit *));
    size_t n = 0;
    bool ok;

    for (size_t i = 0; i < bt->n; i++)
        if (!bt->units[i]->failed)
            live[n++] = bt->units[i];
    ok = n == 0 || ddl_dump_batch(w, s, live, n, bt->first_id, err);
    free(live);
    return ok;
}

/* The tenant units of the session still to dump, and how many locks each
 * needs (its tables, and one for its schema). */
static Unit **ddl_tenant_units(Session *s, size_t *n_out)
{
    Unit **units = xcalloc(s->n_units + 1, sizeof(Unit *));
    size_t n = 0;

    for (size_t i = 0; i < s->n_units; i++)
        if (!s->units[i]->tenant->shared && !s->units[i]->failed)
            units[n++] = s->units[i];
    *n_out = n;
    return units;
}

/* Locks a schema dump and the rest of the backup hold besides the
 * batch's tables. */
#define DDL_OWN_LOCKS 200

static long ddl_unit_locks(const Unit *u)
{
    return (u->tenant->tables > 0 ? u->tenant->tables : 0) + 1;
}

/* The tenants' schemas, in batches within the lock budget (shrunk when
 * the server's lock table is busy). A tenant with more tables than the
 * budget is dumped alone, with a warning: it is never skipped. A batch
 * that fails fails its tenants, not the others. */
static bool ddl_dump_tenants(Worker *w, Session *s, int first_id, Error *err)
{
    PgLockBudget budget;
    size_t n, next = 0;
    Unit **units = ddl_tenant_units(s, &n);

    if (!pg_lock_budget(s->coord, w->b->cfg->pg_lock_budget, &budget, err))
    {
        free(units);
        return false;
    }
    while (next < n)
    {
        long room = pg_lock_room(s->coord, &budget), locks = ddl_unit_locks(units[next]);
        /* pg_dump also locks the catalog tables and indexes it reads (about
         * 150), and the coordinator and each worker hold a few: a batch's
         * tables get what is left */
        long limit = room > 2 * DDL_OWN_LOCKS ? room - DDL_OWN_LOCKS : room / 2;
        DdlBatch bt = {units + next, 1, first_id};
        Error e;

        if (locks > room)
        {
            char name[256];

            fmt_printable(units[next]->tenant->name, name, sizeof(name));
            log_warning("tenant \"%s\" has %ld tables, more than the %ld locks the backup may "
                        "hold now: its schema is dumped alone, locking them all",
                        name, locks - 1, room);
        }
        while (next + bt.n < n && locks + ddl_unit_locks(units[next + bt.n]) <= limit)
            locks += ddl_unit_locks(units[next + bt.n++]);
        log_debug("database \"%s\": dumping the schemas of %zu tenant%s (%ld locks)", s->dbname,
                  bt.n, bt.n == 1 ? "" : "s", locks);
        error_clear(&e);
        if (!ddl_with_retries(w, s, ddl_attempt_batch, &bt, &e))
        {
            if (s->failed || PQstatus(s->coord) != CONNECTION_OK)
            {
                *err = e;
                free(units);
                return false;
            }
            for (size_t i = 0; i < bt.n; i++)
                backup_unit_fail(w->b, bt.units[i], &e);
        }
        next += bt.n;
    }
    free(units);
    return true;
}

static bool ddl_whole_database(Worker *w, Session *s, RepoOwner *owner, Error *err)
{
    size_t argc;
    char **argv = ddl_argv(w->b, s, true, (const char *const *)s->exclude, s->n_exclude, &argc);
    json_t *ddl = backup_tool_stream(w, owner, argv, s->dbname, s->coord, err);

    argv_free(argv, argc);
    if (ddl == NULL)
        return false;
    json_object_set_new(s->doc, "ddl", ddl);
    for (size_t i = 0; i < s->n_units; i++)
        backup_unit_done(w->b, s->units[i], 1);
    return true;
}

static bool ddl_attempt_whole(Worker *w, Session *s, void *arg, Error *err)
{
    return ddl_whole_database(w, s, arg, err);
}

bool backup_run_ddl(Worker *w, Session *s, Error *err)
{
    RepoOwner *owner = repo_owner_get(w->b->repo, s->ddl_owner, true, err);
    DdlShared sh = {owner, NULL};

    if (owner == NULL)
        return false;
    /* a tenant database's dump is its own, whole: it locks every table */
    if (w->b->ops->whole_database)
    {
        PgLockBudget budget;
        long tables = s->n_units > 0 ? s->units[0]->tenant->tables : 0;

        if (tables > 0 && pg_lock_budget(s->coord, w->b->cfg->pg_lock_budget, &budget, err) &&
            tables + 1 > pg_lock_room(s->coord, &budget))
            log_warning("database \"%s\" has %ld tables, more than the %ld locks the backup may "
                        "hold now: its schema dump locks them all",
                        s->dbname, tables, budget.budget);
        error_clear(err);
        return ddl_with_retries(w, s, ddl_attempt_whole, owner, err);
    }
    if (!ddl_with_retries(w, s, ddl_attempt_shared, &sh, err))
        return false;
    json_object_set_new(s->doc, "ddl", sh.ddl);
    /* a tenant's part is numbered from 1 whatever the shared dump holds,
     * so that its archive, and so its part, stays the same while the
     * tenant does; a restore numbers it after the shared dump's ids */
    return ddl_dump_tenants(w, s, 1, err);
}
