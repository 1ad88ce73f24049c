/*
 * state.c - small documents commands keep between runs (state/<name>),
 * sealed with the master key: coffer run's schedule cache. They are caches
 * of what the snapshots say: one that is lost or damaged is rebuilt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "repo/repo_intern.h"

#define STATE_PREFIX "state/"

json_t *repo_state_load(Repo *repo, const char *name, Error *err)
{
    char key[128];
    bool exists = false;
    Buf body;
    json_t *doc = NULL;
    Error e;

    snprintf(key, sizeof(key), STATE_PREFIX "%s", name);
    if (!storage_exists(repo->st, key, &exists, NULL, err))
        return NULL;
    if (!exists)
        return json_object();
    buf_init(&body);
    error_clear(&e);
    if (repo_object_get(repo, key, "CFRT", "state", &body, &e))
        doc = json_loadb((const char *)body.data, body.len, 0, NULL);
    buf_free(&body);
    if (!json_is_object(doc))
    {
        /* a cache: what it said can be read again from the snapshots */
        log_warning("\"%s\" cannot be read (%s); it is built again",
                    key, error_is_set(&e) ? e.message : "not a JSON object");
        json_decref(doc);
        return json_object();
    }
    return doc;
}

bool repo_state_write(Repo *repo, const char *name, json_t *doc, Error *err)
{
    char key[128];
    char *text = json_dumps(doc, JSON_COMPACT);
    bool ok;

    if (text == NULL)
        return error_set(err, ERR_FAILURE, "could not encode state \"%s\"", name);
    snprintf(key, sizeof(key), STATE_PREFIX "%s", name);
    ok = repo_object_put(repo, key, "CFRT", text, strlen(text), true, err);
    free(text);
    return ok || error_prefix(err, "could not write \"%s\"", key);
}

/* ---- notes: one owner's small documents, sealed with its key ---------- */

#define NOTE_PREFIX "notes/"

static void note_key(Repo *repo, RepoOwner *owner, const char *name, char *key, size_t len)
{
    char oid[2 * REPO_OWNERID_LEN + 1];

    repo_owner_id_hex(repo, repo_owner_name(owner), oid);
    snprintf(key, len, NOTE_PREFIX "%s/%s", oid, name);
}

bool repo_note_write(Repo *repo, RepoOwner *owner, const char *name, json_t *doc, Error *err)
{
    char key[160];
    char *text = json_dumps(doc, JSON_COMPACT);
    bool ok;

    if (text == NULL)
        return error_set(err, ERR_FAILURE, "could not encode note \"%s\"", name);
    note_key(repo, owner, name, key, sizeof(key));
    ok = repo_object_put_sealed(repo, key, "CFRN", text, strlen(text), true, owner->data_key, err);
    free(text);
    return ok || error_prefix(err, "could not write \"%s\"", key);
}

json_t *repo_note_load(Repo *repo, RepoOwner *owner, const char *name, Error *err)
{
    char key[160];
    bool exists = false;
    json_t *doc;
    Buf body;

    note_key(repo, owner, name, key, sizeof(key));
    if (!storage_exists(repo->st, key, &exists, NULL, err) || !exists)
        return NULL;
    buf_init(&body);
    if (!repo_object_get_sealed(repo, key, "CFRN", "note", owner->data_key, &body, err))
    {
        buf_free(&body);
        return NULL;
    }
    doc = json_loadb((const char *)body.data, body.len, 0, NULL);
    buf_free(&body);
    if (!json_is_object(doc))
    {
        json_decref(doc);
        error_set(err, ERR_FAILURE, "\"%s\" is damaged", key);
        return NULL;
    }
    return doc;
}

bool repo_size(Repo *repo, uint64_t *bytes, uint64_t *packs, Error *err)
{
    StorageList list;

    *bytes = 0;
    *packs = 0;
    if (!storage_list(repo->st, "data/", &list, err))
        return false;
    for (size_t i = 0; i < list.count; i++)
    {
        *bytes += list.items[i].size;
        (*packs)++;
    }
    storage_list_free(&list);
    return true;
}
