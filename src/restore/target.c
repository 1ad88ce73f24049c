/*
 * target.c - the recipe of one target, step by step: fetch the DDL, rename
 * the live copy aside, pre-data, data, post-data, sequences and
 * statistics; and the engine's entry point that runs every target, all or
 * nothing.
 */
#include <dirent.h>
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
#include "restore/restore_intern.h"

/* Logs (at debug) how long a step of a target took, and restarts the clock. */
static bool restore_step(Target *t, const char *step, double *t0, bool ok)
{
    double now = fmt_now();

    if (ok)
        log_debug("%s: %s took %.3fs", t->name, step, now - *t0);
    *t0 = now;
    return ok;
}

/* Renames the live schema (database) aside, unless an interrupt came
 * first: under the swap lock, so that a put-back sees either the rename or
 * nothing of it. */
static bool restore_rename_aside(Restore *r, Target *t, PGconn *conn, const char *name,
                                 Error *err)
{
    char what[64];
    bool ok;

    pthread_mutex_lock(&r->swap_lock);
    if (cleanup_interrupted())
    {
        pthread_mutex_unlock(&r->swap_lock);
        return error_set(err, ERR_FAILURE, "interrupted; nothing was changed");
    }
    t->aside = tenancy_aside_name(name);
    restore_journal_write(r, "swapping"); /* before the rename: a kill after it is recoverable */
    snprintf(what, sizeof(what), "rename %s aside", r->ops->object);
    ok = r->ops->rename(conn, what, name, t->aside, err);
    if (!ok)
    {
        free(t->aside);
        t->aside = NULL;
    }
    pthread_mutex_unlock(&r->swap_lock);
    return ok;
}

/* Records that the target now holds what the restore created, unless an
 * interrupt came first: then its put-back may already have run, and what
 * it left is the live tenant, which the journal must not call the
 * restore's. */
static bool restore_mark_created(Restore *r, Target *t, bool created, Error *err)
{
    bool ok = true;

    pthread_mutex_lock(&r->swap_lock);
    if (cleanup_interrupted())
        ok = error_set(err, ERR_FAILURE, "interrupted");
    else
    {
        t->created = created;
        restore_journal_write(r, "swapping");
    }
    pthread_mutex_unlock(&r->swap_lock);
    return ok;
}

bool restore_target(Restore *r, Target *t, Error *err)
{
    const RestorePlan *a = r->a;
    char *archive = NULL, *renamed = NULL, *list = NULL;
    PGconn *conn = NULL, *home_conn;
    bool exists = false, merge, ok = false;
    bool new_db = strcmp(t->db, t->src_db) != 0;
    const char *name = r->ops->object_name(t->db, t->schema);
    const char *home = r->ops->home_db(t->db);
    double t0 = fmt_now();

    if (!a->data_only)
        restore_guard(r, t);
    archive = restore_fetch_ddl(r, t, err);
    if (!restore_step(t, "fetching the DDL", &t0, archive != NULL))
        goto done;
    /* the object is looked up and renamed in the database holding it, or
     * (a database) from the maintenance one */
    if (home != NULL)
    {
        conn = restore_connect(r, home, err);
        if (conn == NULL)
            goto done;
    }
    home_conn = home != NULL ? conn : r->admin;
    if (!r->ops->exists(home_conn, name, &exists, err))
        goto done;
    /* pg_dump never creates "public" (the database has it from its
     * template) and extensions live in it: it is restored into, never
     * renamed aside, which would take the extensions, and every column of
     * their types, with it when dropped */
    merge = r->ops->restores_into(name, r->ops->object_name(t->src_db, t->src_schema));
    if (exists && !merge && !a->data_only)
    {
        if (!r->ops->terminate(home_conn, name, err) ||
            !restore_rename_aside(r, t, home_conn, name, err))
            goto done;
    }
    if (r->ops->whole_database)
    {
        if (!a->data_only)
        {
            if (!restore_mark_created(r, t, true, err))
                goto fail;
            if (!new_db)
            {
                if (!restore_run_pg_restore(r, archive, NULL, "pre-data", "postgres", true, 0, err))
                    goto fail;
            }
            else if (!restore_create_db(r, t->db, t->mdb, err) ||
                     !restore_run_pg_restore(r, archive, NULL, "pre-data", t->db, false, 0, err))
                goto fail;
        }
        conn = restore_connect(r, t->db, err);
        if (conn == NULL)
            goto fail;
    }
    else
    {
        const char *schemas[1];

        if (!a->data_only)
        {
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
            if (!restore_mark_created(r, t, !(exists && merge), err))
                goto fail;
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
    restore_explain_wait(r, t->db, t->schema, err);
    error_prefix(err, "restore of \"%s\" failed", t->name);
    if (!restore_rollback(r, t))
    {
        const char *what = r->ops->object;

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
    if (!ok)
        restore_rollback(r, t); /* nothing to put back when it failed before any change */
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

/* Removes the private temporary directory and what is in it (archives of
 * DDL in clear, -L lists): on every path, interrupts included. On an
 * interrupt the restore may still be writing a file in it while this runs,
 * so it empties and removes the directory until the directory is gone: once
 * it is, nothing can be created in it. */
static void restore_tmpdir_remove(void *arg)
{
    const char *dir = arg;

    for (int attempt = 0; attempt < 100; attempt++)
    {
        DIR *d = opendir(dir);
        struct dirent *e;

        while (d != NULL && (e = readdir(d)) != NULL)
        {
            char path[4400];

            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
        if (d != NULL)
            closedir(d);
        if (rmdir(dir) == 0 || errno != ENOTEMPTY)
            return;
    }
    log_warning("could not remove the temporary directory \"%s\"", dir);
}

/* Restores the targets in order; a failure undoes the ones before it. */
static bool restore_all_targets(Restore *r, Error *err)
{
    for (size_t i = 0; i < r->n_targets; i++)
    {
        Target *t = &r->targets[i];
        RestoreTargetInfo *info = &r->infos[i];
        uint64_t rows0 = r->rows, bytes0 = r->bytes;
        double t0 = fmt_now();

        if (cleanup_interrupted())
        {
            error_set(err, ERR_FAILURE, "interrupted before \"%s\" was restored", t->name);
            return false;
        }
        const char *home = r->ops->home_db(t->db);

        log_info("restoring %s \"%s\" into %s \"%s\"%s%s", info->shared ? "shared part" : "tenant",
                 t->name, r->ops->object, r->ops->object_name(t->db, t->schema),
                 home ? " of database " : "", home ? home : "");
        if (!restore_target(r, t, err))
        {
            bool undone = false;

            for (size_t k = i; k-- > 0;)
            {
                undone = restore_undo(r, &r->targets[k]) || undone;
                r->infos[k].done = false;
            }
            if (r->a->data_only && i > 0)
                error_hint(err, "the targets before it were loaded and keep the restored data; "
                                "fix the cause and run the restore again");
            else if (undone)
                error_hint(err, "the targets restored before it were put back as they were; fix "
                                "the cause and run the restore again");
            return false;
        }
        info->done = true;
        info->tables = r->a->schema_only ? 0 : restore_count_selected(r, t);
        info->rows = r->rows - rows0;
        info->bytes = r->bytes - bytes0;
        info->seconds = fmt_now() - t0;
    }
    return true;
}

/* Run when an interrupt comes after every target stood: nothing is put
 * back then, and the user must not think otherwise. */
static void restore_committed_note(void *arg)
{
    Restore *r = arg;

    log_warning("the restore had completed when the interrupt came: %zu target%s stand%s; what "
                "%s replaced is dropped by the next restore or \"coffer restore --recover\"",
                r->n_targets, r->n_targets == 1 ? "" : "s", r->n_targets == 1 ? "s" : "",
                r->n_targets == 1 ? "it" : "they");
}

bool restore_execute(Restore *r, RestoreResult *res, Error *err)
{
    CleanupHandle committed;
    bool ok = false;
    const char *base = r->cfg->scratch_dir != NULL ? r->cfg->scratch_dir : getenv("TMPDIR");

    r->started = fmt_now();
    if (res->replaces && !restore_safety_backup(r, err))
        goto out;
    snprintf(res->safety_id, sizeof(res->safety_id), "%s", r->safety_id);
    snprintf(r->tmpdir, sizeof(r->tmpdir), "%s/coffer-restore-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    /* guarded before it exists: an interrupt between the two leaves nothing */
    r->tmp_guard = cleanup_push(restore_tmpdir_remove, r->tmpdir);
    if (mkdtemp(r->tmpdir) == NULL)
    {
        error_set(err, ERR_FAILURE, "could not create a temporary directory in \"%s\": %s",
                  base != NULL && base[0] != '\0' ? base : "/tmp", strerror(errno));
        error_hint(err, r->cfg->scratch_dir != NULL
                            ? "set repository.scratch_dir to a writable directory"
                            : "set TMPDIR (or repository.scratch_dir) to a writable directory");
        goto out;
    }
    if (!restore_add_shared(r, err) || (!r->a->data_only && !restore_missing_roles(r, err)))
        goto out;
    restore_fill_infos(r, res);
    if (!restore_all_targets(r, err))
        goto out;
    /* every target stands: from here an interrupted or killed restore is
     * finished, not undone, and an interrupt says so */
    pthread_mutex_lock(&r->swap_lock);
    if (cleanup_interrupted())
    {
        /* the put-backs run, or have run: the restore does not stand */
        pthread_mutex_unlock(&r->swap_lock);
        error_set(err, ERR_FAILURE, "interrupted");
        goto out;
    }
    r->committed = true;
    if (r->journal_id[0] != '\0')
        restore_journal_write(r, "committed");
    committed = cleanup_push(restore_committed_note, r);
    pthread_mutex_unlock(&r->swap_lock);
    if (restore_drop_asides(r) || r->journal_id[0] == '\0')
        restore_journal_remove(r);
    else
        restore_journal_write(r, "committed"); /* only what is still to drop */
    cleanup_pop(committed, false);
    ok = true;
    if (r->unreadable > 0)
    {
        error_set(err, ERR_PARTIAL,
                  "%zu part%s of snapshot %.12s could not be read and %s not restored",
                  r->unreadable, r->unreadable == 1 ? "" : "s", res->snapshot,
                  r->unreadable == 1 ? "was" : "were");
        error_hint(err, "run \"coffer check\" to list damaged objects");
        ok = false;
    }
out:
    if (!ok && r->journal_id[0] != '\0')
    {
        bool all_back = true;

        for (size_t i = 0; i < r->n_targets; i++)
            all_back = all_back && r->targets[i].guard == 0 && r->targets[i].put_back_ok;
        if (all_back)
            restore_journal_remove(r);
    }
    if (r->new_db_guard != 0)
        cleanup_pop(r->new_db_guard, !ok && err->code != ERR_PARTIAL);
    r->new_db_guard = 0;
    res->rows = r->rows;
    res->bytes = r->bytes;
    res->seconds = fmt_now() - r->started;
    return ok;
}
