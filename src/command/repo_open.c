/*
 * repo_open.c - which repository a command works on and with which
 * passphrase: --repo or the configuration's repository.path, and the
 * passphrase only when the repository turns out to be encrypted. The
 * repository module itself knows neither the configuration nor terminals.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "command/command.h"
#include "common/mem.h"
#include "config/config.h"
#include "repo/repo.h"

bool cmd_repo_config(CmdContext *ctx, const char *repo_override, Config **cfg, Error *err)
{
    struct stat sb;

    *cfg = NULL;
    /* --repo alone needs no configuration file, unless one was named or
     * the default one exists (it may hold repository.passphrase_file) */
    if (repo_override != NULL && ctx->config_path == NULL && getenv("COFFER_CONFIG") == NULL &&
        stat(CONFIG_DEFAULT_PATH, &sb) != 0)
        return true;
    *cfg = cmd_config(ctx, err);
    return *cfg != NULL;
}

Repo *cmd_repo_open(const Config *cfg, const char *override_path, unsigned flags, Error *err)
{
    const char *path = override_path != NULL ? override_path : cfg != NULL ? cfg->repo_path : NULL;
    Storage *st;
    Repo *repo;
    char *pass = NULL;
    bool encrypted = false;

    if (path == NULL || path[0] == '\0')
    {
        error_set(err, ERR_USAGE, "no repository given");
        error_hint(err, "set repository.path in coffer.yaml or pass --repo PATH");
        return NULL;
    }
    st = storage_open(path, false, err);
    if (st == NULL)
        return NULL;
    /* a passphrase is asked for only when the repository needs one */
    if (!repo_probe(st, &encrypted, NULL, err))
    {
        storage_free(st);
        return NULL;
    }
    if (encrypted)
    {
        pass = cmd_passphrase_read(cfg != NULL ? cfg->repo_passphrase_file : NULL, false, err);
        if (pass == NULL)
        {
            storage_free(st);
            return NULL;
        }
    }
    repo = repo_open_ex(st, pass, flags, err);
    if (pass != NULL)
    {
        mem_wipe(pass, strlen(pass));
        free(pass);
    }
    return repo;
}
