/*
 * repair.c - snapshots that reference chunks the repository lost (their
 * pack went missing or was truncated): each tenant's part that lost chunks
 * is dropped from its snapshot, so that what is left restores in full and
 * prune can run again. The shared part holds what every tenant needs, so a
 * snapshot whose shared part lost chunks is not repaired part-wise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "manifest/manifest.h"

#define REPAIR_TENANT_PREFIX "tenant:"

static const char *repair_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

static ManifestLost *repair_add(ManifestRepairReport *r, json_t *header, const char *tenant,
                                uint64_t chunks)
{
    ManifestLost *l;

    r->lost = xrealloc(r->lost, (r->n_lost + 1) * sizeof(*r->lost));
    l = &r->lost[r->n_lost++];
    memset(l, 0, sizeof(*l));
    snprintf(l->snapshot, sizeof(l->snapshot), "%s", repair_str(header, "id"));
    snprintf(l->time, sizeof(l->time), "%s", repair_str(header, "time"));
    l->tenant = tenant != NULL ? xstrdup(tenant) : NULL;
    l->chunks = chunks;
    return l;
}

/* Lists the parts of one snapshot that lost chunks; true when the shared
 * part (or the header) is among them. */
static bool repair_scan(Repo *repo, json_t *header, ManifestRepairReport *r)
{
    uint64_t n = repo_chunks_lost(repo, header);
    bool shared = n > 0;
    json_t *ref;
    size_t i;

    if (n > 0)
        repair_add(r, header, NULL, n);
    json_array_foreach (json_object_get(header, "parts"), i, ref)
    {
        bool destroyed = false;
        json_t *part;
        const char *owner;
        Error e;

        error_clear(&e);
        part = repo_part_load(repo, ref, &destroyed, &e);
        if (part == NULL)
        {
            /* an erased owner's part is gone on purpose; a damaged one is check's */
            if (!destroyed)
            {
                log_warning("snapshot %.12s: %s; skipped", repair_str(header, "id"), e.message);
                r->unreadable++;
            }
            continue;
        }
        n = repo_chunks_lost(repo, part);
        owner = repair_str(part, "owner");
        if (n > 0 && strncmp(owner, REPAIR_TENANT_PREFIX, strlen(REPAIR_TENANT_PREFIX)) == 0)
            repair_add(r, header, owner + strlen(REPAIR_TENANT_PREFIX), n);
        else if (n > 0)
        {
            repair_add(r, header, NULL, n);
            shared = true;
        }
        json_decref(part);
    }
    return shared;
}

bool manifest_repair_lost(Repo *repo, bool force, ManifestRepairReport *r, Error *err)
{
    json_t *snaps, *header;
    uint64_t lost_packs;
    size_t i;
    bool ok = true;

    memset(r, 0, sizeof(*r));
    if (!repo_packs_verify(repo, &lost_packs, err))
        return false;
    snaps = repo_snapshot_list(repo, err);
    if (snaps == NULL)
        return false;
    json_array_foreach (snaps, i, header)
    {
        const char *id = repair_str(header, "id");
        size_t from = r->n_lost;
        bool shared;

        r->snapshots++;
        shared = repair_scan(repo, header, r);
        if (r->n_lost == from)
            continue;
        if (shared)
        {
            for (size_t k = from; k < r->n_lost; k++)
                r->lost[k].action = force ? MANIFEST_LOST_FORGOTTEN : MANIFEST_LOST_LEFT;
            if (!force)
            {
                r->left++;
                continue;
            }
            ok = repo_snapshot_forget(repo, id, err);
            if (!ok)
                break;
            r->forgotten++;
            continue;
        }
        /* the header without each part first, then the part */
        for (size_t k = from; ok && k < r->n_lost; k++)
        {
            ok = manifest_forget_tenant(repo, id, r->lost[k].tenant, err);
            r->lost[k].action = ok ? MANIFEST_LOST_DROPPED : MANIFEST_LOST_LEFT;
        }
        if (!ok)
        {
            error_prefix(err, "could not repair snapshot %.12s", id);
            break;
        }
        r->rewritten++;
    }
    json_decref(snaps);
    if (ok)
        log_debug("repaired snapshots: %llu read, %llu rewritten, %llu forgotten, %llu left "
                  "(%llu lost packs)",
                  (unsigned long long)r->snapshots, (unsigned long long)r->rewritten,
                  (unsigned long long)r->forgotten, (unsigned long long)r->left,
                  (unsigned long long)lost_packs);
    return ok;
}

void manifest_repair_report_free(ManifestRepairReport *r)
{
    for (size_t i = 0; i < r->n_lost; i++)
        free(r->lost[i].tenant);
    free(r->lost);
    r->lost = NULL;
    r->n_lost = 0;
}
