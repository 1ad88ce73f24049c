/*
 * status.h - what an operator and a monitoring system ask of the
 * repository: per tenant, its newest backup and how old it is against its
 * class's schedule, its size and growth, its last restore drill; for the
 * repository, its size and dedup ratio. Read-only: headers, one or two
 * parts per tenant, one listing of the packs.
 */
#ifndef COFFER_STATUS_STATUS_H
#define COFFER_STATUS_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "config/config.h"
#include "repo/repo.h"
#include "tenancy/tenancy.h"

/* A tenant is stale once its newest backup is older than this many times
 * its class's every. */
#define STATUS_STALE_FACTOR 1.5

typedef struct StatusTenant
{
    char *tenant;        /* NULL: the shared part */
    char *class;         /* its class, or NULL when none is defined */
    int64_t every;       /* the class's every (0: not scheduled) */
    time_t last;         /* its newest snapshot (0: never backed up) */
    char last_id[65];
    bool stale;          /* last older than STATUS_STALE_FACTOR x every */
    uint64_t rows;       /* in its newest snapshot */
    uint64_t bytes;
    time_t before;       /* its newest snapshot at least 30 days older (0: none) */
    uint64_t bytes_before;
    time_t verify_time;  /* its last restore drill (0: never) */
    bool verify_ok;
} StatusTenant;

typedef struct StatusReport
{
    time_t now;
    StatusTenant *tenants; /* tenants by name, then the shared part */
    size_t n;
    size_t snapshots;
    uint64_t logical_bytes; /* read by every snapshot, before dedup */
    uint64_t repo_bytes;    /* the packs in storage */
    uint64_t packs;
    time_t newest;          /* the newest snapshot */
    uint64_t newest_added;  /* bytes it added */
    size_t stale, never, verify_failed;
} StatusReport;

/* Collects the report for the tenants discovery found (live) and the
 * shared part. The caller holds a shared lock. */
bool status_collect(const Config *cfg, Repo *repo, const TenantList *live, StatusReport *r,
                    Error *err);
void status_report_free(StatusReport *r);

/* Writes the node_exporter textfile format to path (a temp file renamed
 * into place): coffer_backup_last_success_timestamp_seconds{tenant,class,
 * repo} and the others the README lists. */
bool status_write_prometheus(const StatusReport *r, const char *repo, const char *path,
                             Error *err);

#endif
