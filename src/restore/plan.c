/*
 * plan.c - before anything changes: pick the snapshot, turn the plan into
 * targets (where each tenant goes), and check each target (what exists,
 * what would be replaced).
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
#include "manifest/manifest.h"
#include "restore/restore_intern.h"

void restore_target_init(Restore *r, Target *t, const ManTenant *unit)
{
    const RestorePlan *a = r->a;

    memset(t, 0, sizeof(*t));
    t->unit = unit;
    t->name = unit->name;
    t->src_db = unit->database;
    t->src_schema = unit->schema;
    t->mdb = manifest_find_database(r->man, t->src_db);
    r->ops->place(t->src_db, unit->schema, unit->shared, a->as, a->into_db, &t->db, &t->schema);
}

void restore_target_free(Target *t)
{
    restore_sel_free(t);
    free(t->other_tenant);
    free(t->db);
    free(t->schema);
    free(t->aside);
}

/* Checks every target before anything is changed. */
static bool restore_preflight(Restore *r, Target *targets, size_t n, bool *replaces, Error *err)
{
    const RestorePlan *a = r->a;

    *replaces = false;
    for (size_t i = 0; i < n; i++)
    {
        Target *t = &targets[i];
        const char *name = r->ops->object_name(t->db, t->schema);
        const char *home = r->ops->home_db(t->db);
        bool db_exists = false, exists = false;

        if (t->mdb == NULL || t->mdb->ddl == NULL)
        {
            error_set(err, ERR_FAILURE, "snapshot has no schema dump of database \"%s\"",
                      t->src_db);
            return error_hint(err, "run \"coffer check\"; the snapshot may be damaged");
        }
        if (!pg_database_exists(r->admin, t->db, &db_exists, err))
            return false;
        /* a missing database holds nothing; one is the object itself, or holds it */
        if (db_exists && home != NULL)
        {
            PGconn *c = restore_connect(r, home, err);

            if (c == NULL || !r->ops->exists(c, name, &exists, err))
            {
                PQfinish(c);
                return false;
            }
            PQfinish(c);
        }
        else
            exists = db_exists;
        if (a->data_only)
        {
            if (!exists)
            {
                error_set(err, ERR_FAILURE, "--data-only needs the target %s \"%s\" to exist",
                          r->ops->object, name);
                return error_hint(err, "restore without --data-only to create it");
            }
            /* emptying a table that others reference fails: say so now */
            if (a->clean && a->n_tables > 0 && !restore_check_references(r, t, err))
                return false;
            if (a->clean)
                *replaces = t->replaces = true;
            continue;
        }
        if (exists && !a->clean)
        {
            error_set(err, ERR_FAILURE, "tenant \"%s\": %s \"%s\" already exists%s%s%s", t->name,
                      r->ops->object, name, home ? " in database \"" : "", home ? home : "",
                      home ? "\"" : "");
            return error_hint(err, "add --clean to replace it (a safety backup is taken first), "
                                   "or --as NEWNAME to restore beside it");
        }
        if (exists)
            *replaces = t->replaces = true;
    }
    return true;
}

bool restore_plan_check(const RestorePlan *a, Error *err)
{
    const TenancyOps *ops = tenancy_ops(a->cfg->model);

    if (a->n_tenants == 0 && !a->all)
        error_set(err, ERR_USAGE, "restore: name a tenant with --tenant NAME, or use --all");
    else if (a->n_tenants > 0 && a->all)
        error_set(err, ERR_USAGE, "restore: --tenant and --all exclude each other");
    else if (a->as != NULL && (a->n_tenants != 1 || a->all))
        error_set(err, ERR_USAGE, "restore: --as renames one tenant; name exactly one --tenant");
    else if (!ops->restore_names_check(a->as, a->into_db, err))
        ; /* err says why */
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
    else
        return ops->restore_check(err);
    return error_hint(err, "run \"coffer help restore\"");
}

/* Builds the list of targets: the named tenants (or all, shared parts
 * first), plus for --into-db the shared schemas the target lacks. */
static Target *restore_build_targets(Restore *r, size_t *n_out, Error *err)
{
    const Manifest *m = r->man;
    Target *targets = xcalloc(m->n_tenants + 1, sizeof(Target));
    size_t n = 0;

    if (r->a->all)
    {
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < m->n_tenants; i++)
                if (m->tenants[i].shared == (pass == 0))
                {
                    restore_target_init(r, &targets[n++], &m->tenants[i]);
                    if (!restore_select_tables(r, &targets[n - 1], false, err))
                        goto fail;
                }
        *n_out = n;
        return targets;
    }
    for (size_t k = 0; k < r->a->n_tenants; k++)
    {
        const ManTenant *u = manifest_find_tenant(m, r->a->tenants[k], false);

        if (u == NULL)
        {
            error_set(err, ERR_FAILURE, "unknown tenant \"%s\" in snapshot %.12s", r->a->tenants[k],
                      m->id);
            error_hint(err, "run \"coffer info %.12s\" to list the tenants it holds", m->id);
            goto fail;
        }
        restore_target_init(r, &targets[n++], u);
        if (!restore_select_tables(r, &targets[n - 1], true, err))
            goto fail;
    }
    *n_out = n;
    return targets;
fail:
    for (size_t k = 0; k < n; k++)
        restore_target_free(&targets[k]);
    free(targets);
    return NULL;
}

/* Drops the database --into-db created, on a connection of its own (also
 * from the signal thread). */
static void restore_drop_new_db(void *arg)
{
    Restore *r = arg;
    Error err;
    PGconn *c;
    bool exists = true;

    error_clear(&err);
    c = pg_connect(r->cfg->pg_conninfo, "postgres", &err);
    if (c != NULL && cleanup_interrupted())
        pg_terminate_own(c, &err);
    /* guarded before CREATE DATABASE: it may never have been made */
    if (c != NULL && pg_database_exists(c, r->a->into_db, &exists, &err) && !exists)
    {
        PQfinish(c);
        return;
    }
    if (c == NULL || !pg_drop_database(c, r->a->into_db, &err))
        log_warning("could not drop database \"%s\" that the restore created: %s",
                    r->a->into_db, err.message);
    else
        log_info("dropped database \"%s\" that the failed restore had created", r->a->into_db);
    PQfinish(c);
}

/* --into-db when tenants are schemas: the database is created when
 * missing, and the shared schemas it lacks come first (all of them when it
 * was created just now: its "public" is the template's, empty). */
bool restore_add_shared(Restore *r, Error *err)
{
    Target **targets = &r->targets;
    size_t *n = &r->n_targets;
    const Manifest *m = r->man;
    size_t added = 0;
    bool db_exists = false;
    PGconn *c = NULL;

    if (r->a->into_db == NULL || r->ops->whole_database || *n == 0)
        return true;
    if (!pg_database_exists(r->admin, r->a->into_db, &db_exists, err))
        return false;
    if (!db_exists)
    {
        /* a database this restore creates goes again if the restore fails
         * or is interrupted */
        r->new_db_guard = cleanup_push(restore_drop_new_db, r);
        if (!restore_create_db(r, r->a->into_db, (*targets)[0].mdb, err))
            return false;
        log_info("created database \"%s\"", r->a->into_db);
    }
    if (r->a->all)
        return true; /* every shared part is a target already */
    c = pg_connect(r->cfg->pg_conninfo, r->a->into_db, err);
    if (c == NULL)
        return false;
    *targets = xrealloc(*targets, sizeof(Target) * (*n + m->n_tenants + 1));
    memmove(*targets + m->n_tenants, *targets, sizeof(Target) * *n);
    for (size_t i = 0; i < m->n_tenants; i++)
    {
        const ManTenant *u = &m->tenants[i];
        bool exists = true;

        if (!u->shared || strcmp(u->database, (*targets)[m->n_tenants].src_db) != 0)
            continue;
        if (!r->ops->exists(c, u->schema, &exists, err))
        {
            PQfinish(c);
            return false;
        }
        /* a database made just now holds only its template's empty "public" */
        if (!exists || !db_exists)
        {
            restore_target_init(r, &(*targets)[added], u);
            log_info("shared schema \"%s\" is missing in \"%s\" and is restored too", u->schema,
                     r->a->into_db);
            added++;
        }
    }
    memmove(*targets + added, *targets + m->n_tenants, sizeof(Target) * *n);
    *n += added;
    PQfinish(c);
    for (size_t i = 0; i < added; i++)
        if (!restore_select_tables(r, &(*targets)[i], false, err))
            return false;
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
/* Does the snapshot carry the tag (NULL: any snapshot does)? */
static bool restore_has_tag(json_t *snap, const char *tag)
{
    json_t *t;
    size_t i;

    if (tag == NULL)
        return true;
    json_array_foreach (json_object_get(snap, "tags"), i, t)
        if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0)
            return true;
    return false;
}

static json_t *restore_pick_snapshot(Restore *r, Error *err)
{
    ManifestSelect sel = {r->a->tenants, r->a->all ? 0 : r->a->n_tenants};
    json_t *all, *s, *header = NULL, *snap, *unreadable = NULL;
    size_t i;

    if (strcmp(r->a->snapshot, "latest") != 0)
    {
        header = repo_snapshot_load(r->repo, r->a->snapshot, err);
        if (header == NULL && err->hint[0] == '\0')
        {
            if (r->a->n_tenants > 0)
                error_hint(err, "run \"coffer list --tenant %s\" to see the snapshots that hold it",
                           r->a->tenants[0]);
            else
                error_hint(err, "run \"coffer list\" to see the snapshots");
        }
    }
    else
    {
        /* a damaged snapshot is skipped with a warning: the newest one
         * that can be read is restored */
        all = repo_snapshot_list_readable(r->repo, &unreadable, err);
        if (all == NULL)
            return NULL;
        repo_snapshot_warn_unreadable(unreadable);
        json_decref(unreadable);
        json_array_foreach (all, i, s)
        {
            bool has_all = !restore_is_safety(s) && restore_has_tag(s, r->a->tag);

            for (size_t k = 0; k < r->a->n_tenants && has_all; k++)
                has_all = manifest_holds(r->repo, s, r->a->tenants[k]);
            if (has_all)
                header = s; /* the list is oldest first */
        }
        if (header != NULL)
            json_incref(header);
        json_decref(all);
        if (header == NULL && r->a->tag != NULL)
        {
            error_set(err, ERR_FAILURE, "no snapshot tagged \"%s\"%s%s%s", r->a->tag,
                      r->a->n_tenants > 0 ? " holds tenant \"" : "",
                      r->a->n_tenants > 0 ? r->a->tenants[0] : "", r->a->n_tenants > 0 ? "\"" : "");
            error_hint(err, "run \"coffer list\" to see the snapshots and their tags");
        }
        else if (header == NULL)
        {
            if (r->a->n_tenants > 0)
                error_set(err, ERR_FAILURE, "no snapshot holds tenant \"%s\"", r->a->tenants[0]);
            else
                error_set(err, ERR_FAILURE, "the repository has no snapshot to restore");
            error_hint(err, "run \"coffer list\" to see the snapshots");
        }
    }
    if (header == NULL)
        return NULL;
    /* only the parts of the tenants restored, and the shared part */
    snap = manifest_assemble(r->repo, header, &sel, err);
    json_decref(header);
    return snap;
}

/* Parts of the snapshot that could not be read: a named tenant's fails the
 * restore with the part named; with --all the others still restore and
 * the restore ends partial. */
static bool restore_check_parts(Restore *r, Error *err)
{
    for (size_t i = 0; i < r->man->n_unreadable; i++)
    {
        const ManUnreadable *bad = &r->man->unreadable[i];

        if (bad->tenant != NULL && bad->destroyed)
        {
            char *owner = manifest_owner_name(bad->tenant);
            char when[40];

            if (repo_owner_destroyed_at(r->repo, owner, when) && when[0] != '\0')
                error_set(err, ERR_FAILURE,
                          "tenant \"%s\"'s keys were destroyed on %.10s; its backups cannot be read",
                          bad->tenant, when);
            else
                error_set(err, ERR_FAILURE,
                          "tenant \"%s\"'s keys were destroyed; its backups cannot be read",
                          bad->tenant);
            free(owner);
            return error_hint(err, "it was erased on purpose; nothing of it can be restored");
        }
        if (bad->tenant != NULL)
        {
            error_set(err, ERR_FAILURE, "tenant \"%s\": %s", bad->tenant, bad->error);
            return error_hint(err, "restore it from another snapshot (\"coffer list --tenant %s\"), "
                                   "and run \"coffer check\" to list damaged objects",
                              bad->tenant);
        }
        log_error("%s%s", bad->error,
                  bad->destroyed ? " (an erased tenant's: it is not restored)"
                                 : "; what it holds is not restored");
        if (!bad->destroyed)
            r->unreadable++;
    }
    return true;
}

/* --as onto an existing name: is that another discovered tenant? Then the
 * restore replaces a tenant the user did not name, which it says. */
static bool restore_find_others(Restore *r, Error *err)
{
    TenantList list;

    if (r->a->as == NULL)
        return true;
    memset(&list, 0, sizeof(list));
    if (!tenancy_discover(r->cfg, false, &list, err))
        return false;
    for (size_t i = 0; i < r->n_targets; i++)
    {
        const Tenant *x = r->targets[i].replaces ? restore_occupant(r, &list, &r->targets[i]) : NULL;

        if (x != NULL && strcmp(x->name, r->targets[i].name) != 0)
            r->targets[i].other_tenant = xstrdup(x->name);
    }
    tenancy_list_free(&list);
    return true;
}

void restore_fill_infos(Restore *r, RestoreResult *res)
{
    free(r->infos);
    r->infos = xcalloc(r->n_targets + 1, sizeof(RestoreTargetInfo));
    for (size_t i = 0; i < r->n_targets; i++)
    {
        Target *t = &r->targets[i];
        RestoreTargetInfo *info = &r->infos[i];

        info->name = t->name;
        info->shared = t->unit->shared;
        info->db = t->db;
        info->schema = t->schema;
        info->replaces = t->replaces;
        info->other_tenant = t->other_tenant;
    }
    res->targets = r->infos;
    res->n_targets = r->n_targets;
}

/* Finds the client programs: pg_restore always, pg_dump only to rename a
 * schema (--as when tenants are schemas), looked up now so that a missing
 * one fails before any change. */
static bool restore_find_tools(Restore *r, Error *err)
{
    r->major = pg_server_major(r->admin);
    r->pg_restore = pg_tool_find(r->cfg->pg_bindir, "pg_restore", r->major, err);
    if (r->pg_restore == NULL)
        return false;
    if (r->a->as != NULL && !r->ops->whole_database)
    {
        r->pg_dump = pg_tool_find(r->cfg->pg_bindir, "pg_dump", r->major, err);
        if (r->pg_dump == NULL)
            return false;
    }
    return true;
}

Restore *restore_prepare(const RestorePlan *plan, Repo *repo, RestoreResult *res, Error *err)
{
    Restore *r = xcalloc(1, sizeof(Restore));

    memset(res, 0, sizeof(*res));
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->swap_lock, NULL);
    r->a = plan;
    r->cfg = plan->cfg;
    r->ops = tenancy_ops(plan->cfg->model);
    r->repo = repo;
    r->started = fmt_now();
    r->snap = restore_pick_snapshot(r, err);
    if (r->snap == NULL)
        goto fail;
    r->man = manifest_parse(r->snap, err);
    if (r->man == NULL)
        goto fail;
    snprintf(res->snapshot, sizeof(res->snapshot), "%s", r->man->id);
    if (!restore_check_parts(r, err))
        goto fail;
    if (strcmp(r->man->model, config_model_name(r->cfg->model)) != 0)
    {
        error_set(err, ERR_FAILURE,
                  "snapshot %.12s was taken with the %s model, the configuration says %s",
                  r->man->id, r->man->model, config_model_name(r->cfg->model));
        goto fail;
    }
    r->admin = restore_connect(r, "postgres", err);
    if (r->admin == NULL || !restore_find_tools(r, err))
        goto fail;
    {
        size_t recovered = 0;

        /* a restore killed mid-swap is put right before anything else */
        if (!restore_recover(r, &recovered, err))
            goto fail;
    }
    r->targets = restore_build_targets(r, &r->n_targets, err);
    if (r->targets == NULL ||
        !restore_preflight(r, r->targets, r->n_targets, &res->replaces, err) ||
        (res->replaces && !restore_find_others(r, err)))
        goto fail;
    restore_fill_infos(r, res);
    return r;
fail:
    restore_free(r);
    return NULL;
}

void restore_free(Restore *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_targets; i++)
        restore_target_free(&r->targets[i]);
    free(r->targets);
    free(r->infos);
    if (r->tmp_guard != 0)
        cleanup_pop(r->tmp_guard, true);
    if (r->admin != NULL)
        PQfinish(r->admin);
    free(r->pg_restore);
    free(r->pg_dump);
    for (size_t i = 0; i < r->n_roles; i++)
        free(r->roles[i]);
    free(r->roles);
    manifest_free(r->man);
    json_decref(r->snap);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->swap_lock);
    free(r);
}

bool restore_recover_only(const RestorePlan *plan, Repo *repo, size_t *recovered, Error *err)
{
    Restore *r = xcalloc(1, sizeof(Restore));
    bool ok;

    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->swap_lock, NULL);
    r->a = plan;
    r->cfg = plan->cfg;
    r->ops = tenancy_ops(plan->cfg->model);
    r->repo = repo;
    ok = restore_recover(r, recovered, err);
    restore_free(r);
    return ok;
}

PGconn *restore_connect(const Restore *r, const char *db, Error *err)
{
    char opt[64];

    if (r->cfg->pg_lock_timeout <= 0)
        return pg_connect(r->cfg->pg_conninfo, db, err);
    snprintf(opt, sizeof(opt), "-c lock_timeout=%ds", r->cfg->pg_lock_timeout);
    return pg_connect_with(r->cfg->pg_conninfo, db, opt, err);
}

void restore_explain_wait(const Restore *r, const char *db, const char *schema, Error *err)
{
    Error e2;
    PGconn *c;
    char *who = NULL;

    if (strstr(err->message, "lock timeout") == NULL)
        return;
    error_clear(&e2);
    c = pg_connect(r->cfg->pg_conninfo, db, &e2);
    if (c != NULL && schema != NULL)
        who = pg_lock_holders(c, schema);
    if (c != NULL && who == NULL)
        who = pg_lock_holders(c, NULL);
    PQfinish(c);
    if (who != NULL)
        error_detail(err, "waited %d s (postgres.lock_timeout) for a lock held by %s",
                     r->cfg->pg_lock_timeout, who);
    error_hint(err, "end the transaction that holds the lock, or raise postgres.lock_timeout "
                    "(0 waits without limit)");
    free(who);
}
