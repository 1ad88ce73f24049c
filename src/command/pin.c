/*
 * pin.c - "coffer pin" and "coffer unpin": keep a snapshot past its
 * class's retention (a backup before a deploy, until the deploy is
 * verified), and let it go again.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"
#include "common/clock.h"
#include "config/config.h"
#include "repo/repo.h"

enum
{
    OPT_UNTIL = CMD_OPT_FIRST_COMMAND,
    OPT_FOR,
};

typedef struct PinArgs
{
    const char *until;
    const char *dur;
} PinArgs;

static bool pin_option(int opt, const char *arg, void *state, Error *err)
{
    PinArgs *a = state;

    (void)err;
    if (opt == OPT_UNTIL)
        a->until = arg;
    else if (opt == OPT_FOR)
        a->dur = arg;
    else
        return false;
    return true;
}

bool cmd_pin_until(const char *until, const char *dur, char out[32], Error *err)
{
    time_t now = clock_now(), t;
    int64_t secs;

    if (until != NULL && dur != NULL)
        return error_set(err, ERR_USAGE, "give --until or --for, not both");
    if (dur != NULL)
    {
        if (!clock_parse_duration(dur, &secs))
        {
            error_set(err, ERR_USAGE, "\"%s\" is not a duration", dur);
            return error_hint(err, "write a number and a unit (s, m, h, d, w, y), e.g. 14d");
        }
        clock_format(now + (time_t)secs, out);
        return true;
    }
    if (!clock_parse(until, &t, NULL))
    {
        error_set(err, ERR_USAGE, "\"%s\" is not a date", until);
        return error_hint(err, "write 2027-01-31 or 2027-01-31T12:00:00Z");
    }
    if (t <= now)
        return error_set(err, ERR_USAGE, "--until %s is in the past", until);
    clock_format(t, out);
    return true;
}

/* Sets (until != NULL) or removes the pin of snapshot id. */
static bool pin_set(CmdContext *ctx, const char *name, const char *id, const char *until,
                    Error *err)
{
    Config *cfg = NULL;
    Repo *repo;
    RepoLock *lock = NULL;
    json_t *h = NULL;
    char full[65];
    bool ok = false;

    if (!cmd_repo_config(ctx, &cfg, err) || (repo = cmd_repo_open(ctx, cfg, 0, err)) == NULL)
        return false;
    lock = repo_lock(repo, REPO_LOCK_SHARED, name, err);
    if (lock == NULL || !repo_snapshot_resolve(repo, id, full, err) ||
        (h = repo_snapshot_load(repo, full, err)) == NULL)
        goto done;
    if (until != NULL)
        json_object_set_new(h, "pin_until", json_string(until));
    else
        json_object_del(h, "pin_until");
    ok = repo_snapshot_write(repo, h, NULL, err);
    if (ok && ctx->json)
    {
        json_t *o = json_pack("{s:s, s:o}", "id", full,
                              "pin_until", until ? json_string(until) : json_null());

        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
    }
    else if (ok && until != NULL)
        printf("snapshot %.12s pinned until %s: expire keeps it until then\n", full, until);
    else if (ok)
        printf("snapshot %.12s unpinned: its classes' retention applies again\n", full);
done:
    json_decref(h);
    if (lock != NULL)
        repo_unlock(lock);
    repo_close(repo);
    return ok;
}

bool cmd_pin(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {{"until", required_argument, NULL, OPT_UNTIL},
                                             {"for", required_argument, NULL, OPT_FOR},
                                             CMD_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    PinArgs a = {NULL, NULL};
    bool exit_now;
    char until[32];
    int first = cmd_parse(ctx, "pin", argc, argv, "", longopts, pin_option, &a, &exit_now, err);

    if (first < 0)
        return false;
    if (first + 1 != argc)
    {
        error_set(err, ERR_USAGE, "pin: name one snapshot (an id, a unique prefix or \"latest\")");
        return error_hint(err, "run \"coffer list\" to see the snapshots");
    }
    if (a.until == NULL && a.dur == NULL)
    {
        error_set(err, ERR_USAGE, "pin: say how long, with --for 14d or --until 2027-01-31");
        return false;
    }
    if (!cmd_pin_until(a.until, a.dur, until, err))
        return error_prefix(err, "pin");
    return pin_set(ctx, "pin", argv[first], until, err);
}

bool cmd_unpin(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {CMD_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    bool exit_now;
    int first = cmd_parse(ctx, "unpin", argc, argv, "", longopts, pin_option, NULL, &exit_now, err);

    if (first < 0)
        return false;
    if (first + 1 != argc)
        return error_set(err, ERR_USAGE,
                         "unpin: name one snapshot (an id, a unique prefix or \"latest\")");
    return pin_set(ctx, "unpin", argv[first], NULL, err);
}
