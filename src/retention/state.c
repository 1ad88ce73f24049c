/*
 * state.c - coffer run's schedule state: per owner, the newest snapshot
 * holding its part and when discovery last saw it, kept in state/schedule
 * and brought up to date by reading only the snapshots it has not seen.
 */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "manifest/manifest.h"
#include "retention/retention.h"

#define STATE_NAME "schedule"

struct RetentionState
{
    Repo *repo;
    json_t *doc;       /* {"snapshots": {id: time}, "owners": {oid: {"last", "seen"}}, ...} */
    json_t *snapshots; /* borrowed from doc */
    json_t *owners;    /* borrowed from doc */
    json_t *bytes;     /* borrowed from doc: {id: bytes read} */
};

/* doc[key] as an object, created when missing or of another type. */
static json_t *state_object(json_t *doc, const char *key)
{
    json_t *o = json_object_get(doc, key);

    if (!json_is_object(o))
    {
        o = json_object();
        json_object_set_new(doc, key, o);
    }
    return o;
}

static json_t *state_owner(RetentionState *st, const char *oid)
{
    json_t *o = json_object_get(st->owners, oid);

    if (!json_is_object(o))
    {
        o = json_object();
        json_object_set_new(st->owners, oid, o);
    }
    return o;
}

static void state_max(json_t *o, const char *key, time_t t)
{
    if ((time_t)json_integer_value(json_object_get(o, key)) < t)
        json_object_set_new(o, key, json_integer((json_int_t)t));
}

/* Takes one snapshot header into the state. */
static void state_take(RetentionState *st, const char *id, json_t *header)
{
    time_t t = 0;
    json_t *ref;
    size_t i;

    if (!clock_parse(json_string_value(json_object_get(header, "time")), &t, NULL))
        t = 0;
    json_array_foreach (json_object_get(header, "parts"), i, ref)
    {
        char oid[REPO_OWNER_HEX];

        if (repo_part_owner(ref, oid))
            state_max(state_owner(st, oid), "last", t);
    }
    json_object_set_new(st->snapshots, id, json_integer((json_int_t)t));
    json_object_set_new(st->bytes, id,
                        json_integer(json_integer_value(
                            json_object_get(json_object_get(header, "stats"), "bytes_read"))));
}

bool retention_state_sync(RetentionState *st, Error *err)
{
    json_t *ids = repo_snapshot_ids(st->repo, err), *listed, *v;
    const char *id;
    void *tmp;
    size_t i;

    if (ids == NULL)
        return false;
    listed = json_object();
    json_array_foreach (ids, i, v)
    {
        const char *sid = json_string_value(v);
        json_t *header;
        Error e;

        json_object_set_new(listed, sid, json_true());
        if (json_object_get(st->snapshots, sid) != NULL)
            continue;
        error_clear(&e);
        header = repo_snapshot_load(st->repo, sid, &e);
        if (header == NULL)
        {
            log_warning("%s; the schedule does not count it", e.message);
            continue;
        }
        state_take(st, sid, header);
        json_decref(header);
    }
    json_object_foreach_safe (st->snapshots, tmp, id, v)
        if (json_object_get(listed, id) == NULL)
        {
            json_object_del(st->snapshots, id); /* forgotten since */
            json_object_del(st->bytes, id);
        }
    json_decref(listed);
    json_decref(ids);
    return true;
}

RetentionState *retention_state_open(Repo *repo, Error *err)
{
    RetentionState *st = xcalloc(1, sizeof(*st));

    st->repo = repo;
    st->doc = repo_state_load(repo, STATE_NAME, err);
    if (st->doc == NULL)
    {
        free(st);
        return NULL;
    }
    st->snapshots = state_object(st->doc, "snapshots");
    st->owners = state_object(st->doc, "owners");
    st->bytes = state_object(st->doc, "bytes");
    if (!retention_state_sync(st, err))
    {
        retention_state_free(st);
        return NULL;
    }
    return st;
}

bool retention_state_save(RetentionState *st, Error *err)
{
    return repo_state_write(st->repo, STATE_NAME, st->doc, err);
}

void retention_state_free(RetentionState *st)
{
    if (st == NULL)
        return;
    json_decref(st->doc);
    free(st);
}

static time_t state_get(RetentionState *st, const char *owner_name, const char *key)
{
    char oid[REPO_OWNER_HEX];

    repo_owner_id(st->repo, owner_name, oid);
    return (time_t)json_integer_value(json_object_get(json_object_get(st->owners, oid), key));
}

time_t retention_state_last(RetentionState *st, const char *owner_name)
{
    return state_get(st, owner_name, "last");
}

time_t retention_state_seen(RetentionState *st, const char *owner_name)
{
    return state_get(st, owner_name, "seen");
}

void retention_state_saw(RetentionState *st, const TenantList *list, time_t now)
{
    for (size_t i = 0; i < list->count; i++)
    {
        const Tenant *t = &list->items[i];
        char *owner = t->shared ? xstrdup(MANIFEST_SHARED_OWNER) : manifest_owner_name(t->name);
        char oid[REPO_OWNER_HEX];

        repo_owner_id(st->repo, owner, oid);
        json_object_set_new(state_owner(st, oid), "seen", json_integer((json_int_t)now));
        free(owner);
    }
    json_object_set_new(st->doc, "discovered", json_integer((json_int_t)now));
}

time_t retention_state_time(RetentionState *st, const char *what)
{
    return (time_t)json_integer_value(json_object_get(st->doc, what));
}

void retention_state_set_time(RetentionState *st, const char *what, time_t t)
{
    json_object_set_new(st->doc, what, json_integer((json_int_t)t));
}

size_t retention_state_snapshots(RetentionState *st, uint64_t *bytes)
{
    const char *id;
    json_t *v;

    *bytes = 0;
    json_object_foreach (st->bytes, id, v)
        *bytes += (uint64_t)json_integer_value(v);
    return json_object_size(st->snapshots);
}

time_t retention_state_newest(RetentionState *st)
{
    const char *id;
    json_t *v;
    time_t newest = 0;

    json_object_foreach (st->snapshots, id, v)
        if ((time_t)json_integer_value(v) > newest)
            newest = (time_t)json_integer_value(v);
    return newest;
}

bool retention_clock_check(time_t now, time_t newest, const char *what, Error *err)
{
    char a[32], b[32];

    if (newest == 0 || now >= newest - CONFIG_RUN_GRANULARITY)
        return true;
    clock_format(now, a);
    clock_format(newest, b);
    error_set(err, ERR_USAGE, "the clock went backwards: it says %s, but %s was at %s", a, what, b);
    return error_hint(err, "schedules and retention count from the clock: fix it (or "
                           "COFFER_NOW) before running this again");
}
