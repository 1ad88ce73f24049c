/*
 * safety.c - before a restore replaces anything, the backup engine backs up
 * exactly what is replaced: the tenant that lives where each target goes
 * (which, with --as, is not the tenant being restored), so that --clean
 * loses nothing.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup.h"
#include "common/log.h"
#include "common/mem.h"
#include "restore/restore_intern.h"
#include "tenancy/tenancy.h"

const Tenant *restore_occupant(const Restore *r, TenantList *list, const Target *t)
{
    const char *name = r->ops->object_name(t->db, t->schema);

    for (size_t i = 0; i < list->count; i++)
    {
        const Tenant *x = &list->items[i];

        if (x->shared || strcmp(x->database, t->db) != 0)
            continue;
        if (strcmp(r->ops->object_name(x->database, x->schema), name) == 0)
            return x;
    }
    return NULL;
}

/* Is the tenant (or shared part) in the backup's manifest? */
static bool safety_holds(json_t *held, const char *name, bool shared)
{
    json_t *p;
    size_t i;

    json_array_foreach (held, i, p)
        if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0 &&
            json_is_true(json_object_get(p, "shared")) == shared)
            return true;
    return false;
}

bool restore_safety_backup(Restore *r, Error *err)
{
    BackupPlan plan;
    BackupResult res = {"", NULL, NULL};
    TenantList list;
    const char **names = xcalloc(r->n_targets + 1, sizeof(char *));
    const Tenant **occupants = xcalloc(r->n_targets + 1, sizeof(Tenant *));
    json_t *tags = json_pack("[s]", "safety");
    size_t n = 0;
    bool ok;

    memset(&list, 0, sizeof(list));
    log_info("taking a safety backup of what the restore replaces");
    /* only tenants discovery finds now can be backed up (a registry row may
     * be gone: the restore may be what brings it back); when it finds none
     * of them, the list stays empty, which backs up every tenant */
    if (!tenancy_discover(r->cfg, false, &list, err))
    {
        ok = error_prefix(err, "safety backup failed, nothing was changed");
        goto done;
    }
    for (size_t i = 0; i < r->n_targets; i++)
    {
        occupants[i] = r->targets[i].replaces ? restore_occupant(r, &list, &r->targets[i]) : NULL;
        if (occupants[i] != NULL)
            names[n++] = occupants[i]->name;
    }
    memset(&plan, 0, sizeof(plan));
    plan.cfg = r->cfg;
    plan.tenants = names;
    plan.n_tenants = n;
    plan.tags = tags;
    plan.jobs = r->a->jobs;
    ok = backup_run(&plan, r->repo, &res, err);
    if (!ok && err->code == ERR_PARTIAL && res.manifest != NULL)
        ok = true; /* what failed is found below and kept aside */
    if (!ok)
    {
        error_prefix(err, "safety backup failed, nothing was changed");
        goto done;
    }
    error_clear(err);
    log_debug("safety backup: snapshot %s", res.id);
    snprintf(r->safety_id, sizeof(r->safety_id), "%s", res.id);
    /* what the safety backup does not hold is kept aside, not dropped */
    for (size_t i = 0; i < r->n_targets; i++)
    {
        Target *t = &r->targets[i];

        if (!t->replaces)
            continue;
        if (t->unit->shared)
            t->keep_aside = !safety_holds(res.held, t->name, true);
        else
            t->keep_aside =
                occupants[i] == NULL || !safety_holds(res.held, occupants[i]->name, false);
        if (t->keep_aside)
            log_warning("%s \"%s\" is not in the safety backup (not discovered now, or its "
                        "backup failed): what the restore replaces is kept, renamed aside",
                        t->unit->shared ? "shared part" : "tenant",
                        occupants[i] != NULL ? occupants[i]->name : t->name);
    }
done:
    backup_result_free(&res);
    tenancy_list_free(&list);
    json_decref(tags);
    free(names);
    free(occupants);
    return ok;
}
