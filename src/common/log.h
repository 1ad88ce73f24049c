/*
 * log.h - the process-wide logger.
 *
 * Plain lines on stderr: "coffer: LEVEL: message". The logger is the one piece
 * of global mutable state besides the cleanup list; it is thread-safe.
 */
#ifndef COFFER_COMMON_LOG_H
#define COFFER_COMMON_LOG_H

#include <stdbool.h>

typedef enum
{
    LOG_ERROR = 0,
    LOG_WARNING = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
} LogLevel;

/* Sets the most verbose level printed (default LOG_INFO). */
void log_set_level(LogLevel level);
LogLevel log_get_level(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A "DETAIL: " or "HINT: " line under the error just logged, the way
 * error_print shows them for the command's own error. */
void log_error_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when stderr is a terminal (progress bars instead of log lines). */
bool log_is_tty(void);

/* Draws a one-line status on a terminal, overwriting the previous one; does
 * nothing when stderr is not a terminal. An empty string clears the line. */
void log_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
