/*
 * open.c - from settings to a working S3 storage: the address (path-style
 * or virtual-hosted), the keys, and one request that proves the bucket
 * answers to them, so that every wrong setting fails at once, named.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "storage/s3/s3_intern.h"

/* An IP address or localhost cannot carry a bucket as a subdomain. */
static bool s3_host_is_ip(const char *host, size_t len)
{
    if (len >= 9 && strncmp(host, "localhost", 9) == 0 && (len == 9 || host[9] == ':'))
        return true;
    if (len > 0 && host[0] == '[')
        return true;
    for (size_t i = 0; i < len && host[i] != ':'; i++)
        if (!isdigit((unsigned char)host[i]) && host[i] != '.')
            return false;
    return true;
}

/* Bucket names as S3 allows them: 3 to 63 of [a-z0-9.-] (and "_" or
 * capitals, which older buckets and other servers accept). */
static bool s3_bucket_valid(const char *b)
{
    size_t n = strlen(b);

    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)b[i]) && b[i] != '.' && b[i] != '-' && b[i] != '_')
            return false;
    return true;
}

static bool s3_address(S3 *s3, const StorageS3Options *o, Error *err)
{
    char *endpoint = o->endpoint != NULL && o->endpoint[0] != '\0'
                         ? xstrdup(o->endpoint)
                         : xasprintf("https://s3.%s.amazonaws.com", s3->region);
    size_t len = strlen(endpoint);
    const char *scheme_end = strstr(endpoint, "://"), *host;
    size_t host_len;
    bool path_style;

    while (len > 0 && endpoint[len - 1] == '/')
        endpoint[--len] = '\0';
    if (scheme_end == NULL ||
        (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0))
    {
        error_set(err, ERR_USAGE, "S3 endpoint \"%s\" is not an http:// or https:// URL", endpoint);
        free(endpoint);
        return false;
    }
    host = scheme_end + 3;
    host_len = strcspn(host, "/");
    if (host_len == 0 || host[host_len] != '\0')
    {
        error_set(err, ERR_USAGE, "S3 endpoint \"%s\" must be a scheme and a host, with no path",
                  endpoint);
        free(endpoint);
        return error_hint(err, "put the bucket in bucket: and the folder in prefix:");
    }
    path_style = o->path_style >= 0 ? o->path_style == 1 : s3_host_is_ip(host, host_len);
    if (path_style)
    {
        s3->base = xasprintf("%s/%s", endpoint, s3->bucket);
        s3->host = xstrndup(host, host_len);
    }
    else
    {
        s3->base = xasprintf("%.*s%s.%s", (int)(host - endpoint), endpoint, s3->bucket, host);
        s3->host = xasprintf("%s.%s", s3->bucket, host);
    }
    free(endpoint);
    return true;
}

/* One cheap listing: wrong keys, bucket, region or clock, and endpoints
 * that are not S3, all show here. */
static bool s3_probe(void *arg, Error *err)
{
    S3 *s3 = arg;
    S3Param p[3] = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", s3->prefix}};
    S3Request req = {.method = "GET", .params = p, .n_params = 3};
    S3Response resp;
    bool ok = s3_perform(s3, &req, &resp, err);

    if (ok && (resp.status < 200 || resp.status >= 300))
        ok = s3_error(s3, &resp, "could not list the bucket", err);
    else if (ok && strstr(buf_cstr(&resp.body), "ListBucketResult") == NULL)
    {
        ok = error_set(err, ERR_FAILURE, "\"%s\" does not answer like an S3 server (HTTP %ld, "
                                         "no ListBucketResult)",
                       s3->base, resp.status);
        error_hint(err, "check the endpoint: it must be the S3 API's address");
    }
    s3_response_free(&resp);
    return ok;
}

Storage *storage_open_s3(const StorageS3Options *o, Error *err)
{
    S3 *s3;
    char *key = NULL, *secret = NULL, *token = NULL;
    Storage *st;
    const char *prefix = o->prefix != NULL ? o->prefix : "";
    size_t plen;

    if (o->bucket == NULL || !s3_bucket_valid(o->bucket))
    {
        error_set(err, ERR_USAGE, "invalid S3 bucket name \"%s\"", o->bucket ? o->bucket : "");
        return NULL;
    }
    if (o->part_size != 0 && o->part_size < S3_MIN_PART_SIZE)
    {
        error_set(err, ERR_USAGE, "S3 part_size must be at least 5 MiB");
        return NULL;
    }
    while (*prefix == '/')
        prefix++;
    if (!s3_credentials(o, &key, &secret, &token, err))
        return NULL;
    s3 = xcalloc(1, sizeof(*s3));
    pthread_mutex_init(&s3->lock, NULL);
    s3->bucket = xstrdup(o->bucket);
    plen = strlen(prefix);
    s3->prefix = plen == 0 || prefix[plen - 1] == '/' ? xstrdup(prefix) : xasprintf("%s/", prefix);
    s3->region = xstrdup(o->region != NULL && o->region[0] != '\0' ? o->region : "us-east-1");
    s3->sigv4 = xasprintf("aws:amz:%s:s3", s3->region);
    s3->access_key = key;
    s3->secret = secret;
    s3->token = token;
    s3->ca_file = o->ca_file != NULL ? xstrdup(o->ca_file) : NULL;
    s3->storage_class = o->storage_class != NULL ? xstrdup(o->storage_class) : NULL;
    s3->part_size = o->part_size != 0 ? o->part_size : S3_DEFAULT_PART_SIZE;
    s3->timeout = o->timeout != 0 ? o->timeout : S3_DEFAULT_TIMEOUT;
    plen = strlen(s3->prefix);
    s3->location = xasprintf("s3://%s/%.*s", s3->bucket, (int)(plen > 0 ? plen - 1 : 0), s3->prefix);
    st = storage_new_intern(&storage_s3_driver, s3, s3->location);
    if (!s3_address(s3, o, err))
    {
        storage_free(st);
        return NULL;
    }
    st = storage_retry_wrap(st, o->retries < 0 ? STORAGE_RETRY_DEFAULT : (unsigned)o->retries);
    if (!storage_retry_run(st, s3_probe, s3, err))
    {
        error_prefix(err, "repository \"%s\"", s3->location);
        storage_free(st);
        return NULL;
    }
    log_debug("opened S3 storage \"%s\" at %s", s3->location, s3->base);
    return st;
}
