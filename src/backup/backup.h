/*
 * backup.h - the backup engine: a plan in, a snapshot and a result out.
 *
 * Every selected tenant, every shared part and the globals are read from one
 * exported snapshot per database by N workers and streamed into the
 * repository. The engine never prints to stdout and never prompts: progress
 * reaches the caller through plan->progress, problems through log lines and
 * the Error. "coffer backup" and the safety backup of a restore both call it.
 */
#ifndef COFFER_BACKUP_BACKUP_H
#define COFFER_BACKUP_BACKUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/progress.h"
#include "config/config.h"
#include "repo/repo.h"

typedef struct BackupPlan
{
    const Config *cfg;          /* connection, tenancy model and discovery */
    const char *const *tenants; /* names; none = every tenant */
    size_t n_tenants;
    const char *class;  /* only tenants of this class, or NULL */
    bool shared_only;   /* no tenant: the shared parts and globals alone */
    const json_t *tags; /* array of strings, or NULL */
    const char *pin_until; /* RFC 3339: expire keeps the snapshot until then; or NULL */
    int jobs;           /* workers, 1..64 */
    ProgressFn progress; /* or NULL */
    void *progress_arg;
} BackupPlan;

typedef struct BackupResult
{
    char id[65];      /* the snapshot written, or "" */
    json_t *manifest; /* its manifest without the tenants written ahead in their parts
                         (stats, failed, shared parts; owned) or NULL */
    json_t *held;     /* every part the snapshot holds: [{"name", "shared"}] (owned) or NULL */
} BackupResult;

/* Backs up what plan selects into repo; the caller holds a shared lock.
 * Returns true when a snapshot was written and nothing failed. Returns
 * false with ERR_PARTIAL when some parts failed (or discovery reported
 * problems) but a snapshot was written (res->id is set), and with
 * ERR_FAILURE or ERR_USAGE when nothing was written. */
bool backup_run(const BackupPlan *plan, Repo *repo, BackupResult *res, Error *err);

void backup_result_free(BackupResult *res);

#endif
