/*
 * tool.c - running pg_dump, pg_restore and pg_dumpall of the right version.
 *
 * The programs are started with posix_spawn (safe in a threaded process)
 * and get the connection's settings through PG* environment variables, so a
 * password never shows on a command line. Their standard output is streamed
 * to the caller; the tail of standard error is kept for the error message.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/mem.h"
#include "pg/pg.h"

extern char **environ;

#define PG_TOOL_STDERR_KEEP 2048

static bool pg_tool_env_has(char **env, size_t n, const char *prefix)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

/* The environment for a child: ours without PG* connection variables, then
 * the connection's effective settings (PQconninfo names each one's variable). */
static char **pg_tool_env(PGconn *conn, const char *dbname)
{
    PQconninfoOption *opts = conn ? PQconninfo(conn) : NULL;
    size_t n = 0, cap = 16;
    char **env = xmalloc(sizeof(char *) * cap);

    for (char **e = environ; *e != NULL; e++)
    {
        if (strncmp(*e, "PG", 2) == 0 && conn != NULL)
            continue;
        /* the repository's passphrase is no business of a client program */
        if (strncmp(*e, "COFFER_PASSPHRASE=", 18) == 0)
            continue;
        if (n + 3 >= cap)
            env = xrealloc(env, sizeof(char *) * (cap *= 2));
        env[n++] = xstrdup(*e);
    }
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
    {
        const char *val = o->val;

        if (o->envvar == NULL || val == NULL || val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "dbname") == 0 && dbname != NULL)
            val = dbname;
        if (n + 3 >= cap)
            env = xrealloc(env, sizeof(char *) * (cap *= 2));
        env[n++] = xasprintf("%s=%s", o->envvar, val);
    }
    if (dbname != NULL && conn == NULL)
        env[n++] = xasprintf("PGDATABASE=%s", dbname);
    if (conn != NULL && !pg_tool_env_has(env, n, "PGAPPNAME="))
        env[n++] = xasprintf("PGAPPNAME=%s", pg_app_name());
    env[n] = NULL;
    if (opts != NULL)
        PQconninfoFree(opts);
    return env;
}

static void pg_tool_env_free(char **env)
{
    for (char **e = env; *e != NULL; e++)
    {
        mem_wipe(*e, strlen(*e));
        free(*e);
    }
    free(env);
}

/* Keeps the last PG_TOOL_STDERR_KEEP bytes of standard error. */
static void pg_tool_keep(Buf *b, const char *data, size_t len)
{
    buf_append(b, data, len);
    if (b->len > PG_TOOL_STDERR_KEEP)
    {
        size_t drop = b->len - PG_TOOL_STDERR_KEEP;

        memmove(b->data, b->data + drop, PG_TOOL_STDERR_KEEP);
        b->len = PG_TOOL_STDERR_KEEP;
    }
}

/* The first error a program reported, from the line holding "error: " to
 * the end of what was kept (pg_restore follows it with "Command was: ...";
 * in parallel mode the leader's last line only says a worker died). */
static bool pg_tool_first_error(Buf *head, char *out, size_t len)
{
    const char *s = buf_cstr(head);
    const char *e = strstr(s, "error: ");
    const char *end;

    if (e == NULL)
        return false;
    while (e > s && e[-1] != '\n')
        e--;
    end = s + head->len;
    while (end > e && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    snprintf(out, len, "%.*s", (int)(end - e), e);
    return true;
}

/* The line of a program's standard error that says what went wrong: the
 * first "NAME: error: ..." line (PostgreSQL's programs print the cause
 * there and details such as "Query was: ..." after it), else the last
 * non-empty line. */
static void pg_tool_last_line(Buf *b, char *out, size_t len)
{
    const char *s = buf_cstr(b);
    const char *end = s + b->len;
    const char *start;
    const char *err = strstr(s, ": error: ");

    if (err != NULL)
    {
        const char *eol = strchr(err, '\n');

        start = err;
        while (start > s && start[-1] != '\n')
            start--;
        snprintf(out, len, "%.*s", (int)((eol ? eol : end) - start), start);
        return;
    }
    while (end > s && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    start = end;
    while (start > s && start[-1] != '\n')
        start--;
    snprintf(out, len, "%.*s", (int)(end - start), start);
}

/* A cancel hook: stops a running client program (arg: its pid). */
static void pg_tool_stop_child(void *arg)
{
    kill(*(pid_t *)arg, SIGTERM);
}

bool pg_tool_run(char *const argv[], PGconn *conn, const char *dbname, SinkFn out,
                 void *out_arg, Error *err)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    char **env;
    pid_t pid;
    int rc, status = 0;
    Buf errbuf, errhead;
    bool ok = true;
    bool out_open = true, err_open = true;
    CleanupHandle child_guard;

    /* after an interrupt nothing new starts: the cleanups are putting
     * things back, and a client program started now would undo that */
    if (cleanup_interrupted())
        return error_set(err, ERR_FAILURE, "interrupted: %s was not started", argv[0]);
    char *buf;
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0)
        return error_set(err, ERR_FAILURE, "could not create a pipe: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    /* our threads block SIGINT/SIGTERM/SIGHUP for the signal thread
     * (common/cleanup.h); the program must get them as usual */
    sigemptyset(&none);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    env = pg_tool_env(conn, dbname);
    rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    pg_tool_env_free(env);
    close(outp[1]);
    close(errp[1]);
    if (rc != 0)
    {
        close(outp[0]);
        close(errp[0]);
        error_set(err, ERR_FAILURE, "could not run \"%s\": %s", argv[0], strerror(rc));
        return error_hint(err, "install the PostgreSQL client programs or set postgres.bin_dir");
    }
    /* on an interrupt the program is stopped first: what it has not
     * committed is rolled back before the cleanups put things back */
    child_guard = cleanup_push_cancel(pg_tool_stop_child, &pid);
    buf_init(&errbuf);
    buf_init(&errhead);
    buf = xmalloc(256 * 1024);
    while (out_open || err_open)
    {
        struct pollfd fds[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};

        fds[0].fd = out_open ? outp[0] : -1;
        fds[1].fd = err_open ? errp[0] : -1;
        if (poll(fds, 2, -1) < 0)
        {
            if (errno == EINTR)
                continue;
            break;
        }
        if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        {
            ssize_t n = read(outp[0], buf, 256 * 1024);

            if (n <= 0)
                out_open = false;
            else if (ok && out != NULL && !out(out_arg, buf, (size_t)n, err))
            {
                ok = false;
                kill(pid, SIGTERM);
            }
        }
        if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
        {
            ssize_t n = read(errp[0], buf, 256 * 1024);

            if (n <= 0)
                err_open = false;
            else
            {
                pg_tool_keep(&errbuf, buf, (size_t)n);
                if (errhead.len < PG_TOOL_STDERR_KEEP)
                    buf_append(&errhead, buf,
                               (size_t)n < PG_TOOL_STDERR_KEEP - errhead.len
                                   ? (size_t)n
                                   : PG_TOOL_STDERR_KEEP - errhead.len);
            }
        }
    }
    free(buf);
    close(outp[0]);
    close(errp[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    cleanup_pop(child_guard, false);
    if (ok && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    {
        char last[1024];

        if (!pg_tool_first_error(&errhead, last, sizeof(last)))
            pg_tool_last_line(&errbuf, last, sizeof(last));
        if (WIFSIGNALED(status))
            error_set(err, ERR_FAILURE, "%s was killed by signal %d", name, WTERMSIG(status));
        else
            error_set(err, ERR_FAILURE, "%s failed (exit code %d)", name, WEXITSTATUS(status));
        if (last[0] != '\0')
            error_detail(err, "%s", last);
        ok = false;
    }
    else if (ok && errbuf.len > 0)
    {
        char last[1024];

        pg_tool_last_line(&errbuf, last, sizeof(last));
        if (last[0] != '\0')
            log_debug("%s: %s", name, last);
    }
    buf_free(&errbuf);
    buf_free(&errhead);
    return ok;
}

/* "pg_dump (PostgreSQL) 15.4 (Debian 15.4-1)" -> 15 */
static bool pg_tool_collect(void *arg, const void *data, size_t len, Error *err)
{
    (void)err;
    buf_append(arg, data, len);
    return true;
}

static int pg_tool_version(const char *path)
{
    char *argv[] = {(char *)path, "--version", NULL};
    Buf out;
    Error err;
    int major = -1;
    const char *p;

    buf_init(&out);
    error_clear(&err);
    if (pg_tool_run(argv, NULL, NULL, pg_tool_collect, &out, &err))
    {
        p = strstr(buf_cstr(&out), ") ");
        if (p != NULL)
            major = atoi(p + 2);
    }
    buf_free(&out);
    return major;
}

bool pg_tool_has_option(const char *path, const char *option)
{
    char *argv[] = {(char *)path, "--help", NULL};
    Buf out;
    Error err;
    bool has = false;

    buf_init(&out);
    error_clear(&err);
    if (pg_tool_run(argv, NULL, NULL, pg_tool_collect, &out, &err))
        has = strstr(buf_cstr(&out), option) != NULL;
    buf_free(&out);
    return has;
}

char *pg_tool_find(const char *bindir, const char *name, int major, Error *err)
{
    char *candidates[3] = {NULL, NULL, NULL};
    int n = 0;
    char *found = NULL;
    int found_major = -1;

    if (bindir != NULL && bindir[0] != '\0')
        candidates[n++] = xasprintf("%s/%s", bindir, name);
    else
    {
        const char *path = getenv("PATH");

        candidates[n++] = xasprintf("/usr/lib/postgresql/%d/bin/%s", major, name);
        /* then the first one on PATH */
        while (path != NULL && *path != '\0')
        {
            size_t len = strcspn(path, ":");
            char *c = xasprintf("%.*s/%s", (int)len, path, name);

            if (access(c, X_OK) == 0)
            {
                candidates[n++] = c;
                break;
            }
            free(c);
            path += len;
            if (*path == ':')
                path++;
        }
    }
    for (int i = 0; i < n && found == NULL; i++)
    {
        if (access(candidates[i], X_OK) != 0)
            continue;
        found_major = pg_tool_version(candidates[i]);
        if (found_major == major)
            found = xstrdup(candidates[i]);
    }
    if (found == NULL)
    {
        if (found_major > 0)
        {
            error_set(err, ERR_FAILURE, "%s is version %d but the server is version %d", name,
                      found_major, major);
            error_hint(err,
                       "install postgresql-client-%d or set postgres.bin_dir to its bin "
                       "directory",
                       major);
        }
        else
        {
            error_set(err, ERR_FAILURE, "%s of PostgreSQL %d not found", name, major);
            error_detail(err, "looked in %s", candidates[0]);
            error_hint(err, "install postgresql-client-%d or set postgres.bin_dir", major);
        }
    }
    for (int i = 0; i < n; i++)
        free(candidates[i]);
    return found;
}
