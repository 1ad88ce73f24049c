/*
 * read.c - streaming a ranged GET into storage_get_read's pull interface.
 *
 * libcurl pushes data through a callback; readers pull. Each read owns a
 * multi handle that storage_get_read drives until its small buffer holds
 * data: when the buffer is full the callback pauses the transfer, and the
 * next read resumes it. So an object of any size streams through a fixed
 * buffer, and a pack is never held whole.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "storage/s3/s3_intern.h"

#define S3_READ_BUFFER (256 * 1024)

typedef struct S3Read
{
    S3 *s3;
    CURL *h;
    CURLM *m;
    struct curl_slist *headers;
    unsigned char *buf;
    size_t len, pos; /* buffered data is buf[pos, len) */
    bool paused;
    bool done;
    CURLcode result;
    S3Response resp; /* status, and the body of an error answer */
    char curl_err[CURL_ERROR_SIZE];
} S3Read;

static size_t s3_read_cb(char *ptr, size_t size, size_t n, void *arg)
{
    S3Read *rd = arg;
    size_t len = size * n;

    if (rd->resp.status == 0)
        curl_easy_getinfo(rd->h, CURLINFO_RESPONSE_CODE, &rd->resp.status);
    if (rd->resp.status >= 300)
    {
        if (rd->resp.body.len < 64 * 1024)
            buf_append(&rd->resp.body, ptr, len);
        return len;
    }
    if (rd->pos == rd->len)
        rd->pos = rd->len = 0;
    if (len > S3_READ_BUFFER - rd->len)
    {
        if (rd->pos > 0)
        {
            memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
            rd->len -= rd->pos;
            rd->pos = 0;
        }
        if (len > S3_READ_BUFFER - rd->len)
        {
            rd->paused = true;
            return CURL_WRITEFUNC_PAUSE;
        }
    }
    memcpy(rd->buf + rd->len, ptr, len);
    rd->len += len;
    return len;
}

/* Drives the transfer once; notes when it ended. */
static void s3_read_pump(S3Read *rd)
{
    int running = 0;
    CURLMsg *msg;
    int left;

    if (rd->paused && rd->len - rd->pos < S3_READ_BUFFER / 2)
    {
        rd->paused = false;
        curl_easy_pause(rd->h, CURLPAUSE_CONT);
    }
    curl_multi_perform(rd->m, &running);
    while ((msg = curl_multi_info_read(rd->m, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE)
        {
            rd->done = true;
            rd->result = msg->data.result;
        }
    if (!rd->done && !rd->paused && rd->pos == rd->len && rd->resp.status < 300)
        curl_multi_poll(rd->m, NULL, 0, 1000, NULL);
}

static void s3_read_free(S3Read *rd)
{
    if (rd->m != NULL)
    {
        curl_multi_remove_handle(rd->m, rd->h);
        curl_multi_cleanup(rd->m);
    }
    /* a transfer cut short leaves its connection in no state to reuse */
    if (rd->done && rd->result == CURLE_OK)
        s3_handle_put(rd->s3, rd->h);
    else if (rd->h != NULL)
        curl_easy_cleanup(rd->h);
    curl_slist_free_all(rd->headers);
    s3_response_free(&rd->resp);
    free(rd->buf);
    free(rd);
}

/* Pumps until the answer's status is known (or the transfer ended). */
static bool s3_read_wait_status(S3Read *rd, const char *key, Error *err)
{
    while (!rd->done && rd->resp.status == 0 && rd->len == rd->pos)
    {
        s3_read_pump(rd);
        curl_easy_getinfo(rd->h, CURLINFO_RESPONSE_CODE, &rd->resp.status);
    }
    if (rd->done && rd->result != CURLE_OK)
    {
        error_set(err, ERR_FAILURE, "could not read object \"%s\": %s", key,
                  rd->curl_err[0] ? rd->curl_err : curl_easy_strerror(rd->result));
        return error_transient(err);
    }
    return true;
}

void *s3_read_open(S3 *s3, const char *key, uint64_t offset, uint64_t length, Error *err)
{
    S3Read *rd = xcalloc(1, sizeof(*rd));
    char range[64], what[600];
    S3Request req = {.method = "GET", .key = key};

    rd->s3 = s3;
    rd->buf = xmalloc(S3_READ_BUFFER);
    buf_init(&rd->resp.body);
    if (length > 0)
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, offset, offset + length - 1);
    else
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", offset);
    if (offset > 0 || length > 0)
        req.range = range;
    rd->h = s3_handle_get(s3);
    rd->m = curl_multi_init();
    s3_setup(s3, rd->h, &req, S3_EMPTY_SHA256, &rd->headers);
    curl_easy_setopt(rd->h, CURLOPT_WRITEFUNCTION, s3_read_cb);
    curl_easy_setopt(rd->h, CURLOPT_WRITEDATA, rd);
    curl_easy_setopt(rd->h, CURLOPT_ERRORBUFFER, rd->curl_err);
    curl_multi_add_handle(rd->m, rd->h);
    if (!s3_read_wait_status(rd, key, err))
    {
        s3_read_free(rd);
        return NULL;
    }
    if (rd->resp.status < 300)
        return rd;
    while (!rd->done)
        s3_read_pump(rd);
    snprintf(what, sizeof(what), "could not read object \"%s\"", key);
    if (rd->resp.status == 404)
        storage_error_missing(err, key);
    else if (rd->resp.status == 416)
        error_set(err, ERR_FAILURE, "object \"%s\" is truncated: it ends before offset %" PRIu64,
                  key, offset);
    else
        s3_error(s3, &rd->resp, what, err);
    s3_read_free(rd);
    return NULL;
}

long s3_read_some(void *state, const char *key, void *out, size_t len, Error *err)
{
    S3Read *rd = state;
    size_t n;

    while (rd->pos == rd->len && !rd->done)
        s3_read_pump(rd);
    if (rd->pos == rd->len)
    {
        if (rd->result != CURLE_OK)
        {
            error_set(err, ERR_FAILURE, "could not read object \"%s\": %s", key,
                      rd->curl_err[0] ? rd->curl_err : curl_easy_strerror(rd->result));
            error_transient(err);
            return -1;
        }
        return 0;
    }
    n = rd->len - rd->pos < len ? rd->len - rd->pos : len;
    memcpy(out, rd->buf + rd->pos, n);
    rd->pos += n;
    return (long)n;
}

void s3_read_close(void *state)
{
    if (state != NULL)
        s3_read_free(state);
}
