/*
 * table.c - the open-addressing hash table behind the in-memory index.
 *
 * Keys are chunk ids, pack ids and owner ids: HMAC outputs or random bytes,
 * so a cheap mix of their words hashes well. Items sit in one growing array
 * and slots hold item indices, which keeps the per-chunk cost near the size
 * of the item itself.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "repo/repo_intern.h"

void repo_table_init(RepoTable *t, size_t stride, size_t keylen)
{
    memset(t, 0, sizeof(*t));
    t->stride = stride;
    t->keylen = keylen;
}

void repo_table_free(RepoTable *t)
{
    free(t->items);
    free(t->slots);
    repo_table_init(t, t->stride, t->keylen);
}

static uint64_t repo_table_hash(const RepoTable *t, const unsigned char *key)
{
    uint64_t h = 0x243f6a8885a308d3ull;

    for (size_t i = 0; i + 8 <= t->keylen; i += 8)
    {
        uint64_t w;

        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    return h;
}

void *repo_table_at(const RepoTable *t, uint32_t i)
{
    return t->items + (size_t)i * t->stride;
}

uint32_t repo_table_find(const RepoTable *t, const void *key)
{
    uint64_t pos;

    if (t->mask == 0)
        return REPO_NONE;
    pos = repo_table_hash(t, key) & t->mask;
    for (;;)
    {
        uint32_t s = t->slots[pos];

        if (s == 0)
            return REPO_NONE;
        if (memcmp(repo_table_at(t, s - 1), key, t->keylen) == 0)
            return s - 1;
        pos = (pos + 1) & t->mask;
    }
}

static void repo_table_place(RepoTable *t, uint32_t i)
{
    uint64_t pos = repo_table_hash(t, repo_table_at(t, i)) & t->mask;

    while (t->slots[pos] != 0)
        pos = (pos + 1) & t->mask;
    t->slots[pos] = i + 1;
}

/* Keeps the load factor under 3/4 so probes stay short. */
static void repo_table_grow_slots(RepoTable *t)
{
    uint32_t cap = t->mask == 0 ? 64 : (t->mask + 1) * 2;

    free(t->slots);
    t->slots = xcalloc(cap, sizeof(uint32_t));
    t->mask = cap - 1;
    for (uint32_t i = 0; i < t->count; i++)
        repo_table_place(t, i);
}

uint32_t repo_table_add(RepoTable *t, const void *item)
{
    uint32_t i;

    if (t->count == t->alloc)
    {
        t->alloc = t->alloc == 0 ? 16 : t->alloc * 2;
        t->items = xrealloc(t->items, (size_t)t->alloc * t->stride);
    }
    i = t->count++;
    memcpy(repo_table_at(t, i), item, t->stride);
    if (t->mask == 0 || (uint64_t)t->count * 4 > (uint64_t)(t->mask + 1) * 3)
        repo_table_grow_slots(t);
    else
        repo_table_place(t, i);
    return i;
}
