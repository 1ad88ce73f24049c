/*
 * error.h - the one error type every fallible function fills.
 *
 * A function that can fail returns bool (or NULL) and fills an Error with a
 * category, a message, and optional detail and hint. Only main() turns the
 * category into an exit code.
 */
#ifndef COFFER_COMMON_ERROR_H
#define COFFER_COMMON_ERROR_H

#include <stdbool.h>

/* Error categories; their numeric values are the process exit codes. */
typedef enum
{
    ERR_OK = 0,      /* success */
    ERR_FAILURE = 1, /* the work failed */
    ERR_USAGE = 2,   /* bad command line or configuration */
    ERR_PARTIAL = 3, /* some tenants failed, the rest completed */
} ErrorCode;

typedef struct Error
{
    ErrorCode code;
    char message[1024];
    char detail[1024];
    char hint[512];
    bool transient; /* trying again may succeed (a network fault, a busy server) */
} Error;

/* Resets an error to "no error". */
void error_clear(Error *err);

/* Sets code and message (printf-style); clears detail and hint. Returns false
 * so that callers can write "return error_set(err, ...);". A NULL err is
 * allowed and ignored. */
bool error_set(Error *err, ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds a detail line to an error that was already set. Returns false. */
bool error_detail(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds a hint ("what to do next") to an error that was already set. Returns false. */
bool error_hint(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the message with context, e.g. error_prefix(err, "tenant \"%s\"", name)
 * turns "x failed" into "tenant "a": x failed". Returns false. */
bool error_prefix(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Marks an error that was already set as transient: the same call may
 * succeed if tried again later. Returns false. */
bool error_transient(Error *err);

/* True when err holds an error. */
bool error_is_set(const Error *err);

/* Prints "coffer: error: MESSAGE", then DETAIL: and HINT: lines, to stderr. */
void error_print(const Error *err);

#endif
