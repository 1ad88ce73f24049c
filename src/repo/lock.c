/*
 * lock.c - repository locks: backups share, prune excludes.
 *
 * A lock is a small plain JSON object under locks/. Taking one writes it
 * first and then looks at the others, so two processes racing for
 * conflicting locks both see each other and both back off: never both
 * win. A lock left by a process that is gone from this host is broken on
 * sight; one from another host needs "coffer unlock".
 *
 * On a local disk the repository also keeps a reserve: a small object of
 * zeros that exists only to be deleted. When the disk is full, a lock that
 * frees space (prune, forget, repair) could not be written, and the tools
 * that would make room would be locked out by the lack of it. Such a lock
 * deletes the reserve and tries once more; its unlock puts the reserve back
 * when there is room again.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
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
};

/* An interrupted process leaves no lock behind: the cleanup registry runs
 * this last, after whatever the process was putting back. */
static void lock_remove_on_exit(void *arg)
{
    RepoLock *lock = arg;
    Error err;

    error_clear(&err);
    storage_remove(lock->repo->st, lock->key, &err);
}

typedef struct LockInfo
{
    bool exclusive;
    char host[256];
    long pid;
    char time[64];
    char command[128];
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
    snprintf(li->host, sizeof(li->host), "%s", host);
    li->pid = (long)json_integer_value(json_object_get(doc, "pid"));
    snprintf(li->time, sizeof(li->time), "%s", time ? time : "?");
    snprintf(li->command, sizeof(li->command), "%s", command ? command : "?");
    json_decref(doc);
    return true;
}

/* True when the lock's process is known to be gone: same host, no such pid. */
static bool lock_is_stale(const LockInfo *li)
{
    char host[256];

    lock_hostname(host, sizeof(host));
    if (strcmp(host, li->host) != 0 || li->pid <= 0)
        return false;
    return kill((pid_t)li->pid, 0) != 0 && errno == ESRCH;
}

static bool lock_break(Repo *repo, const char *key, const LockInfo *li, Error *err)
{
    if (!storage_remove(repo->st, key, err))
        return false;
    log_warning("removed stale lock \"%s\" of process %ld that no longer exists (%s since %s)", key,
                li->pid, li->command, li->time);
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

/* Writes the lock object; a lock that frees space gives up the reserve to
 * be written on a full disk. */
static bool lock_write(RepoLock *lock, const char *text, Error *err)
{
    Storage *st = lock->repo->st;
    bool exists = false;
    Error e2;

    if (storage_put(st, lock->key, text, strlen(text), err))
        return true;
    error_clear(&e2);
    if (!lock->frees || !storage_exists(st, LOCK_RESERVE_KEY, &exists, NULL, &e2) || !exists ||
        !storage_remove(st, LOCK_RESERVE_KEY, &e2))
        return false;
    log_info("used the repository's space reserve to take the lock (%s)", err->message);
    error_clear(err);
    return storage_put(st, lock->key, text, strlen(text), err);
}

RepoLock *repo_lock(Repo *repo, RepoLockMode mode, const char *command, Error *err)
{
    RepoLock *lock = xcalloc(1, sizeof(*lock));
    char host[256], now[40], id[65];
    StorageList list;
    json_t *doc;
    char *text;
    bool ok;

    lock->repo = repo;
    lock->frees = mode != REPO_LOCK_SHARED;
    repo_random_id(id);
    snprintf(lock->key, sizeof(lock->key), "locks/%s", id);
    lock_hostname(host, sizeof(host));
    repo_time_now(now);
    doc = json_pack("{s:s, s:s, s:I, s:s, s:s}", "mode",
                    mode == REPO_LOCK_EXCLUSIVE ? "exclusive" : "shared", "host", host, "pid",
                    (json_int_t)getpid(), "time", now, "command", command ? command : "coffer");
    text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    ok = lock_write(lock, text, err);
    free(text);
    if (!ok)
    {
        error_prefix(err, "could not lock repository \"%s\"", storage_location(repo->st));
        free(lock);
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
        if (lock_is_stale(&li))
        {
            if (!lock_break(repo, key, &li, err))
            {
                storage_list_free(&list);
                goto fail;
            }
            continue;
        }
        if (mode == REPO_LOCK_EXCLUSIVE || li.exclusive)
        {
            error_set(err, ERR_FAILURE,
                      "repository \"%s\" is locked by process %ld on %s since "
                      "%s (%s)",
                      storage_location(repo->st), li.pid, li.host, li.time, li.command);
            if (strcmp(li.host, host) == 0)
                error_hint(err, "wait for it to finish; if that process is gone, run "
                                "\"coffer unlock\"");
            else
                error_hint(err, "wait for it to finish; if that process is gone, run "
                                "\"coffer unlock --all\" (it runs on another host)");
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
    return lock;
fail:
{
    Error e2;

    error_clear(&e2);
    storage_remove(repo->st, lock->key, &e2);
}
    free(lock);
    return NULL;
}

void repo_unlock(RepoLock *lock)
{
    Error err;

    if (lock == NULL)
        return;
    cleanup_pop(lock->guard, false);
    error_clear(&err);
    if (!storage_remove(lock->repo->st, lock->key, &err))
        log_warning("could not remove lock \"%s\": %s", lock->key, err.message);
    if (lock->frees)
        repo_reserve_ensure(lock->repo);
    free(lock);
}

bool repo_unlock_stale(Repo *repo, bool all, int *removed, Error *err)
{
    StorageList list;
    bool ok = true;

    *removed = 0;
    if (!storage_list(repo->st, "locks/", &list, err))
        return false;
    for (size_t i = 0; ok && i < list.count; i++)
    {
        const char *key = list.items[i].key;
        LockInfo li;
        bool gone;
        Error e2;

        error_clear(&e2);
        if (all)
        {
            ok = storage_remove(repo->st, key, err);
            if (ok)
            {
                log_info("removed lock \"%s\"", key);
                (*removed)++;
            }
            continue;
        }
        if (!lock_read(repo, key, &li, &gone, &e2))
        {
            log_warning("%s; \"coffer unlock --all\" removes it", e2.message);
            continue;
        }
        if (gone)
            continue;
        if (lock_is_stale(&li))
        {
            ok = lock_break(repo, key, &li, err);
            if (ok)
                (*removed)++;
        }
        else
            log_info("lock \"%s\" of process %ld on %s (%s since %s) is in use or on another "
                     "host; kept",
                     key, li.pid, li.host, li.command, li.time);
    }
    storage_list_free(&list);
    return ok;
}
