/*
 * cleanup.c - the cleanup registry and the thread that turns signals into it.
 *
 * One mutex guards a list, newest entry first. An entry is claimed (marked
 * running) under the mutex before it runs, so it runs once, by whoever claimed
 * it: its owner popping it, cleanup_run_all, or the signal thread's runner.
 */
#include "common/cleanup.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

typedef struct CleanupEntry
{
    struct CleanupEntry *next; /* the entry pushed before this one */
    CleanupHandle id;
    CleanupFn fn;
    void *arg;
    bool cancel;      /* a cancel hook: runs before every cleanup */
    bool running;     /* claimed; removed once fn returns */
    pthread_t runner; /* the thread running it, when running */
} CleanupEntry;

static pthread_mutex_t cleanup_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cleanup_changed = PTHREAD_COND_INITIALIZER; /* an entry finished */
static CleanupEntry *cleanup_list = NULL;
static CleanupHandle cleanup_next_id = 1;
static int cleanup_running = 0;   /* entries running now, by anyone */
static int cleanup_unwinders = 0; /* cleanup_run_all calls and the signal runner */
static bool cleanup_installed = false;
static sigset_t cleanup_signal_set;
/* The first signal received, 0 before; written only by the signal thread. */
static atomic_int cleanup_signo = 0;
/* How deep the calling thread is in running entries: a cleanup that pops
 * another with run=true runs it itself instead of waiting for an unwinder. */
static _Thread_local int cleanup_in_entry = 0;

static CleanupHandle cleanup_add(CleanupFn fn, void *arg, bool cancel)
{
    CleanupEntry *e = xcalloc(1, sizeof(*e));
    CleanupHandle id;

    e->fn = fn;
    e->arg = arg;
    e->cancel = cancel;
    pthread_mutex_lock(&cleanup_lock);
    id = cleanup_next_id++;
    e->id = id;
    e->next = cleanup_list;
    cleanup_list = e;
    pthread_mutex_unlock(&cleanup_lock);
    return id;
}

CleanupHandle cleanup_push(CleanupFn fn, void *arg)
{
    return cleanup_add(fn, arg, false);
}

CleanupHandle cleanup_push_cancel(CleanupFn fn, void *arg)
{
    return cleanup_add(fn, arg, true);
}

static CleanupEntry *cleanup_find_locked(CleanupHandle id)
{
    for (CleanupEntry *e = cleanup_list; e != NULL; e = e->next)
        if (e->id == id)
            return e;
    return NULL;
}

static void cleanup_claim_locked(CleanupEntry *e)
{
    e->running = true;
    e->runner = pthread_self();
    cleanup_running++;
}

/* Unlinks and frees an entry (claimed or not) and wakes whoever waits. */
static void cleanup_remove_locked(CleanupEntry *e)
{
    CleanupEntry **p = &cleanup_list;

    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    if (e->running)
        cleanup_running--;
    free(e);
    pthread_cond_broadcast(&cleanup_changed);
}

/* Runs a claimed entry without the lock held, so that it may block, push or
 * pop other entries; returns with the lock held again. */
static void cleanup_run_claimed_locked(CleanupEntry *e)
{
    pthread_mutex_unlock(&cleanup_lock);
    cleanup_in_entry++;
    e->fn(e->arg);
    cleanup_in_entry--;
    pthread_mutex_lock(&cleanup_lock);
    cleanup_remove_locked(e);
}

/* The next entry an unwinder may start: the newest unclaimed cancel hook at
 * any time, else the newest unclaimed cleanup once nothing else runs (so
 * cleanups run one at a time, newest first, after the cancel hooks, also
 * when two unwinders meet); NULL when none may start now. */
static CleanupEntry *cleanup_next_locked(bool *left)
{
    CleanupEntry *plain = NULL;

    *left = false;
    for (CleanupEntry *e = cleanup_list; e != NULL; e = e->next)
    {
        if (e->running)
            continue;
        *left = true;
        if (e->cancel)
            return e;
        if (plain == NULL)
            plain = e;
    }
    return cleanup_running == 0 ? plain : NULL;
}

/* Runs entries until none is left, including the ones claimed by others
 * (waiting for them to finish). Called and returns with the lock held. */
static void cleanup_unwind_locked(void)
{
    for (;;)
    {
        bool left;
        CleanupEntry *e = cleanup_next_locked(&left);

        if (e != NULL)
        {
            cleanup_claim_locked(e);
            cleanup_run_claimed_locked(e);
            continue;
        }
        if (!left && cleanup_running == 0)
            return;
        pthread_cond_wait(&cleanup_changed, &cleanup_lock);
    }
}

bool cleanup_pop(CleanupHandle handle, bool run)
{
    CleanupEntry *e;
    bool removed = false;

    if (handle == 0)
        return false;
    pthread_mutex_lock(&cleanup_lock);
    for (;;)
    {
        e = cleanup_find_locked(handle);
        if (e == NULL)
            break;
        /* a cleanup popping itself must not wait for itself */
        if (e->running && pthread_equal(e->runner, pthread_self()))
            break;
        if (!e->running && !(run && cleanup_unwinders > 0 && cleanup_in_entry == 0))
        {
            if (run)
            {
                cleanup_claim_locked(e);
                cleanup_run_claimed_locked(e);
            }
            else
                cleanup_remove_locked(e);
            removed = true;
            break;
        }
        /* being run, or left to the unwinder to keep the order: wait */
        pthread_cond_wait(&cleanup_changed, &cleanup_lock);
    }
    pthread_mutex_unlock(&cleanup_lock);
    return removed;
}

void cleanup_run_all(void)
{
    pthread_mutex_lock(&cleanup_lock);
    cleanup_unwinders++;
    cleanup_unwind_locked();
    /* a signal's runner ends the process once every entry is done */
    while (atomic_load(&cleanup_signo) != 0)
        pthread_cond_wait(&cleanup_changed, &cleanup_lock);
    cleanup_unwinders--;
    pthread_mutex_unlock(&cleanup_lock);
}

bool cleanup_interrupted(void)
{
    return atomic_load(&cleanup_signo) != 0;
}

static const char *cleanup_signal_name(int signo)
{
    switch (signo)
    {
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "a signal";
    }
}

/* Runs every entry after the first signal, then ends the process. It exits
 * with the lock held, so no entry can be pushed or claimed after the last
 * check; _exit skips atexit handlers, which could race with threads still
 * at work, and a second run of anything. */
static void *cleanup_runner_main(void *arg)
{
    int signo = (int)(intptr_t)arg;

    pthread_mutex_lock(&cleanup_lock);
    cleanup_unwinders++;
    cleanup_unwind_locked();
    _exit(128 + signo);
    return NULL;
}

/* Waits for the signals; the cleanups run in another thread so that this
 * one can still answer a second Ctrl-C while they are at work. */
static void *cleanup_signal_main(void *unused)
{
    (void)unused;
    for (;;)
    {
        int signo = 0;
        bool pending;
        pthread_t runner;
        pthread_attr_t attr;
        int rc;

        if (sigwait(&cleanup_signal_set, &signo) != 0)
            continue;
        if (atomic_load(&cleanup_signo) != 0)
        {
            log_warning("still putting things back; wait");
            continue;
        }
        atomic_store(&cleanup_signo, signo);
        pthread_mutex_lock(&cleanup_lock);
        pending = cleanup_list != NULL;
        pthread_mutex_unlock(&cleanup_lock);
        if (pending)
            log_warning("interrupted by %s; putting things back", cleanup_signal_name(signo));
        else
            log_warning("interrupted by %s", cleanup_signal_name(signo));
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&runner, &attr, cleanup_runner_main, (void *)(intptr_t)signo);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            cleanup_runner_main((void *)(intptr_t)signo); /* does not return */
    }
    return NULL;
}

bool cleanup_signals_install(Error *err)
{
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    sigset_t old;
    pthread_t thread;
    pthread_attr_t attr;
    bool any = false;
    int rc;

    if (cleanup_installed)
        return true;
    sigemptyset(&cleanup_signal_set);
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
    {
        struct sigaction sa;

        /* an inherited "ignore" is the caller's choice (nohup, a background job) */
        if (sigaction(signals[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
            continue;
        sigaddset(&cleanup_signal_set, signals[i]);
        any = true;
    }
    if (!any)
    {
        cleanup_installed = true;
        return true;
    }
    rc = pthread_sigmask(SIG_BLOCK, &cleanup_signal_set, &old);
    if (rc != 0)
        return error_set(err, ERR_FAILURE, "could not block signals: %s", strerror(rc));
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&thread, &attr, cleanup_signal_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
    {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return error_set(err, ERR_FAILURE, "could not start the signal thread: %s", strerror(rc));
    }
    cleanup_installed = true;
    return true;
}
