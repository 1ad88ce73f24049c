/*
 * test_cleanup.c - unit tests for the cleanup registry and its signal thread.
 *
 * Order, pop and run-once are tested in this process; signals in forked
 * children that install the signal thread, report through a pipe and exit.
 */
#include "common/buf.h"
#include "common/cleanup.h"
#include "pg/pg.h"
#include "tap.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char test_trace[64];
static int test_pipe = -1;      /* a child's report to its parent */
static char test_err_path[256]; /* a child's stderr */
static atomic_int test_started = 0;

/* Appends its letter to test_trace. */
static void test_mark(void *arg)
{
    size_t n = strlen(test_trace);

    test_trace[n] = *(const char *)arg;
    test_trace[n + 1] = '\0';
}

static void test_report(const char *s)
{
    if (write(test_pipe, s, strlen(s)) < 0)
        _exit(99);
}

static void test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* True once the child's stderr holds s (checked for up to 5 s). */
static bool test_stderr_has(const char *s)
{
    for (int i = 0; i < 500; i++)
    {
        char buf[4096] = "";
        FILE *f = fopen(test_err_path, "r");

        if (f != NULL)
        {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);

            buf[n] = '\0';
            fclose(f);
            if (strstr(buf, s) != NULL)
                return true;
        }
        test_sleep_ms(10);
    }
    return false;
}

/* Cleanups of the children: each reports to the parent. */
static void test_child_marker(void *arg)
{
    test_report(cleanup_interrupted() ? "interrupted:" : "not-interrupted:");
    test_report(arg);
}

/* Reports its start, waits until the second signal has been logged, then
 * reports its end: the second signal must not cut it short. */
static void test_child_slow(void *arg)
{
    (void)arg;
    test_report("start,");
    atomic_store(&test_started, 1);
    if (!test_stderr_has("still putting things back; wait"))
        test_report("no-second-signal-logged,");
    test_report("done,");
}

/* Reports its start, then takes a moment. */
static void test_child_started(void *arg)
{
    (void)arg;
    test_report("start,");
    atomic_store(&test_started, 1);
    test_sleep_ms(300);
    test_report("done,");
}

static bool test_collect(void *arg, const void *data, size_t len, Error *err)
{
    (void)err;
    buf_append(arg, data, len);
    return true;
}

typedef enum
{
    TEST_SIGTERM,
    TEST_SIGINT,
    TEST_TWICE,
    TEST_POP_WAITS,
    TEST_IGNORED_HUP,
    TEST_SPAWN_MASK,
} TestChild;

/* The child's side: install, register, get a signal. Never returns. */
static void test_child_main(TestChild what)
{
    Error err;
    CleanupHandle h;

    alarm(20); /* a hang fails the test instead of blocking it */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, what == TEST_IGNORED_HUP ? SIG_IGN : SIG_DFL);
    if (!cleanup_signals_install(&err))
        _exit(98);
    switch (what)
    {
    case TEST_SIGTERM:
        cleanup_push(test_child_marker, "outer,");
        cleanup_push(test_child_marker, "inner,");
        kill(getpid(), SIGTERM);
        break;
    case TEST_SIGINT:
        cleanup_push(test_child_marker, "marker,");
        kill(getpid(), SIGINT);
        break;
    case TEST_TWICE:
        cleanup_push(test_child_slow, NULL);
        kill(getpid(), SIGTERM);
        while (atomic_load(&test_started) == 0)
            test_sleep_ms(5);
        kill(getpid(), SIGINT);
        break;
    case TEST_POP_WAITS:
        h = cleanup_push(test_child_started, NULL);
        kill(getpid(), SIGTERM);
        while (atomic_load(&test_started) == 0)
            test_sleep_ms(5);
        /* the runner has the entry: this must wait, and never return */
        cleanup_pop(h, true);
        test_report("pop-returned,");
        _exit(0);
    case TEST_IGNORED_HUP:
        cleanup_push(test_child_marker, "marker,");
        kill(getpid(), SIGHUP);
        test_sleep_ms(200);
        test_report("alive-after-hup,");
        kill(getpid(), SIGTERM);
        break;
    case TEST_SPAWN_MASK:
    {
        char *argv[] = {"/bin/grep", "^SigBlk:", "/proc/self/status", NULL};
        Buf out;

        buf_init(&out);
        error_clear(&err);
        if (pg_tool_run(argv, NULL, NULL, test_collect, &out, &err))
            test_report(buf_cstr(&out));
        else
            test_report(err.message);
        buf_free(&out);
        _exit(0);
    }
    }
    for (;;)
        pause(); /* the signal thread ends the process */
}

/* Forks a child doing what, collects what it reports into out and returns
 * its wait status. */
static int test_child(TestChild what, char *out, size_t len)
{
    int fds[2];
    int status = -1;
    size_t got = 0;
    pid_t pid;

    snprintf(test_err_path, sizeof(test_err_path), "/tmp/test_cleanup.%d.err", (int)getpid());
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    pid = fork();
    if (pid == 0)
    {
        FILE *errf = freopen(test_err_path, "w", stderr);

        if (errf == NULL)
            _exit(97);
        setvbuf(stderr, NULL, _IONBF, 0);
        close(fds[0]);
        test_pipe = fds[1];
        test_child_main(what);
    }
    close(fds[1]);
    for (;;)
    {
        ssize_t n = read(fds[0], out + got, len - 1 - got);

        if (n <= 0)
            break;
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fds[0]);
    waitpid(pid, &status, 0);
    return status;
}

static void test_child_stderr(char *out, size_t len)
{
    FILE *f = fopen(test_err_path, "r");
    size_t n = 0;

    if (f != NULL)
    {
        n = fread(out, 1, len - 1, f);
        fclose(f);
    }
    out[n] = '\0';
    unlink(test_err_path);
}

static void test_signals(void)
{
    char out[512], errtext[4096];
    int st;

    st = test_child(TEST_SIGTERM, out, sizeof(out));
    ok(WIFEXITED(st), "SIGTERM: the child exits");
    is_int(WEXITSTATUS(st), 143, "SIGTERM: with status 143");
    is_str(out, "interrupted:inner,interrupted:outer,",
           "SIGTERM: both cleanups ran, newest first, after the flag was set");
    test_child_stderr(errtext, sizeof(errtext));
    like(errtext, "coffer: warning: interrupted by SIGTERM; putting things back",
         "SIGTERM: one line says so");

    st = test_child(TEST_SIGINT, out, sizeof(out));
    is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 130, "SIGINT: status 130");
    is_str(out, "interrupted:marker,", "SIGINT: the cleanup ran");
    test_child_stderr(errtext, sizeof(errtext));
    like(errtext, "interrupted by SIGINT", "SIGINT: logged");

    st = test_child(TEST_TWICE, out, sizeof(out));
    is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 143,
           "second signal: the status is the first signal's");
    is_str(out, "start,done,", "second signal: the slow cleanup ran once, to its end");
    test_child_stderr(errtext, sizeof(errtext));
    like(errtext, "interrupted by SIGTERM; putting things back", "second signal: first logged");
    like(errtext, "still putting things back; wait", "second signal: logged as such");
    ok(strstr(errtext, "interrupted by SIGINT") == NULL, "second signal: not taken as a new one");

    st = test_child(TEST_POP_WAITS, out, sizeof(out));
    is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 143, "pop during the run: status 143");
    is_str(out, "start,done,", "pop during the run: the entry ran once and the pop waited for it");
    test_child_stderr(errtext, sizeof(errtext));

    st = test_child(TEST_IGNORED_HUP, out, sizeof(out));
    is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 143, "inherited SIG_IGN: SIGTERM still works");
    is_str(out, "alive-after-hup,interrupted:marker,", "inherited SIG_IGN: SIGHUP stays ignored");
    test_child_stderr(errtext, sizeof(errtext));
    ok(strstr(errtext, "SIGHUP") == NULL, "inherited SIG_IGN: SIGHUP not logged");

    st = test_child(TEST_SPAWN_MASK, out, sizeof(out));
    is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "spawned program: the child ran it");
    like(out, "SigBlk:\t0000000000000000", "spawned program: starts with no signal blocked");
    test_child_stderr(errtext, sizeof(errtext));
}

/* A cleanup that pops another entry (with run) from inside itself. */
static CleanupHandle test_nested;

static void test_pop_nested(void *arg)
{
    test_mark(arg);
    cleanup_pop(test_nested, true);
}

static CleanupHandle test_self;

static void test_pop_self(void *arg)
{
    test_mark(arg);
    ok(!cleanup_pop(test_self, true), "a cleanup popping itself returns at once");
}

int main(void)
{
    CleanupHandle a, b, c, d;

    ok(!cleanup_interrupted(), "not interrupted at first");

    test_trace[0] = '\0';
    cleanup_push(test_mark, "a");
    cleanup_push(test_mark, "b");
    cleanup_push(test_mark, "c");
    cleanup_run_all();
    is_str(test_trace, "cba", "run_all runs newest first");
    test_trace[0] = '\0';
    cleanup_run_all();
    is_str(test_trace, "", "and empties the registry");

    test_trace[0] = '\0';
    a = cleanup_push(test_mark, "a");
    b = cleanup_push(test_mark, "b");
    c = cleanup_push(test_mark, "c");
    ok(cleanup_pop(b, true), "pop with run removes the entry");
    is_str(test_trace, "b", "  ... and runs it");
    ok(cleanup_pop(c, false), "pop without run removes the entry");
    is_str(test_trace, "b", "  ... and does not run it");
    ok(!cleanup_pop(c, true), "a second pop finds nothing");
    ok(!cleanup_pop(0, true), "handle 0 is nothing");
    cleanup_run_all();
    is_str(test_trace, "ba", "run_all runs only what is left");
    ok(!cleanup_pop(a, true), "pop after run_all: already run");
    is_str(test_trace, "ba", "  ... and not again");

    test_trace[0] = '\0';
    cleanup_push(test_mark, "a");
    d = cleanup_push_cancel(test_mark, "x");
    cleanup_push(test_mark, "b");
    cleanup_push_cancel(test_mark, "y");
    cleanup_push(test_mark, "c");
    ok(cleanup_pop(d, false), "a cancel hook pops like a cleanup");
    cleanup_push_cancel(test_mark, "z");
    cleanup_run_all();
    is_str(test_trace, "zycba", "cancel hooks run first, then cleanups, each newest first");

    test_trace[0] = '\0';
    cleanup_push(test_mark, "a");
    test_nested = cleanup_push(test_mark, "n");
    cleanup_push(test_pop_nested, "p");
    cleanup_run_all();
    is_str(test_trace, "pna", "a cleanup may pop (and run) an older entry during run_all");

    test_trace[0] = '\0';
    test_self = cleanup_push(test_pop_self, "s");
    ok(cleanup_pop(test_self, true), "an entry that pops itself runs");
    is_str(test_trace, "s", "  ... once");
    ok(!cleanup_pop(test_self, true), "  ... and is gone");

    test_signals();
    ok(!cleanup_interrupted(), "the children's signals did not reach this process");
    return tap_done();
}
