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

/* The snapshot with only tenant's part read, typed; NULL when it holds
 * none or the part cannot be read. */
static Manifest *list_tenant_part(Repo *repo, json_t *header, const char *tenant)
{
    ManifestSelect sel = {&tenant, 1};
    json_t *doc;
    Manifest *m;
    Error e;

    if (!manifest_holds(repo, header, tenant))
        return NULL;
    error_clear(&e);
    doc = manifest_assemble(repo, header, &sel, &e);
    m = doc ? manifest_parse(doc, &e) : NULL;
    json_decref(doc);
    return m;
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

/* --repo PATH alone needs no configuration, as for check and prune. */
static Repo *list_open(CmdContext *ctx, Error *err)
{
    Config *cfg;

    if (!cmd_repo_config(ctx, &cfg, err))
        return NULL;
    return cmd_repo_open(ctx, cfg, 0, err);
}

static void list_tags(const Manifest *m, char *out, size_t len)
{
    char tag[128];
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < m->n_tags; i++)
    {
        fmt_printable(m->tags[i], tag, sizeof(tag));
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", i ? "," : "", tag);
    }
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
    json_t *snaps, *out, *s, *unreadable = NULL;
    size_t i, shown = 0;

    if (cmd_parse(ctx, "list", argc, argv, "", longopts, list_option, &a, &exit_now, err) < 0)
        return false;
    repo = list_open(ctx, err);
    if (repo == NULL)
        return false;
    /* a damaged snapshot is named in a warning, the others are still listed */
    snaps = repo_snapshot_list_readable(repo, &unreadable, err);
    if (snaps == NULL)
    {
        repo_close(repo);
        return false;
    }
    repo_snapshot_warn_unreadable(unreadable);
    json_decref(unreadable);
    out = json_array();
    if (!ctx->json)
        printf("%-12s  %-20s  %-16s  %7s  %7s  %10s  %10s\n", "ID", "TIME", "TAGS", "TENANTS",
               "TABLES", "SIZE", "ADDED");
    json_array_foreach (snaps, i, s)
    {
        Manifest *h = manifest_header(s, err);
        Manifest *part = a.tenant && h ? list_tenant_part(repo, s, a.tenant) : NULL;
        const ManTenant *u = part ? manifest_find_tenant(part, a.tenant, false) : NULL;
        json_t *row;
        char tags[128], size[32], added[32];

        if (h == NULL)
            break;
        if (a.tenant != NULL && u == NULL)
        {
            manifest_free(part);
            manifest_free(h);
            continue;
        }
        shown++;
        row = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I}", "id", h->id, "time", h->time,
                        "tags", json_array(), "tenants", (json_int_t)h->stats.tenants, "tables",
                        (json_int_t)h->stats.tables, "bytes", (json_int_t)h->stats.bytes_read,
                        "bytes_added", (json_int_t)h->stats.bytes_added);
        for (size_t k = 0; k < h->n_tags; k++)
            json_array_append_new(json_object_get(row, "tags"), json_string(h->tags[k]));
        json_object_set_new(row, "pin_until",
                            h->pin_until ? json_string(h->pin_until) : json_null());
        if (u != NULL)
            json_object_set_new(row, "tenant",
                                json_pack("{s:s, s:I, s:I, s:I}", "name", a.tenant, "tables",
                                          (json_int_t)u->n_tables, "rows", (json_int_t)u->rows,
                                          "bytes", (json_int_t)u->bytes));
        json_array_append_new(out, row);
        if (!ctx->json)
        {
            list_tags(h, tags, sizeof(tags));
            fmt_bytes(u ? u->bytes : h->stats.bytes_read, size, sizeof(size));
            fmt_bytes(h->stats.bytes_added, added, sizeof(added));
            printf("%-12.12s  %-19.19sZ  %-16.16s  %7llu  %7llu  %10s  %10s\n", h->id, h->time, tags,
                   u ? 1ULL : (unsigned long long)h->stats.tenants,
                   (unsigned long long)(u ? u->n_tables : h->stats.tables), size, added);
        }
        manifest_free(part);
        manifest_free(h);
    }
    repo_close(repo);
    if (error_is_set(err))
    {
        json_decref(out);
        json_decref(snaps);
        return false;
    }
    if (ctx->json)
    {
        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    }
    else
    {
        char name[256];

        fmt_printable(a.tenant ? a.tenant : "", name, sizeof(name));
        printf("\n%zu snapshot%s%s%s\n", shown, shown == 1 ? "" : "s",
               a.tenant ? " holding tenant " : "", name);
    }
    json_decref(out);
    json_decref(snaps);
    return true;
}

/* The human form of info: the header, then each tenant (with --tenant,
 * its tables). */
static void info_print(const Manifest *m, const char *tenant)
{
    char size[32], added[32], b[32], name[256], text[1024], cls[256];

    fmt_bytes(m->stats.bytes_read, size, sizeof(size));
    fmt_bytes(m->stats.bytes_added, added, sizeof(added));
    printf("snapshot %s\n", m->id);
    printf("  time      %s (%.1fs)\n", m->time, m->stats.seconds);
    fmt_printable(m->host, text, sizeof(text));
    printf("  host      %s, PostgreSQL %s, %s model\n", text, m->server_version, m->model);
    printf("  contents  %llu tenants, %llu tables, %llu rows, %s (%s added)\n",
           (unsigned long long)m->stats.tenants, (unsigned long long)m->stats.tables,
           (unsigned long long)m->stats.rows, size, added);
    if (m->n_failed > 0)
        printf("  failed:\n");
    for (size_t i = 0; i < m->n_failed; i++)
    {
        fmt_printable(m->failed[i].name, name, sizeof(name));
        fmt_printable(m->failed[i].error, text, sizeof(text));
        printf("    %s: %s\n", name, text);
    }
    printf("\n");
    for (size_t i = 0; i < m->n_tenants; i++)
    {
        const ManTenant *u = &m->tenants[i];

        if (tenant != NULL && (u->shared || strcmp(u->name, tenant) != 0))
            continue;
        fmt_printable(u->name, name, sizeof(name));
        fmt_printable(u->class, cls, sizeof(cls));
        fmt_bytes(u->bytes, b, sizeof(b));
        printf("%-32s %-8s %4zu tables %10llu rows %10s%s\n", name, cls, u->n_tables,
               (unsigned long long)u->rows, b, u->shared ? "  (shared)" : "");
        for (size_t k = 0; tenant != NULL && k < u->n_tables; k++)
        {
            fmt_printable(u->tables[k].name, name, sizeof(name));
            fmt_bytes(u->tables[k].data.bytes, b, sizeof(b));
            printf("    %-40s %10llu rows %10s\n", name, (unsigned long long)u->tables[k].rows, b);
        }
    }
}

bool cmd_info(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {
        {"tenant", required_argument, NULL, OPT_TENANT}, CMD_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    ListArgs a = {NULL};
    bool exit_now, ok = false;
    Repo *repo;
    json_t *snap;
    Manifest *m = NULL;
    const ManTenant *u = NULL;
    int first;

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
    m = snap ? manifest_parse(snap, err) : NULL;
    if (m == NULL)
        goto out;
    for (size_t i = 0; i < m->n_unreadable; i++)
        log_warning("%s", m->unreadable[i].error);
    u = a.tenant ? manifest_find_tenant(m, a.tenant, false) : NULL;
    if (a.tenant != NULL && u == NULL)
    {
        error_set(err, ERR_FAILURE, "unknown tenant \"%s\" in snapshot %.12s", a.tenant, m->id);
        error_hint(err, "run \"coffer info %s\" to list its tenants", argv[first]);
        goto out;
    }
    if (ctx->json)
    {
        json_t *doc = manifest_to_json(m);
        json_t *out = list_strip(u ? json_array_get(json_object_get(doc, "tenants"),
                                                    (size_t)(u - m->tenants))
                                   : doc);

        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(out);
        json_decref(doc);
    }
    else
        info_print(m, a.tenant);
    ok = true;
out:
    manifest_free(m);
    json_decref(snap);
    return ok;
}
