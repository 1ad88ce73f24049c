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

    /* classes: */
    char **classes;
    size_t n_classes;

    /* repository: */
    char *repo_path;
    char *repo_passphrase_file;
    char *scratch_dir; /* a restore's private temporary files; NULL: $TMPDIR, else /tmp */
    bool repo_encryption;    /* false only with "encryption: none" */
    int repo_compression;    /* zstd level */
    unsigned repo_chunk_avg; /* 0 = default */
} Config;

/* Resolves the path to use: explicit, then $COFFER_CONFIG, then the default. */
const char *config_resolve_path(const char *explicit_path);

/* Reads and validates the file; NULL with err (ERR_USAGE) on any problem. */
Config *config_load(const char *explicit_path, Error *err);

/* Parses and validates YAML text (name is used in messages). */
Config *config_parse(const char *name, const char *text, size_t len, Error *err);

void config_free(Config *cfg);

const char *config_model_name(TenancyModel model);

/* True when name is one of the configured classes (or "default"). */
bool config_has_class(const Config *cfg, const char *name);

#endif
