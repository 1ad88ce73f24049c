/*
 * error.c - filling and printing the Error type.
 *
 * Messages are lowercase without a final period, paths in quotes; detail and
 * hint print on their own lines as "DETAIL:" and "HINT:".
 */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void error_clear(Error *err)
{
    if (err == NULL)
        return;
    err->code = ERR_OK;
    err->message[0] = '\0';
    err->detail[0] = '\0';
    err->hint[0] = '\0';
    err->transient = false;
}

bool error_transient(Error *err)
{
    if (err != NULL)
        err->transient = true;
    return false;
}

bool error_set(Error *err, ErrorCode code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return false;
    error_clear(err);
    err->code = code == ERR_OK ? ERR_FAILURE : code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return false;
}

bool error_detail(Error *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return false;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    return false;
}

bool error_hint(Error *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return false;
    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
    va_end(ap);
    return false;
}

bool error_prefix(Error *err, const char *fmt, ...)
{
    char prefix[512];
    char old[sizeof(err->message)];
    va_list ap;

    if (err == NULL)
        return false;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    {
        size_t plen = strlen(prefix);
        size_t room = sizeof(err->message) - 1;
        size_t n = plen < room ? plen : room;

        memcpy(err->message, prefix, n);
        if (n + 2 <= room)
        {
            memcpy(err->message + n, ": ", 2);
            n += 2;
        }
        for (size_t i = 0; old[i] != '\0' && n < room; i++)
            err->message[n++] = old[i];
        err->message[n] = '\0';
    }
    return false;
}

bool error_is_set(const Error *err)
{
    return err != NULL && err->code != ERR_OK;
}

void error_print(const Error *err)
{
    if (err == NULL || err->code == ERR_OK)
        return;
    fprintf(stderr, "coffer: error: %s\n", err->message);
    if (err->detail[0] != '\0')
        fprintf(stderr, "DETAIL: %s\n", err->detail);
    if (err->hint[0] != '\0')
        fprintf(stderr, "HINT: %s\n", err->hint);
}
