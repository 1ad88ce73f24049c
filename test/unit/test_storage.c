/*
 * test_storage.c - unit tests for the storage interface and the posix driver:
 * streaming round trips, ranges, error texts, listing, permissions and the
 * checks storage.c makes on every key.
 */
#include "common/error.h"
#include "common/mem.h"
#include "storage/storage.h"
#include "tap.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int test_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    chmod(path, 0700);
    return remove(path);
}

static void test_rm_tree(const char *path)
{
    chmod(path, 0700);
    nftw(path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned test_mode(const char *path)
{
    struct stat sb;

    if (stat(path, &sb) != 0)
        return 0;
    return (unsigned)(sb.st_mode & 07777);
}

static bool test_path_exists(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0;
}

/* Counts directory entries other than "." and "..", to prove nothing is left behind. */
static int test_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return -1;
    for (;;)
    {
        de = readdir(d);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Deterministic, non-repeating-looking bytes so that an offset mix-up shows. */
static void test_fill(unsigned char *p, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    size_t i;

    for (i = 0; i < len; i++)
    {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

/*
 * A full disk needs a small filesystem; as root a 64 KiB tmpfs gives one.
 * Elsewhere (no privilege, no mount namespace) the test is skipped.
 */
static void test_disk_full(const char *base)
{
    char *dir = xasprintf("%s/small", base);
    Storage *st;
    Error err;
    size_t len = 256 * 1024;
    unsigned char *data;

    mkdir(dir, 0700);
    if (geteuid() != 0 || mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700") != 0)
    {
        ok(1, "# SKIP cannot mount a small tmpfs to fill");
        ok(1, "# SKIP cannot mount a small tmpfs to fill");
        ok(1, "# SKIP cannot mount a small tmpfs to fill");
        free(dir);
        return;
    }

    error_clear(&err);
    st = storage_open(dir, false, &err);
    data = xcalloc(1, len);
    ok(st != NULL && !storage_put(st, "data/ab/big", data, len, &err), "put on a full disk fails");
    is_str(err.message, "could not write object \"data/ab/big\": the disk is full",
           "full disk message names the key");
    {
        char *sub = xasprintf("%s/data/ab", dir);

        is_int(test_count_entries(sub), 0, "failed put leaves no temp file");
        free(sub);
    }
    storage_free(st);
    free(data);
    umount2(dir, MNT_DETACH);
    free(dir);
}

int main(void)
{
    char tmpl[] = "/tmp/coffer-test-storage-XXXXXX";
    char *base;
    char *root;
    char *path;
    Storage *st;
    StorageWrite *w;
    StorageRead *r;
    StorageList list;
    Error err;
    unsigned char *out;
    size_t out_len;
    bool exists;
    uint64_t size;
    long n;
    mode_t old_umask;

    base = mkdtemp(tmpl);
    if (base == NULL)
    {
        printf("Bail out! mkdtemp failed\n");
        return 1;
    }

    /* --- opening ------------------------------------------------------- */
    error_clear(&err);
    path = xasprintf("%s/missing", base);
    st = storage_open(path, false, &err);
    ok(st == NULL, "missing repository without create fails");
    {
        char *want = xasprintf("repository \"%s\" does not exist", path);

        is_str(err.message, want, "missing repository message");
        free(want);
    }
    like(err.hint, "coffer init", "missing repository hints at coffer init");
    ok(!test_path_exists(path), "create=false creates nothing");
    free(path);

    path = xasprintf("%s/plainfile", base);
    {
        FILE *f = fopen(path, "w");

        fputs("x", f);
        fclose(f);
    }
    error_clear(&err);
    st = storage_open(path, true, &err);
    ok(st == NULL, "repository path that is a file fails");
    {
        char *want = xasprintf("repository path \"%s\" is not a directory", path);

        is_str(err.message, want, "file-instead-of-directory message");
        free(want);
    }
    free(path);

    /* An S3 spec must never fall through to a directory named "s3:". */
    error_clear(&err);
    st = storage_open("s3://bucket/prefix", true, &err);
    ok(st == NULL, "s3:// is not opened as a posix path");
    like(err.message, "is a URL, not a directory", "s3:// says a URL is not a directory");
    ok(!test_path_exists("s3:"), "s3:// creates no directory");

    path = xasprintf("%s/readonly", base);
    mkdir(path, 0700);
    chmod(path, 0500);
    error_clear(&err);
    st = storage_open(path, false, &err);
    if (geteuid() == 0)
    {
        /* Root writes through mode bits, so there is nothing to refuse. */
        ok(1, "# SKIP non-writable root cannot be tested as root");
        storage_free(st);
    }
    else
    {
        ok(st == NULL, "non-writable repository fails");
        like(err.message, "is not writable", "non-writable repository message");
    }
    free(path);

    /* A restrictive umask must not leak into the repository's modes. */
    old_umask = umask(0277);
    root = xasprintf("%s/repo/", base);
    error_clear(&err);
    st = storage_open(root, true, &err);
    ok(st != NULL, "create a new repository");
    if (st == NULL)
    {
        printf("Bail out! %s\n", err.message);
        return 1;
    }
    free(root);
    root = xasprintf("%s/repo", base);
    is_str(storage_location(st), root, "location drops the trailing slash");
    is_int(test_mode(root), 0700, "repository root is 0700");
    ok(storage_caps(st) & STORAGE_CAP_ATOMIC_PUT, "posix puts are atomic");
    ok(storage_caps(st) & STORAGE_CAP_LOCAL, "posix is local");

    /* --- small round trip --------------------------------------------- */
    error_clear(&err);
    ok(storage_put(st, "config", "hello world", 11, &err), "put a small object");
    ok(storage_get(st, "config", &out, &out_len, &err), "get a small object");
    is_int(out_len, 11, "small object length");
    is_str((const char *)out, "hello world", "small object contents (NUL-terminated)");
    free(out);

    path = xasprintf("%s/config", root);
    is_int(test_mode(path), 0600, "object file is 0600 despite the umask");
    free(path);

    ok(storage_put(st, "config", "replaced", 8, &err), "put over an existing object");
    ok(storage_get(st, "config", &out, &out_len, &err), "get the replaced object");
    is_str((const char *)out, "replaced", "put replaces the object");
    free(out);

    ok(storage_put(st, "empty", "", 0, &err), "put an empty object");
    ok(storage_get(st, "empty", &out, &out_len, &err) && out_len == 0, "get an empty object");
    free(out);

    /* --- multi-megabyte streaming round trip -------------------------- */
    {
        size_t big_len = 5 * 1024 * 1024 + 123;
        unsigned char *big = xmalloc(big_len);
        unsigned char *back = xmalloc(big_len);
        size_t off = 0;
        size_t step = 1;
        bool write_ok = true;
        bool read_ok = true;

        test_fill(big, big_len, 7);
        w = storage_put_begin(st, "data/3f/3fa9big", &err);
        ok(w != NULL, "begin a streaming put");
        while (write_ok && off < big_len)
        {
            size_t chunk = step < big_len - off ? step : big_len - off;

            write_ok = storage_put_write(w, big + off, chunk, &err);
            off += chunk;
            step = step * 3 + 17; /* irregular sizes across buffer boundaries */
            if (step > 1024 * 1024)
                step = 4099;
        }
        ok(write_ok, "stream several megabytes in irregular pieces");
        error_clear(&err);
        ok(storage_exists(st, "data/3f/3fa9big", &exists, NULL, &err) && !exists,
           "object is invisible before put_end");
        ok(storage_put_end(w, &err), "commit the streaming put");
        ok(storage_exists(st, "data/3f/3fa9big", &exists, &size, &err) && exists,
           "object is visible after put_end");
        is_int(size, big_len, "exists reports the size");

        path = xasprintf("%s/data", root);
        is_int(test_mode(path), 0700, "intermediate directory is 0700");
        free(path);
        path = xasprintf("%s/data/3f", root);
        is_int(test_mode(path), 0700, "nested intermediate directory is 0700");
        is_int(test_count_entries(path), 1, "no temp file left after put_end");
        free(path);
        path = xasprintf("%s/data/3f/3fa9big", root);
        is_int(test_mode(path), 0600, "streamed object is 0600");
        free(path);

        r = storage_get_begin(st, "data/3f/3fa9big", 0, 0, &err);
        ok(r != NULL, "begin a streaming get");
        off = 0;
        step = 5;
        for (;;)
        {
            size_t want = step < big_len - off ? step : big_len - off + 10;

            n = storage_get_read(r, back + off, want > big_len - off ? big_len - off : want, &err);
            if (n < 0)
            {
                read_ok = false;
                break;
            }
            if (n == 0)
                break;
            off += (size_t)n;
            step = step * 5 + 3;
            if (step > 2 * 1024 * 1024)
                step = 8191;
        }
        storage_get_end(r);
        ok(read_ok, "stream the object back");
        is_int(off, big_len, "read back every byte");
        ok(memcmp(big, back, big_len) == 0, "streamed bytes are equal");

        ok(storage_get(st, "data/3f/3fa9big", &out, &out_len, &err), "get the big object whole");
        ok(out_len == big_len && memcmp(out, big, big_len) == 0, "whole get is equal");
        free(out);

        /* --- ranged reads ---------------------------------------------- */
        ok(storage_get_range(st, "data/3f/3fa9big", 1000003, 70001, &out, &err),
           "get a range from the middle");
        ok(memcmp(out, big + 1000003, 70001) == 0, "range bytes are equal");
        free(out);
        ok(storage_get_range(st, "data/3f/3fa9big", big_len - 9, 9, &out, &err),
           "get the last bytes");
        ok(memcmp(out, big + big_len - 9, 9) == 0, "tail range is equal");
        free(out);

        r = storage_get_begin(st, "data/3f/3fa9big", big_len - 100, 0, &err);
        ok(r != NULL, "range to the end");
        n = storage_get_read(r, back, big_len, &err);
        is_int(n, 100, "range to the end stops at the end");
        is_int(storage_get_read(r, back, 10, &err), 0, "get_read returns 0 at the end");
        storage_get_end(r);

        r = storage_get_begin(st, "data/3f/3fa9big", 10, 20, &err);
        n = storage_get_read(r, back, 4096, &err);
        is_int(n, 20, "bounded range never returns more than asked");
        ok(memcmp(back, big + 10, 20) == 0, "bounded range bytes are equal");
        is_int(storage_get_read(r, back, 4096, &err), 0, "get_read returns 0 at end of range");
        storage_get_end(r);

        free(big);
        free(back);
    }

    /* --- truncated and missing ----------------------------------------- */
    error_clear(&err);
    ok(!storage_get_range(st, "config", 3, 100, &out, &err), "range past the end fails");
    ok(out == NULL, "failed range leaves no buffer");
    is_str(err.message, "object \"config\" is truncated: wanted 100 bytes at offset 3, has 8",
           "truncated range message");
    error_clear(&err);
    ok(storage_get_begin(st, "config", 9, 0, &err) == NULL, "offset past the end fails");
    like(err.message, "object \"config\" is truncated", "offset past the end message");
    r = storage_get_begin(st, "config", 8, 0, &err);
    ok(r != NULL, "offset at the end is allowed");
    if (r != NULL)
    {
        unsigned char tmp[4];

        is_int(storage_get_read(r, tmp, sizeof(tmp), &err), 0, "offset at the end reads nothing");
        storage_get_end(r);
    }

    /* A file that shrinks under an open read is truncated, not short. */
    ok(storage_put(st, "shrinks", "0123456789", 10, &err), "put an object to shrink");
    r = storage_get_begin(st, "shrinks", 2, 6, &err);
    path = xasprintf("%s/shrinks", root);
    ok(truncate(path, 4) == 0, "shrink it under an open read");
    free(path);
    {
        unsigned char tmp[16];

        error_clear(&err);
        n = storage_get_read(r, tmp, sizeof(tmp), &err);
        n = n < 0 ? n : storage_get_read(r, tmp, sizeof(tmp), &err);
        is_int(n, -1, "read of a shrunk object fails");
        is_str(err.message, "object \"shrinks\" is truncated: wanted 6 bytes at offset 2, has 4",
               "shrunk object message");
    }
    storage_get_end(r);

    error_clear(&err);
    ok(!storage_get(st, "data/00/nope", &out, &out_len, &err), "get a missing object fails");
    is_str(err.message, "object \"data/00/nope\" does not exist", "missing object message");
    error_clear(&err);
    ok(!storage_get_range(st, "config/sub", 0, 1, &out, &err), "key below a file is missing");
    is_str(err.message, "object \"config/sub\" does not exist", "key below a file message");

    /* --- list ---------------------------------------------------------- */
    ok(storage_put(st, "index/b", "bb", 2, &err), "put index/b");
    ok(storage_put(st, "index/a", "a", 1, &err), "put index/a");
    ok(storage_put(st, "index/c/d", "ddd", 3, &err), "put index/c/d");
    ok(storage_put(st, "indexes", "x", 1, &err), "put indexes");
    path = xasprintf("%s/index/a.tmp-1-deadbeef", root);
    {
        FILE *f = fopen(path, "w");

        fclose(f);
    }
    free(path);

    ok(storage_list(st, "index/", &list, &err), "list index/");
    is_int(list.count, 3, "list finds three objects, not the temp file");
    if (list.count == 3)
    {
        is_str(list.items[0].key, "index/a", "first key");
        is_str(list.items[1].key, "index/b", "second key");
        is_str(list.items[2].key, "index/c/d", "nested key");
        is_int(list.items[2].size, 3, "listed size");
    }
    storage_list_free(&list);

    ok(storage_list(st, "index", &list, &err), "list a prefix that is not a directory");
    is_int(list.count, 4, "prefix \"index\" also matches \"indexes\"");
    if (list.count == 4)
        is_str(list.items[3].key, "indexes", "sorted by bytes");
    storage_list_free(&list);

    ok(storage_list(st, "index/c", &list, &err), "list a partial name");
    ok(list.count == 1 && strcmp(list.items[0].key, "index/c/d") == 0, "partial name matches");
    storage_list_free(&list);

    ok(storage_list(st, "", &list, &err), "list everything");
    {
        size_t i;
        bool sorted = true;

        for (i = 1; i < list.count; i++)
            sorted = sorted && strcmp(list.items[i - 1].key, list.items[i].key) < 0;
        ok(sorted && list.count == 8, "everything listed in key order");
        if (list.count > 0)
            is_str(list.items[0].key, "config", "first key of everything");
    }
    storage_list_free(&list);

    /* A symlink loop must end in an error, not an endless walk. */
    path = xasprintf("%s/loop", root);
    ok(mkdir(path, 0700) == 0 && chmod(path, 0700) == 0, "make a directory for a symlink loop");
    free(path);
    path = xasprintf("%s/loop/again", root);
    ok(symlink("..", path) == 0, "make a symlink loop");
    error_clear(&err);
    ok(!storage_list(st, "loop/", &list, &err), "listing a symlink loop fails");
    like(err.message, "nested too deep", "symlink loop message");
    ok(list.count == 0 && list.items == NULL, "failed list is empty");
    unlink(path);
    free(path);
    path = xasprintf("%s/loop", root);
    rmdir(path);
    free(path);

    ok(storage_list(st, "snapshots/", &list, &err), "list a missing directory");
    is_int(list.count, 0, "missing directory lists as empty");
    storage_list_free(&list);

    /* --- remove and exists --------------------------------------------- */
    ok(storage_exists(st, "index/b", &exists, &size, &err) && exists && size == 2,
       "exists with size");
    ok(storage_remove(st, "index/b", &err), "remove an object");
    ok(storage_exists(st, "index/b", &exists, &size, &err) && !exists, "removed object is gone");
    ok(storage_remove(st, "index/b", &err), "removing a missing object is fine");
    ok(storage_exists(st, "index", &exists, NULL, &err) && !exists, "a directory is not an object");

    /* --- abort --------------------------------------------------------- */
    w = storage_put_begin(st, "locks/aborted", &err);
    ok(w != NULL && storage_put_write(w, "partial", 7, &err), "begin and write a put");
    storage_put_abort(w);
    path = xasprintf("%s/locks", root);
    is_int(test_count_entries(path), 0, "put_abort leaves nothing behind");
    free(path);
    ok(storage_exists(st, "locks/aborted", &exists, NULL, &err) && !exists,
       "aborted object does not exist");

    /* --- invalid keys -------------------------------------------------- */
    {
        static const char *const bad[] = {
            "", "/etc/passwd", "../escape", "data/../../x", "a//b", "a\nb", "dir/", "./a", "a/./b",
        };
        size_t i;
        bool all = true;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        {
            error_clear(&err);
            all = all && !storage_put(st, bad[i], "x", 1, &err) && err.code == ERR_FAILURE &&
                  strncmp(err.message, "invalid object key", 18) == 0;
            all = all && !storage_get(st, bad[i], &out, &out_len, &err);
            all = all && !storage_exists(st, bad[i], &exists, NULL, &err);
            all = all && !storage_remove(st, bad[i], &err);
            all = all && storage_get_begin(st, bad[i], 0, 0, &err) == NULL;
        }
        ok(all, "every call rejects every invalid key");
        error_clear(&err);
        ok(!storage_put(st, "a//b", "x", 1, &err), "double slash rejected");
        is_str(err.message, "invalid object key \"a//b\"", "invalid key message");
        ok(!storage_list(st, "/abs", &list, &err), "absolute prefix rejected");
        ok(!storage_put(st, "data/x.tmp-1-2", "x", 1, &err), "temp-like key rejected");
        path = xasprintf("%s/escape", base);
        ok(!test_path_exists(path), "nothing written outside the root");
        free(path);
    }

    umask(old_umask);
    storage_free(st);

    test_disk_full(base);

    /* --- reopen -------------------------------------------------------- */
    error_clear(&err);
    st = storage_open(root, false, &err);
    ok(st != NULL, "reopen an existing repository");
    ok(st != NULL && storage_get(st, "config", &out, &out_len, &err), "object survives reopen");
    if (st != NULL)
        free(out);
    storage_free(st);

    free(root);
    test_rm_tree(base);
    return tap_done();
}
