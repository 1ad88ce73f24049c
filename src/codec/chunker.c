/*
 * chunker.c - content-defined chunking with a FastCDC-style gear hash.
 *
 * Cut points depend only on the bytes near them, so an insert early in a
 * table's COPY stream changes one or two chunks instead of every later one,
 * and the unchanged chunks dedup. The chunker buffers at most max_size bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "common/mem.h"

/* Bounds enforced by chunker_params_valid: below 64 bytes the gear hash
 * window is not filled; above 64 MiB a single chunk costs too much memory
 * per worker. */
#define CHUNKER_MIN_LIMIT 64u
#define CHUNKER_MAX_LIMIT (64u * 1024 * 1024)

/*
 * The gear table: 256 pseudo-random 64-bit values, one per byte value. It is
 * part of the repository format (changing it moves every cut point and breaks
 * dedup against existing backups), so it is a literal rather than computed at
 * run time. Generated with splitmix64 seeded with 0x636f666665722d31
 * ("coffer-1"), taking the first 256 outputs in order.
 */
static const uint64_t chunker_gear[256] = {
    0x4f00fc697236b527, 0x94723de5f3190a7d, 0xb1e7ab4d87638900, 0x9b5c3545bdf33e77,
    0xdb4357cc4f0cd860, 0x373433d396ffbc49, 0x7bf31307f45cecf3, 0x8f4e507f2b8eb389,
    0x3565cb399fb7a6d1, 0x40e3da4d759c7fb3, 0x2b5c1d9a0c8146b3, 0x4d238325ea377375,
    0x8b4d9f582af9ac6c, 0x7dda2f87b5a2980f, 0xe365522c260cd6fd, 0xe7d70b5515c98ac3,
    0x5bcaf456c46d8778, 0xa4688af1eda68717, 0x6eb872288aa12162, 0xf7deefb0dbfefb32,
    0x02edb98191709e64, 0x258755057004af55, 0x1f6984496879d0d9, 0xe61dce2092c1a5f2,
    0x26eea6c36b3824b7, 0x724d61e02afb38ca, 0x14f0fba24575842b, 0x2d7a28ae74a583a1,
    0xfb7679143a9c2a87, 0x73b8ea08a76c8f82, 0x041b7d89be8e82ff, 0xd018dfb0086ef25a,
    0x6e92f84e875ea558, 0xcb502ca398520bb8, 0xa3adab09a23b6bc5, 0x58f3d8341361f39a,
    0x16d7709654ed5504, 0xd3a185b0b98ddbdc, 0xda14e568e865b9b9, 0x2e532d0ef6cb02db,
    0x2343d6753a6ab5d5, 0x7be438f2d1a8b493, 0x0b265b52162770db, 0x2aaccf20aa4ccca8,
    0x380e43b867a10dd9, 0x30ad997241689bba, 0x02f6b5b345d4c186, 0xe137f1f81cff862c,
    0x873e2e5627024606, 0x5d4c16f847137179, 0xab43294d9a1d6d0c, 0xd25d80f83f0a786b,
    0x74c16dbd5fb4359f, 0xe016e8b156af5fe1, 0xaa5babca04c1fcb4, 0xa2933394984b954f,
    0x79a30d0de0b6d1cf, 0xe70c84a5d12b15c6, 0x2097908f29208797, 0x3e9fce0d07f9e5dd,
    0x78645614dd0ab062, 0x6231fd1e7109c708, 0x2ba9171f41dbd822, 0x2cff47bf68971b05,
    0x295616260f5466cf, 0x0dc9ba80af000cc3, 0xf14918f6978cab24, 0xef3f40d3d7837903,
    0xd376b7d8f63fadf2, 0xa5875ed16f5ce9be, 0x2f8d8f8a0de86bc4, 0x9162824d926162ef,
    0x0d84f0c8a09ace6d, 0x16c8c6921ea959d7, 0x36e4263753a0c9f9, 0x364723cb68246595,
    0x17599b3cf9e58c79, 0x38b0e6ecbc1d635c, 0x31e03455055eed9f, 0x85544c006bb8e654,
    0x1e8cb0a62cc752a2, 0xebcbc72f75cdb289, 0xe1b320de8c1d8aa7, 0xa5c34b0b1b0b5c42,
    0xead2956d827b2684, 0x291ed53eb3d11b32, 0xcfde97425572880a, 0xf0730b01fa2ab0c7,
    0xf9667c2c4fcbfea1, 0x4828a863ba8f2c84, 0xdc3ba44f2ec58572, 0x7a5a8db36962f933,
    0xcf9f3bb7fef04d0d, 0xb4c8b1b25616771a, 0xbfe458ca3544e5ee, 0xaf1a8c3a81f80fab,
    0xc79049652b43e76a, 0x02b8650865e2a029, 0x95f7bceb9c57f4ad, 0x650086079a93c996,
    0x1c5e3eee972121d9, 0x4251df56c9d069d4, 0xb7fde34dd9e4dc57, 0x53790bbed178547c,
    0x1f9ea5aa94a4338a, 0x78845ef65e7ba98a, 0x57f2e51496331df8, 0x1b03b54db5c79810,
    0xc9893e1b627bfae8, 0x1e99fe748ca5ee42, 0xfe13120427299366, 0x816673ae3fda6f07,
    0x3e01a02a05ec1562, 0xde959eb8dc20a348, 0xa6f9b48046b4fd6a, 0x511bb78659ff997b,
    0x902d0084472bdd22, 0xef553cbbebbbac85, 0x754feac5819fcaa9, 0x5a3ffbee380cbedd,
    0xeabcff02fc19946e, 0x79905e82c98964cb, 0xfda36530eb17a51c, 0xeaaae915addb1943,
    0xf994e2e27fcb5f38, 0x709b2ad1ef201acb, 0x2de7fa4490fb75ed, 0x715a985d8cc5d99a,
    0x37ff3a4a6294251e, 0xa449c729819b21b5, 0x9df9369dc840f12f, 0x5516d50b307544e8,
    0x196c802ae5715d5c, 0xaaf1f203b0061127, 0xe1e4ba7582172a97, 0x43090848191e47c3,
    0x67f8b5dc37b0be48, 0xc51566e7fb54b76e, 0xd7dfff9db3485f8a, 0xda6c99d834ec8b8c,
    0xa98263ba289b576b, 0x80969164062b1a9d, 0xcf45bcc0dd89593d, 0x019e2b51bdd65b79,
    0xeb1f431f6c08a0b8, 0x03e540fec747b3e2, 0x469be6b80c1b962a, 0x0467b17db9fca050,
    0xf8f7f08c17cab78e, 0x76f6de25342dc3c4, 0x6870330af8732154, 0x57547e0cefdaa5ab,
    0x10c820a4561f6a5e, 0xab2e0f6b58ac6d87, 0x9fa9172dccbf4f30, 0x92cec7c8e408a023,
    0xe25f1420f9809640, 0x8a904f0409930283, 0x1d33a6e89935c1cb, 0x460d37319bda3849,
    0xbfee0dad32588fd5, 0x0032b618313ae6e5, 0xb9b998e07b1f939c, 0x2a580b9be8048241,
    0x261b8ccdd30e3a53, 0xd70b6262c44eb648, 0xceb709eac8f706c2, 0xacd099f1f40b246b,
    0xc42cbaa68d46229e, 0x8bcd53a1eb6bc818, 0xa9e6189d57441e40, 0x419d33cf46dac923,
    0x97876177ec2376a0, 0xcae09818ed66ac1a, 0x6f75f12f96e47094, 0x40c4515e0eb14631,
    0x2415b8794cd11e71, 0xc61322d71df2920f, 0x88ff90904e78ba3c, 0xda79f3fa792ce454,
    0x23e4c3ad0ce05aac, 0x517dde313de4db79, 0x83c4993310616f07, 0x85bfb1d6bfd764da,
    0xf290baa3f3c4f570, 0x178072d2c7eec61d, 0x566c63205ec3d3d9, 0xfdb872d6d6af5658,
    0xe6210edc6985327f, 0x1dee2e3cf8f9b924, 0x412b9b7a72633908, 0x9e9807716c347402,
    0x550d03c09782dd65, 0xe30019ead78e40b6, 0xa1eb89f04f57b007, 0x3dea0c1faa0f4a41,
    0x18ac15b7cb0a9901, 0xdc1e7c22f14a9bb9, 0x597462491be7a65d, 0xa42d5c594e158ad5,
    0x5341bd7213d922ed, 0x59a18f75f7b25881, 0xbb749fd8cfaab9f1, 0x065979c290a0bcd7,
    0x854c2ffe5d445452, 0x8375bb58c6928f03, 0xafba19ffa5465960, 0xb8482e29de8aa60b,
    0x888fa7ad9057be50, 0x3864720e2cefd359, 0x2a71a84e42effc64, 0x4f17ac2fc1ed2d19,
    0x31ae7695b7d744c1, 0xabd082c37ac23225, 0x12434489fdcdcc27, 0xa3b2e4077d6fd736,
    0x6c7ad6dffc60ea9a, 0x88c785cdf78f4727, 0x35ba9cb193dc1a14, 0x61fac4181961cf8b,
    0xa9df6d80cc98be0a, 0x609bdd33201868e9, 0xcfc4caf57f3ee309, 0xacdb2f4c78dded93,
    0x5f77fb1c81ee55c3, 0x66de4bee6b23808d, 0xbb1500d499e1e432, 0x5cb396f22a6bddf0,
    0x9011fbe1683ff115, 0x1d33add2e2a92d31, 0x17a19a8f3b483a5b, 0x472874bc7044589c,
    0x7cf9925c110c066c, 0x7298bea3b56764d1, 0xb727c9c9f2744c39, 0x77afa62a8c70b34c,
    0x61df8fb770601fdc, 0x59ec04875f38d872, 0xe507ed981b88c6a1, 0x6ad5f8bda3e0b4ca,
    0x027fdc706e0225c1, 0xc65a79c4fb034030, 0x2ace2f5d145d5aae, 0x6fd1a5be2ad60f39,
    0xe78859e9a6d81f08, 0x5c5001064fce14fb, 0x3a6a3adbdb421d14, 0xd444222a6167728b,
    0xd0665a996eb9cf3e, 0x6261889ed87cf582, 0xab2e0b1ab19ff20d, 0x5097903b7c643cf8,
    0xc50b6df1f0e35301, 0x4e21e421bf30016a, 0x6245bff01bc27996, 0x5a42b1b28574cc72,
};

/* Cut-point parameters derived once from ChunkerParams. */
typedef struct ChunkerCut
{
    size_t min;
    size_t avg;
    size_t max;
    uint64_t mask_s; /* before avg: more bits, so cuts are rarer */
    uint64_t mask_l; /* after avg: fewer bits, so cuts come soon */
} ChunkerCut;

struct Chunker
{
    ChunkerCut cut;
    ChunkFn emit;
    void *arg;
    unsigned char *buf; /* the pending chunk: max bytes allocated */
    size_t len;         /* bytes pending, all already scanned */
    uint64_t hash;      /* gear hash after the pending bytes */
};

ChunkerParams chunker_default_params(void)
{
    ChunkerParams p = {
        .min_size = 64u * 1024,
        .avg_size = 256u * 1024,
        .max_size = 1024u * 1024,
    };

    return p;
}

bool chunker_params_valid(const ChunkerParams *p, Error *err)
{
    if (p->avg_size == 0 || (p->avg_size & (p->avg_size - 1)) != 0)
        return error_set(err, ERR_USAGE, "invalid chunk sizes: average %u is not a power of two",
                         p->avg_size);
    if (!(p->min_size < p->avg_size && p->avg_size < p->max_size))
        return error_set(err, ERR_USAGE,
                         "invalid chunk sizes: need min < average < max, got %u, %u, %u",
                         p->min_size, p->avg_size, p->max_size);
    if (p->min_size < CHUNKER_MIN_LIMIT || p->max_size > CHUNKER_MAX_LIMIT)
        return error_set(err, ERR_USAGE,
                         "invalid chunk sizes: min must be at least %u bytes and max at most %u "
                         "bytes, got %u and %u",
                         CHUNKER_MIN_LIMIT, CHUNKER_MAX_LIMIT, p->min_size, p->max_size);
    return true;
}

/* A mask of the top `bits` bits. The gear hash shifts left, so the top bits
 * depend on the most recent 64 bytes while the low bits depend on only a few;
 * testing the top bits gives the widest window. */
static uint64_t chunker_top_mask(unsigned bits)
{
    return ~(uint64_t)0 << (64 - bits);
}

/* Normalized chunking (FastCDC level 2): two bits more than log2(avg) before
 * avg and two fewer after, which narrows the spread of chunk sizes around
 * avg without changing the mean much. */
static void chunker_cut_init(ChunkerCut *k, const ChunkerParams *p)
{
    unsigned bits = 0;

    while ((1u << bits) < p->avg_size)
        bits++;
    k->min = p->min_size;
    k->avg = p->avg_size;
    k->max = p->max_size;
    k->mask_s = chunker_top_mask(bits + 2);
    k->mask_l = chunker_top_mask(bits - 2);
}

/*
 * Rolls the hash over p[from..to); returns the index just past the first
 * byte where (hash & mask) == 0, or 0 if there is none. This loop is where
 * chunking spends its time. Rolling one byte at a time is bound by the
 * latency of h = 2h + g, so two bytes are taken per step: with a and b the
 * gear values of the next two bytes, the hash after the second byte is
 * 4h + (2a + b), where 2a + b does not depend on h. That halves the serial
 * chain (about 1.7x faster) and checks every position exactly as before, so
 * the cut points do not change.
 */
static inline size_t chunker_roll(const unsigned char *p, size_t from, size_t to, uint64_t mask,
                                  uint64_t *hash)
{
    uint64_t h = *hash;
    size_t i = from;

    for (; i + 2 <= to; i += 2)
    {
        uint64_t a = chunker_gear[p[i]];
        uint64_t b = chunker_gear[p[i + 1]];
        uint64_t h1 = (h << 1) + a;
        uint64_t h2 = (h << 2) + ((a << 1) + b);

        if ((h1 & mask) == 0)
        {
            *hash = h1;
            return i + 1;
        }
        if ((h2 & mask) == 0)
        {
            *hash = h2;
            return i + 2;
        }
        h = h2;
    }
    if (i < to)
    {
        h = (h << 1) + chunker_gear[p[i]];
        if ((h & mask) == 0)
        {
            *hash = h;
            return i + 1;
        }
    }
    *hash = h;
    return 0;
}

/* Scans p[0..n), which are the bytes at offsets off..off+n of the current
 * chunk (off + n <= max), continuing from *hash. Returns how many bytes of p
 * belong to the chunk when its end is among them, or 0 when the chunk goes
 * on. The first min bytes are never hashed: no cut can fall there anyway. */
static size_t chunker_scan(const ChunkerCut *k, size_t off, uint64_t *hash, const unsigned char *p,
                           size_t n)
{
    size_t end = off + n;
    size_t from;
    size_t to;
    size_t cut;

    from = off > k->min ? off : k->min;
    to = end < k->avg ? end : k->avg;
    if (from < to)
    {
        cut = chunker_roll(p, from - off, to - off, k->mask_s, hash);
        if (cut != 0)
            return cut;
    }
    from = off > k->avg ? off : k->avg;
    if (from < end)
    {
        cut = chunker_roll(p, from - off, end - off, k->mask_l, hash);
        if (cut != 0)
            return cut;
    }
    return end == k->max ? n : 0;
}

size_t chunker_find_cut(const ChunkerParams *p, const unsigned char *data, size_t len)
{
    ChunkerCut k;
    uint64_t hash = 0;
    size_t n;
    size_t cut;

    chunker_cut_init(&k, p);
    if (len <= k.min)
        return len;
    n = len < k.max ? len : k.max;
    cut = chunker_scan(&k, 0, &hash, data, n);
    return cut != 0 ? cut : n;
}

Chunker *chunker_new(const ChunkerParams *p, ChunkFn emit, void *arg)
{
    Chunker *c;

    if (!chunker_params_valid(p, NULL))
    {
        fprintf(stderr, "coffer: fatal: chunker_new called with invalid sizes %u/%u/%u\n",
                p->min_size, p->avg_size, p->max_size);
        abort();
    }
    c = xcalloc(1, sizeof(*c));
    chunker_cut_init(&c->cut, p);
    c->emit = emit;
    c->arg = arg;
    c->buf = xmalloc(c->cut.max);
    return c;
}

/*
 * Chunks found entirely inside the caller's data are emitted straight from
 * it; only the unfinished tail is copied into the chunker's buffer, and the
 * scan resumes where it stopped, so the result does not depend on how the
 * stream was split into writes.
 */
bool chunker_write(Chunker *c, const void *data, size_t len, Error *err)
{
    const unsigned char *p = data;

    while (len > 0)
    {
        size_t take = len < c->cut.max - c->len ? len : c->cut.max - c->len;
        size_t cut = chunker_scan(&c->cut, c->len, &c->hash, p, take);

        if (cut == 0)
        {
            memcpy(c->buf + c->len, p, take);
            c->len += take;
            p += take;
            len -= take;
            continue;
        }
        if (c->len == 0)
        {
            c->hash = 0;
            if (!c->emit(c->arg, p, cut, err))
                return false;
        }
        else
        {
            memcpy(c->buf + c->len, p, cut);
            c->len += cut;
            if (!c->emit(c->arg, c->buf, c->len, err))
                return false;
            c->len = 0;
            c->hash = 0;
        }
        p += cut;
        len -= cut;
    }
    return true;
}

bool chunker_finish(Chunker *c, Error *err)
{
    size_t n = c->len;

    c->len = 0;
    c->hash = 0;
    if (n == 0)
        return true;
    return c->emit(c->arg, c->buf, n, err);
}

void chunker_free(Chunker *c)
{
    if (c == NULL)
        return;
    free(c->buf);
    free(c);
}
