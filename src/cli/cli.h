/*
 * cli.h - the command tree, shared options and help.
 *
 * The command tree is data: each entry has a name, a one-line summary, a
 * usage block, and a run function in src/command/. main() only calls cli_main.
 */
#ifndef COFFER_CLI_CLI_H
#define COFFER_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "common/error.h"

typedef struct Config Config;

/* What every command receives: global settings and the lazily loaded config. */
typedef struct CliContext
{
    const char *config_path; /* --config, or NULL to search COFFER_CONFIG and /etc */
    bool json;               /* --json where the command supports it */
    bool yes;                /* --yes: do not ask before destructive work */
    Config *config;          /* loaded by cli_config() */
} CliContext;

typedef bool (*CliRunFn)(CliContext *ctx, int argc, char **argv, Error *err);

typedef struct CliCommand
{
    const char *name;    /* "tenants", or "config check" for a subcommand */
    const char *summary; /* one line for "coffer help" */
    const char *usage;   /* full help text for "coffer help NAME" / --help */
    CliRunFn run;
} CliCommand;

/* Parses argv, runs the command and returns the process exit code. */
int cli_main(int argc, char **argv);

/* Loads the configuration once (from --config, COFFER_CONFIG or
 * /etc/coffer/coffer.yaml) and returns it; NULL with err set on failure. */
Config *cli_config(CliContext *ctx, Error *err);

/* Options every command accepts; put CLI_COMMON_LONGOPTS at the end of a
 * command's option array (before the terminator) and call cli_common_option
 * from the default: branch of its getopt switch. */
enum
{
    CLI_OPT_CONFIG = 1000,
    CLI_OPT_JSON,
    CLI_OPT_HELP,
    CLI_OPT_VERBOSE,
    CLI_OPT_QUIET,
    CLI_OPT_YES,
    CLI_OPT_FIRST_COMMAND /* commands number their own long-only options from here */
};

#define CLI_COMMON_LONGOPTS                                                                        \
    {"config", required_argument, NULL, CLI_OPT_CONFIG},                                           \
        {"json", no_argument, NULL, CLI_OPT_JSON}, {"help", no_argument, NULL, CLI_OPT_HELP},      \
        {"verbose", no_argument, NULL, CLI_OPT_VERBOSE},                                           \
        {"quiet", no_argument, NULL, CLI_OPT_QUIET},                                               \
    {                                                                                              \
        "yes", no_argument, NULL, CLI_OPT_YES                                                      \
    }

/* Handles a shared option or an unknown one. Returns false with a usage error
 * for an unknown option; sets *exit_now for --help (help already printed). */
bool cli_common_option(CliContext *ctx, const char *command, int opt, bool *exit_now, Error *err);

/* Runs getopt_long over argv with the given options, handling the common
 * ones. For each command-specific option calls handle(opt, optarg, state).
 * Returns the index of the first positional argument, or -1 on error/help
 * (err set for error; *exit_now for help). */
typedef bool (*CliOptionFn)(int opt, const char *arg, void *state, Error *err);
int cli_parse(CliContext *ctx, const char *command, int argc, char **argv, const char *shortopts,
              const struct option *longopts, CliOptionFn handle, void *state, bool *exit_now,
              Error *err);

/* Prints the help of one command to stdout. */
void cli_print_help(const char *command);

#endif
