/*
 * retry.c - the retry policy, as a storage driver that wraps another.
 *
 * Networks drop connections and object stores answer 500, 503 and 429
 * under load; none of that should fail a backup. The inner driver says
 * which failures are worth another try (err->transient) and keeps what it
 * needs to try a write step again (put_resume); this wrapper decides when
 * and how often: exponential backoff with full jitter, a fixed number of
 * tries. So no driver call carries its own retry loop, and the policy is
 * the same for every call.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "storage/storage_intern.h"

#define RETRY_BASE_MS 200
#define RETRY_CAP_MS 10000

typedef struct Retry
{
    Storage *inner;
    unsigned retries;
} Retry;

typedef struct RetryRead
{
    StorageRead *inner;
    uint64_t got; /* bytes delivered so far */
} RetryRead;

static Retry *retry_of(Storage *st)
{
    return st->state;
}

/* Sleeps before try number attempt (1-based): a random time up to
 * base * 2^(attempt-1), capped. */
static void retry_sleep(unsigned attempt)
{
    static __thread unsigned seed;
    unsigned cap = RETRY_BASE_MS << (attempt < 7 ? attempt - 1 : 6);
    unsigned ms;
    struct timespec ts;

    if (seed == 0)
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    if (cap > RETRY_CAP_MS)
        cap = RETRY_CAP_MS;
    ms = cap / 2 + (unsigned)rand_r(&seed) % (cap / 2 + 1);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Whether a failure may be tried again, and the wait before it. */
static bool retry_again(const Retry *rt, unsigned *attempt, const Error *err)
{
    if (!err->transient || *attempt >= rt->retries)
        return false;
    (*attempt)++;
    log_debug("%s; trying again (%u of %u)", err->message, *attempt, rt->retries);
    retry_sleep(*attempt);
    return true;
}

/* A call that succeeded on another try leaves no error behind: callers
 * that look at err afterwards must not see the fault it overcame. */
static bool retry_done(unsigned attempt, Error *err)
{
    if (attempt > 0)
        error_clear(err);
    return true;
}

/* The failure that ended the tries: say so when there were several. */
static bool retry_gave_up(unsigned attempt, Error *err)
{
    if (attempt > 0 && err->transient)
        error_detail(err, "gave up after %u tries", attempt + 1);
    return false;
}

bool storage_retry_run(Storage *st, bool (*fn)(void *arg, Error *err), void *arg, Error *err)
{
    unsigned attempt = 0;

    for (;;)
    {
        if (fn(arg, err))
            return retry_done(attempt, err);
        if (!retry_again(retry_of(st), &attempt, err))
            return retry_gave_up(attempt, err);
    }
}

/* ---- writes ------------------------------------------------------------- */

static StorageWrite *retry_put_begin(Storage *st, const char *key, Error *err)
{
    Storage *in = retry_of(st)->inner;
    StorageWrite *iw = in->driver->put_begin(in, key, err);

    return iw != NULL ? storage_write_new(st, key, iw) : NULL;
}

/* Tries the failed step of an inner write again until it succeeds. */
static bool retry_resume(Storage *st, StorageWrite *iw, Error *err)
{
    const Retry *rt = retry_of(st);
    unsigned attempt = 0;

    if (iw->st->driver->put_resume == NULL)
        return false;
    while (retry_again(rt, &attempt, err))
        if (iw->st->driver->put_resume(iw, err))
            return retry_done(attempt, err);
    return retry_gave_up(attempt, err);
}

static bool retry_put_write(StorageWrite *w, const void *data, size_t len, Error *err)
{
    StorageWrite *iw = w->state;

    return iw->st->driver->put_write(iw, data, len, err) || retry_resume(w->st, iw, err);
}

static bool retry_put_end(StorageWrite *w, Error *err)
{
    StorageWrite *iw = w->state;
    const StorageDriver *d = iw->st->driver;
    bool ok = d->put_end(iw, err);

    if (!ok && d->put_resume != NULL)
    {
        /* a resumable driver keeps the handle after a failed end */
        ok = retry_resume(w->st, iw, err);
        if (!ok)
            d->put_abort(iw);
    }
    storage_write_free(w);
    return ok;
}

static void retry_put_abort(StorageWrite *w)
{
    StorageWrite *iw = w->state;

    iw->st->driver->put_abort(iw);
    storage_write_free(w);
}

/* ---- reads -------------------------------------------------------------- */

typedef struct RetryOpen
{
    Storage *in;
    const char *key;
    uint64_t offset, length;
    StorageRead *out;
} RetryOpen;

static bool retry_open_once(void *arg, Error *err)
{
    RetryOpen *o = arg;

    o->out = o->in->driver->get_begin(o->in, o->key, o->offset, o->length, err);
    return o->out != NULL;
}

static StorageRead *retry_get_begin(Storage *st, const char *key, uint64_t offset,
                                    uint64_t length, Error *err)
{
    RetryOpen o = {retry_of(st)->inner, key, offset, length, NULL};
    RetryRead *rr;

    if (!storage_retry_run(st, retry_open_once, &o, err))
        return NULL;
    rr = xcalloc(1, sizeof(*rr));
    rr->inner = o.out;
    return storage_read_new(st, key, offset, length, rr);
}

/* A stream cut short goes on from where it stopped, in a new request. */
static long retry_get_read(StorageRead *r, void *buf, size_t len, Error *err)
{
    RetryRead *rr = r->state;
    const Retry *rt = retry_of(r->st);
    unsigned attempt = 0;

    for (;;)
    {
        long n = rr->inner != NULL ? rr->inner->st->driver->get_read(rr->inner, buf, len, err) : -1;
        RetryOpen o;

        if (n >= 0)
        {
            rr->got += (uint64_t)n;
            retry_done(attempt, err);
            return n;
        }
        if (!retry_again(rt, &attempt, err))
        {
            retry_gave_up(attempt, err);
            return -1;
        }
        if (rr->inner != NULL)
            rr->inner->st->driver->get_end(rr->inner);
        o = (RetryOpen){rt->inner, r->key, r->offset + rr->got,
                        r->length > 0 ? r->length - rr->got : 0, NULL};
        rr->inner = NULL;
        if (r->length > 0 && rr->got >= r->length)
            return 0;
        if (retry_open_once(&o, err))
            rr->inner = o.out;
        else
            err->transient = true; /* counted as one more try of the read */
    }
}

static void retry_get_end(StorageRead *r)
{
    RetryRead *rr = r->state;

    if (rr->inner != NULL)
        rr->inner->st->driver->get_end(rr->inner);
    free(rr);
    storage_read_free(r);
}

/* ---- the rest ----------------------------------------------------------- */

typedef struct RetryCall
{
    Storage *in;
    const char *key;
    StorageList *list;
    bool *exists;
    uint64_t *size;
    unsigned max_age;
} RetryCall;

static bool retry_list_once(void *arg, Error *err)
{
    RetryCall *c = arg;

    storage_list_free(c->list);
    return c->in->driver->list(c->in, c->key, c->list, err);
}

static bool retry_list(Storage *st, const char *prefix, StorageList *out, Error *err)
{
    RetryCall c = {.in = retry_of(st)->inner, .key = prefix, .list = out};

    return storage_retry_run(st, retry_list_once, &c, err);
}

static bool retry_remove_once(void *arg, Error *err)
{
    RetryCall *c = arg;

    return c->in->driver->remove(c->in, c->key, err);
}

static bool retry_remove(Storage *st, const char *key, Error *err)
{
    RetryCall c = {.in = retry_of(st)->inner, .key = key};

    return storage_retry_run(st, retry_remove_once, &c, err);
}

static bool retry_exists_once(void *arg, Error *err)
{
    RetryCall *c = arg;

    return c->in->driver->exists(c->in, c->key, c->exists, c->size, err);
}

static bool retry_exists(Storage *st, const char *key, bool *exists, uint64_t *size, Error *err)
{
    RetryCall c = {.in = retry_of(st)->inner, .key = key, .exists = exists, .size = size};

    return storage_retry_run(st, retry_exists_once, &c, err);
}

static bool retry_sweep_once(void *arg, Error *err)
{
    RetryCall *c = arg;

    return c->in->driver->sweep == NULL ||
           c->in->driver->sweep(c->in, c->key, c->max_age, c->size, err);
}

static bool retry_sweep(Storage *st, const char *prefix, unsigned max_age, uint64_t *removed,
                        Error *err)
{
    RetryCall c = {.in = retry_of(st)->inner, .key = prefix, .size = removed, .max_age = max_age};

    *removed = 0;
    return storage_retry_run(st, retry_sweep_once, &c, err);
}

static void retry_free(Storage *st)
{
    Retry *rt = retry_of(st);

    storage_free(rt->inner);
    free(rt);
}

static StorageDriver retry_driver_for(const StorageDriver *inner)
{
    StorageDriver d = {
        .name = inner->name,
        .caps = inner->caps,
        .put_begin = retry_put_begin,
        .put_write = retry_put_write,
        .put_end = retry_put_end,
        .put_abort = retry_put_abort,
        .get_begin = retry_get_begin,
        .get_read = retry_get_read,
        .get_end = retry_get_end,
        .list = retry_list,
        .sweep = retry_sweep,
        .remove = retry_remove,
        .exists = retry_exists,
        .free = retry_free,
    };

    return d;
}

Storage *storage_retry_wrap(Storage *inner, unsigned retries)
{
    Retry *rt = xcalloc(1, sizeof(*rt));
    StorageDriver *d = xmalloc(sizeof(*d));
    Storage *st;

    rt->inner = inner;
    rt->retries = retries;
    *d = retry_driver_for(inner->driver);
    st = storage_new_intern(d, rt, storage_location(inner));
    st->owned_driver = d;
    return st;
}
