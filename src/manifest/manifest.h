/*
 * manifest.h - what a snapshot holds, and how it is stored in parts.
 *
 * The engines build and read one document per snapshot: tenants[] (every
 * tenant and shared part with its tables, rows, hashes, chunk ids and DDL),
 * databases[], globals, failed, stats. In the repository that document is
 * split: one part per tenant, sealed with the tenant's own key (its unit,
 * and in the database model its database's properties and DDL), one shared
 * part (shared schemas or databases, globals, the DDL no tenant owns), and
 * a small header sealed with the master key (time, host, server, tags,
 * stats, and the parts by keyed id), written last. Nothing of a tenant,
 * not even its name, is readable without its keys.
 */
#ifndef COFFER_MANIFEST_MANIFEST_H
#define COFFER_MANIFEST_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "repo/repo.h"

/* The owner of the shared part: shared schemas or databases, globals. */
#define MANIFEST_SHARED_OWNER "shared"

/* The owner of a tenant's keys and part ("tenant:NAME"), malloc'd. */
char *manifest_owner_name(const char *tenant);

/* Writes one owner's part ahead of the snapshot, so that a backup need not
 * hold every tenant's document until the end: tenants and databases are
 * arrays of its entries. *ref receives the reference manifest_write takes
 * in written. */
bool manifest_part_write(Repo *repo, RepoOwner *owner, json_t *tenants, json_t *databases,
                         json_t **ref, Error *err);

/* Splits doc into parts, writes them, then the header, which also names
 * the parts already written (written: an array of references, or NULL).
 * doc is not changed; id_out receives the snapshot id. */
bool manifest_write(Repo *repo, json_t *doc, json_t *written, char id_out[65], Error *err);

/* Which tenants' parts manifest_load reads. */
typedef struct ManifestSelect
{
    const char *const *tenants; /* these tenants' parts (and the shared part) */
    size_t n_tenants;           /* 0: every part */
} ManifestSelect;

/* Loads a snapshot (full id, unique prefix or "latest") and assembles the
 * document from its header and the selected parts (sel NULL: all). A part
 * that cannot be read (missing, damaged, keys destroyed) does not fail the
 * load: it is listed in "unreadable": [{"part", "tenant" (when selected by
 * name), "error", "destroyed"}] and its tenant is absent. */
json_t *manifest_load(Repo *repo, const char *id, const ManifestSelect *sel, Error *err);

/* Assembles an already loaded header (a new reference). */
json_t *manifest_assemble(Repo *repo, json_t *header, const ManifestSelect *sel, Error *err);

/* Does the snapshot header hold tenant's part? Decided without reading any
 * part (by the keyed owner id in the header). */
bool manifest_holds(Repo *repo, json_t *header, const char *tenant);

/* Drops tenant's part from snapshot id: the header is written again without
 * it ("forget tenant T in snapshot S"); prune removes the part once no
 * snapshot lists it. Fails when the snapshot holds no part of it. */
bool manifest_forget_tenant(Repo *repo, const char *id, const char *tenant, Error *err);

/* ---- snapshots that lost chunks (repair.c) ------------------------------- */

typedef enum
{
    MANIFEST_LOST_DROPPED,   /* the tenant's part was dropped from the snapshot */
    MANIFEST_LOST_FORGOTTEN, /* the shared part lost chunks: the snapshot was forgotten */
    MANIFEST_LOST_LEFT,      /* the shared part lost chunks: the snapshot was left as it is */
} ManifestLostAction;

/* A part of a snapshot that references chunks which cannot be read. */
typedef struct ManifestLost
{
    char snapshot[65];
    char time[40];
    char *tenant;    /* NULL: the shared part (or the header) */
    uint64_t chunks; /* chunks lost */
    ManifestLostAction action;
} ManifestLost;

typedef struct ManifestRepairReport
{
    uint64_t snapshots;  /* snapshots read */
    uint64_t rewritten;  /* written again without the tenants that lost chunks */
    uint64_t forgotten;  /* forgotten because their shared part lost chunks (force) */
    uint64_t left;       /* left as they are: their shared part lost chunks */
    uint64_t unreadable; /* parts that could not be read (not keys destroyed); skipped */
    ManifestLost *lost;  /* every part that lost chunks, oldest snapshot first */
    size_t n_lost;
} ManifestRepairReport;

/* Finds the snapshots whose parts reference chunks that cannot be read (not
 * in the index, or only in missing or truncated packs: one listing of
 * data/) and drops those tenants' parts from them (manifest_forget_tenant).
 * A snapshot whose shared part lost chunks cannot be repaired part-wise: it
 * is left as it is, or forgotten when force. The caller holds the exclusive
 * lock. Fills r (free it with manifest_repair_report_free) also on failure. */
bool manifest_repair_lost(Repo *repo, bool force, ManifestRepairReport *r, Error *err);
void manifest_repair_report_free(ManifestRepairReport *r);

/* ---- the snapshot's document, typed (types.c) ----------------------------
 *
 * The engines read a snapshot through these types; JSON is only its form
 * in the repository. manifest_parse checks the document once, so a reader
 * never meets a member of the wrong type. Members the backup always writes
 * are required; a few may be absent (said below), either by nature or
 * because older snapshots lack them. Unknown members are ignored (and not
 * written back). Every string is owned by the Manifest; NULL only where said. */

/* A stream stored in the repository: a table's COPY data, a schema dump,
 * the globals. */
typedef struct ManStream
{
    json_t *chunks; /* the opaque list of chunk ids, as repo_read_chunks takes it; a
                     * reference to the parsed document's array: do not change it */
    uint64_t bytes; /* bytes before chunking */
    char hash[65];  /* content hash, hex */
} ManStream;

/* A table and its data; in JSON the stream's members sit in the table object. */
typedef struct ManTable
{
    char *schema; /* as backed up, before any rename */
    char *name;
    uint64_t rows;
    ManStream data;
} ManTable;

typedef struct ManSequence
{
    char *schema;
    char *name;
    char *last_value; /* NULL (JSON null or absent): not read; restore leaves the sequence
                       * as created */
    bool is_called;   /* with last_value (absent counts as true); false without one */
} ManSequence;

/* A populated materialized view, refreshed after the restore. */
typedef struct ManMatview
{
    char *schema;
    char *name;
} ManMatview;

/* A tenant, or a shared part (shared schema or database), as backed up. */
typedef struct ManTenant
{
    char *name;
    char *class;
    bool shared;
    char *database;
    char *schema; /* NULL in the database model */
    char *owner;  /* the owner of its keys and part ("tenant:NAME", "shared") */
    uint64_t rows;
    uint64_t bytes;
    ManTable *tables;
    size_t n_tables;
    ManSequence *sequences;
    size_t n_sequences;
    ManMatview *matviews;
    size_t n_matviews;
    ManStream *ddl; /* the tenant's own share of the schema dump (schema model), or NULL */
} ManTenant;

/* A database privilege granted explicitly. */
typedef struct ManGrant
{
    char *grantee; /* NULL: PUBLIC */
    char *privilege;
    bool grantable;
} ManGrant;

/* ALTER ROLE ... IN DATABASE ... SET settings of one role. */
typedef struct ManRoleSettings
{
    char *role;
    char **settings; /* "name=value" */
    size_t n_settings;
} ManRoleSettings;

typedef struct ManExtension
{
    char *name;
    char *schema;
} ManExtension;

/* A database's properties, for creating it again, and its schema dump. */
typedef struct ManDatabase
{
    char *name;
    char *owner; /* the owner of its DDL's keys */
    ManExtension *extensions;
    size_t n_extensions;
    char *encoding;
    char *collate;
    char *ctype;
    char *dba;         /* the database's owning role */
    bool has_settings; /* it has database-wide settings (the member is present) */
    char **settings;   /* "name=value" */
    size_t n_settings;
    char *comment; /* NULL: none (JSON null, or absent in older snapshots) */
    bool has_acl;  /* explicit grants, which replace the defaults (JSON null or absent:
                    * the defaults); may be true with n_acl 0 */
    ManGrant *acl;
    size_t n_acl;
    ManRoleSettings *role_settings; /* absent in older snapshots: none */
    size_t n_role_settings;
    ManStream *ddl; /* the schema dump (in the schema model, the part no tenant owns), or
                     * NULL when there is none */
} ManDatabase;

typedef struct ManStats
{
    uint64_t tenants; /* tenants, not counting shared parts */
    uint64_t tables;
    uint64_t rows;
    uint64_t bytes_read;
    uint64_t bytes_added;
    double seconds;
} ManStats;

/* A part whose backup failed; it is not in the snapshot. */
typedef struct ManFailed
{
    char *name;
    char *error;
} ManFailed;

/* A part of a loaded snapshot that could not be read (see manifest_load). */
typedef struct ManUnreadable
{
    char *part;   /* its id */
    char *tenant; /* the tenant it was selected for by name, or NULL */
    char *error;
    bool destroyed; /* its keys were destroyed: it is gone for good */
} ManUnreadable;

/* A whole snapshot. */
typedef struct Manifest
{
    char *id; /* NULL before the snapshot is written */
    int format;
    char *time; /* UTC, ISO 8601 */
    char *kind; /* "backup" */
    char *host;
    char *model; /* "schema", "database" */
    char *server_version;
    int server_major;
    char **tags;
    size_t n_tags;
    char *pin_until; /* RFC 3339: kept by expire until then; NULL: not pinned */
    ManStats stats;
    ManStream *globals; /* roles and tablespaces; NULL when the shared part is unreadable */
    ManDatabase *databases;
    size_t n_databases;
    ManTenant *tenants; /* tenants and shared parts */
    size_t n_tenants;
    ManFailed *failed;
    size_t n_failed;
    bool has_unreadable; /* it was assembled from parts (manifest_load): unreadable[] is
                          * part of its JSON, even when empty */
    ManUnreadable *unreadable;
    size_t n_unreadable;
} Manifest;

/* Reads a snapshot's document (doc is not changed; the Manifest holds
 * references to its chunk lists). Returns NULL and fills err when it is
 * malformed, naming what and where, e.g. "snapshot 0123456789ab: tenant
 * "x": table 3 has no name" (positions count from 1). */
Manifest *manifest_parse(json_t *doc, Error *err);

/* The document of m, in the form the backup writes and manifest_load
 * returns: manifest_parse of it gives m again. A new reference; its chunk
 * lists are m's arrays, shared, not copied. */
json_t *manifest_to_json(const Manifest *m);

/* Frees m and everything it holds; NULL is allowed. */
void manifest_free(Manifest *m);

/* The tenant (shared false) or shared part (shared true) named name, or NULL. */
const ManTenant *manifest_find_tenant(const Manifest *m, const char *name, bool shared);

/* The database named name, or NULL. */
const ManDatabase *manifest_find_database(const Manifest *m, const char *name);

/* A snapshot's header alone, typed: time, host, tags, stats; no tenant,
 * database or globals (they are in the parts). NULL with err when the
 * header is malformed. */
Manifest *manifest_header(json_t *header, Error *err);

/* Is the snapshot a safety backup (tagged "safety"), taken by a restore
 * before it replaced anything? */
bool manifest_is_safety(const Manifest *m);

#endif
