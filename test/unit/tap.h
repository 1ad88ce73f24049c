/*
 * tap.h - a tiny TAP producer for unit tests.
 *
 * Each test binary calls the ok/is macros and ends with tap_done(), which
 * prints the plan and returns the exit status prove expects.
 */
#ifndef COFFER_TEST_TAP_H
#define COFFER_TEST_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_count = 0;
static int tap_failed = 0;

static inline int tap_ok(int cond, const char *file, int line, const char *name)
{
    tap_count++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_count, name);
    if (!cond)
    {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

#define ok(cond, name) tap_ok(!!(cond), __FILE__, __LINE__, name)

#define is_int(got, want, name)                                                                    \
    do                                                                                             \
    {                                                                                              \
        long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);                           \
        if (!tap_ok(tap_g_ == tap_w_, __FILE__, __LINE__, name))                                   \
            printf("#   got: %lld\n#   expected: %lld\n", tap_g_, tap_w_);                         \
    } while (0)

#define is_str(got, want, name)                                                                    \
    do                                                                                             \
    {                                                                                              \
        const char *tap_g_ = (got), *tap_w_ = (want);                                              \
        int tap_c_ = tap_g_ != NULL && tap_w_ != NULL && strcmp(tap_g_, tap_w_) == 0;              \
        if (!tap_ok(tap_c_, __FILE__, __LINE__, name))                                             \
            printf("#   got: '%s'\n#   expected: '%s'\n", tap_g_ ? tap_g_ : "(null)",              \
                   tap_w_ ? tap_w_ : "(null)");                                                    \
    } while (0)

#define like(got, sub, name)                                                                       \
    do                                                                                             \
    {                                                                                              \
        const char *tap_g_ = (got), *tap_s_ = (sub);                                               \
        int tap_c_ = tap_g_ != NULL && strstr(tap_g_, tap_s_) != NULL;                             \
        if (!tap_ok(tap_c_, __FILE__, __LINE__, name))                                             \
            printf("#   got: '%s'\n#   expected to contain: '%s'\n", tap_g_ ? tap_g_ : "(null)",   \
                   tap_s_);                                                                        \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed == 0 ? 0 : 1;
}

#endif
