/*
 * config_check.c - "coffer config check": load and validate coffer.yaml.
 */
#include <jansson.h>
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
    if (ctx->json)
    {
        json_t *shared = json_array(), *classes = json_array(), *o;

        for (size_t i = 0; i < cfg->n_shared; i++)
            json_array_append_new(shared, json_string(cfg->shared[i]));
        for (size_t i = 0; i < cfg->n_classes; i++)
            json_array_append_new(classes, json_string(cfg->classes[i].name));
        o = json_pack("{s:s, s:b, s:s, s:o, s:o}", "path", cfg->path, "valid", 1, "model",
                      config_model_name(cfg->model), "shared", shared, "classes", classes);
        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
    }
    else
        printf("configuration \"%s\" is valid: model %s, %zu shared, %zu classes\n", cfg->path,
               config_model_name(cfg->model), cfg->n_shared, cfg->n_classes);
    return true;
}
