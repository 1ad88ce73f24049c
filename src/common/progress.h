/*
 * progress.h - progress of long work, and the one printer of it.
 *
 * Engines report samples through a ProgressFn and never print; commands pass
 * progress_print, which draws a status line on a terminal and logs a plain
 * line every 30 seconds otherwise.
 */
#ifndef COFFER_COMMON_PROGRESS_H
#define COFFER_COMMON_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ProgressSample
{
    const char *what; /* "backup", "restore" */
    const char *verb; /* what happens to the bytes: "read", "loaded" */
    uint64_t done;    /* tables finished */
    uint64_t total;   /* tables known so far */
    uint64_t bytes;   /* bytes so far */
    uint64_t bytes_total; /* expected bytes, 0 when unknown (no ETA) */
    double elapsed;   /* seconds since the work started */
    bool final;       /* the work ended: clear the status line */
} ProgressSample;

/* Receives a sample about four times a second, from the engine's own
 * thread (never from two threads at once). */
typedef void (*ProgressFn)(void *arg, const ProgressSample *sample);

/* The printer's state: pass a zeroed ProgressPrinter as arg. */
typedef struct ProgressPrinter
{
    double last_log; /* elapsed time of the last plain log line */
} ProgressPrinter;

/* A ProgressFn: "backup: 12/40 tables, 1.2 GiB, 80 MiB/s, ETA 30s" on a
 * terminal; without one, "progress: ..." as a log line at most every 30 s. */
void progress_print(void *printer, const ProgressSample *sample);

#endif
