/*
 * expire.c - retention per tenant: read every snapshot header once, group
 * its parts by owner, let each owner's class decide which of its snapshots
 * stay, then drop the other parts and forget snapshots left empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "manifest/manifest.h"
#include "policy/policy.h"
#include "retention/retention.h"

/* A snapshot as read: its time, pin and the owners of its parts. */
typedef struct ExpSnap
{
    char id[65];
    time_t time;
    time_t pin_until;
    size_t *owners; /* indices into Exp.owners */
    size_t n_owners;
} ExpSnap;

/* An owner met in the headers, with the snapshots that hold its part. */
typedef struct ExpOwnerRec
{
    char oid[REPO_OWNER_HEX];
    time_t newest;
    size_t *snaps; /* indices into Exp.snaps */
    size_t n_snaps;
    bool decided;   /* evaluated (else left as it is) */
    unsigned *kept; /* per entry of snaps, when decided */
} ExpOwnerRec;

typedef struct Exp
{
    ExpSnap *snaps;
    size_t n_snaps;
    ExpOwnerRec *owners;
    size_t n_owners;
    json_t *index; /* oid -> owner index */
} Exp;

/* What expire_apply does to one snapshot. */
typedef struct ExpireWorkItem
{
    char id[65];
    json_t *drop; /* oid -> true */
    size_t tenants_dropped;
    bool forget;
} ExpireWorkItem;

struct ExpireWork
{
    ExpireWorkItem *items;
    size_t n;
};

static size_t exp_owner(Exp *x, const char *oid)
{
    json_t *v = json_object_get(x->index, oid);
    ExpOwnerRec *o;

    if (v != NULL)
        return (size_t)json_integer_value(v);
    x->owners = xrealloc(x->owners, sizeof(ExpOwnerRec) * (x->n_owners + 1));
    o = &x->owners[x->n_owners];
    memset(o, 0, sizeof(*o));
    memcpy(o->oid, oid, REPO_OWNER_HEX);
    json_object_set_new(x->index, oid, json_integer((json_int_t)x->n_owners));
    return x->n_owners++;
}

static int exp_snap_newest_first(const void *a, const void *b)
{
    const ExpSnap *x = a, *y = b;

    if (x->time != y->time)
        return x->time > y->time ? -1 : 1;
    return strcmp(y->id, x->id);
}

/* Reads every header into x, newest first; a header that cannot be read is
 * left alone, with a warning. */
static bool exp_read(Repo *repo, Exp *x, Error *err)
{
    json_t *ids = repo_snapshot_ids(repo, err), *v;
    size_t i;

    if (ids == NULL)
        return false;
    x->snaps = xcalloc(json_array_size(ids) + 1, sizeof(ExpSnap));
    json_array_foreach (ids, i, v)
    {
        Error e;
        json_t *h, *ref;
        ExpSnap *s = &x->snaps[x->n_snaps];
        const char *pin;
        size_t k;

        error_clear(&e);
        h = repo_snapshot_load(repo, json_string_value(v), &e);
        if (h == NULL)
        {
            log_warning("%s; expire leaves it alone", e.message);
            continue;
        }
        snprintf(s->id, sizeof(s->id), "%s", json_string_value(v));
        if (!clock_parse(json_string_value(json_object_get(h, "time")), &s->time, NULL))
            s->time = 0;
        pin = json_string_value(json_object_get(h, "pin_until"));
        if (pin == NULL || !clock_parse(pin, &s->pin_until, NULL))
            s->pin_until = 0;
        s->owners = xcalloc(json_array_size(json_object_get(h, "parts")) + 1, sizeof(size_t));
        x->n_snaps++;
        json_array_foreach (json_object_get(h, "parts"), k, ref)
        {
            char oid[REPO_OWNER_HEX];

            if (repo_part_owner(ref, oid))
                s->owners[s->n_owners++] = exp_owner(x, oid);
        }
        json_decref(h);
    }
    json_decref(ids);
    qsort(x->snaps, x->n_snaps, sizeof(ExpSnap), exp_snap_newest_first);
    for (size_t si = 0; si < x->n_snaps; si++)
        for (size_t k = 0; k < x->snaps[si].n_owners; k++)
        {
            ExpOwnerRec *o = &x->owners[x->snaps[si].owners[k]];

            if (o->n_snaps == 0)
                o->newest = x->snaps[si].time;
            o->snaps = xrealloc(o->snaps, sizeof(size_t) * (o->n_snaps + 1));
            o->snaps[o->n_snaps++] = si;
        }
    return true;
}

/* The tenant name and class stored in the owner's newest part; false when
 * it cannot be read (keys destroyed, damage). */
static bool exp_part_names(Repo *repo, const Exp *x, const ExpOwnerRec *o, char **name,
                           char **class, Error *e)
{
    json_t *h = repo_snapshot_load(repo, x->snaps[o->snaps[0]].id, e), *ref, *part = NULL;
    json_t *t;
    size_t i;
    bool ok = false;

    if (h == NULL)
        return false;
    json_array_foreach (json_object_get(h, "parts"), i, ref)
    {
        char oid[REPO_OWNER_HEX];

        if (repo_part_owner(ref, oid) && strcmp(oid, o->oid) == 0)
        {
            part = repo_part_load(repo, ref, NULL, e);
            break;
        }
    }
    t = json_array_get(json_object_get(part, "tenants"), 0);
    if (json_is_string(json_object_get(t, "name")))
    {
        const char *c = json_string_value(json_object_get(t, "class"));

        *name = xstrdup(json_string_value(json_object_get(t, "name")));
        *class = xstrdup(c != NULL ? c : "default");
        ok = true;
    }
    else if (part != NULL)
        error_set(e, ERR_FAILURE, "snapshot part names no tenant");
    json_decref(part);
    json_decref(h);
    return ok;
}

/* Applies a class's rules to one owner's snapshots; fills out. */
static void exp_decide(const Exp *x, ExpOwnerRec *o, const ConfigKeep *keep, time_t anchor,
                       const ExpirePlan *plan)
{
    PolicySnap *ps = xcalloc(o->n_snaps + 1, sizeof(PolicySnap));

    for (size_t i = 0; i < o->n_snaps; i++)
    {
        ps[i].time = x->snaps[o->snaps[i]].time;
        ps[i].pin_until = x->snaps[o->snaps[i]].pin_until;
    }
    policy_keep(keep, ps, o->n_snaps, anchor, plan->now);
    o->kept = xcalloc(o->n_snaps + 1, sizeof(unsigned));
    for (size_t i = 0; i < o->n_snaps; i++)
        o->kept[i] = ps[i].kept;
    free(ps);
    o->decided = true;
}

/* Marks the owner's newest snapshot kept when nothing else is. */
static void exp_keep_newest(ExpOwnerRec *o, bool allow_empty)
{
    for (size_t i = 0; i < o->n_snaps; i++)
        if (o->kept[i] != 0)
            return;
    if (o->n_snaps > 0 && !allow_empty)
        o->kept[0] |= POLICY_KEPT_NEWEST;
}

static void exp_fill(const Exp *x, const ExpOwnerRec *o, ExpireOwner *out)
{
    out->snaps = xcalloc(o->n_snaps + 1, sizeof(ExpireSnap));
    out->n_snaps = o->n_snaps;
    for (size_t i = 0; i < o->n_snaps; i++)
    {
        const ExpSnap *s = &x->snaps[o->snaps[i]];

        memcpy(out->snaps[i].id, s->id, sizeof(s->id));
        out->snaps[i].time = s->time;
        out->snaps[i].kept = o->kept[i];
        if (o->kept[i] != 0)
            out->n_kept++;
    }
}

/* The class of a tenant: its own, or "deleted" once it is gone. */
static const ConfigClass *exp_class(const ExpirePlan *plan, const ExpireOwner *eo, Error *err)
{
    const ConfigClass *deleted = config_find_class(plan->cfg, "deleted");

    if (eo->gone && deleted != NULL)
        return deleted;
    return config_class_for(plan->cfg, eo->class, eo->tenant, err);
}

/* A tenant that is gone keeps its last snapshot while within of when it
 * was last seen, and what the class's counting rules keep; the others
 * keep what their class's rules select. */
static void exp_decide_tenant(const Exp *x, ExpOwnerRec *o, const ExpireOwner *eo,
                              const ConfigClass *c, const ExpirePlan *plan)
{
    ConfigKeep k;

    if (!c->has_keep)
    {
        exp_decide(x, o, NULL, o->newest, plan);
        return;
    }
    k = c->keep;
    if (!eo->gone || strcmp(c->name, "deleted") != 0)
    {
        exp_decide(x, o, &k, o->newest, plan);
        return;
    }
    k.within = 0;
    exp_decide(x, o, &k, o->newest, plan);
    if (c->keep.within > 0 && plan->now <= eo->last_seen + (time_t)c->keep.within &&
        o->n_snaps > 0)
        o->kept[0] |= POLICY_KEPT_WITHIN;
}

static int exp_owner_cmp(const void *a, const void *b)
{
    const ExpireOwner *x = a, *y = b;

    if ((x->tenant == NULL) != (y->tenant == NULL))
        return x->tenant == NULL ? 1 : -1;
    return x->tenant == NULL ? 0 : strcmp(x->tenant, y->tenant);
}

/* Which tenants' owner ids the plan names; NULL: all. */
static json_t *exp_named(Repo *repo, const ExpirePlan *plan)
{
    json_t *named;

    if (plan->n_tenants == 0)
        return NULL;
    named = json_object();
    for (size_t i = 0; i < plan->n_tenants; i++)
    {
        char *owner = manifest_owner_name(plan->tenants[i]);
        char oid[REPO_OWNER_HEX];

        repo_owner_id(repo, owner, oid);
        json_object_set_new(named, oid, json_string(plan->tenants[i]));
        free(owner);
    }
    return named;
}

/* Decides every tenant owner; fails on a class that is not defined. */
static bool exp_tenants(const ExpirePlan *plan, Repo *repo, Exp *x, const char *shared_oid,
                        ExpireResult *res, Error *err)
{
    json_t *live = json_object(), *named = exp_named(repo, plan);
    bool ok = true;

    for (size_t i = 0; plan->live != NULL && i < plan->live->count; i++)
    {
        const Tenant *t = &plan->live->items[i];
        char *owner = manifest_owner_name(t->name);
        char oid[REPO_OWNER_HEX];

        if (!t->shared)
        {
            repo_owner_id(repo, owner, oid);
            json_object_set_new(live, oid, json_integer((json_int_t)i));
        }
        free(owner);
    }
    for (size_t i = 0; ok && i < x->n_owners; i++)
    {
        ExpOwnerRec *o = &x->owners[i];
        ExpireOwner *eo = &res->owners[res->n_owners];
        json_t *lv = json_object_get(live, o->oid);
        const ConfigClass *c;
        Error e;

        if (strcmp(o->oid, shared_oid) == 0 || o->n_snaps == 0 ||
            (named != NULL && json_object_get(named, o->oid) == NULL))
            continue;
        memset(eo, 0, sizeof(*eo));
        error_clear(&e);
        if (lv != NULL)
        {
            const Tenant *t = &plan->live->items[json_integer_value(lv)];

            eo->tenant = xstrdup(t->name);
            eo->class = xstrdup(t->class);
        }
        else if (!exp_part_names(repo, x, o, &eo->tenant, &eo->class, &e))
        {
            log_warning("the parts of an owner (%.12s) cannot be read (%s); expire leaves them "
                        "alone", o->oid, e.message);
            res->unreadable++;
            continue;
        }
        eo->gone = plan->live != NULL && lv == NULL;
        eo->last_seen = o->newest;
        if (plan->state != NULL)
        {
            char *owner = manifest_owner_name(eo->tenant);
            time_t seen = retention_state_seen(plan->state, owner);

            if (seen > eo->last_seen)
                eo->last_seen = seen;
            free(owner);
        }
        c = exp_class(plan, eo, err);
        if (c == NULL)
        {
            free(eo->tenant);
            free(eo->class);
            ok = false;
            break;
        }
        free(eo->class);
        eo->class = xstrdup(c->name);
        exp_decide_tenant(x, o, eo, c, plan);
        exp_keep_newest(o, plan->allow_empty);
        exp_fill(x, o, eo);
        res->n_owners++;
    }
    json_decref(live);
    json_decref(named);
    return ok;
}

/* The shared part stays where a tenant's part stays, and else by
 * tenancy.shared_class (or "default"). */
static void exp_shared(const ExpirePlan *plan, Exp *x, const char *shared_oid, ExpireResult *res)
{
    json_t *v = json_object_get(x->index, shared_oid);
    const char *cname = plan->cfg->shared_class ? plan->cfg->shared_class : "default";
    const ConfigClass *c = config_find_class(plan->cfg, cname);
    ExpOwnerRec *o;
    ExpireOwner *eo;
    size_t *stay;

    if (v == NULL)
        return;
    o = &x->owners[json_integer_value(v)];
    eo = &res->owners[res->n_owners++];
    memset(eo, 0, sizeof(*eo));
    eo->class = c != NULL ? xstrdup(c->name) : NULL;
    eo->last_seen = o->newest;
    if (c != NULL)
        exp_decide(x, o, c->has_keep ? &c->keep : NULL, o->newest, plan);
    else
        o->kept = xcalloc(o->n_snaps + 1, sizeof(unsigned));
    o->decided = true;
    /* how many tenants' parts stay in each snapshot; one not decided stays */
    stay = xcalloc(x->n_snaps + 1, sizeof(size_t));
    for (size_t i = 0; i < x->n_owners; i++)
        for (size_t j = 0; &x->owners[i] != o && j < x->owners[i].n_snaps; j++)
            if (!x->owners[i].decided || x->owners[i].kept[j] != 0)
                stay[x->owners[i].snaps[j]]++;
    for (size_t i = 0; i < o->n_snaps; i++)
    {
        if (c == NULL && x->snaps[o->snaps[i]].pin_until > plan->now)
            o->kept[i] |= POLICY_KEPT_PINNED;
        if (stay[o->snaps[i]] > 0)
            o->kept[i] |= POLICY_KEPT_TENANTS;
    }
    free(stay);
    exp_keep_newest(o, plan->allow_empty);
    exp_fill(x, o, eo);
}

/* Turns the verdicts into work per snapshot. */
static void exp_work(Exp *x, ExpireResult *res)
{
    struct ExpireWork *w = xcalloc(1, sizeof(*w));
    json_t **drop = xcalloc(x->n_snaps + 1, sizeof(json_t *));
    size_t *dropped = xcalloc(x->n_snaps + 1, sizeof(size_t));

    for (size_t i = 0; i < x->n_owners; i++)
    {
        const ExpOwnerRec *o = &x->owners[i];

        for (size_t j = 0; o->decided && j < o->n_snaps; j++)
            if (o->kept[j] == 0)
            {
                size_t si = o->snaps[j];

                if (drop[si] == NULL)
                    drop[si] = json_object();
                json_object_set_new(drop[si], o->oid, json_true());
                dropped[si]++;
            }
    }
    w->items = xcalloc(x->n_snaps + 1, sizeof(ExpireWorkItem));
    for (size_t si = 0; si < x->n_snaps; si++)
    {
        ExpireWorkItem *it = &w->items[w->n];

        if (dropped[si] == 0)
            continue;
        memcpy(it->id, x->snaps[si].id, sizeof(it->id));
        it->drop = drop[si];
        it->forget = dropped[si] == x->snaps[si].n_owners;
        if (it->forget)
            res->forget++;
        else
            res->rewrite++;
        res->parts_dropped += dropped[si];
        w->n++;
    }
    free(drop);
    free(dropped);
    res->work = w;
}

static void exp_free(Exp *x)
{
    for (size_t i = 0; i < x->n_snaps; i++)
        free(x->snaps[i].owners);
    free(x->snaps);
    for (size_t i = 0; i < x->n_owners; i++)
    {
        free(x->owners[i].snaps);
        free(x->owners[i].kept);
    }
    free(x->owners);
    json_decref(x->index);
}

bool expire_prepare(const ExpirePlan *plan, Repo *repo, ExpireResult *res, Error *err)
{
    Exp x;
    char shared_oid[REPO_OWNER_HEX];
    bool ok;

    memset(res, 0, sizeof(*res));
    memset(&x, 0, sizeof(x));
    x.index = json_object();
    if (!exp_read(repo, &x, err))
    {
        exp_free(&x);
        return false;
    }
    res->snapshots = x.n_snaps;
    res->newest = x.n_snaps > 0 ? x.snaps[0].time : 0;
    res->owners = xcalloc(x.n_owners + 1, sizeof(ExpireOwner));
    repo_owner_id(repo, MANIFEST_SHARED_OWNER, shared_oid);
    ok = exp_tenants(plan, repo, &x, shared_oid, res, err);
    if (ok)
    {
        exp_shared(plan, &x, shared_oid, res);
        exp_work(&x, res);
        qsort(res->owners, res->n_owners, sizeof(ExpireOwner), exp_owner_cmp);
    }
    exp_free(&x);
    return ok;
}

/* Writes a snapshot's header again without the dropped parts. */
static bool exp_rewrite(Repo *repo, const ExpireWorkItem *it, Error *err)
{
    json_t *h = repo_snapshot_load(repo, it->id, err), *keep, *ref, *st;
    size_t i, tenants_dropped = 0;
    char shared_oid[REPO_OWNER_HEX];
    bool ok;

    if (h == NULL)
        return false;
    repo_owner_id(repo, MANIFEST_SHARED_OWNER, shared_oid);
    keep = json_array();
    json_array_foreach (json_object_get(h, "parts"), i, ref)
    {
        char oid[REPO_OWNER_HEX];

        if (repo_part_owner(ref, oid) && json_object_get(it->drop, oid) != NULL)
        {
            tenants_dropped += strcmp(oid, shared_oid) != 0;
            continue;
        }
        json_array_append(keep, ref);
    }
    json_object_set_new(h, "parts", keep);
    st = json_object_get(h, "stats");
    if (json_is_object(st))
    {
        json_int_t n = json_integer_value(json_object_get(st, "tenants"));

        json_object_set_new(st, "tenants",
                            json_integer(n > (json_int_t)tenants_dropped
                                             ? n - (json_int_t)tenants_dropped
                                             : 0));
    }
    ok = repo_snapshot_write(repo, h, NULL, err);
    json_decref(h);
    return ok;
}

bool expire_apply(Repo *repo, ExpireResult *res, Error *err)
{
    struct ExpireWork *w = res->work;

    for (size_t i = 0; w != NULL && i < w->n; i++)
    {
        const ExpireWorkItem *it = &w->items[i];
        bool ok = it->forget ? repo_snapshot_forget(repo, it->id, err) : exp_rewrite(repo, it, err);

        if (!ok)
            return error_prefix(err, "expire stopped at snapshot %.12s (%zu of %zu done)", it->id,
                                i, w->n);
    }
    return true;
}

void expire_result_free(ExpireResult *res)
{
    for (size_t i = 0; i < res->n_owners; i++)
    {
        free(res->owners[i].tenant);
        free(res->owners[i].class);
        free(res->owners[i].snaps);
    }
    free(res->owners);
    if (res->work != NULL)
    {
        for (size_t i = 0; i < res->work->n; i++)
            json_decref(res->work->items[i].drop);
        free(res->work->items);
        free(res->work);
    }
    memset(res, 0, sizeof(*res));
}
