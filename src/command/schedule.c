/*
 * schedule.c - "coffer schedule": prints what to install so that coffer run
 * is called every five minutes: a crontab line, or a systemd timer and its
 * service. The classes decide what is due; the timer only has to call.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command/command.h"
#include "common/clock.h"
#include "config/config.h"

enum
{
    OPT_CRONTAB = CMD_OPT_FIRST_COMMAND,
    OPT_SYSTEMD,
};

static bool schedule_option(int opt, const char *arg, void *state, Error *err)
{
    int *form = state;

    (void)arg, (void)err;
    if (opt != OPT_CRONTAB && opt != OPT_SYSTEMD)
        return false;
    *form = opt;
    return true;
}

/* What each class asks for, as comments above the units. */
static void schedule_classes(const Config *cfg)
{
    for (size_t i = 0; i < cfg->n_classes; i++)
    {
        const ConfigClass *c = &cfg->classes[i];
        char every[24], at[16] = "";

        if (c->every == 0)
            continue;
        clock_format_duration(c->every, every, sizeof(every));
        if (c->at >= 0)
            snprintf(at, sizeof(at), " at %02d:%02d UTC", (int)(c->at / 3600),
                     (int)(c->at % 3600 / 60));
        printf("#   class %s: every %s%s\n", c->name, every, at);
    }
}

bool cmd_schedule(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {{"crontab", no_argument, NULL, OPT_CRONTAB},
                                             {"systemd", no_argument, NULL, OPT_SYSTEMD},
                                             CMD_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    int form = 0, first;
    bool exit_now, scheduled = false;
    char exe[PATH_MAX], conf[PATH_MAX];
    ssize_t n;
    const Config *cfg;

    first = cmd_parse(ctx, "schedule", argc, argv, "", longopts, schedule_option, &form,
                      &exit_now, err);
    if (first < 0)
        return false;
    if (form == 0 || first < argc)
    {
        error_set(err, ERR_USAGE, "schedule: say which form: --crontab or --systemd");
        return error_hint(err, "coffer schedule --systemd > units.txt, then install both units");
    }
    if ((cfg = cmd_config(ctx, err)) == NULL)
        return false;
    for (size_t i = 0; i < cfg->n_classes; i++)
        scheduled = scheduled || cfg->classes[i].every > 0;
    if (!scheduled)
    {
        error_set(err, ERR_USAGE, "no class of \"%s\" has an every: coffer run would never back "
                                  "anything up", cfg->path);
        return error_hint(err, "give classes an every, e.g. active: { every: 1d, at: \"02:00\" }");
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (n <= 0)
        snprintf(exe, sizeof(exe), "coffer");
    if (realpath(cfg->path, conf) == NULL)
        snprintf(conf, sizeof(conf), "%s", cfg->path);
    printf("# coffer run is called every 5 minutes; it backs up what is due:\n");
    schedule_classes(cfg);
    if (cfg->repo_passphrase_file == NULL)
        printf("# note: no terminal asks under a timer: set repository.passphrase_file\n");
    if (form == OPT_CRONTAB)
    {
        printf("# install: add this line to /etc/cron.d/coffer\n");
        printf("*/5 * * * * root %s --config %s run --quiet\n", exe, conf);
        return true;
    }
    printf("# install: save the two units below under /etc/systemd/system/, then run\n"
           "#   systemctl daemon-reload && systemctl enable --now coffer-run.timer\n\n");
    printf("# ---- coffer-run.service ----\n"
           "[Unit]\n"
           "Description=Coffer: back up the tenants that are due, expire, prune\n"
           "Wants=network-online.target\n"
           "After=network-online.target postgresql.service\n"
           "\n"
           "[Service]\n"
           "Type=oneshot\n"
           "ExecStart=%s --config %s run\n"
           "Nice=10\n"
           "IOSchedulingClass=best-effort\n"
           "IOSchedulingPriority=7\n"
           "\n",
           exe, conf);
    printf("# ---- coffer-run.timer ----\n"
           "[Unit]\n"
           "Description=Call coffer run every 5 minutes\n"
           "\n"
           "[Timer]\n"
           "OnCalendar=*:0/5\n"
           "Persistent=true\n"
           "\n"
           "[Install]\n"
           "WantedBy=timers.target\n");
    return true;
}
