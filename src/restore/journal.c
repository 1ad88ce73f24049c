/*
 * journal.c - the restore's swap journal. Before it renames a live tenant
 * aside, a restore records the swap in the repository (repo_journal_*), and
 * updates it as the target is created and when every target stands. A
 * restore killed where no cleanup can run (SIGKILL, power loss) leaves the
 * entry behind; the next restore, or "coffer restore --recover", reads it
 * and puts the live tenant back, or finishes the swap, and says which.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec/codec.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "restore/restore_intern.h"

static void journal_host(char *out, size_t len)
{
    if (gethostname(out, len - 1) != 0)
        snprintf(out, len, "unknown");
    out[len - 1] = '\0';
}

bool restore_journal_write(Restore *r, const char *phase)
{
    json_t *targets = json_array(), *doc;
    char host[256];
    Error err;
    bool ok;

    if (r->journal_id[0] == '\0')
    {
        unsigned char raw[32];

        codec_random(raw, sizeof(raw));
        hex_encode(raw, sizeof(raw), r->journal_id);
    }
    for (size_t i = 0; i < r->n_targets; i++)
    {
        const Target *t = &r->targets[i];

        if ((t->guard == 0 || t->settled) && !t->drop_pending)
            continue;
        json_array_append_new(targets,
                              json_pack("{s:s, s:s?, s:s?, s:b}", "db", t->db, "schema", t->schema,
                                        "aside", t->aside, "created", t->created || !t->replaces));
    }
    if (json_array_size(targets) == 0 && strcmp(phase, "swapping") == 0)
    {
        /* every target is back as it was: nothing is left to put right */
        json_decref(targets);
        restore_journal_remove(r);
        return true;
    }
    journal_host(host, sizeof(host));
    doc = json_pack("{s:s, s:I, s:s, s:o}", "host", host, "pid", (json_int_t)getpid(), "phase",
                    phase, "targets", targets);
    error_clear(&err);
    ok = repo_journal_put(r->repo, r->journal_id, doc, &err);
    json_decref(doc);
    if (!ok)
        log_warning("%s; a restore killed now could not be put right automatically",
                    err.message);
    return ok;
}

void restore_journal_remove(Restore *r)
{
    Error err;

    if (r->journal_id[0] == '\0')
        return;
    error_clear(&err);
    if (!repo_journal_remove(r->repo, r->journal_id, &err))
        log_warning("could not remove the journal entry of this restore: %s", err.message);
    r->journal_id[0] = '\0';
}

/* Is the process that wrote the entry still at work? Only this host can
 * tell; an entry of another host is left to that host. */
static bool journal_owner_alive(json_t *doc, bool *other_host)
{
    char host[256];
    json_int_t pid = json_integer_value(json_object_get(doc, "pid"));
    const char *h = json_string_value(json_object_get(doc, "host"));

    journal_host(host, sizeof(host));
    *other_host = h == NULL || strcmp(h, host) != 0;
    if (*other_host)
        return true;
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH);
}

/* Puts one journaled target right: with the swap committed the old copy
 * goes; otherwise the live tenant is put back (restore_swap_decide). */
static bool journal_recover_target(Restore *r, json_t *jt, bool committed, Error *err)
{
    const char *db = json_string_value(json_object_get(jt, "db"));
    const char *schema = json_string_value(json_object_get(jt, "schema"));
    const char *aside = json_string_value(json_object_get(jt, "aside"));
    const char *name = r->ops->object_name(db, schema);
    const char *home = r->ops->home_db(db);
    PGconn *c;
    bool has_aside = false, live = false, ok;

    if (db == NULL || name == NULL)
        return true;
    if (home != NULL)
    {
        /* its database is gone (a drill's scratch database, dropped as
         * stale): nothing of it is left to put right */
        PGconn *a = pg_connect(r->cfg->pg_conninfo, "postgres", err);
        bool there = true;

        ok = a != NULL && pg_database_exists(a, home, &there, err);
        PQfinish(a);
        if (!ok)
            return false;
        if (!there)
            return true;
    }
    c = pg_connect(r->cfg->pg_conninfo, home ? home : "postgres", err);
    if (c == NULL)
        return false;
    ok = (aside == NULL || r->ops->exists(c, aside, &has_aside, err)) &&
         r->ops->exists(c, name, &live, err);
    if (ok && committed && has_aside)
    {
        ok = r->ops->drop(c, aside, "replaced", err);
        if (ok)
            log_warning("finished an interrupted restore of %s \"%s\": the copy it replaced was "
                        "dropped",
                        r->ops->object, name);
    }
    else if (ok && !committed)
    {
        SwapActions act =
            restore_swap_decide(has_aside, live, json_is_true(json_object_get(jt, "created")));

        if (act.drop_live)
            ok = r->ops->drop(c, name, "partial", err);
        if (ok && act.rename_back)
            ok = r->ops->rename(c, "rename back", aside, name, err);
        if (ok && (act.drop_live || act.rename_back))
            log_warning("put back %s \"%s\" after an interrupted restore", r->ops->object, name);
    }
    PQfinish(c);
    return ok;
}

/* ---- scratch databases ------------------------------------------------ */

#define SCRATCH_MARK "coffer scratch database:"
#define SCRATCH_MAX_AGE (24 * 3600)

bool restore_mark_scratch(Restore *r, const char *db, Error *err)
{
    char host[256], text[512];

    journal_host(host, sizeof(host));
    snprintf(text, sizeof(text), SCRATCH_MARK " host=%s pid=%d started=%ld", host, (int)getpid(),
             (long)time(NULL));
    return pg_comment_database(r->admin, db, text, err);
}

/* Reads a scratch database's marker comment; false when it has none. */
static bool scratch_parse(const char *comment, char who[256], int *pid, long *started)
{
    return sscanf(comment, SCRATCH_MARK " host=%255s pid=%d started=%ld", who, pid, started) == 3;
}

/* A process of this host that is gone, or over a day ago. */
static bool scratch_stale(const char *host, const char *who, int pid, long started)
{
    bool gone = strcmp(who, host) == 0 && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;

    return gone || (long)time(NULL) - started >= SCRATCH_MAX_AGE;
}

/* Drops the scratch databases a killed restore left: marked by coffer,
 * and made by a process of this host that is gone, or over a day ago.
 * Another host's, or a live process's, are left alone. */
static void restore_drop_stale_scratch(Restore *r)
{
    PgNameList names, comments;
    char host[256];
    Error err;
    PGconn *c;

    error_clear(&err);
    c = pg_connect(r->cfg->pg_conninfo, "postgres", &err);
    if (c == NULL || !pg_databases_like(c, "coffer\\_scratch\\_%", &names, &comments, &err))
    {
        PQfinish(c);
        return;
    }
    journal_host(host, sizeof(host));
    for (size_t i = 0; i < names.count; i++)
    {
        char who[256] = "";
        int pid = 0;
        long started = 0;

        if (!scratch_parse(comments.names[i], who, &pid, &started))
            continue; /* not marked by coffer: not ours to drop */
        if (!scratch_stale(host, who, pid, started))
            continue;
        error_clear(&err);
        if (pg_drop_database(c, names.names[i], &err))
            log_warning("dropped the scratch database \"%s\" that an interrupted restore left "
                        "(process %d on host \"%s\")",
                        names.names[i], pid, who);
        else
            log_warning("could not drop the stale scratch database \"%s\": %s", names.names[i],
                        err.message);
    }
    pg_name_list_free(&names);
    pg_name_list_free(&comments);
    PQfinish(c);
}

bool restore_recover(Restore *r, size_t *recovered, Error *err)
{
    json_t *entries = repo_journal_list(r->repo, err);
    json_t *e;
    size_t i;
    bool ok = true;

    *recovered = 0;
    restore_drop_stale_scratch(r);
    if (entries == NULL)
        return false;
    json_array_foreach (entries, i, e)
    {
        json_t *doc = json_object_get(e, "doc"), *jt;
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *phase = json_string_value(json_object_get(doc, "phase"));
        bool committed = phase != NULL && strcmp(phase, "committed") == 0;
        bool other_host, done = true;
        size_t k;

        if (journal_owner_alive(doc, &other_host))
        {
            if (other_host)
                log_info("a restore on host \"%s\" may still be at work; its journal entry is left "
                         "to it",
                         json_string_value(json_object_get(doc, "host")));
            continue;
        }
        json_array_foreach (json_object_get(doc, "targets"), k, jt)
            done = journal_recover_target(r, jt, committed, err) && done;
        if (!done)
        {
            ok = false;
            error_prefix(err, "could not put right an interrupted restore");
            break;
        }
        (*recovered)++;
        if (!repo_journal_remove(r->repo, id, err))
        {
            ok = false;
            break;
        }
    }
    json_decref(entries);
    return ok;
}

/* ---- leftovers, for "coffer check" ------------------------------------ */

static void leftover_add(json_t *out, const char *kind, const char *db, const char *name,
                         const char *what)
{
    json_array_append_new(out, json_pack("{s:s, s:s?, s:s, s:s}", "kind", kind, "database", db,
                                         "name", name, "what", what));
}

/* The names in list that tenancy_is_aside calls aside copies. */
static void leftovers_asides(json_t *out, const PgNameList *list, const char *db)
{
    for (size_t i = 0; i < list->count; i++)
        if (tenancy_is_aside(list->names[i]))
            leftover_add(out, db != NULL ? "aside schema" : "aside database", db, list->names[i],
                         "a tenant renamed aside by a restore that did not finish: its rows as "
                         "they were before it");
}

static void leftovers_scratch(json_t *out, const PgNameList *names, const PgNameList *comments)
{
    char host[256];

    journal_host(host, sizeof(host));
    for (size_t i = 0; i < names->count; i++)
    {
        char who[256] = "", what[512];
        int pid = 0;
        long started = 0;

        if (!scratch_parse(comments->names[i], who, &pid, &started))
            continue; /* not marked by coffer: not ours */
        snprintf(what, sizeof(what), "a restore's scratch database (process %d on host \"%s\"%s)",
                 pid, who, scratch_stale(host, who, pid, started) ? ", gone" : "");
        leftover_add(out, "scratch database", NULL, names->names[i], what);
    }
}

/* The aside copies and scratch databases the server holds. */
static bool leftovers_server(const Config *cfg, json_t *out, Error *err)
{
    PgNameList names, comments;
    PGconn *c = pg_connect(cfg->pg_conninfo, NULL, err);
    bool ok;

    if (c == NULL)
        return false;
    if (cfg->model == TENANCY_SCHEMA)
    {
        ok = pg_catalog_schemas(c, &names, err);
        if (ok)
        {
            leftovers_asides(out, &names, PQdb(c));
            pg_name_list_free(&names);
        }
    }
    else
    {
        ok = pg_databases_like(c, "%\\_coffer\\_old\\_%", &names, &comments, err);
        if (ok)
        {
            leftovers_asides(out, &names, NULL);
            pg_name_list_free(&names);
            pg_name_list_free(&comments);
        }
    }
    if (ok && (ok = pg_databases_like(c, "coffer\\_scratch\\_%", &names, &comments, err)))
    {
        leftovers_scratch(out, &names, &comments);
        pg_name_list_free(&names);
        pg_name_list_free(&comments);
    }
    PQfinish(c);
    return ok;
}

json_t *restore_leftovers(const Config *cfg, Repo *repo, Error *pg_err, Error *err)
{
    json_t *entries = repo_journal_list(repo, err), *out, *e;
    size_t i;

    if (entries == NULL)
        return NULL;
    out = json_array();
    json_array_foreach (entries, i, e)
    {
        json_t *doc = json_object_get(e, "doc");
        bool other_host;
        char what[512];

        snprintf(what, sizeof(what), "the swap journal of a restore by process %" JSON_INTEGER_FORMAT
                 " on host \"%s\" (phase %s)%s",
                 json_integer_value(json_object_get(doc, "pid")),
                 json_string_value(json_object_get(doc, "host")) ?: "?",
                 json_string_value(json_object_get(doc, "phase")) ?: "?",
                 journal_owner_alive(doc, &other_host) ? "" : ", that process is gone");
        leftover_add(out, "restore journal", NULL, json_string_value(json_object_get(e, "id")),
                     what);
    }
    json_decref(entries);
    error_clear(pg_err);
    if (cfg != NULL && cfg->pg_conninfo != NULL)
        leftovers_server(cfg, out, pg_err);
    return out;
}
