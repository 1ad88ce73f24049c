/*
 * mem.h - allocation that never returns NULL.
 *
 * Out of memory is not an error Coffer can recover from; these wrappers print
 * a message and abort instead of handing NULL to every caller.
 */
#ifndef COFFER_COMMON_MEM_H
#define COFFER_COMMON_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a freshly allocated string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Overwrites size bytes with zeros in a way the compiler may not elide;
 * used for keys and passphrases. */
void mem_wipe(void *ptr, size_t size);

#endif
