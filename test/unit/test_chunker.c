/*
 * test_chunker.c - unit tests for content-defined chunking: cut points that
 * do not depend on how the stream is split into writes, size bounds, stable
 * boundaries across builds, and dedup of data shifted by an insert.
 */
#include "codec/codec.h"
#include "common/buf.h"
#include "common/mem.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>

#define MIB (1024u * 1024u)

/* Collects chunk lengths and checks each chunk's bytes against the stream
 * it should have come from. */
typedef struct Sink
{
    const unsigned char *stream; /* expected bytes, or NULL */
    size_t offset;
    size_t *lens;
    size_t n;
    size_t cap;
    bool content_ok;
    int fail_at; /* make the callback fail on this chunk (-1: never) */
} Sink;

static bool sink_emit(void *arg, const unsigned char *data, size_t len, Error *err)
{
    Sink *s = arg;

    if (s->fail_at >= 0 && (size_t)s->fail_at == s->n)
        return error_set(err, ERR_FAILURE, "sink refused chunk %zu", s->n);
    if (s->stream != NULL && memcmp(s->stream + s->offset, data, len) != 0)
        s->content_ok = false;
    if (s->n == s->cap)
    {
        s->cap = s->cap == 0 ? 64 : s->cap * 2;
        s->lens = xrealloc(s->lens, s->cap * sizeof(size_t));
    }
    s->lens[s->n++] = len;
    s->offset += len;
    return true;
}

static void sink_init(Sink *s, const unsigned char *stream)
{
    memset(s, 0, sizeof(*s));
    s->stream = stream;
    s->content_ok = true;
    s->fail_at = -1;
}

static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Text shaped like a COPY stream: tab-separated rows of ids, words, numbers
 * and timestamps; compressible but not repetitive at chunk scale. */
static unsigned char *make_text(size_t len, uint64_t seed)
{
    static const char *words[] = {"alpha", "bravo",    "charlie", "delta",  "echo", "foxtrot",
                                  "golf",  "hotel",    "india",   "juliet", "kilo", "lima",
                                  "mike",  "november", "oscar",   "papa"};
    unsigned char *p = xmalloc(len);
    size_t off = 0;
    uint64_t row = 0;

    while (off < len)
    {
        char line[256];
        uint64_t r = rng_next(&seed);
        int n = snprintf(
            line, sizeof(line), "%llu\t%s %s\t%llu.%02llu\t2024-%02llu-%02llu\n",
            (unsigned long long)row++, words[r & 15], words[(r >> 4) & 15],
            (unsigned long long)((r >> 8) % 100000), (unsigned long long)((r >> 28) % 100),
            (unsigned long long)((r >> 36) % 12 + 1), (unsigned long long)((r >> 44) % 28 + 1));
        size_t take = (size_t)n < len - off ? (size_t)n : len - off;

        memcpy(p + off, line, take);
        off += take;
    }
    return p;
}

/* Reference cut points: repeated chunker_find_cut over the whole buffer. */
static size_t reference_cuts(const ChunkerParams *p, const unsigned char *data, size_t len,
                             size_t **out)
{
    size_t n = 0;
    size_t cap = 64;
    size_t off = 0;
    size_t *lens = xmalloc(cap * sizeof(size_t));

    while (off < len)
    {
        size_t cut = chunker_find_cut(p, data + off, len - off);

        if (n == cap)
        {
            cap *= 2;
            lens = xrealloc(lens, cap * sizeof(size_t));
        }
        lens[n++] = cut;
        off += cut;
    }
    *out = lens;
    return n;
}

static bool same_lens(const size_t *a, size_t na, const size_t *b, size_t nb)
{
    return na == nb && memcmp(a, b, na * sizeof(size_t)) == 0;
}

/* Chunks the stream with writes of pseudo-random sizes up to max_write. */
static void chunk_split(const ChunkerParams *p, const unsigned char *data, size_t len,
                        size_t max_write, uint64_t seed, Sink *s)
{
    Chunker *c = chunker_new(p, sink_emit, s);
    size_t off = 0;
    Error err;
    bool good = true;

    error_clear(&err);
    while (off < len)
    {
        size_t w = (size_t)(rng_next(&seed) % max_write) + 1;

        if (w > len - off)
            w = len - off;
        good = good && chunker_write(c, data + off, w, &err);
        off += w;
    }
    good = good && chunker_finish(c, &err);
    ok(good, "split writes succeed");
    chunker_free(c);
}

static void test_params(void)
{
    ChunkerParams p = chunker_default_params();
    Error err;

    is_int(p.min_size, 64 * 1024, "default min 64 KiB");
    is_int(p.avg_size, 256 * 1024, "default avg 256 KiB");
    is_int(p.max_size, 1024 * 1024, "default max 1 MiB");
    ok(chunker_params_valid(&p, &err), "default params valid");

    p.avg_size = 1000000;
    ok(!chunker_params_valid(&p, &err), "non power of two avg rejected");
    like(err.message, "power of two", "message names the power of two");
    p = chunker_default_params();
    p.min_size = p.avg_size;
    ok(!chunker_params_valid(&p, &err), "min == avg rejected");
    like(err.message, "min < average < max", "message names the ordering");
    p = chunker_default_params();
    p.max_size = 128u * MIB;
    ok(!chunker_params_valid(&p, &err), "huge max rejected");
    p = chunker_default_params();
    p.min_size = 16;
    ok(!chunker_params_valid(&p, &err), "tiny min rejected");
}

static void test_default_stream(void)
{
    ChunkerParams p = chunker_default_params();
    size_t len = 20 * MIB;
    unsigned char *text = make_text(len, 42);
    size_t *ref;
    size_t nref = reference_cuts(&p, text, len, &ref);
    size_t i;
    size_t total = 0;
    bool bounded = true;
    Sink whole;
    Sink split;
    Sink tiny;

    ok(nref >= 32 && nref <= 160, "20 MiB of text makes a plausible number of 256 KiB chunks");
    for (i = 0; i < nref; i++)
    {
        total += ref[i];
        if (ref[i] > p.max_size || (i + 1 < nref && ref[i] <= p.min_size))
            bounded = false;
    }
    is_int(total, len, "chunks cover the stream");
    ok(bounded, "every chunk within (min, max], the last at most max");

    sink_init(&whole, text);
    chunk_split(&p, text, len, len, 1, &whole);
    ok(same_lens(whole.lens, whole.n, ref, nref), "one big write matches find_cut");
    ok(whole.content_ok, "one big write emits the right bytes");

    sink_init(&split, text);
    chunk_split(&p, text, len, 3 * MIB, 7, &split);
    ok(same_lens(split.lens, split.n, ref, nref), "writes of up to 3 MiB give the same chunks");
    ok(split.content_ok, "split writes emit the right bytes");

    sink_init(&tiny, text);
    chunk_split(&p, text, 3 * MIB, 97, 9, &tiny);
    ok(tiny.n >= 1 && tiny.lens[0] == ref[0] && tiny.content_ok,
       "writes of under 100 bytes find the same first cut");

    free(whole.lens);
    free(split.lens);
    free(tiny.lens);
    free(ref);
    free(text);
}

/* Small sizes give hundreds of chunks, so split points land everywhere:
 * inside the skipped prefix, across avg, and across max. */
static void test_small_params(void)
{
    ChunkerParams p = {.min_size = 1024, .avg_size = 4096, .max_size = 16384};
    size_t len = 2 * MIB;
    unsigned char *text = make_text(len, 5);
    size_t *ref;
    size_t nref;
    Sink a;
    Sink b;

    /* A run of zeros never matches the mask, forcing max-size cuts. */
    memset(text + MIB, 0, 100000);
    nref = reference_cuts(&p, text, len, &ref);
    sink_init(&a, text);
    chunk_split(&p, text, len, 40000, 11, &a);
    ok(same_lens(a.lens, a.n, ref, nref) && a.content_ok, "small params: random writes match");
    sink_init(&b, text);
    chunk_split(&p, text, 300000, 3, 13, &b);
    ok(b.n >= 10 && same_lens(b.lens, b.n - 1, ref, b.n - 1) && b.content_ok,
       "small params: writes of 1-3 bytes match");
    {
        size_t i;
        size_t forced = 0;

        for (i = 0; i < nref; i++)
            forced += ref[i] == p.max_size;
        ok(forced >= 5, "zero run is cut at max size");
    }
    free(a.lens);
    free(b.lens);
    free(ref);
    free(text);
}

/* The gear table and masks are part of the repository format: these cut
 * points must never change, on any machine or build. */
static void test_pinned_cuts(void)
{
    ChunkerParams p = {.min_size = 1024, .avg_size = 4096, .max_size = 16384};
    static const size_t want[] = {2632, 4258, 1174, 4117, 4116, 4519, 4927, 4315};
    size_t n = sizeof(want) / sizeof(want[0]);
    unsigned char *text = make_text(n * 16384, 1);
    size_t off = 0;
    size_t i;
    bool same = true;

    for (i = 0; i < n; i++)
    {
        size_t cut = chunker_find_cut(&p, text + off, n * 16384 - off);

        if (cut != want[i])
        {
            printf("# cut %zu: got %zu, want %zu\n", i, cut, want[i]);
            same = false;
        }
        off += cut;
    }
    ok(same, "cut points match the pinned values");
    free(text);
}

/* Counts the chunks of b whose bytes appear as a chunk of a. */
static size_t shared_chunks(const unsigned char *da, const size_t *la, size_t na,
                            const unsigned char *db, const size_t *lb, size_t nb)
{
    unsigned char key[CODEC_KEY_LEN] = {1};
    unsigned char(*ids)[CODEC_ID_LEN] = xmalloc(na * CODEC_ID_LEN);
    size_t shared = 0;
    size_t i;
    size_t j;
    size_t off = 0;

    for (i = 0; i < na; i++)
    {
        codec_chunk_id(key, da + off, la[i], ids[i], NULL);
        off += la[i];
    }
    off = 0;
    for (j = 0; j < nb; j++)
    {
        unsigned char id[CODEC_ID_LEN];

        codec_chunk_id(key, db + off, lb[j], id, NULL);
        off += lb[j];
        for (i = 0; i < na; i++)
        {
            if (memcmp(ids[i], id, CODEC_ID_LEN) == 0)
            {
                shared++;
                break;
            }
        }
    }
    free(ids);
    return shared;
}

static void test_insert_dedup(void)
{
    ChunkerParams p = chunker_default_params();
    size_t len = 20 * MIB;
    size_t at = 9 * MIB + 12345;
    static const char insert[] = "INSERTED";
    size_t ins = sizeof(insert) - 1;
    unsigned char *a = make_text(len, 99);
    unsigned char *b = xmalloc(len + ins);
    size_t *la;
    size_t *lb;
    size_t na;
    size_t nb;
    size_t shared;

    memcpy(b, a, at);
    memcpy(b + at, insert, ins);
    memcpy(b + at + ins, a + at, len - at);
    na = reference_cuts(&p, a, len, &la);
    nb = reference_cuts(&p, b, len + ins, &lb);
    shared = shared_chunks(a, la, na, b, lb, nb);
    printf("# %zu chunks before, %zu after, %zu shared\n", na, nb, shared);
    ok(nb - shared >= 1 && nb - shared <= 2, "an 8-byte insert changes only 1-2 chunks");
    free(la);
    free(lb);
    free(a);
    free(b);
}

static void test_callback_failure_and_reuse(void)
{
    ChunkerParams p = {.min_size = 1024, .avg_size = 4096, .max_size = 16384};
    size_t len = 200000;
    unsigned char *text = make_text(len, 3);
    Sink s;
    Chunker *c;
    Error err;

    sink_init(&s, NULL);
    s.fail_at = 2;
    c = chunker_new(&p, sink_emit, &s);
    ok(!chunker_write(c, text, len, &err), "a failing callback stops the write");
    like(err.message, "sink refused chunk 2", "the callback's error is passed up");
    chunker_free(c);
    free(s.lens);

    sink_init(&s, text);
    c = chunker_new(&p, sink_emit, &s);
    ok(chunker_write(c, text, 5000, &err) && chunker_finish(c, &err), "first stream");
    ok(chunker_finish(c, &err), "finish with nothing pending");
    s.offset = 0;
    s.n = 0;
    ok(chunker_write(c, text, len, &err) && chunker_finish(c, &err), "reused after finish");
    {
        size_t *ref;
        size_t nref = reference_cuts(&p, text, len, &ref);

        ok(same_lens(s.lens, s.n, ref, nref) && s.content_ok, "reuse starts a fresh chunk");
        free(ref);
    }
    is_int(chunker_find_cut(&p, text, 0), 0, "empty input has an empty cut");
    is_int(chunker_find_cut(&p, text, 1000), 1000, "input under min is one chunk");
    chunker_free(c);
    free(s.lens);
    free(text);
}

int main(void)
{
    test_params();
    test_default_stream();
    test_small_params();
    test_pinned_cuts();
    test_insert_dedup();
    test_callback_failure_and_reuse();
    return tap_done();
}
