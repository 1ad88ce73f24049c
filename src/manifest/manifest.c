/*
 * manifest.c - splitting a snapshot's document into per-tenant parts
 * sealed under each tenant's key plus a shared part and a master-key
 * header, and putting it back together for the engines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "manifest/manifest.h"


char *manifest_owner_name(const char *tenant)
{
    return xasprintf("tenant:%s", tenant);
}

static const char *man_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* The part document of owner in parts (an object: owner name -> part). */
static json_t *man_part(json_t *parts, const char *owner)
{
    json_t *p = json_object_get(parts, owner);

    if (p == NULL)
    {
        p = json_pack("{s:s, s:[], s:[]}", "owner", owner, "tenants", "databases");
        json_object_set_new(parts, owner, p);
    }
    return p;
}

bool manifest_part_write(Repo *repo, RepoOwner *owner, json_t *tenants, json_t *databases,
                         json_t **ref, Error *err)
{
    json_t *doc = json_pack("{s:s, s:O, s:O}", "owner", repo_owner_name(owner), "tenants", tenants,
                            "databases", databases);
    bool ok = repo_part_write(repo, owner, doc, ref, err);

    json_decref(doc);
    return ok;
}

bool manifest_write(Repo *repo, json_t *doc, json_t *written, char id_out[65], Error *err)
{
    json_t *parts = json_object();
    json_t *header = json_object();
    json_t *refs = json_array();
    json_t *shared, *u, *v;
    const char *key, *owner;
    size_t i;
    bool ok = false;

    /* the header: everything that names no tenant */
    json_object_foreach (doc, key, v)
        if (strcmp(key, "tenants") != 0 && strcmp(key, "databases") != 0 &&
            strcmp(key, "globals") != 0 && strcmp(key, "failed") != 0)
            json_object_set(header, key, v);
    shared = man_part(parts, MANIFEST_SHARED_OWNER);
    json_object_set(shared, "globals", json_object_get(doc, "globals"));
    json_object_set(shared, "failed", json_object_get(doc, "failed"));
    json_array_foreach (json_object_get(doc, "tenants"), i, u)
        json_array_append(json_object_get(man_part(parts, man_str(u, "owner")), "tenants"), u);
    /* a database belongs to the owner of its DDL: its tenant in the database
     * model, the shared part in the schema model */
    json_array_foreach (json_object_get(doc, "databases"), i, v)
    {
        const char *o = man_str(v, "owner");

        json_array_append(json_object_get(man_part(parts, o[0] ? o : MANIFEST_SHARED_OWNER),
                                           "databases"),
                          v);
    }
    json_object_foreach (parts, owner, v)
    {
        RepoOwner *ro = repo_owner_get(repo, owner, true, err);
        json_t *ref = NULL;

        if (ro == NULL || !repo_part_write(repo, ro, v, &ref, err))
            goto done;
        json_array_append_new(refs, ref);
    }
    if (written != NULL)
        json_array_extend(refs, written);
    json_object_set_new(header, "format", json_integer(2));
    json_object_set(header, "parts", refs);
    ok = repo_snapshot_write(repo, header, id_out, err);
done:
    json_decref(refs);
    json_decref(header);
    json_decref(parts);
    return ok;
}

/* Is the reference one of the selected tenants' (or the shared part)? */
static bool man_selected(Repo *repo, json_t *ref, const ManifestSelect *sel, const char **tenant)
{
    *tenant = NULL;
    if (sel == NULL || sel->n_tenants == 0 || repo_part_of(repo, ref, MANIFEST_SHARED_OWNER))
        return true;
    for (size_t i = 0; i < sel->n_tenants; i++)
    {
        char *owner = manifest_owner_name(sel->tenants[i]);
        bool mine = repo_part_of(repo, ref, owner);

        free(owner);
        if (mine)
        {
            *tenant = sel->tenants[i];
            return true;
        }
    }
    return false;
}

json_t *manifest_assemble(Repo *repo, json_t *header, const ManifestSelect *sel, Error *err)
{
    json_t *doc = json_deep_copy(header);
    json_t *tenants = json_array(), *dbs = json_array(), *unreadable = json_array();
    json_t *ref;
    size_t i;

    (void)err;
    json_object_del(doc, "parts");
    json_object_set_new(doc, "globals", json_null());
    json_object_set_new(doc, "failed", json_array());
    json_array_foreach (json_object_get(header, "parts"), i, ref)
    {
        const char *tenant;
        bool destroyed = false;
        json_t *part;
        Error e;

        if (!man_selected(repo, ref, sel, &tenant))
            continue;
        error_clear(&e);
        part = repo_part_load(repo, ref, &destroyed, &e);
        if (part == NULL)
        {
            json_t *bad = json_pack("{s:O, s:s, s:b}", "part", json_object_get(ref, "id"),
                                    "error", e.message, "destroyed", destroyed);

            if (tenant != NULL)
                json_object_set_new(bad, "tenant", json_string(tenant));
            json_array_append_new(unreadable, bad);
            continue;
        }
        json_array_extend(tenants, json_object_get(part, "tenants"));
        json_array_extend(dbs, json_object_get(part, "databases"));
        if (strcmp(man_str(part, "owner"), MANIFEST_SHARED_OWNER) == 0)
        {
            json_object_set(doc, "globals", json_object_get(part, "globals"));
            if (json_is_array(json_object_get(part, "failed")))
                json_object_set(doc, "failed", json_object_get(part, "failed"));
        }
        json_decref(part);
    }
    json_object_set_new(doc, "tenants", tenants);
    json_object_set_new(doc, "databases", dbs);
    json_object_set_new(doc, "unreadable", unreadable);
    return doc;
}

json_t *manifest_load(Repo *repo, const char *id, const ManifestSelect *sel, Error *err)
{
    json_t *header = repo_snapshot_load(repo, id, err);
    json_t *doc;

    if (header == NULL)
        return NULL;
    doc = manifest_assemble(repo, header, sel, err);
    json_decref(header);
    return doc;
}

bool manifest_holds(Repo *repo, json_t *header, const char *tenant)
{
    char *owner = manifest_owner_name(tenant);
    json_t *ref;
    size_t i;
    bool found = false;

    json_array_foreach (json_object_get(header, "parts"), i, ref)
        found = found || repo_part_of(repo, ref, owner);
    free(owner);
    return found;
}

bool manifest_forget_tenant(Repo *repo, const char *id, const char *tenant, Error *err)
{
    json_t *header = repo_snapshot_load(repo, id, err);
    json_t *refs, *keep, *gone = NULL, *ref;
    char *owner = manifest_owner_name(tenant);
    size_t i;
    bool ok = false;

    if (header == NULL)
    {
        free(owner);
        return false;
    }
    refs = json_object_get(header, "parts");
    keep = json_array();
    json_array_foreach (refs, i, ref)
    {
        if (gone == NULL && repo_part_of(repo, ref, owner))
            gone = json_incref(ref);
        else
            json_array_append(keep, ref);
    }
    if (gone == NULL)
    {
        error_set(err, ERR_FAILURE, "snapshot %.12s holds no part of tenant \"%s\"",
                  man_str(header, "id"), tenant);
        error_hint(err, "run \"coffer list --tenant %s\" to see the snapshots that hold it",
                   tenant);
        goto done;
    }
    json_object_set(header, "parts", keep);
    {
        json_t *st = json_object_get(header, "stats");
        json_int_t n = json_integer_value(json_object_get(st, "tenants"));

        if (json_is_object(st) && n > 0)
            json_object_set_new(st, "tenants", json_integer(n - 1));
    }
    /* the part itself stays until prune: other snapshots may list it */
    ok = repo_snapshot_write(repo, header, NULL, err);
done:
    json_decref(gone);
    json_decref(keep);
    json_decref(header);
    free(owner);
    return ok;
}

Manifest *manifest_header(json_t *header, Error *err)
{
    json_t *doc = json_deep_copy(header);
    Manifest *m;

    json_object_del(doc, "parts");
    if (json_object_get(doc, "tenants") == NULL)
        json_object_set_new(doc, "tenants", json_array());
    if (json_object_get(doc, "databases") == NULL)
        json_object_set_new(doc, "databases", json_array());
    if (json_object_get(doc, "failed") == NULL)
        json_object_set_new(doc, "failed", json_array());
    m = manifest_parse(doc, err);
    json_decref(doc);
    return m;
}
