/*
 * restore_intern.h - what the files of the restore engine share: the run's
 * state, its targets and the steps of one target. Callers include
 * restore.h only.
 */
#ifndef COFFER_RESTORE_RESTORE_INTERN_H
#define COFFER_RESTORE_RESTORE_INTERN_H

#include <jansson.h>
#include <pthread.h>

#include "manifest/manifest.h"
#include "pg/pg.h"
#include "restore/restore.h"
#include "tenancy/tenancy.h"

/* A table that --table selects, as backed up: one it names, or one below
 * a partitioned table it names (select.c). */
typedef struct SelTable
{
    char *schema;
    char *name;
    bool partitioned; /* holds no rows itself: its partitions do */
} SelTable;

/* One restore target: a tenant (or shared part) of the snapshot and where it goes. */
typedef struct Target
{
    const ManTenant *unit;  /* the tenant (or shared part) in the snapshot */
    const ManDatabase *mdb; /* its database in the snapshot */
    const char *name;
    const char *src_db;
    const char *src_schema; /* schema model */
    char *db;               /* target database */
    char *schema;           /* target schema (schema model) */
    char *aside;            /* what the live copy was renamed to, or NULL */
    bool created;           /* the target schema/database was created by this restore */
    bool keep_aside;        /* not in the safety backup: keep what it replaces */
    bool replaces;          /* it exists and is replaced (preflight) */
    struct Restore *r;
    uint64_t guard;   /* the cleanup that puts it back (swap.c), or 0 */
    bool put_back_ok; /* the last put-back left it as it was */
    bool settled;     /* put back after an interrupt: the journal no longer names it */
    bool drop_pending; /* restored, but the copy it replaced could not be dropped yet */
    char *other_tenant; /* --as onto another discovered tenant: its name */
    SelTable *sel;      /* with --table: the tables selected, partitioned ones included */
    size_t n_sel;
} Target;

typedef struct Restore
{
    const Config *cfg;
    const TenancyOps *ops; /* the configured model's */
    Repo *repo;
    const RestorePlan *a;
    json_t *snap;  /* the snapshot's document, as loaded */
    Manifest *man; /* ... and typed: what the engine reads */
    char *pg_restore;
    char *pg_dump;
    int major;
    char tmpdir[4096];
    int tmpseq;
    uint64_t tmp_guard; /* the cleanup that removes tmpdir */
    PGconn *admin; /* maintenance connection (database "postgres") */
    char **roles;  /* role names, read when first needed */
    size_t n_roles;

    pthread_mutex_t lock;
    pthread_mutex_t swap_lock; /* held while renaming aside or putting back */
    uint64_t tables_total;
    uint64_t tables_done;
    uint64_t bytes;
    uint64_t bytes_total; /* of the tables queued so far, from the manifest */
    uint64_t rows;
    double started;
    double last_log;    /* when progress was last logged (not on a terminal) */
    char safety_id[65]; /* the safety backup taken before replacing, or "" */
    Target *targets;
    size_t n_targets;
    RestoreTargetInfo *infos; /* what the caller sees of the targets */
    size_t unreadable;        /* parts that could not be read (--all) */
    uint64_t new_db_guard;    /* drops the database --into-db created, or 0 */
    char journal_id[65];      /* this restore's swap journal entry, or "" */
    bool committed;           /* every target stands: an interrupt no longer puts back */
} Restore;

/* What the workers do with each table: load its data, or ANALYZE it. */
typedef enum
{
    LOAD_DATA,
    LOAD_ANALYZE,
} LoadKind;


/* ---- select.c: --table ---- */
/* Is the table selected (--table), or are all? */
bool restore_table_selected(const Restore *r, const Target *t, const char *name);
/* How many of the target's tables the restore loads. */
size_t restore_count_selected(const Restore *r, const Target *t);
/* Fills t->sel from --table: the snapshot's tables of each name, and for a
 * partitioned table every partition below it, read from the snapshot's
 * DDL. strict: a name that is neither fails (ERR_FAILURE, with a hint). */
bool restore_select_tables(Restore *r, Target *t, bool strict, Error *err);
void restore_sel_free(Target *t);
/* --data-only --clean with --table: fails (ERR_FAILURE) when tables outside
 * the selection have foreign keys into it in the live target, naming
 * them and the --table options to add. Changes nothing. */
bool restore_check_references(Restore *r, Target *t, Error *err);

/* ---- plan.c ---- */
void restore_target_init(Restore *r, Target *t, const ManTenant *unit);
void restore_target_free(Target *t);
/* --into-db in the schema model: creates the database when missing and
 * adds the shared schemas it lacks as targets, first. */
bool restore_add_shared(Restore *r, Error *err);
/* Copies the targets into r->infos for the caller. */
void restore_fill_infos(Restore *r, RestoreResult *res);

/* ---- swap.c: aside, create, rollback, undo ---- */
/* What putting a target back does, decided from the catalog alone: what
 * the live name holds goes when the aside exists (it is the restore's) or
 * the restore created it; the aside is renamed back when it exists. */
typedef struct SwapActions
{
    bool drop_live;
    bool rename_back;
} SwapActions;
SwapActions restore_swap_decide(bool aside_exists, bool live_exists, bool created);

/* Registers the cleanup that puts the target back (on an interrupt, or
 * through restore_rollback), before anything of it changes. */
void restore_guard(Restore *r, Target *t);
/* The target stands: its cleanup is removed without running. */
void restore_unguard(Target *t);
/* Puts back what the target replaced, after a failure; true when the
 * target is back as it was. */
bool restore_rollback(Restore *r, Target *t);
/* Undoes a target restored before a later one failed. */
bool restore_undo(Restore *r, Target *t);
/* Every target succeeded: drops what they replaced. */
/* Returns false when a replaced copy could not be dropped (a lock timeout,
 * a lost session): it is marked drop_pending, for the journal. */
bool restore_drop_asides(Restore *r);

/* ---- ddl.c: the DDL archive, pre-data, post-data, roles, new names ---- */
/* The target's DDL archive in a private temp file: the database's, or in
 * the schema model the database's shared DDL and the tenant's own put
 * back together; returns its path. */
char *restore_fetch_ddl(Restore *r, Target *t, Error *err);
/* Reads a stored DDL archive (checked against the manifest's hash),
 * handing each entry to fn; *h (h may be NULL) receives a copy of its
 * header when not set yet. */
bool restore_read_ddl(Restore *r, const ManStream *stream, const char *label, PgArchiveEntryFn fn,
                      void *arg, PgArchiveHeader **h, Error *err);
/* Writes a stored stream to a private temp file; returns its path. */
char *restore_fetch(Restore *r, const ManStream *stream, const char *label, Error *err);
/* The archive's listing filtered to the schemas, as a -L file path. */
char *restore_list(Restore *r, const char *archive, const char *const *schemas, size_t n_schemas,
                   bool extensions, Error *err);
bool restore_run_pg_restore(Restore *r, const char *archive, const char *list, const char *section,
                            const char *db, bool create, int jobs, Error *err);
bool restore_post_data(Restore *r, const char *archive, const char *list, const char *db,
                       Error *err);
/* Creates the snapshot's roles that the server lacks. */
bool restore_missing_roles(Restore *r, Error *err);
/* The tenant's schema under its new name, through a scratch database;
 * returns the path of the renamed schema's archive. */
char *restore_scratch(Restore *r, Target *t, const char *archive, Error *err);

/* ---- db.c: databases ---- */
bool restore_create_db(Restore *r, const char *db, const ManDatabase *mdb, Error *err);

/* ---- load.c: the parallel loader ---- */
/* Loads (or analyzes) the target's selected tables in parallel, the
 * biggest first; with shared, one after another on that connection. */
bool restore_tables(Restore *r, Target *t, LoadKind kind, PGconn *shared, Error *err);

/* ---- finish.c, data_only.c ---- */
/* Sequence values and materialized views. */
bool restore_finish(Restore *r, Target *t, PGconn *conn, Error *err);
/* --data-only: into the existing tables, in one transaction. */
bool restore_data_only(Restore *r, Target *t, PGconn *conn, Error *err);

/* ---- journal.c: the swap journal ---- */
/* Records the swaps of the targets (phase "swapping" or "committed");
 * false (with a warning) when it could not be written. */
bool restore_journal_write(Restore *r, const char *phase);
/* Marks a scratch database as this process's (a comment: host, pid,
 * time), so that the next restore or --recover drops it if it is left. */
bool restore_mark_scratch(Restore *r, const char *db, Error *err);

/* A connection of the restore to db: it waits at most postgres.lock_timeout
 * for a lock (and so do the client programs run with it). */
PGconn *restore_connect(const Restore *r, const char *db, Error *err);
/* When err is a lock timeout: a hint naming the sessions that hold locks
 * in schema (NULL: anywhere in db), and what to do. */
void restore_explain_wait(const Restore *r, const char *db, const char *schema, Error *err);
void restore_journal_remove(Restore *r);
/* Puts right the swaps of restores that were killed: each entry whose
 * process is gone on this host. Sets how many were. */
bool restore_recover(Restore *r, size_t *recovered, Error *err);

/* ---- target.c, safety.c ---- */
bool restore_target(Restore *r, Target *t, Error *err);
/* The discovered tenant that lives where the target goes, or NULL. */
const Tenant *restore_occupant(const Restore *r, TenantList *list, const Target *t);
/* Backs up what the restore replaces, by the backup engine. */
bool restore_safety_backup(Restore *r, Error *err);

#endif
