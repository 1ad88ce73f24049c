/*
 * cli.h - the command tree, help and dispatch.
 *
 * The command tree is data: each entry has a name, a one-line summary, a
 * usage block, and a run function in src/command/. main() only calls
 * cli_main. cli sits above the command layer: it includes command.h (the
 * context and the options every command shares), never the other way.
 */
#ifndef COFFER_CLI_CLI_H
#define COFFER_CLI_CLI_H

#include <stdbool.h>

#include "command/command.h"

typedef bool (*CliRunFn)(CmdContext *ctx, int argc, char **argv, Error *err);

typedef struct CliCommand
{
    const char *name;    /* "tenants", or "config check" for a subcommand */
    const char *summary; /* one line for "coffer help" */
    const char *usage;   /* full help text for "coffer help NAME" / --help */
    CliRunFn run;
} CliCommand;

/* Parses argv, runs the command and returns the process exit code. */
int cli_main(int argc, char **argv);

#endif
