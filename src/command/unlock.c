/*
 * unlock.c - "coffer unlock [--all]": remove locks whose process is gone
 * from this host, or (--all) every lock, for holders on other hosts that
 * died. Locks of dead processes on this host are also broken on sight by
 * any command that takes a lock; this is for the rest.
 */
#include <stdio.h>
#include <stdlib.h>

#include "command/command.h"
#include "config/config.h"
#include "repo/repo.h"

enum
{
    UNLOCK_OPT_ALL = CMD_OPT_FIRST_COMMAND,
};

typedef struct UnlockArgs
{
    bool all;
} UnlockArgs;

static bool unlock_option(int opt, const char *arg, void *state, Error *err)
{
    UnlockArgs *a = state;

    (void)err, (void)arg;
    switch (opt)
    {
    case UNLOCK_OPT_ALL:
        a->all = true;
        return true;
    default:
        return false;
    }
}

bool cmd_unlock(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, UNLOCK_OPT_ALL},
        CMD_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    UnlockArgs a = {false};
    Config *cfg = NULL;
    Repo *repo;
    bool exit_now, ok;
    int first, removed = 0;

    first = cmd_parse(ctx, "unlock", argc, argv, "", longopts, unlock_option, &a, &exit_now, err);
    if (first < 0)
        return false;
    if (first < argc)
        return error_set(err, ERR_USAGE, "unlock: unexpected argument \"%s\"", argv[first]);
    if (!cmd_repo_config(ctx, &cfg, err))
        return false;
    repo = cmd_repo_open(ctx, cfg, 0, err);
    if (repo == NULL)
        return false;
    ok = repo_unlock_stale(repo, a.all, &removed, err);
    if (ok)
    {
        if (ctx->json)
        {
            json_t *o =
                json_pack("{s:s, s:i}", "repository", repo_location(repo), "removed", removed);
            char *text = json_dumps(o, JSON_INDENT(2));

            printf("%s\n", text);
            free(text);
            json_decref(o);
        }
        else
            printf("removed %d lock%s from repository \"%s\"\n", removed, removed == 1 ? "" : "s",
                   repo_location(repo));
    }
    repo_close(repo);
    return ok;
}
