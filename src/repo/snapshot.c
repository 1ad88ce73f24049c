/*
 * snapshot.c - snapshots (backup manifests): one sealed, compressed JSON
 * document per backup under snapshots/<id>, written last so that a backup
 * without its snapshot does not exist.
 *
 * The repository reads one thing inside a snapshot: every member named
 * "chunks", at any depth, is an array of chunk ids it references.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define SNAP_PREFIX "snapshots/"

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

json_t *repo_snapshot_list(Repo *repo, Error *err)
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
        const char *id = list.items[i].key + strlen(SNAP_PREFIX);

        if (!snap_is_hex(id, 64, 64))
            continue;
        docs[n] = repo_snapshot_load_id(repo, id, err);
        if (docs[n] == NULL)
        {
            for (size_t j = 0; j < n; j++)
                json_decref(docs[j]);
            free(docs);
            storage_list_free(&list);
            return NULL;
        }
        n++;
    }
    storage_list_free(&list);
    qsort(docs, n, sizeof(json_t *), snap_cmp);
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, docs[i]);
    free(docs);
    return arr;
}

/* Turns "latest", a full id or a unique prefix into a full id. */
static bool snap_resolve(Repo *repo, const char *id, char full[65], Error *err)
{
    const char *loc = storage_location(repo->st);
    StorageList list;
    size_t matches = 0;

    if (strcmp(id, "latest") == 0)
    {
        json_t *all = repo_snapshot_list(repo, err);
        size_t n;

        if (all == NULL)
            return false;
        n = json_array_size(all);
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

    if (!snap_resolve(repo, id, full, err))
        return NULL;
    return repo_snapshot_load_id(repo, full, err);
}

bool repo_snapshot_forget(Repo *repo, const char *id, Error *err)
{
    char full[65], key[96];

    if (!snap_resolve(repo, id, full, err))
        return false;
    snprintf(key, sizeof(key), SNAP_PREFIX "%s", full);
    if (!storage_remove(repo->st, key, err))
        return false;
    log_debug("forgot snapshot %s", full);
    return true;
}
