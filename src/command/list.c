/*
 * list.c - "coffer list" and "coffer info": what the repository holds.
 *
 * Both read snapshots (manifests) only; no pack is opened.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "command/command.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "config/config.h"
#include "manifest/manifest.h"
#include "repo/repo.h"

enum
{
    OPT_TENANT = CMD_OPT_FIRST_COMMAND,
};

typedef struct ListArgs
{
    const char *tenant;
} ListArgs;

static bool list_option(int opt, const char *arg, void *state, Error *err)
{
    (void)err;
    if (opt != OPT_TENANT)
        return false;
    ((ListArgs *)state)->tenant = arg;
    return true;
}

static const char *list_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static json_int_t list_int(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static json_t *list_find_tenant(json_t *snap, const char *name)
{
    json_t *u;
    size_t i;

    json_array_foreach (json_object_get(snap, "tenants"), i, u)
        if (!json_is_true(json_object_get(u, "shared")) && strcmp(list_str(u, "name"), name) == 0)
            return u;
    return NULL;
}

/* The snapshot with only tenant's part read, or NULL when it holds none. */
static json_t *list_tenant_part(Repo *repo, json_t *header, const char *tenant)
{
    ManifestSelect sel = {&tenant, 1};
    Error e;

    if (!manifest_holds(repo, header, tenant))
        return NULL;
    error_clear(&e);
    return manifest_assemble(repo, header, &sel, &e);
}

/* Removes every "chunks" member (long lists of ids) from a copy, keeping a count. */
static json_t *list_strip(json_t *v)
{
    json_t *out;

    if (json_is_object(v))
    {
        const char *key;
        json_t *val;

        out = json_object();
        json_object_foreach (v, key, val)
        {
            if (strcmp(key, "chunks") == 0)
                json_object_set_new(out, "chunk_count",
                                    json_integer((json_int_t)json_array_size(val)));
            else
                json_object_set_new(out, key, list_strip(val));
        }
        return out;
    }
    if (json_is_array(v))
    {
        size_t i;
        json_t *val;

        out = json_array();
        json_array_foreach (v, i, val)
            json_array_append_new(out, list_strip(val));
        return out;
    }
    return json_incref(v);
}

static Repo *list_open(CmdContext *ctx, Error *err)
{
    if (cmd_config(ctx, err) == NULL)
        return NULL;
    return cmd_repo_open(ctx->config, NULL, 0, err);
}

static void list_tags(json_t *snap, char *out, size_t len)
{
    json_t *t;
    size_t i, n = 0;

    out[0] = '\0';
    json_array_foreach (json_object_get(snap, "tags"), i, t)
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", i ? "," : "",
                              json_string_value(t));
    if (out[0] == '\0')
        snprintf(out, len, "-");
}

bool cmd_list(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {
        {"tenant", required_argument, NULL, OPT_TENANT}, CMD_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    ListArgs a = {NULL};
    bool exit_now;
    Repo *repo;
    json_t *snaps, *out, *s;
    size_t i, shown = 0;

    if (cmd_parse(ctx, "list", argc, argv, "", longopts, list_option, &a, &exit_now, err) < 0)
        return false;
    repo = list_open(ctx, err);
    if (repo == NULL)
        return false;
    snaps = repo_snapshot_list(repo, err);
    if (snaps == NULL)
    {
        repo_close(repo);
        return false;
    }
    out = json_array();
    if (!ctx->json)
        printf("%-12s  %-20s  %-16s  %7s  %7s  %10s  %10s\n", "ID", "TIME", "TAGS", "TENANTS",
               "TABLES", "SIZE", "ADDED");
    json_array_foreach (snaps, i, s)
    {
        json_t *st = json_object_get(s, "stats");
        json_t *part = a.tenant ? list_tenant_part(repo, s, a.tenant) : NULL;
        json_t *u = part ? list_find_tenant(part, a.tenant) : NULL;
        json_t *row;
        char tags[128], size[32], added[32];

        if (a.tenant != NULL && u == NULL)
        {
            json_decref(part);
            continue;
        }
        shown++;
        row = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O}", "id", list_str(s, "id"), "time",
                        list_str(s, "time"), "tags", json_object_get(s, "tags"), "tenants",
                        json_object_get(st, "tenants"), "tables", json_object_get(st, "tables"),
                        "bytes", json_object_get(st, "bytes_read"), "bytes_added",
                        json_object_get(st, "bytes_added"));
        if (u != NULL)
            json_object_set_new(row, "tenant",
                                json_pack("{s:s, s:I, s:I, s:I}", "name", a.tenant, "tables",
                                          (json_int_t)json_array_size(json_object_get(u, "tables")),
                                          "rows", list_int(u, "rows"), "bytes",
                                          list_int(u, "bytes")));
        json_array_append_new(out, row);
        if (ctx->json)
        {
            json_decref(part);
            continue;
        }
        list_tags(s, tags, sizeof(tags));
        fmt_bytes((uint64_t)(u ? list_int(u, "bytes") : list_int(st, "bytes_read")), size,
                  sizeof(size));
        fmt_bytes((uint64_t)list_int(st, "bytes_added"), added, sizeof(added));
        printf("%-12.12s  %-19.19sZ  %-16.16s  %7lld  %7lld  %10s  %10s\n", list_str(s, "id"),
               list_str(s, "time"), tags, u ? 1LL : (long long)list_int(st, "tenants"),
               u ? (long long)json_array_size(json_object_get(u, "tables"))
                 : (long long)list_int(st, "tables"),
               size, added);
        json_decref(part);
    }
    repo_close(repo);
    if (ctx->json)
    {
        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    }
    else
        printf("\n%zu snapshot%s%s%s\n", shown, shown == 1 ? "" : "s",
               a.tenant ? " holding tenant " : "", a.tenant ? a.tenant : "");
    json_decref(out);
    json_decref(snaps);
    return true;
}

bool cmd_info(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {
        {"tenant", required_argument, NULL, OPT_TENANT}, CMD_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    ListArgs a = {NULL};
    bool exit_now;
    Repo *repo;
    json_t *snap, *st, *u;
    int first;
    size_t i;
    char size[32], added[32];

    first = cmd_parse(ctx, "info", argc, argv, "", longopts, list_option, &a, &exit_now, err);
    if (first < 0)
        return false;
    if (first >= argc)
    {
        error_set(err, ERR_USAGE, "info: name a snapshot id (or \"latest\")");
        return error_hint(err, "run \"coffer list\" to see the snapshots");
    }
    repo = list_open(ctx, err);
    if (repo == NULL)
        return false;
    snap = manifest_load(repo, argv[first], NULL, err);
    repo_close(repo);
    if (snap == NULL)
        return false;
    {
        json_t *bad;

        json_array_foreach (json_object_get(snap, "unreadable"), i, bad)
            log_warning("%s", list_str(bad, "error"));
    }
    if (a.tenant != NULL && list_find_tenant(snap, a.tenant) == NULL)
    {
        error_set(err, ERR_FAILURE, "unknown tenant \"%s\" in snapshot %.12s", a.tenant,
                  list_str(snap, "id"));
        json_decref(snap);
        return error_hint(err, "run \"coffer info %s\" to list its tenants", argv[first]);
    }
    if (ctx->json)
    {
        json_t *out = list_strip(a.tenant ? list_find_tenant(snap, a.tenant) : snap);

        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(out);
        json_decref(snap);
        return true;
    }
    st = json_object_get(snap, "stats");
    fmt_bytes((uint64_t)list_int(st, "bytes_read"), size, sizeof(size));
    fmt_bytes((uint64_t)list_int(st, "bytes_added"), added, sizeof(added));
    printf("snapshot %s\n", list_str(snap, "id"));
    printf("  time      %s (%.1fs)\n", list_str(snap, "time"),
           json_real_value(json_object_get(st, "seconds")));
    printf("  host      %s, PostgreSQL %s, %s model\n", list_str(snap, "host"),
           list_str(snap, "server_version"), list_str(snap, "model"));
    printf("  contents  %lld tenants, %lld tables, %lld rows, %s (%s added)\n",
           (long long)list_int(st, "tenants"), (long long)list_int(st, "tables"),
           (long long)list_int(st, "rows"), size, added);
    if (json_array_size(json_object_get(snap, "failed")) > 0)
    {
        json_t *f;

        printf("  failed:\n");
        json_array_foreach (json_object_get(snap, "failed"), i, f)
            printf("    %s: %s\n", list_str(f, "name"), list_str(f, "error"));
    }
    printf("\n");
    json_array_foreach (json_object_get(snap, "tenants"), i, u)
    {
        char name[256], b[32];

        if (a.tenant != NULL &&
            (json_is_true(json_object_get(u, "shared")) || strcmp(list_str(u, "name"), a.tenant)))
            continue;
        fmt_printable(list_str(u, "name"), name, sizeof(name));
        fmt_bytes((uint64_t)list_int(u, "bytes"), b, sizeof(b));
        printf("%-32s %-8s %4zu tables %10lld rows %10s%s\n", name, list_str(u, "class"),
               json_array_size(json_object_get(u, "tables")), (long long)list_int(u, "rows"), b,
               json_is_true(json_object_get(u, "shared")) ? "  (shared)" : "");
        if (a.tenant != NULL)
        {
            json_t *t;
            size_t k;

            json_array_foreach (json_object_get(u, "tables"), k, t)
            {
                char tn[256];

                fmt_printable(list_str(t, "name"), tn, sizeof(tn));
                fmt_bytes((uint64_t)list_int(t, "bytes"), b, sizeof(b));
                printf("    %-40s %10lld rows %10s\n", tn, (long long)list_int(t, "rows"), b);
            }
        }
    }
    json_decref(snap);
    return true;
}
