/*
 * policy.h - schedules and retention per tenant class, as pure functions
 * of times: which of an owner's snapshots its class keeps, and whether a
 * tenant is due for a backup. No repository, no server: the expire and run
 * commands feed them, and the unit tests check them against a calendar.
 */
#ifndef COFFER_POLICY_POLICY_H
#define COFFER_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config/config.h"

/* Why a snapshot stays (bits; 0: it goes). */
enum
{
    POLICY_KEPT_LAST = 1u << 0,
    POLICY_KEPT_HOURLY = 1u << 1,
    POLICY_KEPT_DAILY = 1u << 2,
    POLICY_KEPT_WEEKLY = 1u << 3,
    POLICY_KEPT_MONTHLY = 1u << 4,
    POLICY_KEPT_YEARLY = 1u << 5,
    POLICY_KEPT_WITHIN = 1u << 6,
    POLICY_KEPT_PINNED = 1u << 7,  /* pinned, and the pin has not ended */
    POLICY_KEPT_ALL = 1u << 8,     /* the class has no keep: rules */
    POLICY_KEPT_NEWEST = 1u << 9,  /* the owner's last snapshot, kept without --allow-empty */
    POLICY_KEPT_TENANTS = 1u << 10, /* a shared part that tenants kept in its snapshot need */
};

/* One snapshot of one owner (a tenant, or the shared part). */
typedef struct PolicySnap
{
    time_t time;
    time_t pin_until; /* 0: not pinned */
    unsigned kept;    /* set by policy_keep */
} PolicySnap;

/* Marks the snapshots (newest first) that keep selects, with restic's
 * forget semantics in UTC: the newest "last"; then per period (hour, day,
 * ISO week, month, year) the newest snapshot of each of the newest N
 * periods that have one; every snapshot no older than within before
 * anchor (the newest snapshot's time, or when a deleted tenant was last
 * seen). Snapshots pinned past now are kept too. keep NULL keeps all.
 * Returns the number kept. */
size_t policy_keep(const ConfigKeep *keep, PolicySnap *snaps, size_t n, time_t anchor,
                   time_t now);

/* The reasons in kept as words: "daily, weekly", "pinned" ("-" for none). */
void policy_kept_str(unsigned kept, char *out, size_t len);

/* The start of the schedule period now falls in (every, shifted by at,
 * counted from the Unix epoch in UTC); 0 when the class has no every. */
time_t policy_slot(const ConfigClass *c, time_t now);

/* The start of the next period after now; 0 when the class has no every. */
time_t policy_next(const ConfigClass *c, time_t now);

/* Is a tenant of class c, last backed up at last (0: never), due at now? */
bool policy_due(const ConfigClass *c, time_t last, time_t now);

#endif
