/*
 * storage.h - where repository objects live: one interface, drivers behind it.
 *
 * Objects are named by relative keys ("data/3f/3fa9…", "snapshots/…"); a key
 * never contains "..", a leading "/" or user input. Writes are streamed and
 * become visible atomically at storage_put_end (rename on posix, PUT or
 * CompleteMultipartUpload on S3), so a crash never leaves a half object under
 * its final name. Nothing above this interface may assume a filesystem.
 *
 * Every call checks its key first: an empty key, a leading "/", "..", "//",
 * a "." component, a trailing "/" or a control character fails with
 * ERR_FAILURE "invalid object key "..."" before any driver is asked. A
 * Storage may be shared by threads; a StorageWrite or StorageRead belongs to
 * one thread at a time. Drivers live behind storage_intern.h, and
 * storage_open picks one from the spec.
 */
#ifndef COFFER_STORAGE_STORAGE_H
#define COFFER_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct Storage Storage;
typedef struct StorageWrite StorageWrite;
typedef struct StorageRead StorageRead;

/* What a driver can do; callers may use faster paths when a bit is set. */
enum
{
    STORAGE_CAP_RANGE = 1 << 0,      /* storage_get_range is cheap */
    STORAGE_CAP_ATOMIC_PUT = 1 << 1, /* an object appears whole or not at all */
    STORAGE_CAP_LOCAL = 1 << 2,      /* a local filesystem */
};

/* One listed object. */
typedef struct StorageEntry
{
    char *key;     /* relative key, e.g. "index/ab12…" */
    uint64_t size; /* bytes */
} StorageEntry;

typedef struct StorageList
{
    StorageEntry *items;
    size_t count;
} StorageList;

/* Opens a posix directory, rooted there. create=true makes the directory
 * (0700) when missing. Fails with a clear error when the path is a file,
 * is not writable, or (create=false) does not exist. */
Storage *storage_open(const char *path, bool create, Error *err);

/* Where an S3 repository is and how to reach it. */
typedef struct StorageS3Options
{
    const char *endpoint; /* "https://s3.eu-west-1.amazonaws.com"; NULL: AWS for region */
    const char *bucket;
    const char *prefix;   /* NULL, "" or "prod/" (a "/" is added when missing) */
    const char *region;   /* NULL: us-east-1 */
    int path_style;       /* 1 path-style, 0 virtual-hosted, -1 path-style for an IP or localhost */
    const char *ca_file;  /* a private CA, added to the system's; verification is always on */
    const char *storage_class; /* x-amz-storage-class of new objects, or NULL */
    const char *access_key_id; /* NULL: the environment, then the credentials file */
    const char *secret_access_key;
    const char *session_token;
    const char *profile;  /* of the credentials file; NULL: $AWS_PROFILE, else "default" */
    uint64_t part_size;   /* multipart part size; 0: 8 MiB (at least 5 MiB) */
    unsigned timeout;     /* seconds a request may go without progress; 0: 60 */
    int retries;          /* tries after the first on a transient fault; < 0: 8 */
} StorageS3Options;

/* Opens an S3 bucket (and prefix) as storage, wrapped in the retry policy
 * (storage_retry_wrap). Checks at once that the bucket answers with these
 * credentials and region, so that a wrong key, bucket, region, clock or an
 * endpoint that is not S3 fails here with an error that says which. */
Storage *storage_open_s3(const StorageS3Options *opts, Error *err);

/* Frees the storage and its driver state. */
void storage_free(Storage *st);

/* The driver's capability bits, and a printable location ("/var/lib/coffer/repo"). */
unsigned storage_caps(const Storage *st);
const char *storage_location(const Storage *st);

/* Streaming write; nothing is visible under key until storage_put_end
 * returns true. An existing object under key is replaced. After a failed
 * storage_put_write the handle is still open: call storage_put_abort.
 * storage_put_end always frees the handle; on failure nothing new is
 * visible (except that on posix a failed directory fsync after the rename
 * leaves the object in place, possibly not yet durable). storage_put_abort
 * discards what was written and frees the handle; NULL is ignored. A full
 * disk is reported as "could not write object "KEY": the disk is full". */
StorageWrite *storage_put_begin(Storage *st, const char *key, Error *err);
bool storage_put_write(StorageWrite *w, const void *data, size_t len, Error *err);
bool storage_put_end(StorageWrite *w, Error *err);
void storage_put_abort(StorageWrite *w);

/* Whole-object convenience write. */
bool storage_put(Storage *st, const char *key, const void *data, size_t len, Error *err);

/* Streaming read of [offset, offset+length) (length 0: to the end). A read
 * past the end of the object or of a missing object is an error naming the key:
 * "object "KEY" is truncated: wanted N bytes at offset M, has S" or
 * "object "KEY" does not exist"; the range is checked at storage_get_begin
 * where the driver can, and again while reading (a stream that ends early is
 * truncated, never short). storage_get_read returns the number of bytes read
 * (never more than the rest of the range), 0 at the end of the range, -1 on
 * error. storage_get_end frees the handle; NULL is ignored. */
StorageRead *storage_get_begin(Storage *st, const char *key, uint64_t offset, uint64_t length,
                               Error *err);
long storage_get_read(StorageRead *r, void *buf, size_t len, Error *err);
void storage_get_end(StorageRead *r);

/* Reads a whole object (or a range) into a fresh malloc'd buffer (*out,
 * *len) that the caller frees; fails when fewer bytes than asked for exist
 * ("truncated"). The buffer has a NUL after the data (not counted), so text
 * objects can be used as strings. storage_get_range needs length > 0 (use
 * storage_get for a whole object) and sets *out to NULL on failure. */
bool storage_get(Storage *st, const char *key, unsigned char **out, size_t *len, Error *err);
bool storage_get_range(Storage *st, const char *key, uint64_t offset, uint64_t length,
                       unsigned char **out, Error *err);

/* Lists objects whose key starts with prefix (e.g. "index/", or "" for all),
 * in byte order of the keys; an absent prefix lists as empty. On failure *out
 * is empty. The prefix follows the key rules except that it may be empty or
 * end in "/". storage_list_free frees the entries and empties the list. */
bool storage_list(Storage *st, const char *prefix, StorageList *out, Error *err);
void storage_list_free(StorageList *list);

/* Removes what writes interrupted by a crash or kill -9 left behind under
 * prefix ("" for all), when older than max_age seconds; such leftovers are
 * never listed, so only this reclaims their space. Sets *removed. Call it
 * with max_age 0 only where no other writer can be active (an exclusive
 * lock), since a write in progress looks the same. */
bool storage_sweep(Storage *st, const char *prefix, unsigned max_age, uint64_t *removed,
                   Error *err);

/* Removes an object; a missing object is not an error. */
bool storage_remove(Storage *st, const char *key, Error *err);

/* Sets *exists (and *size when non-NULL and the object exists); false only
 * when the driver could not tell. */
bool storage_exists(Storage *st, const char *key, bool *exists, uint64_t *size, Error *err);

#endif
