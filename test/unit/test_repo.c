/*
 * test_repo.c - unit tests for the repository: init and open, round trips,
 * dedup of shifted data, snapshots, every corruption the issue names, key
 * destruction, locks, prune, and kills at each crash point of a write and a
 * prune (forked children that SIGKILL themselves).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
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

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* COPY-like text: compressible, but with enough variety for CDC to cut. */
static void gen_lines(Buf *b, size_t size, uint64_t seed)
{
    static const char *words[] = {"alpha", "bravo", "charlie", "delta",  "echo", "foxtrot",
                                  "golf",  "hotel", "india",   "juliet", "kilo", "lima"};
    uint64_t n = 0;

    rng_state = seed * 2654435761u + 1;
    while (b->len < size)
    {
        uint64_t r = rng();

        buf_printf(b, "%llu\t%s %s\t%llu\t2024-%02u-%02u\t%08llx\n", (unsigned long long)n++,
                   words[r % 12], words[(r >> 8) % 12], (unsigned long long)(r >> 20) % 100000,
                   (unsigned)((r >> 40) % 12 + 1), (unsigned)((r >> 44) % 28 + 1),
                   (unsigned long long)(rng() & 0xffffffff));
    }
    b->len = size;
}

static void gen_random(Buf *b, size_t size, uint64_t seed)
{
    rng_state = seed * 11400714819323198485ull + 7;
    buf_reserve(b, size);
    for (size_t i = 0; i < size; i++)
        b->data[b->len++] = (unsigned char)(rng() >> 32);
}

static KdfParams cheap_kdf(void)
{
    KdfParams k;

    codec_kdf_default(&k);
    k.n = 1024;
    k.r = 8;
    k.p = 1;
    return k;
}

static char *new_dir(const char *name)
{
    char *p = xasprintf("%s/%s", root, name);

    rm_rf(p);
    return p;
}

static bool make_repo(const char *dir, bool enc, uint32_t pack_size, Error *err)
{
    KdfParams k = cheap_kdf();
    RepoInitOptions o;
    Storage *st = storage_open(dir, true, err);
    bool ok;

    if (st == NULL)
        return false;
    memset(&o, 0, sizeof(o));
    o.encryption = enc;
    o.compression = 3;
    o.chunker.min_size = 16 * 1024; /* test_roundtrip_dedup recomputes cuts with these */
    o.chunker.avg_size = 64 * 1024;
    o.chunker.max_size = 256 * 1024;
    o.pack_size = pack_size;
    o.kdf = &k;
    ok = repo_init(st, enc ? PASS : NULL, &o, err);
    storage_free(st);
    return ok;
}

static Repo *open_repo(const char *dir, const char *pass, Error *err)
{
    Storage *st = storage_open(dir, false, err);

    if (st == NULL)
        return NULL;
    return repo_open(st, pass, err);
}

static Repo *open_tolerant(const char *dir, Error *err)
{
    Storage *st = storage_open(dir, false, err);

    if (st == NULL)
        return NULL;
    return repo_open_ex(st, PASS, REPO_OPEN_TOLERANT, err);
}

/* Stores one stream for owner, flushes and commits the index. */
static json_t *store(Repo *repo, const char *owner_name, const void *data, size_t len,
                     RepoStreamStats *stats, Error *err)
{
    RepoOwner *owner = repo_owner_get(repo, owner_name, true, err);
    RepoWriter *w;
    RepoStream *s;
    json_t *ids = NULL;
    size_t pos = 0;

    if (owner == NULL)
        return NULL;
    w = repo_writer_new(repo);
    s = repo_stream_begin(w, owner, err);
    if (s == NULL)
        goto done;
    /* feed in odd-sized pieces, as a COPY stream would arrive */
    while (pos < len)
    {
        size_t n = len - pos < 70001 ? len - pos : 70001;

        if (!repo_stream_write(s, (const unsigned char *)data + pos, n, err))
        {
            repo_stream_abort(s);
            goto done;
        }
        pos += n;
    }
    ids = repo_stream_end(s, stats, err);
    if (ids != NULL && (!repo_writer_flush(w, err) || !repo_index_commit(repo, err)))
    {
        json_decref(ids);
        ids = NULL;
    }
done:
    repo_writer_free(w);
    return ids;
}

static bool collect(void *arg, const void *data, size_t len, Error *err)
{
    (void)err;
    buf_append(arg, data, len);
    return true;
}

static bool read_back(Repo *repo, json_t *ids, Buf *out, Error *err)
{
    buf_reset(out);
    return repo_read_chunks(repo, ids, collect, out, NULL, err);
}

static bool same(const Buf *a, const void *b, size_t len)
{
    return a->len == len && memcmp(a->data, b, len) == 0;
}

/* Writes a snapshot {"owner": name, "chunks": ids}. */
static bool snap(Repo *repo, const char *owner, json_t *ids, char id[65], Error *err)
{
    json_t *doc = json_pack("{s:s, s:O}", "owner", owner, "chunks", ids);
    bool ok = repo_snapshot_write(repo, doc, id, err);

    json_decref(doc);
    return ok;
}

/* The first pack object under dir (its key into key). */
static bool first_pack(const char *dir, char *key, size_t keylen, uint64_t *size)
{
    Error err;
    Storage *st = storage_open(dir, false, &err);
    StorageList list;
    bool ok;

    if (st == NULL || !storage_list(st, "data/", &list, &err))
    {
        storage_free(st);
        return false;
    }
    ok = list.count > 0;
    if (ok)
    {
        snprintf(key, keylen, "%s", list.items[0].key);
        if (size != NULL)
            *size = list.items[0].size;
    }
    storage_list_free(&list);
    storage_free(st);
    return ok;
}

static int count_objects(const char *dir, const char *prefix)
{
    Error err;
    Storage *st = storage_open(dir, false, &err);
    StorageList list;
    int n;

    if (st == NULL || !storage_list(st, prefix, &list, &err))
    {
        storage_free(st);
        return -1;
    }
    n = (int)list.count;
    storage_list_free(&list);
    storage_free(st);
    return n;
}

/* The first object under prefix, or "" (none). */
static void first_key(const char *dir, const char *prefix, char *key, size_t size)
{
    Error err;
    Storage *st = storage_open(dir, false, &err);
    StorageList list;

    key[0] = '\0';
    error_clear(&err);
    if (st != NULL && storage_list(st, prefix, &list, &err))
    {
        if (list.count > 0)
            snprintf(key, size, "%s", list.items[0].key);
        storage_list_free(&list);
    }
    storage_free(st);
}

static void flip_byte(const char *dir, const char *key, long offset)
{
    char *path = xasprintf("%s/%s", dir, key);
    int fd = open(path, O_RDWR);
    unsigned char c;

    if (fd >= 0 && pread(fd, &c, 1, offset) == 1)
    {
        c ^= 0x5a;
        if (pwrite(fd, &c, 1, offset) != 1)
            perror("pwrite");
    }
    if (fd >= 0)
        close(fd);
    free(path);
}

static void truncate_obj(const char *dir, const char *key, long size)
{
    char *path = xasprintf("%s/%s", dir, key);

    if (truncate(path, size) != 0)
        perror("truncate");
    free(path);
}

static void remove_obj(const char *dir, const char *key)
{
    char *path = xasprintf("%s/%s", dir, key);

    unlink(path);
    free(path);
}

static bool check(Repo *repo, bool read_data, RepoCheckReport *r, Error *err)
{
    RepoCheckOptions o = {read_data, 100};
    bool ok = repo_check(repo, &o, r, err);

    json_decref(r->problems); /* the messages; these tests read the counts */
    r->problems = NULL;
    return ok;
}

/* ---------------------------------------------------------------------- */

static void test_init_open(void)
{
    char *dir = new_dir("init");
    char *file = xasprintf("%s/plainfile", root);
    Error err;
    Repo *repo;
    Storage *st;
    bool enc;
    char id[65];
    FILE *f;

    error_clear(&err);
    ok(make_repo(dir, true, 0, &err), "init creates an encrypted repository");
    ok(!make_repo(dir, true, 0, &err), "second init refuses");
    like(err.message, "already exists", "second init says the repository already exists");
    is_int(err.code, ERR_FAILURE, "second init is a failure (exit 1)");

    repo = open_repo(dir, PASS, &err);
    ok(repo != NULL, "open with the right passphrase");
    if (repo != NULL)
    {
        ok(repo_encrypted(repo), "repository is encrypted");
        is_int(repo_compression(repo), 3, "compression level kept");
        is_int((int)strlen(repo_id(repo)), 64, "repository id has 64 hex digits");
        repo_close(repo);
    }
    error_clear(&err);
    repo = open_repo(dir, "not the passphrase", &err);
    ok(repo == NULL, "open with a wrong passphrase fails");
    like(err.message, "wrong passphrase for repository", "wrong passphrase: clear error");
    like(err.message, dir, "wrong passphrase: names the repository");
    is_int(err.code, ERR_FAILURE, "wrong passphrase: exit 1");

    error_clear(&err);
    repo = open_repo(dir, NULL, &err);
    ok(repo == NULL && strstr(err.message, "no passphrase") != NULL,
       "open of an encrypted repository without passphrase says so");

    st = storage_open(dir, false, &err);
    ok(st != NULL && repo_probe(st, &enc, id, &err) && enc && strlen(id) == 64,
       "probe reads encryption and id without the passphrase");
    storage_free(st);

    /* a file where the repository should be */
    f = fopen(file, "w");
    if (f != NULL)
        fclose(f);
    error_clear(&err);
    ok(!make_repo(file, true, 0, &err), "init on a file fails");
    like(err.message, "is not a directory", "init on a file: clear error");

    /* a directory that is not a repository */
    {
        char *empty = new_dir("empty");

        mkdir(empty, 0700);
        error_clear(&err);
        repo = open_repo(empty, PASS, &err);
        ok(repo == NULL, "open of a non-repository fails");
        like(err.message, "is not a coffer repository", "non-repository: clear error");
        free(empty);
    }
    /* not writable (only meaningful when not root) */
    if (geteuid() != 0)
    {
        char *ro = new_dir("readonly");

        mkdir(ro, 0500);
        error_clear(&err);
        ok(!make_repo(ro, true, 0, &err), "init in a read-only directory fails");
        like(err.message, "not writable", "read-only: clear error");
        chmod(ro, 0700);
        free(ro);
    }
    free(file);
    free(dir);
}

static void test_roundtrip_dedup(void)
{
    char *dir = new_dir("dedup");
    Error err;
    Repo *repo;
    Buf data, shifted, rnd, out;
    json_t *a, *b, *c, *r;
    RepoStreamStats s1, s2, s3, s4;
    size_t mid;

    error_clear(&err);
    buf_init(&data);
    buf_init(&shifted);
    buf_init(&rnd);
    buf_init(&out);
    gen_lines(&data, 8 * 1024 * 1024, 1);
    gen_random(&rnd, 3 * 1024 * 1024 + 17, 2);
    ok(make_repo(dir, true, 1024 * 1024, &err), "init for dedup");
    repo = open_repo(dir, PASS, &err);
    if (!ok(repo != NULL, "open for dedup"))
        return;

    a = store(repo, "tenant_a", data.data, data.len, &s1, &err);
    ok(a != NULL, "store 8 MiB stream");
    ok(s1.chunks > 50 && s1.chunks_new == s1.chunks, "first store: every chunk is new");
    is_int((long long)s1.bytes_in, (long long)data.len, "bytes_in counted");
    ok(s1.bytes_stored < data.len / 2, "text compresses");
    ok(read_back(repo, a, &out, &err) && same(&out, data.data, data.len),
       "read back is byte-equal");
    {
        /* the content hash: SHA-256 over the chunks' SHA-256 digests, in
         * order; recomputed here from the chunker's cut points */
        ChunkerParams cp = {.min_size = 16 * 1024, .avg_size = 64 * 1024, .max_size = 256 * 1024};
        CodecHash *h = codec_hash_new();
        unsigned char zero[CODEC_KEY_LEN] = {0};
        char want[65], got[65] = "";
        size_t off = 0;

        buf_reset(&out);
        ok(repo_read_chunks(repo, a, collect, &out, got, &err), "read back with its content hash");
        is_str(got, s1.hash, "the hash read back is the one the store recorded");
        while (off < data.len)
        {
            size_t n = chunker_find_cut(&cp, (const unsigned char *)data.data + off, data.len - off);
            unsigned char id[CODEC_ID_LEN], digest[CODEC_DIGEST_LEN];

            codec_chunk_id(zero, data.data + off, n, id, digest);
            codec_hash_update(h, digest, sizeof(digest));
            off += n;
        }
        codec_hash_final(h, want);
        is_str(s1.hash, want, "the content hash is SHA-256 over the chunks' digests");
    }

    b = store(repo, "tenant_a", data.data, data.len, &s2, &err);
    ok(b != NULL && json_equal(a, b), "same stream again: same chunk ids");
    is_str(s2.hash, s1.hash, "same stream again: same content hash");
    is_int((long long)s2.chunks_new, 0, "same stream again: no new chunk");
    is_int((long long)s2.bytes_stored, 0, "same stream again: no bytes stored");

    /* a few bytes inserted in the middle */
    mid = data.len / 2 + 12345;
    buf_append(&shifted, data.data, mid);
    buf_append_str(&shifted, "INSERTED\tROW\n");
    buf_append(&shifted, data.data + mid, data.len - mid);
    c = store(repo, "tenant_a", shifted.data, shifted.len, &s3, &err);
    ok(c != NULL, "store shifted stream");
    ok(s3.chunks_new >= 1 && s3.chunks_new <= 2, "insert in the middle re-stores 1-2 chunks");
    printf("# shifted stream: %llu of %llu chunks new\n", (unsigned long long)s3.chunks_new,
           (unsigned long long)s3.chunks);
    ok(read_back(repo, c, &out, &err) && same(&out, shifted.data, shifted.len),
       "shifted stream reads back byte-equal");

    /* another owner does not dedup against tenant_a */
    r = store(repo, "tenant_b", data.data, data.len, &s4, &err);
    ok(r != NULL && s4.chunks_new == s4.chunks, "same data for another owner is stored anew");
    ok(!json_equal(a, r), "chunk ids differ across owners");
    json_decref(r);

    /* incompressible data is stored raw and still round-trips */
    r = store(repo, "shared", rnd.data, rnd.len, &s4, &err);
    ok(r != NULL && read_back(repo, r, &out, &err) && same(&out, rnd.data, rnd.len),
       "random data round-trips");
    ok(s4.bytes_stored >= rnd.len, "random data is stored raw (no shrink)");
    json_decref(r);

    /* empty stream */
    r = store(repo, "shared", "", 0, &s4, &err);
    ok(r != NULL && json_array_size(r) == 0, "empty stream has no chunks");
    ok(r != NULL && read_back(repo, r, &out, &err) && out.len == 0, "empty stream reads empty");
    json_decref(r);
    repo_close(repo);

    /* a new process sees the index: dedup across opens */
    repo = open_repo(dir, PASS, &err);
    ok(repo != NULL, "reopen");
    if (repo != NULL)
    {
        r = store(repo, "tenant_a", data.data, data.len, &s2, &err);
        ok(r != NULL && s2.chunks_new == 0, "after reopen: same stream adds no chunk");
        json_decref(r);
        ok(read_back(repo, c, &out, &err) && same(&out, shifted.data, shifted.len),
           "after reopen: reads back byte-equal");
        {
            RepoCheckReport rep;

            ok(check(repo, true, &rep, &err), "check --read-data is clean");
            is_int((long long)rep.errors, 0, "no errors");
            ok(rep.packs > 1 && rep.packs_read == rep.packs, "every pack was read");
        }
        repo_close(repo);
    }
    json_decref(a);
    json_decref(b);
    json_decref(c);
    buf_free(&data);
    buf_free(&shifted);
    buf_free(&rnd);
    buf_free(&out);
    free(dir);
}

static void test_encryption_none(void)
{
    char *dir = new_dir("none");
    const char *marker = "PLAINTEXT-MARKER-THAT-SHOULD-BE-VISIBLE";
    Error err;
    Repo *repo;
    Buf data, out;
    json_t *ids;
    RepoStreamStats st;
    RepoCheckReport rep;
    char key[160];
    char id[65];

    error_clear(&err);
    buf_init(&data);
    buf_init(&out);
    rng_state = 5;
    gen_random(&data, 100000, 9);
    buf_append_str(&data, marker);
    ok(make_repo(dir, false, 0, &err), "init with encryption none");
    repo = open_repo(dir, NULL, &err);
    if (!ok(repo != NULL, "open without passphrase"))
        return;
    ok(!repo_encrypted(repo), "repository is not encrypted");
    ids = store(repo, "t", data.data, data.len, &st, &err);
    ok(ids != NULL && read_back(repo, ids, &out, &err) && same(&out, data.data, data.len),
       "encryption none round trip");
    ok(snap(repo, "t", ids, id, &err), "snapshot in an unencrypted repository");
    ok(check(repo, true, &rep, &err) && rep.errors == 0, "check --read-data clean (none)");
    if (first_pack(dir, key, sizeof(key), NULL))
    {
        char *path = xasprintf("%s/%s", dir, key);
        unsigned char *buf = NULL;
        size_t len = 0;
        FILE *f = fopen(path, "rb");

        if (f != NULL)
        {
            buf = xmalloc(4 * 1024 * 1024);
            len = fread(buf, 1, 4 * 1024 * 1024, f);
            fclose(f);
        }
        ok(buf != NULL && memmem(buf, len, marker, strlen(marker)) != NULL,
           "encryption none stores plaintext");
        free(buf);
        free(path);
        /* damage is still detected without encryption */
        flip_byte(dir, key, 40);
        error_clear(&err);
        ok(!read_back(repo, ids, &out, &err), "flipped byte in an unencrypted pack fails");
        like(err.message, "checksum mismatch", "unencrypted damage: checksum mismatch");
    }
    json_decref(ids);
    repo_close(repo);
    buf_free(&data);
    buf_free(&out);
    free(dir);
}

static void test_snapshots(void)
{
    char *dir = new_dir("snaps");
    Error err;
    Repo *repo;
    json_t *ids, *list, *doc;
    char id1[65], id2[65], id3[65], prefix[8];
    RepoStreamStats st;

    error_clear(&err);
    ok(make_repo(dir, true, 0, &err), "init for snapshots");
    repo = open_repo(dir, PASS, &err);
    if (!ok(repo != NULL, "open for snapshots"))
        return;
    ids = store(repo, "t", "hello world\n", 12, &st, &err);
    error_clear(&err);
    doc = repo_snapshot_load(repo, "latest", &err);
    ok(doc == NULL && strstr(err.message, "has no snapshots") != NULL,
       "latest of an empty repository is a clear error");
    ok(snap(repo, "one", ids, id1, &err), "write snapshot 1");
    ok(snap(repo, "two", ids, id2, &err), "write snapshot 2");
    ok(snap(repo, "three", ids, id3, &err), "write snapshot 3");
    list = repo_snapshot_list(repo, &err);
    is_int((long long)json_array_size(list), 3, "list has 3 snapshots");
    is_str(json_string_value(json_object_get(json_array_get(list, 0), "owner")), "one",
           "list is oldest first");
    ok(json_object_get(json_array_get(list, 0), "time") != NULL, "time was added");
    json_decref(list);
    doc = repo_snapshot_load(repo, "latest", &err);
    is_str(doc ? json_string_value(json_object_get(doc, "owner")) : NULL, "three",
           "latest is the newest");
    json_decref(doc);
    snprintf(prefix, sizeof(prefix), "%.6s", id2);
    doc = repo_snapshot_load(repo, prefix, &err);
    is_str(doc ? json_string_value(json_object_get(doc, "owner")) : NULL, "two",
           "load by unique prefix");
    json_decref(doc);
    doc = repo_snapshot_load(repo, id1, &err);
    ok(doc != NULL && json_equal(json_object_get(doc, "chunks"), ids), "load by full id");
    json_decref(doc);
    error_clear(&err);
    doc = repo_snapshot_load(repo, "abc", &err);
    ok(doc == NULL && strstr(err.message, "invalid snapshot id") != NULL,
       "too short a prefix is refused");
    error_clear(&err);
    doc = repo_snapshot_load(
        repo, "0000000000000000000000000000000000000000000000000000000000000000", &err);
    ok(doc == NULL && strstr(err.message, "no snapshot") != NULL, "unknown id is a clear error");
    /* two ids with a common prefix: ambiguous */
    {
        json_t *d1 =
            json_pack("{s:s, s:[]}", "id",
                      "abcd000000000000000000000000000000000000000000000000000000000001", "chunks");
        json_t *d2 =
            json_pack("{s:s, s:[]}", "id",
                      "abcd000000000000000000000000000000000000000000000000000000000002", "chunks");

        ok(repo_snapshot_write(repo, d1, NULL, &err) && repo_snapshot_write(repo, d2, NULL, &err),
           "write two snapshots with given ids");
        error_clear(&err);
        doc = repo_snapshot_load(repo, "abcd", &err);
        ok(doc == NULL && strstr(err.message, "ambiguous") != NULL, "ambiguous prefix is an error");
        json_decref(d1);
        json_decref(d2);
    }
    ok(repo_snapshot_forget(repo, id2, &err), "forget snapshot 2");
    list = repo_snapshot_list(repo, &err);
    is_int((long long)json_array_size(list), 4, "forgotten snapshot is gone");
    json_decref(list);
    error_clear(&err);
    doc = repo_snapshot_load(repo, id2, &err);
    ok(doc == NULL, "forgotten snapshot cannot be loaded");
    json_decref(ids);
    repo_close(repo);
    free(dir);
}

/* A repository with two owners, one snapshot each, for the corruption tests. */
static bool corrupt_setup(const char *dir, json_t **ids, Buf *data)
{
    Error err;
    Repo *repo;
    RepoStreamStats st;
    char id[65];
    bool okk;

    error_clear(&err);
    buf_reset(data);
    gen_lines(data, 600 * 1024, 3);
    if (!make_repo(dir, true, 0, &err))
        return false;
    repo = open_repo(dir, PASS, &err);
    if (repo == NULL)
        return false;
    *ids = store(repo, "victim", data->data, data->len, &st, &err);
    okk = *ids != NULL && snap(repo, "victim", *ids, id, &err);
    repo_close(repo);
    if (!okk)
        printf("# setup failed: %s\n", err.message);
    return okk;
}

static void test_corruption(void)
{
    Error err;
    Repo *repo;
    Buf data, out;
    json_t *ids = NULL;
    RepoCheckReport rep;
    char key[160];
    uint64_t size = 0;
    char *dir;

    buf_init(&data);
    buf_init(&out);

    /* flipped byte in a pack */
    dir = new_dir("flip");
    ok(corrupt_setup(dir, &ids, &data) && first_pack(dir, key, sizeof(key), &size),
       "setup for flipped byte");
    flip_byte(dir, key, 100);
    error_clear(&err);
    repo = open_repo(dir, PASS, &err);
    ok(repo != NULL, "open with a damaged pack works");
    if (repo != NULL)
    {
        ok(!read_back(repo, ids, &out, &err), "reading a flipped chunk fails");
        like(err.message, key, "flipped: error names the pack");
        like(err.message, "authentication failed", "flipped: says authentication failed");
        ok(check(repo, false, &rep, &err), "structural check does not read data");
        error_clear(&err);
        ok(!check(repo, true, &rep, &err), "check --read-data finds the flipped byte");
        ok(rep.errors >= 1, "flipped: at least one error counted");
        like(err.message, "has 1 error", "check error says how many errors");
        repo_close(repo);
    }
    json_decref(ids);
    free(dir);

    /* flipped byte in the pack header */
    dir = new_dir("fliphdr");
    ok(corrupt_setup(dir, &ids, &data) && first_pack(dir, key, sizeof(key), &size),
       "setup for flipped header");
    flip_byte(dir, key, (long)size - 20);
    repo = open_repo(dir, PASS, &err);
    if (repo != NULL)
    {
        error_clear(&err);
        ok(!check(repo, true, &rep, &err), "check --read-data finds a damaged header");
        repo_close(repo);
    }
    json_decref(ids);
    free(dir);

    /* truncated pack */
    dir = new_dir("trunc");
    ok(corrupt_setup(dir, &ids, &data) && first_pack(dir, key, sizeof(key), &size),
       "setup for truncated pack");
    truncate_obj(dir, key, 1000);
    repo = open_repo(dir, PASS, &err);
    if (repo != NULL)
    {
        error_clear(&err);
        ok(!read_back(repo, ids, &out, &err), "reading a truncated pack fails");
        like(err.message, "truncated", "truncated: says truncated");
        like(err.message, key, "truncated: names the pack");
        error_clear(&err);
        ok(!check(repo, false, &rep, &err), "check finds the truncated pack");
        is_int((long long)rep.errors, 1, "truncated: one error");
        repo_close(repo);
    }
    json_decref(ids);
    free(dir);

    /* missing pack */
    dir = new_dir("missing");
    ok(corrupt_setup(dir, &ids, &data) && first_pack(dir, key, sizeof(key), &size),
       "setup for missing pack");
    remove_obj(dir, key);
    repo = open_repo(dir, PASS, &err);
    if (repo != NULL)
    {
        error_clear(&err);
        ok(!read_back(repo, ids, &out, &err), "reading a missing pack fails");
        like(err.message, "is missing", "missing: says missing");
        like(err.message, key, "missing: names the pack");
        error_clear(&err);
        ok(!check(repo, false, &rep, &err), "check finds the missing pack");
        ok(rep.errors == 1, "missing: one error");
        {
            RepoPruneStats ps;

            error_clear(&err);
            ok(!repo_prune(repo, &ps, &err), "prune refuses on a missing pack in use");
            like(err.message, "missing", "prune says why");
        }
        repo_close(repo);
    }
    json_decref(ids);
    free(dir);

    /* missing index object */
    dir = new_dir("noindex");
    ok(corrupt_setup(dir, &ids, &data), "setup for missing index");
    {
        Storage *st = storage_open(dir, false, &err);
        StorageList list;

        if (st != NULL && storage_list(st, "index/", &list, &err))
        {
            for (size_t i = 0; i < list.count; i++)
                remove_obj(dir, list.items[i].key);
            storage_list_free(&list);
        }
        storage_free(st);
    }
    repo = open_repo(dir, PASS, &err);
    ok(repo != NULL, "open without index objects works");
    if (repo != NULL)
    {
        RepoPruneStats ps;

        error_clear(&err);
        ok(!read_back(repo, ids, &out, &err), "reading with the index missing fails");
        like(err.message, "is not in the index", "missing index: chunk not in the index");
        error_clear(&err);
        ok(!check(repo, false, &rep, &err), "check finds chunks missing from the index");
        ok(rep.errors >= 1 && rep.unreferenced_packs >= 1,
           "missing index: errors and unreferenced packs");
        error_clear(&err);
        ok(!repo_prune(repo, &ps, &err), "prune refuses to delete when the index lacks chunks");
        like(err.message, "missing from the index", "prune says chunks are missing");
        ok(count_objects(dir, "data/") >= 1, "prune deleted no pack");
        {
            uint64_t added = 0, removed = 0;

            error_clear(&err);
            ok(!check(repo, false, &rep, &err) && strstr(err.hint, "--rebuild-index") != NULL,
               "check suggests --rebuild-index for a lost index");
            ok(repo_index_rebuild(repo, &added, &removed, &err) && added >= 1,
               "rebuild indexes the packs from their headers");
            ok(check(repo, true, &rep, &err), "check --read-data clean after the rebuild");
            ok(read_back(repo, ids, &out, &err) && same(&out, data.data, data.len),
               "data reads back after the rebuild");
        }
        repo_close(repo);
    }
    json_decref(ids);
    free(dir);

    /* damaged index object */
    dir = new_dir("badindex");
    ok(corrupt_setup(dir, &ids, &data), "setup for damaged index");
    {
        first_key(dir, "index/", key, sizeof(key));
        flip_byte(dir, key, 30);
    }
    error_clear(&err);
    repo = open_repo(dir, PASS, &err);
    ok(repo == NULL, "open with a damaged index object fails");
    like(err.message, key, "damaged index: names the object");
    like(err.message, "authentication failed", "damaged index: authentication failed");
    repo = open_tolerant(dir, &err);
    ok(repo != NULL, "tolerant open (check) works");
    if (repo != NULL)
    {
        error_clear(&err);
        ok(!check(repo, false, &rep, &err) && rep.errors >= 2,
           "check reports the damaged index and its consequences");
        {
            uint64_t added = 0, removed = 0;

            ok(repo_index_rebuild(repo, &added, &removed, &err) && added >= 1 && removed == 1,
               "rebuild re-indexes the packs and removes the damaged index object");
            ok(check(repo, true, &rep, &err), "check --read-data clean after the rebuild");
        }
        repo_close(repo);
        repo = open_repo(dir, PASS, &err);
        ok(repo != NULL && read_back(repo, ids, &out, &err) && same(&out, data.data, data.len),
           "after the rebuild a normal open works and the data reads back");
        repo_close(repo);
    }
    json_decref(ids);
    free(dir);

    /* an index object whose version field alone was damaged: it says so,
     * rather than asking for a newer coffer */
    dir = new_dir("badversion");
    ok(corrupt_setup(dir, &ids, &data), "setup for a damaged version field");
    {
        char *path;
        int fd;
        unsigned char v = REPO_FORMAT_VERSION + 1;

        first_key(dir, "index/", key, sizeof(key));
        path = xasprintf("%s/%s", dir, key);
        fd = open(path, O_RDWR);
        if (fd < 0 || pwrite(fd, &v, 1, 4) != 1)
            perror("pwrite");
        if (fd >= 0)
            close(fd);
        free(path);
    }
    error_clear(&err);
    repo = open_repo(dir, PASS, &err);
    ok(repo == NULL, "open with a damaged version field fails");
    like(err.message, "is damaged: its format version field reads", "  ... and says it is damaged");
    ok(strstr(err.hint, "upgrade") == NULL, "  ... not that coffer is too old");
    repo_close(repo);
    json_decref(ids);
    free(dir);

    /* an unknown (newer) and an older format version */
    for (int v = 0; v < 2; v++)
    {
        const char digit = v == 0 ? '7' : '1';
        char *path;
        FILE *f;
        char buf[4096];
        size_t n;
        char *p;

        dir = new_dir(v == 0 ? "version-new" : "version-old");
        ok(corrupt_setup(dir, &ids, &data), v == 0 ? "setup for a newer format" : "setup for an older format");
        path = xasprintf("%s/config", dir);
        f = fopen(path, "r");
        n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f != NULL)
            fclose(f);
        buf[n] = '\0';
        p = strstr(buf, "\"format\": 3");
        ok(p != NULL, "the config names format 3");
        if (p != NULL)
            p[10] = digit;
        f = fopen(path, "w");
        if (f != NULL)
        {
            fputs(buf, f);
            fclose(f);
        }
        free(path);
        error_clear(&err);
        repo = open_repo(dir, PASS, &err);
        ok(repo == NULL, v == 0 ? "open of a newer format fails" : "open of an older format fails");
        if (v == 0)
        {
            like(err.message, "unknown format version 7", "format version: names the version");
            like(err.hint, "upgrade", "format version: hint to upgrade");
        }
        else
        {
            like(err.message, "the older format version 1", "older format: names the version");
            like(err.hint, "coffer init", "older format: hint to start a new repository");
        }
        json_decref(ids);
        free(dir);
    }

    /* a snapshot object with a flipped byte */
    dir = new_dir("badsnap");
    ok(corrupt_setup(dir, &ids, &data), "setup for damaged snapshot");
    {
        Storage *st = storage_open(dir, false, &err);
        StorageList list;

        key[0] = '\0';
        if (st != NULL && storage_list(st, "snapshots/", &list, &err))
        {
            if (list.count > 0)
                snprintf(key, sizeof(key), "%s", list.items[0].key);
            storage_list_free(&list);
        }
        storage_free(st);
        flip_byte(dir, key, 40);
    }
    repo = open_repo(dir, PASS, &err);
    if (repo != NULL)
    {
        json_t *doc;

        error_clear(&err);
        doc = repo_snapshot_load(repo, "latest", &err);
        ok(doc == NULL, "loading a damaged snapshot fails");
        like(err.message, key, "damaged snapshot: names the object");
        error_clear(&err);
        ok(!check(repo, false, &rep, &err) && rep.errors == 1, "check reports the snapshot");
        repo_close(repo);
    }
    json_decref(ids);
    free(dir);

    buf_free(&data);
    buf_free(&out);
}

static void test_destroy(void)
{
    char *dir = new_dir("destroy");
    Error err;
    Repo *repo;
    Buf a, b, out;
    json_t *ia, *ib;
    RepoStreamStats st;
    RepoCheckReport rep;
    char id[65];

    error_clear(&err);
    buf_init(&a);
    buf_init(&b);
    buf_init(&out);
    gen_lines(&a, 300000, 11);
    gen_lines(&b, 300000, 12);
    ok(make_repo(dir, true, 0, &err), "init for destroy");
    repo = open_repo(dir, PASS, &err);
    if (!ok(repo != NULL, "open for destroy"))
        return;
    ia = store(repo, "erase_me", a.data, a.len, &st, &err);
    ib = store(repo, "keep_me", b.data, b.len, &st, &err);
    ok(snap(repo, "erase_me", ia, id, &err) && snap(repo, "keep_me", ib, id, &err),
       "snapshots of two owners");
    ok(repo_owner_destroy(repo, "erase_me", &err), "destroy the keys of one owner");
    error_clear(&err);
    ok(!read_back(repo, ia, &out, &err), "data of the destroyed owner cannot be read");
    like(err.message, "were destroyed", "destroyed: clear error");
    ok(read_back(repo, ib, &out, &err) && same(&out, b.data, b.len), "the other owner still reads");
    error_clear(&err);
    ok(repo_owner_get(repo, "erase_me", false, &err) == NULL &&
           strstr(err.message, "were destroyed") != NULL,
       "looking the destroyed owner up says destroyed");
    repo_close(repo);

    repo = open_repo(dir, PASS, &err);
    if (repo != NULL)
    {
        error_clear(&err);
        ok(!read_back(repo, ia, &out, &err), "after reopen: still unreadable");
        like(err.message, "were destroyed", "after reopen: says destroyed");
        ok(check(repo, false, &rep, &err), "check is clean after erasure (a note, not an error)");
        ok(rep.destroyed_packs >= 1, "check counts packs of destroyed owners");
        ok(check(repo, true, &rep, &err), "check --read-data is clean after erasure");
        /* the same name backed up again gets fresh keys */
        {
            json_t *again = store(repo, "erase_me", a.data, a.len, &st, &err);

            ok(again != NULL && st.chunks_new == st.chunks,
               "a re-created owner stores its data anew");
            ok(again != NULL && read_back(repo, again, &out, &err) && same(&out, a.data, a.len),
               "a re-created owner reads back");
            json_decref(again);
        }
        error_clear(&err);
        ok(!repo_owner_destroy(repo, "nobody", &err) && strstr(err.message, "no owner") != NULL,
           "destroying an unknown owner is an error");
        repo_close(repo);
    }
    json_decref(ia);
    json_decref(ib);
    buf_free(&a);
    buf_free(&b);
    buf_free(&out);
    free(dir);
}

static void test_locks(void)
{
    char *dir = new_dir("locks");
    Error err;
    Repo *repo;
    RepoLock *l1, *l2, *l3;
    int removed = -1;
    pid_t child;

    error_clear(&err);
    ok(make_repo(dir, true, 0, &err), "init for locks");
    repo = open_repo(dir, PASS, &err);
    if (!ok(repo != NULL, "open for locks"))
        return;
    l1 = repo_lock(repo, REPO_LOCK_SHARED, "backup", &err);
    l2 = repo_lock(repo, REPO_LOCK_SHARED, "backup", &err);
    ok(l1 != NULL && l2 != NULL, "two shared locks coexist");
    error_clear(&err);
    l3 = repo_lock(repo, REPO_LOCK_EXCLUSIVE, "prune", &err);
    ok(l3 == NULL, "exclusive conflicts with shared");
    like(err.message, "is locked by process", "conflict names the holder");
    like(err.message, "(backup)", "conflict names the command");
    like(err.hint, "coffer unlock", "conflict hints at coffer unlock");
    is_int(count_objects(dir, "locks/"), 2, "a failed lock leaves nothing behind");
    repo_unlock(l1);
    repo_unlock(l2);
    l3 = repo_lock(repo, REPO_LOCK_EXCLUSIVE, "prune", &err);
    ok(l3 != NULL, "exclusive once the others are gone");
    error_clear(&err);
    l1 = repo_lock(repo, REPO_LOCK_SHARED, "backup", &err);
    ok(l1 == NULL && strstr(err.message, "(prune)") != NULL, "shared conflicts with exclusive");
    repo_unlock(l3);

    /* a lock of a dead process on this host */
    child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    {
        char host[256], *text;
        Storage *st = repo_storage(repo);

        gethostname(host, sizeof(host));
        text = xasprintf("{\"mode\":\"exclusive\",\"host\":\"%s\",\"pid\":%d,\"time\":\"t\","
                         "\"command\":\"prune\"}",
                         host, (int)child);
        ok(storage_put(st, "locks/deadbeef", text, strlen(text), &err), "plant a dead lock");
        free(text);
        l1 = repo_lock(repo, REPO_LOCK_SHARED, "backup", &err);
        ok(l1 != NULL, "a dead same-host lock is broken automatically");
        is_int(count_objects(dir, "locks/"), 1, "only the new lock is left");
        repo_unlock(l1);

        text = xasprintf("{\"mode\":\"exclusive\",\"host\":\"elsewhere.example\",\"pid\":1,"
                         "\"time\":\"t\",\"command\":\"prune\"}");
        ok(storage_put(st, "locks/feedface", text, strlen(text), &err), "plant a remote lock");
        free(text);
        error_clear(&err);
        l1 = repo_lock(repo, REPO_LOCK_SHARED, "backup", &err);
        ok(l1 == NULL && strstr(err.message, "elsewhere.example") != NULL,
           "a remote lock is respected");
        like(err.hint, "--all", "remote lock: hint at unlock --all");
        ok(repo_unlock_stale(repo, false, &removed, NULL, &err) && removed == 0,
           "unlock without --all keeps the remote lock");
        ok(repo_unlock_stale(repo, true, &removed, NULL, &err) && removed == 1,
           "unlock --all removes it");
        is_int(count_objects(dir, "locks/"), 0, "no locks left");
    }
    repo_close(repo);
    free(dir);
}

static void test_prune(void)
{
    char *dir = new_dir("prune");
    Error err;
    Repo *repo;
    Buf d1, d2, d3, out;
    json_t *i1, *i2, *i3;
    RepoStreamStats st;
    RepoPruneStats ps;
    RepoCheckReport rep;
    char s1[65], s2[65], s3[65];
    int packs_before, packs_after;

    error_clear(&err);
    buf_init(&d1);
    buf_init(&d2);
    buf_init(&d3);
    buf_init(&out);
    gen_random(&d1, 900 * 1024, 21); /* one pack each at 1 MiB packs */
    gen_random(&d2, 900 * 1024, 22);
    ok(make_repo(dir, true, 1024 * 1024, &err), "init for prune");
    repo = open_repo(dir, PASS, &err);
    if (!ok(repo != NULL, "open for prune"))
        return;
    i1 = store(repo, "p", d1.data, d1.len, &st, &err);
    ok(i1 && snap(repo, "p", i1, s1, &err), "snapshot 1");
    i2 = store(repo, "p", d2.data, d2.len, &st, &err);
    ok(i2 && snap(repo, "p", i2, s2, &err), "snapshot 2");
    /* d3 = the start of d1 plus new data: once snapshot 1 is gone, d1's
     * first pack is mostly dead but not all */
    buf_append(&d3, d1.data, 250 * 1024);
    gen_random(&d3, 100 * 1024, 23);
    i3 = store(repo, "p", d3.data, d3.len, &st, &err);
    ok(i3 && snap(repo, "p", i3, s3, &err), "snapshot 3");
    ok(repo_prune(repo, &ps, &err), "prune with nothing to do");
    is_int((long long)(ps.packs_deleted + ps.packs_repacked), 0, "nothing deleted");

    /* an unreferenced pack, as a killed backup leaves it */
    {
        RepoWriter *w = repo_writer_new(repo);
        RepoOwner *o = repo_owner_get(repo, "p", true, &err);
        RepoStream *s = repo_stream_begin(w, o, &err);
        Buf junk;
        json_t *ji;

        buf_init(&junk);
        gen_random(&junk, 300 * 1024, 99);
        repo_stream_write(s, junk.data, junk.len, &err);
        ji = repo_stream_end(s, &st, &err);
        ok(repo_writer_flush(w, &err), "write a pack that no index names");
        repo_writer_free(w);
        json_decref(ji);
        buf_free(&junk);
    }
    packs_before = count_objects(dir, "data/");
    repo_close(repo); /* without repo_index_commit: the packs stay unreferenced */
    repo = open_repo(dir, PASS, &err);
    if (!ok(repo != NULL, "reopen"))
        return;
    ok(check(repo, false, &rep, &err) && rep.unreferenced_packs >= 1,
       "check: unreferenced packs are a note, not an error");

    ok(repo_snapshot_forget(repo, s1, &err), "forget snapshot 1");
    ok(repo_prune(repo, &ps, &err), "prune");
    printf("# prune: %llu deleted, %llu repacked, %llu bytes freed\n",
           (unsigned long long)ps.packs_deleted, (unsigned long long)ps.packs_repacked,
           (unsigned long long)ps.bytes_freed);
    ok(ps.packs_deleted >= 1, "prune deleted the unreferenced pack");
    ok(ps.packs_repacked >= 1, "prune repacked a mostly dead pack");
    ok(ps.bytes_freed > 600 * 1024, "prune freed most of snapshot 1's data");
    packs_after = count_objects(dir, "data/");
    ok(packs_after < packs_before, "fewer packs after prune");
    is_int(count_objects(dir, "index/"), 1, "index consolidated into one object");
    ok(check(repo, true, &rep, &err), "check --read-data clean after prune");
    is_int((long long)rep.unreferenced_packs, 0, "no unreferenced packs after prune");
    ok(read_back(repo, i2, &out, &err) && same(&out, d2.data, d2.len), "snapshot 2 still reads");
    ok(read_back(repo, i3, &out, &err) && same(&out, d3.data, d3.len),
       "snapshot 3 (repacked) still reads");
    error_clear(&err);
    ok(!read_back(repo, i1, &out, &err), "forgotten data is gone");
    repo_close(repo);

    /* prune from another process state: open anew and store; dedup still right */
    repo = open_repo(dir, PASS, &err);
    if (repo != NULL)
    {
        json_t *again = store(repo, "p", d2.data, d2.len, &st, &err);

        is_int((long long)st.chunks_new, 0, "after prune: live data still dedups");
        json_decref(again);
        again = store(repo, "p", d1.data, d1.len, &st, &err);
        ok(again != NULL && st.chunks_new > 0 && st.chunks_new < st.chunks,
           "after prune: pruned data is stored anew, live data is not");
        ok(again != NULL && read_back(repo, again, &out, &err) && same(&out, d1.data, d1.len),
           "after prune: re-stored data reads");
        json_decref(again);
        repo_close(repo);
    }
    json_decref(i1);
    json_decref(i2);
    json_decref(i3);
    buf_free(&d1);
    buf_free(&d2);
    buf_free(&d3);
    buf_free(&out);
    free(dir);
}

/* Runs fn in a child with COFFER_CRASH_POINT set; true when it was killed. */
static bool crash_child(const char *point, void (*fn)(const char *), const char *dir)
{
    pid_t pid;
    int status = 0;

    fflush(stdout);
    pid = fork();
    if (pid == 0)
    {
        setenv("COFFER_CRASH_POINT", point, 1);
        log_set_level(LOG_ERROR);
        fn(dir);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

static void child_store(const char *dir)
{
    Error err;
    Repo *repo = open_repo(dir, PASS, &err);
    RepoLock *lock;
    Buf d;
    json_t *ids;
    RepoStreamStats st;
    char id[65];

    if (repo == NULL)
        _exit(3);
    lock = repo_lock(repo, REPO_LOCK_SHARED, "store", &err);
    buf_init(&d);
    gen_random(&d, 700 * 1024, (uint64_t)getpid());
    ids = store(repo, "crash", d.data, d.len, &st, &err);
    if (ids == NULL || !snap(repo, "crash", ids, id, &err))
        _exit(4);
    repo_unlock(lock);
    _exit(0);
}

static void child_prune(const char *dir)
{
    Error err;
    Repo *repo = open_repo(dir, PASS, &err);
    RepoPruneStats ps;

    if (repo == NULL || !repo_prune(repo, &ps, &err))
        _exit(5);
    _exit(0);
}

static void test_crash_points(void)
{
    static const char *store_points[] = {"pack-before-commit", "pack-after-commit",
                                         "index-after-commit", "snapshot-after-write"};
    static const char *prune_points[] = {"prune-after-packs", "prune-after-index",
                                         "prune-index-delete", "prune-pack-delete@2"};
    char *dir = new_dir("crash");
    Error err;
    Repo *repo;
    RepoCheckReport rep;
    char name[128];

    error_clear(&err);
    ok(make_repo(dir, true, 256 * 1024, &err), "init for crash points");
    for (size_t i = 0; i < sizeof(store_points) / sizeof(store_points[0]); i++)
    {
        snprintf(name, sizeof(name), "kill -9 at %s", store_points[i]);
        ok(crash_child(store_points[i], child_store, dir), name);
        repo = open_repo(dir, PASS, &err);
        snprintf(name, sizeof(name), "check clean after kill at %s", store_points[i]);
        ok(repo != NULL && check(repo, true, &rep, &err), name);
        repo_close(repo);
        ok(!crash_child("none", child_store, dir), "the next store works");
    }
    /* give prune work: forget every other snapshot */
    repo = open_repo(dir, PASS, &err);
    if (repo != NULL)
    {
        json_t *list = repo_snapshot_list(repo, &err);

        for (size_t i = 0; list != NULL && i < json_array_size(list); i += 2)
            repo_snapshot_forget(
                repo, json_string_value(json_object_get(json_array_get(list, i), "id")), &err);
        json_decref(list);
        repo_close(repo);
    }
    for (size_t i = 0; i < sizeof(prune_points) / sizeof(prune_points[0]); i++)
    {
        snprintf(name, sizeof(name), "kill -9 at %s", prune_points[i]);
        ok(crash_child(prune_points[i], child_prune, dir), name);
        repo = open_repo(dir, PASS, &err);
        snprintf(name, sizeof(name), "check clean after kill at %s", prune_points[i]);
        ok(repo != NULL && check(repo, true, &rep, &err), name);
        repo_close(repo);
        ok(!crash_child("none", child_store, dir), "a store after the killed prune works");
        repo = open_repo(dir, PASS, &err);
        if (repo != NULL)
        {
            json_t *list = repo_snapshot_list(repo, &err);

            if (list != NULL && json_array_size(list) > 2)
                repo_snapshot_forget(
                    repo, json_string_value(json_object_get(json_array_get(list, 0), "id")), &err);
            json_decref(list);
            repo_close(repo);
        }
    }
    ok(!crash_child("none", child_prune, dir), "a full prune after all the kills works");
    repo = open_repo(dir, PASS, &err);
    ok(repo != NULL && check(repo, true, &rep, &err) && rep.unreferenced_packs == 0 &&
           rep.duplicates == 0,
       "after the final prune: clean, nothing unreferenced, no duplicates");
    /* every remaining snapshot reads */
    if (repo != NULL)
    {
        json_t *list = repo_snapshot_list(repo, &err);
        json_t *doc;
        size_t i;
        Buf out;
        bool all = list != NULL;

        buf_init(&out);
        json_array_foreach (list, i, doc)
            all = all && read_back(repo, json_object_get(doc, "chunks"), &out, &err) &&
                  out.len == 700 * 1024;
        ok(all, "every remaining snapshot reads back whole");
        json_decref(list);
        buf_free(&out);
        repo_close(repo);
    }
    free(dir);
}

typedef struct ThreadJob
{
    Repo *repo;
    const char *owner;
    Buf data;
    json_t *ids;
    RepoStreamStats stats;
    Error err;
} ThreadJob;

/* One worker: its own writer, several streams, flushed at the end. */
static void *thread_store(void *arg)
{
    ThreadJob *j = arg;
    RepoOwner *o = repo_owner_get(j->repo, j->owner, true, &j->err);
    RepoWriter *w;
    RepoStream *s;

    if (o == NULL)
        return NULL;
    w = repo_writer_new(j->repo);
    s = repo_stream_begin(w, o, &j->err);
    if (s != NULL && repo_stream_write(s, j->data.data, j->data.len, &j->err))
        j->ids = repo_stream_end(s, &j->stats, &j->err);
    else
        repo_stream_abort(s);
    if (j->ids != NULL && !repo_writer_flush(w, &j->err))
    {
        json_decref(j->ids);
        j->ids = NULL;
    }
    repo_writer_free(w);
    return NULL;
}

/* Reads a job's stream back and compares it; a mismatch sets the error. */
static void *thread_read(void *arg)
{
    ThreadJob *j = arg;
    Buf out;

    buf_init(&out);
    if (read_back(j->repo, j->ids, &out, &j->err) && !same(&out, j->data.data, j->data.len))
        error_set(&j->err, ERR_FAILURE, "stream of owner %s differs", j->owner);
    buf_free(&out);
    return NULL;
}

static void test_threads(void)
{
    enum
    {
        NT = 6
    };
    static const char *owners[NT] = {"a", "b", "a", "c", "shared", "a"};
    char *dir = new_dir("threads");
    ThreadJob jobs[NT];
    pthread_t th[NT];
    Error err;
    Repo *repo;
    RepoCheckReport rep;
    Buf out;
    bool all = true;

    error_clear(&err);
    buf_init(&out);
    ok(make_repo(dir, true, 512 * 1024, &err), "init for threads");
    repo = open_repo(dir, PASS, &err);
    if (!ok(repo != NULL, "open for threads"))
        return;
    for (int i = 0; i < NT; i++)
    {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].repo = repo;
        jobs[i].owner = owners[i];
        buf_init(&jobs[i].data);
        /* jobs 0 and 2 store the same data for the same owner */
        gen_lines(&jobs[i].data, 1500 * 1024, i == 2 ? 100 : 100 + (uint64_t)i);
        error_clear(&jobs[i].err);
    }
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, thread_store, &jobs[i]);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++)
        all = all && jobs[i].ids != NULL;
    ok(all, "six threads store at once");
    ok(repo_index_commit(repo, &err), "one index commit for every writer");
    is_int(count_objects(dir, "index/"), 1, "one index object");
    is_int(count_objects(dir, "keys/"), 5, "one key object per owner (4) plus the master");
    for (int i = 0; i < NT; i++)
    {
        char id[65];

        all = all && read_back(repo, jobs[i].ids, &out, &err) &&
              same(&out, jobs[i].data.data, jobs[i].data.len) &&
              snap(repo, owners[i], jobs[i].ids, id, &err);
    }
    ok(all, "every thread's stream reads back byte-equal");
    ok(json_equal(jobs[0].ids, jobs[2].ids), "equal data of one owner has equal ids");
    ok(check(repo, true, &rep, &err), "check --read-data clean after concurrent writers");
    repo_close(repo);

    /* a fresh process reads every stream at once: owner keys are fetched
     * concurrently on first use */
    repo = open_repo(dir, PASS, &err);
    if (repo != NULL)
    {
        for (int i = 0; i < NT; i++)
        {
            jobs[i].repo = repo;
            error_clear(&jobs[i].err);
            pthread_create(&th[i], NULL, thread_read, &jobs[i]);
        }
        all = true;
        for (int i = 0; i < NT; i++)
        {
            pthread_join(th[i], NULL);
            all = all && !error_is_set(&jobs[i].err);
        }
        ok(all, "six threads read back byte-equal at once");
        repo_close(repo);
    }
    for (int i = 0; i < NT; i++)
    {
        json_decref(jobs[i].ids);
        buf_free(&jobs[i].data);
    }
    buf_free(&out);
    free(dir);
}

/* A pack lost after a backup: the next store does not dedup against it,
 * a process that still indexes the lost copy first reads the new one, and
 * repair drops the lost pack from the index. */
static void test_lost_pack(void)
{
    char *dir = new_dir("lost");
    Error err;
    Repo *a, *b;
    Buf d, out;
    json_t *i1, *i2, *i3;
    RepoStreamStats st;
    RepoRepairReport rr;
    RepoCheckReport rep;
    uint64_t lost = 0;
    char key[128], s1[65];

    error_clear(&err);
    buf_init(&d);
    buf_init(&out);
    gen_random(&d, 300 * 1024, 41);
    ok(make_repo(dir, true, 0, &err), "init for lost packs");
    a = open_repo(dir, PASS, &err);
    if (!ok(a != NULL, "open for lost packs"))
        return;
    i1 = store(a, "l", d.data, d.len, &st, &err);
    ok(i1 != NULL && snap(a, "l", i1, s1, &err), "store a stream");
    ok(first_pack(dir, key, sizeof(key), NULL), "  ... in one pack");
    remove_obj(dir, key);

    /* another process stores the same data again */
    b = open_repo(dir, PASS, &err);
    i2 = b != NULL ? store(b, "l", d.data, d.len, &st, &err) : NULL;
    ok(i2 != NULL, "the same data stored after its pack was lost");
    is_int((long long)st.chunks_new, (long long)st.chunks,
           "  ... every chunk stored again: none dedups against the lost pack");
    repo_close(b);

    /* a still indexes the lost copy first; the new one comes as a duplicate */
    ok(repo_index_sync(a, &err), "sync an index that names the lost pack first");
    ok(read_back(a, i2, &out, &err) && same(&out, d.data, d.len),
       "  ... reads turn to the new copy");
    i3 = store(a, "l", d.data, d.len, &st, &err);
    ok(i3 != NULL && st.chunks_new == 0, "  ... and a store dedups against it");
    ok(repo_packs_verify(a, &lost, &err) && lost == 1, "one pack is known lost");
    ok(repo_repair_index(a, &rr, &err), "repair the index");
    ok(rr.n_packs == 1 && strcmp(rr.packs[0].key, key) == 0 && rr.packs[0].missing,
       "  ... drops the missing pack");
    is_int((long long)rr.chunks_lost, 0, "  ... losing no chunk: the new pack holds them all");
    repo_repair_report_free(&rr);
    ok(check(a, false, &rep, &err), "check is clean after the repair");
    ok(repo_repair_index(a, &rr, &err) && rr.n_packs == 0, "a second repair has nothing to do");
    repo_repair_report_free(&rr);
    repo_close(a);
    json_decref(i1);
    json_decref(i2);
    json_decref(i3);
    buf_free(&d);
    buf_free(&out);
    free(dir);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(root, sizeof(root), "%s/coffer-test-repo-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL)
    {
        perror("mkdtemp");
        return 1;
    }
    log_set_level(LOG_ERROR);
    unsetenv("COFFER_CRASH_POINT");
    test_init_open();
    test_roundtrip_dedup();
    test_encryption_none();
    test_snapshots();
    test_corruption();
    test_destroy();
    test_locks();
    test_threads();
    test_prune();
    test_lost_pack();
    test_crash_points();
    rm_rf(root);
    return tap_done();
}
