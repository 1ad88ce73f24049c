/*
 * storage.c - the driver-independent half of the storage interface.
 *
 * Picks the driver from a spec (storage_open), checks every key, dispatches
 * through the driver table, and builds the whole-object conveniences
 * (storage_put, storage_get, storage_get_range) on the streaming calls.
 * Nothing here may assume a filesystem: the S3 driver plugs into the same
 * table.
 */
#include "storage/storage_intern.h"

#include "common/buf.h"
#include "common/mem.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Chunk size for whole-object reads; large enough that a pack is read in a
 * few hundred calls, small enough to be harmless on a worker's stack budget. */
#define STORAGE_READ_CHUNK (256 * 1024)

Storage *storage_new_intern(const StorageDriver *driver, void *state, const char *location)
{
    Storage *st = xcalloc(1, sizeof(*st));

    st->driver = driver;
    st->state = state;
    st->location = xstrdup(location);
    return st;
}

Storage *storage_open(const char *path, bool create, Error *err)
{
    /* a URL is never a directory name: creating "s3:/bucket" would only
     * hide the mistake */
    if (strstr(path, "://") != NULL)
    {
        error_set(err, ERR_USAGE, "repository path \"%s\" is a URL, not a directory", path);
        return error_hint(err, "an S3 repository is set with an s3: section (endpoint, bucket, "
                               "prefix, region), not with path:"),
               NULL;
    }
    return storage_posix_new(path, create, err);
}

void storage_free(Storage *st)
{
    if (st == NULL)
        return;
    if (st->driver->free != NULL)
        st->driver->free(st);
    free(st->owned_driver);
    free(st->location);
    free(st);
}

unsigned storage_caps(const Storage *st)
{
    return st->driver->caps;
}

const char *storage_location(const Storage *st)
{
    return st->location;
}

StorageWrite *storage_write_new(Storage *st, const char *key, void *state)
{
    StorageWrite *w = xcalloc(1, sizeof(*w));

    w->st = st;
    w->key = xstrdup(key);
    w->state = state;
    return w;
}

void storage_write_free(StorageWrite *w)
{
    if (w == NULL)
        return;
    free(w->key);
    free(w);
}

StorageRead *storage_read_new(Storage *st, const char *key, uint64_t offset, uint64_t length,
                              void *state)
{
    StorageRead *r = xcalloc(1, sizeof(*r));

    r->st = st;
    r->key = xstrdup(key);
    r->offset = offset;
    r->length = length;
    r->state = state;
    return r;
}

void storage_read_free(StorageRead *r)
{
    if (r == NULL)
        return;
    free(r->key);
    free(r);
}

bool storage_error_truncated(Error *err, const char *key, uint64_t offset, uint64_t length,
                             uint64_t size)
{
    if (length == 0)
        return error_set(err, ERR_FAILURE,
                         "object \"%s\" is truncated: wanted data at offset %" PRIu64
                         ", has %" PRIu64,
                         key, offset, size);
    return error_set(err, ERR_FAILURE,
                     "object \"%s\" is truncated: wanted %" PRIu64 " bytes at offset %" PRIu64
                     ", has %" PRIu64,
                     key, length, offset, size);
}

bool storage_error_missing(Error *err, const char *key)
{
    return error_set(err, ERR_FAILURE, "object \"%s\" does not exist", key);
}

/*
 * Keys are built by the repository layer, never from user input, so a bad
 * key is a bug; rejecting it here keeps a driver from ever being asked to
 * escape its root. A prefix follows the same rules except that it may be
 * empty (everything) or end in "/".
 */
static bool storage_check_name(const char *name, bool is_prefix, Error *err)
{
    const char *p;
    size_t len = strlen(name);
    bool bad = false;

    if (len == 0)
        bad = !is_prefix;
    else if (name[0] == '/' || strstr(name, "//") != NULL || strstr(name, "..") != NULL)
        bad = true;
    else if (!is_prefix && name[len - 1] == '/')
        bad = true;

    /* "." components would give one object two names. */
    if (!bad && (strcmp(name, ".") == 0 || strncmp(name, "./", 2) == 0 ||
                 strstr(name, "/./") != NULL || (len >= 2 && strcmp(name + len - 2, "/.") == 0)))
        bad = true;

    for (p = name; !bad && *p != '\0'; p++)
    {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            bad = true;
    }

    if (bad)
    {
        error_set(err, ERR_FAILURE, "invalid object %s \"%s\"", is_prefix ? "prefix" : "key", name);
        return error_detail(err, "keys are relative, non-empty, without \"..\", \"//\", \".\" "
                                 "components or control characters");
    }
    return true;
}

StorageWrite *storage_put_begin(Storage *st, const char *key, Error *err)
{
    if (!storage_check_name(key, false, err))
        return NULL;
    return st->driver->put_begin(st, key, err);
}

bool storage_put_write(StorageWrite *w, const void *data, size_t len, Error *err)
{
    if (len == 0)
        return true;
    return w->st->driver->put_write(w, data, len, err);
}

bool storage_put_end(StorageWrite *w, Error *err)
{
    return w->st->driver->put_end(w, err);
}

void storage_put_abort(StorageWrite *w)
{
    if (w == NULL)
        return;
    w->st->driver->put_abort(w);
}

bool storage_put(Storage *st, const char *key, const void *data, size_t len, Error *err)
{
    StorageWrite *w = storage_put_begin(st, key, err);

    if (w == NULL)
        return false;
    if (!storage_put_write(w, data, len, err))
    {
        storage_put_abort(w);
        return false;
    }
    return storage_put_end(w, err);
}

StorageRead *storage_get_begin(Storage *st, const char *key, uint64_t offset, uint64_t length,
                               Error *err)
{
    if (!storage_check_name(key, false, err))
        return NULL;
    if (length > 0 && offset > UINT64_MAX - length)
    {
        error_set(err, ERR_FAILURE,
                  "invalid range of object \"%s\": %" PRIu64 " bytes at offset %" PRIu64, key,
                  length, offset);
        return NULL;
    }
    return st->driver->get_begin(st, key, offset, length, err);
}

/*
 * Besides dispatching, keeps a driver from handing out more than the range
 * and turns an early end of a bounded range into the truncated error: an S3
 * response cut short or a file that shrank must never look like a short
 * object.
 */
long storage_get_read(StorageRead *r, void *buf, size_t len, Error *err)
{
    long n;

    if (len > LONG_MAX)
        len = LONG_MAX;
    if (r->length > 0)
    {
        uint64_t left = r->length - r->delivered;

        if (left == 0)
            return 0;
        if (len > left)
            len = (size_t)left;
    }
    if (len == 0)
        return 0;

    n = r->st->driver->get_read(r, buf, len, err);
    if (n < 0)
        return -1;
    if (n == 0 && r->length > 0 && r->delivered < r->length)
    {
        storage_error_truncated(err, r->key, r->offset, r->length, r->offset + r->delivered);
        return -1;
    }
    r->delivered += (uint64_t)n;
    return n;
}

void storage_get_end(StorageRead *r)
{
    if (r == NULL)
        return;
    r->st->driver->get_end(r);
}

bool storage_get(Storage *st, const char *key, unsigned char **out, size_t *len, Error *err)
{
    StorageRead *r = storage_get_begin(st, key, 0, 0, err);
    Buf b;

    *out = NULL;
    *len = 0;
    if (r == NULL)
        return false;

    buf_init(&b);
    for (;;)
    {
        long n;

        buf_reserve(&b, STORAGE_READ_CHUNK);
        n = storage_get_read(r, b.data + b.len, b.cap - b.len, err);
        if (n < 0)
        {
            storage_get_end(r);
            buf_free(&b);
            return false;
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
    }
    storage_get_end(r);

    /* NUL-terminate for text objects (the repository header, JSON); not counted. */
    buf_reserve(&b, 1);
    b.data[b.len] = '\0';
    *out = b.data;
    *len = b.len;
    return true;
}

bool storage_get_range(Storage *st, const char *key, uint64_t offset, uint64_t length,
                       unsigned char **out, Error *err)
{
    StorageRead *r;
    unsigned char *data;
    size_t got = 0;

    *out = NULL;
    if (length == 0 || length >= SIZE_MAX)
        return error_set(err, ERR_FAILURE,
                         "invalid range of object \"%s\": %" PRIu64 " bytes at offset %" PRIu64,
                         key, length, offset);

    r = storage_get_begin(st, key, offset, length, err);
    if (r == NULL)
        return false;

    data = xmalloc((size_t)length + 1);
    while (got < length)
    {
        long n = storage_get_read(r, data + got, (size_t)length - got, err);

        /* storage_get_read reports an early end of a bounded range itself. */
        if (n <= 0)
        {
            storage_get_end(r);
            free(data);
            return false;
        }
        got += (size_t)n;
    }
    storage_get_end(r);
    data[got] = '\0';
    *out = data;
    return true;
}

void storage_list_add(StorageList *list, const char *key, uint64_t size)
{
    /* Capacity is implied by count: grow whenever count reaches a power of two. */
    if (list->count == 0 || (list->count >= 16 && (list->count & (list->count - 1)) == 0))
    {
        size_t cap = list->count == 0 ? 16 : list->count * 2;

        list->items = xrealloc(list->items, cap * sizeof(*list->items));
    }
    list->items[list->count].key = xstrdup(key);
    list->items[list->count].size = size;
    list->count++;
}

static int storage_entry_cmp(const void *a, const void *b)
{
    const StorageEntry *x = a;
    const StorageEntry *y = b;

    return strcmp(x->key, y->key);
}

/* Sorting here rather than in each driver makes "in key order" a property of
 * the interface; byte order matches S3's ListObjectsV2. */
bool storage_list(Storage *st, const char *prefix, StorageList *out, Error *err)
{
    out->items = NULL;
    out->count = 0;
    if (!storage_check_name(prefix, true, err))
        return false;
    if (!st->driver->list(st, prefix, out, err))
    {
        storage_list_free(out);
        return false;
    }
    if (out->count > 1)
        qsort(out->items, out->count, sizeof(*out->items), storage_entry_cmp);
    return true;
}

void storage_list_free(StorageList *list)
{
    size_t i;

    if (list == NULL)
        return;
    for (i = 0; i < list->count; i++)
        free(list->items[i].key);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

bool storage_sweep(Storage *st, const char *prefix, unsigned max_age, uint64_t *removed,
                   Error *err)
{
    *removed = 0;
    if (!storage_check_name(prefix, true, err))
        return false;
    return st->driver->sweep == NULL || st->driver->sweep(st, prefix, max_age, removed, err);
}

bool storage_remove(Storage *st, const char *key, Error *err)
{
    if (!storage_check_name(key, false, err))
        return false;
    return st->driver->remove(st, key, err);
}

bool storage_exists(Storage *st, const char *key, bool *exists, uint64_t *size, Error *err)
{
    *exists = false;
    if (size != NULL)
        *size = 0;
    if (!storage_check_name(key, false, err))
        return false;
    return st->driver->exists(st, key, exists, size, err);
}
