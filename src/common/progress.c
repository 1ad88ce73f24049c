/*
 * progress.c - the one progress printer: a status line on a terminal, a
 * plain log line every 30 seconds otherwise (cron, CI, a pipe), so that long
 * work is never silent.
 */
#include <stdio.h>

#include "common/fmt.h"
#include "common/log.h"
#include "common/progress.h"

#define PROGRESS_LOG_EVERY 30.0

void progress_print(void *printer, const ProgressSample *s)
{
    ProgressPrinter *p = printer;
    char bytes[32], rate[32], eta[32] = "-";
    double bps = s->elapsed > 0 ? (double)s->bytes / s->elapsed : 0;

    if (s->final)
    {
        log_status("%s", "");
        return;
    }
    fmt_bytes(s->bytes, bytes, sizeof(bytes));
    fmt_bytes((uint64_t)bps, rate, sizeof(rate));
    if (bps > 0 && s->bytes_total > s->bytes)
        fmt_seconds((double)(s->bytes_total - s->bytes) / bps, eta, sizeof(eta));
    if (log_is_tty())
        log_status("%s: %llu/%llu tables, %s, %s/s, ETA %s", s->what,
                   (unsigned long long)s->done, (unsigned long long)s->total, bytes, rate, eta);
    else if (s->elapsed - p->last_log >= PROGRESS_LOG_EVERY)
    {
        log_info("progress: %llu/%llu tables, %s %s, %s/s", (unsigned long long)s->done,
                 (unsigned long long)s->total, bytes, s->verb, rate);
        p->last_log = s->elapsed;
    }
}
