/*
 * copy.h - the copy engine: snapshots from one repository into another,
 * with only the data the destination lacks, for the offsite copy of the
 * 3-2-1 rule and for moving a tenant to another region.
 *
 * Each repository keeps its own keys and passphrase. A part of a snapshot
 * is read from the source (every chunk decrypted and checked against its
 * id there), streamed into the destination under the same owner, where the
 * destination chunks, dedups, compresses and encrypts it with its own keys
 * (so it sends only the chunks it lacks, and computes every id itself),
 * and the part is written with the destination's chunk lists and hashes.
 * The header comes last, under the same snapshot id, so an interrupted copy
 * leaves no snapshot; what it stored is indexed part by part, so running it
 * again sends nothing twice. The engine never prints.
 */
#ifndef COFFER_COPY_COPY_H
#define COFFER_COPY_COPY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/progress.h"
#include "repo/repo.h"

typedef struct CopyPlan
{
    const char *snapshot;       /* an id, a unique prefix, "latest" or "all" */
    const char *const *tenants; /* only these tenants' parts (and the shared part); none: all */
    size_t n_tenants;
    ProgressFn progress; /* or NULL */
    void *progress_arg;
} CopyPlan;

typedef struct CopyResult
{
    json_t *copied;  /* [{"id", "parts", "bytes", "bytes_added"}] copied now */
    json_t *skipped; /* [{"id", "why"}]: already in the destination, or nothing selected */
    uint64_t bytes;       /* plaintext read from the source */
    uint64_t bytes_added; /* stored in the destination (new chunks, compressed, encrypted) */
    uint64_t chunks;      /* chunks streamed */
    uint64_t chunks_new;  /* of those, new to the destination */
    double seconds;
} CopyResult;

/* Copies the planned snapshots from `from` into `to`. The caller holds a
 * shared lock on both. res is filled also on failure (what was copied
 * before it); free it with copy_result_free. A tenant part whose keys were
 * destroyed in the source is left out, and named in the result's parts. */
bool copy_run(const CopyPlan *plan, Repo *from, Repo *to, CopyResult *res, Error *err);

void copy_result_free(CopyResult *res);

#endif
