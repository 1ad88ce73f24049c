/*
 * clock.c - the calendar (COFFER_NOW or the real clock), RFC 3339 times and
 * durations.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

/* Set once by clock_init, before any thread starts; read-only after. */
static bool clock_fixed;
static time_t clock_fixed_t;
static long clock_fixed_usec;

bool clock_init(Error *err)
{
    const char *s = getenv("COFFER_NOW");

    clock_fixed = false;
    if (s == NULL || s[0] == '\0')
        return true;
    if (!clock_parse(s, &clock_fixed_t, &clock_fixed_usec))
    {
        error_set(err, ERR_USAGE, "COFFER_NOW=\"%s\" is not an RFC 3339 time", s);
        return error_hint(err, "write it as 2027-03-01T02:00:00Z, or unset it to use the clock");
    }
    clock_fixed = true;
    return true;
}

time_t clock_now(void)
{
    return clock_fixed ? clock_fixed_t : time(NULL);
}

void clock_now_tv(struct timeval *tv)
{
    if (clock_fixed)
    {
        tv->tv_sec = clock_fixed_t;
        tv->tv_usec = clock_fixed_usec;
        return;
    }
    gettimeofday(tv, NULL);
}

/* Reads exactly n digits into *out. */
static bool clock_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++)
    {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool clock_expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

bool clock_parse(const char *s, time_t *t, long *usec)
{
    const char *p = s;
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, se = 0, off = 0;
    long frac = 0;
    time_t v;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL || !clock_digits(&p, 4, &y) || !clock_expect(&p, '-') ||
        !clock_digits(&p, 2, &mo) || !clock_expect(&p, '-') || !clock_digits(&p, 2, &d))
        return false;
    if (*p == 'T' || *p == 't' || *p == ' ')
    {
        p++;
        if (!clock_digits(&p, 2, &h) || !clock_expect(&p, ':') || !clock_digits(&p, 2, &mi) ||
            !clock_expect(&p, ':') || !clock_digits(&p, 2, &se))
            return false;
        if (*p == '.')
        {
            long scale = 100000;

            p++;
            if (!isdigit((unsigned char)*p))
                return false;
            for (; isdigit((unsigned char)*p); p++, scale /= 10)
                frac += scale > 0 ? (*p - '0') * scale : 0;
        }
        if (*p == 'Z' || *p == 'z')
            p++;
        else if (*p == '+' || *p == '-')
        {
            int sign = *p == '-' ? -1 : 1, oh, om;

            p++;
            if (!clock_digits(&p, 2, &oh) || !clock_expect(&p, ':') ||
                !clock_digits(&p, 2, &om) || oh > 23 || om > 59)
                return false;
            off = sign * (oh * 3600 + om * 60);
        }
        else
            return false;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    v = timegm(&tm);
    if (v == (time_t)-1 || tm.tm_mday != d) /* 2026-02-30 normalises to March */
        return false;
    *t = v - off;
    if (usec != NULL)
        *usec = frac;
    return true;
}

void clock_format(time_t t, char out[32])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool clock_parse_duration(const char *s, int64_t *seconds)
{
    const char *p = s;
    int64_t total = 0;

    if (s == NULL || *s == '\0')
        return false;
    while (*p != '\0')
    {
        int64_t n = 0, unit;

        if (!isdigit((unsigned char)*p))
            return false;
        for (; isdigit((unsigned char)*p); p++)
        {
            n = n * 10 + (*p - '0');
            if (n > 1000000000)
                return false;
        }
        switch (*p++)
        {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        case 'y': unit = 365 * 86400; break;
        default: return false;
        }
        if (total > INT64_MAX - n * unit)
            return false;
        total += n * unit;
    }
    if (total <= 0)
        return false;
    *seconds = total;
    return true;
}

void clock_format_duration(int64_t seconds, char *out, size_t len)
{
    static const struct
    {
        char unit;
        int64_t secs;
    } units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && n < len; i++)
        if (seconds >= units[i].secs)
        {
            n += (size_t)snprintf(out + n, len - n, "%lld%c",
                                  (long long)(seconds / units[i].secs), units[i].unit);
            seconds %= units[i].secs;
        }
    if (out[0] == '\0')
        snprintf(out, len, "0s");
}
