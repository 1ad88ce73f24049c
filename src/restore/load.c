/*
 * load.c - the parallel loader: the target's tables, biggest first, by N
 * COPY FROM STDIN streams read straight from the repository (a prefetch
 * thread per stream decrypts the next chunks meanwhile), each checked
 * against the manifest's row count and content hash; and ANALYZE on the
 * same workers.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pool.h"
#include "restore/restore_intern.h"

typedef struct LoadJob
{
    const ManTable *table;
    const char *schema;
    const char *name;
    int64_t bytes;
} LoadJob;

typedef struct Loader
{
    Restore *r;
    Target *t;
    LoadKind kind;
    LoadJob *jobs;
    size_t n_jobs;
    size_t next;
    bool failed;
    PGconn *shared; /* data-only: work on this connection, in its transaction */
    Error err;
    pthread_mutex_t lock;
} Loader;

typedef struct LoadSink
{
    Restore *r;
    PGconn *conn;
    uint64_t rows;
    uint64_t bytes;
} LoadSink;

static bool restore_load_write(void *arg, const void *data, size_t len, Error *err)
{
    LoadSink *s = arg;
    const char *p = data;

    /* in COPY text format every row ends with a newline; embedded ones are escaped */
    for (const char *q = memchr(p, '\n', len); q != NULL;
         q = memchr(q + 1, '\n', len - (size_t)(q + 1 - p)))
        s->rows++;
    s->bytes += len;
    pthread_mutex_lock(&s->r->lock);
    s->r->bytes += len;
    pthread_mutex_unlock(&s->r->lock);
    return pg_copy_in_write(s->conn, data, len, err);
}

/* Reading a table's chunks (fetch, decrypt, decompress, verify) runs on a
 * thread of its own and hands plaintext over through a few slots, so that
 * preparing the next chunk overlaps sending this one to the server. Memory
 * stays bounded: RESTORE_PREFETCH chunks per loading worker. */
#define RESTORE_PREFETCH 4

typedef struct Prefetch
{
    pthread_mutex_t mu;
    pthread_cond_t cond;
    Buf slots[RESTORE_PREFETCH];
    size_t head;  /* the slot the sender takes next */
    size_t count; /* filled slots */
    bool done;    /* the reader finished (see failed) */
    bool failed;
    bool cancel; /* the sender gave up: the reader stops */
    Error err;
    Repo *repo;
    json_t *chunks;
    char hash[65]; /* content hash of what was read, once done */
} Prefetch;

static bool restore_prefetch_put(void *arg, const void *data, size_t len, Error *err)
{
    Prefetch *p = arg;
    Buf *slot;

    pthread_mutex_lock(&p->mu);
    while (p->count == RESTORE_PREFETCH && !p->cancel)
        pthread_cond_wait(&p->cond, &p->mu);
    if (p->cancel)
    {
        pthread_mutex_unlock(&p->mu);
        return error_set(err, ERR_FAILURE, "loading the table was cancelled");
    }
    /* the slot after the filled ones is never the one being sent */
    slot = &p->slots[(p->head + p->count) % RESTORE_PREFETCH];
    pthread_mutex_unlock(&p->mu);
    buf_reset(slot);
    buf_append(slot, data, len);
    pthread_mutex_lock(&p->mu);
    p->count++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return true;
}

static void restore_prefetch_run(void *arg, int id)
{
    Prefetch *p = arg;
    Error err;
    bool ok;

    (void)id;
    error_clear(&err);
    ok = repo_read_chunks(p->repo, p->chunks, restore_prefetch_put, p, p->hash, &err);
    pthread_mutex_lock(&p->mu);
    p->done = true;
    if (!ok)
    {
        p->failed = true;
        p->err = err;
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

/* Streams the table's chunks into the open COPY and sets hash to the
 * content hash of what was sent; false with err when reading or sending
 * failed. */
static bool restore_send_chunks(Loader *l, LoadJob *j, LoadSink *sink, char hash[65], Error *err)
{
    Prefetch p;
    Pool *reader;
    bool ok = true;

    memset(&p, 0, sizeof(p));
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cond, NULL);
    for (int i = 0; i < RESTORE_PREFETCH; i++)
        buf_init(&p.slots[i]);
    p.repo = l->r->repo;
    p.chunks = j->table->data.chunks;
    reader = pool_start(1, restore_prefetch_run, &p);
    for (;;)
    {
        Buf *slot;

        pthread_mutex_lock(&p.mu);
        while (p.count == 0 && !p.done)
            pthread_cond_wait(&p.cond, &p.mu);
        if (p.count == 0)
        {
            pthread_mutex_unlock(&p.mu);
            break;
        }
        slot = &p.slots[p.head];
        pthread_mutex_unlock(&p.mu);
        ok = restore_load_write(sink, slot->data, slot->len, err);
        pthread_mutex_lock(&p.mu);
        p.head = (p.head + 1) % RESTORE_PREFETCH;
        p.count--;
        if (!ok)
            p.cancel = true;
        pthread_cond_broadcast(&p.cond);
        pthread_mutex_unlock(&p.mu);
        if (!ok)
            break;
    }
    pool_wait(reader, 0, NULL, NULL);
    if (ok && p.failed)
    {
        *err = p.err;
        ok = false;
    }
    if (ok)
        memcpy(hash, p.hash, sizeof(p.hash));
    for (int i = 0; i < RESTORE_PREFETCH; i++)
        buf_free(&p.slots[i]);
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.mu);
    return ok;
}

static bool restore_load_table(Loader *l, PGconn *conn, LoadJob *j, Error *err)
{
    LoadSink s = {l->r, conn, 0, 0};
    const char *want_hash = j->table->data.hash;
    uint64_t want_rows = j->table->rows;
    char hash[65];

    if (!pg_copy_in_begin(conn, j->schema, j->name, err))
        return false;
    if (!restore_send_chunks(l, j, &s, hash, err))
    {
        Error ignore;

        pg_copy_in_end(conn, "restore aborted", &ignore);
        return error_prefix(err, "table \"%s\".\"%s\"", j->schema, j->name);
    }
    if (s.rows != want_rows || strcmp(hash, want_hash) != 0)
    {
        Error ignore;

        pg_copy_in_end(conn, "content check failed", &ignore);
        error_set(err, ERR_FAILURE,
                  "table \"%s\".\"%s\": restored data does not match the snapshot (%llu rows, "
                  "hash %.12s; manifest says %llu rows, hash %.12s)",
                  j->schema, j->name, (unsigned long long)s.rows, hash,
                  (unsigned long long)want_rows, want_hash);
        return error_hint(err, "run \"coffer check --read-data\" on the repository");
    }
    if (!pg_copy_in_end(conn, NULL, err))
        return error_prefix(err, "table \"%s\".\"%s\"", j->schema, j->name);
    pthread_mutex_lock(&l->r->lock);
    l->r->rows += s.rows;
    pthread_mutex_unlock(&l->r->lock);
    return true;
}

static bool restore_analyze_table(PGconn *conn, LoadJob *j, Error *err)
{
    char *q = pg_quote_qualified(conn, j->schema, j->name, err);
    char *sql;
    bool ok;

    if (q == NULL)
        return false;
    sql = xasprintf("ANALYZE %s", q);
    ok = pg_command(conn, "analyze", sql, err);
    free(sql);
    free(q);
    return ok;
}

static void restore_load_worker(void *arg, int id)
{
    Loader *l = arg;
    Error err;
    PGconn *conn;

    (void)id;
    error_clear(&err);
    conn = l->shared ? l->shared : restore_connect(l->r, l->t->db, &err);
    if (conn != NULL && l->shared == NULL)
    {
        pg_command(conn, "tune session", "SET synchronous_commit = off", &err);
        error_clear(&err);
    }
    for (;;)
    {
        LoadJob *j = NULL;

        pthread_mutex_lock(&l->lock);
        if (!l->failed && l->next < l->n_jobs && conn != NULL)
            j = &l->jobs[l->next++];
        pthread_mutex_unlock(&l->lock);
        if (j == NULL)
            break;
        if (l->kind == LOAD_ANALYZE)
        {
            if (!restore_analyze_table(conn, j, &err))
                break;
            continue;
        }
        if (!restore_load_table(l, conn, j, &err))
            break;
        pthread_mutex_lock(&l->r->lock);
        l->r->tables_done++;
        pthread_mutex_unlock(&l->r->lock);
    }
    pthread_mutex_lock(&l->lock);
    if (error_is_set(&err) && !l->failed)
    {
        l->failed = true;
        l->err = err;
    }
    pthread_mutex_unlock(&l->lock);
    if (l->shared == NULL)
        PQfinish(conn);
}

static int restore_job_cmp(const void *a, const void *b)
{
    const LoadJob *x = a, *y = b;

    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* Reports the data load's progress to the plan's callback. */
static void restore_progress(void *arg)
{
    Restore *r = arg;
    ProgressSample smp = {"restore", "loaded", 0, 0, 0, 0, 0, false};

    if (r->a->progress == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    smp.done = r->tables_done;
    smp.total = r->tables_total;
    smp.bytes = r->bytes;
    smp.bytes_total = r->bytes_total;
    pthread_mutex_unlock(&r->lock);
    smp.elapsed = fmt_now() - r->started;
    r->a->progress(r->a->progress_arg, &smp);
}

/* Loads (or, with kind LOAD_ANALYZE, analyzes) the target's selected
 * tables in parallel, the biggest first; schema = the target schema (schema
 * model) or the table's own schema (database model). With shared, one table
 * after another on that connection (inside its transaction). */
bool restore_tables(Restore *r, Target *t, LoadKind kind, PGconn *shared, Error *err)
{
    Loader l;
    size_t idx;
    int njobs;

    memset(&l, 0, sizeof(l));
    l.r = r;
    l.t = t;
    l.kind = kind;
    l.shared = shared;
    pthread_mutex_init(&l.lock, NULL);
    l.jobs = xcalloc(t->unit->n_tables + 1, sizeof(LoadJob));
    for (idx = 0; idx < t->unit->n_tables; idx++)
    {
        const ManTable *tab = &t->unit->tables[idx];
        LoadJob *j;

        if (!restore_table_selected(r, t, tab->name))
            continue;
        j = &l.jobs[l.n_jobs++];
        j->table = tab;
        j->schema = r->ops->table_schema(t->schema, tab->schema);
        j->name = tab->name;
        j->bytes = (int64_t)tab->data.bytes;
    }
    qsort(l.jobs, l.n_jobs, sizeof(LoadJob), restore_job_cmp);
    if (kind == LOAD_DATA)
    {
        pthread_mutex_lock(&r->lock);
        r->tables_total += l.n_jobs;
        for (size_t k = 0; k < l.n_jobs; k++)
            r->bytes_total += (uint64_t)l.jobs[k].bytes;
        pthread_mutex_unlock(&r->lock);
    }
    njobs = r->a->jobs < (int)l.n_jobs ? r->a->jobs : (int)l.n_jobs;
    if (shared != NULL && njobs > 1)
        njobs = 1;
    /* progress four times a second, and no waiting once the last worker is done */
    pool_wait(pool_start(njobs, restore_load_worker, &l), 250,
              kind == LOAD_DATA ? restore_progress : NULL, r);
    if (kind == LOAD_DATA && r->a->progress != NULL)
    {
        ProgressSample last = {"restore", "loaded", 0, 0, 0, 0, 0, true};

        r->a->progress(r->a->progress_arg, &last);
    }
    free(l.jobs);
    pthread_mutex_destroy(&l.lock);
    if (l.failed)
    {
        *err = l.err;
        return false;
    }
    return true;
}
