/*
 * hash.c - chunk digests and ids, stream content hashes and random bytes,
 * all from OpenSSL libcrypto.
 *
 * A chunk's bytes are hashed once: its SHA-256 digest feeds both its id
 * (HMAC-SHA-256 of the digest under the tenant key) and its stream's content
 * hash (SHA-256 of the digests in order). The HMAC context is kept per thread
 * and only re-keyed per call.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/rand.h>

#include "codec/codec.h"
#include "codec/codec_int.h"
#include "common/mem.h"

struct CodecHash
{
    EVP_MD_CTX *ctx;
};

/* The thread's HMAC-SHA-256 context, created on first use. */
static EVP_MAC_CTX *codec_mac_ctx(void)
{
    CodecThread *t = codec_thread();
    OSSL_PARAM params[2];

    if (t->mac_ctx != NULL)
        return t->mac_ctx;
    t->mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (t->mac == NULL)
        codec_fatal("could not fetch HMAC");
    t->mac_ctx = EVP_MAC_CTX_new(t->mac);
    if (t->mac_ctx == NULL)
        codec_fatal("could not create HMAC context");
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_CTX_set_params(t->mac_ctx, params))
        codec_fatal("could not select SHA-256 for HMAC");
    return t->mac_ctx;
}

void codec_mac(const unsigned char key[CODEC_KEY_LEN], const void *data, size_t len,
               unsigned char out[CODEC_ID_LEN])
{
    EVP_MAC_CTX *ctx = codec_mac_ctx();
    size_t out_len = 0;

    if (!EVP_MAC_init(ctx, key, CODEC_KEY_LEN, NULL))
        codec_fatal("could not key HMAC");
    if (!EVP_MAC_update(ctx, data, len))
        codec_fatal("could not compute HMAC");
    if (!EVP_MAC_final(ctx, out, &out_len, CODEC_ID_LEN) || out_len != CODEC_ID_LEN)
        codec_fatal("could not finish HMAC");
}

void codec_chunk_id(const unsigned char key[CODEC_KEY_LEN], const void *data, size_t len,
                    unsigned char id[CODEC_ID_LEN], unsigned char digest[CODEC_DIGEST_LEN])
{
    unsigned char local[CODEC_DIGEST_LEN];
    unsigned int md_len = 0;

    if (digest == NULL)
        digest = local;
    if (!EVP_Digest(data, len, digest, &md_len, EVP_sha256(), NULL) ||
        md_len != CODEC_DIGEST_LEN)
        codec_fatal("could not compute SHA-256");
    codec_mac(key, digest, CODEC_DIGEST_LEN, id);
}

CodecHash *codec_hash_new(void)
{
    CodecHash *h = xmalloc(sizeof(*h));

    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL)
        codec_fatal("could not create SHA-256 context");
    if (!EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL))
        codec_fatal("could not start SHA-256");
    return h;
}

void codec_hash_update(CodecHash *h, const void *data, size_t len)
{
    if (!EVP_DigestUpdate(h->ctx, data, len))
        codec_fatal("could not compute SHA-256");
}

void codec_hash_final(CodecHash *h, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    if (!EVP_DigestFinal_ex(h->ctx, md, &md_len) || md_len != 32)
        codec_fatal("could not finish SHA-256");
    hex_encode(md, 32, hex);
    codec_hash_free(h);
}

void codec_hash_free(CodecHash *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void codec_random(void *out, size_t len)
{
    unsigned char *p = out;

    /* RAND_bytes takes an int length. */
    while (len > 0)
    {
        int n = len > INT_MAX ? INT_MAX : (int)len;

        if (RAND_bytes(p, n) != 1)
            codec_fatal("system random number generator failed");
        p += n;
        len -= (size_t)n;
    }
}
