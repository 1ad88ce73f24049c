/*
 * codec_bench.c - single-thread throughput of each codec stage and of the
 * whole chunk -> id -> zstd -> seal pipeline, to check that one worker can
 * keep up with a PostgreSQL COPY stream.
 *
 * Usage: codec_bench [FILE]. Without FILE it generates 256 MiB of text
 * shaped like COPY output. Rates are MB/s of plaintext (1 MB = 10^6 bytes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/codec.h"
#include "common/buf.h"
#include "common/mem.h"

#define BENCH_GEN_SIZE ((size_t)256 * 1024 * 1024)
#define BENCH_WRITE_SIZE ((size_t)1024 * 1024)
#define BENCH_ZSTD_LEVEL 3
/* Each stage runs this many times and the fastest run is reported, since a
 * shared machine adds noise that only ever slows a run down. */
#define BENCH_RUNS 3

typedef struct Bench
{
    const unsigned char *data;
    size_t len;
    size_t *cuts; /* chunk lengths from the chunking pass */
    size_t n_cuts;
    size_t cap_cuts;
    unsigned char key[CODEC_KEY_LEN];
    Buf zbuf;
    Buf sbuf;
    size_t stored; /* bytes after compression (and sealing) */
    size_t n_raw;  /* chunks that did not compress */
} Bench;

static double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t bench_rng(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Rows like "COPY customers TO STDOUT": id, names, email, city, balance,
 * timestamp, status and a free-text note. Values repeat the way real
 * columns do, so zstd sees a realistic ratio rather than noise or runs. */
static unsigned char *bench_generate(size_t len)
{
    static const char *first[] = {"james",   "mary",  "robert", "patricia",  "john",    "jennifer",
                                  "michael", "linda", "david",  "elizabeth", "william", "barbara",
                                  "richard", "susan", "joseph", "jessica",   "thomas",  "sarah",
                                  "charles", "karen", "li",     "wei",       "fatima",  "ahmed"};
    static const char *last[] = {
        "smith",     "johnson",  "williams",  "brown",  "jones",    "garcia", "miller",   "davis",
        "rodriguez", "martinez", "hernandez", "lopez",  "gonzalez", "wilson", "anderson", "thomas",
        "taylor",    "moore",    "jackson",   "martin", "lee",      "nguyen"};
    static const char *city[] = {"berlin", "paris",  "madrid", "rome",    "lisbon",   "vienna",
                                 "prague", "warsaw", "dublin", "oslo",    "helsinki", "athens",
                                 "london", "zurich", "milan",  "hamburg", "lyon",     "porto"};
    static const char *status[] = {"active", "inactive", "pending", "suspended"};
    static const char *note[] = {"\\N",
                                 "prefers email contact",
                                 "called about invoice",
                                 "requested refund for damaged item",
                                 "vip customer since migration",
                                 "address verified",
                                 "duplicate of older account, keep until audit",
                                 "newsletter opt-out"};
    unsigned char *p = xmalloc(len);
    uint64_t seed = 20240601;
    size_t off = 0;
    uint64_t id = 1000000;

    while (off < len)
    {
        char line[512];
        uint64_t r1 = bench_rng(&seed);
        uint64_t r2 = bench_rng(&seed);
        const char *f = first[r1 % 24];
        const char *l = last[(r1 >> 8) % 22];
        int n =
            snprintf(line, sizeof(line),
                     "%llu\t%s\t%s\t%s.%s%llu@example.com\t%s\t%llu.%02llu\t"
                     "2024-%02llu-%02llu %02llu:%02llu:%02llu.%06llu+00\t%s\t%s\n",
                     (unsigned long long)id, f, l, f, l, (unsigned long long)((r1 >> 16) % 1000),
                     city[(r1 >> 26) % 18], (unsigned long long)((r1 >> 32) % 100000),
                     (unsigned long long)((r1 >> 50) % 100), (unsigned long long)(r2 % 12 + 1),
                     (unsigned long long)((r2 >> 4) % 28 + 1), (unsigned long long)((r2 >> 9) % 24),
                     (unsigned long long)((r2 >> 14) % 60), (unsigned long long)((r2 >> 20) % 60),
                     (unsigned long long)((r2 >> 26) % 1000000), status[(r2 >> 46) % 4],
                     note[(r2 >> 48) % 8]);
        size_t take = (size_t)n < len - off ? (size_t)n : len - off;

        memcpy(p + off, line, take);
        off += take;
        id += 1 + (r2 >> 60) % 3;
    }
    return p;
}

static unsigned char *bench_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p;
    long size;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0)
    {
        fprintf(stderr, "codec_bench: could not open \"%s\"\n", path);
        exit(1);
    }
    size = ftell(f);
    if (size <= 0 || fseek(f, 0, SEEK_SET) != 0)
    {
        fprintf(stderr, "codec_bench: could not size \"%s\"\n", path);
        exit(1);
    }
    p = xmalloc((size_t)size);
    if (fread(p, 1, (size_t)size, f) != (size_t)size)
    {
        fprintf(stderr, "codec_bench: could not read \"%s\"\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)size;
    return p;
}

static void bench_report(const char *stage, size_t bytes, double secs, const char *extra)
{
    printf("%-22s %8.0f MB/s  %s\n", stage, (double)bytes / 1e6 / secs, extra);
}

static bool bench_record_cut(void *arg, const unsigned char *data, size_t len, Error *err)
{
    Bench *b = arg;

    (void)data;
    (void)err;
    if (b->n_cuts == b->cap_cuts)
    {
        b->cap_cuts = b->cap_cuts == 0 ? 1024 : b->cap_cuts * 2;
        b->cuts = xrealloc(b->cuts, b->cap_cuts * sizeof(size_t));
    }
    b->cuts[b->n_cuts++] = len;
    return true;
}

/* The whole per-chunk pipeline a backup worker runs. */
static bool bench_pipeline_chunk(void *arg, const unsigned char *data, size_t len, Error *err)
{
    Bench *b = arg;
    unsigned char id[CODEC_ID_LEN];
    bool compressed;

    codec_chunk_id(b->key, data, len, id, NULL);
    if (!codec_compress(BENCH_ZSTD_LEVEL, data, len, &b->zbuf, &compressed, err))
        return false;
    buf_reset(&b->sbuf);
    if (!codec_seal(b->key, id, sizeof(id), b->zbuf.data, b->zbuf.len, &b->sbuf, err))
        return false;
    b->stored += b->sbuf.len;
    return true;
}

static bool bench_chunk_all(Bench *b, ChunkFn fn)
{
    ChunkerParams params = chunker_default_params();
    Chunker *c = chunker_new(&params, fn, b);
    size_t off;
    Error err;

    for (off = 0; off < b->len; off += BENCH_WRITE_SIZE)
    {
        size_t n = b->len - off < BENCH_WRITE_SIZE ? b->len - off : BENCH_WRITE_SIZE;

        if (!chunker_write(c, b->data + off, n, &err))
            goto fail;
    }
    if (!chunker_finish(c, &err))
        goto fail;
    chunker_free(c);
    return true;
fail:
    fprintf(stderr, "codec_bench: %s\n", err.message);
    chunker_free(c);
    return false;
}

static bool bench_stage_chunk(Bench *b)
{
    b->n_cuts = 0;
    return bench_chunk_all(b, bench_record_cut);
}

static bool bench_stage_sha(Bench *b)
{
    CodecHash *h = codec_hash_new();
    char hex[65];

    codec_hash_update(h, b->data, b->len);
    codec_hash_final(h, hex);
    return true;
}

static bool bench_stage_hmac(Bench *b)
{
    size_t i;
    size_t off;

    for (i = 0, off = 0; i < b->n_cuts; off += b->cuts[i++])
    {
        unsigned char id[CODEC_ID_LEN];

        codec_chunk_id(b->key, b->data + off, b->cuts[i], id, NULL);
    }
    return true;
}

static bool bench_stage_zstd(Bench *b)
{
    size_t i;
    size_t off;
    Error err;

    b->stored = 0;
    b->n_raw = 0;
    for (i = 0, off = 0; i < b->n_cuts; off += b->cuts[i++])
    {
        bool compressed;

        if (!codec_compress(BENCH_ZSTD_LEVEL, b->data + off, b->cuts[i], &b->zbuf, &compressed,
                            &err))
        {
            fprintf(stderr, "codec_bench: %s\n", err.message);
            return false;
        }
        b->stored += b->zbuf.len;
        b->n_raw += !compressed;
    }
    return true;
}

static bool bench_stage_seal(Bench *b)
{
    size_t i;
    size_t off;
    Error err;

    for (i = 0, off = 0; i < b->n_cuts; off += b->cuts[i++])
    {
        buf_reset(&b->sbuf);
        if (!codec_seal(b->key, NULL, 0, b->data + off, b->cuts[i], &b->sbuf, &err))
        {
            fprintf(stderr, "codec_bench: %s\n", err.message);
            return false;
        }
    }
    return true;
}

static bool bench_stage_all(Bench *b)
{
    b->stored = 0;
    return bench_chunk_all(b, bench_pipeline_chunk);
}

/* Runs a stage BENCH_RUNS times and returns the fastest time, or -1. */
static double bench_time(Bench *b, bool (*stage)(Bench *))
{
    double best = -1;
    int run;

    for (run = 0; run < BENCH_RUNS; run++)
    {
        double t = bench_now();

        if (!stage(b))
            return -1;
        t = bench_now() - t;
        if (best < 0 || t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    Bench b;
    double t;
    char extra[128];

    memset(&b, 0, sizeof(b));
    buf_init(&b.zbuf);
    buf_init(&b.sbuf);
    codec_random(b.key, sizeof(b.key));
    if (argc > 1)
    {
        b.data = bench_read_file(argv[1], &b.len);
        printf("input: \"%s\", %zu bytes\n", argv[1], b.len);
    }
    else
    {
        b.len = BENCH_GEN_SIZE;
        b.data = bench_generate(b.len);
        printf("input: %zu bytes of generated COPY-like text\n", b.len);
    }
    printf("single thread, best of %d runs, 1 MB = 10^6 bytes\n", BENCH_RUNS);

    t = bench_time(&b, bench_stage_chunk);
    if (t < 0)
        return 1;
    snprintf(extra, sizeof(extra), "%zu chunks, mean %.0f KiB", b.n_cuts,
             (double)b.len / (double)b.n_cuts / 1024.0);
    bench_report("chunking", b.len, t, extra);

    bench_report("sha-256 (stream)", b.len, bench_time(&b, bench_stage_sha), "");
    bench_report("hmac-sha-256 (ids)", b.len, bench_time(&b, bench_stage_hmac), "");

    t = bench_time(&b, bench_stage_zstd);
    if (t < 0)
        return 1;
    snprintf(extra, sizeof(extra), "ratio %.2f, %zu chunks stored raw",
             (double)b.len / (double)b.stored, b.n_raw);
    bench_report("zstd-3", b.len, t, extra);

    t = bench_time(&b, bench_stage_seal);
    if (t < 0)
        return 1;
    bench_report("aes-256-gcm seal", b.len, t, "");

    t = bench_time(&b, bench_stage_all);
    if (t < 0)
        return 1;
    snprintf(extra, sizeof(extra), "chunk+id+zstd-3+seal, %zu bytes stored", b.stored);
    bench_report("combined", b.len, t, extra);

    buf_free(&b.zbuf);
    buf_free(&b.sbuf);
    free(b.cuts);
    free((void *)b.data);
    return 0;
}
