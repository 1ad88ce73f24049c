/*
 * repo.c - creating and opening a repository: the plain config object that
 * names the format, then the master key, the owner key listing and the index.
 *
 * repo_init writes the config last, so a crash during init leaves no
 * repository and a second init can start again; its presence is what makes
 * a second init refuse.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define REPO_CONFIG_KEY "config"

static Repo *repo_alloc(Storage *st)
{
    Repo *repo = xcalloc(1, sizeof(*repo));

    repo->st = st;
    repo->lock_stale = REPO_LOCK_STALE_DEFAULT;
    pthread_mutex_init(&repo->verify_mu, NULL);
    pthread_mutex_init(&repo->mu, NULL);
    repo_table_init(&repo->entries, sizeof(RepoEntry), CODEC_ID_LEN);
    repo_table_init(&repo->alts, sizeof(RepoEntry), CODEC_ID_LEN);
    repo_table_init(&repo->packs, sizeof(RepoPack), 32);
    repo_table_init(&repo->kids, sizeof(RepoKid), REPO_KID_LEN);
    repo_table_init(&repo->keyinfo, sizeof(RepoKeyInfo), REPO_OWNERID_LEN);
    repo_table_init(&repo->current, sizeof(RepoCurrent), REPO_OWNERID_LEN);
    repo_table_init(&repo->parts_seen, CODEC_ID_LEN, CODEC_ID_LEN);
    buf_init(&repo->pending);
    return repo;
}

/* Frees the repository state but not the storage. */
static void repo_release(Repo *repo)
{
    repo_index_free(repo);
    repo_table_free(&repo->keyinfo);
    repo_table_free(&repo->current);
    repo_table_free(&repo->parts_seen);
    repo_owners_free(repo);
    mem_wipe(repo->master_enc, sizeof(repo->master_enc));
    mem_wipe(repo->master_id, sizeof(repo->master_id));
    pthread_mutex_destroy(&repo->mu);
    pthread_mutex_destroy(&repo->verify_mu);
    free(repo);
}

void repo_close(Repo *repo)
{
    Storage *st;

    if (repo == NULL)
        return;
    st = repo->st;
    repo_release(repo);
    storage_free(st);
}

static json_int_t repo_json_int(json_t *o, const char *key, bool *ok)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
    {
        *ok = false;
        return 0;
    }
    return json_integer_value(v);
}

/* Parses the config object into repo; errors name the repository. */
static bool repo_config_parse(Repo *repo, const unsigned char *data, size_t len, Error *err)
{
    const char *loc = storage_location(repo->st);
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, len, 0, &jerr);
    json_t *fmt, *enc, *ch, *id;
    bool ok = true;
    json_int_t v;

    if (doc == NULL || !json_is_object(doc))
    {
        error_set(err, ERR_FAILURE, "repository \"%s\": \"config\" is damaged: %s", loc,
                  doc == NULL ? jerr.text : "not a JSON object");
        json_decref(doc);
        return false;
    }
    fmt = json_object_get(doc, "format");
    if (!json_is_integer(fmt))
    {
        error_set(err, ERR_FAILURE, "repository \"%s\": \"config\" is damaged: no format version",
                  loc);
        json_decref(doc);
        return false;
    }
    if (json_integer_value(fmt) != REPO_FORMAT_VERSION)
    {
        bool older = json_integer_value(fmt) < REPO_FORMAT_VERSION;

        error_set(err, ERR_FAILURE,
                  "repository \"%s\" has %s format version %" JSON_INTEGER_FORMAT
                  " (this coffer reads version %d)",
                  loc, older ? "the older" : "unknown", json_integer_value(fmt),
                  REPO_FORMAT_VERSION);
        if (older)
            error_hint(err, "it was written by a development version of coffer; read it with "
                            "that version, or start a new repository with \"coffer init\"");
        else
            error_hint(err, "upgrade coffer to read this repository");
        json_decref(doc);
        return false;
    }
    enc = json_object_get(doc, "encryption");
    id = json_object_get(doc, "id");
    ch = json_object_get(doc, "chunker");
    if (json_is_string(enc) && strcmp(json_string_value(enc), "aes-256-gcm") == 0)
        repo->encrypted = true;
    else if (json_is_string(enc) && strcmp(json_string_value(enc), "none") == 0)
        repo->encrypted = false;
    else
        ok = false;
    if (!json_is_string(id) || json_string_length(id) != 64)
        ok = false;
    else
        snprintf(repo->id, sizeof(repo->id), "%s", json_string_value(id));
    v = repo_json_int(doc, "compression", &ok);
    repo->compression = (int)v;
    if (v < 1 || v > 22)
        ok = false;
    v = repo_json_int(doc, "pack_size", &ok);
    repo->pack_size = (uint32_t)v;
    if (v < REPO_MIN_PACK_SIZE || v > REPO_MAX_PACK_SIZE)
        ok = false;
    if (json_is_object(ch))
    {
        repo->chunker.min_size = (uint32_t)repo_json_int(ch, "min", &ok);
        repo->chunker.avg_size = (uint32_t)repo_json_int(ch, "avg", &ok);
        repo->chunker.max_size = (uint32_t)repo_json_int(ch, "max", &ok);
    }
    else
        ok = false;
    json_decref(doc);
    if (!ok)
        return error_set(err, ERR_FAILURE,
                         "repository \"%s\": \"config\" is damaged: missing or "
                         "bad members",
                         loc);
    if (!chunker_params_valid(&repo->chunker, err))
        return error_prefix(err, "repository \"%s\": \"config\"", loc);
    return true;
}

/* keys/master records the digest of the config it was made with: a config
 * changed since is told apart from a wrong passphrase. */
static void repo_config_digest(Repo *repo, const void *data, size_t len)
{
    CodecHash *h = codec_hash_new();

    codec_hash_update(h, data, len);
    codec_hash_final(h, repo->config_digest); /* frees h */
}

static bool repo_config_read(Repo *repo, Error *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    bool exists = false;
    bool ok;

    if (!storage_exists(repo->st, REPO_CONFIG_KEY, &exists, NULL, err))
        return false;
    if (!exists)
    {
        error_set(err, ERR_FAILURE, "\"%s\" is not a coffer repository (it has no \"config\")",
                  storage_location(repo->st));
        return error_hint(err, "run \"coffer init\" to create a repository there");
    }
    if (!storage_get(repo->st, REPO_CONFIG_KEY, &data, &len, err))
        return false;
    repo_config_digest(repo, data, len);
    ok = repo_config_parse(repo, data, len, err);
    free(data);
    return ok;
}

bool repo_probe(Storage *st, bool *encrypted, char id_out[65], Error *err)
{
    Repo *tmp = repo_alloc(st);
    bool ok = repo_config_read(tmp, err);

    *encrypted = tmp->encrypted;
    if (id_out != NULL)
        snprintf(id_out, 65, "%s", tmp->id);
    repo_release(tmp);
    return ok;
}

bool repo_init(Storage *st, const char *passphrase, const RepoInitOptions *opts, Error *err)
{
    const char *loc = storage_location(st);
    Repo *repo;
    json_t *doc = NULL;
    char *text = NULL;
    bool exists = false;
    bool ok = false;

    if (!storage_exists(st, REPO_CONFIG_KEY, &exists, NULL, err))
        return false;
    if (exists)
    {
        error_set(err, ERR_FAILURE, "repository \"%s\" already exists", loc);
        return error_hint(err, "use another path, or remove the old repository first");
    }
    repo = repo_alloc(st);
    repo->encrypted = opts->encryption;
    repo->compression = opts->compression == 0 ? 3 : opts->compression;
    repo->chunker = opts->chunker.avg_size == 0 ? chunker_default_params() : opts->chunker;
    repo->pack_size = opts->pack_size == 0 ? REPO_DEFAULT_PACK_SIZE : opts->pack_size;
    repo_random_id(repo->id);
    if (repo->compression < 1 || repo->compression > 22)
    {
        error_set(err, ERR_USAGE, "invalid compression level %d (1 to 22)", repo->compression);
        goto done;
    }
    if (!chunker_params_valid(&repo->chunker, err))
        goto done;
    if (repo->pack_size < REPO_MIN_PACK_SIZE || repo->pack_size > REPO_MAX_PACK_SIZE)
    {
        error_set(err, ERR_USAGE, "invalid pack size %" PRIu32 " (64 KiB to 1 GiB)",
                  repo->pack_size);
        goto done;
    }
    if (repo->encrypted && (passphrase == NULL || passphrase[0] == '\0'))
    {
        error_set(err, ERR_USAGE, "an encrypted repository needs a passphrase");
        goto done;
    }
    doc = json_pack("{s:i, s:s, s:s, s:i, s:{s:i, s:i, s:i}, s:i}", "format", REPO_FORMAT_VERSION,
                    "id", repo->id, "encryption", repo->encrypted ? "aes-256-gcm" : "none",
                    "compression", repo->compression, "chunker", "min", (int)repo->chunker.min_size,
                    "avg", (int)repo->chunker.avg_size, "max", (int)repo->chunker.max_size,
                    "pack_size", (int)repo->pack_size);
    text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    repo_config_digest(repo, text, strlen(text));
    ok = repo_master_create(repo, passphrase, opts->kdf, err) &&
         storage_put(st, REPO_CONFIG_KEY, text, strlen(text), err);
    if (ok)
    {
        repo_reserve_ensure(repo);
        log_debug("created repository \"%s\" (id %s)", loc, repo->id);
    }
done:
    if (!ok)
        error_prefix(err, "could not create repository \"%s\"", loc);
    json_decref(doc);
    free(text);
    repo_release(repo);
    return ok;
}

Repo *repo_open_ex(Storage *st, const char *passphrase, unsigned flags, Error *err)
{
    Repo *repo = repo_alloc(st);

    repo->flags = flags;
    if (!repo_config_read(repo, err) || !repo_master_load(repo, passphrase, err) ||
        !repo_keys_scan(repo, err) || !repo_index_load(repo, err))
    {
        repo_close(repo);
        return NULL;
    }
    log_debug("opened repository \"%s\" (id %s)", storage_location(st), repo->id);
    return repo;
}

Repo *repo_open(Storage *st, const char *passphrase, Error *err)
{
    return repo_open_ex(st, passphrase, 0, err);
}

Storage *repo_storage(Repo *repo)
{
    return repo->st;
}

int repo_compression(const Repo *repo)
{
    return repo->compression;
}

bool repo_encrypted(const Repo *repo)
{
    return repo->encrypted;
}

const char *repo_id(const Repo *repo)
{
    return repo->id;
}

const char *repo_location(const Repo *repo)
{
    return storage_location(repo->st);
}
