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
bool cmd_init(CliContext *ctx, int argc, char **argv, Error *err);
bool cmd_check(CliContext *ctx, int argc, char **argv, Error *err);
bool cmd_unlock(CliContext *ctx, int argc, char **argv, Error *err);

/* For commands that take --repo PATH (defined in init.c): sets *cfg to the
 * loaded configuration, or to NULL when --repo was given and no file was
 * named (--config, $COFFER_CONFIG) nor exists at the default path, so that
 * a repository can be used without any configuration. */
typedef struct Config Config;
bool cmd_repo_config(CliContext *ctx, const char *repo_override, Config **cfg, Error *err);
bool cmd_backup(CliContext *ctx, int argc, char **argv, Error *err);
bool cmd_restore(CliContext *ctx, int argc, char **argv, Error *err);
bool cmd_list(CliContext *ctx, int argc, char **argv, Error *err);
bool cmd_info(CliContext *ctx, int argc, char **argv, Error *err);
bool cmd_forget(CliContext *ctx, int argc, char **argv, Error *err);
bool cmd_prune(CliContext *ctx, int argc, char **argv, Error *err);

#endif
