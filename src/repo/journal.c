/*
 * journal.c - small sealed notes of work in progress on the live database
 * (journal/<id>): a restore writes what it is about to rename aside before
 * it does, so that after a SIGKILL, a power loss or a lost session the
 * next restore (or "coffer restore --recover") can put the live tenant
 * back or finish the swap. Sealed with the master key: they name tenants.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define JOURNAL_PREFIX "journal/"

bool repo_journal_put(Repo *repo, const char *id, json_t *doc, Error *err)
{
    char key[96];
    char *text = json_dumps(doc, JSON_COMPACT);
    bool ok;

    if (text == NULL)
        return error_set(err, ERR_FAILURE, "could not encode a journal entry");
    snprintf(key, sizeof(key), JOURNAL_PREFIX "%s", id);
    ok = repo_object_put(repo, key, "CFRJ", text, strlen(text), false, err);
    free(text);
    return ok || error_prefix(err, "could not write journal entry \"%s\"", key);
}

json_t *repo_journal_list(Repo *repo, Error *err)
{
    StorageList list;
    json_t *out;

    if (!storage_list(repo->st, JOURNAL_PREFIX, &list, err))
        return NULL;
    out = json_array();
    for (size_t i = 0; i < list.count; i++)
    {
        const char *id = list.items[i].key + strlen(JOURNAL_PREFIX);
        Buf body;
        json_t *doc;
        Error e;

        if (strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
            continue; /* a temp file of an interrupted write */
        buf_init(&body);
        error_clear(&e);
        doc = repo_object_get(repo, list.items[i].key, "CFRJ", "journal entry", &body, &e)
                  ? json_loadb((const char *)body.data, body.len, 0, NULL)
                  : NULL;
        buf_free(&body);
        if (!json_is_object(doc))
        {
            log_warning("journal entry \"%s\" cannot be read: %s", list.items[i].key,
                        e.message[0] ? e.message : "not a JSON object");
            json_decref(doc);
            continue;
        }
        json_array_append_new(out, json_pack("{s:s, s:o}", "id", id, "doc", doc));
    }
    storage_list_free(&list);
    return out;
}

bool repo_journal_remove(Repo *repo, const char *id, Error *err)
{
    char key[96];

    snprintf(key, sizeof(key), JOURNAL_PREFIX "%s", id);
    return storage_remove(repo->st, key, err);
}
