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
} StorageDriver;

/* The driver constructors storage_open chooses from.
 * storage_posix_new: a local (or mounted) directory, see storage_open. */
Storage *storage_posix_new(const char *path, bool create, Error *err);

struct Storage
{
    const StorageDriver *driver;
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
