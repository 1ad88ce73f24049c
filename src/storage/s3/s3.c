/*
 * s3.c - the S3 driver: objects in a bucket, under a prefix.
 *
 * Writes are buffered one part at a time: an object that fits in one part
 * is sent with a single PUT (its SHA-256 signed, so a damaged body is
 * refused); a larger one becomes a multipart upload whose parts go as they
 * fill, and appears only at CompleteMultipartUpload. A failed step keeps
 * what it needs, so that the retry wrapper (retry.c) can try it again with
 * put_resume; an upload given up is aborted, and nothing is visible.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "storage/s3/s3_intern.h"

/* ---- writes ------------------------------------------------------------- */

typedef struct S3Write
{
    Buf data;        /* what is not sent yet */
    char *upload_id; /* once the object became a multipart upload */
    unsigned parts;  /* parts sent */
    Buf complete;    /* the CompleteMultipartUpload body so far */
    bool ending;     /* put_end was called */
} S3Write;

static S3 *s3_of(Storage *st)
{
    return st->state;
}

/* Passes a 2xx answer; fills err from any other ("could not ... "KEY""). */
static bool s3_expect(S3 *s3, const S3Response *resp, const char *doing, const char *key,
                      Error *err)
{
    char what[600];

    if (resp->status >= 200 && resp->status < 300)
        return true;
    snprintf(what, sizeof(what), "%s \"%s\"", doing, key);
    return s3_error(s3, resp, what, err);
}

static StorageWrite *s3_put_begin(Storage *st, const char *key, Error *err)
{
    S3Write *sw = xcalloc(1, sizeof(*sw));

    (void)err;
    buf_init(&sw->data);
    buf_init(&sw->complete);
    return storage_write_new(st, key, sw);
}

static bool s3_multipart_start(S3 *s3, StorageWrite *w, S3Write *sw, Error *err)
{
    S3Param p = {"uploads", ""};
    S3Request req = {.method = "POST", .key = w->key, .params = &p, .n_params = 1,
                     .storage_class = true};
    S3Response resp;
    bool ok;

    ok = s3_perform(s3, &req, &resp, err) &&
         s3_expect(s3, &resp, "could not start the upload of object", w->key, err);
    if (ok)
    {
        sw->upload_id = s3_xml_get(buf_cstr(&resp.body), "UploadId");
        if (sw->upload_id == NULL)
            ok = error_set(err, ERR_FAILURE, "could not start the upload of object \"%s\": the "
                                             "answer has no UploadId",
                           w->key);
        else
            buf_append_str(&sw->complete, "<CompleteMultipartUpload>");
    }
    s3_response_free(&resp);
    return ok;
}

/* Sends the first n buffered bytes as the next part. */
static bool s3_part_send(S3 *s3, StorageWrite *w, S3Write *sw, size_t n, Error *err)
{
    char number[16];
    S3Param p[2] = {{"partNumber", number}, {"uploadId", NULL}};
    S3Request req = {.method = "PUT", .key = w->key, .params = p, .n_params = 2};
    S3Response resp;
    bool ok;

    if (sw->upload_id == NULL && !s3_multipart_start(s3, w, sw, err))
        return false;
    if (sw->parts >= S3_MAX_PARTS)
        return error_set(err, ERR_FAILURE, "object \"%s\" needs more than %d parts",
                         w->key, S3_MAX_PARTS);
    snprintf(number, sizeof(number), "%u", sw->parts + 1);
    p[1].value = sw->upload_id;
    req.body = sw->data.data;
    req.body_len = n;
    ok = s3_perform(s3, &req, &resp, err) &&
         s3_expect(s3, &resp, "could not write a part of object", w->key, err);
    if (ok)
    {
        buf_printf(&sw->complete, "<Part><PartNumber>%s</PartNumber><ETag>", number);
        s3_xml_escape(&sw->complete, resp.etag);
        buf_append_str(&sw->complete, "</ETag></Part>");
        sw->parts++;
        memmove(sw->data.data, sw->data.data + n, sw->data.len - n);
        sw->data.len -= n;
    }
    s3_response_free(&resp);
    return ok;
}

/* Sends every full part; the rest stays buffered. */
static bool s3_put_flush(StorageWrite *w, Error *err)
{
    S3 *s3 = s3_of(w->st);
    S3Write *sw = w->state;

    while (sw->data.len >= s3->part_size)
        if (!s3_part_send(s3, w, sw, s3->part_size, err))
            return false;
    return true;
}

static bool s3_put_write(StorageWrite *w, const void *data, size_t len, Error *err)
{
    S3Write *sw = w->state;

    buf_append(&sw->data, data, len);
    return s3_put_flush(w, err);
}

static void s3_write_free(StorageWrite *w)
{
    S3Write *sw = w->state;

    buf_free(&sw->data);
    buf_free(&sw->complete);
    free(sw->upload_id);
    free(sw);
    storage_write_free(w);
}

/* Whatever is left to make the object visible: one PUT, or the last part
 * and CompleteMultipartUpload (which may answer 200 with an error). */
static bool s3_put_finish(StorageWrite *w, Error *err)
{
    S3 *s3 = s3_of(w->st);
    S3Write *sw = w->state;
    S3Param p = {"uploadId", sw->upload_id};
    S3Request req = {.method = "PUT", .key = w->key, .storage_class = true};
    S3Response resp;
    bool ok;

    sw->ending = true;
    if (sw->upload_id == NULL)
    {
        req.body = sw->data.len > 0 ? sw->data.data : (const void *)"";
        req.body_len = sw->data.len;
        ok = s3_perform(s3, &req, &resp, err) &&
             s3_expect(s3, &resp, "could not write object", w->key, err);
        s3_response_free(&resp);
        return ok;
    }
    if (!s3_put_flush(w, err) || (sw->data.len > 0 && !s3_part_send(s3, w, sw, sw->data.len, err)))
        return false;
    buf_append_str(&sw->complete, "</CompleteMultipartUpload>");
    req = (S3Request){.method = "POST", .key = w->key, .params = &p, .n_params = 1,
                      .body = sw->complete.data, .body_len = sw->complete.len,
                      .content_type = "application/xml"};
    ok = s3_perform(s3, &req, &resp, err) &&
         s3_expect(s3, &resp, "could not complete the upload of object", w->key, err);
    if (ok && strstr(buf_cstr(&resp.body), "<Error>") != NULL)
    {
        resp.status = 500; /* an error inside a 200: worded like any other */
        ok = s3_expect(s3, &resp, "could not complete the upload of object", w->key, err);
    }
    s3_response_free(&resp);
    /* the closing tag goes again with the next try */
    if (!ok)
        sw->complete.len -= strlen("</CompleteMultipartUpload>");
    return ok;
}

static bool s3_put_end(StorageWrite *w, Error *err)
{
    if (!s3_put_finish(w, err))
        return false; /* the retry wrapper resumes or aborts */
    s3_write_free(w);
    return true;
}

static bool s3_put_resume(StorageWrite *w, Error *err)
{
    S3Write *sw = w->state;

    if (!sw->ending)
        return s3_put_flush(w, err);
    return s3_put_end(w, err);
}

static void s3_put_abort(StorageWrite *w)
{
    S3 *s3 = s3_of(w->st);
    S3Write *sw = w->state;

    if (sw->upload_id != NULL)
    {
        S3Param p = {"uploadId", sw->upload_id};
        S3Request req = {.method = "DELETE", .key = w->key, .params = &p, .n_params = 1};
        S3Response resp;
        Error err;

        error_clear(&err);
        if (!s3_perform(s3, &req, &resp, &err))
            log_debug("could not abort the upload of \"%s\" (prune removes it): %s", w->key,
                      err.message);
        s3_response_free(&resp);
    }
    s3_write_free(w);
}

/* ---- reads -------------------------------------------------------------- */

static StorageRead *s3_get_begin(Storage *st, const char *key, uint64_t offset, uint64_t length,
                                 Error *err)
{
    void *rd = s3_read_open(s3_of(st), key, offset, length, err);

    return rd != NULL ? storage_read_new(st, key, offset, length, rd) : NULL;
}

static long s3_get_read(StorageRead *r, void *buf, size_t len, Error *err)
{
    return s3_read_some(r->state, r->key, buf, len, err);
}

static void s3_get_end(StorageRead *r)
{
    s3_read_close(r->state);
    storage_read_free(r);
}

/* ---- listings ------------------------------------------------------------ */

/* Calls fn for each <element> block of xml (its raw inner text). */
static void s3_xml_each(const char *xml, const char *element, void (*fn)(const char *, void *),
                        void *arg)
{
    char open[64], close[64];
    const char *p = xml;

    snprintf(open, sizeof(open), "<%s>", element);
    snprintf(close, sizeof(close), "</%s>", element);
    while ((p = strstr(p, open)) != NULL)
    {
        const char *end = strstr(p, close);
        char *inner;

        if (end == NULL)
            break;
        inner = xstrndup(p + strlen(open), (size_t)(end - p - strlen(open)));
        fn(inner, arg);
        free(inner);
        p = end + strlen(close);
    }
}

typedef struct S3ListState
{
    const S3 *s3;
    StorageList *out;
} S3ListState;

static void s3_list_one(const char *inner, void *arg)
{
    S3ListState *ls = arg;
    char *key = s3_xml_get(inner, "Key"), *size = s3_xml_get(inner, "Size");
    size_t plen = strlen(ls->s3->prefix);

    if (key != NULL && strncmp(key, ls->s3->prefix, plen) == 0 && key[plen] != '\0')
        storage_list_add(ls->out, key + plen, size ? strtoull(size, NULL, 10) : 0);
    free(key);
    free(size);
}

/* Runs a listing request page by page: ListObjectsV2 follows
 * NextContinuationToken. */
static bool s3_list(Storage *st, const char *prefix, StorageList *out, Error *err)
{
    S3 *s3 = s3_of(st);
    char *full = xasprintf("%s%s", s3->prefix, prefix), *token = NULL;
    S3ListState ls = {s3, out};
    bool ok = true, more = true;

    while (ok && more)
    {
        S3Param p[3] = {{"list-type", "2"}, {"prefix", full}, {"continuation-token", token}};
        S3Request req = {.method = "GET", .params = p, .n_params = token ? 3 : 2};
        S3Response resp;
        char *truncated;

        ok = s3_perform(s3, &req, &resp, err) &&
             s3_expect(s3, &resp, "could not list objects under", full, err);
        if (ok)
        {
            s3_xml_each(buf_cstr(&resp.body), "Contents", s3_list_one, &ls);
            truncated = s3_xml_get(buf_cstr(&resp.body), "IsTruncated");
            more = truncated != NULL && strcmp(truncated, "true") == 0;
            free(truncated);
            free(token);
            token = more ? s3_xml_get(buf_cstr(&resp.body), "NextContinuationToken") : NULL;
            more = more && token != NULL;
        }
        s3_response_free(&resp);
    }
    free(token);
    free(full);
    return ok;
}

/* ---- the rest ----------------------------------------------------------- */

static bool s3_remove(Storage *st, const char *key, Error *err)
{
    S3 *s3 = s3_of(st);
    S3Request req = {.method = "DELETE", .key = key};
    S3Response resp;
    bool ok = s3_perform(s3, &req, &resp, err);

    if (ok && resp.status != 404)
        ok = s3_expect(s3, &resp, "could not remove object", key, err);
    s3_response_free(&resp);
    return ok;
}

static bool s3_exists(Storage *st, const char *key, bool *exists, uint64_t *size, Error *err)
{
    S3 *s3 = s3_of(st);
    S3Request req = {.method = "HEAD", .key = key};
    S3Response resp;

    if (!s3_perform(s3, &req, &resp, err))
    {
        s3_response_free(&resp);
        return false;
    }
    *exists = resp.status >= 200 && resp.status < 300;
    if (*exists && size != NULL)
        *size = resp.length;
    if (!*exists && resp.status != 404)
    {
        /* a HEAD answer has no body to explain itself */
        error_set(err, ERR_FAILURE, "could not look up object \"%s\": HTTP %ld", key, resp.status);
        if (resp.status == 403)
            error_hint(err, "check the credentials and their rights on bucket \"%s\"", s3->bucket);
        else if (resp.status >= 500 || resp.status == 429)
            error_transient(err);
        s3_response_free(&resp);
        return false;
    }
    s3_response_free(&resp);
    return true;
}

typedef struct S3SweepState
{
    S3 *s3;
    unsigned max_age;
    uint64_t removed;
} S3SweepState;

static time_t s3_time_parse(const char *iso)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (iso == NULL || strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return 0;
    return timegm(&tm);
}

static void s3_sweep_one(const char *inner, void *arg)
{
    S3SweepState *ss = arg;
    char *key = s3_xml_get(inner, "Key"), *id = s3_xml_get(inner, "UploadId");
    char *when = s3_xml_get(inner, "Initiated");
    time_t t = s3_time_parse(when);

    /* max_age 0: every upload, whatever the two clocks say */
    if (key != NULL && id != NULL &&
        (ss->max_age == 0 || (t > 0 && time(NULL) - t >= (time_t)ss->max_age)))
    {
        S3Param p = {"uploadId", id};
        S3Request req = {.method = "DELETE", .key = key, .raw_key = true, .params = &p,
                         .n_params = 1};
        S3Response resp;
        Error err;

        error_clear(&err);
        if (s3_perform(ss->s3, &req, &resp, &err) && (resp.status < 300 || resp.status == 404))
            ss->removed++;
        s3_response_free(&resp);
    }
    free(key);
    free(id);
    free(when);
}

/* Aborts the multipart uploads under prefix that interrupted writes left. */
static bool s3_sweep(Storage *st, const char *prefix, unsigned max_age, uint64_t *removed,
                     Error *err)
{
    S3 *s3 = s3_of(st);
    char *full = xasprintf("%s%s", s3->prefix, prefix);
    S3Param p[2] = {{"prefix", full}, {"uploads", ""}};
    S3Request req = {.method = "GET", .params = p, .n_params = 2};
    S3SweepState ss = {s3, max_age, 0};
    S3Response resp;
    bool ok = s3_perform(s3, &req, &resp, err) &&
              s3_expect(s3, &resp, "could not list unfinished uploads under", full, err);

    if (ok)
        s3_xml_each(buf_cstr(&resp.body), "Upload", s3_sweep_one, &ss);
    s3_response_free(&resp);
    free(full);
    *removed = ss.removed;
    return ok;
}

static void s3_free(Storage *st)
{
    S3 *s3 = s3_of(st);

    for (size_t i = 0; i < s3->n_idle; i++)
        curl_easy_cleanup(s3->idle[i]);
    free(s3->idle);
    mem_wipe(s3->secret, strlen(s3->secret));
    if (s3->token != NULL)
        mem_wipe(s3->token, strlen(s3->token));
    free(s3->secret);
    free(s3->access_key);
    free(s3->token);
    free(s3->base);
    free(s3->host);
    free(s3->bucket);
    free(s3->prefix);
    free(s3->region);
    free(s3->sigv4);
    free(s3->ca_file);
    free(s3->storage_class);
    free(s3->location);
    pthread_mutex_destroy(&s3->lock);
    free(s3);
}

const StorageDriver storage_s3_driver = {
    .name = "s3",
    .caps = STORAGE_CAP_RANGE | STORAGE_CAP_ATOMIC_PUT,
    .put_begin = s3_put_begin,
    .put_write = s3_put_write,
    .put_end = s3_put_end,
    .put_abort = s3_put_abort,
    .put_resume = s3_put_resume,
    .get_begin = s3_get_begin,
    .get_read = s3_get_read,
    .get_end = s3_get_end,
    .list = s3_list,
    .sweep = s3_sweep,
    .remove = s3_remove,
    .exists = s3_exists,
    .free = s3_free,
};
