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

        if (t->guard == 0 || t->settled)
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

bool restore_recover(Restore *r, size_t *recovered, Error *err)
{
    json_t *entries = repo_journal_list(r->repo, err);
    json_t *e;
    size_t i;
    bool ok = true;

    *recovered = 0;
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
