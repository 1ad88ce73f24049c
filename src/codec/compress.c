/*
 * compress.c - zstd compression of chunks, with the thread's reusable zstd
 * contexts so that no chunk allocates.
 *
 * Data that zstd cannot shrink is stored raw; the caller records which way a
 * chunk went and passes the raw length back for decompression, which checks
 * it exactly.
 */
#include <string.h>

#include "codec/codec.h"
#include "codec/codec_int.h"
#include "common/mem.h"

bool codec_compress(int level, const void *in, size_t len, Buf *out, bool *compressed, Error *err)
{
    CodecThread *t = codec_thread();
    size_t bound = ZSTD_compressBound(len);
    size_t n;

    *compressed = false;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
        return error_set(err, ERR_USAGE, "invalid zstd level %d", level);
    if (t->cctx == NULL)
        t->cctx = ZSTD_createCCtx();
    if (t->cctx == NULL)
        return error_set(err, ERR_FAILURE, "could not create zstd context");
    n = ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_compressionLevel, level);
    if (ZSTD_isError(n))
        return error_set(err, ERR_FAILURE, "could not set zstd level %d: %s", level,
                         ZSTD_getErrorName(n));

    buf_reset(out);
    buf_reserve(out, bound);
    n = ZSTD_compress2(t->cctx, out->data, bound, in, len);
    if (ZSTD_isError(n))
        return error_set(err, ERR_FAILURE, "could not compress data: %s", ZSTD_getErrorName(n));
    if (n < len)
    {
        out->len = n;
        out->data[n] = '\0';
        *compressed = true;
        return true;
    }
    buf_reset(out);
    buf_append(out, in, len);
    return true;
}

bool codec_decompress(const void *in, size_t len, size_t raw_len, Buf *out, Error *err)
{
    CodecThread *t = codec_thread();
    unsigned long long frame_size;
    size_t n;

    buf_reset(out);
    /* Check the frame header before allocating raw_len, so that a damaged
     * blob fails here rather than asking for an absurd buffer. */
    frame_size = ZSTD_getFrameContentSize(in, len);
    if (frame_size == ZSTD_CONTENTSIZE_ERROR)
        return error_set(err, ERR_FAILURE, "could not decompress data: not a zstd frame");
    if (frame_size != ZSTD_CONTENTSIZE_UNKNOWN && frame_size != raw_len)
        return error_set(err, ERR_FAILURE,
                         "could not decompress data: frame holds %llu bytes, expected %zu",
                         frame_size, raw_len);
    if (t->dctx == NULL)
        t->dctx = ZSTD_createDCtx();
    if (t->dctx == NULL)
        return error_set(err, ERR_FAILURE, "could not create zstd context");

    buf_reserve(out, raw_len);
    n = ZSTD_decompressDCtx(t->dctx, out->data, raw_len, in, len);
    if (ZSTD_isError(n))
        return error_set(err, ERR_FAILURE, "could not decompress data: %s", ZSTD_getErrorName(n));
    if (n != raw_len)
        return error_set(err, ERR_FAILURE, "could not decompress data: got %zu bytes, expected %zu",
                         n, raw_len);
    out->len = n;
    out->data[n] = '\0';
    return true;
}
