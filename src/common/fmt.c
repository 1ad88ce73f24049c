/*
 * fmt.c - human-readable sizes, durations and terminal-safe names.
 */
#include "common/clock.h"
#include "common/fmt.h"

#include <stdio.h>
#include <sys/time.h>
#include <time.h>

void fmt_bytes(uint64_t bytes, char *out, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;

    while (v >= 1024.0 && u < 5)
    {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, len, "%.1f %s", v, units[u]);
}

void fmt_seconds(double seconds, char *out, size_t len)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds < 60)
        snprintf(out, len, "%.1fs", seconds);
    else if (seconds < 3600)
        snprintf(out, len, "%dm%02ds", (int)seconds / 60, (int)seconds % 60);
    else
        snprintf(out, len, "%dh%02dm", (int)seconds / 3600, ((int)seconds % 3600) / 60);
}

void fmt_printable(const char *s, char *out, size_t len)
{
    size_t n = 0;

    if (len == 0)
        return;
    for (; *s != '\0' && n + 1 < len; s++)
    {
        unsigned char c = (unsigned char)*s;

        out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[n] = '\0';
}

double fmt_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fmt_utc_now(char out[40])
{
    struct timeval tv;
    struct tm tm;
    char base[32];

    clock_now_tv(&tv);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%06ldZ", base, (long)tv.tv_usec);
}
