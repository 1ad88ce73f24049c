/*
 * config_intern.h - the walk over the YAML document that config.c and
 * classes.c share: each section is visited against the keys it knows.
 */
#ifndef COFFER_CONFIG_INTERN_H
#define COFFER_CONFIG_INTERN_H

#include <yaml.h>

#include "config/config.h"

typedef struct ConfigWalk
{
    const char *name; /* file name for messages */
    yaml_document_t *doc;
    Config *cfg;
    Error *err;
    struct ConfigRepo *repo; /* the repository being read */
} ConfigWalk;

/* Fails with ERR_USAGE naming the file, the node's line and key. */
bool config_fail(ConfigWalk *w, yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* config_fail for an unknown key, listing the known ones. */
bool config_unknown(ConfigWalk *w, yaml_node_t *k, const char *full, const char *known);

/* The text of a scalar node, or NULL. */
const char *config_scalar(yaml_node_t *node);
/* A plain null ("~", "null", empty) scalar. */
bool config_is_null(yaml_node_t *node);
bool config_string(ConfigWalk *w, yaml_node_t *node, const char *key, char **out);
bool config_int(ConfigWalk *w, yaml_node_t *node, const char *key, long min, long max, int *out);
/* A name or a list of non-empty names, appended to *out. */
bool config_string_list(ConfigWalk *w, yaml_node_t *node, const char *key, char ***out,
                        size_t *count);

/* Calls visit(w, keyname, value) for each pair of a mapping, or fails when
 * node is not a mapping. A null node is an empty mapping. */
typedef bool (*ConfigVisit)(ConfigWalk *w, const char *section, const char *key,
                            yaml_node_t *keynode, yaml_node_t *value);
bool config_mapping(ConfigWalk *w, yaml_node_t *node, const char *section, ConfigVisit visit);

/* classes.c: the classes: and run: sections, and the rules that tie them
 * to tenancy.shared_class. */
bool config_visit_classes(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                          yaml_node_t *v);
bool config_visit_run(ConfigWalk *w, const char *full, const char *key, yaml_node_t *k,
                      yaml_node_t *v);
bool config_classes_validate(ConfigWalk *w, yaml_node_t *root);
void config_classes_free(Config *cfg);

#endif
