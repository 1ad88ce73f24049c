/*
 * check.c - verifying a repository: snapshots against the index, the index
 * against the packs that exist, owner keys, and (with read_data) every
 * chunk's data against its id.
 *
 * Each problem is logged once, naming the object and what is wrong, and
 * counted; leftovers of interrupted writes (packs no index mentions, chunks
 * indexed twice) are notes, not errors, because prune removes them.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define CHECK_LOG_PER_SNAPSHOT 5

typedef struct CheckListed
{
    unsigned char id[32];
    uint64_t size;
} CheckListed;

/* Damaged objects that a command fixes, for the hint at the end. */
typedef struct CheckFix
{
    uint64_t snapshots; /* snapshot objects that cannot be read */
    char snapshot[65];  /* the first one's id */
    uint64_t keys;      /* owner key objects that cannot be read */
} CheckFix;

typedef struct CheckSnap
{
    Repo *repo;
    RepoCheckReport *report;
    const char *key;
    uint64_t missing;
    uint64_t malformed;
} CheckSnap;

static void check_error(RepoCheckReport *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void check_error(RepoCheckReport *r, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_error("%s", msg);
    if (r->problems != NULL)
        json_array_append_new(r->problems, json_string(msg));
    r->errors++;
}

static bool check_visit(void *arg, const char *hex, Error *err)
{
    CheckSnap *cs = arg;
    Repo *repo = cs->repo;
    unsigned char id[32];
    uint32_t i;

    (void)err;
    if (strlen(hex) != 64 || hex_decode(hex, id, 32) != 0)
    {
        if (cs->malformed++ == 0)
            check_error(cs->report, "snapshot \"%s\" lists a malformed chunk id", cs->key);
        return true;
    }
    i = repo_table_find(&repo->entries, id);
    if (i == REPO_NONE)
    {
        if (cs->missing++ < CHECK_LOG_PER_SNAPSHOT)
        {
            char c[20];

            repo_chunk_str(id, c);
            check_error(cs->report,
                        "snapshot \"%s\" references chunk \"%s\", which is not in "
                        "the index",
                        cs->key, c);
        }
        else
            cs->report->errors++;
        return true;
    }
    ((RepoEntry *)repo_table_at(&repo->entries, i))->mark = 1;
    return true;
}

/* Loads every snapshot and marks the entries it references; *missing_total
 * counts references the index lacks, fix the snapshots that cannot be read. */
static void check_snapshots(Repo *repo, RepoCheckReport *r, uint64_t *missing_total, CheckFix *fix)
{
    StorageList list;
    Error err;

    error_clear(&err);
    if (!storage_list(repo->st, "snapshots/", &list, &err))
    {
        check_error(r, "%s", err.message);
        return;
    }
    for (size_t i = 0; i < list.count; i++)
    {
        const char *key = list.items[i].key;
        const char *id = key + strlen("snapshots/");
        CheckSnap cs = {repo, r, key, 0, 0};
        json_t *doc;

        if (strlen(id) != 64)
        {
            log_info("note: unexpected object \"%s\"", key);
            continue;
        }
        doc = repo_snapshot_load_id(repo, id, &err);
        if (doc == NULL)
        {
            check_error(r, "%s", err.message);
            error_clear(&err);
            if (fix->snapshots++ == 0)
                snprintf(fix->snapshot, sizeof(fix->snapshot), "%s", id);
            continue;
        }
        r->snapshots++;
        if (!repo_snapshot_walk_all(repo, doc, check_visit, &cs, &r->destroyed_parts, &err))
        {
            check_error(r, "snapshot \"%s\" is damaged: %s", key, err.message);
            error_clear(&err);
        }
        *missing_total += cs.missing;
        if (cs.missing > CHECK_LOG_PER_SNAPSHOT)
            log_error("snapshot \"%s\" references %" PRIu64 " chunks missing from the index in "
                      "all",
                      key, cs.missing);
        json_decref(doc);
    }
    storage_list_free(&list);
}

/* Is key the name of an owner key object ("keys/<ownerid>-<gen>")? */
static bool check_is_key_name(const char *key)
{
    size_t n = strlen(key);

    return strncmp(key, "keys/", 5) == 0 && n == 5 + 2 * REPO_KID_LEN + 1 &&
           key[5 + 2 * REPO_OWNERID_LEN] == '-';
}

/* Every owner key object opens with the master key (they are small, so
 * plain check reads them all: a damaged one makes its owner's data
 * unreadable and its backups fail); every pack's owner keys are present,
 * or destroyed on purpose. */
static void check_keys(Repo *repo, RepoCheckReport *r, const bool *pack_ok, CheckFix *fix)
{
    StorageList list;
    Error err;
    uint64_t *per_kid = xcalloc(repo->kids.count + 1, sizeof(uint64_t));

    error_clear(&err);
    if (!storage_list(repo->st, "keys/", &list, &err))
    {
        check_error(r, "%s", err.message);
        free(per_kid);
        return;
    }
    for (uint32_t p = 0; p < repo->packs.count; p++)
        per_kid[((RepoPack *)repo_table_at(&repo->packs, p))->kid]++;
    for (size_t i = 0; i < list.count; i++)
    {
        const char *key = list.items[i].key;
        size_t n = strlen(key);

        if (strcmp(key, "keys/master") == 0 ||
            (n > strlen("-destroyed") && strcmp(key + n - strlen("-destroyed"), "-destroyed") == 0))
            continue;
        if (!check_is_key_name(key))
        {
            log_info("note: unexpected object \"%s\"", key);
            continue;
        }
        if (!repo_key_verify(repo, key, &err))
        {
            check_error(r, "%s", err.message);
            error_clear(&err);
            fix->keys++;
        }
    }
    for (uint32_t k = 0; k < repo->kids.count; k++)
    {
        RepoKid *kid = repo_table_at(&repo->kids, k);
        char ks[64], key[96], tomb[96];
        bool found = false, destroyed = false;

        if (per_kid[k] == 0)
            continue;
        repo_kid_str(kid->kid, ks);
        snprintf(key, sizeof(key), "keys/%s", ks);
        snprintf(tomb, sizeof(tomb), "keys/%.32s-destroyed", ks);
        for (size_t i = 0; i < list.count; i++)
        {
            found = found || strcmp(list.items[i].key, key) == 0;
            destroyed = destroyed || strcmp(list.items[i].key, tomb) == 0;
        }
        if (found)
            continue;
        if (destroyed)
        {
            log_info("note: keys of owner %.32s were destroyed: %" PRIu64 " pack%s can no longer "
                     "be read",
                     ks, per_kid[k], per_kid[k] == 1 ? "" : "s");
            r->destroyed_packs += per_kid[k];
        }
        else
            check_error(r, "owner key \"%s\" is missing: %" PRIu64 " pack%s can no longer be read",
                        key, per_kid[k], per_kid[k] == 1 ? "" : "s");
    }
    (void)pack_ok;
    storage_list_free(&list);
    free(per_kid);
}

static bool check_read_exact(StorageRead *rd, unsigned char *buf, size_t len, Error *err)
{
    size_t got = 0;

    while (got < len)
    {
        long n = storage_get_read(rd, buf + got, len - got, err);

        if (n < 0)
            return false;
        if (n == 0)
            return error_set(err, ERR_FAILURE, "object ended early");
        got += (size_t)n;
    }
    return true;
}

static int check_entry_offset_cmp(const void *a, const void *b)
{
    uint32_t x = read_u32le((const unsigned char *)a + 32);
    uint32_t y = read_u32le((const unsigned char *)b + 32);

    return x < y ? -1 : x > y;
}

/* Reads one pack whole: header against index, then every blob against its id. */
static void check_read_pack(Repo *repo, uint32_t pidx, uint64_t size, const uint32_t *first,
                            const uint32_t *order, RepoCheckReport *r)
{
    RepoPack p = *(RepoPack *)repo_table_at(&repo->packs, pidx);
    PackHeader h;
    RepoTable hdr;
    RepoOwner *owner;
    StorageRead *rd = NULL;
    char key[80];
    Buf blob, plain, tmp;
    uint64_t pos = 0;
    Error err;

    error_clear(&err);
    repo_pack_key(p.id, key);
    if (!pack_header_read(repo, p.id, size, &h, &err))
    {
        check_error(r, "%s", err.message);
        return;
    }
    r->packs_read++;
    if (memcmp(h.kid, ((RepoKid *)repo_table_at(&repo->kids, p.kid))->kid, REPO_KID_LEN) != 0)
        check_error(r, "pack \"%s\": its header names another owner than the index", key);
    /* every index entry of the pack must match its header entry */
    repo_table_init(&hdr, REPO_ENTRY_LEN, 32);
    for (uint32_t i = 0; i < h.count; i++)
        if (repo_table_find(&hdr, h.entries + (size_t)i * REPO_ENTRY_LEN) == REPO_NONE)
            repo_table_add(&hdr, h.entries + (size_t)i * REPO_ENTRY_LEN);
    for (uint32_t k = first[pidx]; k < first[pidx + 1]; k++)
    {
        RepoEntry *e = repo_table_at(&repo->entries, order[k]);
        uint32_t j;
        const unsigned char *he;
        char cs[20];

        repo_chunk_str(e->id, cs);
        j = repo_table_find(&hdr, e->id);
        if (j == REPO_NONE)
        {
            check_error(r, "pack \"%s\": chunk \"%s\" is in the index but not in the pack header",
                        key, cs);
            continue;
        }
        he = repo_table_at(&hdr, j);
        if (read_u32le(he + 32) != e->offset || read_u32le(he + 36) != e->length ||
            read_u32le(he + 40) != e->raw_length || he[44] != e->flags)
            check_error(r,
                        "pack \"%s\": chunk \"%s\": index and pack header disagree on its "
                        "place",
                        key, cs);
    }
    repo_table_free(&hdr);

    owner = repo_owner_for_kid(repo, p.kid, &err);
    if (owner == NULL)
    {
        if (strstr(err.message, "destroyed") == NULL)
            check_error(r, "pack \"%s\": %s", key, err.message);
        pack_header_free(&h);
        return;
    }
    qsort(h.entries, h.count, REPO_ENTRY_LEN, check_entry_offset_cmp);
    buf_init(&blob);
    buf_init(&plain);
    buf_init(&tmp);
    if (h.data_end > 0)
        rd = storage_get_begin(repo->st, key, 0, h.data_end, &err);
    if (h.data_end > 0 && rd == NULL)
    {
        check_error(r, "%s", err.message);
        goto done;
    }
    for (uint32_t i = 0; i < h.count; i++)
    {
        const unsigned char *he = h.entries + (size_t)i * REPO_ENTRY_LEN;
        uint32_t off = read_u32le(he + 32), len = read_u32le(he + 36);
        char cs[20];

        repo_chunk_str(he, cs);
        if (off < pos)
        {
            check_error(r, "pack \"%s\": header is corrupt (chunks overlap)", key);
            break;
        }
        buf_reset(&blob);
        buf_reserve(&blob, (off - pos) > len ? (size_t)(off - pos) : len);
        if ((off > pos && !check_read_exact(rd, blob.data, (size_t)(off - pos), &err)) ||
            !check_read_exact(rd, blob.data, len, &err))
        {
            check_error(r, "pack \"%s\": %s", key, err.message);
            break;
        }
        pos = (uint64_t)off + len;
        if (!repo_blob_open(repo, owner, he, he[44], read_u32le(he + 40), blob.data, len, &plain,
                            &tmp, NULL, &err))
        {
            check_error(r, "pack \"%s\": chunk \"%s\" at offset %" PRIu32 ": %s", key, cs, off,
                        err.message);
            error_clear(&err);
        }
    }
done:
    storage_get_end(rd);
    if (plain.data != NULL)
        mem_wipe(plain.data, plain.cap);
    buf_free(&blob);
    buf_free(&plain);
    buf_free(&tmp);
    pack_header_free(&h);
}

/* The hint for damaged snapshot and key objects: what to run, or do. */
static void check_fix_hint(const CheckFix *fix, Error *err)
{
    char snaps[256] = "", keys[256] = "";

    if (fix->snapshots == 1)
        snprintf(snaps, sizeof(snaps),
                 "forget the snapshot that cannot be read with \"coffer forget %s\", then run "
                 "\"coffer prune\"",
                 fix->snapshot);
    else if (fix->snapshots > 1)
        snprintf(snaps, sizeof(snaps),
                 "forget each snapshot that cannot be read with \"coffer forget ID\" (ids "
                 "above), then run \"coffer prune\"");
    if (fix->keys > 0)
        snprintf(keys, sizeof(keys),
                 "copy the damaged owner key%s named above back from a copy of the repository "
                 "(keys never change once written); until then the data sealed with %s cannot "
                 "be read and backups of %s owner%s fail",
                 fix->keys == 1 ? "" : "s", fix->keys == 1 ? "it" : "them",
                 fix->keys == 1 ? "its" : "their", fix->keys == 1 ? "" : "s");
    error_hint(err, "%s%s%s", snaps, snaps[0] != '\0' && keys[0] != '\0' ? "; " : "", keys);
}

bool repo_check(Repo *repo, const RepoCheckOptions *opts, RepoCheckReport *report, Error *err)
{
    const char *loc = storage_location(repo->st);
    RepoTable listed;
    StorageList list;
    uint32_t *readable = NULL;
    uint32_t nreadable = 0;
    uint64_t missing_total = 0;
    uint64_t *live;
    bool *pack_ok;
    int pct = opts != NULL && opts->read_data_percent > 0 ? opts->read_data_percent : 100;
    CheckFix fix = {0, "", 0};
    uint64_t lost_packs = 0; /* indexed packs missing or of the wrong size */

    memset(report, 0, sizeof(*report));
    report->problems = json_array();
    if (pct > 100)
        pct = 100;
    for (uint64_t i = 0; i < repo->index_errors; i++)
        check_error(report, "%s", repo->index_failed_msg[i]);
    report->index_objects = repo->n_index_names + repo->index_errors;
    report->duplicates = repo->index_dups;
    report->chunks = repo->entries.count;
    if (repo->index_dups > 0)
        log_info("note: %" PRIu64 " chunks are stored in two packs (backups that ran at the "
                 "same time both stored them, or a prune was interrupted); \"coffer prune\" "
                 "removes the extra copies",
                 repo->index_dups);
    for (uint32_t i = 0; i < repo->entries.count; i++)
        ((RepoEntry *)repo_table_at(&repo->entries, i))->mark = 0;

    check_snapshots(repo, report, &missing_total, &fix);

    /* one listing of data/ tells which packs exist and their sizes */
    repo_table_init(&listed, sizeof(CheckListed), 32);
    if (!storage_list(repo->st, "data/", &list, err))
    {
        repo_table_free(&listed);
        return error_prefix(err, "could not check repository \"%s\"", loc);
    }
    for (size_t i = 0; i < list.count; i++)
    {
        CheckListed cl;

        if (!repo_pack_key_parse(list.items[i].key, cl.id))
        {
            log_info("note: unexpected object \"%s\"", list.items[i].key);
            continue;
        }
        cl.size = list.items[i].size;
        if (repo_table_find(&listed, cl.id) == REPO_NONE)
            repo_table_add(&listed, &cl);
    }
    storage_list_free(&list);

    live = xcalloc(repo->packs.count + 1, sizeof(uint64_t));
    pack_ok = xcalloc(repo->packs.count + 1, sizeof(bool));
    readable = xcalloc(repo->packs.count + 1, sizeof(uint32_t));
    for (uint32_t i = 0; i < repo->entries.count; i++)
    {
        RepoEntry *e = repo_table_at(&repo->entries, i);

        if (e->mark)
            live[e->pack]++;
    }
    for (uint32_t p = 0; p < repo->packs.count; p++)
    {
        RepoPack *rp = repo_table_at(&repo->packs, p);
        uint32_t li = repo_table_find(&listed, rp->id);
        char key[80];

        report->packs++;
        repo_pack_key(rp->id, key);
        if (li == REPO_NONE)
        {
            check_error(report,
                        "pack \"%s\" is missing: the index lists %" PRIu32 " chunks in "
                        "it, %" PRIu64 " of them used by snapshots",
                        key, rp->entries, live[p]);
            lost_packs++;
            continue;
        }
        if (((CheckListed *)repo_table_at(&listed, li))->size != rp->size)
        {
            uint64_t has = ((CheckListed *)repo_table_at(&listed, li))->size;

            check_error(report,
                        "pack \"%s\" is %s: the index says %" PRIu64 " bytes, the object "
                        "has %" PRIu64,
                        key, has < rp->size ? "truncated" : "the wrong size", rp->size, has);
            lost_packs++;
            continue;
        }
        pack_ok[p] = true;
        readable[nreadable++] = p;
    }
    for (uint32_t i = 0; i < listed.count; i++)
    {
        CheckListed *cl = repo_table_at(&listed, i);

        if (repo_table_find(&repo->packs, cl->id) == REPO_NONE)
        {
            char key[80];

            repo_pack_key(cl->id, key);
            log_info("note: pack \"%s\" is not in the index (left by an interrupted backup or "
                     "prune; \"coffer prune\" removes it)",
                     key);
            report->unreferenced_packs++;
        }
    }
    check_keys(repo, report, pack_ok, &fix);

    if (opts != NULL && opts->read_data && nreadable > 0)
    {
        uint32_t n = (uint32_t)(((uint64_t)nreadable * (uint64_t)pct + 99) / 100);
        uint32_t *first, *order;

        repo_entries_by_pack(repo, &first, &order);

        /* a random subset, so that repeated partial checks cover everything */
        for (uint32_t i = nreadable - 1; pct < 100 && i > 0; i--)
        {
            uint32_t j, t;

            codec_random(&j, sizeof(j));
            j %= i + 1;
            t = readable[i];
            readable[i] = readable[j];
            readable[j] = t;
        }
        for (uint32_t i = 0; i < n; i++)
        {
            RepoPack *rp = repo_table_at(&repo->packs, readable[i]);

            log_status("reading pack %" PRIu32 " of %" PRIu32, i + 1, n);
            check_read_pack(repo, readable[i], rp->size, first, order, report);
        }
        log_status("%s", "");
        free(first);
        free(order);
    }
    free(live);
    free(pack_ok);
    free(readable);
    repo_table_free(&listed);
    if (report->errors > 0)
    {
        error_set(err, ERR_FAILURE, "repository \"%s\" has %" PRIu64 " error%s", loc,
                  report->errors, report->errors == 1 ? "" : "s");
        if (repo->index_errors > 0 || (missing_total > 0 && report->unreferenced_packs > 0))
            error_hint(err, "an index object is damaged or lost; \"coffer check "
                            "--rebuild-index\" indexes the packs again from their headers");
        else if (fix.snapshots > 0 || fix.keys > 0)
            check_fix_hint(&fix, err);
        else if (lost_packs > 0)
            error_hint(err,
                       "\"coffer repair index\" drops the missing or truncated pack%s from "
                       "the index, then \"coffer repair snapshots\" drops the tenants that "
                       "used %s from their snapshots",
                       lost_packs == 1 ? "" : "s", lost_packs == 1 ? "it" : "them");
        else if (opts != NULL && opts->read_data)
            error_hint(err, "the objects named above are damaged or missing; snapshots that use "
                            "them cannot be restored in full");
        else
            error_hint(err, "the objects named above are damaged or missing; run \"coffer check "
                            "--read-data\" to also verify the data itself");
        return false;
    }
    return true;
}
