/*
 * test_codec.c - unit tests for chunk ids, SHA-256, zstd, AES-256-GCM and
 * scrypt: known answers, round trips, and clean failures on damaged input.
 */
#include "codec/codec.h"
#include "common/buf.h"
#include "common/mem.h"
#include "tap.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fill_random(unsigned char *p, size_t len, uint64_t seed)
{
    size_t i;

    for (i = 0; i < len; i++)
        p[i] = (unsigned char)rng_next(&seed);
}

/* Compressible rows, like a COPY stream. */
static unsigned char *make_text(size_t len)
{
    unsigned char *p = xmalloc(len);
    size_t off = 0;
    unsigned long row = 0;

    while (off < len)
    {
        char line[128];
        int n = snprintf(line, sizeof(line), "%lu\tcustomer %lu\t%lu.%02lu\tactive\n", row,
                         row * 7919 % 1000, row * 31 % 10000, row % 100);
        size_t take = (size_t)n < len - off ? (size_t)n : len - off;

        memcpy(p + off, line, take);
        off += take;
        row++;
    }
    return p;
}

static void test_chunk_id(void)
{
    /* RFC 4231 test case 2: key "Jefe". HMAC zero-pads short keys to the
     * block size, so "Jefe" padded with zeros to 32 bytes is the same key. */
    unsigned char key[CODEC_KEY_LEN] = {'J', 'e', 'f', 'e'};
    unsigned char key2[CODEC_KEY_LEN] = {'J', 'e', 'f', 'f'};
    const char *data = "what do ya want for nothing?";
    unsigned char id[CODEC_ID_LEN];
    unsigned char id2[CODEC_ID_LEN];
    char hex[2 * CODEC_ID_LEN + 1];

    unsigned char digest[CODEC_DIGEST_LEN];
    unsigned char mac[CODEC_ID_LEN];

    codec_mac(key, data, strlen(data), mac);
    hex_encode(mac, CODEC_ID_LEN, hex);
    is_str(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "HMAC matches RFC 4231 test case 2");
    codec_chunk_id(key, "abc", 3, id, digest);
    hex_encode(digest, CODEC_DIGEST_LEN, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "a chunk's digest is its SHA-256 (FIPS 180-2 \"abc\")");
    codec_mac(key, digest, sizeof(digest), mac);
    ok(memcmp(id, mac, CODEC_ID_LEN) == 0, "a chunk's id is the HMAC of its digest");
    codec_chunk_id(key, data, strlen(data), id, NULL);
    codec_chunk_id(key, data, strlen(data), id2, NULL);
    ok(memcmp(id, id2, CODEC_ID_LEN) == 0, "same key and data give the same id");
    codec_chunk_id(key2, data, strlen(data), id2, NULL);
    ok(memcmp(id, id2, CODEC_ID_LEN) != 0, "a different key gives a different id");
    codec_chunk_id(key, data, strlen(data) - 1, id2, NULL);
    ok(memcmp(id, id2, CODEC_ID_LEN) != 0, "different data gives a different id");
}

static void test_sha256(void)
{
    CodecHash *h;
    char hex[65];
    const char *abc = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    h = codec_hash_new();
    codec_hash_final(h, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "sha-256 of nothing");
    h = codec_hash_new();
    codec_hash_update(h, "abc", 3);
    codec_hash_final(h, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha-256 of \"abc\"");
    h = codec_hash_new();
    codec_hash_update(h, abc, 10);
    codec_hash_update(h, abc + 10, 0);
    codec_hash_update(h, abc + 10, strlen(abc) - 10);
    codec_hash_final(h, hex);
    is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "sha-256 fed in pieces (FIPS 180-2 two-block message)");
}

static void test_random(void)
{
    unsigned char a[32] = {0};
    unsigned char b[32] = {0};
    unsigned char zero[32] = {0};

    codec_random(a, sizeof(a));
    codec_random(b, sizeof(b));
    ok(memcmp(a, zero, 32) != 0 && memcmp(a, b, 32) != 0, "random bytes differ between calls");
}

static void test_compress(void)
{
    size_t len = 1024 * 1024;
    unsigned char *text = make_text(len);
    unsigned char *noise = xmalloc(len);
    Buf c;
    Buf d;
    bool compressed = false;
    Error err;
    size_t i;
    size_t clean = 0;

    buf_init(&c);
    buf_init(&d);
    fill_random(noise, len, 17);

    ok(codec_compress(3, text, len, &c, &compressed, &err), "compress text");
    ok(compressed && c.len < len / 2, "text shrinks and is marked compressed");
    ok(codec_decompress(c.data, c.len, len, &d, &err), "decompress text");
    ok(d.len == len && memcmp(d.data, text, len) == 0, "round trip gives the text back");

    ok(!codec_decompress(c.data, c.len, len - 1, &d, &err), "wrong raw length fails");
    like(err.message, "could not decompress data", "wrong raw length message");
    ok(!codec_decompress(c.data, c.len, len + 1, &d, &err), "longer raw length fails");
    ok(!codec_decompress(c.data, c.len / 2, len, &d, &err), "truncated frame fails");
    like(err.message, "could not decompress data", "truncated frame message");
    ok(!codec_decompress(noise, 4096, len, &d, &err), "garbage fails");
    like(err.message, "not a zstd frame", "garbage is reported as not a frame");
    ok(!codec_decompress(noise, 0, 0, &d, &err), "empty input fails");

    /* Without a checksum zstd cannot catch every flipped byte (GCM does
     * that); what matters here is that damage never crashes or overruns. */
    for (i = 0; i < 2000; i++)
    {
        const size_t raw = 4096;
        Buf s;
        bool cmp;
        size_t pos;
        uint64_t seed = i;

        buf_init(&s);
        codec_compress(1, text, raw, &s, &cmp, &err);
        pos = (size_t)(rng_next(&seed) % s.len);
        s.data[pos] ^= (unsigned char)(1u << (i % 8));
        if (codec_decompress(s.data, s.len, raw, &d, &err))
            clean += d.len == raw;
        else
            clean++;
        buf_free(&s);
    }
    is_int(clean, 2000, "2000 damaged frames fail cleanly or keep the size");

    ok(codec_compress(3, noise, len, &c, &compressed, &err), "compress noise");
    ok(!compressed && c.len == len && memcmp(c.data, noise, len) == 0,
       "incompressible data is stored raw");
    ok(codec_compress(3, "", 0, &c, &compressed, &err) && !compressed && c.len == 0,
       "empty input is stored raw");
    ok(!codec_compress(1000, text, len, &c, &compressed, &err), "absurd level rejected");
    like(err.message, "invalid zstd level 1000", "level message");
    ok(codec_compress(19, text, 65536, &c, &compressed, &err) && compressed,
       "high level works on the same thread context");
    ok(codec_decompress(c.data, c.len, 65536, &d, &err) && memcmp(d.data, text, 65536) == 0,
       "high level round trip");

    buf_free(&c);
    buf_free(&d);
    free(text);
    free(noise);
}

static void test_seal(void)
{
    unsigned char key[CODEC_KEY_LEN];
    unsigned char other[CODEC_KEY_LEN];
    unsigned char msg[100];
    const char *aad = "chunk 0042";
    Buf sealed;
    Buf sealed2;
    Buf plain;
    Error err;
    size_t i;
    int flips_rejected = 0;
    int cuts_rejected = 0;
    bool messages_ok = true;
    bool wiped = true;

    codec_random(key, sizeof(key));
    memcpy(other, key, sizeof(key));
    other[31] ^= 1;
    fill_random(msg, sizeof(msg), 5);
    buf_init(&sealed);
    buf_init(&sealed2);
    buf_init(&plain);

    buf_append(&sealed, "prefix", 6);
    ok(codec_seal(key, aad, strlen(aad), msg, sizeof(msg), &sealed, &err), "seal");
    is_int(sealed.len, 6 + sizeof(msg) + CODEC_SEAL_OVERHEAD, "seal appends nonce|ct|tag");
    ok(memcmp(sealed.data, "prefix", 6) == 0, "seal keeps what was in the buffer");
    ok(memcmp(sealed.data + 6 + CODEC_NONCE_LEN, msg, sizeof(msg)) != 0,
       "ciphertext is not the plaintext");
    ok(codec_open(key, aad, strlen(aad), sealed.data + 6, sealed.len - 6, &plain, &err), "open");
    ok(plain.len == sizeof(msg) && memcmp(plain.data, msg, sizeof(msg)) == 0,
       "open gives the plaintext back");

    ok(codec_seal(key, aad, strlen(aad), msg, sizeof(msg), &sealed2, &err), "seal again");
    ok(memcmp(sealed.data + 6, sealed2.data, CODEC_NONCE_LEN) != 0, "each seal has a fresh nonce");

    /* Every single flipped byte, in nonce, ciphertext or tag, must fail. */
    for (i = 0; i < sealed2.len; i++)
    {
        sealed2.data[i] ^= 0x40;
        if (!codec_open(key, aad, strlen(aad), sealed2.data, sealed2.len, &plain, &err))
        {
            flips_rejected++;
            messages_ok = messages_ok && strstr(err.message, "authentication failed") != NULL;
            wiped = wiped && plain.len == 0;
        }
        sealed2.data[i] ^= 0x40;
    }
    is_int(flips_rejected, sealed2.len, "every flipped byte is rejected");
    ok(wiped, "a failed open leaves no plaintext");
    for (i = 0; i < sealed2.len; i++)
    {
        if (!codec_open(key, aad, strlen(aad), sealed2.data, i, &plain, &err))
        {
            cuts_rejected++;
            messages_ok = messages_ok && strstr(err.message, "authentication failed") != NULL;
        }
    }
    is_int(cuts_rejected, sealed2.len, "every truncation is rejected, including below overhead");
    ok(messages_ok, "all those failures say \"authentication failed\"");

    ok(!codec_open(other, aad, strlen(aad), sealed2.data, sealed2.len, &plain, &err),
       "wrong key fails");
    is_str(err.message, "could not decrypt blob: authentication failed", "wrong key message");
    ok(!codec_open(key, "chunk 0043", 10, sealed2.data, sealed2.len, &plain, &err),
       "different aad fails");
    like(err.message, "authentication failed", "different aad message");
    ok(!codec_open(key, NULL, 0, sealed2.data, sealed2.len, &plain, &err), "missing aad fails");

    buf_reset(&sealed);
    ok(codec_seal(key, NULL, 0, "", 0, &sealed, &err), "seal empty plaintext");
    is_int(sealed.len, CODEC_SEAL_OVERHEAD, "empty blob is just the envelope");
    ok(codec_open(key, NULL, 0, sealed.data, sealed.len, &plain, &err) && plain.len == 0,
       "open empty blob");

    {
        size_t big = 3 * 1024 * 1024 + 7;
        unsigned char *data = xmalloc(big);

        fill_random(data, big, 77);
        buf_reset(&sealed);
        ok(codec_seal(key, NULL, 0, data, big, &sealed, &err) &&
               codec_open(key, NULL, 0, sealed.data, sealed.len, &plain, &err) &&
               plain.len == big && memcmp(plain.data, data, big) == 0,
           "3 MiB round trip");
        free(data);
    }
    buf_free(&sealed);
    buf_free(&sealed2);
    buf_free(&plain);
}

static void test_kdf(void)
{
    KdfParams p;
    KdfParams q;
    unsigned char k1[CODEC_KEY_LEN];
    unsigned char k2[CODEC_KEY_LEN];
    unsigned char k3[CODEC_KEY_LEN];
    unsigned char k4[CODEC_KEY_LEN];
    Error err;

    codec_kdf_default(&p);
    ok(p.n == 32768 && p.r == 8 && p.p == 1, "default costs N=2^15 r=8 p=1");
    codec_kdf_default(&q);
    ok(memcmp(p.salt, q.salt, sizeof(p.salt)) != 0, "default salt is fresh");
    /* The default costs need just over 32 MiB, OpenSSL's default limit. */
    ok(codec_kdf("correct horse", &p, k1, &err), "default costs derive a key");

    p.n = 1024;
    ok(codec_kdf("correct horse", &p, k1, &err), "derive");
    ok(codec_kdf("correct horse", &p, k2, &err), "derive again");
    ok(memcmp(k1, k2, sizeof(k1)) == 0, "same passphrase and salt give the same key");
    ok(codec_kdf("correct horsf", &p, k3, &err), "derive other passphrase");
    ok(memcmp(k1, k3, sizeof(k1)) != 0, "a different passphrase gives a different key");
    q.n = 1024;
    ok(codec_kdf("correct horse", &q, k4, &err), "derive other salt");
    ok(memcmp(k1, k4, sizeof(k1)) != 0, "a different salt gives a different key");

    p.n = 1000;
    ok(!codec_kdf("x", &p, k1, &err), "N not a power of two rejected");
    like(err.message, "invalid scrypt parameters", "bad N message");
    p.n = (uint64_t)1 << 40;
    ok(!codec_kdf("x", &p, k1, &err), "N needing terabytes rejected");
    like(err.message, "too much memory", "memory message");
    p.n = 1024;
    p.r = 0;
    ok(!codec_kdf("x", &p, k1, &err), "r = 0 rejected");
}

/* The per-thread contexts are freed when a thread exits; LeakSanitizer
 * checks that here. */
static void *thread_work(void *arg)
{
    unsigned char key[CODEC_KEY_LEN] = {9};
    unsigned char id[CODEC_ID_LEN];
    Buf a;
    Buf b;
    bool compressed;
    Error err;
    bool *good = arg;

    buf_init(&a);
    buf_init(&b);
    codec_chunk_id(key, "row", 3, id, NULL);
    *good = codec_compress(3, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 32, &a, &compressed, &err) &&
            codec_decompress(a.data, a.len, 32, &b, &err) &&
            codec_seal(key, NULL, 0, b.data, b.len, &a, &err) &&
            codec_open(key, NULL, 0, a.data + a.len - 32 - CODEC_SEAL_OVERHEAD,
                       32 + CODEC_SEAL_OVERHEAD, &b, &err) &&
            b.len == 32;
    buf_free(&a);
    buf_free(&b);
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    bool good[4] = {false, false, false, false};
    int i;
    bool all = true;

    for (i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, thread_work, &good[i]);
    for (i = 0; i < 4; i++)
    {
        pthread_join(th[i], NULL);
        all = all && good[i];
    }
    ok(all, "codec works from several threads at once");
}

int main(void)
{
    test_chunk_id();
    test_sha256();
    test_random();
    test_compress();
    test_seal();
    test_kdf();
    test_threads();
    return tap_done();
}
