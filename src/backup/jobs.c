/*
 * jobs.c - the backup's job queue and its workers: opening a database,
 * dumping its DDL, copying tables (small tenants bundled on one worker),
 * largest first; a failed part is reported and left out, a lost server
 * stops the whole run.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup_intern.h"
#include "common/buf.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"

Job *job_new(JobKind kind, Session *s, Unit *u, const char *schema, const char *table,
                    int64_t est)
{
    Job *j = xcalloc(1, sizeof(Job));

    j->kind = kind;
    j->session = s;
    j->unit = u;
    j->schema = schema ? xstrdup(schema) : NULL;
    j->table = table ? xstrdup(table) : NULL;
    j->est_bytes = est;
    return j;
}

void job_free(Job *j)
{
    while (j != NULL)
    {
        Job *more = j->more;

        free(j->schema);
        free(j->table);
        free(j);
        j = more;
    }
}

static uint64_t job_tables(const Job *j)
{
    uint64_t n = 0;

    for (; j != NULL; j = j->more)
        n++;
    return n;
}

/* A tenant smaller than this is one job: its tables go through one worker
 * one after the other, so they share that worker's open pack instead of
 * scattering over a pack per worker (2,000 tiny tenants would otherwise
 * make twice as many tiny packs, each with its own fsync). */
#define BACKUP_BUNDLE_BYTES (64 * 1024 * 1024)

/* Chains the table jobs of each small unit behind its largest one; returns
 * the new number of top-level jobs in jobs[0..n). */
size_t backup_bundle(Job **jobs, size_t n)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++)
    {
        Job *head = NULL;

        if (jobs[i] == NULL)
            continue;
        if (jobs[i]->unit->tenant->bytes < 0 || jobs[i]->unit->tenant->bytes >= BACKUP_BUNDLE_BYTES)
        {
            jobs[out++] = jobs[i];
            continue;
        }
        head = jobs[i];
        for (size_t k = i + 1; k < n; k++)
        {
            if (jobs[k] == NULL || jobs[k]->unit != head->unit)
                continue;
            jobs[k]->more = head->more;
            head->more = jobs[k];
            head->est_bytes += jobs[k]->est_bytes;
            jobs[k] = NULL;
        }
        jobs[out++] = head;
    }
    return out;
}

static int job_cmp_size(const void *a, const void *b)
{
    const Job *x = *(Job *const *)a, *y = *(Job *const *)b;

    return x->est_bytes < y->est_bytes ? 1 : x->est_bytes > y->est_bytes ? -1 : 0;
}

/* Appends a dump job (schema dump or globals) to its queue; lock held. */
void backup_push_dump(Backup *b, Job *j)
{
    Job **tail = &b->dumps;

    while (*tail != NULL)
        tail = &(*tail)->next;
    j->next = NULL;
    *tail = j;
    pthread_cond_broadcast(&b->wake);
}

/* Puts jobs at the front of the queue, largest first; lock held. */
void backup_push_front(Backup *b, Job **jobs, size_t n)
{
    qsort(jobs, n, sizeof(Job *), job_cmp_size);
    for (size_t i = n; i-- > 0;)
    {
        jobs[i]->next = b->queue;
        b->queue = jobs[i];
    }
    pthread_cond_broadcast(&b->wake);
}

void backup_unit_fail(Backup *b, Unit *u, const Error *err)
{
    pthread_mutex_lock(&b->lock);
    if (!u->failed)
    {
        u->failed = true;
        char name[256];

        snprintf(u->error, sizeof(u->error), "%s", err->message);
        fmt_printable(u->tenant->name, name, sizeof(name));
        log_error("%s \"%s\" failed: %s", u->tenant->shared ? "shared part" : "tenant", name,
                  err->message);
        if (err->detail[0] != '\0')
            log_error_detail("%s", err->detail);
        if (err->hint[0] != '\0')
            log_error_hint("%s", err->hint);
    }
    pthread_mutex_unlock(&b->lock);
}

static void backup_session_fail(Backup *b, Session *s, const Error *err)
{
    s->failed = true;
    for (size_t i = 0; i < s->n_units; i++)
        backup_unit_fail(b, s->units[i], err);
}

/* A job of the session finished: the last one closes the coordinator. */
static void backup_session_done(Backup *b, Session *s)
{
    PGconn *close_conn = NULL;

    pthread_mutex_lock(&b->lock);
    if (--s->pending == 0)
    {
        close_conn = s->coord;
        s->coord = NULL;
    }
    pthread_mutex_unlock(&b->lock);
    if (close_conn != NULL)
        PQfinish(close_conn);
}

/* The next job for a -j worker (dumps false) or for the dump thread. An
 * empty queue ends a worker only when no database is still being opened:
 * opening one queues its tables (and its schema dump). */
static Job *backup_next_job(Backup *b, bool dumps)
{
    Job *j = NULL;

    pthread_mutex_lock(&b->lock);
    while (!b->stop)
    {
        Job **q = dumps ? &b->dumps : &b->queue;

        /* with no table left to copy, a worker helps with the schema dumps
         * before opening another database: every open database holds a
         * connection until its dump is done, and opening them faster than
         * they are dumped runs the server out of connections */
        if (!dumps && b->dumps != NULL && (b->queue == NULL || b->queue->kind == JOB_OPEN))
            q = &b->dumps;
        if (*q == NULL)
        {
            struct timespec until;
            bool more = dumps ? b->opens_queued > 0 || b->opens_running > 0
                              : b->opens_running > 0;

            if (!more)
                break;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 100 * 1000 * 1000;
            if (until.tv_nsec >= 1000000000L)
            {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&b->wake, &b->lock, &until);
            continue;
        }
        j = *q;
        *q = j->next;
        /* skip work for units or databases that already failed */
        if ((j->kind == JOB_TABLE && j->unit->failed) || (j->kind == JOB_DDL && j->session->failed))
        {
            Session *s = j->session;

            if (j->kind == JOB_TABLE)
                b->tables_done += job_tables(j);
            job_free(j);
            j = NULL;
            pthread_mutex_unlock(&b->lock);
            backup_session_done(b, s);
            pthread_mutex_lock(&b->lock);
            continue;
        }
        if (j->kind == JOB_OPEN)
        {
            b->opens_queued--;
            b->opens_running++;
        }
        break;
    }
    if (j != NULL)
        b->jobs_running++;
    pthread_mutex_unlock(&b->lock);
    return j;
}

/* After a job failed: if the server itself is gone (or restarting after a
 * crash), this is not one tenant's failure. Every part still running is
 * cut off and what finished may predate a crash the server recovers from:
 * the backup stops without a snapshot. Returns true when it stopped it. */
static bool backup_server_lost(Backup *b, const Error *cause)
{
    Error probe;
    PGconn *conn;

    error_clear(&probe);
    conn = pg_connect(b->cfg->pg_conninfo, NULL, &probe);
    if (conn != NULL)
    {
        PQfinish(conn);
        return false;
    }
    pthread_mutex_lock(&b->lock);
    if (!b->stop)
    {
        b->stop = true;
        error_clear(&b->fatal);
        error_set(&b->fatal, ERR_FAILURE, "lost the server during the backup: %s", cause->message);
        error_detail(&b->fatal, "%s", probe.message);
    }
    pthread_mutex_unlock(&b->lock);
    return true;
}

void backup_worker(void *arg, int id)
{
    Backup *b = arg;
    Worker *w = &b->workers[id];
    Job *j;

    while ((j = backup_next_job(b, w->dumps)) != NULL)
    {
        Error err;
        bool ok = true;

        error_clear(&err);
        switch (j->kind)
        {
        case JOB_GLOBALS:
            ok = backup_run_globals(w, &err);
            if (!ok)
            {
                pthread_mutex_lock(&b->lock);
                b->stop = true;
                b->fatal = err;
                error_prefix(&b->fatal, "backing up roles and tablespaces");
                pthread_mutex_unlock(&b->lock);
            }
            break;
        case JOB_OPEN:
            if (!backup_open(b, j->session, &err))
            {
                error_prefix(&err, "database \"%s\"", j->session->dbname);
                if (!backup_server_lost(b, &err))
                    backup_session_fail(b, j->session, &err);
            }
            break;
        case JOB_DDL:
            if (!backup_run_ddl(w, j->session, &err))
            {
                error_prefix(&err, "schema dump of database \"%s\"", j->session->dbname);
                if (!backup_server_lost(b, &err))
                    backup_session_fail(b, j->session, &err);
            }
            backup_session_done(b, j->session);
            break;
        case JOB_TABLE:
            for (Job *t = j; t != NULL; t = t->more)
            {
                /* a bundle stops at its unit's first failure */
                if (!j->unit->failed && !b->stop && !backup_run_table(w, t, &err) &&
                    !backup_server_lost(b, &err))
                    backup_unit_fail(b, t->unit, &err);
                error_clear(&err);
                pthread_mutex_lock(&b->lock);
                b->tables_done++;
                pthread_mutex_unlock(&b->lock);
                backup_unit_done(b, t->unit, 1);
            }
            backup_session_done(b, j->session);
            break;
        }
        pthread_mutex_lock(&b->lock);
        b->jobs_running--;
        if (j->kind == JOB_OPEN)
            b->opens_running--;
        pthread_cond_broadcast(&b->wake);
        pthread_mutex_unlock(&b->lock);
        job_free(j);
    }
    if (w->conn != NULL)
        PQfinish(w->conn);
    w->conn = NULL;
}

/* ---- progress ------------------------------------------------------------ */
