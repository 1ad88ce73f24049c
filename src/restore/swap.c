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

/* A name for something renamed aside, unique and at most 63 bytes. The
 * name is cut on a character boundary: half a UTF-8 character is not a
 * name the server accepts. */
char *restore_aside_name(const char *name)
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

/* Is there a schema (database model: a database) of that name? false on
 * error too, with err set. */
static bool swap_exists(PGconn *c, const Target *t, const char *name, Error *err)
{
    bool exists = false;

    if (t->schema != NULL)
        pg_schema_exists(c, name, &exists, err);
    else
        pg_database_exists(c, name, &exists, err);
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
/* One attempt at putting the target back; false with err when it failed. */
static bool swap_put_back_once(Restore *r, Target *t, bool *aside_out, bool *live_out, Error *err)
{
    const char *name = t->schema ? t->schema : t->db;
    PGconn *c = pg_connect(r->cfg->pg_conninfo, t->schema ? t->db : "postgres", err);
    bool aside = false, live = false;

    if (c != NULL && cleanup_interrupted())
    {
        /* the restore's own sessions (and its client programs') hold locks
         * on what is put back: end them, and do not wait long for others */
        pg_command(c, "set lock timeout", "SET lock_timeout = '10s'", err);
        pg_terminate_own(c, err);
    }
    if (c != NULL && !error_is_set(err))
    {
        aside = t->aside != NULL && swap_exists(c, t, t->aside, err);
        live = !error_is_set(err) && swap_exists(c, t, name, err);
    }
    if (!error_is_set(err) && live && (aside || t->created))
    {
        if (t->schema != NULL)
            pg_exec_ident(c, "drop partial schema", "DROP SCHEMA %s CASCADE", name, NULL, err);
        else
            pg_drop_database(c, name, err);
    }
    if (!error_is_set(err) && aside)
        pg_exec_ident(c, "rename back",
                      t->schema ? "ALTER SCHEMA %s RENAME TO %s" : "ALTER DATABASE %s RENAME TO %s",
                      t->aside, name, err);
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
    const char *what = t->schema ? "schema" : "database";
    const char *name = t->schema ? t->schema : t->db;
    int attempts = cleanup_interrupted() ? 5 : 1;
    Error err;
    bool aside = false, live = false;

    pthread_mutex_lock(&r->swap_lock);
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
    else if (live && t->created)
        log_info("the incomplete %s \"%s\" was dropped", what, name);
    if (t->put_back_ok)
    {
        t->created = false;
        free(t->aside);
        t->aside = NULL;
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
void restore_drop_asides(Restore *r)
{
    /* every target stands: an interrupt from here on must not undo them */
    for (size_t i = 0; i < r->n_targets; i++)
        restore_unguard(&r->targets[i]);
    for (size_t i = r->n_targets; i-- > 0;)
    {
        Target *t = &r->targets[i];
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
        else if (!pg_exec_ident(conn, "drop replaced schema", "DROP SCHEMA %s CASCADE",
                                     t->aside, NULL, &err))
            log_warning("could not drop the replaced schema \"%s\": %s", t->aside, err.message);
        free(deps);
        PQfinish(conn);
    }
}
