/*
 * backup_intern.h - what the files of the backup engine share: the run's
 * state, its databases (sessions), its parts (units) and its job queue.
 * Not part of the engine's contract; callers include backup.h only.
 */
#ifndef COFFER_BACKUP_BACKUP_INTERN_H
#define COFFER_BACKUP_BACKUP_INTERN_H

#include <pthread.h>
#include <stdint.h>

#include "backup/backup.h"
#include "pg/pg.h"
#include "tenancy/tenancy.h"

typedef struct Session Session;

/* A tenant or a shared part: what ends up as one entry of the manifest. */
typedef struct Unit
{
    const Tenant *tenant;
    Session *session;
    char *owner_name;
    RepoOwner *owner;
    json_t *tables;    /* results, in completion order */
    json_t *sequences; /* read by the session's coordinator */
    json_t *matviews;
    json_t *ddl;       /* its own part of the schema dump (schema model), or NULL */
    uint64_t rows;
    uint64_t bytes;
    uint64_t n_tables; /* tables copied */
    int pending;       /* its jobs (tables, DDL) not done; at 0 its part is written */
    json_t *ref;       /* its part, once written (tables & co. are then freed) */
    bool failed;
    char error[1024];
} Unit;

/* One database being read under one exported snapshot. */
struct Session
{
    char *dbname;
    Unit **units;
    size_t n_units;
    int64_t est_bytes;
    PGconn *coord;
    char *snapshot;
    int pending; /* jobs not finished; the coordinator closes at zero */
    bool failed;
    json_t *doc; /* the manifest's "databases" entry */
    bool doc_written; /* ... written in its tenant's part (database model) */
    char *ddl_owner;
    char **exclude; /* schemas the DDL dump leaves out: failed or unreadable */
    size_t n_exclude;
};

typedef enum
{
    JOB_GLOBALS,
    JOB_OPEN,
    JOB_DDL,
    JOB_TABLE,
} JobKind;

typedef struct Job
{
    JobKind kind;
    Session *session;
    Unit *unit;
    char *schema;
    char *table;
    int64_t est_bytes;
    struct Job *more; /* further tables of the same unit, run by the same worker */
    struct Job *next;
} Job;

typedef struct Worker Worker;

typedef struct Backup
{
    const Config *cfg;
    const TenancyOps *ops; /* the configured model's */
    const BackupPlan *plan;
    double started;
    Worker *workers; /* njobs + 1: the last runs the client programs */
    Repo *repo;
    char *pg_dump;
    char *pg_dumpall;
    int major;
    char server_version[32];

    pthread_mutex_t lock;
    pthread_cond_t wake; /* a job was queued or finished, or the backup stops */
    Job *queue;          /* opening databases and copying tables: the -j workers */
    Job *dumps;          /* pg_dumpall and pg_dump --schema-only: one thread of its own */
    int opens_queued;    /* JOB_OPEN jobs in the queue */
    int opens_running;   /* ... and being run: they may still queue more work */
    int jobs_running;
    bool stop; /* fatal: stop handing out jobs */
    Error fatal;

    const TenantList *all; /* every tenant discovered, selected or not */
    json_t *refs;          /* the parts written so far (under lock) */
    Unit *units;
    size_t n_units;
    Session *sessions;
    size_t n_sessions;
    json_t *globals;

    /* progress, under lock */
    uint64_t tables_total;
    uint64_t tables_done;
    uint64_t bytes_read;
    uint64_t bytes_added;
    uint64_t rows;
    int64_t est_total;
} Backup;

struct Worker
{
    Backup *b;
    int id;
    PGconn *conn;
    Session *joined;
    RepoWriter *writer;
    bool dumps; /* the thread that runs pg_dump and pg_dumpall */
};

/* ---- job queue ----------------------------------------------------------- */

/* ---- jobs.c: the queue, failures and the workers ---- */

Job *job_new(JobKind kind, Session *s, Unit *u, const char *schema, const char *table,
             int64_t est);
void job_free(Job *j);
/* Chains the table jobs of each small unit behind its largest one; returns
 * the new number of top-level jobs in jobs[0..n). */
size_t backup_bundle(Job **jobs, size_t n);
/* Appends a dump job (schema dump or globals) to its queue; lock held. */
void backup_push_dump(Backup *b, Job *j);
/* Puts jobs at the front of the queue, largest first; lock held. */
void backup_push_front(Backup *b, Job **jobs, size_t n);
/* n of the unit's jobs are done: at the last, a tenant's part is written
 * (engine.c) and its document freed. */
void backup_unit_done(Backup *b, Unit *u, int n);
/* Marks a unit failed (once) and logs why. */
void backup_unit_fail(Backup *b, Unit *u, const Error *err);
/* The worker loop, run on the pool (id njobs is the dump thread). */
void backup_worker(void *arg, int id);

/* ---- session.c: opening a database under its exported snapshot ---- */

/* Reads, inside the snapshot, what the manifest needs besides data and
 * queues the DDL and table jobs. */
bool backup_open(Backup *b, Session *s, Error *err);
/* Finds relations the backup cannot read (see session.c); *found counts
 * what is new. */
bool backup_check_relations(Backup *b, Session *s, int *found, Error *err);

/* ---- copy.c: the work of one job, and the streams it stores ---- */

bool backup_run_globals(Worker *w, Error *err);
bool backup_run_table(Worker *w, Job *j, Error *err);
/* Streams a client program's output into the repository under owner;
 * returns its manifest entry (chunks, bytes, hash) or NULL with err. */
json_t *backup_tool_stream(Worker *w, RepoOwner *owner, char *const argv[], const char *dbname,
                           PGconn *env_conn, Error *err);
/* Stores one part's archive under owner; returns its manifest entry. */
json_t *backup_store_archive(Worker *w, RepoOwner *owner, const PgArchivePart *part,
                             const PgArchiveHeader *h, Error *err);

/* ---- ddl.c: the schema dumps ---- */

/* The schema dump of one database: whole (a tenant database), or the
 * shared part once and the tenants' schemas in batches within the lock
 * budget, each batch split per tenant. */
bool backup_run_ddl(Worker *w, Session *s, Error *err);

#endif
