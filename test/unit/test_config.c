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

/* The minimal tenancy: section that the class cases below share. */
#define TENANCY "tenancy:\n  model: schema\n  discover: {pattern: a}\n"

static void test_classes(void)
{
    Error err;
    Config *cfg;
    const ConfigClass *c;

    cfg = parse(TENANCY "  shared_class: master\n"
                        "classes:\n"
                        "  master: { every: 1h, keep: { hourly: 48, daily: 30 } }\n"
                        "  active: { every: 1d, at: \"02:00\", keep: { daily: 90, weekly: 12, "
                        "monthly: 12, yearly: 7 } }\n"
                        "  demo:   { every: 7d, keep: { within: 30d } }\n"
                        "  deleted: { keep: { within: 730d } }\n"
                        "run:\n"
                        "  prune_every: 12h\n",
                &err);
    ok(cfg != NULL, "the classes example parses");
    if (cfg == NULL)
    {
        printf("#   %s\n", err.message);
        return;
    }
    is_int(cfg->n_classes, 4, "four classes");
    is_str(cfg->shared_class, "master", "tenancy.shared_class");
    is_int(cfg->prune_every, 12 * 3600, "run.prune_every 12h");

    c = config_find_class(cfg, "master");
    ok(c == &cfg->classes[0], "config_find_class master");
    ok(c != NULL && c->every == 3600 && c->at == -1 && c->has_keep, "master: every 1h, no at");
    ok(c != NULL && c->keep.hourly == 48 && c->keep.daily == 30 && c->keep.last == 0 &&
           c->keep.weekly == 0 && c->keep.monthly == 0 && c->keep.yearly == 0 &&
           c->keep.within == 0,
       "master keeps hourly 48, daily 30");

    c = config_find_class(cfg, "active");
    ok(c == &cfg->classes[1], "config_find_class active");
    ok(c != NULL && c->every == 86400 && c->at == 2 * 3600 && c->has_keep,
       "active: every 1d at 02:00");
    ok(c != NULL && c->keep.daily == 90 && c->keep.weekly == 12 && c->keep.monthly == 12 &&
           c->keep.yearly == 7 && c->keep.hourly == 0 && c->keep.last == 0 && c->keep.within == 0,
       "active keeps daily 90, weekly 12, monthly 12, yearly 7");

    c = config_find_class(cfg, "demo");
    ok(c != NULL && c->every == 7 * 86400 && c->at == -1 && c->keep.within == 30 * 86400 &&
           c->keep.daily == 0,
       "demo: every 7d, within 30d");

    c = config_find_class(cfg, "deleted");
    ok(c != NULL && c->every == 0 && c->at == -1 && c->has_keep && c->keep.within == 730LL * 86400,
       "deleted: no every, within 730d");

    ok(config_find_class(cfg, "nope") == NULL, "config_find_class of an undefined class");
    ok(config_find_class(cfg, "default") == NULL, "no default class unless defined");

    error_clear(&err);
    ok(config_class_for(cfg, "active", "tenant_7", &err) == config_find_class(cfg, "active") &&
           !error_is_set(&err),
       "config_class_for a defined class");
    error_clear(&err);
    ok(config_class_for(cfg, "gold", "tenant_7", &err) == NULL, "config_class_for undefined");
    is_int(err.code, ERR_USAGE, "an undefined class is a usage error");
    like(err.message, "tenant \"tenant_7\"", "the message names the tenant");
    like(err.message, "\"gold\"", "the message names the class");
    error_clear(&err);
    ok(config_class_for(cfg, "gold", NULL, &err) == NULL && err.code == ERR_USAGE,
       "config_class_for undefined, no tenant");
    like(err.message, "class \"gold\" is not defined", "the message without a tenant");
    config_free(cfg);

    cfg = parse(TENANCY "classes:\n  default: { every: 1d, keep: { daily: 7 } }\n"
                        "  demo: { every: 7d }\n",
                &err);
    ok(cfg != NULL, "classes with default parse");
    if (cfg != NULL)
    {
        error_clear(&err);
        ok(config_class_for(cfg, "gold", "tenant_7", &err) == config_find_class(cfg, "default") &&
               !error_is_set(&err),
           "an undefined class falls back to default");
        ok(config_class_for(cfg, "demo", "tenant_7", &err) == &cfg->classes[1],
           "a defined class is not replaced by default");
        ok(!cfg->classes[1].has_keep, "a class without keep: keeps everything");
        is_int(cfg->prune_every, 86400, "run.prune_every is 1d by default");
        ok(cfg->shared_class == NULL, "no shared_class by default");
    }
    config_free(cfg);

    cfg = parse(TENANCY "classes:\n  a: { every: 36h }\n  b: { every: 5m }\n"
                        "  c: { every: 1w, at: \"23:59\", keep: { last: 3 } }\n",
                &err);
    ok(cfg != NULL && cfg->classes[0].every == 36 * 3600 && cfg->classes[1].every == 300 &&
           cfg->classes[2].at == 23 * 3600 + 59 * 60 && cfg->classes[2].keep.last == 3,
       "every 36h, every 5m (the timer's own period), at 23:59 with every 1w");
    config_free(cfg);

    rejects(TENANCY "classes:\n  a: { keep: {} }\n", "keep would keep nothing", "keep: {}");
    rejects(TENANCY "classes:\n  a: { keep: { daily: 0 } }\n", "keep would keep nothing",
            "keep: {daily: 0}");
    rejects(TENANCY "classes:\n  a: { keep: { daily: -1 } }\n",
            "key \"classes.a.keep.daily\": must be a whole number from 0", "keep daily -1");
    rejects(TENANCY "classes:\n  a: { keep: { within: 0d } }\n",
            "key \"classes.a.keep.within\": must be a duration", "keep within 0d");
    rejects(TENANCY "classes:\n  a: { keep: { fortnightly: 2 } }\n",
            "key \"classes.a.keep.fortnightly\": unknown key", "unknown keep rule");
    rejects(TENANCY "classes:\n  a: { every: 1m }\n",
            "key \"classes.a.every\": is finer than coffer run can honour", "every 1m");
    rejects(TENANCY "classes:\n  a: { every: 299s }\n", "finer than coffer run can honour",
            "every 299s");
    rejects(TENANCY "classes:\n  a: { every: soon }\n",
            "key \"classes.a.every\": must be a duration", "every soon");
    rejects(TENANCY "classes:\n  a: { every: 1d, at: \"2am\" }\n",
            "key \"classes.a.at\": must be a time of day", "at 2am");
    rejects(TENANCY "classes:\n  a: { every: 1d, at: \"24:00\" }\n", "must be a time of day",
            "at 24:00");
    rejects(TENANCY "classes:\n  a: { every: 1d, at: \"2:00\" }\n", "must be a time of day",
            "at 2:00");
    rejects(TENANCY "classes:\n  a: { every: 1h, at: \"02:00\" }\n", "at needs every of 1d or more",
            "at with every 1h");
    rejects(TENANCY "classes:\n  a: { at: \"02:00\" }\n", "at needs every of 1d or more",
            "at without every");
    rejects(TENANCY "classes:\n  a: { every: 36h, at: \"02:00\" }\n",
            "at needs every in whole days", "at with every 36h");
    rejects(TENANCY "classes:\n  deleted: { every: 1d, keep: { within: 730d } }\n",
            "takes no every", "deleted with every");
    rejects(TENANCY "classes:\n  a: { every: 1d, retention: 3 }\n",
            "key \"classes.a.retention\": unknown key", "unknown key in a class");
    rejects(TENANCY "  shared_class: master\nclasses:\n  active: { every: 1d }\n",
            "key \"tenancy.shared_class\": unknown class \"master\"", "shared_class undefined");
    rejects(TENANCY "  shared_class: master\n", "unknown class \"master\"",
            "shared_class without classes");
    rejects(TENANCY "classes:\n  a: { every: 1d }\n  b: { every: 1h }\n  a: { every: 7d }\n",
            "line 7: key \"classes.a\": class defined twice", "a class defined twice");
    rejects(TENANCY "run:\n  prune_every: often\n", "key \"run.prune_every\": must be a duration",
            "prune_every not a duration");
    rejects(TENANCY "run:\n  prune_interval: 1d\n", "key \"run.prune_interval\": unknown key",
            "unknown key in run");
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

    test_classes();
    return tap_done();
}
