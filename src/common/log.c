/*
 * log.c - stderr logger with levels and a terminal status line.
 *
 * A mutex serialises writers so that worker threads never interleave half
 * lines; a pending status line is cleared before any log line is printed.
 */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static LogLevel log_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static bool log_status_shown = false;

void log_set_level(LogLevel level)
{
    log_level = level;
}

LogLevel log_get_level(void)
{
    return log_level;
}

bool log_is_tty(void)
{
    return isatty(STDERR_FILENO) == 1;
}

static void log_clear_status_locked(void)
{
    if (log_status_shown)
    {
        fputs("\r\033[K", stderr);
        log_status_shown = false;
    }
}

static void log_vwrite(LogLevel level, const char *prefix, const char *fmt, va_list ap)
{
    if (level > log_level)
        return;
    pthread_mutex_lock(&log_lock);
    log_clear_status_locked();
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

#define LOG_DEFINE(fn, level, label)                                                               \
    void fn(const char *fmt, ...)                                                                  \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_vwrite(level, label, fmt, ap);                                                         \
        va_end(ap);                                                                                \
    }

LOG_DEFINE(log_error, LOG_ERROR, "coffer: error: ")
LOG_DEFINE(log_warning, LOG_WARNING, "coffer: warning: ")
LOG_DEFINE(log_info, LOG_INFO, "coffer: info: ")
LOG_DEFINE(log_debug, LOG_DEBUG, "coffer: debug: ")
/* the lines that follow an error, printed as error_print prints them */
LOG_DEFINE(log_error_detail, LOG_ERROR, "DETAIL: ")
LOG_DEFINE(log_error_hint, LOG_ERROR, "HINT: ")

void log_status(const char *fmt, ...)
{
    va_list ap;

    if (!log_is_tty() || log_level < LOG_INFO)
        return;
    pthread_mutex_lock(&log_lock);
    fputs("\r\033[K", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    log_status_shown = fmt[0] != '\0';
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
