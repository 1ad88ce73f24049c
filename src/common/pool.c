/*
 * pool.c - N threads running one function, joined by a waiter that ticks
 * (for progress) and wakes as soon as the last of them is done, never
 * polling past the end of the work.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mem.h"
#include "common/pool.h"

typedef struct PoolThread
{
    Pool *pool;
    int id;
    pthread_t thread;
} PoolThread;

struct Pool
{
    PoolFn fn;
    void *arg;
    int n;
    int running;
    pthread_mutex_t lock;
    pthread_cond_t done;
    PoolThread *threads;
};

static void *pool_thread(void *arg)
{
    PoolThread *t = arg;
    Pool *p = t->pool;

    p->fn(p->arg, t->id);
    pthread_mutex_lock(&p->lock);
    p->running--;
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

Pool *pool_start(int n, PoolFn fn, void *arg)
{
    Pool *p = xcalloc(1, sizeof(Pool));

    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->running = n;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = xcalloc((size_t)n, sizeof(PoolThread));
    for (int i = 0; i < n; i++)
    {
        int rc;

        p->threads[i].pool = p;
        p->threads[i].id = i;
        rc = pthread_create(&p->threads[i].thread, NULL, pool_thread, &p->threads[i]);
        if (rc != 0)
        {
            fprintf(stderr, "coffer: fatal: could not start a thread: %s\n", strerror(rc));
            abort();
        }
    }
    return p;
}

void pool_wait(Pool *p, int tick_ms, PoolTickFn tick, void *tick_arg)
{
    pthread_mutex_lock(&p->lock);
    while (p->running > 0)
    {
        struct timespec until;

        if (tick == NULL)
        {
            pthread_cond_wait(&p->done, &p->lock);
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += tick_ms / 1000;
        until.tv_nsec += (long)(tick_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L)
        {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&p->done, &p->lock, &until) != 0 && p->running > 0)
        {
            pthread_mutex_unlock(&p->lock);
            tick(tick_arg);
            pthread_mutex_lock(&p->lock);
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->threads[i].thread, NULL);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}
