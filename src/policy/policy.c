/*
 * policy.c - GFS retention (restic's forget rules) and schedule periods.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

/* The period a time falls in, as a number that differs between periods. */
typedef long (*PolicyBucket)(time_t t);

/* One counting rule (hourly, daily, ...) while snapshots are walked. */
typedef struct PolicyRule
{
    int count; /* periods still to keep */
    PolicyBucket bucket;
    unsigned bit;
    long last; /* the period of the last snapshot kept by the rule */
    bool any;
} PolicyRule;

static long policy_hour(time_t t)
{
    return (long)(t >= 0 ? t / 3600 : (t - 3599) / 3600);
}

static long policy_day(time_t t)
{
    return (long)(t >= 0 ? t / 86400 : (t - 86399) / 86400);
}

static long policy_week(time_t t)
{
    struct tm tm;
    char s[16];

    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%G%V", &tm); /* ISO year and week, as restic */
    return atol(s);
}

static long policy_month(time_t t)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    return (long)(tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
}

static long policy_year(time_t t)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    return tm.tm_year + 1900L;
}

size_t policy_keep(const ConfigKeep *keep, PolicySnap *snaps, size_t n, time_t anchor,
                   time_t now)
{
    PolicyRule rules[5];
    size_t kept = 0;

    if (keep != NULL)
    {
        rules[0] = (PolicyRule){keep->hourly, policy_hour, POLICY_KEPT_HOURLY, 0, false};
        rules[1] = (PolicyRule){keep->daily, policy_day, POLICY_KEPT_DAILY, 0, false};
        rules[2] = (PolicyRule){keep->weekly, policy_week, POLICY_KEPT_WEEKLY, 0, false};
        rules[3] = (PolicyRule){keep->monthly, policy_month, POLICY_KEPT_MONTHLY, 0, false};
        rules[4] = (PolicyRule){keep->yearly, policy_year, POLICY_KEPT_YEARLY, 0, false};
    }
    for (size_t i = 0; i < n; i++)
    {
        PolicySnap *s = &snaps[i];

        s->kept = 0;
        if (keep == NULL)
            s->kept |= POLICY_KEPT_ALL;
        else
        {
            if (i < (size_t)keep->last)
                s->kept |= POLICY_KEPT_LAST;
            /* newest first: the first snapshot met in a period is its newest */
            for (size_t r = 0; r < 5; r++)
            {
                long v;

                if (rules[r].count <= 0)
                    continue;
                v = rules[r].bucket(s->time);
                if (rules[r].any && v == rules[r].last)
                    continue;
                rules[r].any = true;
                rules[r].last = v;
                rules[r].count--;
                s->kept |= rules[r].bit;
            }
            if (keep->within > 0 && s->time >= anchor - keep->within)
                s->kept |= POLICY_KEPT_WITHIN;
        }
        if (s->pin_until > now)
            s->kept |= POLICY_KEPT_PINNED;
        if (s->kept != 0)
            kept++;
    }
    return kept;
}

void policy_kept_str(unsigned kept, char *out, size_t len)
{
    static const struct
    {
        unsigned bit;
        const char *word;
    } words[] = {{POLICY_KEPT_LAST, "last"},       {POLICY_KEPT_HOURLY, "hourly"},
                 {POLICY_KEPT_DAILY, "daily"},     {POLICY_KEPT_WEEKLY, "weekly"},
                 {POLICY_KEPT_MONTHLY, "monthly"}, {POLICY_KEPT_YEARLY, "yearly"},
                 {POLICY_KEPT_WITHIN, "within"},   {POLICY_KEPT_PINNED, "pinned"},
                 {POLICY_KEPT_ALL, "no keep rules"}, {POLICY_KEPT_NEWEST, "its last snapshot"},
                 {POLICY_KEPT_TENANTS, "tenants kept beside it"}};
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if ((kept & words[i].bit) != 0 && used < len)
            used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "",
                                     words[i].word);
    if (out[0] == '\0')
        snprintf(out, len, "-");
}

time_t policy_slot(const ConfigClass *c, time_t now)
{
    time_t at = c->at > 0 ? (time_t)c->at : 0, x;

    if (c->every <= 0)
        return 0;
    x = now - at;
    /* floor division, also before the epoch */
    x = (x >= 0 ? x / c->every : (x - c->every + 1) / c->every) * c->every;
    return x + at;
}

time_t policy_next(const ConfigClass *c, time_t now)
{
    return c->every <= 0 ? 0 : policy_slot(c, now) + (time_t)c->every;
}

bool policy_due(const ConfigClass *c, time_t last, time_t now)
{
    if (c->every <= 0)
        return false;
    return last == 0 || last < policy_slot(c, now);
}
