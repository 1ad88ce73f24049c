/*
 * config.c - loading and validating coffer.yaml with libyaml.
 *
 * The YAML document is walked section by section against the keys each
 * section knows; anything else is an error naming the file, line and key.
 */
#include "config/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/mem.h"

typedef struct ConfigWalk
{
    const char *name; /* file name for messages */
    yaml_document_t *doc;
    Config *cfg;
    Error *err;
} ConfigWalk;

static bool config_fail(ConfigWalk *w, yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool config_fail(ConfigWalk *w, yaml_node_t *node, const char *key, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    error_set(w->err, ERR_USAGE, "configuration \"%s\" line %lu: key \"%s\": %s", w->name,
              node ? (unsigned long)node->start_mark.line + 1 : 0UL, key, what);
    return error_hint(w->err, "fix the file, then run \"coffer config check\"");
}

static const char *config_scalar(yaml_node_t *node)
{
    return node != NULL && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value
                                                          : NULL;
}

/* A plain null ("~", "null", empty) scalar. */
static bool config_is_null(yaml_node_t *node)
{
    const char *s = config_scalar(node);

    return s != NULL && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

static bool config_string(ConfigWalk *w, yaml_node_t *node, const char *key, char **out)
{
    const char *s = config_scalar(node);

    if (s == NULL)
        return config_fail(w, node, key, "must be a string");
    free(*out);
    *out = xstrdup(s);
    return true;
}

static bool config_int(ConfigWalk *w, yaml_node_t *node, const char *key, long min, long max,
                       int *out)
{
    const char *s = config_scalar(node);
    char *end = NULL;
    long v;

    if (s == NULL)
        return config_fail(w, node, key, "must be a number");
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return config_fail(w, node, key, "must be a whole number from %ld to %ld", min, max);
    *out = (int)v;
    return true;
}

static bool config_string_list(ConfigWalk *w, yaml_node_t *node, const char *key, char ***out,
                               size_t *count)
{
    yaml_node_item_t *it;

    if (node->type == YAML_SCALAR_NODE && !config_is_null(node))
    {
        *out = xrealloc(*out, sizeof(char *) * (*count + 1));
        (*out)[(*count)++] = xstrdup(config_scalar(node));
        return true;
    }
    if (config_is_null(node))
        return true;
    if (node->type != YAML_SEQUENCE_NODE)
        return config_fail(w, node, key, "must be a list of names");
    for (it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++)
    {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        const char *s = config_scalar(item);

        if (s == NULL || s[0] == '\0')
            return config_fail(w, item, key, "each entry must be a non-empty name");
        *out = xrealloc(*out, sizeof(char *) * (*count + 1));
        (*out)[(*count)++] = xstrdup(s);
    }
    return true;
}

/* Calls visit(w, keyname, value) for each pair of a mapping, or fails when
 * node is not a mapping. A null node is an empty mapping. */
typedef bool (*ConfigVisit)(ConfigWalk *w, const char *section, const char *key,
                            yaml_node_t *keynode, yaml_node_t *value);

static bool config_mapping(ConfigWalk *w, yaml_node_t *node, const char *section, ConfigVisit visit)
{
    yaml_node_pair_t *pair;

    if (config_is_null(node))
        return true;
    if (node->type != YAML_MAPPING_NODE)
        return config_fail(w, node, section, "must be a mapping of keys to values");
    for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++)
    {
        yaml_node_t *k = yaml_document_get_node(w->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, pair->value);
        const char *name = config_scalar(k);
        char full[256];

        if (name == NULL)
            return config_fail(w, k, section, "keys must be plain names");
        snprintf(full, sizeof(full), "%s%s%s", section, section[0] ? "." : "", name);
        if (!visit(w, full, name, k, v))
            return false;
    }
    return true;
}

static bool config_unknown(ConfigWalk *w, yaml_node_t *k, const char *full, const char *known)
{
    config_fail(w, k, full, "unknown key");
    return error_detail(w->err, "known keys here: %s", known);
}

static bool config_visit_postgres(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                                  yaml_node_t *v)
{
    if (strcmp(key, "conninfo") == 0)
        return config_string(w, v, full, &w->cfg->pg_conninfo);
    if (strcmp(key, "bin_dir") == 0)
        return config_string(w, v, full, &w->cfg->pg_bindir);
    if (strcmp(key, "lock_budget") == 0)
        return config_int(w, v, full, 1, 100000000, &w->cfg->pg_lock_budget);
    if (strcmp(key, "lock_timeout") == 0)
        return config_int(w, v, full, 0, 86400, &w->cfg->pg_lock_timeout);
    return config_unknown(w, k, full, "conninfo, bin_dir, lock_budget, lock_timeout");
}

static bool config_visit_discover(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                                  yaml_node_t *v)
{
    /* the second of the two is the one to point at, on its own line */
    if ((strcmp(key, "pattern") == 0 && w->cfg->discover_query != NULL) ||
        (strcmp(key, "query") == 0 && w->cfg->discover_pattern != NULL))
        return config_fail(w, k, "tenancy.discover", "give either pattern or query, not both");
    if (strcmp(key, "pattern") == 0)
        return config_string(w, v, full, &w->cfg->discover_pattern);
    if (strcmp(key, "query") == 0)
    {
        /* an empty query would fail later with no message from the server */
        if (config_scalar(v) != NULL && config_scalar(v)[0] == '\0')
            return config_fail(w, v, full, "must not be empty");
        return config_string(w, v, full, &w->cfg->discover_query);
    }
    return config_unknown(w, k, full, "pattern, query");
}

static bool config_visit_tenancy(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                                 yaml_node_t *v)
{
    if (strcmp(key, "model") == 0)
    {
        const char *s = config_scalar(v);

        if (s != NULL && strcmp(s, "schema") == 0)
            w->cfg->model = TENANCY_SCHEMA;
        else if (s != NULL && strcmp(s, "database") == 0)
            w->cfg->model = TENANCY_DATABASE;
        else if (s != NULL && strcmp(s, "row") == 0)
            w->cfg->model = TENANCY_ROW;
        else
            return config_fail(w, v, full, "must be one of schema, database, row");
        return true;
    }
    if (strcmp(key, "shared") == 0)
        return config_string_list(w, v, full, &w->cfg->shared, &w->cfg->n_shared);
    if (strcmp(key, "column") == 0)
        return config_string(w, v, full, &w->cfg->column);
    if (strcmp(key, "discover") == 0)
        return config_mapping(w, v, full, config_visit_discover);
    return config_unknown(w, k, full, "model, shared, column, discover");
}

static bool config_visit_class_body(ConfigWalk *w, const char *full, const char *key,
                                    yaml_node_t *k, yaml_node_t *v)
{
    (void)key;
    (void)v;
    return config_unknown(w, k, full, "(none yet; use {})");
}

static bool config_visit_classes(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                                 yaml_node_t *v)
{
    (void)k;
    for (size_t i = 0; i < w->cfg->n_classes; i++)
        if (strcmp(w->cfg->classes[i], key) == 0)
            return config_fail(w, k, full, "class defined twice");
    if (!config_mapping(w, v, full, config_visit_class_body))
        return false;
    w->cfg->classes = xrealloc(w->cfg->classes, sizeof(char *) * (w->cfg->n_classes + 1));
    w->cfg->classes[w->cfg->n_classes++] = xstrdup(key);
    return true;
}

static bool config_visit_repository(ConfigWalk *w, const char *full, const char *key,
                                    yaml_node_t *k, yaml_node_t *v)
{
    if (strcmp(key, "path") == 0)
        return config_string(w, v, full, &w->cfg->repo_path);
    if (strcmp(key, "passphrase_file") == 0)
        return config_string(w, v, full, &w->cfg->repo_passphrase_file);
    if (strcmp(key, "encryption") == 0)
    {
        const char *s = config_scalar(v);

        if (s != NULL && strcmp(s, "none") == 0)
            w->cfg->repo_encryption = false;
        else if (s != NULL && strcmp(s, "aes-256-gcm") == 0)
            w->cfg->repo_encryption = true;
        else
            return config_fail(w, v, full, "must be \"aes-256-gcm\" (the default) or \"none\"");
        return true;
    }
    if (strcmp(key, "compression") == 0)
        return config_int(w, v, full, 1, 19, &w->cfg->repo_compression);
    if (strcmp(key, "chunk_size") == 0)
    {
        int kib = 0;

        if (!config_int(w, v, full, 64, 16384, &kib))
            return false;
        if ((kib & (kib - 1)) != 0)
            return config_fail(w, v, full, "must be a power of two (KiB), e.g. 512 or 1024");
        w->cfg->repo_chunk_avg = (unsigned)kib * 1024;
        return true;
    }
    if (strcmp(key, "scratch_dir") == 0)
        return config_string(w, v, full, &w->cfg->scratch_dir);
    return config_unknown(w, k, full,
                          "path, passphrase_file, encryption, compression, chunk_size, scratch_dir");
}

static bool config_visit_root(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                              yaml_node_t *v)
{
    if (strcmp(key, "postgres") == 0)
        return config_mapping(w, v, full, config_visit_postgres);
    if (strcmp(key, "tenancy") == 0)
        return config_mapping(w, v, full, config_visit_tenancy);
    if (strcmp(key, "classes") == 0)
        return config_mapping(w, v, full, config_visit_classes);
    if (strcmp(key, "repository") == 0)
        return config_mapping(w, v, full, config_visit_repository);
    return config_unknown(w, k, full, "postgres, tenancy, classes, repository");
}

/* Rules that span keys, checked after the walk. */
static bool config_validate(ConfigWalk *w, yaml_node_t *root)
{
    Config *c = w->cfg;

    if (c->discover_pattern != NULL && c->discover_query != NULL)
        return config_fail(w, root, "tenancy.discover", "give either pattern or query, not both");
    if (c->model == TENANCY_ROW)
    {
        if (c->column == NULL)
            c->column = xstrdup("tenant_id");
        if (c->discover_query == NULL)
            return config_fail(w, root, "tenancy.discover.query",
                               "the row model needs a discovery query returning a column "
                               "\"tenant\" (and optionally \"class\")");
    }
    else
    {
        if (c->column != NULL)
            return config_fail(w, root, "tenancy.column", "is only used by the row model");
        if (c->discover_pattern == NULL && c->discover_query == NULL)
            return config_fail(w, root, "tenancy.discover",
                               "is required: a LIKE pattern (e.g. \"tenant_%%\") or a query");
    }
    if (c->model != TENANCY_ROW && c->discover_pattern != NULL && c->discover_pattern[0] == '\0')
        return config_fail(w, root, "tenancy.discover.pattern", "must not be empty");
    return true;
}

Config *config_parse(const char *name, const char *text, size_t len, Error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    ConfigWalk w;
    Config *cfg = xcalloc(1, sizeof(Config));
    bool ok = false;
    bool have_model = false;

    cfg->path = xstrdup(name);
    cfg->pg_lock_timeout = 30;
    cfg->repo_encryption = true;
    cfg->repo_compression = 3;
    cfg->model = TENANCY_SCHEMA;
    w.name = name;
    w.doc = &doc;
    w.cfg = cfg;
    w.err = err;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc))
    {
        error_set(err, ERR_USAGE, "configuration \"%s\" line %lu: invalid YAML: %s", name,
                  (unsigned long)parser.problem_mark.line + 1,
                  parser.problem ? parser.problem : "parse error");
        /* an unclosed quote or bracket is found at the end of the file: name
         * the line where it was opened too */
        if (parser.context != NULL && parser.context_mark.line != parser.problem_mark.line)
            error_detail(err, "%s that starts on line %lu", parser.context,
                         (unsigned long)parser.context_mark.line + 1);
        error_hint(err, "check the indentation and quoting near that line");
        yaml_parser_delete(&parser);
        config_free(cfg);
        return NULL;
    }
    root = yaml_document_get_root_node(&doc);
    if (root == NULL)
    {
        error_set(err, ERR_USAGE, "configuration \"%s\" is empty", name);
        error_hint(err, "see README.md for an example coffer.yaml");
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE)
    {
        config_fail(&w, root, "(top level)", "must be a mapping with postgres, tenancy, ...");
        goto done;
    }
    if (!config_mapping(&w, root, "", config_visit_root))
        goto done;
    /* "tenancy.model" must be given explicitly: guessing it restores the wrong thing */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++)
    {
        const char *k = config_scalar(yaml_document_get_node(&doc, p->key));
        yaml_node_t *t = yaml_document_get_node(&doc, p->value);

        if (k == NULL || strcmp(k, "tenancy") != 0 || t->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *q = t->data.mapping.pairs.start; q < t->data.mapping.pairs.top; q++)
        {
            const char *tk = config_scalar(yaml_document_get_node(&doc, q->key));

            if (tk != NULL && strcmp(tk, "model") == 0)
                have_model = true;
        }
    }
    if (!have_model)
    {
        config_fail(&w, root, "tenancy.model", "is required: schema, database or row");
        goto done;
    }
    if (!config_validate(&w, root))
        goto done;
    if (cfg->pg_conninfo == NULL)
        cfg->pg_conninfo = xstrdup("");
    ok = true;
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (!ok)
    {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

const char *config_resolve_path(const char *explicit_path)
{
    const char *env = getenv("COFFER_CONFIG");

    if (explicit_path != NULL && explicit_path[0] != '\0')
        return explicit_path;
    if (env != NULL && env[0] != '\0')
        return env;
    return CONFIG_DEFAULT_PATH;
}

Config *config_load(const char *explicit_path, Error *err)
{
    const char *path = config_resolve_path(explicit_path);
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    Config *cfg;

    if (f == NULL)
    {
        error_set(err, ERR_USAGE, "could not read configuration \"%s\": %s", path, strerror(errno));
        return error_hint(err, "pass --config FILE or set COFFER_CONFIG"), NULL;
    }
    for (;;)
    {
        size_t n;

        if (cap - len < 4096)
        {
            cap = cap == 0 ? 8192 : cap * 2;
            if (cap > 16 * 1024 * 1024)
            {
                fclose(f);
                free(text);
                error_set(err, ERR_USAGE, "configuration \"%s\" is larger than 16 MiB", path);
                return NULL;
            }
            text = xrealloc(text, cap);
        }
        n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f))
    {
        error_set(err, ERR_USAGE, "could not read configuration \"%s\": %s", path, strerror(errno));
        fclose(f);
        free(text);
        return NULL;
    }
    fclose(f);
    cfg = config_parse(path, text ? text : "", len, err);
    free(text);
    return cfg;
}

static void config_free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void config_free(Config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->pg_conninfo);
    free(cfg->pg_bindir);
    free(cfg->scratch_dir);
    config_free_list(cfg->shared, cfg->n_shared);
    free(cfg->column);
    free(cfg->discover_pattern);
    free(cfg->discover_query);
    config_free_list(cfg->classes, cfg->n_classes);
    free(cfg->repo_path);
    free(cfg->repo_passphrase_file);
    free(cfg);
}

const char *config_model_name(TenancyModel model)
{
    switch (model)
    {
    case TENANCY_SCHEMA:
        return "schema";
    case TENANCY_DATABASE:
        return "database";
    case TENANCY_ROW:
        return "row";
    }
    return "?";
}

bool config_has_class(const Config *cfg, const char *name)
{
    if (strcmp(name, "default") == 0)
        return true;
    for (size_t i = 0; i < cfg->n_classes; i++)
        if (strcmp(cfg->classes[i], name) == 0)
            return true;
    return false;
}
