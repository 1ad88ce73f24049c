/*
 * lock.c - repository locks: backups share, prune excludes.
 *
 * A lock is a small plain JSON object under locks/. Taking one writes it
 * first and then looks at the others, so two processes racing for
 * conflicting locks both see each other and both back off: never both
 * win. A lock left by a process that is gone from this host is broken on
 * sight. On shared storage (a bucket several hosts use) the holder's pid
 * says nothing elsewhere, so a thread rewrites the lock while it is held,
 * and a lock not refreshed for lock_stale seconds (30 minutes) is broken
 * by whoever finds it; "coffer unlock" shows every lock and who holds it.
 *
 * On a local disk the repository also keeps a reserve: a small object of
 * zeros that exists only to be deleted. When the disk is full, a lock that
 * frees space (prune, forget, repair) could not be written, and the tools
 * that would make room would be locked out by the lack of it. Such a lock
 * deletes the reserve and tries once more; its unlock puts the reserve back
 * when there is room again.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/mem.h"
#include "repo/repo_intern.h"

#define LOCK_RESERVE_KEY "reserve"
#define LOCK_RESERVE_SIZE (1024 * 1024)

struct RepoLock
{
    Repo *repo;
    bool frees; /* may use the reserve, and puts it back at unlock */
    char key[96];
    CleanupHandle guard; /* removes the lock object on an interrupt */
    json_t *doc;         /* what the lock object holds */
    pthread_mutex_t mu;  /* a refresh and the removal never cross */
    pthread_cond_t wake;
    pthread_t refresher;
    bool refreshing;
    bool stopping; /* the lock is being removed: no more refreshes */
};

/* Writes the lock object with the time of now as "refreshed"; the caller
 * holds lock->mu. */
static bool lock_put(RepoLock *lock, Error *err)
{
    char *text;
    bool ok;

    json_object_set_new(lock->doc, "refreshed", json_integer((json_int_t)time(NULL)));
    text = json_dumps(lock->doc, JSON_INDENT(2));
    ok = storage_put(lock->repo->st, lock->key, text, strlen(text), err);
    free(text);
    return ok;
}

/* Every third of the stale time (at most 5 minutes) the lock is written
 * again, so that other hosts see its holder is alive. */
static void *lock_refresh_main(void *arg)
{
    RepoLock *lock = arg;
    unsigned every = lock->repo->lock_stale / 3;

    if (every > 300)
        every = 300;
    if (every == 0)
        every = 1;
    pthread_mutex_lock(&lock->mu);
    while (!lock->stopping)
    {
        struct timespec until;
        Error err;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += every;
        if (pthread_cond_timedwait(&lock->wake, &lock->mu, &until) != ETIMEDOUT || lock->stopping)
            continue;
        error_clear(&err);
        if (!lock_put(lock, &err))
            log_warning("could not refresh lock \"%s\" (other hosts may take it as stale after "
                        "%u s): %s",
                        lock->key, lock->repo->lock_stale, err.message);
    }
    pthread_mutex_unlock(&lock->mu);
    return NULL;
}

/* Stops refreshing and removes the lock object. */
static void lock_release(RepoLock *lock, Error *err)
{
    pthread_mutex_lock(&lock->mu);
    lock->stopping = true;
    pthread_cond_broadcast(&lock->wake);
    storage_remove(lock->repo->st, lock->key, err);
    pthread_mutex_unlock(&lock->mu);
}

/* An interrupted process leaves no lock behind: the cleanup registry runs
 * this last, after whatever the process was putting back. */
static void lock_remove_on_exit(void *arg)
{
    RepoLock *lock = arg;
    Error err;

    error_clear(&err);
    lock_release(lock, &err);
}

typedef struct LockInfo
{
    bool exclusive;
    bool solo;
    char host[256];
    long pid;
    char time[64];
    char command[128];
    long long refreshed; /* seconds since 1970; 0 for locks that predate it */
} LockInfo;

static void lock_hostname(char *out, size_t len)
{
    if (gethostname(out, len) != 0)
        snprintf(out, len, "unknown");
    out[len - 1] = '\0';
}

/* Reads one lock; *gone when it vanished meanwhile (its owner unlocked). */
static bool lock_read(Repo *repo, const char *key, LockInfo *li, bool *gone, Error *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    json_t *doc;
    json_error_t jerr;
    const char *mode, *host, *time, *command;
    bool exists = true;

    *gone = false;
    memset(li, 0, sizeof(*li));
    if (!storage_get(repo->st, key, &data, &len, err))
    {
        Error e2;

        error_clear(&e2);
        if (storage_exists(repo->st, key, &exists, NULL, &e2) && !exists)
        {
            *gone = true;
            error_clear(err);
            return true;
        }
        return false;
    }
    doc = json_loadb((const char *)data, len, 0, &jerr);
    free(data);
    mode = json_string_value(json_object_get(doc, "mode"));
    host = json_string_value(json_object_get(doc, "host"));
    time = json_string_value(json_object_get(doc, "time"));
    command = json_string_value(json_object_get(doc, "command"));
    if (mode == NULL || host == NULL || !json_is_integer(json_object_get(doc, "pid")))
    {
        json_decref(doc);
        return error_set(err, ERR_FAILURE, "lock \"%s\" is damaged", key);
    }
    li->exclusive = strcmp(mode, "exclusive") == 0;
    li->solo = json_is_true(json_object_get(doc, "solo"));
    snprintf(li->host, sizeof(li->host), "%s", host);
    li->pid = (long)json_integer_value(json_object_get(doc, "pid"));
    snprintf(li->time, sizeof(li->time), "%s", time ? time : "?");
    snprintf(li->command, sizeof(li->command), "%s", command ? command : "?");
    li->refreshed = (long long)json_integer_value(json_object_get(doc, "refreshed"));
    json_decref(doc);
    return true;
}

/* Whether a lock is stale, and why (into why): its process is gone from
 * this host, or it was not refreshed for lock_stale seconds. A live
 * process of this host is never stale. */
static bool lock_is_stale(const Repo *repo, const LockInfo *li, char *why, size_t len)
{
    char host[256];
    long long age = li->refreshed > 0 ? (long long)time(NULL) - li->refreshed : -1;

    lock_hostname(host, sizeof(host));
    if (strcmp(host, li->host) == 0 && li->pid > 0)
    {
        if (kill((pid_t)li->pid, 0) == 0 || errno != ESRCH)
            return snprintf(why, len, "its process runs on this host"), false;
        return snprintf(why, len, "its process no longer exists"), true;
    }
    if (age < 0)
        return snprintf(why, len, "it is held on another host"), false;
    if (age > (long long)repo->lock_stale)
        return snprintf(why, len, "it was not refreshed for %lld s (stale after %u s)", age,
                        repo->lock_stale),
               true;
    return snprintf(why, len, "it is held on another host and was refreshed %lld s ago", age),
           false;
}

static bool lock_break(Repo *repo, const char *key, const LockInfo *li, const char *why,
                       Error *err)
{
    if (!storage_remove(repo->st, key, err))
        return false;
    log_warning("removed stale lock \"%s\" of process %ld on %s (%s since %s): %s", key, li->pid,
                li->host, li->command, li->time, why);
    return true;
}

void repo_reserve_ensure(Repo *repo)
{
    bool exists = true;
    unsigned char *zeros;
    Error err;

    if ((storage_caps(repo->st) & STORAGE_CAP_LOCAL) == 0)
        return;
    error_clear(&err);
    if (!storage_exists(repo->st, LOCK_RESERVE_KEY, &exists, NULL, &err) || exists)
        return;
    zeros = xcalloc(1, LOCK_RESERVE_SIZE);
    if (!storage_put(repo->st, LOCK_RESERVE_KEY, zeros, LOCK_RESERVE_SIZE, &err))
        log_debug("could not put back the space reserve: %s", err.message);
    free(zeros);
}

/* Writes the lock object the first time. A lock that frees space gives up
 * the reserve first: on a full disk, the lock and the first objects its
 * command writes (a new index before the packs it replaces can go) need
 * that room; the unlock puts it back once there is room again. */
static bool lock_write(RepoLock *lock, Error *err)
{
    Storage *st = lock->repo->st;
    bool exists = false;
    Error e2;

    error_clear(&e2);
    if (lock->frees && (storage_caps(st) & STORAGE_CAP_LOCAL) != 0 &&
        storage_exists(st, LOCK_RESERVE_KEY, &exists, NULL, &e2) && exists &&
        storage_remove(st, LOCK_RESERVE_KEY, &e2))
        log_debug("gave up the repository's space reserve until the unlock");
    return lock_put(lock, err);
}

static void lock_free(RepoLock *lock)
{
    json_decref(lock->doc);
    pthread_mutex_destroy(&lock->mu);
    pthread_cond_destroy(&lock->wake);
    free(lock);
}

void repo_set_lock_stale(Repo *repo, unsigned seconds)
{
    repo->lock_stale = seconds > 0 ? seconds : REPO_LOCK_STALE_DEFAULT;
}

RepoLock *repo_lock(Repo *repo, RepoLockMode mode, const char *command, Error *err)
{
    RepoLock *lock = xcalloc(1, sizeof(*lock));
    char host[256], now[40], id[65], why[256];
    StorageList list;

    lock->repo = repo;
    lock->frees = mode == REPO_LOCK_FREEING || mode == REPO_LOCK_EXCLUSIVE;
    pthread_mutex_init(&lock->mu, NULL);
    pthread_cond_init(&lock->wake, NULL);
    repo_random_id(id);
    snprintf(lock->key, sizeof(lock->key), "locks/%s", id);
    lock_hostname(host, sizeof(host));
    repo_time_now(now);
    lock->doc = json_pack("{s:s, s:s, s:I, s:s, s:s}", "mode",
                          mode == REPO_LOCK_EXCLUSIVE ? "exclusive" : "shared", "host", host,
                          "pid", (json_int_t)getpid(), "time", now, "command",
                          command ? command : "coffer");
    if (mode == REPO_LOCK_SOLO)
        json_object_set_new(lock->doc, "solo", json_true());
    if (!lock_write(lock, err))
    {
        error_prefix(err, "could not lock repository \"%s\"", storage_location(repo->st));
        lock_free(lock);
        return NULL;
    }
    if (!storage_list(repo->st, "locks/", &list, err))
        goto fail;
    for (size_t i = 0; i < list.count; i++)
    {
        const char *key = list.items[i].key;
        LockInfo li;
        bool gone;

        if (strcmp(key, lock->key) == 0)
            continue;
        if (!lock_read(repo, key, &li, &gone, err))
        {
            /* an unreadable lock is a lock: respect it */
            error_hint(err,
                       "if no coffer process uses the repository, run \"coffer unlock --all\"");
            storage_list_free(&list);
            goto fail;
        }
        if (gone)
            continue;
        if (lock_is_stale(repo, &li, why, sizeof(why)))
        {
            if (!lock_break(repo, key, &li, why, err))
            {
                storage_list_free(&list);
                goto fail;
            }
            continue;
        }
        if (mode == REPO_LOCK_SOLO && li.solo && command != NULL &&
            strcmp(li.command, command) == 0)
        {
            error_set(err, ERR_FAILURE, "another coffer %s is running: process %ld on %s since %s",
                      command, li.pid, li.host, li.time);
            error_hint(err, "one runs at a time; this one did nothing");
            storage_list_free(&list);
            goto fail;
        }
        if (mode == REPO_LOCK_EXCLUSIVE || li.exclusive)
        {
            error_set(err, ERR_FAILURE,
                      "repository \"%s\" is locked by process %ld on %s since "
                      "%s (%s)",
                      storage_location(repo->st), li.pid, li.host, li.time, li.command);
            error_detail(err, "%s", why);
            if (strcmp(li.host, host) == 0)
                error_hint(err, "wait for it to finish; if that process is gone, run "
                                "\"coffer unlock\"");
            else
                error_hint(err, "wait for it to finish; a lock of another host becomes stale "
                                "after %u s without a refresh, or run \"coffer unlock --all\" "
                                "once its process is gone",
                           repo->lock_stale);
            storage_list_free(&list);
            goto fail;
        }
    }
    storage_list_free(&list);
    /* what we loaded at open may predate a prune or another backup */
    if (!repo_index_sync(repo, err))
        goto fail;
    log_debug("locked repository \"%s\" (%s, %s)", storage_location(repo->st),
              mode == REPO_LOCK_EXCLUSIVE ? "exclusive" : "shared", lock->key);
    lock->guard = cleanup_push(lock_remove_on_exit, lock);
    lock->refreshing = pthread_create(&lock->refresher, NULL, lock_refresh_main, lock) == 0;
    return lock;
fail:
{
    Error e2;

    error_clear(&e2);
    storage_remove(repo->st, lock->key, &e2);
}
    lock_free(lock);
    return NULL;
}

void repo_unlock(RepoLock *lock)
{
    Error err;

    if (lock == NULL)
        return;
    cleanup_pop(lock->guard, false);
    error_clear(&err);
    lock_release(lock, &err);
    if (error_is_set(&err))
        log_warning("could not remove lock \"%s\": %s", lock->key, err.message);
    if (lock->refreshing)
        pthread_join(lock->refresher, NULL);
    if (lock->frees)
        repo_reserve_ensure(lock->repo);
    lock_free(lock);
}

/* One lock as "coffer unlock" shows it. */
static json_t *lock_describe(const char *key, const LockInfo *li, const char *state,
                             const char *why)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:s, s:s}", "key", key, "mode",
                     li->exclusive ? "exclusive" : "shared", "host", li->host, "pid",
                     (json_int_t)li->pid, "command", li->command, "time", li->time, "refreshed",
                     (json_int_t)li->refreshed, "state", state, "why", why);
}

bool repo_unlock_stale(Repo *repo, bool all, int *removed, json_t **locks, Error *err)
{
    StorageList list;
    bool ok = true;

    *removed = 0;
    if (locks != NULL)
        *locks = json_array();
    if (!storage_list(repo->st, "locks/", &list, err))
        return false;
    for (size_t i = 0; ok && i < list.count; i++)
    {
        const char *key = list.items[i].key;
        char why[256];
        LockInfo li;
        bool gone, stale;
        Error e2;

        error_clear(&e2);
        if (!lock_read(repo, key, &li, &gone, &e2))
        {
            memset(&li, 0, sizeof(li));
            snprintf(li.host, sizeof(li.host), "?");
            snprintf(why, sizeof(why), "it is damaged: %.200s", e2.message);
            stale = false;
        }
        else if (gone)
            continue;
        else
            stale = lock_is_stale(repo, &li, why, sizeof(why));
        if (all || stale)
        {
            ok = storage_remove(repo->st, key, err);
            if (ok)
                (*removed)++;
        }
        if (locks != NULL)
            json_array_append_new(*locks, lock_describe(key, &li, ok && (all || stale) ? "removed" : "kept",
                                                        all && !stale ? "--all" : why));
    }
    storage_list_free(&list);
    return ok;
}
