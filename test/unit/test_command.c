/*
 * test_command.c - unit tests for the command layer's shared pieces: where
 * the passphrase comes from, how a command finds and opens its repository,
 * and the options every command accepts.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command/command.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "repo/repo.h"
#include "storage/storage.h"
#include "tap.h"

static char root[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_passphrase(void)
{
    char *file = xasprintf("%s/pass", root);
    Error err;
    char *p;
    FILE *f;

    unsetenv("COFFER_PASSPHRASE");
    f = fopen(file, "w");
    if (f != NULL)
    {
        fputs("secret from file\n", f);
        fclose(f);
    }
    chmod(file, 0644);
    error_clear(&err);
    p = cmd_passphrase_read(file, false, &err);
    ok(p == NULL, "a world-readable passphrase file is refused");
    like(err.message, "accessible by group or others", "permission error is clear");
    like(err.hint, "chmod 600", "hint to chmod 600");
    chmod(file, 0600);
    p = cmd_passphrase_read(file, false, &err);
    is_str(p, "secret from file", "passphrase read from file, newline dropped");
    free(p);
    setenv("COFFER_PASSPHRASE", "from env", 1);
    p = cmd_passphrase_read(file, false, &err);
    is_str(p, "from env", "COFFER_PASSPHRASE comes first");
    free(p);
    unsetenv("COFFER_PASSPHRASE");
    free(file);
}

static void test_repo_open(void)
{
    char *dir = xasprintf("%s/plain", root);
    RepoInitOptions o;
    CmdContext ctx = {0};
    Storage *st;
    Repo *repo;
    Error err;

    error_clear(&err);
    repo = cmd_repo_open(&ctx, NULL, 0, &err);
    ok(repo == NULL, "no repository path fails");
    is_int(err.code, ERR_USAGE, "a missing path is a usage error");
    is_str(err.message, "no repository given", "missing path message");
    like(err.hint, "--repo PATH", "hint names --repo");

    /* an unencrypted repository opens without asking for a passphrase */
    memset(&o, 0, sizeof(o));
    o.encryption = false;
    st = storage_open(dir, true, &err);
    ok(st != NULL && repo_init(st, NULL, &o, &err), "create an unencrypted repository");
    storage_free(st);
    unsetenv("COFFER_PASSPHRASE");
    error_clear(&err);
    ctx.repo = dir;
    repo = cmd_repo_open(&ctx, NULL, 0, &err);
    ok(repo != NULL, "--repo opens it with no configuration and no passphrase");
    ok(repo != NULL && !repo_encrypted(repo), "it is the unencrypted repository");
    repo_close(repo);
    free(dir);
}

static void test_parse(void)
{
    static const struct option longopts[] = {CMD_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    char *argv_help[] = {"list", "--help", NULL};
    char *argv_json[] = {"list", "--json", "--yes", "extra", NULL};
    char *argv_bad[] = {"list", "--bogus", NULL};
    CmdContext ctx = {0};
    bool exit_now;
    Error err;
    int first;

    error_clear(&err);
    first = cmd_parse(&ctx, "list", 2, argv_help, "", longopts, NULL, NULL, &exit_now, &err);
    ok(first < 0 && exit_now && !error_is_set(&err), "--help stops the command without an error");
    is_str(ctx.help, "list", "--help records which command's help is wanted");

    memset(&ctx, 0, sizeof(ctx));
    first = cmd_parse(&ctx, "list", 4, argv_json, "", longopts, NULL, NULL, &exit_now, &err);
    is_int(first, 3, "the first positional argument follows the options");
    ok(ctx.json && ctx.yes && ctx.help == NULL, "--json and --yes set the context");

    first = cmd_parse(&ctx, "list", 2, argv_bad, "", longopts, NULL, NULL, &exit_now, &err);
    ok(first < 0 && err.code == ERR_USAGE, "an unknown option is a usage error");
    like(err.message, "unknown option \"--bogus\"", "the unknown option is named");
    cmd_context_free(&ctx);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(root, sizeof(root), "%s/coffer-test-command-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL)
    {
        perror("mkdtemp");
        return 1;
    }
    log_set_level(LOG_ERROR);
    test_passphrase();
    test_repo_open();
    test_parse();
    rm_rf(root);
    return tap_done();
}
