/*
 * posix.c - the storage driver for a local (or mounted) directory.
 *
 * An object is a file under the root named by its key. Writes go to a temp
 * file beside the final name, are fsynced, renamed into place and the
 * directory fsynced, so an object is whole or absent after a crash. Files are
 * 0600 and directories 0700 whatever the umask: a repository holds wrapped keys.
 */
#include "storage/storage_intern.h"

#include "common/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define POSIX_FILE_MODE 0600
#define POSIX_DIR_MODE 0700

/* Temp files carry this marker; list skips them and put refuses keys with it. */
#define POSIX_TMP_MARK ".tmp-"

/* How often a temp name is retried when it already exists (a random clash or
 * a leftover from a crashed process that had our pid). */
#define POSIX_TMP_TRIES 8

/* Keys are a few components deep ("data/3f/3fa9…"); anything much deeper is
 * a symlink loop, which list would otherwise follow until it ran out of fds. */
#define POSIX_LIST_MAX_DEPTH 32

typedef struct PosixStorage
{
    char *root;
} PosixStorage;

typedef struct PosixWrite
{
    int fd;
    char *tmp_path;
    char *path;
} PosixWrite;

typedef struct PosixRead
{
    int fd;
    uint64_t pos;
    uint64_t end;
} PosixRead;

static const char *posix_root(Storage *st)
{
    return ((PosixStorage *)st->state)->root;
}

static char *posix_path(Storage *st, const char *key)
{
    return xasprintf("%s/%s", posix_root(st), key);
}

/* The directory part of a path ("." when there is none). */
static char *posix_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/*
 * Makes a rename, create or unlink in dir durable. Like PostgreSQL's
 * fsync_fname, EINVAL and EBADF are ignored: some filesystems cannot fsync a
 * directory and have nothing to flush.
 */
static bool posix_fsync_dir(const char *dir, Error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return error_set(err, ERR_FAILURE, "could not open directory \"%s\": %s", dir,
                         strerror(errno));
    do
        rc = fsync(fd);
    while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EINVAL && errno != EBADF)
    {
        int saved = errno;

        close(fd);
        return error_set(err, ERR_FAILURE, "could not fsync directory \"%s\": %s", dir,
                         strerror(saved));
    }
    close(fd);
    return true;
}

static bool posix_fsync_parent(const char *path, Error *err)
{
    char *dir = posix_dirname(path);
    bool ok = posix_fsync_dir(dir, err);

    free(dir);
    return ok;
}

/* Creates one directory 0700 regardless of umask and makes its entry durable.
 * An existing directory is fine. */
static bool posix_mkdir(const char *path, Error *err)
{
    if (mkdir(path, POSIX_DIR_MODE) != 0)
    {
        if (errno == EEXIST)
            return true;
        return error_set(err, ERR_FAILURE, "could not create directory \"%s\": %s", path,
                         strerror(errno));
    }
    if (chmod(path, POSIX_DIR_MODE) != 0)
        return error_set(err, ERR_FAILURE, "could not set permissions of directory \"%s\": %s",
                         path, strerror(errno));
    return posix_fsync_parent(path, err);
}

/* Creates the directories of key ("data/3f/" for "data/3f/3fa9…") under the root. */
static bool posix_mkdir_parents(Storage *st, const char *key, Error *err)
{
    const char *slash;
    bool ok = true;

    for (slash = strchr(key, '/'); ok && slash != NULL; slash = strchr(slash + 1, '/'))
    {
        char *dir = xasprintf("%s/%.*s", posix_root(st), (int)(slash - key), key);

        ok = posix_mkdir(dir, err);
        free(dir);
    }
    return ok;
}

/* A random 64-bit value for temp names; getrandom rarely fails, and when it
 * does the time and address still make a clash with another writer unlikely
 * (O_EXCL catches the rest). */
static uint64_t posix_random(void)
{
    uint64_t v;
    struct timespec ts;

    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
        return v;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&v;
}

/* Opens a fresh temp file "<path>.tmp-<pid>-<random>" 0600; returns the fd or
 * -1 with errno set. */
static int posix_open_tmp(const char *path, char **tmp_path)
{
    int i;

    for (i = 0; i < POSIX_TMP_TRIES; i++)
    {
        char *tmp =
            xasprintf("%s" POSIX_TMP_MARK "%ld-%016" PRIx64, path, (long)getpid(), posix_random());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, POSIX_FILE_MODE);

        if (fd >= 0)
        {
            *tmp_path = tmp;
            return fd;
        }
        free(tmp);
        if (errno != EEXIST)
            return -1;
    }
    errno = EEXIST;
    return -1;
}

/* Words a write-side errno; a full disk gets its own message because the
 * fix (free space) is not obvious from "No space left on device" alone. */
static bool posix_error_write(Storage *st, Error *err, const char *what, const char *key, int e)
{
    if (e == ENOSPC || e == EDQUOT)
    {
        error_set(err, ERR_FAILURE, "could not %s object \"%s\": the disk is %s", what, key,
                  e == ENOSPC ? "full" : "over its quota");
        return error_hint(err, "free space on the filesystem of \"%s\" and run the command again",
                          posix_root(st));
    }
    return error_set(err, ERR_FAILURE, "could not %s object \"%s\" in \"%s\": %s", what, key,
                     posix_root(st), strerror(e));
}

static bool posix_is_tmp_name(const char *key)
{
    return strstr(key, POSIX_TMP_MARK) != NULL;
}

static StorageWrite *posix_put_begin(Storage *st, const char *key, Error *err)
{
    PosixWrite *pw;
    char *path;
    char *tmp = NULL;
    int fd;

    if (posix_is_tmp_name(key))
    {
        error_set(err, ERR_FAILURE, "invalid object key \"%s\"", key);
        error_detail(err, "names containing \"" POSIX_TMP_MARK "\" are reserved for temp files");
        return NULL;
    }

    path = posix_path(st, key);
    fd = posix_open_tmp(path, &tmp);
    /* Directories are made on demand: one open in the common case, not a
     * mkdir per path component per object. */
    if (fd < 0 && errno == ENOENT && strchr(key, '/') != NULL)
    {
        if (!posix_mkdir_parents(st, key, err))
        {
            free(path);
            return NULL;
        }
        fd = posix_open_tmp(path, &tmp);
    }
    if (fd < 0)
    {
        posix_error_write(st, err, "create", key, errno);
        free(path);
        return NULL;
    }

    /* The open mode was filtered by the umask; set it exactly. */
    if (fchmod(fd, POSIX_FILE_MODE) != 0)
    {
        error_set(err, ERR_FAILURE, "could not set permissions of \"%s\": %s", tmp,
                  strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        free(path);
        return NULL;
    }

    pw = xcalloc(1, sizeof(*pw));
    pw->fd = fd;
    pw->tmp_path = tmp;
    pw->path = path;
    return storage_write_new(st, key, pw);
}

static bool posix_put_write(StorageWrite *w, const void *data, size_t len, Error *err)
{
    PosixWrite *pw = w->state;
    const unsigned char *p = data;

    while (len > 0)
    {
        ssize_t n = write(pw->fd, p, len);

        if (n < 0)
        {
            if (errno == EINTR)
                continue;
            return posix_error_write(w->st, err, "write", w->key, errno);
        }
        /* A zero-length write of a non-empty buffer only happens when the
         * disk is full. */
        if (n == 0)
            return posix_error_write(w->st, err, "write", w->key, ENOSPC);
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void posix_write_release(StorageWrite *w, bool remove_tmp)
{
    PosixWrite *pw = w->state;

    if (pw->fd >= 0)
        close(pw->fd);
    if (remove_tmp)
        unlink(pw->tmp_path);
    free(pw->tmp_path);
    free(pw->path);
    free(pw);
    storage_write_free(w);
}

/* fsync the data, close (which may report a deferred write error, e.g. on
 * NFS), rename over the final name, then fsync the directory so the rename
 * survives a power loss. */
static bool posix_put_end(StorageWrite *w, Error *err)
{
    PosixWrite *pw = w->state;
    int rc;
    int fd = pw->fd;

    do
        rc = fsync(fd);
    while (rc != 0 && errno == EINTR);
    if (rc != 0)
    {
        posix_error_write(w->st, err, "fsync", w->key, errno);
        posix_write_release(w, true);
        return false;
    }

    pw->fd = -1;
    if (close(fd) != 0 && errno != EINTR)
    {
        posix_error_write(w->st, err, "close", w->key, errno);
        posix_write_release(w, true);
        return false;
    }

    if (rename(pw->tmp_path, pw->path) != 0)
    {
        posix_error_write(w->st, err, "rename", w->key, errno);
        posix_write_release(w, true);
        return false;
    }

    if (!posix_fsync_parent(pw->path, err))
    {
        error_prefix(err, "object \"%s\" was written but may not be durable", w->key);
        posix_write_release(w, false);
        return false;
    }
    posix_write_release(w, false);
    return true;
}

static void posix_put_abort(StorageWrite *w)
{
    posix_write_release(w, true);
}

static StorageRead *posix_get_begin(Storage *st, const char *key, uint64_t offset, uint64_t length,
                                    Error *err)
{
    char *path = posix_path(st, key);
    PosixRead *pr;
    struct stat sb;
    uint64_t size;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
    {
        if (errno == ENOENT || errno == ENOTDIR)
        {
            storage_error_missing(err, key);
            error_detail(err, "looked for \"%s\"", path);
        }
        else
            error_set(err, ERR_FAILURE, "could not open object \"%s\" in \"%s\": %s", key,
                      posix_root(st), strerror(errno));
        free(path);
        return NULL;
    }
    if (fstat(fd, &sb) != 0)
    {
        error_set(err, ERR_FAILURE, "could not stat object \"%s\" in \"%s\": %s", key,
                  posix_root(st), strerror(errno));
        close(fd);
        free(path);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode))
    {
        error_set(err, ERR_FAILURE, "object \"%s\" is not a regular file", key);
        error_detail(err, "path \"%s\"", path);
        close(fd);
        free(path);
        return NULL;
    }
    free(path);

    size = (uint64_t)sb.st_size;
    if (offset > size || (length > 0 && length > size - offset))
    {
        storage_error_truncated(err, key, offset, length, size);
        close(fd);
        return NULL;
    }

    pr = xcalloc(1, sizeof(*pr));
    pr->fd = fd;
    pr->pos = offset;
    pr->end = length == 0 ? size : offset + length;
    return storage_read_new(st, key, offset, length, pr);
}

static long posix_get_read(StorageRead *r, void *buf, size_t len, Error *err)
{
    PosixRead *pr = r->state;
    ssize_t n;

    if (pr->pos >= pr->end)
        return 0;
    if (len > pr->end - pr->pos)
        len = (size_t)(pr->end - pr->pos);

    do
        n = pread(pr->fd, buf, len, (off_t)pr->pos);
    while (n < 0 && errno == EINTR);
    if (n < 0)
    {
        error_set(err, ERR_FAILURE, "could not read object \"%s\" in \"%s\": %s", r->key,
                  posix_root(r->st), strerror(errno));
        return -1;
    }
    /* The file shrank since get_begin; the generic layer only sees this for
     * bounded ranges, so report it here for "to the end" reads too. */
    if (n == 0)
    {
        storage_error_truncated(err, r->key, r->offset, pr->end - r->offset, pr->pos);
        return -1;
    }
    pr->pos += (uint64_t)n;
    return (long)n;
}

static void posix_get_end(StorageRead *r)
{
    PosixRead *pr = r->state;

    close(pr->fd);
    free(pr);
    storage_read_free(r);
}

/* A sweep in progress: temp files last modified before cutoff are removed. */
typedef struct PosixSweep
{
    time_t cutoff; /* 0: any age */
    uint64_t removed;
} PosixSweep;

/* Removes the temp file name in d when it is older than the sweep's cutoff;
 * one that vanished meanwhile (its writer finished) is fine. */
static bool posix_sweep_one(DIR *d, const char *path, const char *name, PosixSweep *sweep,
                            Error *err)
{
    struct stat sb;

    if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) ||
        (sweep->cutoff != 0 && sb.st_mtime >= sweep->cutoff))
        return true;
    if (unlinkat(dirfd(d), name, 0) != 0)
    {
        if (errno == ENOENT)
            return true;
        return error_set(err, ERR_FAILURE, "could not remove temp file \"%s/%s\": %s", path, name,
                         strerror(errno));
    }
    sweep->removed++;
    return true;
}

/*
 * Walks dir (a path relative to the root, "" or ending in "/") and adds every
 * regular file whose key starts with prefix. Subdirectories that cannot hold
 * such a key are not entered. A directory that vanishes mid-walk (a concurrent
 * remove or prune) is simply empty. With a sweep, nothing is listed: temp
 * files under the prefix are removed instead when old enough.
 */
static bool posix_list_dir(Storage *st, const char *rel, const char *prefix, int depth,
                           StorageList *out, PosixSweep *sweep, Error *err)
{
    char *path = rel[0] == '\0' ? xstrdup(posix_root(st)) : posix_path(st, rel);
    DIR *d;
    size_t prefix_len = strlen(prefix);
    bool ok = true;

    if (depth > POSIX_LIST_MAX_DEPTH)
    {
        error_set(err, ERR_FAILURE, "could not list \"%s\": directories nested too deep", path);
        error_hint(err, "look for a symbolic link loop under \"%s\"", posix_root(st));
        free(path);
        return false;
    }
    d = opendir(path);
    if (d == NULL)
    {
        if (errno == ENOENT || errno == ENOTDIR)
        {
            free(path);
            return true;
        }
        error_set(err, ERR_FAILURE, "could not open directory \"%s\": %s", path, strerror(errno));
        free(path);
        return false;
    }

    while (ok)
    {
        struct dirent *de;
        struct stat sb;
        char *key;
        size_t key_len;

        errno = 0;
        de = readdir(d);
        if (de == NULL)
        {
            if (errno != 0)
                ok = error_set(err, ERR_FAILURE, "could not read directory \"%s\": %s", path,
                               strerror(errno));
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (strstr(de->d_name, POSIX_TMP_MARK) != NULL)
        {
            key = xasprintf("%s%s", rel, de->d_name);
            if (sweep != NULL && strncmp(key, prefix, prefix_len) == 0)
                ok = posix_sweep_one(d, path, de->d_name, sweep, err);
            free(key);
            continue;
        }

        key = xasprintf("%s%s", rel, de->d_name);
        key_len = strlen(key);
        /* An entry whose name already differs from the prefix can be neither a
         * match nor a directory on the way to one: skip it without a stat, so
         * listing "keys/<id>" among thousands of keys stays cheap. */
        if (strncmp(key, prefix, key_len < prefix_len ? key_len : prefix_len) != 0)
        {
            free(key);
            continue;
        }
        /* Follows symlinks, so a data/ moved to another disk still lists. */
        if (fstatat(dirfd(d), de->d_name, &sb, 0) != 0)
        {
            if (errno != ENOENT)
                ok = error_set(err, ERR_FAILURE, "could not stat \"%s/%s\": %s", path, de->d_name,
                               strerror(errno));
            free(key);
            continue;
        }

        if (S_ISDIR(sb.st_mode))
        {
            size_t n = key_len + 1 < prefix_len ? key_len + 1 : prefix_len;
            char *sub = xasprintf("%s/", key);

            if (strncmp(sub, prefix, n) == 0)
                ok = posix_list_dir(st, sub, prefix, depth + 1, out, sweep, err);
            free(sub);
        }
        else if (sweep == NULL && S_ISREG(sb.st_mode) && strncmp(key, prefix, prefix_len) == 0)
            storage_list_add(out, key, (uint64_t)sb.st_size);
        free(key);
    }
    closedir(d);
    free(path);
    return ok;
}

/* Lists (sweep NULL) or sweeps everything under prefix. */
static bool posix_walk(Storage *st, const char *prefix, StorageList *out, PosixSweep *sweep,
                       Error *err)
{
    const char *slash = strrchr(prefix, '/');
    char *rel = slash == NULL ? xstrdup("") : xstrndup(prefix, (size_t)(slash - prefix + 1));
    bool ok = posix_list_dir(st, rel, prefix, 0, out, sweep, err);

    free(rel);
    return ok;
}

static bool posix_list(Storage *st, const char *prefix, StorageList *out, Error *err)
{
    return posix_walk(st, prefix, out, NULL, err);
}

static bool posix_sweep(Storage *st, const char *prefix, unsigned max_age, uint64_t *removed,
                        Error *err)
{
    PosixSweep sweep = {.cutoff = max_age == 0 ? 0 : time(NULL) - (time_t)max_age, .removed = 0};
    bool ok = posix_walk(st, prefix, NULL, &sweep, err);

    *removed = sweep.removed;
    return ok;
}

static bool posix_remove(Storage *st, const char *key, Error *err)
{
    char *path = posix_path(st, key);
    bool ok = true;

    if (unlink(path) != 0)
    {
        if (errno != ENOENT && errno != ENOTDIR)
            ok = error_set(err, ERR_FAILURE, "could not remove object \"%s\" from \"%s\": %s", key,
                           posix_root(st), strerror(errno));
    }
    else
        ok = posix_fsync_parent(path, err);
    free(path);
    return ok;
}

static bool posix_exists(Storage *st, const char *key, bool *exists, uint64_t *size, Error *err)
{
    char *path = posix_path(st, key);
    struct stat sb;
    bool ok = true;

    if (stat(path, &sb) != 0)
    {
        if (errno != ENOENT && errno != ENOTDIR)
            ok = error_set(err, ERR_FAILURE, "could not stat object \"%s\" in \"%s\": %s", key,
                           posix_root(st), strerror(errno));
    }
    else if (S_ISREG(sb.st_mode))
    {
        *exists = true;
        if (size != NULL)
            *size = (uint64_t)sb.st_size;
    }
    free(path);
    return ok;
}

static void posix_free(Storage *st)
{
    PosixStorage *ps = st->state;

    free(ps->root);
    free(ps);
}

static const StorageDriver posix_driver = {
    .name = "posix",
    .caps = STORAGE_CAP_RANGE | STORAGE_CAP_ATOMIC_PUT | STORAGE_CAP_LOCAL,
    .put_begin = posix_put_begin,
    .put_write = posix_put_write,
    .put_end = posix_put_end,
    .put_abort = posix_put_abort,
    .get_begin = posix_get_begin,
    .get_read = posix_get_read,
    .get_end = posix_get_end,
    .list = posix_list,
    .sweep = posix_sweep,
    .remove = posix_remove,
    .exists = posix_exists,
    .free = posix_free,
};

/*
 * access() alone is not enough: it trusts mode bits, which say nothing about
 * a read-only mount, and it always passes for root. Creating and removing a
 * file is the real test.
 */
static bool posix_check_writable(const char *root, Error *err)
{
    char *probe;
    int fd;

    if (access(root, W_OK | X_OK) != 0)
    {
        error_set(err, ERR_FAILURE, "repository \"%s\" is not writable: %s", root, strerror(errno));
        return error_hint(err, "check the owner and permissions of \"%s\"", root);
    }

    probe = xasprintf("%s/.coffer-probe" POSIX_TMP_MARK "%ld-%016" PRIx64, root, (long)getpid(),
                      posix_random());
    fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, POSIX_FILE_MODE);
    if (fd < 0)
    {
        error_set(err, ERR_FAILURE, "repository \"%s\" is not writable: %s", root, strerror(errno));
        error_hint(err,
                   "check the owner and permissions of \"%s\" and whether its filesystem "
                   "is mounted read-only",
                   root);
        free(probe);
        return false;
    }
    close(fd);
    unlink(probe);
    free(probe);
    return true;
}

Storage *storage_posix_new(const char *path, bool create, Error *err)
{
    PosixStorage *ps;
    struct stat sb;
    char *root;
    size_t len = strlen(path);

    if (len == 0)
    {
        error_set(err, ERR_USAGE, "repository path is empty");
        return NULL;
    }
    /* "repo/" and "repo" are the same repository; keep "/" itself. */
    while (len > 1 && path[len - 1] == '/')
        len--;
    root = xstrndup(path, len);

    if (stat(root, &sb) != 0)
    {
        if (errno != ENOENT)
        {
            error_set(err, ERR_FAILURE, "could not access repository \"%s\": %s", root,
                      strerror(errno));
            goto fail;
        }
        if (!create)
        {
            error_set(err, ERR_FAILURE, "repository \"%s\" does not exist", root);
            error_hint(err, "run \"coffer init\" to create it");
            goto fail;
        }
        if (mkdir(root, POSIX_DIR_MODE) == 0)
        {
            /* mkdir's mode was filtered by the umask; set it exactly. */
            if (chmod(root, POSIX_DIR_MODE) != 0)
            {
                error_set(err, ERR_FAILURE, "could not set permissions of \"%s\": %s", root,
                          strerror(errno));
                goto fail;
            }
            if (!posix_fsync_parent(root, err))
                goto fail;
        }
        else if (errno != EEXIST)
        {
            int e = errno;

            error_set(err, ERR_FAILURE, "could not create repository directory \"%s\": %s", root,
                      strerror(e));
            if (e == ENOENT)
                error_hint(err, "create the parent directory first");
            goto fail;
        }
        if (stat(root, &sb) != 0)
        {
            error_set(err, ERR_FAILURE, "could not access repository \"%s\": %s", root,
                      strerror(errno));
            goto fail;
        }
    }
    if (!S_ISDIR(sb.st_mode))
    {
        error_set(err, ERR_USAGE, "repository path \"%s\" is not a directory", root);
        goto fail;
    }
    if (!posix_check_writable(root, err))
        goto fail;

    ps = xcalloc(1, sizeof(*ps));
    ps->root = root;
    return storage_new_intern(&posix_driver, ps, root);

fail:
    free(root);
    return NULL;
}
