/*
 * test_keys.c - unit tests for reading the master key: scrypt costs in
 * "keys/master" above coffer's limits are refused on open, with an error
 * naming the object, before any key derivation runs.
 */
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "repo/repo.h"
#include "storage/storage.h"
#include "tap.h"

#define PASS "correct horse battery staple"

static char root[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static bool make_repo(const char *dir, Error *err)
{
    KdfParams k;
    RepoInitOptions o;
    Storage *st = storage_open(dir, true, err);
    bool ok;

    if (st == NULL)
        return false;
    codec_kdf_default(&k);
    k.n = 1024;
    memset(&o, 0, sizeof(o));
    o.encryption = true;
    o.compression = 3;
    o.chunker.min_size = 16 * 1024;
    o.chunker.avg_size = 64 * 1024;
    o.chunker.max_size = 256 * 1024;
    o.kdf = &k;
    ok = repo_init(st, PASS, &o, err);
    storage_free(st);
    return ok;
}

/* Rewrites one scrypt cost in dir's keys/master. */
static bool set_cost(const char *dir, const char *key, json_int_t value)
{
    char *path = xasprintf("%s/keys/master", dir);
    json_t *doc = json_load_file(path, 0, NULL);
    bool ok = doc != NULL &&
              json_object_set_new(json_object_get(doc, "kdf"), key, json_integer(value)) == 0 &&
              json_dump_file(doc, path, JSON_COMPACT) == 0;

    json_decref(doc);
    free(path);
    return ok;
}

/* Opens dir with the passphrase; returns the seconds it took. */
static double try_open(const char *dir, Repo **repo, Error *err)
{
    struct timespec a, b;
    Storage *st = storage_open(dir, false, err);

    clock_gettime(CLOCK_MONOTONIC, &a);
    *repo = st == NULL ? NULL : repo_open(st, PASS, err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static void test_cost(const char *dir, const char *key, json_int_t value, const char *want)
{
    char name[128];
    Error err;
    Repo *repo;
    double secs;

    error_clear(&err);
    snprintf(name, sizeof(name), "%s=%lld", key, (long long)value);
    ok(set_cost(dir, key, value), "keys/master rewritten");
    secs = try_open(dir, &repo, &err);
    ok(repo == NULL, name);
    like(err.message, want, "the error names the cost");
    like(err.message, "master key \"keys/master\"", "the error names the object");
    ok(secs < 1.0, "refused without deriving a key");
    if (repo != NULL)
        repo_close(repo);
}

static void test_limits(void)
{
    char *dir = xasprintf("%s/repo", root);
    Error err;
    Repo *repo;

    error_clear(&err);
    ok(make_repo(dir, &err), "init an encrypted repository");

    test_cost(dir, "p", 100000, "asks for scrypt p=100000, more than coffer allows");
    test_cost(dir, "p", 17, "asks for scrypt p=17, more than coffer allows");
    ok(set_cost(dir, "p", 1), "p put back");
    test_cost(dir, "r", 33, "asks for scrypt r=33, more than coffer allows");
    ok(set_cost(dir, "r", 8), "r put back");
    test_cost(dir, "n", (json_int_t)1 << 21, "asks for scrypt N=2097152, more than coffer allows");
    ok(set_cost(dir, "n", 1024), "N put back");
    /* a cost that would wrap to a small value when narrowed */
    test_cost(dir, "p", ((json_int_t)1 << 32) + 1, "asks for scrypt p=4294967297");
    test_cost(dir, "p", -1, "damaged scrypt parameter p");
    ok(set_cost(dir, "p", 1), "p put back");

    error_clear(&err);
    try_open(dir, &repo, &err);
    ok(repo != NULL, "costs within the limits open");
    if (repo != NULL)
        repo_close(repo);
    free(dir);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(root, sizeof(root), "%s/coffer-test-keys-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL)
    {
        perror("mkdtemp");
        return 1;
    }
    log_set_level(LOG_ERROR);
    test_limits();
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
