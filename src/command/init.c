/*
 * init.c - "coffer init": create the repository named by the configuration
 * (or --repo), with the passphrase asked twice on a terminal, and print its
 * location and id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"
#include "common/log.h"
#include "common/mem.h"
#include "config/config.h"
#include "repo/repo.h"

enum
{
    INIT_OPT_ENCRYPTION = CMD_OPT_FIRST_COMMAND,
};

typedef struct InitArgs
{
    int encryption; /* -1: from the configuration */
} InitArgs;

static bool init_option(int opt, const char *arg, void *state, Error *err)
{
    InitArgs *a = state;

    switch (opt)
    {
    case INIT_OPT_ENCRYPTION:
        if (strcmp(arg, "none") == 0)
            a->encryption = 0;
        else if (strcmp(arg, "aes-256-gcm") == 0)
            a->encryption = 1;
        else
        {
            error_set(err, ERR_USAGE, "init: --encryption must be \"aes-256-gcm\" or \"none\"");
            return false;
        }
        return true;
    default:
        return false;
    }
}

bool cmd_init(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {
        {"encryption", required_argument, NULL, INIT_OPT_ENCRYPTION},
        CMD_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    InitArgs a = {-1};
    RepoInitOptions opts;
    Config *cfg = NULL;
    Storage *st;
    StorageList list;
    char path[1024];
    char *pass = NULL;
    char id[65] = "";
    bool exit_now, exists = false, enc, ok;
    int first;

    first = cmd_parse(ctx, "init", argc, argv, "", longopts, init_option, &a, &exit_now, err);
    if (first < 0)
        return false;
    if (first < argc)
        return error_set(err, ERR_USAGE, "init: unexpected argument \"%s\"", argv[first]);
    if (!cmd_repo_config(ctx, &cfg, err))
        return false;
    enc = a.encryption >= 0 ? a.encryption == 1 : cfg != NULL ? cfg->repo_encryption : true;
    memset(&opts, 0, sizeof(opts));
    opts.encryption = enc;
    opts.compression = cfg != NULL ? cfg->repo_compression : 3;
    if (cfg != NULL && cfg->repo_chunk_avg > 0)
    {
        opts.chunker.avg_size = cfg->repo_chunk_avg;
        opts.chunker.min_size = cfg->repo_chunk_avg / 4;
        opts.chunker.max_size = cfg->repo_chunk_avg * 4;
    }

    st = cmd_storage_open(ctx, cfg, true, err);
    if (st == NULL)
        return false;
    snprintf(path, sizeof(path), "%s", storage_location(st));
    /* refuse before asking for a passphrase */
    if (!storage_exists(st, "config", &exists, NULL, err))
    {
        storage_free(st);
        return false;
    }
    if (exists)
    {
        storage_free(st);
        error_set(err, ERR_FAILURE, "repository \"%s\" already exists", path);
        return error_hint(err, "use another path, or remove the old repository first");
    }
    /* a directory holding other files is most likely a mistyped path: writing
     * a repository among them would mix the two and make removing it risky */
    if (!storage_list(st, "", &list, err))
    {
        storage_free(st);
        return false;
    }
    if (list.count > 0)
    {
        error_set(err, ERR_FAILURE, "\"%s\" is not empty and is not a coffer repository", path);
        error_detail(err, "it holds \"%s\"%s", list.items[0].key,
                     list.count > 1 ? " and other files" : "");
        storage_list_free(&list);
        storage_free(st);
        return error_hint(err, "choose an empty or new directory (or S3 prefix) for the "
                               "repository");
    }
    storage_list_free(&list);
    if (enc)
    {
        pass = cmd_passphrase_read(cfg != NULL ? cfg->repo_passphrase_file : NULL, true, err);
        if (pass == NULL)
        {
            storage_free(st);
            return false;
        }
    }
    ok = repo_init(st, pass, &opts, err);
    if (pass != NULL)
    {
        mem_wipe(pass, strlen(pass));
        free(pass);
    }
    if (ok)
        ok = repo_probe(st, &enc, id, err);
    storage_free(st);
    if (!ok)
        return false;
    if (!enc)
        log_warning("repository \"%s\" is not encrypted (encryption: none)", path);
    if (ctx->json)
    {
        json_t *o = json_pack("{s:s, s:s, s:s}", "location", path, "id", id, "encryption",
                              enc ? "aes-256-gcm" : "none");
        char *text = json_dumps(o, JSON_INDENT(2));

        printf("%s\n", text);
        free(text);
        json_decref(o);
    }
    else
        printf("created repository \"%s\" (id %.16s, encryption %s)\n", path, id,
               enc ? "aes-256-gcm" : "none");
    return true;
}
