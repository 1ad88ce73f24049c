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

#include "common/error.h"
#include "repo/repo.h"

/* The owner of a tenant's keys and part ("tenant:NAME"), malloc'd. */
char *manifest_owner_name(const char *tenant);

/* Splits doc into parts, writes them, then the header. doc is not changed;
 * id_out receives the snapshot id. */
bool manifest_write(Repo *repo, json_t *doc, char id_out[65], Error *err);

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
 * it, then the part is removed ("forget tenant T in snapshot S"). Fails
 * when the snapshot holds no part of it. */
bool manifest_forget_tenant(Repo *repo, const char *id, const char *tenant, Error *err);

#endif
