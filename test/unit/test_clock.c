/*
 * test_clock.c - unit tests for the calendar: RFC 3339 times, durations,
 * and COFFER_NOW. Expected epoch values were computed with date -u.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tap.h"

#define T_2026_12_01_0200 1796090400 /* 2026-12-01T02:00:00Z */
#define T_2026_12_01_0000 1796083200 /* 2026-12-01T00:00:00Z */
#define T_2027_03_01_0200 1803866400 /* 2027-03-01T02:00:00Z */

/* Asserts that s parses to want (and to want_usec). */
static void parses(const char *s, time_t want, long want_usec)
{
    time_t t = 0;
    long usec = -1;
    char name[160];
    bool ok_;

    ok_ = clock_parse(s, &t, &usec);
    snprintf(name, sizeof(name), "clock_parse \"%s\"", s);
    ok(ok_, name);
    snprintf(name, sizeof(name), "clock_parse \"%s\": seconds", s);
    is_int(t, want, name);
    snprintf(name, sizeof(name), "clock_parse \"%s\": microseconds", s);
    is_int(usec, want_usec, name);
}

static void parse_rejects(const char *s)
{
    time_t t = 0;
    long usec = 0;
    char name[160];

    snprintf(name, sizeof(name), "clock_parse rejects \"%s\"", s ? s : "(null)");
    ok(!clock_parse(s, &t, &usec), name);
}

static void duration(const char *s, int64_t want)
{
    int64_t got = -1;
    char name[160];

    snprintf(name, sizeof(name), "clock_parse_duration \"%s\"", s);
    ok(clock_parse_duration(s, &got), name);
    is_int(got, want, name);
}

static void duration_rejects(const char *s)
{
    int64_t got = 12345;
    char name[160];

    snprintf(name, sizeof(name), "clock_parse_duration rejects \"%s\"", s ? s : "(null)");
    ok(!clock_parse_duration(s, &got), name);
}

static void format_duration(int64_t seconds, const char *want)
{
    char out[24];
    char name[160];
    int64_t back = -1;

    clock_format_duration(seconds, out, sizeof(out));
    snprintf(name, sizeof(name), "clock_format_duration %lld", (long long)seconds);
    is_str(out, want, name);
    if (seconds > 0)
    {
        snprintf(name, sizeof(name), "clock_format_duration %lld parses back", (long long)seconds);
        ok(clock_parse_duration(out, &back) && back == seconds, name);
    }
}

static void test_parse(void)
{
    time_t t = 0;

    parses("2026-12-01T02:00:00Z", T_2026_12_01_0200, 0);
    parses("1970-01-01T00:00:00Z", 0, 0);
    parses("2026-12-01T02:00:00.5Z", T_2026_12_01_0200, 500000);
    parses("2026-12-01T02:00:00.123456Z", T_2026_12_01_0200, 123456);
    parses("2026-12-01T02:00:00.000001Z", T_2026_12_01_0200, 1);
    parses("2026-12-01T02:00:00.123456789Z", T_2026_12_01_0200, 123456);
    /* an offset: the local time minus the offset is UTC */
    parses("2026-12-01T04:00:00+02:00", T_2026_12_01_0200, 0);
    parses("2026-11-30T20:30:00-05:30", T_2026_12_01_0200, 0);
    parses("2026-12-01T02:00:00+00:00", T_2026_12_01_0200, 0);
    parses("2026-12-01T03:00:00.25+01:00", T_2026_12_01_0200, 250000);
    /* a bare date is its midnight UTC */
    parses("2026-12-01", T_2026_12_01_0000, 0);
    parses("2027-03-01T02:00:00Z", T_2027_03_01_0200, 0);
    parses("2028-02-29", 1835395200, 0);           /* a leap day */
    parses("2026-12-31T23:59:59Z", 1798761599, 0); /* the last second of a year */

    ok(clock_parse("2026-12-01T02:00:00Z", &t, NULL) && t == T_2026_12_01_0200,
       "clock_parse with usec NULL");

    parse_rejects(NULL);
    parse_rejects("");
    parse_rejects("garbage");
    parse_rejects("yesterday");
    parse_rejects("2026-02-30");
    parse_rejects("2026-02-30T00:00:00Z");
    parse_rejects("2027-02-29");
    parse_rejects("2026-04-31T12:00:00Z");
    parse_rejects("2026-12-01T02:00:00"); /* no zone */
    parse_rejects("2026-13-01");
    parse_rejects("2026-00-10");
    parse_rejects("2026-12-00");
    parse_rejects("2026-12-32");
    parse_rejects("2026-12-01T24:00:00Z");
    parse_rejects("2026-12-01T02:60:00Z");
    parse_rejects("2026-12-01T02:00Z");
    parse_rejects("2026-12-01T");
    parse_rejects("2026-12-01T02:00:00.Z");
    parse_rejects("2026-12-01T02:00:00+0200");
    parse_rejects("2026-12-01T02:00:00+02");
    parse_rejects("2026-12-01T02:00:00ZZ");
    parse_rejects("2026-12-01T02:00:00Z ");
    parse_rejects(" 2026-12-01T02:00:00Z");
    parse_rejects("26-12-01");
    parse_rejects("2026/12/01");
    parse_rejects("2026-1-01");
    parse_rejects("1796090400");
}

static void test_format(void)
{
    char out[32];
    time_t t = 0;
    static const char *const round[] = {"1970-01-01T00:00:00Z", "2026-12-01T02:00:00Z",
                                        "2028-02-29T23:59:59Z", "2038-01-19T03:14:08Z"};

    clock_format(0, out);
    is_str(out, "1970-01-01T00:00:00Z", "clock_format epoch");
    clock_format(T_2027_03_01_0200, out);
    is_str(out, "2027-03-01T02:00:00Z", "clock_format 2027-03-01T02:00:00Z");
    clock_format(T_2026_12_01_0200 + 3599, out);
    is_str(out, "2026-12-01T02:59:59Z", "clock_format seconds");
    for (size_t i = 0; i < sizeof(round) / sizeof(round[0]); i++)
    {
        char name[96];

        snprintf(name, sizeof(name), "clock_format round trip %s", round[i]);
        ok(clock_parse(round[i], &t, NULL), name);
        clock_format(t, out);
        is_str(out, round[i], name);
    }
    clock_parse("2026-12-01T04:00:00+02:00", &t, NULL);
    clock_format(t, out);
    is_str(out, "2026-12-01T02:00:00Z", "clock_format writes an offset time in UTC");
}

static void test_duration(void)
{
    duration("90d", 90 * 86400);
    duration("12h", 12 * 3600);
    duration("1d12h", 86400 + 12 * 3600);
    duration("5m", 300);
    duration("45s", 45);
    duration("2w", 14 * 86400);
    duration("1y", 365 * 86400);
    duration("730d", 730 * 86400);
    duration("1h30m", 5400);
    duration("1w1d1h1m1s", 7 * 86400 + 86400 + 3600 + 60 + 1);
    duration("1d0h", 86400);
    duration("007d", 7 * 86400);

    duration_rejects(NULL);
    duration_rejects("");
    duration_rejects("0d");
    duration_rejects("0s0m");
    duration_rejects("10");
    duration_rejects("1d12");
    duration_rejects("d");
    duration_rejects("5x");
    duration_rejects("5D");
    duration_rejects("-1d");
    duration_rejects("+1d");
    duration_rejects("1.5d");
    duration_rejects("1d 12h");
    duration_rejects(" 1d");
    duration_rejects("1d ");
    duration_rejects("soon");
    duration_rejects("99999999999d");

    format_duration(90 * 86400, "90d");
    format_duration(5400, "1h30m");
    format_duration(45, "45s");
    format_duration(86400 + 12 * 3600, "1d12h");
    format_duration(300, "5m");
    format_duration(3600, "1h");
    format_duration(365 * 86400, "365d"); /* no y or w on the way out */
    format_duration(14 * 86400, "14d");
    format_duration(86401, "1d1s");
    format_duration(90061, "1d1h1m1s");
    format_duration(0, "0s");
}

static void test_now(void)
{
    Error err;
    struct timeval tv;
    time_t before, got, after;

    unsetenv("COFFER_NOW");
    error_clear(&err);
    ok(clock_init(&err), "clock_init without COFFER_NOW");
    before = time(NULL);
    got = clock_now();
    after = time(NULL);
    ok(got >= before && got <= after, "clock_now is the real clock without COFFER_NOW");

    setenv("COFFER_NOW", "2027-03-01T02:00:00Z", 1);
    error_clear(&err);
    ok(clock_init(&err), "clock_init with COFFER_NOW");
    is_int(clock_now(), T_2027_03_01_0200, "clock_now follows COFFER_NOW");
    clock_now_tv(&tv);
    ok(tv.tv_sec == T_2027_03_01_0200 && tv.tv_usec == 0, "clock_now_tv follows COFFER_NOW");

    setenv("COFFER_NOW", "2026-12-01T04:00:00.25+02:00", 1);
    ok(clock_init(&err), "clock_init with a fraction and an offset");
    is_int(clock_now(), T_2026_12_01_0200, "clock_now with an offset");
    clock_now_tv(&tv);
    ok(tv.tv_sec == T_2026_12_01_0200 && tv.tv_usec == 250000,
       "clock_now_tv carries COFFER_NOW's fraction");

    setenv("COFFER_NOW", "next tuesday", 1);
    error_clear(&err);
    ok(!clock_init(&err), "clock_init rejects a bad COFFER_NOW");
    is_int(err.code, ERR_USAGE, "a bad COFFER_NOW is a usage error");
    like(err.message, "COFFER_NOW", "the message names COFFER_NOW");
    like(err.message, "next tuesday", "the message quotes the value");
    ok(err.hint[0] != '\0', "a bad COFFER_NOW has a hint");

    setenv("COFFER_NOW", "2026-12-01T02:00:00", 1);
    error_clear(&err);
    ok(!clock_init(&err) && err.code == ERR_USAGE, "COFFER_NOW without a zone is rejected");

    setenv("COFFER_NOW", "", 1);
    error_clear(&err);
    ok(clock_init(&err), "an empty COFFER_NOW is the same as unset");
    before = time(NULL);
    got = clock_now();
    after = time(NULL);
    ok(got >= before && got <= after, "an empty COFFER_NOW leaves the real clock");

    unsetenv("COFFER_NOW");
    ok(clock_init(&err), "clock_init after unsetting COFFER_NOW");
    before = time(NULL);
    got = clock_now();
    after = time(NULL);
    ok(got >= before && got <= after, "unsetting COFFER_NOW returns to the real clock");
}

int main(void)
{
    test_parse();
    test_format();
    test_duration();
    test_now();
    return tap_done();
}
