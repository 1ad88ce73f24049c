/*
 * swap.c - what a restore replaces is never dropped first: the live schema
 * or database is renamed aside, the new one created; on failure the partial
 * copy is dropped and the old one renamed back (rollback), a target
 * restored before a later failure is undone, and only when every target
 * succeeded are the asides dropped.
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
#include "restore/restore_intern.h"

/* Is there a schema (database model: a database) of that name? false on
 * error too, with err set. */
static bool swap_exists(Restore *r, PGconn *c, const char *name, Error *err)
{
    bool exists = false;

    r->ops->exists(c, name, &exists, err);
    return exists;
}

/*
 * Puts the target back as it was before the restore, judging by the
 * catalog, not by how far the restore thinks it got: the aside exists, so
 * whatever holds the live name is the restore's and goes, and the aside is
 * renamed back; no aside and a target the restore created: it goes. Runs
 * on a connection of its own, from a failing restore or from the signal
 * thread after an interrupt (then this process's other sessions are ended
 * first, so that their locks go), exactly once (cleanup_pop).
 */
SwapActions restore_swap_decide(bool aside_exists, bool live_exists, bool created)
{
    SwapActions act;

    /* with the aside there, whatever holds the live name is the restore's;
     * without it, only what the restore created goes, and what exists under
     * the live name otherwise is the live data, never touched */
    act.drop_live = live_exists && (aside_exists || created);
    act.rename_back = aside_exists;
    return act;
}

/* One attempt at putting the target back; false with err when it failed. */
static bool swap_put_back_once(Restore *r, Target *t, bool *aside_out, bool *live_out, Error *err)
{
    const char *name = r->ops->object_name(t->db, t->schema);
    const char *home = r->ops->home_db(t->db);
    PGconn *c = pg_connect(r->cfg->pg_conninfo, home ? home : "postgres", err);
    bool aside = false, live = false;

    if (c != NULL && cleanup_interrupted())
    {
        /* the restore's own sessions (and its client programs') hold locks
         * on what is put back: end them, and do not wait long for others */
        pg_command(c, "set lock timeout", "SET lock_timeout = '10s'", err);
        pg_terminate_own_wait(c, err);
    }
    if (c != NULL && !error_is_set(err))
    {
        aside = t->aside != NULL && swap_exists(r, c, t->aside, err);
        live = !error_is_set(err) && swap_exists(r, c, name, err);
    }
    if (!error_is_set(err))
    {
        /* a name that was free before the restore holds only what the
         * restore made, even before it marked it created (a client program
         * may commit just before it is stopped) */
        SwapActions act = restore_swap_decide(aside, live, t->created || !t->replaces);

        if (act.drop_live)
            r->ops->drop(c, name, "partial", err);
        if (!error_is_set(err) && act.rename_back)
            r->ops->rename(c, "rename back", t->aside, name, err);
    }
    PQfinish(c);
    *aside_out = aside;
    *live_out = live;
    return !error_is_set(err);
}

/*
 * Puts the target back as it was before the restore, judging by the
 * catalog, not by how far the restore thinks it got: the aside exists, so
 * whatever holds the live name is the restore's and goes, and the aside is
 * renamed back; no aside and a target the restore created: it goes. Runs
 * on a connection of its own, from a failing restore or from the signal
 * thread after an interrupt, exactly once (cleanup_pop). After an interrupt
 * this process's other sessions are ended first, so that their locks go;
 * one that a client program opened just then may still commit in between,
 * so a failed attempt is tried again.
 */
static void swap_put_back(void *arg)
{
    Target *t = arg;
    Restore *r = t->r;
    const char *what = r->ops->object;
    const char *name = r->ops->object_name(t->db, t->schema);
    int attempts = cleanup_interrupted() ? 5 : 1;
    Error err;
    bool aside = false, live = false;

    pthread_mutex_lock(&r->swap_lock);
    if (r->committed)
    {
        /* every target stood before the interrupt: the restore stays, and
         * its journal says so to the next one */
        pthread_mutex_unlock(&r->swap_lock);
        return;
    }
    for (int i = 0; i < attempts; i++)
    {
        error_clear(&err);
        if (swap_put_back_once(r, t, &aside, &live, &err))
            break;
        if (i + 1 < attempts)
        {
            struct timespec pause = {0, 200 * 1000 * 1000};

            log_info("putting %s \"%s\" back: %s; trying again", what, name, err.message);
            nanosleep(&pause, NULL);
        }
    }
    t->put_back_ok = !error_is_set(&err);
    if (!t->put_back_ok)
    {
        log_error("the target could not be put back as it was: %s", err.message);
        if (t->aside != NULL)
            log_error("the previous %s \"%s\" is kept as \"%s\"; \"%s\" may be incomplete", what,
                      name, t->aside, name);
        else
            log_error("%s \"%s\" may be incomplete; drop it before trying again", what, name);
    }
    else if (aside)
        log_info("%s \"%s\" was left as it was", what, name);
    else if (live && (t->created || !t->replaces))
        log_info("the incomplete %s \"%s\" was dropped", what, name);
    if (t->put_back_ok)
    {
        t->created = false;
        free(t->aside);
        t->aside = NULL;
        /* the journal must not keep describing a swap that was undone: the
         * next restore would take the live tenant for a partial copy */
        if (cleanup_interrupted() && r->journal_id[0] != '\0')
        {
            t->settled = true;
            restore_journal_write(r, "swapping");
        }
    }
    pthread_mutex_unlock(&r->swap_lock);
}

void restore_guard(Restore *r, Target *t)
{
    t->r = r;
    if (t->guard == 0)
        t->guard = cleanup_push(swap_put_back, t);
}

void restore_unguard(Target *t)
{
    if (t->guard != 0)
        cleanup_pop(t->guard, false);
    t->guard = 0;
}

bool restore_rollback(Restore *r, Target *t)
{
    (void)r;
    if (t->guard == 0)
        return true;
    t->put_back_ok = true;
    cleanup_pop(t->guard, true);
    t->guard = 0;
    return t->put_back_ok;
}

/* Undoes a target that was restored, because a later one failed: the
 * restore is all or nothing. */
bool restore_undo(Restore *r, Target *t)
{
    if (t->guard == 0 || (!t->created && t->aside == NULL))
    {
        restore_unguard(t);
        return false;
    }
    log_info("undoing the restore of \"%s\"", t->name);
    restore_rollback(r, t);
    return true;
}

/* Every target succeeded: drops what they replaced, last restored first
 * (tenants before the shared schemas they depended on). A replaced schema
 * that objects elsewhere still depend on is kept, with a warning: dropping
 * it would cascade into them (nothing outside a database depends on it). */
bool restore_drop_asides(Restore *r)
{
    bool all = true;

    /* every target stands: an interrupt from here on must not undo them */
    for (size_t i = 0; i < r->n_targets; i++)
        restore_unguard(&r->targets[i]);
    for (size_t i = r->n_targets; i-- > 0;)
    {
        Target *t = &r->targets[i];
        const char *what = r->ops->object;
        const char *home = r->ops->home_db(t->db);
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
                        what, r->ops->object_name(t->db, t->schema), t->aside);
            continue;
        }
        conn = restore_connect(r, home ? home : "postgres", &err);
        deps = conn ? r->ops->dependents(conn, t->aside, &err) : NULL;
        if (error_is_set(&err))
            log_warning("the replaced %s \"%s\" was kept: %s", what, t->aside, err.message);
        else if (deps != NULL)
            log_warning("the replaced %s \"%s\" was kept: objects outside it still depend on "
                        "it (%s); drop it yourself when they are dealt with",
                        what, t->aside, deps);
        else if (!r->ops->drop(conn, t->aside, "replaced", &err))
        {
            /* the journal keeps it: the next restore or --recover drops it */
            t->drop_pending = true;
            all = false;
            restore_explain_wait(r, t->db, t->aside, &err);
            log_warning("could not drop the replaced %s \"%s\" (the next restore or \"coffer "
                        "restore --recover\" drops it): %s%s%s",
                        what, t->aside, err.message, err.detail[0] ? "; " : "", err.detail);
        }
        free(deps);
        PQfinish(conn);
    }
    return all;
}
