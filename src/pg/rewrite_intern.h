/*
 * rewrite_intern.h - what the two halves of the rewriter share: the text
 * work (rewrite.c) and applying it on the server (rewrite_apply.c). Not
 * part of the pg module's contract, which is pg.h.
 */
#ifndef COFFER_PG_REWRITE_INTERN_H
#define COFFER_PG_REWRITE_INTERN_H

#include <stdbool.h>
#include <stddef.h>

/* One element of a list setting, as the server reads search_path. */
typedef struct RwElement
{
    size_t start, end; /* its text in the value */
    char *name;        /* quotes removed, or folded to lower case when bare */
    bool quoted;
} RwElement;

/* Mentions of old in text as a whole word, any case, anywhere. */
int rw_count_mentions(const char *text, size_t len, const char *old);
/* Splits a list value at the commas outside double quotes; returns the
 * count, *elems malloc'd (free with rw_elements_free). */
size_t rw_split_list(const char *v, RwElement **elems);
void rw_elements_free(RwElement *elems, size_t count);
/* The length of the name of a "name=value" setting, -1 without '='. */
long rw_setting_name_len(const char *entry);

#endif
