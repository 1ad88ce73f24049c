/*
 * repo_open.c - which repository a command works on and with which
 * passphrase: --repo NAME or PATH, or the configuration's first repository,
 * on a directory or in an S3 bucket; the passphrase only when the
 * repository turns out to be encrypted. The repository module itself knows
 * neither the configuration nor terminals.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "command/command.h"
#include "common/mem.h"
#include "config/config.h"
#include "repo/repo.h"

/* --repo names a directory rather than a configured repository. */
static bool repo_arg_is_path(const Config *cfg, const char *arg)
{
    struct stat sb;

    if (cfg != NULL && config_find_repo(cfg, arg) != NULL)
        return false;
    return strchr(arg, '/') != NULL || (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) ||
           cfg == NULL;
}

bool cmd_repo_config(CmdContext *ctx, Config **cfg, Error *err)
{
    struct stat sb;

    *cfg = NULL;
    /* --repo PATH alone needs no configuration file, unless one was named
     * or the default one exists (it may hold repository.passphrase_file) */
    if (ctx->repo != NULL && strchr(ctx->repo, '/') != NULL && ctx->config_path == NULL &&
        getenv("COFFER_CONFIG") == NULL && stat(CONFIG_DEFAULT_PATH, &sb) != 0)
        return true;
    *cfg = cmd_config(ctx, err);
    return *cfg != NULL;
}

/* Builds the driver's options from the configuration's s3 section. */
static void repo_s3_options(const ConfigS3 *c, StorageS3Options *o)
{
    memset(o, 0, sizeof(*o));
    o->endpoint = c->endpoint;
    o->bucket = c->bucket;
    o->prefix = c->prefix;
    o->region = c->region;
    o->path_style = c->path_style;
    o->ca_file = c->ca_file;
    o->storage_class = c->storage_class;
    o->access_key_id = c->access_key_id;
    o->secret_access_key = c->secret_access_key;
    o->session_token = c->session_token;
    o->profile = c->profile;
    o->part_size = (uint64_t)c->part_size_mib * 1024 * 1024;
    o->timeout = c->timeout > 0 ? (unsigned)c->timeout : 0;
    o->retries = c->retries;
}

Storage *cmd_storage_open(const CmdContext *ctx, const Config *cfg, bool create, Error *err)
{
    if (ctx->repo != NULL && repo_arg_is_path(cfg, ctx->repo))
        return storage_open(ctx->repo, create, err);
    if (ctx->repo != NULL && cfg != NULL && config_find_repo(cfg, ctx->repo) == NULL)
    {
        Config *c = (Config *)cfg; /* only for the message: the selection fails */

        config_select_repo(c, ctx->repo, err);
        return NULL;
    }
    if (cfg != NULL && cfg->repo_s3 != NULL)
    {
        StorageS3Options o;

        repo_s3_options(cfg->repo_s3, &o);
        return storage_open_s3(&o, err);
    }
    if (cfg == NULL || cfg->repo_path == NULL || cfg->repo_path[0] == '\0')
    {
        error_set(err, ERR_USAGE, "no repository given");
        error_hint(err, "set repository.path (or repository.s3) in coffer.yaml, or pass --repo "
                        "PATH");
        return NULL;
    }
    return storage_open(cfg->repo_path, create, err);
}

Repo *cmd_repo_open(const CmdContext *ctx, const Config *cfg, unsigned flags, Error *err)
{
    Storage *st = cmd_storage_open(ctx, cfg, false, err);
    Repo *repo;
    char *pass = NULL;
    bool encrypted = false;

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
    if (repo != NULL && cfg != NULL && cfg->repo_lock_stale > 0)
        repo_set_lock_stale(repo, (unsigned)cfg->repo_lock_stale);
    if (pass != NULL)
    {
        mem_wipe(pass, strlen(pass));
        free(pass);
    }
    return repo;
}

Repo *cmd_repo_open_named(CmdContext *ctx, const char *name, unsigned flags, Error *err)
{
    const char *saved = ctx->repo;
    Config *cfg = NULL;
    Repo *repo = NULL;

    ctx->repo = name;
    if (cmd_repo_config(ctx, &cfg, err) &&
        (cfg == NULL || config_find_repo(cfg, name) == NULL ||
         config_select_repo(cfg, name, err)))
        repo = cmd_repo_open(ctx, cfg, flags, err);
    ctx->repo = saved;
    return repo;
}
