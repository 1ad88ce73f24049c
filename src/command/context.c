/*
 * context.c - what every command shares: the options all of them accept and
 * the configuration they load on first use. Help texts stay with the command
 * table in cli; --help only records that help is wanted, and cli prints it.
 */
#include <stdio.h>
#include <unistd.h>

#include "command/command.h"
#include "common/log.h"
#include "common/mem.h"
#include "config/config.h"

void cmd_context_free(CmdContext *ctx)
{
    if (ctx->config != NULL)
        config_free(ctx->config);
    ctx->config = NULL;
}

Config *cmd_config(CmdContext *ctx, Error *err)
{
    if (ctx->config == NULL)
    {
        ctx->config = config_load(ctx->config_path, err);
        /* --repo NAME picks one of its repositories for every command */
        if (ctx->config != NULL && ctx->repo != NULL &&
            config_find_repo(ctx->config, ctx->repo) != NULL)
            config_select_repo(ctx->config, ctx->repo, err);
    }
    return ctx->config;
}

/* Handles a shared option. Returns false with a usage error for an unknown
 * one, and false with *exit_now set (no error) for --help. */
static bool cmd_common_option(CmdContext *ctx, const char *command, int opt, bool *exit_now,
                              Error *err)
{
    switch (opt)
    {
    case CMD_OPT_CONFIG:
        ctx->config_path = optarg;
        return true;
    case CMD_OPT_JSON:
        ctx->json = true;
        return true;
    case CMD_OPT_VERBOSE:
        log_set_level(LOG_DEBUG);
        return true;
    case CMD_OPT_QUIET:
        log_set_level(LOG_ERROR);
        return true;
    case CMD_OPT_YES:
        ctx->yes = true;
        return true;
    case CMD_OPT_REPO:
        ctx->repo = optarg;
        return true;
    case CMD_OPT_HELP:
        ctx->help = command;
        *exit_now = true;
        return false;
    default:
        error_set(err, ERR_USAGE, "%s: unknown or incomplete option", command);
        return error_hint(err, "run \"coffer help %s\" for its options", command);
    }
}

int cmd_parse(CmdContext *ctx, const char *command, int argc, char **argv, const char *shortopts,
              const struct option *longopts, CmdOptionFn handle, void *state, bool *exit_now,
              Error *err)
{
    char optstr[64];

    /* ":" reports a missing argument as ":"; options may follow positionals */
    snprintf(optstr, sizeof(optstr), ":%s", shortopts ? shortopts : "");
    optind = 1;
    opterr = 0;
    *exit_now = false;
    for (;;)
    {
        int opt = getopt_long(argc, argv, optstr, longopts, NULL);

        if (opt == -1)
            break;
        if (opt == ':')
        {
            error_set(err, ERR_USAGE, "%s: option \"%s\" needs a value", command, argv[optind - 1]);
            error_hint(err, "run \"coffer help %s\" for its options", command);
            return -1;
        }
        if (opt == '?')
        {
            error_set(err, ERR_USAGE, "%s: unknown option \"%s\"", command, argv[optind - 1]);
            error_hint(err, "run \"coffer help %s\" for its options", command);
            return -1;
        }
        if (opt >= CMD_OPT_CONFIG && opt < CMD_OPT_FIRST_COMMAND)
        {
            if (!cmd_common_option(ctx, command, opt, exit_now, err))
                return -1;
            continue;
        }
        if (handle == NULL || !handle(opt, optarg, state, err))
        {
            if (!error_is_set(err))
                error_set(err, ERR_USAGE, "%s: unknown option", command);
            return -1;
        }
    }
    return optind;
}

bool cmd_confirm(const CmdContext *ctx, const char *name, const char *why, CmdShowFn show,
                 const void *arg, const char *question, Error *err)
{
    FILE *tty;
    char answer[16] = "";

    if (ctx->yes)
        return true;
    if (!isatty(STDIN_FILENO))
    {
        error_set(err, ERR_USAGE, "%s needs confirmation", why);
        return error_hint(err, "pass --yes when not running on a terminal");
    }
    tty = fopen("/dev/tty", "r+");
    if (tty == NULL)
        return error_set(err, ERR_USAGE, "cannot ask for confirmation: no terminal; pass --yes");
    if (show != NULL)
        show(tty, arg);
    fprintf(tty, "%s [y/N] ", question);
    fflush(tty);
    if (fgets(answer, sizeof(answer), tty) == NULL)
        answer[0] = '\0';
    fclose(tty);
    if (answer[0] != 'y' && answer[0] != 'Y')
        return error_set(err, ERR_FAILURE, "%s cancelled; nothing was changed", name);
    return true;
}

void cmd_names_add(const char ***list, size_t *n, const char *name)
{
    *list = xrealloc(*list, sizeof(char *) * (*n + 1));
    (*list)[(*n)++] = name;
}
