/*
 * unlock.c - "coffer unlock [--all]": show every lock, who holds it and
 * from where, and remove the stale ones (a process gone from this host, or
 * no refresh for repository.lock_stale), or (--all) every lock. Stale locks
 * are also broken on sight by any command that takes a lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

/* Every lock, who holds it and from where, and what became of it. */
static void unlock_print(json_t *locks)
{
    size_t i;
    json_t *l;

    json_array_foreach (locks, i, l)
    {
        json_int_t refreshed = json_integer_value(json_object_get(l, "refreshed"));
        char ago[64] = "";

        if (refreshed > 0)
            snprintf(ago, sizeof(ago), ", refreshed %lld s ago",
                     (long long)(time(NULL) - (time_t)refreshed));
        printf("%s: %s lock of process %lld on %s (%s since %s%s): %s, %s\n",
               json_string_value(json_object_get(l, "key")),
               json_string_value(json_object_get(l, "mode")),
               (long long)json_integer_value(json_object_get(l, "pid")),
               json_string_value(json_object_get(l, "host")),
               json_string_value(json_object_get(l, "command")),
               json_string_value(json_object_get(l, "time")), ago,
               json_string_value(json_object_get(l, "state")),
               json_string_value(json_object_get(l, "why")));
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
    json_t *locks = NULL;
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
    ok = repo_unlock_stale(repo, a.all, &removed, &locks, err);
    if (ok && ctx->json)
    {
        json_t *o = json_pack("{s:s, s:i, s:O}", "repository", repo_location(repo), "removed",
                              removed, "locks", locks);
        char *text = json_dumps(o, JSON_INDENT(2));

        printf("%s\n", text);
        free(text);
        json_decref(o);
    }
    else if (ok)
    {
        unlock_print(locks);
        printf("removed %d lock%s from repository \"%s\"\n", removed, removed == 1 ? "" : "s",
               repo_location(repo));
    }
    json_decref(locks);
    repo_close(repo);
    return ok;
}
