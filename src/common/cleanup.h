/*
 * cleanup.h - the registry of things to put back when Coffer stops early.
 *
 * Code that changes something it must undo if it does not finish (a tenant
 * renamed aside, a scratch schema, a lock) pushes a cleanup and pops it once
 * the change is committed or undone. On SIGINT, SIGTERM or SIGHUP a signal
 * thread runs every cleanup still registered, newest first, and exits with
 * 128 + the signal number; main runs them too before it exits on an error.
 */
#ifndef COFFER_COMMON_CLEANUP_H
#define COFFER_COMMON_CLEANUP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* A cleanup: undoes what its owner started. It runs in an ordinary thread
 * (never in a signal handler), so it may block, open a new connection and
 * run SQL; but it may run while its owner's threads are still at work, so it
 * must not use what they use (open its own connection instead). */
typedef void (*CleanupFn)(void *arg);

/* Names one registered entry; 0 is never a valid handle. */
typedef uint64_t CleanupHandle;

/* Registers fn(arg) to be run if the process is interrupted or main exits
 * on an error before the entry is popped. Entries run last-pushed-first.
 * Thread-safe. Never fails. */
CleanupHandle cleanup_push(CleanupFn fn, void *arg);

/* Registers a cancel hook: like cleanup_push, but every cancel hook runs
 * before any cleanup, so that in-flight work can be stopped (PQcancel of a
 * worker's query) before the cleanups undo what it was doing. A cancel hook
 * should return quickly. Pop it with cleanup_pop like any entry. */
CleanupHandle cleanup_push_cancel(CleanupFn fn, void *arg);

/* Removes an entry, and runs it first when run is true. Returns true when
 * this call removed it; false when it had already been run (by the signal
 * thread or cleanup_run_all), when it is being run now (the call then waits
 * until it has finished), or when handle is 0. While the signal thread or
 * cleanup_run_all is unwinding, a pop with run=true leaves the entry to it,
 * keeping the newest-first order, and waits; the signal thread never
 * returns, so after an interrupt that wait ends with the process. A pop with
 * run=false of an entry not yet started removes it: the owner has committed
 * what it would have undone. Do not hold a lock a cleanup needs while
 * popping. Returns only once the entry will never run again. */
bool cleanup_pop(CleanupHandle handle, bool run);

/* Runs every registered entry, cancel hooks first, then the cleanups newest
 * first, each at most once, and empties the registry. For main's error exit
 * path. When a signal has already started unwinding, waits for it instead
 * (the process then exits with its status). */
void cleanup_run_all(void);

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and so in every
 * thread it creates later) and starts the thread that waits for them. Call
 * once, from main, before any other thread exists; later calls do nothing.
 * A signal the process inherited as ignored (nohup, a background job's
 * SIGINT) stays ignored. On the first signal: cleanup_interrupted() becomes
 * true, one line is logged, every entry is run as by cleanup_run_all, and
 * the process exits with 128 + the signal number, without atexit handlers
 * or flushing stdio. Further signals are logged and otherwise ignored.
 * Programs started with posix_spawn must be given an empty signal mask
 * (pg_tool_run does). Returns false with err set if the thread could not be
 * started (the signals are then left as they were). */
bool cleanup_signals_install(Error *err);

/* True once SIGINT, SIGTERM or SIGHUP has been received: long loops check it
 * to stop early; what they leave half done is the cleanups' to undo. */
bool cleanup_interrupted(void);

#endif
