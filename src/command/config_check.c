/*
 * config_check.c - "coffer config check": load and validate coffer.yaml.
 */
#include <stdio.h>

#include "command/command.h"
#include "config/config.h"

bool cmd_config_check(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {CMD_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    bool exit_now;
    Config *cfg;

    if (cmd_parse(ctx, "config check", argc, argv, "", longopts, NULL, NULL, &exit_now, err) < 0)
        return false;
    cfg = cmd_config(ctx, err);
    if (cfg == NULL)
        return false;
    printf("configuration \"%s\" is valid: model %s, %zu shared, %zu classes\n", cfg->path,
           config_model_name(cfg->model), cfg->n_shared, cfg->n_classes);
    return true;
}
