/*
 * snapshot.c - snapshots (backup manifests): one sealed, compressed JSON
 * document per backup under snapshots/<id>, written last so that a backup
 * without its snapshot does not exist.
 *
 * The repository reads one thing inside a snapshot: every member named
 * "chunks", at any depth, is an array of chunk ids it references.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define SNAP_PREFIX "snapshots/"
#define PART_PREFIX "parts/"

static bool snap_is_hex(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

bool repo_snapshot_walk(json_t *doc, RepoChunkVisit fn, void *arg, Error *err)
{
    const char *key;
    json_t *v;
    size_t i;

    if (json_is_object(doc))
    {
        json_object_foreach (doc, key, v)
        {
            if (strcmp(key, "chunks") == 0 && json_is_array(v))
            {
                json_t *c;

                json_array_foreach (v, i, c)
                {
                    if (!json_is_string(c))
                        return error_set(err, ERR_FAILURE,
                                         "a \"chunks\" array holds a "
                                         "non-string");
                    if (!fn(arg, json_string_value(c), err))
                        return false;
                }
            }
            else if (!repo_snapshot_walk(v, fn, arg, err))
                return false;
        }
    }
    else if (json_is_array(doc))
    {
        json_array_foreach (doc, i, v)
            if (!repo_snapshot_walk(v, fn, arg, err))
                return false;
    }
    return true;
}

bool repo_snapshot_write(Repo *repo, json_t *doc, char id_out[65], Error *err)
{
    json_t *id;
    char fresh[65], now[40], key[96];
    char *text;
    bool ok;

    if (!json_is_object(doc))
        return error_set(err, ERR_FAILURE, "a snapshot must be a JSON object");
    id = json_object_get(doc, "id");
    if (id == NULL)
    {
        repo_random_id(fresh);
        json_object_set_new(doc, "id", json_string(fresh));
        id = json_object_get(doc, "id");
    }
    if (!json_is_string(id) || !snap_is_hex(json_string_value(id), 64, 64))
        return error_set(err, ERR_FAILURE, "snapshot id must be 64 lowercase hex digits");
    if (json_object_get(doc, "time") == NULL)
    {
        repo_time_now(now);
        json_object_set_new(doc, "time", json_string(now));
    }
    snprintf(key, sizeof(key), SNAP_PREFIX "%s", json_string_value(id));
    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        return error_set(err, ERR_FAILURE, "could not encode snapshot");
    ok = repo_object_put(repo, key, "CFRS", text, strlen(text), true, err);
    free(text);
    if (!ok)
        return error_prefix(err, "could not write snapshot");
    repo_crash_point("snapshot-after-write");
    if (id_out != NULL)
        snprintf(id_out, 65, "%s", json_string_value(id));
    return true;
}

json_t *repo_snapshot_load_id(Repo *repo, const char *id, Error *err)
{
    char key[96];
    Buf body;
    json_t *doc, *docid;
    json_error_t jerr;

    snprintf(key, sizeof(key), SNAP_PREFIX "%s", id);
    buf_init(&body);
    if (!repo_object_get(repo, key, "CFRS", "snapshot", &body, err))
    {
        buf_free(&body);
        return NULL;
    }
    doc = json_loadb((const char *)body.data, body.len, 0, &jerr);
    buf_free(&body);
    if (doc == NULL || !json_is_object(doc))
    {
        error_set(err, ERR_FAILURE, "snapshot \"%s\" is damaged: %s", key,
                  doc == NULL ? jerr.text : "not a JSON object");
        json_decref(doc);
        return NULL;
    }
    docid = json_object_get(doc, "id");
    if (!json_is_string(docid) || strcmp(json_string_value(docid), id) != 0)
    {
        error_set(err, ERR_FAILURE, "snapshot \"%s\" is damaged: it names another id", key);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int snap_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a;
    json_t *y = *(json_t *const *)b;
    const char *tx = json_string_value(json_object_get(x, "time"));
    const char *ty = json_string_value(json_object_get(y, "time"));
    int c = strcmp(tx ? tx : "", ty ? ty : "");

    if (c != 0)
        return c;
    return strcmp(json_string_value(json_object_get(x, "id")),
                  json_string_value(json_object_get(y, "id")));
}

/* What is left of a load error once the object's name is taken off:
 * "authentication failed", "is truncated: 3 bytes", ... */
static const char *snap_reason(const char *msg, const char *key)
{
    char head[128];
    size_t n = (size_t)snprintf(head, sizeof(head), "snapshot \"%s\"", key);

    if (n < sizeof(head) && strncmp(msg, head, n) == 0)
    {
        msg += n;
        if (msg[0] == ':')
            msg++;
        while (msg[0] == ' ')
            msg++;
    }
    return msg;
}

/* Loads snapshot id. When that fails, *damaged tells whether the object
 * itself is at fault (its bytes can still be fetched but do not open or
 * parse), as opposed to storage failing or the object having gone. */
static json_t *snap_load_classify(Repo *repo, const char *id, bool *damaged, Error *err)
{
    char key[96];
    unsigned char *data = NULL;
    size_t len = 0;
    json_t *doc;
    Error e2;

    *damaged = false;
    doc = repo_snapshot_load_id(repo, id, err);
    if (doc != NULL)
        return doc;
    /* a second fetch only on this rare path: it tells damage from a failing read */
    snprintf(key, sizeof(key), SNAP_PREFIX "%s", id);
    error_clear(&e2);
    if (storage_get(repo->st, key, &data, &len, &e2))
    {
        *damaged = true;
        free(data);
    }
    return NULL;
}

/* Lists and loads the snapshots, oldest first. With unreadable, a damaged
 * one is appended there as {"id", "key", "error"} instead of failing. */
static json_t *snap_list(Repo *repo, json_t *unreadable, Error *err)
{
    StorageList list;
    json_t **docs;
    json_t *arr;
    size_t n = 0;

    if (!storage_list(repo->st, SNAP_PREFIX, &list, err))
        return NULL;
    docs = xcalloc(list.count + 1, sizeof(json_t *));
    for (size_t i = 0; i < list.count; i++)
    {
        const char *key = list.items[i].key;
        const char *id = key + strlen(SNAP_PREFIX);
        bool damaged;

        if (!snap_is_hex(id, 64, 64))
            continue;
        docs[n] = snap_load_classify(repo, id, &damaged, err);
        if (docs[n] != NULL)
        {
            n++;
            continue;
        }
        if (damaged && unreadable != NULL)
        {
            json_array_append_new(unreadable, json_pack("{s:s, s:s, s:s}", "id", id, "key", key,
                                                        "error", snap_reason(err->message, key)));
            error_clear(err);
            continue;
        }
        if (damaged)
        {
            char reason[sizeof(err->message)];

            snprintf(reason, sizeof(reason), "%s", snap_reason(err->message, key));
            error_set(err, ERR_FAILURE, "snapshot \"%s\" cannot be read (%s)", key, reason);
            error_detail(err, "forget it with \"coffer forget %s\", then prune again", id);
        }
        for (size_t j = 0; j < n; j++)
            json_decref(docs[j]);
        free(docs);
        storage_list_free(&list);
        return NULL;
    }
    storage_list_free(&list);
    qsort(docs, n, sizeof(json_t *), snap_cmp);
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, docs[i]);
    free(docs);
    return arr;
}

json_t *repo_snapshot_list(Repo *repo, Error *err)
{
    return snap_list(repo, NULL, err);
}

json_t *repo_snapshot_list_readable(Repo *repo, json_t **unreadable, Error *err)
{
    json_t *bad = json_array();
    json_t *arr = snap_list(repo, bad, err);

    if (arr == NULL)
    {
        json_decref(bad);
        *unreadable = NULL;
        return NULL;
    }
    *unreadable = bad;
    return arr;
}

void repo_snapshot_warn_unreadable(json_t *unreadable)
{
    json_t *u;
    size_t i;

    json_array_foreach (unreadable, i, u)
        log_warning("snapshot \"%s\" cannot be read (%s); it is skipped",
                    json_string_value(json_object_get(u, "key")),
                    json_string_value(json_object_get(u, "error")));
    if (json_array_size(unreadable) > 0)
        log_warning("run \"coffer check\" to list damaged objects; \"coffer forget ID\" "
                    "removes a damaged snapshot");
}

bool repo_snapshot_resolve(Repo *repo, const char *id, char full[65], Error *err)
{
    const char *loc = storage_location(repo->st);
    StorageList list;
    size_t matches = 0;

    if (strcmp(id, "latest") == 0)
    {
        json_t *bad = NULL;
        json_t *all = repo_snapshot_list_readable(repo, &bad, err);
        size_t n;

        if (all == NULL)
            return false;
        n = json_array_size(all);
        if (n == 0 && json_array_size(bad) > 0)
        {
            /* nothing readable to fall back on: the damage is the error */
            json_t *u = json_array_get(bad, 0);

            error_set(err, ERR_FAILURE, "snapshot \"%s\" cannot be read (%s)",
                      json_string_value(json_object_get(u, "key")),
                      json_string_value(json_object_get(u, "error")));
            error_detail(err, "repository \"%s\" has no snapshot that can be read", loc);
            error_hint(err, "run \"coffer check\" to list damaged objects");
            json_decref(bad);
            json_decref(all);
            return false;
        }
        repo_snapshot_warn_unreadable(bad);
        json_decref(bad);
        if (n == 0)
        {
            json_decref(all);
            return error_set(err, ERR_FAILURE, "repository \"%s\" has no snapshots", loc);
        }
        snprintf(full, 65, "%s",
                 json_string_value(json_object_get(json_array_get(all, n - 1), "id")));
        json_decref(all);
        return true;
    }
    if (!snap_is_hex(id, 4, 64))
    {
        error_set(err, ERR_USAGE, "invalid snapshot id \"%s\"", id);
        return error_hint(err, "give \"latest\", a full id, or a prefix of at least 4 "
                               "lowercase hex digits");
    }
    if (strlen(id) == 64)
    {
        /* a full id names one object: no listing (expire loads thousands) */
        char key[96];
        bool exists = false;

        snprintf(key, sizeof(key), SNAP_PREFIX "%s", id);
        if (!storage_exists(repo->st, key, &exists, NULL, err))
            return false;
        if (exists)
        {
            snprintf(full, 65, "%s", id);
            return true;
        }
    }
    if (!storage_list(repo->st, SNAP_PREFIX, &list, err))
        return false;
    for (size_t i = 0; i < list.count; i++)
    {
        const char *cand = list.items[i].key + strlen(SNAP_PREFIX);

        if (strlen(cand) == 64 && strncmp(cand, id, strlen(id)) == 0)
        {
            if (matches++ == 0)
                snprintf(full, 65, "%s", cand);
        }
    }
    storage_list_free(&list);
    if (matches == 0)
        return error_set(err, ERR_FAILURE, "no snapshot \"%s\" in repository \"%s\"", id, loc);
    if (matches > 1)
    {
        error_set(err, ERR_FAILURE, "snapshot id \"%s\" is ambiguous: %zu snapshots match", id,
                  matches);
        return error_hint(err, "give more digits of the id");
    }
    return true;
}

json_t *repo_snapshot_load(Repo *repo, const char *id, Error *err)
{
    char full[65];

    if (!repo_snapshot_resolve(repo, id, full, err))
        return NULL;
    return repo_snapshot_load_id(repo, full, err);
}

bool repo_snapshot_forget(Repo *repo, const char *id, Error *err)
{
    char full[65], key[96];

    if (!repo_snapshot_resolve(repo, id, full, err))
        return false;
    snprintf(key, sizeof(key), SNAP_PREFIX "%s", full);
    /* its parts stay: another snapshot may list the same part (a tenant
     * that did not change); prune removes those no snapshot lists */
    if (!storage_remove(repo->st, key, err))
        return false;
    log_debug("forgot snapshot %s", full);
    return true;
}

/* ---- parts -------------------------------------------------------------- */

/* The owner a part reference names by its "kid", with its keys; sets
 * *destroyed (and fails) when they were destroyed on purpose. */
static RepoOwner *part_owner(Repo *repo, json_t *ref, bool *destroyed, Error *err)
{
    const char *ks = json_string_value(json_object_get(ref, "kid"));
    unsigned char kid[REPO_KID_LEN];
    uint32_t idx;
    char owner_hex[2 * REPO_OWNERID_LEN + 1];

    *destroyed = false;
    if (ks != NULL && strlen(ks) == 2 * REPO_KID_LEN + 1)
        snprintf(owner_hex, sizeof(owner_hex), "%.*s", 2 * REPO_OWNERID_LEN, ks);
    if (ks == NULL || strlen(ks) != 2 * REPO_KID_LEN + 1 || ks[2 * REPO_OWNERID_LEN] != '-' ||
        hex_decode(owner_hex, kid, REPO_OWNERID_LEN) != 0 ||
        hex_decode(ks + 2 * REPO_OWNERID_LEN + 1, kid + REPO_OWNERID_LEN, REPO_GEN_LEN) != 0)
    {
        error_set(err, ERR_FAILURE, "a part reference names no valid key id");
        return NULL;
    }
    pthread_mutex_lock(&repo->mu);
    idx = repo_kid_intern(repo, kid);
    pthread_mutex_unlock(&repo->mu);
    {
        RepoOwner *o = repo_owner_for_kid(repo, idx, err);

        if (o == NULL && strstr(err->message, "were destroyed") != NULL)
            *destroyed = true;
        return o;
    }
}

static bool part_id_ok(const char *id)
{
    return id != NULL && snap_is_hex(id, 64, 64);
}

/* Fills parts_seen from one listing of parts/, the first time; the caller
 * holds repo->mu. */
static bool part_seen_load(Repo *repo, Error *err)
{
    StorageList list;

    if (repo->parts_listed)
        return true;
    if (!storage_list(repo->st, PART_PREFIX, &list, err))
        return false;
    for (size_t i = 0; i < list.count; i++)
    {
        unsigned char raw[CODEC_ID_LEN];
        const char *id = list.items[i].key + strlen(PART_PREFIX);

        if (part_id_ok(id) && hex_decode(id, raw, sizeof(raw)) == 0 &&
            repo_table_find(&repo->parts_seen, raw) == REPO_NONE)
            repo_table_add(&repo->parts_seen, raw);
    }
    storage_list_free(&list);
    repo->parts_listed = true;
    return true;
}

/* Is part id (raw) known to exist? Notes it as existing when add. */
static bool part_seen(Repo *repo, const unsigned char raw[CODEC_ID_LEN], bool add, bool *seen,
                      Error *err)
{
    bool ok;

    pthread_mutex_lock(&repo->mu);
    ok = part_seen_load(repo, err);
    *seen = ok && repo_table_find(&repo->parts_seen, raw) != REPO_NONE;
    if (ok && add && !*seen)
        repo_table_add(&repo->parts_seen, raw);
    pthread_mutex_unlock(&repo->mu);
    return ok;
}

/* Does the part object under key hold exactly text? A part is reused only
 * after it was read back whole: one damaged since it was written is
 * written again instead of being listed by one more snapshot. */
static bool part_same(Repo *repo, RepoOwner *owner, const char *key, const char *text)
{
    Buf body;
    Error e;
    bool same;

    buf_init(&body);
    error_clear(&e);
    same = repo_object_get_sealed(repo, key, "CFRP", "snapshot part", owner->data_key, &body,
                                  &e) &&
           body.len == strlen(text) && memcmp(body.data, text, body.len) == 0;
    if (!same)
        log_debug("snapshot part \"%s\" is written again: %s", key,
                  error_is_set(&e) ? e.message : "it holds something else");
    buf_free(&body);
    return same;
}

/*
 * A part's id is keyed by its owner's id key over its text, so a tenant
 * that did not change since the last backup has the same part again: it is
 * not written twice, and a run of unchanged tenants adds no object at all.
 * Parts are shared by snapshots that way (each reuse reads the part back
 * first); only prune removes them, once no snapshot lists them.
 */
bool repo_part_write(Repo *repo, RepoOwner *owner, json_t *doc, json_t **ref_out, Error *err)
{
    unsigned char raw[CODEC_ID_LEN];
    char id[65], key[96];
    char *text;
    bool ok, seen = false;

    text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return error_set(err, ERR_FAILURE, "could not encode a snapshot part");
    codec_mac(owner->id_key, text, strlen(text), raw);
    hex_encode(raw, sizeof(raw), id);
    snprintf(key, sizeof(key), PART_PREFIX "%s", id);
    ok = part_seen(repo, raw, false, &seen, err);
    if (ok && seen && !part_same(repo, owner, key, text))
        seen = false; /* damaged, or gone since: written again */
    if (ok && !seen)
        ok = repo_object_put_sealed(repo, key, "CFRP", text, strlen(text), true, owner->data_key,
                                    err) &&
             part_seen(repo, raw, true, &seen, err);
    free(text);
    if (!ok)
        return error_prefix(err, "could not write snapshot part \"%s\"", key);
    *ref_out = json_pack("{s:s, s:s}", "id", id, "kid", owner->kid_str);
    return true;
}

json_t *repo_part_load(Repo *repo, json_t *ref, bool *destroyed, Error *err)
{
    const char *id = json_string_value(json_object_get(ref, "id"));
    char key[96];
    RepoOwner *owner;
    json_error_t jerr;
    json_t *doc;
    Buf body;
    bool gone = false;

    if (destroyed != NULL)
        *destroyed = false;
    if (!part_id_ok(id))
    {
        error_set(err, ERR_FAILURE, "a snapshot names a part with a malformed id");
        return NULL;
    }
    snprintf(key, sizeof(key), PART_PREFIX "%s", id);
    owner = part_owner(repo, ref, &gone, err);
    if (owner == NULL)
    {
        if (destroyed != NULL)
            *destroyed = gone;
        error_prefix(err, "snapshot part \"%s\"", key);
        return NULL;
    }
    buf_init(&body);
    if (!repo_object_get_sealed(repo, key, "CFRP", "snapshot part", owner->data_key, &body, err))
    {
        buf_free(&body);
        return NULL;
    }
    doc = json_loadb((const char *)body.data, body.len, 0, &jerr);
    buf_free(&body);
    if (!json_is_object(doc))
    {
        error_set(err, ERR_FAILURE, "snapshot part \"%s\" is damaged: %s", key,
                  doc == NULL ? jerr.text : "not a JSON object");
        json_decref(doc);
        return NULL;
    }
    return doc;
}

bool repo_part_of(Repo *repo, json_t *ref, const char *owner_name)
{
    const char *ks = json_string_value(json_object_get(ref, "kid"));
    char want[2 * REPO_OWNERID_LEN + 1];

    repo_owner_id_hex(repo, owner_name, want);
    return ks != NULL && strncmp(ks, want, 2 * REPO_OWNERID_LEN) == 0;
}

void repo_owner_id(Repo *repo, const char *owner_name, char out[REPO_OWNER_HEX])
{
    repo_owner_id_hex(repo, owner_name, out);
}

bool repo_part_owner(json_t *ref, char out[REPO_OWNER_HEX])
{
    const char *ks = json_string_value(json_object_get(ref, "kid"));

    if (ks == NULL || strlen(ks) < 2 * REPO_OWNERID_LEN)
        return false;
    memcpy(out, ks, 2 * REPO_OWNERID_LEN);
    out[2 * REPO_OWNERID_LEN] = '\0';
    return snap_is_hex(out, 2 * REPO_OWNERID_LEN, 2 * REPO_OWNERID_LEN);
}

json_t *repo_snapshot_ids(Repo *repo, Error *err)
{
    StorageList list;
    json_t *ids;

    if (!storage_list(repo->st, SNAP_PREFIX, &list, err))
        return NULL;
    ids = json_array();
    for (size_t i = 0; i < list.count; i++)
    {
        const char *id = list.items[i].key + strlen(SNAP_PREFIX);

        if (snap_is_hex(id, 64, 64))
            json_array_append_new(ids, json_string(id));
    }
    storage_list_free(&list);
    return ids;
}

bool repo_snapshot_walk_all(Repo *repo, json_t *doc, RepoChunkVisit fn, void *arg,
                            uint64_t *destroyed, Error *err)
{
    json_t *ref;
    size_t i;

    if (!repo_snapshot_walk(doc, fn, arg, err))
        return false;
    json_array_foreach (json_object_get(doc, "parts"), i, ref)
    {
        bool gone = false;
        json_t *part = repo_part_load(repo, ref, &gone, err);
        bool ok;

        if (part == NULL && gone)
        {
            /* an erased owner: nothing of it can be read, nothing is kept for it */
            error_clear(err);
            if (destroyed != NULL)
                (*destroyed)++;
            continue;
        }
        if (part == NULL)
            return false;
        ok = repo_snapshot_walk(part, fn, arg, err);
        json_decref(part);
        if (!ok)
            return false;
    }
    return true;
}

bool repo_parts_sweep(Repo *repo, uint64_t *removed, Error *err)
{
    StorageList list;
    json_t *snaps = repo_snapshot_list(repo, err);
    json_t *doc, *ref;
    size_t i, k;

    *removed = 0;
    if (snaps == NULL)
        return false;
    if (!storage_list(repo->st, PART_PREFIX, &list, err))
    {
        json_decref(snaps);
        return false;
    }
    for (size_t p = 0; p < list.count; p++)
    {
        const char *id = list.items[p].key + strlen(PART_PREFIX);
        bool used = !part_id_ok(id); /* temp files are swept apart */

        json_array_foreach (snaps, i, doc)
            json_array_foreach (json_object_get(doc, "parts"), k, ref)
                used = used || strcmp(json_string_value(json_object_get(ref, "id")), id) == 0;
        if (used)
            continue;
        if (!storage_remove(repo->st, list.items[p].key, err))
            break;
        (*removed)++;
    }
    storage_list_free(&list);
    json_decref(snaps);
    /* what this process knew of parts/ may name some just removed */
    pthread_mutex_lock(&repo->mu);
    repo_table_free(&repo->parts_seen);
    repo_table_init(&repo->parts_seen, CODEC_ID_LEN, CODEC_ID_LEN);
    repo->parts_listed = false;
    pthread_mutex_unlock(&repo->mu);
    return !error_is_set(err);
}
