/*
 * request.c - one signed HTTP exchange with an S3 server.
 *
 * libcurl signs with SigV4 (CURLOPT_AWS_SIGV4), but the 7.88 release of
 * Debian 12 neither sorts nor encodes the query string it signs, and does
 * not send x-amz-content-sha256. So the URL carries a query string that is
 * already canonical (sorted by name, RFC 3986 encoded, "name=" when empty)
 * and the payload hash goes in as a header of ours, which curl then signs
 * and also uses as the payload hash of the canonical request.
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/mem.h"
#include "storage/s3/s3_intern.h"

void s3_response_free(S3Response *resp)
{
    buf_free(&resp->body);
    memset(resp, 0, sizeof(*resp));
}

void s3_encode(Buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/'))
            buf_append(b, p, 1);
        else
        {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

            buf_append(b, esc, 3);
        }
    }
}

static int s3_param_cmp(const void *a, const void *b)
{
    const S3Param *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c != 0 ? c : strcmp(x->value, y->value);
}

char *s3_url(const S3 *s3, const S3Request *req)
{
    S3Param *sorted = NULL;
    Buf b;
    char *url;

    buf_init(&b);
    buf_append_str(&b, s3->base);
    buf_append_str(&b, "/");
    if (req->key != NULL)
    {
        if (!req->raw_key)
            s3_encode(&b, s3->prefix, true);
        s3_encode(&b, req->key, true);
    }
    if (req->n_params > 0)
    {
        /* names are ours and plain; values (tokens, prefixes) are encoded */
        sorted = xcalloc(req->n_params, sizeof(*sorted));
        memcpy(sorted, req->params, req->n_params * sizeof(*sorted));
        qsort(sorted, req->n_params, sizeof(*sorted), s3_param_cmp);
        for (size_t i = 0; i < req->n_params; i++)
        {
            buf_append_str(&b, i == 0 ? "?" : "&");
            s3_encode(&b, sorted[i].name, false);
            buf_append_str(&b, "=");
            s3_encode(&b, sorted[i].value, false);
        }
        free(sorted);
    }
    url = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return url;
}

CURL *s3_handle_get(S3 *s3)
{
    CURL *h = NULL;

    pthread_mutex_lock(&s3->lock);
    if (s3->n_idle > 0)
        h = s3->idle[--s3->n_idle];
    pthread_mutex_unlock(&s3->lock);
    if (h == NULL)
        h = curl_easy_init();
    else
        curl_easy_reset(h); /* keeps the connection, drops the options */
    return h;
}

#define S3_MAX_IDLE 16

void s3_handle_put(S3 *s3, CURL *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&s3->lock);
    if (s3->n_idle < S3_MAX_IDLE)
    {
        if (s3->idle == NULL)
            s3->idle = xcalloc(S3_MAX_IDLE, sizeof(*s3->idle));
        s3->idle[s3->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s3->lock);
    if (h != NULL)
        curl_easy_cleanup(h);
}

static struct curl_slist *s3_header(struct curl_slist *list, const char *name, const char *value)
{
    char line[1024];

    snprintf(line, sizeof(line), "%s: %s", name, value);
    return curl_slist_append(list, line);
}

void s3_setup(S3 *s3, CURL *h, const S3Request *req, const char *payload_sha256,
              struct curl_slist **headers)
{
    char *url = s3_url(s3, req);
    struct curl_slist *hl = NULL;

    curl_easy_setopt(h, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s3->sigv4);
    /* apart: an access key may hold a colon ("test:tester") */
    curl_easy_setopt(h, CURLOPT_USERNAME, s3->access_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s3->secret);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s3->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, s3->ca_file);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)(s3->timeout < 30 ? s3->timeout : 30));
    /* a transfer stalled for timeout seconds is given up (and tried again) */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)s3->timeout);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "coffer");
    hl = s3_header(hl, "x-amz-content-sha256", payload_sha256);
    if (s3->token != NULL)
        hl = s3_header(hl, "x-amz-security-token", s3->token);
    if (req->range != NULL)
        hl = s3_header(hl, "Range", req->range);
    if (req->storage_class && s3->storage_class != NULL)
        hl = s3_header(hl, "x-amz-storage-class", s3->storage_class);
    hl = s3_header(hl, "Content-Type",
                   req->content_type != NULL ? req->content_type : "application/octet-stream");
    /* no "Expect:" to turn 100-continue off: curl would sign the empty
     * header it then leaves out, and the signature would not match */
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 300L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (strcmp(req->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(req->method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    *headers = hl;
}

static size_t s3_collect(char *ptr, size_t size, size_t n, void *arg)
{
    S3Response *resp = arg;

    buf_append(&resp->body, ptr, size * n);
    return size * n;
}

static size_t s3_header_cb(char *line, size_t size, size_t n, void *arg)
{
    S3Response *resp = arg;
    size_t len = size * n;

    if (len > 5 && strncasecmp(line, "ETag:", 5) == 0)
    {
        size_t skip = 5, end = len;

        while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
            skip++;
        while (end > skip && (line[end - 1] == '\r' || line[end - 1] == '\n'))
            end--;
        snprintf(resp->etag, sizeof(resp->etag), "%.*s", (int)(end - skip), line + skip);
    }
    return len;
}

/* The SHA-256 of a body in memory, in hex. */
static void s3_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    hex_encode(md, n, out);
}

bool s3_perform(S3 *s3, const S3Request *req, S3Response *resp, Error *err)
{
    CURL *h = s3_handle_get(s3);
    struct curl_slist *headers = NULL;
    char sha[65], curl_err[CURL_ERROR_SIZE] = "";
    CURLcode rc;
    curl_off_t cl = -1;

    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body);
    if (h == NULL)
        return error_set(err, ERR_FAILURE, "could not start an HTTP request");
    if (req->body != NULL)
        s3_sha256_hex(req->body, req->body_len, sha);
    else
        snprintf(sha, sizeof(sha), "%s", S3_EMPTY_SHA256);
    s3_setup(s3, h, req, sha, &headers);
    if (req->body != NULL)
    {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s3_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s3_header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK)
    {
        /* a connection that failed is not one to reuse */
        curl_easy_cleanup(h);
        error_set(err, ERR_FAILURE, "%s %s: %s", req->method, s3->location,
                  curl_err[0] ? curl_err : curl_easy_strerror(rc));
        if (rc == CURLE_SSL_CACERT || rc == CURLE_PEER_FAILED_VERIFICATION ||
            rc == CURLE_SSL_CACERT_BADFILE)
            return error_hint(err, "the server's certificate is not trusted; name its CA with "
                                   "ca_file");
        if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
            return error_hint(err, "check the endpoint's URL");
        return error_transient(err);
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    resp->length = cl > 0 ? (uint64_t)cl : 0;
    s3_handle_put(s3, h);
    return true;
}
