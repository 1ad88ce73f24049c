/*
 * storage_intern.h - what drivers see of the storage interface.
 *
 * Only storage.c and the drivers (posix/, later s3/) include this. The
 * generic handles (Storage, StorageWrite, StorageRead) carry the driver table
 * and a pointer to the driver's own state, so that storage.c can dispatch and
 * check arguments without knowing how or where objects are kept.
 */
#ifndef COFFER_STORAGE_STORAGE_INTERN_H
#define COFFER_STORAGE_STORAGE_INTERN_H

#include "storage/storage.h"

/* The driver table; each driver fills one with its functions. */
typedef struct StorageDriver
{
    const char *name;
    unsigned caps;
    StorageWrite *(*put_begin)(Storage *st, const char *key, Error *err);
    bool (*put_write)(StorageWrite *w, const void *data, size_t len, Error *err);
    bool (*put_end)(StorageWrite *w, Error *err); /* commits and frees */
    void (*put_abort)(StorageWrite *w);           /* discards and frees */
    StorageRead *(*get_begin)(Storage *st, const char *key, uint64_t offset, uint64_t length,
                              Error *err); /* length 0 = to the end */
    /* Reads up to len bytes; returns the count, 0 at the end, -1 on error. */
    long (*get_read)(StorageRead *r, void *buf, size_t len, Error *err);
    void (*get_end)(StorageRead *r);
    bool (*list)(Storage *st, const char *prefix, StorageList *out, Error *err);
    /* Removes what interrupted writes left under prefix (temp files, unfinished
     * uploads) older than max_age seconds; NULL when a driver leaves none. */
    bool (*sweep)(Storage *st, const char *prefix, unsigned max_age, uint64_t *removed,
                  Error *err);
    bool (*remove)(Storage *st, const char *key, Error *err); /* a missing key is not an error */
    /* Sets *exists; *size when non-NULL and the object exists. */
    bool (*exists)(Storage *st, const char *key, bool *exists, uint64_t *size, Error *err);
    void (*free)(Storage *st);
    /* Optional, for drivers whose writes can be resumed (S3): after put_write
     * or put_end failed with a transient error, the handle stays open and
     * put_resume tries the failed step again (for put_end: everything left,
     * freeing the handle on success). The retry wrapper calls it, or
     * put_abort when it gives up. */
    bool (*put_resume)(StorageWrite *w, Error *err);
} StorageDriver;

/* The driver constructors storage_open chooses from.
 * storage_posix_new: a local (or mounted) directory, see storage_open. */
Storage *storage_posix_new(const char *path, bool create, Error *err);

/* The S3 driver's table (storage_open_s3 builds its state). */
extern const StorageDriver storage_s3_driver;

/* The retry policy, as a wrapper around any driver: a call that fails with
 * a transient error (err->transient) is tried again after an exponential
 * backoff with jitter, up to retries more times; a read cut mid-stream
 * goes on from where it stopped; a write resumes through put_resume, and
 * one given up is aborted so that nothing half-written is visible. Takes
 * inner over: storage_free frees both. */
#define STORAGE_RETRY_DEFAULT 8
Storage *storage_retry_wrap(Storage *inner, unsigned retries);

/* Runs fn(arg) under st's retry policy (st from storage_retry_wrap). */
bool storage_retry_run(Storage *st, bool (*fn)(void *arg, Error *err), void *arg, Error *err);

struct Storage
{
    const StorageDriver *driver;
    StorageDriver *owned_driver; /* a table built for this storage (a wrapper's), or NULL */
    void *state;    /* owned by the driver, released by driver->free */
    char *location; /* printable, owned by storage.c */
};

/* An open write. The driver's put_end and put_abort release state and then
 * call storage_write_free. */
struct StorageWrite
{
    Storage *st;
    char *key;
    void *state;
};

/* An open read of [offset, offset+length); length 0 means to the end. The
 * generic layer counts bytes delivered so that a stream that ends early is
 * reported as truncated whatever the driver. The driver's get_end releases
 * state and then calls storage_read_free. */
struct StorageRead
{
    Storage *st;
    char *key;
    uint64_t offset;
    uint64_t length;
    uint64_t delivered;
    void *state;
};

/* Builds a Storage around a driver table and its state; location is copied.
 * driver->free must release state only; storage_free releases the rest. */
Storage *storage_new_intern(const StorageDriver *driver, void *state, const char *location);

/* Handle constructors for drivers; key is copied. */
StorageWrite *storage_write_new(Storage *st, const char *key, void *state);
void storage_write_free(StorageWrite *w);
StorageRead *storage_read_new(Storage *st, const char *key, uint64_t offset, uint64_t length,
                              void *state);
void storage_read_free(StorageRead *r);

/* Appends one entry (key copied) to a list being built by a driver's list;
 * order does not matter, storage_list sorts. */
void storage_list_add(StorageList *list, const char *key, uint64_t size);

/* Fills err with the common "object is truncated" message, so that every
 * driver and the generic layer word it the same way. Returns false. */
bool storage_error_truncated(Error *err, const char *key, uint64_t offset, uint64_t length,
                             uint64_t size);

/* Fills err with the common "object does not exist" message. Returns false. */
bool storage_error_missing(Error *err, const char *key);

#endif
