/*
 * fmt.h - formatting for people: byte sizes, durations, and names made safe
 * to print on a terminal.
 */
#ifndef COFFER_COMMON_FMT_H
#define COFFER_COMMON_FMT_H

#include <stddef.h>
#include <stdint.h>

/* "1.5 MiB" into out (at least 16 bytes). */
void fmt_bytes(uint64_t bytes, char *out, size_t len);

/* "1m05s", "12.3s" into out. */
void fmt_seconds(double seconds, char *out, size_t len);

/* Copies s into out replacing control characters (newline, escape, ...) by
 * '?', so that a hostile name cannot rewrite the terminal. */
void fmt_printable(const char *s, char *out, size_t len);

/* The current UTC time as "2026-11-21T21:43:05.123456Z" (out holds 40):
 * microseconds, so that snapshots taken within one second still order. */
void fmt_utc_now(char out[40]);

/* Monotonic clock in seconds. */
double fmt_now(void);

#endif
