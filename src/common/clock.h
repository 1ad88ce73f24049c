/*
 * clock.h - the calendar every command reads, and the forms time takes in
 * the configuration and on the command line.
 *
 * COFFER_NOW (RFC 3339, e.g. "2027-03-01T02:00:00Z") moves the calendar:
 * snapshot times, schedules, retention and pins all follow it, so a test
 * can live through two years in a minute. Timeouts, lock refreshes and
 * progress keep the real clock: they measure how long work takes.
 */
#ifndef COFFER_COMMON_CLOCK_H
#define COFFER_COMMON_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "common/error.h"

/* Reads COFFER_NOW once; false with ERR_USAGE when it is set but not an
 * RFC 3339 time. main calls it before any command. */
bool clock_init(Error *err);

/* The current time, COFFER_NOW when set. */
time_t clock_now(void);

/* The current time with microseconds (COFFER_NOW's own, else the real
 * clock's), so that snapshots taken within one second still order. */
void clock_now_tv(struct timeval *tv);

/* Parses "2026-12-01T02:00:00Z", with optional fraction and a "Z" or
 * "+HH:MM"/"-HH:MM" offset; a bare date "2026-12-01" means its midnight
 * UTC. False on anything else. *usec (may be NULL) receives the fraction. */
bool clock_parse(const char *s, time_t *t, long *usec);

/* "2026-12-01T02:00:00Z" into out. */
void clock_format(time_t t, char out[32]);

/* Parses a duration: a number and a unit, s m h d w y ("90d", "12h"), or
 * several ("1d12h"); a year is 365 days. False on anything else, or zero. */
bool clock_parse_duration(const char *s, int64_t *seconds);

/* "90d", "1h30m", "45s" into out (at least 24 bytes). */
void clock_format_duration(int64_t seconds, char *out, size_t len);

#endif
