/*
 * codec_int.h - state shared by the codec's source files, not part of its
 * contract: the per-thread OpenSSL and zstd contexts that let every chunk be
 * hashed, compressed and sealed without allocating or fetching algorithms.
 */
#ifndef COFFER_CODEC_CODEC_INT_H
#define COFFER_CODEC_CODEC_INT_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <zstd.h>

#include "codec/codec.h"

/* One per thread, created on the thread's first codec call and freed when the
 * thread exits. Each member is created on first use by the file that owns it. */
typedef struct CodecThread
{
    EVP_MAC *mac;            /* HMAC, fetched once */
    EVP_MAC_CTX *mac_ctx;    /* HMAC-SHA-256, re-keyed per chunk id */
    EVP_CIPHER *gcm;         /* AES-256-GCM, fetched once */
    EVP_CIPHER_CTX *gcm_ctx; /* re-initialised per seal/open */
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
} CodecThread;

/* Returns the calling thread's state, creating it on first use. */
CodecThread *codec_thread(void);

/* Reports an OpenSSL failure that the API has no way to return (a broken
 * library or out of memory) and aborts. */
_Noreturn void codec_fatal(const char *what);

/* Fills err with "could not WHAT: REASON" where REASON is the most recent
 * OpenSSL error; clears OpenSSL's error queue. Returns false. */
bool codec_openssl_error(Error *err, const char *what);

#endif
