/*
 * tenants.c - "coffer tenants": list what the configuration discovers, as a
 * table for people or a JSON array for scripts.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "command/command.h"
#include "common/fmt.h"
#include "common/mem.h"
#include "config/config.h"
#include "tenancy/tenancy.h"

static json_t *tenants_json(const Config *cfg, const TenantList *list)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < list->count; i++)
    {
        const Tenant *t = &list->items[i];
        json_t *o = json_object();

        json_object_set_new(o, "name", json_string(t->name));
        json_object_set_new(o, "class", json_string(t->class));
        json_object_set_new(o, "model", json_string(config_model_name(cfg->model)));
        json_object_set_new(o, "database", json_string(t->database));
        json_object_set_new(o, "schema", t->schema ? json_string(t->schema) : json_null());
        json_object_set_new(o, "tables", t->tables >= 0 ? json_integer(t->tables) : json_null());
        json_object_set_new(o, "bytes", t->bytes >= 0 ? json_integer(t->bytes) : json_null());
        json_object_set_new(o, "shared", json_boolean(t->shared));
        json_array_append_new(arr, o);
    }
    return arr;
}

static void tenants_print_row(const Tenant *t, int wname, int wclass, int wdb, int wschema)
{
    char name[256], class[128], db[256], schema[256], size[32];

    fmt_printable(t->name, name, sizeof(name));
    fmt_printable(t->class, class, sizeof(class));
    fmt_printable(t->database, db, sizeof(db));
    fmt_printable(t->schema ? t->schema : "-", schema, sizeof(schema));
    if (t->bytes >= 0)
        fmt_bytes((uint64_t)t->bytes, size, sizeof(size));
    else
        snprintf(size, sizeof(size), "?");
    if (t->tables >= 0)
        printf("%-*s  %-*s  %-*s  %-*s  %6lld  %10s\n", wname, name, wclass, class, wdb, db,
               wschema, schema, (long long)t->tables, size);
    else
        printf("%-*s  %-*s  %-*s  %-*s  %6s  %10s\n", wname, name, wclass, class, wdb, db, wschema,
               schema, "?", size);
}

static int tenants_width(int current, const char *s)
{
    int n = s ? (int)strlen(s) : 1;

    return n > current ? (n > 40 ? 40 : n) : current;
}

static void tenants_print(const TenantList *list)
{
    int wname = 6, wclass = 5, wdb = 8, wschema = 6;
    size_t ntenants = 0, nshared = 0;

    for (size_t i = 0; i < list->count; i++)
    {
        const Tenant *t = &list->items[i];

        wname = tenants_width(wname, t->name);
        wclass = tenants_width(wclass, t->class);
        wdb = tenants_width(wdb, t->database);
        wschema = tenants_width(wschema, t->schema);
        if (t->shared)
            nshared++;
        else
            ntenants++;
    }
    printf("%-*s  %-*s  %-*s  %-*s  %6s  %10s\n", wname, "TENANT", wclass, "CLASS", wdb, "DATABASE",
           wschema, "SCHEMA", "TABLES", "SIZE");
    for (size_t i = 0; i < list->count; i++)
        if (!list->items[i].shared)
            tenants_print_row(&list->items[i], wname, wclass, wdb, wschema);
    if (nshared > 0)
    {
        printf("\nshared:\n");
        for (size_t i = 0; i < list->count; i++)
            if (list->items[i].shared)
                tenants_print_row(&list->items[i], wname, wclass, wdb, wschema);
    }
    printf("\n%zu tenant%s, %zu shared\n", ntenants, ntenants == 1 ? "" : "s", nshared);
}

bool cmd_tenants(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {CMD_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    TenantList list;
    bool exit_now;
    Config *cfg;
    int first;

    first = cmd_parse(ctx, "tenants", argc, argv, "", longopts, NULL, NULL, &exit_now, err);
    if (first < 0)
        return false;
    if (first < argc)
    {
        error_set(err, ERR_USAGE, "tenants: unexpected argument \"%s\"", argv[first]);
        return error_hint(err, "run \"coffer help tenants\"");
    }
    cfg = cmd_config(ctx, err);
    if (cfg == NULL || !tenancy_discover(cfg, true, &list, err))
        return false;
    if (ctx->json)
    {
        json_t *arr = tenants_json(cfg, &list);

        json_dumpf(arr, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(arr);
    }
    else
        tenants_print(&list);
    if (list.warnings > 0)
    {
        error_set(err, ERR_PARTIAL, "%zu problem%s found during discovery (see warnings above)",
                  list.warnings, list.warnings == 1 ? "" : "s");
        tenancy_list_free(&list);
        return false;
    }
    tenancy_list_free(&list);
    return true;
}
