/*
 * command.h - the command layer: the context every command receives, the
 * options they share, how they find the configuration and open the
 * repository, and the run function of every subcommand (one file each in
 * src/command/).
 *
 * cli (the command table, help, dispatch) includes this header; nothing
 * here knows cli. A command only orchestrates the modules; it formats no SQL
 * and touches no storage path itself.
 */
#ifndef COFFER_COMMAND_COMMAND_H
#define COFFER_COMMAND_COMMAND_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/error.h"

typedef struct Config Config;
typedef struct Repo Repo;
typedef struct Storage Storage;
typedef struct RetentionState RetentionState;
typedef struct TenantList TenantList;

/* What every command receives: global settings and the lazily loaded config. */
typedef struct CmdContext
{
    const char *config_path; /* --config, or NULL to search COFFER_CONFIG and /etc */
    bool json;               /* --json where the command supports it */
    bool yes;                /* --yes: do not ask before destructive work */
    const char *help;        /* set by --help to the command's name: its help is wanted */
    const char *repo;        /* --repo NAME (of the configuration) or PATH, or NULL */
    Config *config;          /* loaded by cmd_config() */
    int exit_status;         /* the exit status of a command that succeeded without being
                              * plain ok (check --nagios: 1 WARNING, 2 CRITICAL, 3 UNKNOWN) */
} CmdContext;

/* Frees what commands loaded into ctx (the configuration); ctx itself
 * belongs to the caller. */
void cmd_context_free(CmdContext *ctx);

/* Loads the configuration once (from --config, COFFER_CONFIG or
 * /etc/coffer/coffer.yaml) and returns it; NULL with err set on failure. */
Config *cmd_config(CmdContext *ctx, Error *err);

/* Options every command accepts; put CMD_COMMON_LONGOPTS at the end of a
 * command's option array (before the terminator); cmd_parse handles them. */
enum
{
    CMD_OPT_CONFIG = 1000,
    CMD_OPT_JSON,
    CMD_OPT_HELP,
    CMD_OPT_VERBOSE,
    CMD_OPT_QUIET,
    CMD_OPT_YES,
    CMD_OPT_REPO,
    CMD_OPT_FIRST_COMMAND /* commands number their own long-only options from here */
};

#define CMD_COMMON_LONGOPTS                                                                        \
    {"config", required_argument, NULL, CMD_OPT_CONFIG},                                           \
        {"json", no_argument, NULL, CMD_OPT_JSON}, {"help", no_argument, NULL, CMD_OPT_HELP},      \
        {"verbose", no_argument, NULL, CMD_OPT_VERBOSE},                                           \
        {"quiet", no_argument, NULL, CMD_OPT_QUIET},                                               \
        {"repo", required_argument, NULL, CMD_OPT_REPO},                                           \
    {                                                                                              \
        "yes", no_argument, NULL, CMD_OPT_YES                                                      \
    }

/* Runs getopt_long over argv with the given options, handling the common
 * ones. For each command-specific option calls handle(opt, optarg, state).
 * Returns the index of the first positional argument, or -1 on error or
 * --help (err set for an error; for --help *exit_now is set, err is not,
 * and ctx->help names the command, whose help the caller of the command
 * prints). */
typedef bool (*CmdOptionFn)(int opt, const char *arg, void *state, Error *err);
int cmd_parse(CmdContext *ctx, const char *command, int argc, char **argv, const char *shortopts,
              const struct option *longopts, CmdOptionFn handle, void *state, bool *exit_now,
              Error *err);

/* ---- the repository a command works on (repo_open.c, passphrase.c) ---- */

/* Which repository a command works on. --repo NAME picks a repository of
 * the configuration; --repo PATH (a name the configuration does not have,
 * with a "/" or of an existing directory) is a directory used as it is.
 * Sets *cfg to the loaded configuration with that repository selected
 * (config_select_repo), or to NULL when --repo PATH was given and no file
 * was named (--config, $COFFER_CONFIG) nor exists at the default path, so
 * that a repository can be used without any configuration. */
bool cmd_repo_config(CmdContext *ctx, Config **cfg, Error *err);

/* Opens the storage of that repository: the --repo directory, or the
 * selected repository's path or S3 bucket. create: make a directory. */
Storage *cmd_storage_open(const CmdContext *ctx, const Config *cfg, bool create, Error *err);

/* Opens the repository a command works on (cmd_repo_config first; cfg may
 * be NULL with --repo PATH). Reads the repository's config first and asks
 * for a passphrase (cmd_passphrase_read with the passphrase_file) only
 * when it is encrypted; flags as for repo_open_ex. No repository at all is
 * ERR_USAGE with a hint. Returns NULL with err set on failure. */
Repo *cmd_repo_open(const CmdContext *ctx, const Config *cfg, unsigned flags, Error *err);

/* Opens the repository called name in the configuration (or the directory
 * name), whatever --repo says; the configuration's selection moves to it. */
Repo *cmd_repo_open_named(CmdContext *ctx, const char *name, unsigned flags, Error *err);

/* Reads the passphrase for a repository: $COFFER_PASSPHRASE, else the file
 * (refused when group- or world-readable, with a hint to chmod 600), else a
 * prompt on the terminal (twice when confirm). Returns a malloc'd string
 * (caller wipes and frees) or NULL with err set. */
char *cmd_passphrase_read(const char *passphrase_file, bool confirm, Error *err);

/* Appends a repeated option's value (--tenant NAME...) to a growing list. */
void cmd_names_add(const char ***list, size_t *n, const char *name);

/* Asks before destructive work: true at once with --yes; else, on a
 * terminal, show(tty, arg) prints what would change and "question [y/N]"
 * is asked. Without a terminal: ERR_USAGE "<why> needs confirmation" and
 * a hint to pass --yes. A "no" is ERR_FAILURE "<name> cancelled; nothing
 * was changed". */
typedef void (*CmdShowFn)(FILE *tty, const void *arg);
bool cmd_confirm(const CmdContext *ctx, const char *name, const char *why, CmdShowFn show,
                 const void *arg, const char *question, Error *err);

/* Retention under the caller's lock (expire.c), for coffer expire and
 * coffer run: decides, asks when more than half of the snapshots would
 * go, applies, prints (or adds "expire" to out with --json). live is what
 * discovery found now (NULL: every tenant counts as live). */
typedef struct CmdExpireOpts
{
    bool dry_run;
    bool allow_empty;
    bool verbose; /* every snapshot with its verdict, also without dry_run */
    const char *const *tenants;
    size_t n_tenants;
} CmdExpireOpts;
bool cmd_expire_with(CmdContext *ctx, Repo *repo, const TenantList *live, RetentionState *st,
                     const CmdExpireOpts *o, json_t *out, Error *err);

/* The end of a pin (pin.c): --until DATE or --for DURATION (from now) as
 * RFC 3339 into out; ERR_USAGE for both, bad forms, or a date past. */
bool cmd_pin_until(const char *until, const char *dur, char out[32], Error *err);

/* coffer run's prune (prune.c): when the last one is older than
 * run.prune_every. It drops *lock (prune takes an exclusive one) and takes
 * a solo "run" lock again; adds "prune" to out. */
typedef struct RepoLock RepoLock;
bool cmd_prune_due(CmdContext *ctx, Repo *repo, RetentionState *st, RepoLock **lock, json_t *out,
                   Error *err);

/* coffer check --nagios (status.c): the Nagios plugin line, with its state
 * in ctx->exit_status. check_problem: why the repository check failed, or
 * NULL. */
typedef struct CmdNagiosLimits
{
    int stale_warning;   /* this many stale tenants: WARNING (default 1) */
    int stale_critical;  /* CRITICAL (default 5) */
    int failed_critical; /* tenants whose last drill failed: CRITICAL (default 1) */
} CmdNagiosLimits;
bool cmd_status_nagios(CmdContext *ctx, Repo *repo, const char *check_problem,
                       const CmdNagiosLimits *lim);

/* Restore drills (verify.c): the verdicts printed, or added to out as
 * "verify" (out NULL: printed only, unless --json); and coffer run's
 * drills of the classes with verify: { every, sample } that are due
 * (dry_run: only counted in *drilled). */
typedef struct VerifyResult VerifyResult;
void cmd_verify_print(const CmdContext *ctx, const VerifyResult *r, json_t *out);
bool cmd_verify_due(CmdContext *ctx, Repo *repo, const TenantList *list, RetentionState *st,
                    bool dry_run, json_t *out, size_t *drilled, Error *err);

/* ---- run functions: parse, plan, call an engine, print ------------------ */

bool cmd_tenants(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_config_check(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_init(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_check(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_unlock(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_copy(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_backup(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_restore(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_list(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_info(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_forget(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_prune(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_expire(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_run(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_schedule(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_pin(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_unpin(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_verify(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_status(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_repair_index(CmdContext *ctx, int argc, char **argv, Error *err);
bool cmd_repair_snapshots(CmdContext *ctx, int argc, char **argv, Error *err);

#endif
