/*
 * test_policy.c - unit tests for retention (policy_keep against a reference
 * written here from restic's forget rules, over random snapshot sets and
 * hand-picked calendars) and for schedules (slot, next, due).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "policy/policy.h"
#include "tap.h"

#define HOUR 3600
#define DAY 86400

/* Seconds since the epoch of an RFC 3339 time; aborts the test on a typo. */
static time_t at(const char *s)
{
    time_t t;

    if (!clock_parse(s, &t, NULL))
    {
        printf("Bail out! bad time in the test: %s\n", s);
        exit(2);
    }
    return t;
}

/* ---- the reference ------------------------------------------------------
 *
 * Written from the rules as stated, not from policy.c: for a period rule
 * of count N, find every distinct period that holds a snapshot, take the N
 * newest periods, and keep the newest snapshot in each of them. */

typedef long (*RefPeriod)(time_t t);

static long ref_hour(time_t t)
{
    return (long)(t / HOUR);
}

static long ref_day(time_t t)
{
    return (long)(t / DAY);
}

/* 1970-01-01 was a Thursday: day + 3 counts from Monday 1969-12-29, so
 * whole sevens of it are ISO weeks (Monday to Sunday) without naming them. */
static long ref_week(time_t t)
{
    return (long)((t / DAY + 3) / 7);
}

static long ref_month(time_t t)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    return (tm.tm_year + 1900L) * 12 + tm.tm_mon;
}

static long ref_year(time_t t)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    return tm.tm_year + 1900L;
}

static int ref_cmp_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return x < y ? 1 : x > y ? -1 : 0;
}

static void ref_periods(const PolicySnap *s, size_t n, int count, RefPeriod period, unsigned bit,
                        unsigned *want)
{
    long *p = malloc(sizeof(long) * (n + 1));
    size_t np = 0;

    for (size_t i = 0; i < n; i++)
    {
        long v = period(s[i].time);
        size_t j = 0;

        while (j < np && p[j] != v)
            j++;
        if (j == np)
            p[np++] = v;
    }
    qsort(p, np, sizeof(long), ref_cmp_desc);
    for (size_t j = 0; j < np && j < (size_t)count; j++)
    {
        size_t best = n;

        /* the newest of the period; of equal times, the one listed first */
        for (size_t i = 0; i < n; i++)
            if (period(s[i].time) == p[j] && (best == n || s[i].time > s[best].time))
                best = i;
        want[best] |= bit;
    }
    free(p);
}

static void ref_keep(const ConfigKeep *keep, const PolicySnap *s, size_t n, time_t anchor,
                     time_t now, unsigned *want)
{
    for (size_t i = 0; i < n; i++)
    {
        size_t newer = 0;

        want[i] = keep == NULL ? POLICY_KEPT_ALL : 0;
        if (s[i].pin_until > now)
            want[i] |= POLICY_KEPT_PINNED;
        if (keep == NULL)
            continue;
        /* last N: fewer than N snapshots come before it */
        for (size_t j = 0; j < n; j++)
            if (s[j].time > s[i].time || (s[j].time == s[i].time && j < i))
                newer++;
        if (newer < (size_t)keep->last)
            want[i] |= POLICY_KEPT_LAST;
        if (keep->within > 0 && s[i].time >= anchor - keep->within)
            want[i] |= POLICY_KEPT_WITHIN;
    }
    if (keep == NULL)
        return;
    ref_periods(s, n, keep->hourly, ref_hour, POLICY_KEPT_HOURLY, want);
    ref_periods(s, n, keep->daily, ref_day, POLICY_KEPT_DAILY, want);
    ref_periods(s, n, keep->weekly, ref_week, POLICY_KEPT_WEEKLY, want);
    ref_periods(s, n, keep->monthly, ref_month, POLICY_KEPT_MONTHLY, want);
    ref_periods(s, n, keep->yearly, ref_year, POLICY_KEPT_YEARLY, want);
}

/* ---- random snapshot sets -----------------------------------------------*/

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static long rng_below(long n)
{
    return (long)(rng() % (uint64_t)n);
}

static int cmp_time_desc(const void *a, const void *b)
{
    time_t x = ((const PolicySnap *)a)->time, y = ((const PolicySnap *)b)->time;

    return x < y ? 1 : x > y ? -1 : 0;
}

static void test_random(void)
{
    enum
    {
        TRIALS = 500,
        MAX_SNAPS = 300
    };
    static const long spans[] = {3 * 365 * DAY, 3 * 365 * DAY, 90 * DAY, 3 * DAY};
    static const int64_t withins[] = {HOUR, DAY, 30 * DAY, 365 * DAY};
    PolicySnap s[MAX_SNAPS];
    unsigned want[MAX_SNAPS];
    unsigned seen = 0;
    int bad_trials = 0, bad_counts = 0, nulls = 0;
    time_t end = at("2027-03-01T02:00:00Z");

    for (int trial = 0; trial < TRIALS; trial++)
    {
        ConfigKeep keep;
        const ConfigKeep *kp = &keep;
        size_t n = (size_t)rng_below(MAX_SNAPS + 1), want_n = 0, got_n;
        long span = spans[rng_below(4)];
        time_t newest, anchor, now;
        int bad = 0;

        memset(&keep, 0, sizeof(keep));
        do
        {
            keep.last = rng_below(3) == 0 ? (int)rng_below(12) : 0;
            keep.hourly = rng_below(3) == 0 ? 1 + (int)rng_below(50) : 0;
            keep.daily = rng_below(2) == 0 ? 1 + (int)rng_below(60) : 0;
            keep.weekly = rng_below(2) == 0 ? 1 + (int)rng_below(30) : 0;
            keep.monthly = rng_below(2) == 0 ? 1 + (int)rng_below(24) : 0;
            keep.yearly = rng_below(3) == 0 ? 1 + (int)rng_below(5) : 0;
            keep.within = rng_below(3) == 0 ? withins[rng_below(4)] : 0;
        } while (keep.last + keep.hourly + keep.daily + keep.weekly + keep.monthly + keep.yearly ==
                     0 &&
                 keep.within == 0);
        if (rng_below(20) == 0)
        {
            kp = NULL;
            nulls++;
        }

        for (size_t i = 0; i < n; i++)
        {
            /* now and then a snapshot in the same second as the one before */
            s[i].time = i > 0 && rng_below(25) == 0 ? s[i - 1].time : end - rng_below(span);
            s[i].pin_until = 0;
            s[i].kept = 0xdead;
        }
        qsort(s, n, sizeof(PolicySnap), cmp_time_desc);
        newest = n > 0 ? s[0].time : end;
        /* a live owner's anchor is its newest snapshot; a deleted one's, when it was last seen */
        anchor = rng_below(3) == 0 ? newest + rng_below(60 * DAY) : newest;
        /* and now and then a snapshot exactly within before the anchor */
        if (n > 0 && keep.within > 0 && rng_below(4) == 0)
            anchor = s[rng_below((long)n)].time + keep.within;
        now = newest + rng_below(30 * DAY);
        for (size_t i = 0; i < n; i++)
            if (rng_below(15) == 0)
                s[i].pin_until = rng_below(5) == 0 ? now : now - 7 * DAY + rng_below(14 * DAY);

        ref_keep(kp, s, n, anchor, now, want);
        got_n = policy_keep(kp, s, n, anchor, now);
        for (size_t i = 0; i < n; i++)
        {
            seen |= want[i];
            if (want[i] != 0)
                want_n++;
            if (s[i].kept != want[i])
            {
                char t[32];

                if (bad++ < 3 && bad_trials < 3)
                {
                    clock_format(s[i].time, t);
                    printf("# trial %d: snapshot %zu of %zu (%s): kept 0x%x, the reference 0x%x\n",
                           trial, i, n, t, s[i].kept, want[i]);
                }
            }
        }
        if (bad > 0)
            bad_trials++;
        if (got_n != want_n)
            bad_counts++;
    }
    is_int(bad_trials, 0,
           "500 random trials: each snapshot kept, or not, for the reference's reasons");
    is_int(bad_counts, 0, "500 random trials: policy_keep returns the number kept");
    /* the trials must have exercised every rule, else they prove little */
    is_int(seen & 0x1ff, 0x1ff, "the random trials hit every reason");
    ok(nulls > 5, "the random trials include classes without keep:");
}

/* ---- hand-written calendars ---------------------------------------------*/

/* days daily snapshots at 02:00 UTC, the newest on the day of newest. */
static PolicySnap *daily_snaps(time_t newest, size_t days)
{
    PolicySnap *s = calloc(days, sizeof(PolicySnap));

    for (size_t i = 0; i < days; i++)
        s[i].time = newest - (time_t)i * DAY;
    return s;
}

/* The reasons of the snapshot at time t, or -1 when there is none. */
static long reasons_at(const PolicySnap *s, size_t n, time_t t)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].time == t)
            return s[i].kept;
    return -1;
}

static void test_gfs(void)
{
    /* seed 002: 7 daily, 4 weekly, 12 monthly; a year and a month of nightly backups */
    static const struct
    {
        const char *day;
        unsigned why;
    } kept[] = {
        {"2027-03-01", POLICY_KEPT_DAILY | POLICY_KEPT_WEEKLY | POLICY_KEPT_MONTHLY}, /* Monday */
        {"2027-02-28", POLICY_KEPT_DAILY | POLICY_KEPT_WEEKLY | POLICY_KEPT_MONTHLY}, /* Sunday */
        {"2027-02-27", POLICY_KEPT_DAILY},
        {"2027-02-26", POLICY_KEPT_DAILY},
        {"2027-02-25", POLICY_KEPT_DAILY},
        {"2027-02-24", POLICY_KEPT_DAILY},
        {"2027-02-23", POLICY_KEPT_DAILY},
        {"2027-02-21", POLICY_KEPT_WEEKLY},
        {"2027-02-14", POLICY_KEPT_WEEKLY},
        {"2027-01-31", POLICY_KEPT_MONTHLY},
        {"2026-12-31", POLICY_KEPT_MONTHLY},
        {"2026-11-30", POLICY_KEPT_MONTHLY},
        {"2026-10-31", POLICY_KEPT_MONTHLY},
        {"2026-09-30", POLICY_KEPT_MONTHLY},
        {"2026-08-31", POLICY_KEPT_MONTHLY},
        {"2026-07-31", POLICY_KEPT_MONTHLY},
        {"2026-06-30", POLICY_KEPT_MONTHLY},
        {"2026-05-31", POLICY_KEPT_MONTHLY},
        {"2026-04-30", POLICY_KEPT_MONTHLY},
    };
    enum
    {
        DAYS = 400,
        N_KEPT = sizeof(kept) / sizeof(kept[0])
    };
    ConfigKeep keep = {.daily = 7, .weekly = 4, .monthly = 12};
    time_t newest = at("2027-03-01T02:00:00Z");
    PolicySnap *s = daily_snaps(newest, DAYS);
    size_t got = policy_keep(&keep, s, DAYS, newest, newest);
    size_t found = 0, extra = 0;

    is_int(got, N_KEPT, "GFS 7/4/12 over 400 nightly snapshots keeps 19");
    for (size_t k = 0; k < N_KEPT; k++)
    {
        char name[96], ts[32];

        snprintf(ts, sizeof(ts), "%sT02:00:00Z", kept[k].day);
        snprintf(name, sizeof(name), "GFS keeps %s for its reasons", kept[k].day);
        is_int(reasons_at(s, DAYS, at(ts)), kept[k].why, name);
    }
    for (size_t i = 0; i < DAYS; i++)
    {
        bool listed = false;

        for (size_t k = 0; k < N_KEPT; k++)
        {
            char ts[32];

            snprintf(ts, sizeof(ts), "%sT02:00:00Z", kept[k].day);
            listed = listed || s[i].time == at(ts);
        }
        if (listed)
            found++;
        else if (s[i].kept != 0)
            extra++;
    }
    is_int(found, N_KEPT, "every listed day is among the snapshots");
    is_int(extra, 0, "no other day is kept");
    is_int(reasons_at(s, DAYS, at("2027-02-22T02:00:00Z")), 0, "GFS drops 2027-02-22");
    is_int(reasons_at(s, DAYS, at("2026-03-31T02:00:00Z")), 0, "GFS drops the 13th month");
    is_int(reasons_at(s, DAYS, at("2026-01-26T02:00:00Z")), 0, "GFS drops the oldest snapshot");
    free(s);
}

static void test_iso_weeks(void)
{
    /* 2026 has 53 ISO weeks: Thursday 2026-12-31 and Friday 2027-01-01 are
     * both 2026-W53; Monday 2027-01-04 opens 2027-W01 */
    PolicySnap s[] = {
        {at("2027-01-04T10:00:00Z"), 0, 0}, /* 2027-W01 */
        {at("2027-01-01T10:00:00Z"), 0, 0}, /* 2026-W53 */
        {at("2026-12-31T10:00:00Z"), 0, 0}, /* 2026-W53 */
        {at("2026-12-28T00:00:00Z"), 0, 0}, /* 2026-W53, its Monday */
        {at("2026-12-27T23:59:59Z"), 0, 0}, /* 2026-W52, its Sunday */
        {at("2026-12-21T00:00:00Z"), 0, 0}, /* 2026-W52 */
    };
    ConfigKeep weekly = {.weekly = 3}, yearly = {.yearly = 2};
    /* 2024-12-30, a Monday, is already 2025-W01 */
    PolicySnap t[] = {
        {at("2025-01-02T00:00:00Z"), 0, 0},
        {at("2024-12-30T00:00:00Z"), 0, 0},
        {at("2024-12-29T12:00:00Z"), 0, 0},
    };
    ConfigKeep two = {.weekly = 2};

    is_int(policy_keep(&weekly, s, 6, s[0].time, s[0].time), 3, "weekly 3 across New Year");
    ok(s[0].kept == POLICY_KEPT_WEEKLY && s[1].kept == POLICY_KEPT_WEEKLY && s[2].kept == 0 &&
           s[3].kept == 0 && s[4].kept == POLICY_KEPT_WEEKLY && s[5].kept == 0,
       "2027-01-04 (W01), 2027-01-01 (2026-W53), 2026-12-27 (W52) stay");

    /* years are calendar years, not ISO years */
    is_int(policy_keep(&yearly, s, 6, s[0].time, s[0].time), 2, "yearly 2 across New Year");
    ok(s[0].kept == POLICY_KEPT_YEARLY && s[1].kept == 0 && s[2].kept == POLICY_KEPT_YEARLY,
       "yearly keeps 2027-01-04 and 2026-12-31, not 2027-01-01");

    is_int(policy_keep(&two, t, 3, t[0].time, t[0].time), 2, "weekly 2 across 2024/2025");
    ok(t[0].kept == POLICY_KEPT_WEEKLY && t[1].kept == 0 && t[2].kept == POLICY_KEPT_WEEKLY,
       "2024-12-30 shares 2025-W01 with 2025-01-02");
}

static void test_rules(void)
{
    time_t newest = at("2027-03-01T02:00:00Z");
    PolicySnap *s = daily_snaps(newest, 10);
    ConfigKeep last3 = {.last = 3}, last20 = {.last = 20}, within = {.within = 2 * DAY};
    ConfigKeep hourly = {.hourly = 2};
    PolicySnap h[] = {
        {at("2027-03-01T02:59:59Z"), 0, 0},
        {at("2027-03-01T02:00:00Z"), 0, 0},
        {at("2027-03-01T01:59:59Z"), 0, 0},
        {at("2027-03-01T00:30:00Z"), 0, 0},
    };
    size_t all = 0;

    /* no keep: rules: everything stays, whatever it held before */
    for (size_t i = 0; i < 10; i++)
        s[i].kept = POLICY_KEPT_DAILY;
    is_int(policy_keep(NULL, s, 10, newest, newest), 10, "keep NULL keeps all");
    for (size_t i = 0; i < 10; i++)
        all += s[i].kept == POLICY_KEPT_ALL;
    is_int(all, 10, "keep NULL: every reason is POLICY_KEPT_ALL");
    s[9].pin_until = newest + DAY;
    policy_keep(NULL, s, 10, newest, newest);
    is_int(s[9].kept, POLICY_KEPT_ALL | POLICY_KEPT_PINNED, "keep NULL and a pin: both reasons");
    s[9].pin_until = 0;

    is_int(policy_keep(&last3, s, 10, newest, newest), 3, "last 3 keeps 3");
    ok(s[0].kept == POLICY_KEPT_LAST && s[2].kept == POLICY_KEPT_LAST && s[3].kept == 0,
       "last 3 keeps the three newest");
    is_int(policy_keep(&last20, s, 10, newest, newest), 10, "last 20 of 10 keeps all");

    /* within: no older than 2 days before the anchor, the bound included */
    is_int(policy_keep(&within, s, 10, newest, newest), 3, "within 2d keeps 3 nightly snapshots");
    ok(s[2].kept == POLICY_KEPT_WITHIN && s[3].kept == 0, "within 2d: exactly 2 days old stays");
    is_int(policy_keep(&within, s, 10, newest + 1, newest), 2, "within: one second later, 2");
    /* a deleted tenant's anchor is when it was last seen, not now */
    is_int(policy_keep(&within, s, 10, newest - 5 * DAY, newest + 400 * DAY), 8,
           "within counts from the anchor, not from now");

    is_int(policy_keep(&hourly, h, 4, h[0].time, h[0].time), 2, "hourly 2");
    ok(h[0].kept == POLICY_KEPT_HOURLY && h[1].kept == 0 && h[2].kept == POLICY_KEPT_HOURLY &&
           h[3].kept == 0,
       "hourly keeps the newest of 02:xx and of 01:xx");

    is_int(policy_keep(&last3, s, 0, newest, newest), 0, "no snapshots, none kept");
    free(s);
}

static void test_pins(void)
{
    time_t newest = at("2027-03-01T02:00:00Z");
    PolicySnap *s = daily_snaps(newest, 30);
    ConfigKeep keep = {.daily = 7};
    time_t until = at("2027-06-01T00:00:00Z");

    s[20].pin_until = until; /* 2027-02-09: outside daily 7 */
    is_int(policy_keep(&keep, s, 30, newest, newest), 8, "daily 7 and a pin keep 8");
    is_int(s[20].kept, POLICY_KEPT_PINNED, "the pinned snapshot stays, only for its pin");
    is_int(policy_keep(&keep, s, 30, newest, until - 1), 8, "the pin holds until its end");
    is_int(policy_keep(&keep, s, 30, newest, until), 7, "the pin has ended at its end");
    is_int(s[20].kept, 0, "an ended pin keeps nothing");
    s[0].pin_until = until;
    policy_keep(&keep, s, 30, newest, newest);
    is_int(s[0].kept, POLICY_KEPT_DAILY | POLICY_KEPT_PINNED, "pinned and daily: both reasons");
    free(s);
}

static void test_kept_str(void)
{
    char out[256], small[8];

    policy_kept_str(0, out, sizeof(out));
    is_str(out, "-", "kept_str of nothing");
    policy_kept_str(POLICY_KEPT_DAILY | POLICY_KEPT_WEEKLY, out, sizeof(out));
    is_str(out, "daily, weekly", "kept_str daily and weekly");
    policy_kept_str(POLICY_KEPT_PINNED, out, sizeof(out));
    is_str(out, "pinned", "kept_str pinned");
    policy_kept_str(POLICY_KEPT_ALL, out, sizeof(out));
    is_str(out, "no keep rules", "kept_str all");
    policy_kept_str(POLICY_KEPT_NEWEST, out, sizeof(out));
    is_str(out, "its last snapshot", "kept_str newest");
    policy_kept_str(POLICY_KEPT_WITHIN | POLICY_KEPT_LAST | POLICY_KEPT_PINNED, out, sizeof(out));
    is_str(out, "last, within, pinned", "kept_str in a fixed order");
    policy_kept_str(0x3ff, out, sizeof(out));
    is_str(out,
           "last, hourly, daily, weekly, monthly, yearly, within, pinned, no keep rules, "
           "its last snapshot",
           "kept_str of every reason");
    policy_kept_str(0x3ff, small, sizeof(small));
    ok(strlen(small) < sizeof(small) && strncmp(out, small, strlen(small)) == 0,
       "kept_str cuts to a short buffer");
}

/* ---- schedules ----------------------------------------------------------*/

static void test_schedule(void)
{
    ConfigClass hourly = {.name = "master", .every = HOUR, .at = -1};
    ConfigClass nightly = {.name = "active", .every = DAY, .at = 2 * HOUR};
    ConfigClass weekly = {.name = "demo", .every = 7 * DAY, .at = -1};
    ConfigClass weekly2 = {.name = "demo", .every = 7 * DAY, .at = 2 * HOUR};
    ConfigClass never = {.name = "deleted", .every = 0, .at = -1};
    time_t now = at("2027-03-01T02:37:12Z");

    is_int(policy_slot(&hourly, now), at("2027-03-01T02:00:00Z"),
           "every 1h: the start of the hour");
    is_int(policy_next(&hourly, now), at("2027-03-01T03:00:00Z"), "every 1h: next hour");
    is_int(policy_slot(&hourly, at("2027-03-01T02:00:00Z")), at("2027-03-01T02:00:00Z"),
           "every 1h: on the hour is its own slot");
    is_int(policy_slot(&hourly, at("2027-03-01T01:59:59Z")), at("2027-03-01T01:00:00Z"),
           "every 1h: a second before the hour");

    is_int(policy_slot(&nightly, at("2027-03-01T01:59:00Z")), at("2027-02-28T02:00:00Z"),
           "every 1d at 02:00: at 01:59 the slot is yesterday's");
    is_int(policy_slot(&nightly, at("2027-03-01T02:00:00Z")), at("2027-03-01T02:00:00Z"),
           "every 1d at 02:00: at 02:00 the slot is today's");
    is_int(policy_slot(&nightly, at("2027-03-01T23:59:59Z")), at("2027-03-01T02:00:00Z"),
           "every 1d at 02:00: late in the day, today's");
    is_int(policy_next(&nightly, at("2027-03-01T01:59:00Z")), at("2027-03-01T02:00:00Z"),
           "every 1d at 02:00: next at 01:59 is today 02:00");
    is_int(policy_next(&nightly, at("2027-03-01T02:00:00Z")), at("2027-03-02T02:00:00Z"),
           "every 1d at 02:00: next at 02:00 is tomorrow");

    /* seven days counted from the epoch, a Thursday */
    is_int(policy_slot(&weekly, at("2026-12-01T12:00:00Z")), at("2026-11-26T00:00:00Z"),
           "every 7d: the Thursday before");
    is_int(policy_next(&weekly, at("2026-12-01T12:00:00Z")), at("2026-12-03T00:00:00Z"),
           "every 7d: next Thursday");
    is_int(policy_slot(&weekly, at("2026-12-03T00:00:00Z")), at("2026-12-03T00:00:00Z"),
           "every 7d: on the Thursday itself");
    is_int(policy_slot(&weekly2, at("2026-11-26T01:00:00Z")), at("2026-11-19T02:00:00Z"),
           "every 7d at 02:00: before 02:00 on Thursday, the week before");

    is_int(policy_slot(&hourly, -1), -HOUR, "slot before the epoch rounds down");

    now = at("2027-03-01T02:30:00Z");
    ok(policy_due(&nightly, 0, now), "never backed up: due");
    ok(policy_due(&nightly, at("2027-03-01T01:59:59Z"), now), "last just before the slot: due");
    ok(!policy_due(&nightly, at("2027-03-01T02:00:00Z"), now), "last at the slot: not due");
    ok(!policy_due(&nightly, at("2027-03-01T02:10:00Z"), now), "last after the slot: not due");
    ok(!policy_due(&nightly, at("2027-02-28T02:00:00Z"), at("2027-03-01T01:59:00Z")),
       "at 01:59, yesterday 02:00 is still enough");
    ok(policy_due(&nightly, at("2027-02-28T02:00:00Z"), at("2027-03-01T02:00:00Z")),
       "at 02:00, yesterday's backup is not enough");
    ok(policy_due(&hourly, at("2027-03-01T01:59:59Z"), now), "every 1h: due after the hour turns");
    ok(!policy_due(&hourly, at("2027-03-01T02:00:01Z"), now), "every 1h: done this hour");

    ok(!policy_due(&never, 0, now), "every 0: never due, even never backed up");
    ok(!policy_due(&never, at("2020-01-01T00:00:00Z"), now), "every 0: never due");
    is_int(policy_slot(&never, now), 0, "every 0: slot 0");
    is_int(policy_next(&never, now), 0, "every 0: next 0");
}

int main(void)
{
    test_random();
    test_gfs();
    test_iso_weeks();
    test_rules();
    test_pins();
    test_kept_str();
    test_schedule();
    return tap_done();
}
