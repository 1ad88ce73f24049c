/*
 * restore.h - the restore engine: one tenant (or all) back from a snapshot,
 * in place, beside the live one under another name, or into another
 * database, without touching any other tenant.
 *
 * Two steps, so that the caller can ask before anything changes:
 * restore_prepare picks the snapshot, plans the targets and checks them
 * (nothing is changed); restore_execute takes the safety backup of what is
 * replaced and restores. The engine never prints to stdout and never
 * prompts; progress goes through plan->progress, results into RestoreResult.
 */
#ifndef COFFER_RESTORE_RESTORE_H
#define COFFER_RESTORE_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/progress.h"
#include "config/config.h"
#include "repo/repo.h"

typedef struct RestorePlan
{
    const Config *cfg;
    const char *const *tenants; /* the tenants to restore (or all) */
    size_t n_tenants;
    bool all;
    const char *snapshot; /* an id, a unique prefix, or "latest" */
    const char *tag;      /* with "latest": the newest snapshot with this tag */
    const char *as;       /* one tenant under a new schema or database name */
    const char *into_db;  /* into another database */
    const char *const *tables; /* only these tables' data */
    size_t n_tables;
    bool data_only;
    bool schema_only;
    bool clean; /* replace what exists (a safety backup is taken first) */
    int jobs;   /* parallel loaders, 1..64 */
    bool recover; /* --recover: only put right interrupted restores */
    bool drill;   /* a restore drill: into_db is a new scratch database, marked as
                   * such when created (so that one a killed drill leaves is
                   * recognised and dropped), and the caller drops it */
    ProgressFn progress; /* or NULL */
    void *progress_arg;
} RestorePlan;

/* One target: where a tenant (or shared part) of the snapshot goes, and,
 * once restored, what it got. */
typedef struct RestoreTargetInfo
{
    const char *name;   /* the tenant's name in the snapshot */
    bool shared;        /* a shared schema or database, not a tenant */
    const char *db;     /* the target database */
    const char *schema; /* the target schema, NULL in the database model */
    bool replaces;      /* it exists and will be replaced */
    char *other_tenant; /* with --as: the other tenant it replaces, or NULL */
    bool done;          /* restored and verified */
    size_t tables;
    uint64_t rows;
    uint64_t bytes;
    double seconds;
} RestoreTargetInfo;

typedef struct RestoreResult
{
    char snapshot[65];  /* the snapshot restored from */
    char safety_id[65]; /* the safety backup taken first, or "" */
    RestoreTargetInfo *targets; /* owned by the Restore */
    size_t n_targets;
    bool replaces; /* some target replaces live data: confirm first */
    uint64_t rows;
    uint64_t bytes;
    double seconds;
} RestoreResult;

typedef struct Restore Restore;

/* Checks the plan's options against each other and the model (ERR_USAGE
 * with a hint), before anything is opened. */
bool restore_plan_check(const RestorePlan *plan, Error *err);

/* Picks the snapshot ("latest": the newest holding every named tenant,
 * safety backups excepted), connects, finds pg_restore (and pg_dump for a
 * new schema name), plans the targets and checks them. Changes nothing.
 * Fills res with the snapshot and the targets. The caller holds a shared
 * lock on repo and keeps plan and repo alive until restore_free. */
Restore *restore_prepare(const RestorePlan *plan, Repo *repo, RestoreResult *res, Error *err);

/* Restores every target: a safety backup of what is replaced first, then
 * each target (all or nothing: a failure puts back the targets restored
 * before it), then drops what was replaced. Fills res. */
bool restore_execute(Restore *r, RestoreResult *res, Error *err);

void restore_free(Restore *r);

/* Puts right restores that were killed mid-swap (SIGKILL, power loss, a
 * lost session), from their journal in the repository: a live tenant left
 * renamed aside is put back, a swap that had committed is finished. Every
 * restore does this first; "restore --recover" does only this. Sets how
 * many interrupted restores were put right. */
bool restore_recover_only(const RestorePlan *plan, Repo *repo, size_t *recovered, Error *err);

/* What interrupted restores left, for "coffer check": swap journal entries
 * in the repository, and (when cfg names a server) tenants renamed aside
 * and scratch databases, as [{"kind", "database", "name", "what"}]. Aside
 * copies are known by their name's suffix, not by a comment: the comment is
 * the tenant's own and must survive the put-back. NULL with err when the
 * journal cannot be read; a server that cannot be reached is not an error
 * but fills pg_err (the list then holds the journal only). */
json_t *restore_leftovers(const Config *cfg, Repo *repo, Error *pg_err, Error *err);

#endif
