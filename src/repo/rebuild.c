/*
 * rebuild.c - repairing a lost or damaged index from the packs themselves.
 *
 * Each pack's sealed header repeats its index record, so reading the headers
 * of the packs no index object names and committing them as one new index
 * object restores what was lost. It sits above both pack.c (which reads
 * headers) and index.c (which adds records), so neither needs the other.
 */
#include <inttypes.h>
#include <string.h>

#include "common/log.h"
#include "repo/repo_intern.h"

/* True for a load failure that no retry can cure. */
static bool repo_index_damaged(const char *msg)
{
    return strstr(msg, "authentication failed") != NULL ||
           strstr(msg, "checksum mismatch") != NULL || strstr(msg, "is corrupt") != NULL ||
           strstr(msg, "is truncated") != NULL || strstr(msg, "bad magic") != NULL;
}

bool repo_index_rebuild(Repo *repo, uint64_t *packs_added, uint64_t *damaged_removed, Error *err)
{
    StorageList list;
    Buf rec;
    uint64_t added = 0, removed = 0;
    bool ok = true;

    *packs_added = 0;
    *damaged_removed = 0;
    if (!storage_list(repo->st, "data/", &list, err))
        return false;
    buf_init(&rec);
    for (size_t i = 0; ok && i < list.count; i++)
    {
        unsigned char id[32];
        PackHeader h;
        bool known;
        size_t used;
        Error e2;

        if (!repo_pack_key_parse(list.items[i].key, id))
            continue;
        pthread_mutex_lock(&repo->mu);
        known = repo_table_find(&repo->packs, id) != REPO_NONE;
        pthread_mutex_unlock(&repo->mu);
        if (known)
            continue;
        error_clear(&e2);
        if (!pack_header_read(repo, id, list.items[i].size, &h, &e2))
        {
            log_warning("%s; its chunks cannot be indexed", e2.message);
            continue;
        }
        buf_reset(&rec);
        buf_append(&rec, id, 32);
        buf_append(&rec, h.kid, REPO_KID_LEN);
        buf_append_u64le(&rec, list.items[i].size);
        buf_append_u32le(&rec, h.count);
        buf_append(&rec, h.entries, (size_t)h.count * REPO_ENTRY_LEN);
        pack_header_free(&h);
        pthread_mutex_lock(&repo->mu);
        ok = repo_index_add_record(repo, rec.data, rec.len, &used, true, list.items[i].key, err);
        pthread_mutex_unlock(&repo->mu);
        if (ok)
        {
            log_info("indexed pack \"%s\" from its header", list.items[i].key);
            added++;
        }
    }
    storage_list_free(&list);
    buf_free(&rec);
    if (!ok || !repo_index_commit(repo, err))
        return false;
    /* what a damaged index object held is now indexed again from the packs */
    for (uint64_t i = 0; i < repo->index_errors; i++)
    {
        if (!repo_index_damaged(repo->index_failed_msg[i]))
            continue;
        if (!storage_remove(repo->st, repo->index_failed[i], err))
            return false;
        log_info("removed damaged index \"%s\"", repo->index_failed[i]);
        removed++;
    }
    *packs_added = added;
    *damaged_removed = removed;
    return repo_index_load(repo, err);
}
