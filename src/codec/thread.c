/*
 * thread.c - the codec's per-thread contexts.
 *
 * Fetching an OpenSSL algorithm or creating a zstd context costs far more
 * than processing a small chunk, so each thread keeps one of each and reuses
 * them. A pthread key destructor frees them when a worker thread exits.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>

#include "codec/codec.h"
#include "codec/codec_int.h"
#include "common/mem.h"

/* Fast path to the state; the key below exists only for its destructor. */
static __thread CodecThread *codec_tls;
static pthread_key_t codec_key;
static pthread_once_t codec_key_once = PTHREAD_ONCE_INIT;

static void codec_thread_free(void *arg)
{
    CodecThread *t = arg;

    EVP_MAC_CTX_free(t->mac_ctx);
    EVP_MAC_free(t->mac);
    EVP_CIPHER_CTX_free(t->gcm_ctx);
    EVP_CIPHER_free(t->gcm);
    ZSTD_freeCCtx(t->cctx);
    ZSTD_freeDCtx(t->dctx);
    free(t);
    codec_tls = NULL;
}

static void codec_key_create(void)
{
    if (pthread_key_create(&codec_key, codec_thread_free) != 0)
    {
        fprintf(stderr, "coffer: fatal: could not create thread key for codec state\n");
        abort();
    }
}

CodecThread *codec_thread(void)
{
    CodecThread *t = codec_tls;

    if (t != NULL)
        return t;
    pthread_once(&codec_key_once, codec_key_create);
    t = xcalloc(1, sizeof(*t));
    if (pthread_setspecific(codec_key, t) != 0)
    {
        fprintf(stderr, "coffer: fatal: could not register codec thread state\n");
        abort();
    }
    codec_tls = t;
    return t;
}

_Noreturn void codec_fatal(const char *what)
{
    char reason[256];
    unsigned long e = ERR_get_error();

    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    else
        snprintf(reason, sizeof(reason), "unknown error");
    fprintf(stderr, "coffer: fatal: %s: %s\n", what, reason);
    abort();
}

bool codec_openssl_error(Error *err, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[256];

    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    else
        snprintf(reason, sizeof(reason), "unknown openssl error");
    ERR_clear_error();
    return error_set(err, ERR_FAILURE, "could not %s: %s", what, reason);
}
