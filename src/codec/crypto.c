/*
 * crypto.c - AES-256-GCM sealing of blobs and scrypt key derivation.
 *
 * A sealed blob is nonce(12) | ciphertext | tag(16) with a fresh random nonce
 * per blob. Opening never returns unauthenticated plaintext: any failure
 * wipes what was decrypted and reports "authentication failed".
 */
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "codec/codec.h"
#include "codec/codec_int.h"
#include "common/mem.h"

/* EVP lengths are ints; process larger inputs in pieces of this size. */
#define CODEC_EVP_STEP ((size_t)1 << 30)

/* scrypt parameters arrive from key files on disk; refuse any that would
 * need more memory than this rather than let a damaged file exhaust RAM. */
#define CODEC_KDF_MAX_MEM ((uint64_t)1 << 30)

#define CODEC_AUTH_DETAIL "the key is wrong, or the blob was modified or truncated"

/* The thread's GCM cipher and context, created on first use. */
static EVP_CIPHER_CTX *codec_gcm(const EVP_CIPHER **cipher)
{
    CodecThread *t = codec_thread();

    if (t->gcm_ctx == NULL)
    {
        t->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
        if (t->gcm == NULL)
            codec_fatal("could not fetch AES-256-GCM");
        t->gcm_ctx = EVP_CIPHER_CTX_new();
        if (t->gcm_ctx == NULL)
            codec_fatal("could not create cipher context");
    }
    *cipher = t->gcm;
    return t->gcm_ctx;
}

/* Runs EVP_{En,De}cryptUpdate over len bytes, which may exceed INT_MAX.
 * With out == NULL the input is additional authenticated data. Returns the
 * bytes written, or -1 on failure. */
static long long codec_gcm_update(EVP_CIPHER_CTX *ctx, bool enc, unsigned char *out,
                                  const unsigned char *in, size_t len)
{
    long long total = 0;

    while (len > 0)
    {
        size_t step = len < CODEC_EVP_STEP ? len : CODEC_EVP_STEP;
        int n = 0;
        int ok;

        if (enc)
            ok = EVP_EncryptUpdate(ctx, out == NULL ? NULL : out + total, &n, in, (int)step);
        else
            ok = EVP_DecryptUpdate(ctx, out == NULL ? NULL : out + total, &n, in, (int)step);
        if (!ok)
            return -1;
        if (out != NULL)
            total += n;
        in += step;
        len -= step;
    }
    return total;
}

bool codec_seal(const unsigned char key[CODEC_KEY_LEN], const void *aad, size_t aad_len,
                const void *in, size_t len, Buf *out, Error *err)
{
    const EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx = codec_gcm(&cipher);
    unsigned char *nonce;
    unsigned char *ct;
    long long n;
    int fin = 0;

    buf_reserve(out, len + CODEC_SEAL_OVERHEAD);
    nonce = out->data + out->len;
    ct = nonce + CODEC_NONCE_LEN;
    codec_random(nonce, CODEC_NONCE_LEN);

    if (!EVP_EncryptInit_ex2(ctx, cipher, key, nonce, NULL))
        return codec_openssl_error(err, "encrypt blob");
    if (aad_len > 0 && codec_gcm_update(ctx, true, NULL, aad, aad_len) < 0)
        return codec_openssl_error(err, "encrypt blob");
    n = codec_gcm_update(ctx, true, ct, in, len);
    if (n < 0 || !EVP_EncryptFinal_ex(ctx, ct + n, &fin))
        return codec_openssl_error(err, "encrypt blob");
    /* GCM is a stream mode: the ciphertext is exactly as long as the input. */
    if ((size_t)n + (size_t)fin != len)
        return error_set(err, ERR_FAILURE, "could not encrypt blob: ciphertext length mismatch");
    if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CODEC_TAG_LEN, ct + len))
        return codec_openssl_error(err, "encrypt blob");
    out->len += len + CODEC_SEAL_OVERHEAD;
    out->data[out->len] = '\0';
    return true;
}

/* Wipes any plaintext decrypted before authentication failed, so that a
 * caller that ignores the error still sees nothing. */
static bool codec_auth_failed(Buf *out, size_t written, Error *err)
{
    if (out->data != NULL)
        mem_wipe(out->data, written);
    buf_reset(out);
    ERR_clear_error();
    error_set(err, ERR_FAILURE, "could not decrypt blob: authentication failed");
    return error_detail(err, CODEC_AUTH_DETAIL);
}

bool codec_open(const unsigned char key[CODEC_KEY_LEN], const void *aad, size_t aad_len,
                const void *in, size_t len, Buf *out, Error *err)
{
    const unsigned char *blob = in;
    const EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx;
    unsigned char tag[CODEC_TAG_LEN];
    size_t ct_len;
    long long n;
    int fin = 0;

    buf_reset(out);
    if (len < CODEC_SEAL_OVERHEAD)
        return codec_auth_failed(out, 0, err);
    ct_len = len - CODEC_SEAL_OVERHEAD;
    ctx = codec_gcm(&cipher);
    buf_reserve(out, ct_len);
    /* The tag is passed through a non-const ctrl argument. */
    memcpy(tag, blob + len - CODEC_TAG_LEN, CODEC_TAG_LEN);

    if (!EVP_DecryptInit_ex2(ctx, cipher, key, blob, NULL))
        return codec_openssl_error(err, "decrypt blob");
    if (aad_len > 0 && codec_gcm_update(ctx, false, NULL, aad, aad_len) < 0)
        return codec_auth_failed(out, 0, err);
    n = codec_gcm_update(ctx, false, out->data, blob + CODEC_NONCE_LEN, ct_len);
    if (n < 0)
        return codec_auth_failed(out, ct_len, err);
    if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CODEC_TAG_LEN, tag))
        return codec_auth_failed(out, ct_len, err);
    if (EVP_DecryptFinal_ex(ctx, out->data + n, &fin) <= 0)
        return codec_auth_failed(out, ct_len, err);
    out->len = ct_len;
    out->data[out->len] = '\0';
    return true;
}

void codec_kdf_default(KdfParams *params)
{
    params->n = (uint64_t)1 << 15;
    params->r = 8;
    params->p = 1;
    codec_random(params->salt, sizeof(params->salt));
}

bool codec_kdf(const char *passphrase, const KdfParams *params, unsigned char key[CODEC_KEY_LEN],
               Error *err)
{
    uint64_t n = params->n;
    uint64_t r = params->r;
    uint64_t p = params->p;
    uint64_t mem;

    if (n < 2 || (n & (n - 1)) != 0 || r == 0 || p == 0 || r * p >= ((uint64_t)1 << 30))
        return error_set(err, ERR_FAILURE, "invalid scrypt parameters N=%llu r=%llu p=%llu",
                         (unsigned long long)n, (unsigned long long)r, (unsigned long long)p);
    /* OpenSSL needs 128*r*(N+2) bytes for V plus 128*r*p for B; maxmem must
     * cover both or it refuses (its default cap of 32 MiB is just short of
     * what N=2^15, r=8 needs). Check the product without overflowing. */
    if (n > CODEC_KDF_MAX_MEM / (128 * r))
        return error_set(err, ERR_FAILURE,
                         "invalid scrypt parameters N=%llu r=%llu p=%llu: too much memory",
                         (unsigned long long)n, (unsigned long long)r, (unsigned long long)p);
    mem = 128 * r * (n + 2) + 128 * r * p;
    if (mem > CODEC_KDF_MAX_MEM)
        return error_set(err, ERR_FAILURE,
                         "invalid scrypt parameters N=%llu r=%llu p=%llu: too much memory",
                         (unsigned long long)n, (unsigned long long)r, (unsigned long long)p);
    if (!EVP_PBE_scrypt(passphrase, strlen(passphrase), params->salt, sizeof(params->salt), n, r, p,
                        mem + 4096, key, CODEC_KEY_LEN))
        return codec_openssl_error(err, "derive key from passphrase");
    return true;
}
