/*
 * command.h - the run functions of every subcommand, one file each in src/command/.
 *
 * A command only orchestrates the modules; it formats no SQL and touches no
 * storage path itself.
 */
#ifndef COFFER_COMMAND_COMMAND_H
#define COFFER_COMMAND_COMMAND_H

#include "cli/cli.h"

bool cmd_tenants(CliContext *ctx, int argc, char **argv, Error *err);
bool cmd_config_check(CliContext *ctx, int argc, char **argv, Error *err);

#endif
