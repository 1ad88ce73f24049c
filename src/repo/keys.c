/*
 * keys.c - the master key (wrapped by the passphrase through scrypt) and the
 * per-owner data and id keys (wrapped by the master key), with the owner
 * cache and key destruction for erasure.
 *
 * Owner ids come from the master id key, so finding an owner's keys needs
 * no lookup table: one listing of keys/ at open tells which generations
 * exist, and a new owner costs one extra listing and one write.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define REPO_MASTER_AAD "coffer master key "

static void repo_ownerid(const Repo *repo, const char *name, unsigned char out[REPO_OWNERID_LEN]);

/* Reads the scrypt costs of "keys/master" into params. Anyone who can write
 * the repository can edit them, so costs above coffer's limits are refused
 * here, before any CPU or memory is spent on them. */
static bool repo_kdf_read(const json_t *kdf, const char *loc, KdfParams *params, Error *err)
{
    static const struct
    {
        const char *key, *name;
        uint64_t max;
    } costs[] = {{"n", "N", CODEC_KDF_MAX_N}, {"r", "r", CODEC_KDF_MAX_R}, {"p", "p", CODEC_KDF_MAX_P}};
    uint64_t v[3];

    for (size_t i = 0; i < 3; i++)
    {
        json_t *j = json_object_get(kdf, costs[i].key);

        if (!json_is_integer(j) || json_integer_value(j) < 1)
            return error_set(err, ERR_FAILURE,
                             "repository \"%s\": master key \"keys/master\" has a damaged scrypt "
                             "parameter %s",
                             loc, costs[i].name);
        v[i] = (uint64_t)json_integer_value(j);
        if (v[i] > costs[i].max)
        {
            error_set(err, ERR_FAILURE,
                      "repository \"%s\": master key \"keys/master\" asks for scrypt %s=%" PRIu64
                      ", more than coffer allows",
                      loc, costs[i].name, v[i]);
            return error_detail(err, "coffer allows at most N=%" PRIu64 ", r=%d and p=%d",
                                CODEC_KDF_MAX_N, CODEC_KDF_MAX_R, CODEC_KDF_MAX_P);
        }
    }
    params->n = v[0];
    params->r = (uint32_t)v[1];
    params->p = (uint32_t)v[2];
    return true;
}

static void repo_master_aad(const Repo *repo, Buf *aad)
{
    buf_reset(aad);
    buf_append_str(aad, REPO_MASTER_AAD);
    buf_append_str(aad, repo->id);
}

bool repo_master_create(Repo *repo, const char *passphrase, const KdfParams *kdf, Error *err)
{
    unsigned char master[REPO_MASTER_LEN];
    unsigned char wrap[CODEC_KEY_LEN] = {0};
    KdfParams params;
    Buf aad, sealed;
    json_t *doc = NULL;
    char *text = NULL;
    char *hex = NULL;
    char salt[65];
    bool ok = false;

    buf_init(&aad);
    buf_init(&sealed);
    codec_random(master, sizeof(master));
    memcpy(repo->master_enc, master, CODEC_KEY_LEN);
    memcpy(repo->master_id, master + CODEC_KEY_LEN, CODEC_KEY_LEN);
    if (repo->encrypted)
    {
        if (kdf != NULL)
            params = *kdf;
        else
            codec_kdf_default(&params);
        if (!codec_kdf(passphrase, &params, wrap, err))
            goto done;
    }
    repo_master_aad(repo, &aad);
    if (!repo_seal(repo->encrypted, wrap, aad.data, aad.len, master, sizeof(master), &sealed, err))
        goto done;
    hex = xmalloc(2 * sealed.len + 1);
    hex_encode(sealed.data, sealed.len, hex);
    doc = json_object();
    json_object_set_new(doc, "format", json_integer(REPO_FORMAT_VERSION));
    if (repo->encrypted)
    {
        hex_encode(params.salt, sizeof(params.salt), salt);
        json_object_set_new(doc, "kdf",
                            json_pack("{s:s, s:I, s:I, s:I, s:s}", "name", "scrypt", "n",
                                      (json_int_t)params.n, "r", (json_int_t)params.r, "p",
                                      (json_int_t)params.p, "salt", salt));
    }
    else
        json_object_set_new(doc, "kdf", json_null());
    json_object_set_new(doc, "key", json_string(hex));
    if (repo->config_digest[0] != '\0')
        json_object_set_new(doc, "config", json_string(repo->config_digest));
    text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    ok = storage_put(repo->st, "keys/master", text, strlen(text), err);
done:
    mem_wipe(master, sizeof(master));
    mem_wipe(wrap, sizeof(wrap));
    buf_free(&aad);
    buf_free(&sealed);
    json_decref(doc);
    free(text);
    free(hex);
    return ok;
}

bool repo_master_load(Repo *repo, const char *passphrase, Error *err)
{
    const char *loc = storage_location(repo->st);
    unsigned char wrap[CODEC_KEY_LEN] = {0};
    unsigned char *data = NULL;
    unsigned char *sealed = NULL;
    size_t len = 0, slen;
    json_t *doc = NULL, *kdf, *key;
    json_error_t jerr;
    Buf aad, master;
    bool ok = false;

    buf_init(&aad);
    buf_init(&master);
    if (!repo_get(repo, "keys/master", "master key", &data, &len, err))
    {
        error_prefix(err, "repository \"%s\"", loc);
        goto done;
    }
    doc = json_loadb((const char *)data, len, 0, &jerr);
    if (doc == NULL || !json_is_object(doc))
    {
        error_set(err, ERR_FAILURE, "repository \"%s\": master key \"keys/master\" is damaged: %s",
                  loc, doc == NULL ? jerr.text : "not a JSON object");
        goto done;
    }
    if (json_integer_value(json_object_get(doc, "format")) != REPO_FORMAT_VERSION)
    {
        error_set(err, ERR_FAILURE,
                  "repository \"%s\": master key \"keys/master\" has unknown format version "
                  "%" JSON_INTEGER_FORMAT,
                  loc, json_integer_value(json_object_get(doc, "format")));
        error_hint(err, "upgrade coffer to read this repository");
        goto done;
    }
    if (json_is_string(json_object_get(doc, "config")) && repo->config_digest[0] != '\0' &&
        strcmp(json_string_value(json_object_get(doc, "config")), repo->config_digest) != 0)
    {
        error_set(err, ERR_FAILURE,
                  "repository \"%s\": its \"config\" was changed or damaged since the "
                  "repository was made (it no longer matches \"keys/master\")",
                  loc);
        error_hint(err, "put back \"config\" from a copy of the repository; the passphrase is "
                        "not what is wrong");
        goto done;
    }
    kdf = json_object_get(doc, "kdf");
    key = json_object_get(doc, "key");
    if (!json_is_string(key) || json_string_length(key) % 2 != 0 ||
        (repo->encrypted && !json_is_object(kdf)))
    {
        error_set(err, ERR_FAILURE, "repository \"%s\": master key \"keys/master\" is damaged",
                  loc);
        goto done;
    }
    slen = json_string_length(key) / 2;
    sealed = xmalloc(slen + 1);
    if (hex_decode(json_string_value(key), sealed, slen) != 0)
    {
        error_set(err, ERR_FAILURE, "repository \"%s\": master key \"keys/master\" is damaged",
                  loc);
        goto done;
    }
    if (repo->encrypted)
    {
        KdfParams params;
        json_t *salt = json_object_get(kdf, "salt");

        if (passphrase == NULL)
        {
            error_set(err, ERR_FAILURE,
                      "repository \"%s\" is encrypted and no passphrase was given", loc);
            error_hint(err, "set COFFER_PASSPHRASE or repository.passphrase_file");
            goto done;
        }
        memset(&params, 0, sizeof(params));
        if (!repo_kdf_read(kdf, loc, &params, err))
            goto done;
        if (!json_is_string(salt) || json_string_length(salt) != 2 * sizeof(params.salt) ||
            hex_decode(json_string_value(salt), params.salt, sizeof(params.salt)) != 0)
        {
            error_set(err, ERR_FAILURE,
                      "repository \"%s\": master key \"keys/master\" has a damaged salt", loc);
            goto done;
        }
        if (!codec_kdf(passphrase, &params, wrap, err))
        {
            error_prefix(err, "repository \"%s\": master key \"keys/master\"", loc);
            goto done;
        }
    }
    repo_master_aad(repo, &aad);
    if (!repo_unseal(repo->encrypted, wrap, aad.data, aad.len, sealed, slen, &master, err) ||
        master.len != REPO_MASTER_LEN)
    {
        if (repo->encrypted)
        {
            error_set(err, ERR_FAILURE, "wrong passphrase for repository \"%s\"", loc);
            error_detail(err, "the master key could not be unwrapped (or \"keys/master\" is "
                              "damaged)");
        }
        else
            error_set(err, ERR_FAILURE, "repository \"%s\": master key \"keys/master\" is damaged",
                      loc);
        goto done;
    }
    memcpy(repo->master_enc, master.data, CODEC_KEY_LEN);
    memcpy(repo->master_id, master.data + CODEC_KEY_LEN, CODEC_KEY_LEN);
    ok = true;
done:
    if (master.data != NULL)
        mem_wipe(master.data, master.cap);
    mem_wipe(wrap, sizeof(wrap));
    buf_free(&aad);
    buf_free(&master);
    json_decref(doc);
    free(data);
    free(sealed);
    return ok;
}

void repo_kid_str(const unsigned char kid[REPO_KID_LEN], char *out)
{
    hex_encode(kid, REPO_OWNERID_LEN, out);
    out[2 * REPO_OWNERID_LEN] = '-';
    hex_encode(kid + REPO_OWNERID_LEN, REPO_GEN_LEN, out + 2 * REPO_OWNERID_LEN + 1);
}

uint32_t repo_kid_intern(Repo *repo, const unsigned char kid[REPO_KID_LEN])
{
    uint32_t i = repo_table_find(&repo->kids, kid);
    RepoKid k;

    if (i != REPO_NONE)
        return i;
    memset(&k, 0, sizeof(k));
    memcpy(k.kid, kid, REPO_KID_LEN);
    return repo_table_add(&repo->kids, &k);
}

static RepoKeyInfo *repo_keyinfo(Repo *repo, const unsigned char ownerid[REPO_OWNERID_LEN])
{
    uint32_t i = repo_table_find(&repo->keyinfo, ownerid);
    RepoKeyInfo ki;

    if (i == REPO_NONE)
    {
        memset(&ki, 0, sizeof(ki));
        memcpy(ki.ownerid, ownerid, REPO_OWNERID_LEN);
        i = repo_table_add(&repo->keyinfo, &ki);
    }
    return repo_table_at(&repo->keyinfo, i);
}

/* Records one key object name ("keys/<ownerid>-<gen>" or a tombstone). */
static void repo_keys_note(Repo *repo, const char *key)
{
    const char *name = key + 5;
    unsigned char ownerid[REPO_OWNERID_LEN];
    unsigned char gen[REPO_GEN_LEN];
    RepoKeyInfo *ki;

    char part[2 * REPO_OWNERID_LEN + 1];

    if (strncmp(key, "keys/", 5) != 0 || strlen(name) < 2 * REPO_OWNERID_LEN + 2 ||
        name[2 * REPO_OWNERID_LEN] != '-')
        return;
    /* hex_decode wants the digits to end the string */
    memcpy(part, name, 2 * REPO_OWNERID_LEN);
    part[2 * REPO_OWNERID_LEN] = '\0';
    if (hex_decode(part, ownerid, REPO_OWNERID_LEN) != 0)
        return;
    name += 2 * REPO_OWNERID_LEN + 1;
    if (strcmp(name, "destroyed") == 0)
    {
        repo_keyinfo(repo, ownerid)->destroyed = true;
        return;
    }
    if (strlen(name) != 2 * REPO_GEN_LEN || hex_decode(name, gen, REPO_GEN_LEN) != 0)
        return;
    ki = repo_keyinfo(repo, ownerid);
    /* every process picks the smallest generation, so they converge */
    if (!ki->has_gen || memcmp(gen, ki->gen, REPO_GEN_LEN) < 0)
        memcpy(ki->gen, gen, REPO_GEN_LEN);
    ki->has_gen = true;
}

bool repo_keys_scan(Repo *repo, Error *err)
{
    StorageList list;

    if (!storage_list(repo->st, "keys/", &list, err))
        return false;
    for (size_t i = 0; i < list.count; i++)
        repo_keys_note(repo, list.items[i].key);
    storage_list_free(&list);
    return true;
}

/* Reads keys/<kid> into a new, unregistered owner. Needs no lock (it only
 * reads storage and the immutable master key), so that workers fetching
 * the keys of different owners do not wait for each other. expect_name may
 * be NULL. */
static RepoOwner *repo_owner_fetch(Repo *repo, const unsigned char kid[REPO_KID_LEN],
                                   const char *expect_name, Error *err)
{
    RepoOwner *o = xcalloc(1, sizeof(*o));
    char key[96];
    Buf body;
    json_t *doc = NULL, *name, *dk, *ik;
    json_error_t jerr;

    buf_init(&body);
    memcpy(o->kid, kid, REPO_KID_LEN);
    repo_kid_str(kid, o->kid_str);
    snprintf(key, sizeof(key), "keys/%s", o->kid_str);
    if (!repo_object_get(repo, key, "CFRK", "owner key", &body, err))
        goto fail;
    doc = json_loadb((const char *)body.data, body.len, 0, &jerr);
    name = json_object_get(doc, "name");
    dk = json_object_get(doc, "data_key");
    ik = json_object_get(doc, "id_key");
    if (!json_is_string(name) || !json_is_string(dk) || !json_is_string(ik) ||
        json_string_length(dk) != 2 * CODEC_KEY_LEN ||
        json_string_length(ik) != 2 * CODEC_KEY_LEN ||
        hex_decode(json_string_value(dk), o->data_key, CODEC_KEY_LEN) != 0 ||
        hex_decode(json_string_value(ik), o->id_key, CODEC_KEY_LEN) != 0)
    {
        error_set(err, ERR_FAILURE, "owner key \"%s\" is damaged: %s", key,
                  doc == NULL ? jerr.text : "missing or bad members");
        goto fail;
    }
    if (expect_name != NULL && strcmp(expect_name, json_string_value(name)) != 0)
    {
        error_set(err, ERR_FAILURE, "owner key \"%s\" belongs to another owner", key);
        goto fail;
    }
    o->name = xstrdup(json_string_value(name));
    json_decref(doc);
    if (body.data != NULL)
        mem_wipe(body.data, body.cap);
    buf_free(&body);
    return o;
fail:
    json_decref(doc);
    if (body.data != NULL)
        mem_wipe(body.data, body.cap);
    buf_free(&body);
    mem_wipe(o, sizeof(*o));
    free(o);
    return NULL;
}

bool repo_key_verify(Repo *repo, const char *key, Error *err)
{
    const char *name = key + 5;
    unsigned char kid[REPO_KID_LEN], ownerid[REPO_OWNERID_LEN];
    char part[2 * REPO_OWNERID_LEN + 1];
    RepoOwner *o;
    bool ok;

    if (strncmp(key, "keys/", 5) != 0 || strlen(name) != 2 * REPO_KID_LEN + 1 ||
        name[2 * REPO_OWNERID_LEN] != '-')
        return error_set(err, ERR_FAILURE, "\"%s\" is not the name of an owner key", key);
    memcpy(part, name, 2 * REPO_OWNERID_LEN);
    part[2 * REPO_OWNERID_LEN] = '\0';
    if (hex_decode(part, kid, REPO_OWNERID_LEN) != 0 ||
        hex_decode(name + 2 * REPO_OWNERID_LEN + 1, kid + REPO_OWNERID_LEN, REPO_GEN_LEN) != 0)
        return error_set(err, ERR_FAILURE, "\"%s\" is not the name of an owner key", key);
    /* a fresh read, never the cached owner: the object is what is checked */
    o = repo_owner_fetch(repo, kid, NULL, err);
    if (o == NULL)
        return false;
    /* the owner id is derived from the name inside, so both must agree */
    repo_ownerid(repo, o->name, ownerid);
    ok = memcmp(ownerid, kid, REPO_OWNERID_LEN) == 0;
    if (!ok)
        error_set(err, ERR_FAILURE, "owner key \"%s\" belongs to another owner", key);
    free(o->name);
    mem_wipe(o, sizeof(*o));
    free(o);
    return ok;
}

/* Registers a fetched owner under its kid, or, when another thread got
 * there first, frees it and returns the registered one. Caller holds mu. */
static RepoOwner *repo_owner_register(Repo *repo, RepoOwner *o)
{
    RepoKid *k = repo_table_at(&repo->kids, repo_kid_intern(repo, o->kid));

    if (k->owner != NULL)
    {
        free(o->name);
        mem_wipe(o, sizeof(*o));
        free(o);
        return k->owner;
    }
    repo->owners = xrealloc(repo->owners, (repo->n_owners + 1) * sizeof(RepoOwner *));
    repo->owners[repo->n_owners++] = o;
    k->owner = o;
    return o;
}

/* Writes a new generation of keys for name. Caller holds mu. */
static RepoOwner *repo_owner_create(Repo *repo, const unsigned char ownerid[REPO_OWNERID_LEN],
                                    const char *name, Error *err)
{
    RepoOwner *o = xcalloc(1, sizeof(*o));
    char key[96], dk[65], ik[65], now[40];
    json_t *doc;
    char *text;
    RepoKid *k;
    RepoKeyInfo *ki;
    bool ok;

    memcpy(o->kid, ownerid, REPO_OWNERID_LEN);
    codec_random(o->kid + REPO_OWNERID_LEN, REPO_GEN_LEN);
    repo_kid_str(o->kid, o->kid_str);
    codec_random(o->data_key, CODEC_KEY_LEN);
    codec_random(o->id_key, CODEC_KEY_LEN);
    hex_encode(o->data_key, CODEC_KEY_LEN, dk);
    hex_encode(o->id_key, CODEC_KEY_LEN, ik);
    repo_time_now(now);
    doc = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "data_key", dk, "id_key", ik, "created",
                    now);
    mem_wipe(dk, sizeof(dk));
    mem_wipe(ik, sizeof(ik));
    if (doc == NULL)
    {
        free(o);
        error_set(err, ERR_FAILURE, "owner name is not valid UTF-8");
        return NULL;
    }
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    snprintf(key, sizeof(key), "keys/%s", o->kid_str);
    ok = repo_object_put(repo, key, "CFRK", text, strlen(text), false, err);
    mem_wipe(text, strlen(text));
    free(text);
    if (!ok)
    {
        mem_wipe(o, sizeof(*o));
        free(o);
        return NULL;
    }
    o->name = xstrdup(name);
    repo->owners = xrealloc(repo->owners, (repo->n_owners + 1) * sizeof(RepoOwner *));
    repo->owners[repo->n_owners++] = o;
    k = repo_table_at(&repo->kids, repo_kid_intern(repo, o->kid));
    k->owner = o;
    ki = repo_keyinfo(repo, ownerid);
    memcpy(ki->gen, o->kid + REPO_OWNERID_LEN, REPO_GEN_LEN);
    ki->has_gen = true;
    log_debug("created keys \"%s\" for a new owner", key);
    return o;
}

static void repo_ownerid(const Repo *repo, const char *name, unsigned char out[REPO_OWNERID_LEN])
{
    unsigned char mac[CODEC_ID_LEN];

    codec_mac(repo->master_id, name, strlen(name), mac);
    memcpy(out, mac, REPO_OWNERID_LEN);
}

void repo_owner_id_hex(Repo *repo, const char *name, char out[2 * REPO_OWNERID_LEN + 1])
{
    unsigned char id[REPO_OWNERID_LEN];

    repo_ownerid(repo, name, id);
    hex_encode(id, REPO_OWNERID_LEN, out);
}

const char *repo_owner_kid(const RepoOwner *owner)
{
    return owner->kid_str;
}

static void repo_set_current(Repo *repo, const unsigned char ownerid[REPO_OWNERID_LEN],
                             RepoOwner *o)
{
    uint32_t i = repo_table_find(&repo->current, ownerid);
    RepoCurrent c;

    if (i == REPO_NONE)
    {
        memcpy(c.ownerid, ownerid, REPO_OWNERID_LEN);
        c.owner = o;
        repo_table_add(&repo->current, &c);
    }
    else
        ((RepoCurrent *)repo_table_at(&repo->current, i))->owner = o;
}

RepoOwner *repo_owner_get(Repo *repo, const char *name, bool create, Error *err)
{
    unsigned char ownerid[REPO_OWNERID_LEN];
    unsigned char kid[REPO_KID_LEN];
    RepoOwner *o = NULL;
    RepoKeyInfo *ki;
    uint32_t i;

    if (name == NULL || name[0] == '\0')
    {
        error_set(err, ERR_FAILURE, "owner name is empty");
        return NULL;
    }
    repo_ownerid(repo, name, ownerid);
    pthread_mutex_lock(&repo->mu);
    i = repo_table_find(&repo->current, ownerid);
    if (i != REPO_NONE && ((RepoCurrent *)repo_table_at(&repo->current, i))->owner != NULL)
    {
        o = ((RepoCurrent *)repo_table_at(&repo->current, i))->owner;
        goto done;
    }
    /* keys/ was listed once at open. An owner another process created since
     * then gets a second generation here, which is harmless: every pack
     * names the generation its chunks were sealed with. Listing again per
     * new owner would make a first backup of N tenants cost N listings. */
    ki = repo_keyinfo(repo, ownerid);
    if (ki->has_gen)
    {
        memcpy(kid, ownerid, REPO_OWNERID_LEN);
        memcpy(kid + REPO_OWNERID_LEN, ki->gen, REPO_GEN_LEN);
        i = repo_table_find(&repo->kids, kid);
        if (i != REPO_NONE && ((RepoKid *)repo_table_at(&repo->kids, i))->owner != NULL)
            o = ((RepoKid *)repo_table_at(&repo->kids, i))->owner;
        else
        {
            pthread_mutex_unlock(&repo->mu);
            o = repo_owner_fetch(repo, kid, name, err);
            pthread_mutex_lock(&repo->mu);
            if (o != NULL)
                o = repo_owner_register(repo, o);
        }
        if (o == NULL)
            error_prefix(err, "owner \"%s\"", name);
    }
    else if (!create)
    {
        if (ki->destroyed)
        {
            error_set(err, ERR_FAILURE, "keys of owner \"%s\" were destroyed", name);
            error_detail(err, "the owner's data in repository \"%s\" can no longer be read",
                         storage_location(repo->st));
        }
        else
            error_set(err, ERR_FAILURE, "repository \"%s\" has no owner \"%s\"",
                      storage_location(repo->st), name);
    }
    else
        o = repo_owner_create(repo, ownerid, name, err);
    if (o != NULL)
        repo_set_current(repo, ownerid, o);
done:
    pthread_mutex_unlock(&repo->mu);
    return o;
}

const char *repo_owner_name(const RepoOwner *owner)
{
    return owner->name;
}

void repo_owner_derive(const RepoOwner *owner, const char *label, char out[65])
{
    unsigned char mac[CODEC_ID_LEN];

    codec_mac(owner->id_key, label, strlen(label), mac);
    hex_encode(mac, sizeof(mac), out);
}

RepoOwner *repo_owner_for_kid(Repo *repo, uint32_t kid, Error *err)
{
    RepoOwner *o;
    unsigned char kb[REPO_KID_LEN];
    char ks[64], key[96], tomb[96];
    bool exists = true, destroyed, cached;
    Error e2;

    pthread_mutex_lock(&repo->mu);
    o = ((RepoKid *)repo_table_at(&repo->kids, kid))->owner;
    cached = o != NULL;
    memcpy(kb, ((RepoKid *)repo_table_at(&repo->kids, kid))->kid, REPO_KID_LEN);
    destroyed = repo_keyinfo(repo, kb)->destroyed;
    if (o != NULL && o->destroyed)
    {
        error_set(err, ERR_FAILURE, "keys of owner \"%s\" were destroyed", o->name);
        error_detail(err, "data of an erased owner can no longer be read");
        o = NULL;
    }
    pthread_mutex_unlock(&repo->mu);
    if (cached)
        return o;

    /* first use of this owner: fetch its keys without holding the lock */
    repo_kid_str(kb, ks);
    snprintf(key, sizeof(key), "keys/%s", ks);
    error_clear(&e2);
    if (storage_exists(repo->st, key, &exists, NULL, &e2) && !exists)
    {
        snprintf(tomb, sizeof(tomb), "keys/%.32s-destroyed", ks);
        if (!destroyed)
            storage_exists(repo->st, tomb, &destroyed, NULL, &e2);
        if (destroyed)
        {
            error_set(err, ERR_FAILURE, "keys of owner %.32s were destroyed", ks);
            error_detail(err, "data of an erased owner can no longer be read");
        }
        else
        {
            error_set(err, ERR_FAILURE, "owner key \"%s\" is missing", key);
            error_hint(err, "run \"coffer check\" to list damaged objects");
        }
        return NULL;
    }
    o = repo_owner_fetch(repo, kb, NULL, err);
    if (o == NULL)
        return NULL;
    pthread_mutex_lock(&repo->mu);
    o = repo_owner_register(repo, o);
    pthread_mutex_unlock(&repo->mu);
    return o;
}

bool repo_owner_destroyed_at(Repo *repo, const char *name, char when[40])
{
    char key[96], hex[2 * REPO_OWNERID_LEN + 1];
    unsigned char *data = NULL;
    size_t len = 0;
    json_t *doc;
    Error err;

    when[0] = '\0';
    repo_owner_id_hex(repo, name, hex);
    snprintf(key, sizeof(key), "keys/%s-destroyed", hex);
    error_clear(&err);
    if (!storage_get(repo->st, key, &data, &len, &err))
        return false;
    doc = json_loadb((const char *)data, len, 0, NULL);
    free(data);
    if (json_is_string(json_object_get(doc, "destroyed")))
        snprintf(when, 40, "%s", json_string_value(json_object_get(doc, "destroyed")));
    json_decref(doc);
    return true;
}

bool repo_owner_destroy(Repo *repo, const char *name, Error *err)
{
    unsigned char ownerid[REPO_OWNERID_LEN];
    char prefix[64], tomb[96], now[40], *text;
    StorageList list;
    RepoKeyInfo *ki;
    size_t removed = 0;
    bool ok = false;
    uint32_t i;

    if (name == NULL || name[0] == '\0')
        return error_set(err, ERR_FAILURE, "owner name is empty");
    repo_ownerid(repo, name, ownerid);
    memcpy(prefix, "keys/", 5);
    hex_encode(ownerid, REPO_OWNERID_LEN, prefix + 5);
    snprintf(tomb, sizeof(tomb), "%s-destroyed", prefix);
    pthread_mutex_lock(&repo->mu);
    if (!storage_list(repo->st, prefix, &list, err))
        goto done;
    for (size_t j = 0; j < list.count; j++)
        if (strcmp(list.items[j].key, tomb) != 0)
            removed++;
    if (removed == 0)
    {
        bool was = false;

        for (size_t j = 0; j < list.count; j++)
            was = was || strcmp(list.items[j].key, tomb) == 0;
        storage_list_free(&list);
        if (was)
        {
            log_info("keys of owner \"%s\" were already destroyed", name);
            ok = true;
        }
        else
            error_set(err, ERR_FAILURE, "repository \"%s\" has no owner \"%s\"",
                      storage_location(repo->st), name);
        goto done;
    }
    /* the tombstone first: a crash after it still reads as "destroyed" and
     * a second destroy finishes the job */
    repo_time_now(now);
    text = xasprintf("{\"destroyed\":\"%s\"}\n", now);
    ok = storage_put(repo->st, tomb, text, strlen(text), err);
    free(text);
    for (size_t j = 0; ok && j < list.count; j++)
        if (strcmp(list.items[j].key, tomb) != 0)
            ok = storage_remove(repo->st, list.items[j].key, err);
    storage_list_free(&list);
    if (!ok)
        goto done;
    for (size_t j = 0; j < repo->n_owners; j++)
    {
        RepoOwner *o = repo->owners[j];

        if (memcmp(o->kid, ownerid, REPO_OWNERID_LEN) == 0)
        {
            o->destroyed = true;
            mem_wipe(o->data_key, CODEC_KEY_LEN);
            mem_wipe(o->id_key, CODEC_KEY_LEN);
        }
    }
    i = repo_table_find(&repo->current, ownerid);
    if (i != REPO_NONE)
        ((RepoCurrent *)repo_table_at(&repo->current, i))->owner = NULL;
    ki = repo_keyinfo(repo, ownerid);
    ki->has_gen = false;
    ki->destroyed = true;
    log_info("destroyed the keys of owner \"%s\" (%zu key object%s)", name, removed,
             removed == 1 ? "" : "s");
done:
    pthread_mutex_unlock(&repo->mu);
    return ok;
}

void repo_owners_free(Repo *repo)
{
    for (size_t i = 0; i < repo->n_owners; i++)
    {
        free(repo->owners[i]->name);
        mem_wipe(repo->owners[i], sizeof(RepoOwner));
        free(repo->owners[i]);
    }
    free(repo->owners);
    repo->owners = NULL;
    repo->n_owners = 0;
}
