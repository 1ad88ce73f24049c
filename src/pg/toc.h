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

/* What makes the choice exact. A listing line cannot say where a name ends
 * ("TABLE a b c owner" is table "b c" in schema "a", or table "c" in schema
 * "a b"), so without it the namespace is matched as a prefix followed by a
 * space, which one schema's name followed by a space and more (another
 * schema) matches too. */
typedef struct TocExact
{
    const char *selected;     /* "pg_restore -l --schema=S..." of the same archive:
                                 pg_restore matches namespaces exactly, so an
                                 object inside a schema is kept iff its entry id
                                 is listed here */
    const char *const *roles; /* every role name: the line of schema S is
                                 "SCHEMA - S OWNER" with OWNER one of these */
    size_t n_roles;
} TocExact;

/* Reads a "pg_restore -l" listing and appends to out the lines to keep,
 * in the listing's order. Returns the number of entries kept. Names are
 * compared the way the listing prints them: newlines and carriage returns
 * become spaces; comments, grants and labels on a schema name it quoted
 * (as pg_dump's fmtId does) or bare. */
size_t toc_filter(const char *listing, const TocFilter *filter, Buf *out);

/* The same, exact: what restore uses. exact may be NULL (toc_filter). */
size_t toc_filter_exact(const char *listing, const TocFilter *filter, const TocExact *exact,
                        Buf *out);

/* Appends to out the entry lines of a listing whose type is one of types
 * (want = true) or is none of them (want = false); comment lines are
 * dropped. Returns the number of lines appended. */
size_t toc_select_types(const char *listing, const char *const *types, size_t n_types, bool want,
                        Buf *out);

#endif
