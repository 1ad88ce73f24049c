/*
 * verify.h - restore drills: a backup is known to restore only once it has.
 *
 * Each chosen tenant is restored, through the restore engine, into a
 * scratch database of its own (on the same server, or another one), where
 * every table's row count and content hash must match the snapshot and the
 * class's smoke queries must hold; the scratch database is then dropped,
 * also on failure or interrupt (one a killed drill leaves is marked, and
 * the next restore or drill drops it). Each result is recorded in the
 * repository: pass or fail and when in state/verify (by owner id), the
 * per-table detail in the tenant's own sealed note. Like the other engines
 * it never prints or prompts.
 */
#ifndef COFFER_VERIFY_VERIFY_H
#define COFFER_VERIFY_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "common/progress.h"
#include "config/config.h"
#include "repo/repo.h"
#include "tenancy/tenancy.h"

typedef struct VerifyPlan
{
    const Config *cfg;
    const char *snapshot;       /* an id or prefix, or "latest": each tenant's newest */
    const char *const *tenants; /* these tenants, or: */
    size_t n_tenants;
    bool all;                   /* every tenant of candidates */
    size_t sample;              /* N of candidates, the least recently verified first */
    const TenantList *candidates; /* what discovery finds (for all and sample) */
    const char *into;           /* conninfo of another server for the scratch databases,
                                   or NULL: the configured one */
    int jobs;
    ProgressFn progress;
    void *progress_arg;
} VerifyPlan;

typedef struct VerifyTenant
{
    char *tenant;
    char *class;
    char snapshot[65]; /* the snapshot drilled ("" when none holds the tenant) */
    bool ok;
    double seconds;
    size_t tables;
    uint64_t rows;
    uint64_t bytes;
    size_t checks;        /* smoke queries run */
    size_t checks_failed;
    char *error;          /* why it failed, or NULL */
} VerifyTenant;

typedef struct VerifyResult
{
    VerifyTenant *tenants;
    size_t n;
    size_t failed;
} VerifyResult;

/* Drills each chosen tenant in turn. Returns false with ERR_FAILURE when
 * some drill failed (every tenant is still tried, and res says which), and
 * with ERR_USAGE for a plan that chooses nothing. The caller holds a
 * shared lock. */
bool verify_run(const VerifyPlan *plan, Repo *repo, VerifyResult *res, Error *err);

void verify_result_free(VerifyResult *res);

/* When the tenant's last drill ran and whether it passed (0: never). */
time_t verify_last(Repo *repo, json_t *state, const char *tenant, bool *ok);

#endif
