/*
 * s3_intern.h - the S3 driver's pieces: requests, answers, credentials.
 *
 * Only the files of src/storage/s3/ include this. A request is one HTTP
 * exchange signed with SigV4 by libcurl; this layer builds what libcurl
 * 7.88 gets wrong by itself (the canonical query string, the
 * x-amz-content-sha256 header) and turns S3's XML errors into Errors that
 * say what is wrong and whether trying again may help.
 */
#ifndef COFFER_STORAGE_S3_S3_INTERN_H
#define COFFER_STORAGE_S3_S3_INTERN_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/storage_intern.h"

#define S3_DEFAULT_PART_SIZE (8u * 1024 * 1024)
#define S3_MIN_PART_SIZE (5u * 1024 * 1024)
#define S3_MAX_PARTS 10000
#define S3_DEFAULT_TIMEOUT 60
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The driver's state, shared by threads: only the handle cache changes. */
typedef struct S3
{
    char *base;     /* "http://host:port/bucket" (path style) or "https://bucket.host" */
    char *host;     /* the Host the requests name */
    char *bucket;
    char *prefix;   /* "" or "prod/" */
    char *region;
    char *sigv4;    /* "aws:amz:REGION:s3" */
    char *access_key;
    char *secret;   /* never printed */
    char *token;    /* session token or NULL */
    char *ca_file;
    char *storage_class;
    char *location; /* "s3://bucket/prefix" */
    uint64_t part_size;
    unsigned timeout;
    pthread_mutex_t lock;
    CURL **idle; /* easy handles kept for their connections */
    size_t n_idle;
} S3;

/* One parameter of a query string, before encoding. */
typedef struct S3Param
{
    const char *name;
    const char *value; /* "" for "?uploads=" */
} S3Param;

/* A request: method, the object key (relative to the prefix; NULL for the
 * bucket itself) and the query. */
typedef struct S3Request
{
    const char *method;
    const char *key;
    bool raw_key; /* key already includes the prefix (listings return full keys) */
    const S3Param *params;
    size_t n_params;
    const void *body; /* a body in memory (PUT, POST), or NULL */
    size_t body_len;
    const char *range; /* "bytes=A-B" or NULL */
    const char *content_type;
    bool storage_class; /* send x-amz-storage-class */
} S3Request;

/* What came back. */
typedef struct S3Response
{
    long status;
    Buf body;       /* the whole body (small answers, errors) */
    char etag[128]; /* the ETag header, quotes kept */
    uint64_t length; /* Content-Length, or 0 */
} S3Response;

void s3_response_free(S3Response *resp);

/* Runs one request and waits for its answer; false only when no answer
 * came (connection refused, reset, timed out), with err marked transient.
 * An answer with an error status is returned as such: see s3_error. */
bool s3_perform(S3 *s3, const S3Request *req, S3Response *resp, Error *err);

/* Fills err from an error answer: its S3 code and message, what it means
 * ("the credentials were refused", "the bucket does not exist") and a
 * hint, marked transient for 5xx, 429 and RequestTimeout. what names the
 * operation ("write object "data/ab…""). Returns false. */
bool s3_error(const S3 *s3, const S3Response *resp, const char *what, Error *err);

/* The URL of a request, with the canonical query string (sorted, RFC 3986
 * encoded, "name=" even when empty); malloc'd. */
char *s3_url(const S3 *s3, const S3Request *req);

/* RFC 3986 encoding of s into b; "/" stays when keep_slash. */
void s3_encode(Buf *b, const char *s, bool keep_slash);

/* The easy handles: one per request at a time, kept for reuse. */
CURL *s3_handle_get(S3 *s3);
void s3_handle_put(S3 *s3, CURL *h);

/* Sets up h for req (URL, signing, headers, TLS, timeouts); *headers is
 * the list to free after the request. */
void s3_setup(S3 *s3, CURL *h, const S3Request *req, const char *payload_sha256,
              struct curl_slist **headers);

/* ---- streaming reads (read.c) ------------------------------------------ */

/* Starts a GET of [offset, offset+length) (length 0: to the end) and waits
 * for the answer's status; the state for s3_read_some, or NULL with err. */
void *s3_read_open(S3 *s3, const char *key, uint64_t offset, uint64_t length, Error *err);
/* Up to len bytes; 0 at the end, -1 on error (transient for a cut stream). */
long s3_read_some(void *state, const char *key, void *out, size_t len, Error *err);
void s3_read_close(void *state);

/* ---- answers ----------------------------------------------------------- */

/* The text of the first <tag>…</tag> at or after *pos in xml, unescaped,
 * malloc'd; *pos moves past it. NULL when there is none. */
char *s3_xml_next(const char *xml, const char *tag, size_t *pos);
/* The first <tag> of xml, or NULL. */
char *s3_xml_get(const char *xml, const char *tag);
/* Appends s XML-escaped to b. */
void s3_xml_escape(Buf *b, const char *s);

/* ---- credentials ------------------------------------------------------- */

/* Where the keys come from, in order: the configuration, the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then the
 * profile (AWS_PROFILE or "default") of AWS_SHARED_CREDENTIALS_FILE or
 * ~/.aws/credentials. Fills the malloc'd strings. */
bool s3_credentials(const StorageS3Options *o, char **key, char **secret, char **token,
                    Error *err);

#endif
