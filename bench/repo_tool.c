/*
 * repo_tool.c - a small driver of the repository library, for the kill -9
 * crash test (test/integration/050_repo_crash.t) and for the benchmark
 * (pipeline throughput, dedup, peak RSS while storing).
 *
 *   repo_tool init REPO [--none] [--avg BYTES] [--pack-size BYTES] [--cheap-kdf]
 *   repo_tool store REPO OWNER          stdin -> one stream, index, snapshot
 *   repo_tool restore REPO SNAPSHOT     the snapshot's stream -> stdout
 *   repo_tool forget REPO ID|--keep-last N
 *   repo_tool prune REPO
 *   repo_tool gen BYTES SEED [--edit PERCENT] [--edit-run LINES] [--edit-seed N]
 *                                       COPY-like text; --edit changes, inserts
 *                                       or deletes PERCENT of the lines, in runs
 *                                       of LINES consecutive lines (default 1)
 *   repo_tool pipeline [--level N] [--avg BYTES]   stdin through chunk, id,
 *                                       zstd and seal, no storage: MiB/s
 *   repo_tool clone-snapshots REPO SNAPSHOT [--only-owner OWNER]...
 *             [--part-from SNAPSHOT2 OWNER]... < "TIME [OWNER,...]" lines
 *                                       copies of SNAPSHOT's header at other
 *                                       times, with some of its parts or
 *                                       others' (see tool_clone)
 *
 * The passphrase comes from $COFFER_PASSPHRASE. Results are one JSON object
 * on stdout (except restore and gen, which write data, and clone-snapshots,
 * which prints one {"id", "time"} line per snapshot written).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "codec/codec.h"
#include "command/command.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "manifest/manifest.h"
#include "repo/repo.h"
#include "storage/storage.h"

#define TOOL_BLOCK (1024 * 1024)

static double tool_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long tool_max_rss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int tool_fail(const Error *err)
{
    error_print(err);
    return err->code == ERR_OK ? 1 : (int)err->code;
}

static int tool_usage(void)
{
    fprintf(stderr,
            "usage: repo_tool init REPO [--none] [--avg BYTES] [--pack-size BYTES] [--cheap-kdf]\n"
            "       repo_tool store REPO OWNER < data\n"
            "       repo_tool restore REPO SNAPSHOT > data\n"
            "       repo_tool forget REPO ID|--keep-last N\n"
            "       repo_tool prune REPO\n"
            "       repo_tool gen BYTES SEED [--edit PERCENT] [--edit-run LINES] "
            "[--edit-seed N]\n"
            "       repo_tool pipeline [--level N] [--avg BYTES] < data\n"
            "       repo_tool part REPO SNAPSHOT TENANT       (the tenant's part object)\n"
            "       repo_tool forget-tenant REPO SNAPSHOT TENANT\n"
            "       repo_tool destroy REPO OWNER              (destroy an owner's keys)\n"
            "       repo_tool clone-snapshots REPO SNAPSHOT [--only-owner OWNER]...\n"
            "                 [--part-from SNAPSHOT2 OWNER]... < \"TIME [OWNER,...]\" lines\n");
    return 2;
}

static Repo *tool_open(const char *path, Error *err)
{
    Storage *st = storage_open(path, false, err);
    bool enc = true;
    char *pass = NULL;
    Repo *repo;

    if (st == NULL)
        return NULL;
    if (!repo_probe(st, &enc, NULL, err))
    {
        storage_free(st);
        return NULL;
    }
    if (enc && (pass = cmd_passphrase_read(NULL, false, err)) == NULL)
    {
        storage_free(st);
        return NULL;
    }
    repo = repo_open(st, pass, err);
    if (pass != NULL)
    {
        mem_wipe(pass, strlen(pass));
        free(pass);
    }
    return repo;
}

static ChunkerParams tool_chunker(unsigned long avg)
{
    ChunkerParams p = chunker_default_params();

    if (avg > 0)
    {
        p.avg_size = (uint32_t)avg;
        p.min_size = (uint32_t)(avg / 4);
        p.max_size = (uint32_t)(avg * 4);
    }
    return p;
}

static int tool_init(int argc, char **argv)
{
    RepoInitOptions o;
    KdfParams kdf;
    Error err;
    Storage *st;
    char *pass = NULL;
    bool ok;

    if (argc < 3)
        return tool_usage();
    error_clear(&err);
    memset(&o, 0, sizeof(o));
    o.encryption = true;
    o.compression = 3;
    for (int i = 3; i < argc; i++)
    {
        if (strcmp(argv[i], "--none") == 0)
            o.encryption = false;
        else if (strcmp(argv[i], "--avg") == 0 && i + 1 < argc)
            o.chunker = tool_chunker(strtoul(argv[++i], NULL, 10));
        else if (strcmp(argv[i], "--pack-size") == 0 && i + 1 < argc)
            o.pack_size = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--cheap-kdf") == 0)
        {
            codec_kdf_default(&kdf);
            kdf.n = 1024;
            o.kdf = &kdf;
        }
        else
            return tool_usage();
    }
    if (o.encryption && (pass = cmd_passphrase_read(NULL, false, &err)) == NULL)
        return tool_fail(&err);
    st = storage_open(argv[2], true, &err);
    ok = st != NULL && repo_init(st, pass, &o, &err);
    storage_free(st);
    free(pass);
    if (!ok)
        return tool_fail(&err);
    printf("{\"created\": \"%s\"}\n", argv[2]);
    return 0;
}

static int tool_store(int argc, char **argv)
{
    Error err;
    Repo *repo;
    RepoLock *lock = NULL;
    RepoOwner *owner;
    RepoWriter *w = NULL;
    RepoStream *s = NULL;
    RepoStreamStats stats;
    json_t *ids = NULL, *doc;
    unsigned char *block = xmalloc(TOOL_BLOCK);
    char id[65];
    double t0 = tool_now(), secs;
    int rc = 1;

    if (argc != 4)
        return tool_usage();
    error_clear(&err);
    repo = tool_open(argv[2], &err);
    if (repo == NULL)
        goto done;
    lock = repo_lock(repo, REPO_LOCK_SHARED, "repo_tool store", &err);
    if (lock == NULL)
        goto done;
    owner = repo_owner_get(repo, argv[3], true, &err);
    if (owner == NULL)
        goto done;
    w = repo_writer_new(repo);
    s = repo_stream_begin(w, owner, &err);
    if (s == NULL)
        goto done;
    for (;;)
    {
        ssize_t n = read(STDIN_FILENO, block, TOOL_BLOCK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
        {
            error_set(&err, ERR_FAILURE, "could not read stdin: %s", strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        if (!repo_stream_write(s, block, (size_t)n, &err))
            goto done;
    }
    ids = repo_stream_end(s, &stats, &err);
    s = NULL;
    if (ids == NULL || !repo_writer_flush(w, &err) || !repo_index_commit(repo, &err))
        goto done;
    doc = json_pack("{s:s, s:O}", "owner", argv[3], "chunks", ids);
    if (!repo_snapshot_write(repo, doc, id, &err))
    {
        json_decref(doc);
        goto done;
    }
    json_decref(doc);
    secs = tool_now() - t0;
    printf("{\"snapshot\": \"%s\", \"bytes_in\": %" PRIu64 ", \"chunks\": %" PRIu64
           ", \"chunks_new\": %" PRIu64 ", \"bytes_stored\": %" PRIu64 ", \"seconds\": %.3f"
           ", \"mib_per_s\": %.1f, \"max_rss_kib\": %ld}\n",
           id, stats.bytes_in, stats.chunks, stats.chunks_new, stats.bytes_stored, secs,
           secs > 0 ? (double)stats.bytes_in / 1048576.0 / secs : 0.0, tool_max_rss_kib());
    rc = 0;
done:
    if (rc != 0)
        rc = tool_fail(&err);
    repo_stream_abort(s);
    repo_writer_free(w);
    json_decref(ids);
    repo_unlock(lock);
    repo_close(repo);
    free(block);
    return rc;
}

static bool tool_write_out(void *arg, const void *data, size_t len, Error *err)
{
    (void)arg;
    if (fwrite(data, 1, len, stdout) != len)
        return error_set(err, ERR_FAILURE, "could not write stdout: %s", strerror(errno));
    return true;
}

static int tool_restore(int argc, char **argv)
{
    Error err;
    Repo *repo;
    RepoLock *lock = NULL;
    json_t *doc = NULL;
    int rc = 1;

    if (argc != 4)
        return tool_usage();
    error_clear(&err);
    repo = tool_open(argv[2], &err);
    if (repo != NULL)
        lock = repo_lock(repo, REPO_LOCK_SHARED, "repo_tool restore", &err);
    if (lock != NULL)
        doc = repo_snapshot_load(repo, argv[3], &err);
    if (doc != NULL &&
        repo_read_chunks(repo, json_object_get(doc, "chunks"), tool_write_out, NULL, NULL, &err) &&
        fflush(stdout) == 0)
        rc = 0;
    else
        rc = tool_fail(&err);
    json_decref(doc);
    repo_unlock(lock);
    repo_close(repo);
    return rc;
}

static int tool_forget(int argc, char **argv)
{
    Error err;
    Repo *repo;
    int rc = 0, n = 0;

    if (argc < 4)
        return tool_usage();
    error_clear(&err);
    repo = tool_open(argv[2], &err);
    if (repo == NULL)
        return tool_fail(&err);
    if (strcmp(argv[3], "--keep-last") == 0 && argc == 5)
    {
        json_t *list = repo_snapshot_list(repo, &err);
        long keep = strtol(argv[4], NULL, 10);

        if (list == NULL)
            rc = tool_fail(&err);
        for (size_t i = 0; rc == 0 && (long)i + keep < (long)json_array_size(list); i++)
        {
            if (!repo_snapshot_forget(
                    repo, json_string_value(json_object_get(json_array_get(list, i), "id")), &err))
                rc = tool_fail(&err);
            else
                n++;
        }
        json_decref(list);
    }
    else if (repo_snapshot_forget(repo, argv[3], &err))
        n = 1;
    else
        rc = tool_fail(&err);
    if (rc == 0)
        printf("{\"forgotten\": %d}\n", n);
    repo_close(repo);
    return rc;
}

static int tool_prune(int argc, char **argv)
{
    Error err;
    Repo *repo;
    RepoPruneStats ps;
    double t0 = tool_now();
    int rc = 0;

    if (argc != 3)
        return tool_usage();
    error_clear(&err);
    repo = tool_open(argv[2], &err);
    if (repo == NULL)
        return tool_fail(&err);
    if (repo_prune(repo, &ps, &err))
        printf("{\"packs_deleted\": %" PRIu64 ", \"packs_repacked\": %" PRIu64
               ", \"bytes_freed\": %" PRIu64 ", \"index_rewritten\": %" PRIu64
               ", \"seconds\": %.3f}\n",
               ps.packs_deleted, ps.packs_repacked, ps.bytes_freed, ps.index_rewritten,
               tool_now() - t0);
    else
        rc = tool_fail(&err);
    repo_close(repo);
    return rc;
}

/* xorshift64*: two independent streams, one for the base lines and one for
 * the edits, so an edited stream differs from the base only where edited. */
static uint64_t tool_rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static const char *tool_words[] = {"alpha", "bravo",    "charlie", "delta",  "echo", "foxtrot",
                                   "golf",  "hotel",    "india",   "juliet", "kilo", "lima",
                                   "mike",  "november", "oscar",   "papa"};

static size_t tool_line(char *out, uint64_t n, uint64_t r1, uint64_t r2)
{
    return (size_t)snprintf(
        out, 256,
        "%" PRIu64 "\t%s %s\t%s@example.com\t%" PRIu64
        "\t2024-%02u-%02u %02u:%02u:%02u\t%016" PRIx64 "\n",
        n, tool_words[r1 & 15], tool_words[(r1 >> 4) & 15], tool_words[(r1 >> 8) & 15],
        (r1 >> 12) % 1000000, (unsigned)((r1 >> 32) % 12 + 1), (unsigned)((r1 >> 36) % 28 + 1),
        (unsigned)((r1 >> 41) % 24), (unsigned)((r1 >> 46) % 60), (unsigned)((r1 >> 52) % 60), r2);
}

static int tool_gen(int argc, char **argv)
{
    unsigned long long total, written = 0;
    uint64_t base, edit = 0x9e3779b97f4a7c15ull, n = 0, run = 1, left = 0;
    double pct = 0;
    char *buf = xmalloc(TOOL_BLOCK + 1024);
    size_t used = 0;

    if (argc < 4)
        return tool_usage();
    total = strtoull(argv[2], NULL, 10);
    base = strtoull(argv[3], NULL, 10) * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 4; i < argc; i++)
    {
        if (strcmp(argv[i], "--edit") == 0 && i + 1 < argc)
            pct = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--edit-run") == 0 && i + 1 < argc)
            run = strtoull(argv[++i], NULL, 10) > 0 ? strtoull(argv[i], NULL, 10) : 1;
        else if (strcmp(argv[i], "--edit-seed") == 0 && i + 1 < argc)
            edit = strtoull(argv[++i], NULL, 10) * 0xbf58476d1ce4e5b9ull + 3;
        else
            return tool_usage();
    }
    while (written + used < total)
    {
        uint64_t r1 = tool_rng(&base), r2 = tool_rng(&base);
        uint64_t e = tool_rng(&edit);
        bool edited;

        /* a run of edits starts with probability pct/run per line, so that
         * pct of all lines end up edited */
        if (left == 0 && pct > 0 && (double)(e % 100000000) < pct * 1000000.0 / (double)run)
            left = run;
        edited = left > 0;
        if (left > 0)
            left--;

        if (edited && (e >> 32) % 3 == 0)
        {
            /* deleted line */
            n++;
            continue;
        }
        if (edited && (e >> 32) % 3 == 1)
            used += tool_line(buf + used, n, tool_rng(&edit), tool_rng(&edit)); /* inserted */
        used += tool_line(buf + used, n, edited && (e >> 32) % 3 == 2 ? r1 ^ e : r1, r2);
        n++;
        if (used >= TOOL_BLOCK)
        {
            size_t w = used;

            if (written + w > total)
                w = (size_t)(total - written);
            if (fwrite(buf, 1, w, stdout) != w)
                return 1;
            written += w;
            used = 0;
        }
    }
    if (used > 0 && written < total)
    {
        size_t w = used;

        if (written + w > total)
            w = (size_t)(total - written);
        if (fwrite(buf, 1, w, stdout) != w)
            return 1;
    }
    free(buf);
    return fflush(stdout) == 0 ? 0 : 1;
}

typedef struct ToolPipe
{
    int level;
    unsigned char key[CODEC_KEY_LEN];
    Buf z, sealed;
    uint64_t chunks, bytes_out;
} ToolPipe;

static bool tool_pipe_chunk(void *arg, const unsigned char *data, size_t len, Error *err)
{
    ToolPipe *p = arg;
    unsigned char id[CODEC_ID_LEN];
    bool compressed;

    codec_chunk_id(p->key, data, len, id, NULL);
    if (!codec_compress(p->level, data, len, &p->z, &compressed, err))
        return false;
    buf_reset(&p->sealed);
    if (!codec_seal(p->key, id, sizeof(id), p->z.data, p->z.len, &p->sealed, err))
        return false;
    p->chunks++;
    p->bytes_out += p->sealed.len;
    return true;
}

static int tool_pipeline(int argc, char **argv)
{
    ToolPipe p;
    ChunkerParams cp = chunker_default_params();
    Chunker *c;
    Error err;
    unsigned char *block = xmalloc(TOOL_BLOCK);
    uint64_t in = 0;
    double t0, secs;

    memset(&p, 0, sizeof(p));
    p.level = 3;
    for (int i = 2; i < argc; i++)
    {
        if (strcmp(argv[i], "--level") == 0 && i + 1 < argc)
            p.level = atoi(argv[++i]);
        else if (strcmp(argv[i], "--avg") == 0 && i + 1 < argc)
            cp = tool_chunker(strtoul(argv[++i], NULL, 10));
        else
            return tool_usage();
    }
    error_clear(&err);
    codec_random(p.key, sizeof(p.key));
    buf_init(&p.z);
    buf_init(&p.sealed);
    c = chunker_new(&cp, tool_pipe_chunk, &p);
    t0 = tool_now();
    for (;;)
    {
        ssize_t n = read(STDIN_FILENO, block, TOOL_BLOCK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        in += (uint64_t)n;
        if (!chunker_write(c, block, (size_t)n, &err))
            return tool_fail(&err);
    }
    if (!chunker_finish(c, &err))
        return tool_fail(&err);
    secs = tool_now() - t0;
    printf("{\"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64 ", \"chunks\": %" PRIu64
           ", \"seconds\": %.3f, \"mib_per_s\": %.1f, \"max_rss_kib\": %ld}\n",
           in, p.bytes_out, p.chunks, secs, secs > 0 ? (double)in / 1048576.0 / secs : 0.0,
           tool_max_rss_kib());
    chunker_free(c);
    buf_free(&p.z);
    buf_free(&p.sealed);
    free(block);
    return 0;
}

/* part: prints the object key of a tenant's part in a snapshot (tests
 * damage it); forget-tenant: drops it; destroy: destroys an owner's keys. */
static int tool_parts(int argc, char **argv)
{
    Error err;
    Repo *repo;
    int rc = 0;

    if (argc != (strcmp(argv[1], "destroy") == 0 ? 4 : 5))
        return tool_usage();
    error_clear(&err);
    repo = tool_open(argv[2], &err);
    if (repo == NULL)
        return tool_fail(&err);
    if (strcmp(argv[1], "destroy") == 0)
        rc = repo_owner_destroy(repo, argv[3], &err) ? 0 : tool_fail(&err);
    else if (strcmp(argv[1], "forget-tenant") == 0)
        rc = manifest_forget_tenant(repo, argv[3], argv[4], &err) ? 0 : tool_fail(&err);
    else
    {
        json_t *header = repo_snapshot_load(repo, argv[3], &err);
        char *owner = manifest_owner_name(argv[4]);
        json_t *ref;
        size_t i;

        rc = header == NULL ? tool_fail(&err) : 1;
        json_array_foreach (json_object_get(header, "parts"), i, ref)
            if (repo_part_of(repo, ref, owner))
            {
                printf("parts/%s\n", json_string_value(json_object_get(ref, "id")));
                rc = 0;
            }
        free(owner);
        json_decref(header);
    }
    repo_close(repo);
    return rc;
}

/* clone-snapshots: copies of one snapshot header at other times, so that a
 * test or the benchmark gets months of snapshots for retention and coffer
 * run without a backup each. Each line of stdin is "TIME" or "TIME OWNERS":
 * an RFC 3339 time and, optionally, the owners whose parts the copy holds,
 * comma-separated ("shared" or "tenant:NAME"); blank lines and lines
 * starting with # are skipped. The parts come from a pool: SNAPSHOT's
 * parts, and for each --part-from SNAPSHOT2 OWNER, OWNER's part of
 * SNAPSHOT2 (in place of SNAPSHOT's own). A line without owners gets the
 * parts of the --only-owner owners and the --part-from ones, or the whole
 * pool without --only-owner. A copy is SNAPSHOT's header with a fresh id,
 * that time (UTC, whole seconds) and those parts; everything else (tags,
 * pin_until, stats) is copied, but stats.tenants counts the tenant parts.
 * The copies share the parts and chunks: nothing but headers is written,
 * and the key is derived once however many lines are read. Prints {"id",
 * "time"} per snapshot written; a failure part-way (exit 1, or 2 for bad
 * input) leaves the snapshots written so far. */
typedef struct ToolClone
{
    Repo *repo;
    json_t *pool; /* owner id -> part reference */
    json_t *dflt; /* the parts of a line without owners */
    char shared[REPO_OWNER_HEX];
} ToolClone;

/* The reference of owner's part in snapshot id (a new reference). */
static json_t *tool_clone_part(Repo *repo, const char *id, const char *owner, Error *err)
{
    json_t *h = repo_snapshot_load(repo, id, err), *ref, *found = NULL;
    size_t i;

    if (h == NULL)
        return NULL;
    json_array_foreach (json_object_get(h, "parts"), i, ref)
        if (repo_part_of(repo, ref, owner))
        {
            found = json_incref(ref);
            break;
        }
    if (found == NULL)
        error_set(err, ERR_USAGE, "snapshot %.12s holds no part of owner \"%s\"", id, owner);
    json_decref(h);
    return found;
}

/* Appends owner's part from the pool to parts, once. */
static bool tool_clone_add(ToolClone *c, json_t *parts, const char *owner, Error *err)
{
    char oid[REPO_OWNER_HEX], have[REPO_OWNER_HEX];
    json_t *ref = NULL, *r;
    size_t i;

    repo_owner_id(c->repo, owner, oid);
    ref = json_object_get(c->pool, oid);
    if (ref == NULL)
    {
        error_set(err, ERR_USAGE, "no part of owner \"%s\" to copy", owner);
        return error_hint(err, "take it from a snapshot that holds it: --part-from SNAPSHOT OWNER");
    }
    json_array_foreach (parts, i, r)
        if (repo_part_owner(r, have) && strcmp(have, oid) == 0)
            return true;
    json_array_append(parts, ref);
    return true;
}

/* Fills the pool and the default parts from the command line. */
static bool tool_clone_pool(ToolClone *c, json_t *header, int argc, char **argv, Error *err)
{
    json_t *ref;
    size_t i;
    bool only = false;

    json_array_foreach (json_object_get(header, "parts"), i, ref)
    {
        char oid[REPO_OWNER_HEX];

        if (repo_part_owner(ref, oid))
            json_object_set(c->pool, oid, ref);
    }
    for (int k = 4; k < argc; k++)
        if (strcmp(argv[k], "--part-from") == 0)
        {
            char oid[REPO_OWNER_HEX];

            ref = tool_clone_part(c->repo, argv[k + 1], argv[k + 2], err);
            if (ref == NULL)
                return false;
            repo_owner_id(c->repo, argv[k + 2], oid);
            json_object_set_new(c->pool, oid, ref);
            k += 2;
        }
        else
            only = true;
    if (!only)
        json_array_foreach (json_object_get(header, "parts"), i, ref)
        {
            char oid[REPO_OWNER_HEX];

            if (repo_part_owner(ref, oid))
                json_array_append(c->dflt, json_object_get(c->pool, oid));
        }
    for (int k = 4; k < argc; k++)
    {
        const char *owner = argv[k + 1 + (strcmp(argv[k], "--part-from") == 0)];

        if (!tool_clone_add(c, c->dflt, owner, err))
            return false;
        k += strcmp(argv[k], "--part-from") == 0 ? 2 : 1;
    }
    return true;
}

/* The parts a line names ("a,b,c"), or the default ones. */
static json_t *tool_clone_parts(ToolClone *c, char *owners, Error *err)
{
    json_t *parts;
    char *save = NULL, *name;

    if (*owners == '\0')
        return json_incref(c->dflt);
    parts = json_array();
    for (name = strtok_r(owners, ",", &save); name != NULL; name = strtok_r(NULL, ",", &save))
        if (!tool_clone_add(c, parts, name, err))
        {
            json_decref(parts);
            return NULL;
        }
    return parts;
}

/* Writes one copy of header per line of stdin. */
static bool tool_clone_write(ToolClone *c, json_t *header, Error *err)
{
    char *line = NULL, when[32], id[65];
    size_t cap = 0;
    json_t *stats = json_object_get(header, "stats");
    int lineno = 0;
    bool ok = true;

    while (ok && getline(&line, &cap, stdin) >= 0)
    {
        char *s = line, *end, *owners;
        json_t *parts, *ref;
        size_t i, tenants = 0;
        time_t t;

        lineno++;
        while (*s == ' ' || *s == '\t')
            s++;
        end = s + strlen(s);
        while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
            *--end = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        owners = s + strcspn(s, " \t");
        if (*owners != '\0')
            *owners++ = '\0';
        owners += strspn(owners, " \t");
        if (!clock_parse(s, &t, NULL))
        {
            ok = error_set(err, ERR_USAGE, "stdin line %d: \"%s\" is not an RFC 3339 time", lineno,
                           s);
            break;
        }
        parts = tool_clone_parts(c, owners, err);
        if (parts == NULL)
        {
            ok = error_prefix(err, "stdin line %d", lineno);
            break;
        }
        if (json_array_size(parts) == 0)
        {
            json_decref(parts);
            ok = error_set(err, ERR_USAGE, "stdin line %d: the copy would hold no part", lineno);
            break;
        }
        json_array_foreach (parts, i, ref)
        {
            char oid[REPO_OWNER_HEX];

            if (!repo_part_owner(ref, oid) || strcmp(oid, c->shared) != 0)
                tenants++;
        }
        if (json_is_object(stats) && json_object_get(stats, "tenants") != NULL)
            json_object_set_new(stats, "tenants", json_integer((json_int_t)tenants));
        json_object_set_new(header, "parts", parts);
        clock_format(t, when);
        json_object_del(header, "id");
        json_object_set_new(header, "time", json_string(when));
        ok = repo_snapshot_write(c->repo, header, id, err);
        if (ok)
            printf("{\"id\": \"%s\", \"time\": \"%s\"}\n", id, when);
    }
    free(line);
    if (ok && ferror(stdin))
        ok = error_set(err, ERR_FAILURE, "could not read stdin: %s", strerror(errno));
    return ok;
}

static int tool_clone(int argc, char **argv)
{
    ToolClone c;
    Error err;
    RepoLock *lock = NULL;
    json_t *header = NULL;
    int rc = 1;

    if (argc < 4)
        return tool_usage();
    for (int i = 4; i < argc; i++)
    {
        if (strcmp(argv[i], "--only-owner") == 0 && i + 1 < argc)
            i++;
        else if (strcmp(argv[i], "--part-from") == 0 && i + 2 < argc)
            i += 2;
        else
            return tool_usage();
    }
    memset(&c, 0, sizeof(c));
    c.pool = json_object();
    c.dflt = json_array();
    error_clear(&err);
    c.repo = tool_open(argv[2], &err);
    if (c.repo == NULL)
        goto done;
    repo_owner_id(c.repo, "shared", c.shared);
    lock = repo_lock(c.repo, REPO_LOCK_SHARED, "repo_tool clone-snapshots", &err);
    if (lock == NULL)
        goto done;
    header = repo_snapshot_load(c.repo, argv[3], &err);
    if (header == NULL || !tool_clone_pool(&c, header, argc, argv, &err))
        goto done;
    if (tool_clone_write(&c, header, &err) && fflush(stdout) == 0)
        rc = 0;
done:
    if (rc != 0)
        rc = tool_fail(&err);
    json_decref(header);
    json_decref(c.pool);
    json_decref(c.dflt);
    repo_unlock(lock);
    repo_close(c.repo);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return tool_usage();
    if (getenv("REPO_TOOL_VERBOSE") != NULL)
        log_set_level(LOG_DEBUG);
    if (strcmp(argv[1], "init") == 0)
        return tool_init(argc, argv);
    if (strcmp(argv[1], "store") == 0)
        return tool_store(argc, argv);
    if (strcmp(argv[1], "restore") == 0)
        return tool_restore(argc, argv);
    if (strcmp(argv[1], "forget") == 0)
        return tool_forget(argc, argv);
    if (strcmp(argv[1], "prune") == 0)
        return tool_prune(argc, argv);
    if (strcmp(argv[1], "gen") == 0)
        return tool_gen(argc, argv);
    if (strcmp(argv[1], "pipeline") == 0)
        return tool_pipeline(argc, argv);
    if (strcmp(argv[1], "part") == 0 || strcmp(argv[1], "forget-tenant") == 0 ||
        strcmp(argv[1], "destroy") == 0)
        return tool_parts(argc, argv);
    if (strcmp(argv[1], "clone-snapshots") == 0)
        return tool_clone(argc, argv);
    return tool_usage();
}
