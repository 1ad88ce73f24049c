/*
 * toc.h - choosing entries of a pg_dump archive's table of contents.
 *
 * Restore lists the archive ("pg_restore -l") and keeps the lines that
 * belong to the schemas it restores, then hands the kept lines back to
 * pg_restore with -L. This is how one tenant comes out of a whole-database
 * schema dump with its schema, comment and grants, and nothing else.
 */
#ifndef COFFER_PG_TOC_H
#define COFFER_PG_TOC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

typedef struct TocFilter
{
    const char *const *schemas; /* keep objects in these schemas, and the schemas themselves */
    size_t n_schemas;
    bool extensions; /* also keep EXTENSION entries (for a new or scratch database) */
} TocFilter;

/* Reads a "pg_restore -l" listing and appends to out the lines to keep.
 * Returns the number of entries kept. */
size_t toc_filter(const char *listing, const TocFilter *filter, Buf *out);

#endif
