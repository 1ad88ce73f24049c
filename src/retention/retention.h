/*
 * retention.h - retention per tenant class over a repository: which parts
 * of which snapshots each tenant keeps (expire), and the schedule state
 * coffer run keeps between runs.
 *
 * Retention works per owner: a tenant keeps the snapshots its class's
 * rules select, and loses its part of the others; a snapshot left with no
 * part is forgotten. The shared part (shared schemas or databases, the
 * globals) stays in every snapshot that keeps a tenant, and else follows
 * tenancy.shared_class. A tenant discovery no longer finds follows the
 * "deleted" class, counted from when it was last seen. Like the engines,
 * this module never prints and never prompts: expire_prepare decides,
 * the command shows or asks, expire_apply does.
 */
#ifndef COFFER_RETENTION_RETENTION_H
#define COFFER_RETENTION_RETENTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "config/config.h"
#include "repo/repo.h"
#include "tenancy/tenancy.h"

/* ---- the schedule state (state.c) ----------------------------------------
 *
 * state/schedule caches, per owner id, when discovery last saw the tenant
 * and the time of the newest snapshot holding its part, plus the ids of the
 * snapshots already read, the last run and the last prune. A lost cache is
 * rebuilt from the snapshots. */

typedef struct RetentionState RetentionState;

/* Loads the state and reads the headers of snapshots it has not seen yet
 * (every one, the first time); forgotten snapshots drop out of it. */
RetentionState *retention_state_open(Repo *repo, Error *err);
bool retention_state_save(RetentionState *st, Error *err);
/* Reads the snapshots written since the open (or the last sync). */
bool retention_state_sync(RetentionState *st, Error *err);
void retention_state_free(RetentionState *st);

/* The newest snapshot holding owner's part (0: none). */
time_t retention_state_last(RetentionState *st, const char *owner_name);
/* When discovery last saw the tenant (0: never recorded). */
time_t retention_state_seen(RetentionState *st, const char *owner_name);
/* Records that discovery found every tenant of list at now. */
void retention_state_saw(RetentionState *st, const TenantList *list, time_t now);

/* How many snapshots there are, and the bytes they read in all (before
 * dedup: over the repository's size, the dedup ratio). */
size_t retention_state_snapshots(RetentionState *st, uint64_t *bytes);

/* The time of the newest snapshot the state knows (0: none). */
time_t retention_state_newest(RetentionState *st);

/* Refuses (ERR_USAGE) a clock more than CONFIG_RUN_GRANULARITY behind
 * newest (a snapshot's time or the last run): schedules and retention
 * counted from a clock that went backwards would be wrong. */
bool retention_clock_check(time_t now, time_t newest, const char *what, Error *err);

/* The last run and prune (0: never), and setting them. */
time_t retention_state_time(RetentionState *st, const char *what);
void retention_state_set_time(RetentionState *st, const char *what, time_t t);

/* ---- expire (expire.c) ---------------------------------------------------- */

typedef struct ExpirePlan
{
    const Config *cfg;
    time_t now;
    const TenantList *live;      /* what discovery finds now; NULL: every tenant counts as live */
    RetentionState *state;       /* last-seen times of tenants gone, or NULL */
    const char *const *tenants;  /* only these tenants (their parts); none: every owner */
    size_t n_tenants;
    bool allow_empty;            /* a tenant may lose its last snapshot */
} ExpirePlan;

typedef struct ExpireSnap
{
    char id[65];
    time_t time;
    unsigned kept; /* POLICY_KEPT_* bits; 0: this owner's part goes */
} ExpireSnap;

/* One owner's verdict. */
typedef struct ExpireOwner
{
    char *tenant;  /* NULL: the shared part */
    char *class;   /* the class whose rules applied; NULL: kept beside the tenants */
    bool gone;     /* discovery no longer finds it */
    time_t last_seen;
    ExpireSnap *snaps; /* newest first */
    size_t n_snaps;
    size_t n_kept;
} ExpireOwner;

typedef struct ExpireResult
{
    ExpireOwner *owners; /* tenants by name, then the shared part */
    size_t n_owners;
    size_t snapshots;     /* snapshots read */
    time_t newest;        /* the newest snapshot's time */
    size_t forget;        /* snapshots left with no part: forgotten */
    size_t rewrite;       /* snapshots that lose some parts */
    size_t parts_dropped; /* references dropped, over all snapshots */
    size_t unreadable;    /* owners whose parts could not be read (keys destroyed, damage):
                             left as they are */
    struct ExpireWork *work; /* what expire_apply does */
} ExpireResult;

/* Reads every snapshot header and decides, per owner, what stays. Fails
 * (ERR_USAGE) before anything changes when a tenant's class is not
 * defined and there is no "default" class. The caller holds a lock that
 * frees (REPO_LOCK_FREEING). */
bool expire_prepare(const ExpirePlan *plan, Repo *repo, ExpireResult *res, Error *err);

/* Drops the parts expire_prepare let go and forgets emptied snapshots. A
 * failure part-way leaves every snapshot either as it was or as decided. */
bool expire_apply(Repo *repo, ExpireResult *res, Error *err);

void expire_result_free(ExpireResult *res);

#endif
