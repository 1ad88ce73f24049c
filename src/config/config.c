/*
 * config.c - loading and validating coffer.yaml with libyaml.
 *
 * The YAML document is walked section by section against the keys each
 * section knows; anything else is an error naming the file, line and key.
 */
#include "config/config.h"

#include <errno.h>
#include <stddef.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/buf.h"
#include "common/mem.h"
#include "config/config_intern.h"

bool config_fail(ConfigWalk *w, yaml_node_t *node, const char *key, const char *fmt, ...)
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

const char *config_scalar(yaml_node_t *node)
{
    return node != NULL && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value
                                                          : NULL;
}

/* A plain null ("~", "null", empty) scalar. */
bool config_is_null(yaml_node_t *node)
{
    const char *s = config_scalar(node);

    return s != NULL && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

bool config_string(ConfigWalk *w, yaml_node_t *node, const char *key, char **out)
{
    const char *s = config_scalar(node);

    if (s == NULL)
        return config_fail(w, node, key, "must be a string");
    free(*out);
    *out = xstrdup(s);
    return true;
}

bool config_int(ConfigWalk *w, yaml_node_t *node, const char *key, long min, long max,
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

bool config_string_list(ConfigWalk *w, yaml_node_t *node, const char *key, char ***out,
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

bool config_mapping(ConfigWalk *w, yaml_node_t *node, const char *section, ConfigVisit visit)
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

bool config_unknown(ConfigWalk *w, yaml_node_t *k, const char *full, const char *known)
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
    if (strcmp(key, "shared_class") == 0)
        return config_string(w, v, full, &w->cfg->shared_class);
    return config_unknown(w, k, full, "model, shared, column, discover, shared_class");
}

static bool config_bool(ConfigWalk *w, yaml_node_t *node, const char *key, int *out)
{
    const char *s = config_scalar(node);

    if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0))
        *out = 1;
    else if (s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0))
        *out = 0;
    else
        return config_fail(w, node, key, "must be true or false");
    return true;
}

static bool config_visit_s3(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                            yaml_node_t *v)
{
    ConfigS3 *s3 = w->repo->s3;
    static const struct
    {
        const char *key;
        size_t offset;
    } strings[] = {
        {"endpoint", offsetof(ConfigS3, endpoint)},
        {"bucket", offsetof(ConfigS3, bucket)},
        {"prefix", offsetof(ConfigS3, prefix)},
        {"region", offsetof(ConfigS3, region)},
        {"ca_file", offsetof(ConfigS3, ca_file)},
        {"storage_class", offsetof(ConfigS3, storage_class)},
        {"access_key_id", offsetof(ConfigS3, access_key_id)},
        {"secret_access_key", offsetof(ConfigS3, secret_access_key)},
        {"session_token", offsetof(ConfigS3, session_token)},
        {"profile", offsetof(ConfigS3, profile)},
    };

    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if (strcmp(key, strings[i].key) == 0)
        {
            if (strcmp(key, "secret_access_key") == 0 || strcmp(key, "session_token") == 0)
                w->cfg->has_secret = true;
            return config_string(w, v, full, (char **)((char *)s3 + strings[i].offset));
        }
    if (strcmp(key, "path_style") == 0)
        return config_bool(w, v, full, &s3->path_style);
    if (strcmp(key, "part_size") == 0)
        return config_int(w, v, full, 5, 5120, &s3->part_size_mib);
    if (strcmp(key, "timeout") == 0)
        return config_int(w, v, full, 1, 3600, &s3->timeout);
    if (strcmp(key, "retries") == 0)
        return config_int(w, v, full, 0, 100, &s3->retries);
    return config_unknown(w, k, full,
                          "endpoint, bucket, prefix, region, path_style, ca_file, storage_class, "
                          "access_key_id, secret_access_key, session_token, profile, part_size "
                          "(MiB), timeout, retries");
}

static bool config_visit_repository(ConfigWalk *w, const char *full, const char *key,
                                    yaml_node_t *k, yaml_node_t *v)
{
    ConfigRepo *r = w->repo;

    if (strcmp(key, "name") == 0)
        return config_string(w, v, full, &r->name);
    if (strcmp(key, "path") == 0)
        return config_string(w, v, full, &r->path);
    if (strcmp(key, "s3") == 0)
    {
        if (r->s3 == NULL)
        {
            r->s3 = xcalloc(1, sizeof(*r->s3));
            r->s3->path_style = -1;
            r->s3->retries = -1;
        }
        return config_mapping(w, v, full, config_visit_s3);
    }
    if (strcmp(key, "passphrase_file") == 0)
        return config_string(w, v, full, &r->passphrase_file);
    if (strcmp(key, "encryption") == 0)
    {
        const char *s = config_scalar(v);

        if (s != NULL && strcmp(s, "none") == 0)
            r->encryption = false;
        else if (s != NULL && strcmp(s, "aes-256-gcm") == 0)
            r->encryption = true;
        else
            return config_fail(w, v, full, "must be \"aes-256-gcm\" (the default) or \"none\"");
        return true;
    }
    if (strcmp(key, "compression") == 0)
        return config_int(w, v, full, 1, 19, &r->compression);
    if (strcmp(key, "chunk_size") == 0)
    {
        int kib = 0;

        if (!config_int(w, v, full, 64, 16384, &kib))
            return false;
        if ((kib & (kib - 1)) != 0)
            return config_fail(w, v, full, "must be a power of two (KiB), e.g. 512 or 1024");
        r->chunk_avg = (unsigned)kib * 1024;
        return true;
    }
    if (strcmp(key, "scratch_dir") == 0)
        return config_string(w, v, full, &r->scratch_dir);
    if (strcmp(key, "lock_stale") == 0)
        return config_int(w, v, full, 3, 7 * 86400, &r->lock_stale);
    return config_unknown(w, k, full,
                          "name, path, s3, passphrase_file, encryption, compression, chunk_size, "
                          "scratch_dir, lock_stale");
}

/* Starts reading one repository (repository: or an item of repositories:). */
static ConfigRepo *config_repo_new(ConfigWalk *w)
{
    ConfigRepo *r;

    w->cfg->repos = xrealloc(w->cfg->repos, sizeof(ConfigRepo) * (w->cfg->n_repos + 1));
    r = &w->cfg->repos[w->cfg->n_repos++];
    memset(r, 0, sizeof(*r));
    r->encryption = true;
    r->compression = 3;
    return r;
}

/* One repository read: a name, and a path or an s3 section, not both. */
static bool config_repo_check(ConfigWalk *w, yaml_node_t *node, const char *key, ConfigRepo *r,
                              bool named)
{
    if (r->name == NULL)
    {
        if (named)
            return config_fail(w, node, key, "each repository needs a name");
        r->name = xstrdup("default");
    }
    else if (!named)
        return config_fail(w, node, key, "name is for the items of repositories:");
    if (r->name[0] == '\0' || strcmp(r->name, "all") == 0 ||
        r->name[strspn(r->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")] != '\0')
        return config_fail(w, node, key, "a repository name is letters, digits, \"_\" and \"-\" "
                                         "(and not \"all\"), not \"%s\"",
                           r->name);
    for (size_t i = 0; i + 1 < w->cfg->n_repos; i++)
        if (strcmp(w->cfg->repos[i].name, r->name) == 0)
            return config_fail(w, node, key, "repository \"%s\" is named twice", r->name);
    if (r->path != NULL && r->s3 != NULL)
        return config_fail(w, node, key, "give either path or s3, not both");
    if (r->s3 != NULL && (r->s3->bucket == NULL || r->s3->bucket[0] == '\0'))
        return config_fail(w, node, key, "s3 needs a bucket");
    return true;
}

static bool config_repository(ConfigWalk *w, const char *full, yaml_node_t *v, bool named)
{
    w->repo = config_repo_new(w);
    return config_mapping(w, v, full, config_visit_repository) &&
           config_repo_check(w, v, full, w->repo, named);
}

static bool config_repositories(ConfigWalk *w, const char *full, yaml_node_t *v)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return config_fail(w, v, full, "must be a list of repositories (name, and path or s3)");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
    {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        char key[64];

        snprintf(key, sizeof(key), "%s[%ld]", full, (long)(it - v->data.sequence.items.start));
        if (item->type != YAML_MAPPING_NODE)
            return config_fail(w, item, key, "must be a mapping (name, and path or s3)");
        if (!config_repository(w, key, item, true))
            return false;
    }
    return true;
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
    if (strcmp(key, "run") == 0)
        return config_mapping(w, v, full, config_visit_run);
    if (strcmp(key, "repository") == 0 || strcmp(key, "repositories") == 0)
    {
        if (w->cfg->n_repos > 0)
            return config_fail(w, k, full, "give repository: or repositories:, once");
        return strcmp(key, "repository") == 0 ? config_repository(w, full, v, false)
                                               : config_repositories(w, full, v);
    }
    return config_unknown(w, k, full, "postgres, tenancy, classes, run, repository, repositories");
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
    return config_classes_validate(w, root);
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
    ok = config_select_repo(cfg, NULL, err);
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

/* A file that holds a secret must be readable by its owner alone. */
static bool config_private(FILE *f, const char *path, Error *err)
{
    struct stat sb;

    if (fstat(fileno(f), &sb) != 0)
        return error_set(err, ERR_USAGE, "could not check configuration \"%s\": %s", path,
                         strerror(errno));
    if ((sb.st_mode & 077) == 0)
        return true;
    error_set(err, ERR_USAGE,
              "configuration \"%s\" holds an S3 secret but can be read by others (mode %04o)",
              path, (unsigned)(sb.st_mode & 07777));
    return error_hint(err, "run \"chmod 600 %s\", or take the secret out of the file (use "
                           "AWS_SECRET_ACCESS_KEY or a credentials file)",
                      path);
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
    cfg = config_parse(path, text ? text : "", len, err);
    if (text != NULL)
        mem_wipe(text, len);
    free(text);
    if (cfg != NULL && cfg->has_secret && !config_private(f, path, err))
    {
        config_free(cfg);
        cfg = NULL;
    }
    fclose(f);
    return cfg;
}

static void config_free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void config_s3_free(ConfigS3 *s3)
{
    if (s3 == NULL)
        return;
    free(s3->endpoint);
    free(s3->bucket);
    free(s3->prefix);
    free(s3->region);
    free(s3->ca_file);
    free(s3->storage_class);
    free(s3->access_key_id);
    if (s3->secret_access_key != NULL)
        mem_wipe(s3->secret_access_key, strlen(s3->secret_access_key));
    free(s3->secret_access_key);
    if (s3->session_token != NULL)
        mem_wipe(s3->session_token, strlen(s3->session_token));
    free(s3->session_token);
    free(s3->profile);
    free(s3);
}

static void config_repo_free(ConfigRepo *r)
{
    free(r->name);
    free(r->path);
    config_s3_free(r->s3);
    free(r->passphrase_file);
    free(r->scratch_dir);
}

const ConfigRepo *config_find_repo(const Config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_repos; i++)
        if (strcmp(cfg->repos[i].name, name) == 0)
            return &cfg->repos[i];
    return NULL;
}

bool config_select_repo(Config *cfg, const char *name, Error *err)
{
    const ConfigRepo *r = NULL;

    if (name != NULL && (r = config_find_repo(cfg, name)) == NULL)
    {
        error_set(err, ERR_USAGE, "no repository \"%s\" in \"%s\"", name, cfg->path);
        if (cfg->n_repos > 0)
        {
            Buf names;

            buf_init(&names);
            for (size_t i = 0; i < cfg->n_repos; i++)
                buf_printf(&names, "%s\"%s\"", i ? ", " : "", cfg->repos[i].name);
            error_detail(err, "its repositories: %s", buf_cstr(&names));
            buf_free(&names);
        }
        return error_hint(err, "name one of them with --repo, or give a directory's path");
    }
    if (r == NULL && cfg->n_repos > 0)
        r = &cfg->repos[0];
    cfg->repo_name = r ? r->name : NULL;
    cfg->repo_path = r ? r->path : NULL;
    cfg->repo_s3 = r ? r->s3 : NULL;
    cfg->repo_passphrase_file = r ? r->passphrase_file : NULL;
    cfg->scratch_dir = r ? r->scratch_dir : NULL;
    cfg->repo_encryption = r ? r->encryption : true;
    cfg->repo_compression = r ? r->compression : 3;
    cfg->repo_chunk_avg = r ? r->chunk_avg : 0;
    cfg->repo_lock_stale = r ? r->lock_stale : 0;
    return true;
}

void config_free(Config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->pg_conninfo);
    free(cfg->pg_bindir);
    for (size_t i = 0; i < cfg->n_repos; i++)
        config_repo_free(&cfg->repos[i]);
    free(cfg->repos);
    config_free_list(cfg->shared, cfg->n_shared);
    free(cfg->column);
    free(cfg->discover_pattern);
    free(cfg->discover_query);
    config_classes_free(cfg);
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
