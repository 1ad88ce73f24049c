/*
 * config.h - coffer.yaml: where it is found, what it holds, how it is checked.
 *
 * The file is found through --config, then $COFFER_CONFIG, then
 * /etc/coffer/coffer.yaml. Unknown keys are errors; every error names the
 * file, the line and the key, with code ERR_USAGE.
 */
#ifndef COFFER_CONFIG_CONFIG_H
#define COFFER_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CONFIG_DEFAULT_PATH "/etc/coffer/coffer.yaml"

typedef enum
{
    TENANCY_SCHEMA = 0,
    TENANCY_DATABASE,
    TENANCY_ROW,
} TenancyModel;

typedef struct Config
{
    char *path; /* the file it was read from */

    /* postgres: */
    char *pg_conninfo; /* libpq conninfo; "" means libpq defaults (PG* env) */
    char *pg_bindir;   /* where pg_dump/pg_restore live; NULL = find by server version */
    int pg_lock_budget; /* relation locks held at once; 0 = a quarter of the server's lock table */
    int pg_lock_timeout; /* seconds a restore waits for a lock; 0 = no limit (default 30) */

    /* tenancy: */
    TenancyModel model;
    char **shared; /* shared schemas (schema model) or databases (database model) */
    size_t n_shared;
    char *column;           /* row model: the tenant column */
    char *discover_pattern; /* LIKE pattern */
    char *discover_query;   /* or a query */

    /* classes: and run: */
    struct ConfigClass *classes;
    size_t n_classes;
    char *shared_class;  /* tenancy.shared_class: the class of the shared part, or NULL */
    int64_t prune_every; /* run.prune_every: seconds between prunes of coffer run */

    /* repository: (the one commands use: the first, or the one --repo names) */
    const char *repo_name;        /* "default" for the single repository: form */
    const char *repo_path;        /* a directory, or NULL for S3 */
    const struct ConfigS3 *repo_s3; /* an S3 bucket, or NULL */
    const char *repo_passphrase_file;
    const char *scratch_dir; /* a restore's private temporary files; NULL: $TMPDIR, else /tmp */
    bool repo_encryption;    /* false only with "encryption: none" */
    int repo_compression;    /* zstd level */
    unsigned repo_chunk_avg; /* 0 = default */
    int repo_lock_stale;     /* seconds without a refresh before a lock is stale; 0 = default */

    /* every repository, in the file's order */
    struct ConfigRepo *repos;
    size_t n_repos;
    bool has_secret; /* a secret is written in the file: it must be 0600 */
} Config;

/* An S3 repository's settings (repository.s3 or repositories[].s3). */
typedef struct ConfigS3
{
    char *endpoint; /* NULL: AWS for the region */
    char *bucket;
    char *prefix;
    char *region;
    char *ca_file;
    char *storage_class;
    char *access_key_id; /* NULL: environment or credentials file */
    char *secret_access_key;
    char *session_token;
    char *profile;
    int path_style;    /* -1: by the endpoint */
    int part_size_mib; /* 0: default */
    int timeout;       /* seconds; 0: default */
    int retries;       /* -1: default */
} ConfigS3;

typedef struct ConfigRepo
{
    char *name;
    char *path;   /* or */
    ConfigS3 *s3;
    char *passphrase_file;
    char *scratch_dir;
    bool encryption;
    int compression;
    unsigned chunk_avg;
    int lock_stale;
} ConfigRepo;

/* Makes the repository called name (NULL: the first) the one commands use.
 * False with ERR_USAGE when there is no such repository. */
bool config_select_repo(Config *cfg, const char *name, Error *err);

/* The repository called name, or NULL. */
const ConfigRepo *config_find_repo(const Config *cfg, const char *name);

/* Resolves the path to use: explicit, then $COFFER_CONFIG, then the default. */
const char *config_resolve_path(const char *explicit_path);

/* Reads and validates the file; NULL with err (ERR_USAGE) on any problem. */
Config *config_load(const char *explicit_path, Error *err);

/* Parses and validates YAML text (name is used in messages). */
Config *config_parse(const char *name, const char *text, size_t len, Error *err);

void config_free(Config *cfg);

const char *config_model_name(TenancyModel model);

/* ---- classes (classes.c) ------------------------------------------------
 *
 * A class says how often its tenants are backed up and which of their
 * snapshots are kept:
 *
 *   classes:
 *     active: { every: 1d, at: "02:00", keep: { daily: 7, weekly: 4, monthly: 12 } }
 *     deleted: { keep: { within: 730d } }
 *
 * "deleted" is the policy of tenants that discovery no longer finds. */

/* The finest schedule coffer run honours: the timer coffer schedule
 * prints runs it every five minutes. */
#define CONFIG_RUN_GRANULARITY 300

/* Which snapshots a class keeps, with restic's forget semantics: the last
 * N; the newest snapshot of each of the last N hours, days, ISO weeks,
 * months, years (UTC) that have one; every snapshot within a duration of
 * the newest. 0 means the rule is not used. */
typedef struct ConfigKeep
{
    int last, hourly, daily, weekly, monthly, yearly;
    int64_t within; /* seconds */
} ConfigKeep;

typedef struct ConfigClass
{
    char *name;
    int64_t every; /* seconds between backups; 0: coffer run does not back it up */
    int64_t at;    /* with every of a day or more: seconds after midnight UTC; -1: none */
    bool has_keep; /* false: every snapshot is kept */
    ConfigKeep keep;
    char **checks; /* smoke queries a restore drill runs: each must return true */
    size_t n_checks;
    int64_t verify_every; /* verify: { every: 7d, sample: 5 }: coffer run drills ... */
    int verify_sample;    /* ... this many of the class's tenants that often; 0: never */
} ConfigClass;

/* True when name is one of the configured classes (or "default"). */
bool config_has_class(const Config *cfg, const char *name);

/* The class defined as name, or NULL. */
const ConfigClass *config_find_class(const Config *cfg, const char *name);

/* The class a tenant of class name follows: its own, else "default" when
 * that is defined; NULL with ERR_USAGE (naming the tenant, when given)
 * otherwise. */
const ConfigClass *config_class_for(const Config *cfg, const char *name, const char *tenant,
                                    Error *err);

#endif
