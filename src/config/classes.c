/*
 * classes.c - the classes: section (schedule and retention per tenant
 * class), run:, and tenancy.shared_class.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "config/config_intern.h"

static bool config_duration(ConfigWalk *w, yaml_node_t *v, const char *full, int64_t *out)
{
    const char *s = config_scalar(v);

    if (s == NULL || !clock_parse_duration(s, out))
        return config_fail(w, v, full,
                           "must be a duration: a number and a unit (s, m, h, d, w, y), "
                           "e.g. 30d or 12h");
    return true;
}

static bool config_visit_keep(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                              yaml_node_t *v)
{
    ConfigClass *c = &w->cfg->classes[w->cfg->n_classes - 1];
    static const struct
    {
        const char *name;
        size_t off;
    } counts[] = {{"last", offsetof(ConfigKeep, last)},       {"hourly", offsetof(ConfigKeep, hourly)},
                  {"daily", offsetof(ConfigKeep, daily)},     {"weekly", offsetof(ConfigKeep, weekly)},
                  {"monthly", offsetof(ConfigKeep, monthly)}, {"yearly", offsetof(ConfigKeep, yearly)}};

    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        if (strcmp(key, counts[i].name) == 0)
            return config_int(w, v, full, 0, 1000000, (int *)((char *)&c->keep + counts[i].off));
    if (strcmp(key, "within") == 0)
        return config_duration(w, v, full, &c->keep.within);
    return config_unknown(w, k, full, "last, hourly, daily, weekly, monthly, yearly, within");
}

/* "02:00" into seconds after midnight. */
static bool config_at(ConfigWalk *w, yaml_node_t *v, const char *full, int64_t *out)
{
    const char *s = config_scalar(v);
    int h = 0, m = 0;

    if (s != NULL && strlen(s) == 5 && isdigit((unsigned char)s[0]) &&
        isdigit((unsigned char)s[1]) && s[2] == ':' && isdigit((unsigned char)s[3]) &&
        isdigit((unsigned char)s[4]))
    {
        h = (s[0] - '0') * 10 + (s[1] - '0');
        m = (s[3] - '0') * 10 + (s[4] - '0');
    }
    else
        h = -1;
    if (h < 0 || h > 23 || m > 59)
        return config_fail(w, v, full, "must be a time of day, HH:MM in UTC (e.g. \"02:00\")");
    *out = (int64_t)h * 3600 + m * 60;
    return true;
}

static bool config_visit_verify(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                                yaml_node_t *v)
{
    ConfigClass *c = &w->cfg->classes[w->cfg->n_classes - 1];

    if (strcmp(key, "every") == 0)
    {
        if (!config_duration(w, v, full, &c->verify_every))
            return false;
        if (c->verify_every < CONFIG_RUN_GRANULARITY)
            return config_fail(w, v, full, "is finer than coffer run can honour; use 5m or more");
        return true;
    }
    if (strcmp(key, "sample") == 0)
        return config_int(w, v, full, 1, 1000000, &c->verify_sample);
    return config_unknown(w, k, full, "every, sample");
}

static bool config_visit_class_body(ConfigWalk *w, const char *full, const char *key,
                                    yaml_node_t *k, yaml_node_t *v)
{
    ConfigClass *c = &w->cfg->classes[w->cfg->n_classes - 1];

    if (strcmp(key, "every") == 0)
    {
        char g[24];

        if (!config_duration(w, v, full, &c->every))
            return false;
        clock_format_duration(CONFIG_RUN_GRANULARITY, g, sizeof(g));
        if (c->every < CONFIG_RUN_GRANULARITY)
            return config_fail(w, v, full,
                               "is finer than coffer run can honour: its timer runs every %s "
                               "(coffer schedule); use %s or more",
                               g, g);
        return true;
    }
    if (strcmp(key, "at") == 0)
        return config_at(w, v, full, &c->at);
    if (strcmp(key, "keep") == 0)
    {
        c->has_keep = true;
        return config_mapping(w, v, full, config_visit_keep);
    }
    if (strcmp(key, "checks") == 0)
        return config_string_list(w, v, full, &c->checks, &c->n_checks);
    if (strcmp(key, "verify") == 0)
    {
        if (!config_mapping(w, v, full, config_visit_verify))
            return false;
        if (c->verify_every == 0 || c->verify_sample == 0)
            return config_fail(w, k, full, "give both every and sample, e.g. "
                                           "verify: { every: 7d, sample: 5 }");
        return true;
    }
    return config_unknown(w, k, full, "every, at, keep, checks, verify");
}

bool config_visit_classes(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                          yaml_node_t *v)
{
    Config *cfg = w->cfg;
    ConfigClass *c;
    const ConfigKeep *kp;

    for (size_t i = 0; i < cfg->n_classes; i++)
        if (strcmp(cfg->classes[i].name, key) == 0)
            return config_fail(w, k, full, "class defined twice");
    cfg->classes = xrealloc(cfg->classes, sizeof(ConfigClass) * (cfg->n_classes + 1));
    c = &cfg->classes[cfg->n_classes++];
    memset(c, 0, sizeof(*c));
    c->name = xstrdup(key);
    c->at = -1;
    if (!config_mapping(w, v, full, config_visit_class_body))
        return false;
    kp = &c->keep;
    if (c->has_keep && kp->last == 0 && kp->hourly == 0 && kp->daily == 0 && kp->weekly == 0 &&
        kp->monthly == 0 && kp->yearly == 0 && kp->within == 0)
        return config_fail(w, k, full,
                           "keep would keep nothing: give at least one of last, hourly, daily, "
                           "weekly, monthly, yearly, within (or no keep: to keep every snapshot)");
    if (c->at >= 0 && c->every < 86400)
        return config_fail(w, k, full, "at needs every of 1d or more");
    if (c->at >= 0 && c->every % 86400 != 0)
        return config_fail(w, k, full, "at needs every in whole days (1d, 7d, ...)");
    if (strcmp(c->name, "deleted") == 0 && c->every != 0)
        return config_fail(w, k, full,
                           "deleted is the retention of tenants discovery no longer finds: "
                           "it takes no every");
    return true;
}

bool config_visit_run(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                      yaml_node_t *v)
{
    if (strcmp(key, "prune_every") == 0)
    {
        const char *s = config_scalar(v);

        if (s == NULL || !clock_parse_duration(s, &w->cfg->prune_every))
            return config_fail(w, v, full, "must be a duration, e.g. 1d or 12h");
        return true;
    }
    return config_unknown(w, k, full, "prune_every");
}

bool config_classes_validate(ConfigWalk *w, yaml_node_t *root)
{
    Config *c = w->cfg;

    if (c->prune_every == 0)
        c->prune_every = 86400;
    if (c->shared_class != NULL && config_find_class(c, c->shared_class) == NULL)
        return config_fail(w, root, "tenancy.shared_class", "unknown class \"%s\"",
                           c->shared_class);
    return true;
}

void config_classes_free(Config *cfg)
{
    for (size_t i = 0; i < cfg->n_classes; i++)
    {
        free(cfg->classes[i].name);
        for (size_t k = 0; k < cfg->classes[i].n_checks; k++)
            free(cfg->classes[i].checks[k]);
        free(cfg->classes[i].checks);
    }
    free(cfg->classes);
    free(cfg->shared_class);
}

bool config_has_class(const Config *cfg, const char *name)
{
    return strcmp(name, "default") == 0 || config_find_class(cfg, name) != NULL;
}

const ConfigClass *config_find_class(const Config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_classes; i++)
        if (strcmp(cfg->classes[i].name, name) == 0)
            return &cfg->classes[i];
    return NULL;
}

const ConfigClass *config_class_for(const Config *cfg, const char *name, const char *tenant,
                                    Error *err)
{
    const ConfigClass *c = config_find_class(cfg, name);

    if (c == NULL)
        c = config_find_class(cfg, "default");
    if (c != NULL)
        return c;
    if (tenant != NULL)
        error_set(err, ERR_USAGE, "tenant \"%s\" has class \"%s\", which is not defined", tenant,
                  name);
    else
        error_set(err, ERR_USAGE, "class \"%s\" is not defined", name);
    return error_hint(err, "define it, or a class \"default\", under classes: in \"%s\"",
                      cfg->path ? cfg->path : "coffer.yaml"),
           NULL;
}
