/*
 * test_config.c - unit tests for coffer.yaml parsing and validation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "tap.h"

static Config *parse(const char *text, Error *err)
{
    error_clear(err);
    return config_parse("c.yaml", text, strlen(text), err);
}

/* Asserts that text is rejected with ERR_USAGE and a message containing want. */
static void rejects(const char *text, const char *want, const char *name)
{
    Error err;
    Config *cfg = parse(text, &err);

    ok(cfg == NULL && err.code == ERR_USAGE, name);
    like(err.message, want, name);
    config_free(cfg);
}

int main(void)
{
    Error err;
    Config *cfg;

    cfg = parse("postgres:\n"
                "  conninfo: \"host=/run/postgresql dbname=saas\"\n"
                "tenancy:\n"
                "  model: schema\n"
                "  shared: [central, parametros]\n"
                "  discover:\n"
                "    pattern: \"tenant_%\"\n"
                "classes:\n"
                "  active: {}\n"
                "  demo: {}\n"
                "repository:\n"
                "  path: /var/lib/coffer/repo\n"
                "  compression: 5\n",
                &err);
    ok(cfg != NULL, "full example parses");
    if (cfg != NULL)
    {
        is_str(cfg->pg_conninfo, "host=/run/postgresql dbname=saas", "conninfo");
        is_int(cfg->model, TENANCY_SCHEMA, "model schema");
        is_int(cfg->n_shared, 2, "two shared schemas");
        is_str(cfg->shared[1], "parametros", "second shared schema");
        is_str(cfg->discover_pattern, "tenant_%", "pattern");
        is_int(cfg->n_classes, 2, "two classes");
        ok(config_has_class(cfg, "demo") && config_has_class(cfg, "default") &&
               !config_has_class(cfg, "nope"),
           "class lookup");
        is_str(cfg->repo_path, "/var/lib/coffer/repo", "repository path");
        is_int(cfg->repo_compression, 5, "compression level");
        ok(cfg->repo_encryption, "encryption on by default");
    }
    config_free(cfg);

    cfg = parse("postgres:\n  lock_budget: 200\ntenancy:\n  model: schema\n  discover: {pattern: a}\n",
                &err);
    ok(cfg != NULL && cfg->pg_lock_budget == 200, "postgres.lock_budget");
    ok(cfg != NULL && cfg->pg_lock_timeout == 30, "postgres.lock_timeout is 30 s by default");
    ok(cfg != NULL && cfg->scratch_dir == NULL, "no repository.scratch_dir by default");
    config_free(cfg);
    rejects("postgres:\n  lock_budget: 0\ntenancy:\n  model: schema\n  discover: {pattern: a}\n",
            "line 2: key \"postgres.lock_budget\": must be a whole number from 1 to", "lock_budget 0");
    rejects("postgres:\n  lock_budget: many\ntenancy:\n  model: schema\n  discover: {pattern: a}\n",
            "key \"postgres.lock_budget\"", "lock_budget not a number");

    cfg = parse("tenancy:\n  model: row\n  discover:\n    query: \"SELECT id AS tenant FROM t\"\n",
                &err);
    ok(cfg != NULL && strcmp(cfg->column, "tenant_id") == 0, "row model defaults column");
    config_free(cfg);

    cfg = parse("tenancy:\n  model: database\n  shared: saas_master\n  discover:\n"
                "    query: \"SELECT a AS tenant, b AS database FROM r\"\n"
                "repository:\n  encryption: none\n",
                &err);
    ok(cfg != NULL && cfg->model == TENANCY_DATABASE && cfg->n_shared == 1 && !cfg->repo_encryption,
       "database model, scalar shared, encryption none");
    config_free(cfg);

    rejects("tenancy:\n  model: schema\n  discover: {pattern: x}\n  bogus: 1\n",
            "line 4: key \"tenancy.bogus\": unknown key", "unknown key names line and key");
    rejects("tenancy:\n  model: galaxy\n", "line 2: key \"tenancy.model\": must be one of",
            "bad model value");
    rejects("postgres: {conninfo: x}\n", "key \"tenancy.model\": is required", "model is required");
    rejects("tenancy:\n  model: schema\n  discover:\n    pattern: \"t_%\"\n    query: \"SELECT 1\"\n",
            "line 5: key \"tenancy.discover\": give either pattern or query, not both",
            "pattern and query: the line of the second");
    rejects("tenancy:\n  model: schema\n", "key \"tenancy.discover\": is required",
            "discover is required");
    rejects("tenancy:\n  model: schema\n  discover: {pattern: a, query: b}\n",
            "either pattern or query", "pattern and query together");
    rejects("tenancy:\n  model: row\n  discover: {pattern: a}\n", "needs a discovery query",
            "row model needs a query");
    rejects("tenancy:\n  model: schema\n  column: x\n  discover: {pattern: a}\n",
            "only used by the row model", "column outside row model");
    rejects("tenancy:\n  model: schema\n  discover: {pattern: a}\nrepository:\n  compression: 99\n",
            "line 5: key \"repository.compression\": must be a whole number from 1 to 19",
            "compression out of range");
    rejects(
        "tenancy:\n  model: schema\n  discover: {pattern: a}\nrepository:\n  encryption: rot13\n",
        "key \"repository.encryption\"", "unknown encryption");
    rejects("tenancy: [1, 2]\n", "key \"tenancy\": must be a mapping", "section not a mapping");
    rejects("tenancy:\n  model: schema\n   discover: x\n", "invalid YAML", "bad indentation");
    rejects("", "is empty", "empty file");
    rejects("- a\n- b\n", "(top level)", "top level not a mapping");
    rejects("tenancy:\n  model: schema\n  discover: {pattern: a}\nclasses:\n  a: {}\n  a: {}\n",
            "class defined twice", "duplicate class");
    rejects("tenancy:\n  model: schema\n  discover: {pattern: a}\nclasses:\n  a: {retention: 3}\n",
            "key \"classes.a.retention\": unknown key", "unknown class key");

    error_clear(&err);
    cfg = config_load("/nonexistent/coffer.yaml", &err);
    ok(cfg == NULL && err.code == ERR_USAGE, "missing file is a usage error");
    like(err.message, "could not read configuration \"/nonexistent/coffer.yaml\"",
         "missing file named");

    setenv("COFFER_CONFIG", "/from/env.yaml", 1);
    is_str(config_resolve_path(NULL), "/from/env.yaml", "COFFER_CONFIG used");
    is_str(config_resolve_path("/x.yaml"), "/x.yaml", "--config wins");
    unsetenv("COFFER_CONFIG");
    is_str(config_resolve_path(NULL), "/etc/coffer/coffer.yaml", "default path");
    return tap_done();
}
