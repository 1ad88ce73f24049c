/*
 * types.c - a snapshot's document as C types. manifest_parse checks the
 * JSON once, naming what is malformed and where, and builds a Manifest the
 * engines read by member (manifest_to_json, in types_write.c, writes the
 * same JSON back, the form manifest.c splits into parts).
 */
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "manifest/manifest.h"

/* Where a member sits, for messages: "snapshot 0123456789ab: tenant "x"". */
typedef char ManCtx[512];

/* Parses one object of a list into the item at pos (counted from 1). */
typedef bool (*ManItemFn)(json_t *o, const char *parent, size_t pos, void *item, Error *err);

static void man_ctx(ManCtx out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void man_ctx(ManCtx out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out, sizeof(ManCtx), fmt, ap);
    va_end(ap);
}

/* What a value is, for "... is an array, not a string". */
static const char *man_kind(const json_t *v)
{
    switch (json_typeof(v))
    {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value of unknown type";
}

static bool man_missing(const char *ctx, const char *key, Error *err)
{
    return error_set(err, ERR_FAILURE, "%s has no %s", ctx, key);
}

static bool man_wrong(const char *ctx, const char *key, const json_t *v, const char *want,
                      Error *err)
{
    return error_set(err, ERR_FAILURE, "%s: %s is %s, not %s", ctx, key, man_kind(v), want);
}

/* A string member, copied; with nullable, JSON null or absence gives NULL. */
static bool man_get_str(json_t *o, const char *key, bool nullable, const char *ctx, char **out,
                        Error *err)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (nullable && (v == NULL || json_is_null(v)))
        return true;
    if (v == NULL)
        return man_missing(ctx, key, err);
    if (!json_is_string(v))
        return man_wrong(ctx, key, v, nullable ? "a string or null" : "a string", err);
    *out = xstrdup(json_string_value(v));
    return true;
}

static bool man_get_uint(json_t *o, const char *key, const char *ctx, uint64_t *out, Error *err)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return man_missing(ctx, key, err);
    if (!json_is_integer(v))
        return man_wrong(ctx, key, v, "an integer", err);
    if (json_integer_value(v) < 0)
        return error_set(err, ERR_FAILURE, "%s: %s is negative", ctx, key);
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool man_get_int(json_t *o, const char *key, const char *ctx, int *out, Error *err)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return man_missing(ctx, key, err);
    if (!json_is_integer(v))
        return man_wrong(ctx, key, v, "an integer", err);
    if (json_integer_value(v) < INT_MIN || json_integer_value(v) > INT_MAX)
        return error_set(err, ERR_FAILURE, "%s: %s is out of range", ctx, key);
    *out = (int)json_integer_value(v);
    return true;
}

/* A boolean member; with optional, absence leaves *out as it is. */
static bool man_get_bool(json_t *o, const char *key, bool optional, const char *ctx, bool *out,
                         Error *err)
{
    json_t *v = json_object_get(o, key);

    if (optional && v == NULL)
        return true;
    if (v == NULL)
        return man_missing(ctx, key, err);
    if (!json_is_boolean(v))
        return man_wrong(ctx, key, v, "a boolean", err);
    *out = json_is_true(v);
    return true;
}

static bool man_get_number(json_t *o, const char *key, const char *ctx, double *out, Error *err)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return man_missing(ctx, key, err);
    if (!json_is_number(v))
        return man_wrong(ctx, key, v, "a number", err);
    *out = json_number_value(v);
    return true;
}

/* A member of type want (JSON_ARRAY or JSON_OBJECT), borrowed; with
 * optional, JSON null or absence gives NULL. */
static bool man_get_node(json_t *o, const char *key, json_type want, bool optional, const char *ctx,
                         json_t **out, Error *err)
{
    json_t *v = json_object_get(o, key);
    char expect[32];

    *out = NULL;
    if (optional && (v == NULL || json_is_null(v)))
        return true;
    if (v == NULL)
        return man_missing(ctx, key, err);
    if (json_typeof(v) != want)
    {
        snprintf(expect, sizeof(expect), "%s%s", want == JSON_ARRAY ? "an array" : "an object",
                 optional ? " or null" : "");
        return man_wrong(ctx, key, v, expect, err);
    }
    *out = v;
    return true;
}

/* An array of strings (arr may be NULL: none), copied into *out. */
static bool man_get_strings(json_t *arr, const char *ctx, const char *what, char ***out, size_t *n,
                            Error *err)
{
    json_t *v;
    size_t i;

    *n = json_array_size(arr);
    *out = xcalloc(*n + 1, sizeof(char *));
    json_array_foreach (arr, i, v)
    {
        if (!json_is_string(v))
            return error_set(err, ERR_FAILURE, "%s: %s %zu is %s, not a string", ctx, what, i + 1,
                             man_kind(v));
        (*out)[i] = xstrdup(json_string_value(v));
    }
    return true;
}

/* Room for the items of arr (NULL: none); zeroed, so that a list parsed
 * only in part is freed like a whole one. */
static void *man_alloc(json_t *arr, size_t size, size_t *n)
{
    *n = json_array_size(arr);
    return xcalloc(*n + 1, size);
}

/* Parses every element of arr, each an object, into items. */
static bool man_each(json_t *arr, const char *ctx, const char *what, ManItemFn fn, void *items,
                     size_t size, Error *err)
{
    json_t *v;
    size_t i;

    json_array_foreach (arr, i, v)
    {
        if (!json_is_object(v))
            return error_set(err, ERR_FAILURE, "%s: %s %zu is %s, not an object", ctx, what, i + 1,
                             man_kind(v));
        if (!fn(v, ctx, i + 1, (char *)items + i * size, err))
            return false;
    }
    return true;
}

/* ---- parsing -------------------------------------------------------------- */

/* The members of a stored stream, in o (a stream, or a table holding one). */
static bool man_parse_stream(json_t *o, const char *ctx, ManStream *s, Error *err)
{
    json_t *chunks = json_object_get(o, "chunks");
    json_t *hash = json_object_get(o, "hash");
    json_t *v;
    size_t i;

    if (chunks == NULL)
        return man_missing(ctx, "chunks", err);
    if (!json_is_array(chunks))
        return man_wrong(ctx, "chunks", chunks, "an array", err);
    json_array_foreach (chunks, i, v)
        if (!json_is_string(v))
            return error_set(err, ERR_FAILURE, "%s: chunk %zu is %s, not a string", ctx, i + 1,
                             man_kind(v));
    if (!man_get_uint(o, "bytes", ctx, &s->bytes, err))
        return false;
    if (hash == NULL)
        return man_missing(ctx, "hash", err);
    if (!json_is_string(hash))
        return man_wrong(ctx, "hash", hash, "a string", err);
    if (json_string_length(hash) >= sizeof(s->hash))
        return error_set(err, ERR_FAILURE, "%s: hash is longer than %zu characters", ctx,
                         sizeof(s->hash) - 1);
    memcpy(s->hash, json_string_value(hash), json_string_length(hash) + 1);
    s->chunks = json_incref(chunks);
    return true;
}

/* An optional stream member (a DDL dump, the globals): NULL when absent or null. */
static bool man_parse_opt_stream(json_t *o, const char *key, const char *parent, ManStream **out,
                                 Error *err)
{
    json_t *v;
    ManCtx ctx;

    if (!man_get_node(o, key, JSON_OBJECT, true, parent, &v, err))
        return false;
    if (v == NULL)
        return true;
    man_ctx(ctx, "%s: %s", parent, key);
    *out = xcalloc(1, sizeof(ManStream));
    return man_parse_stream(v, ctx, *out, err);
}

static bool man_parse_table(json_t *o, const char *parent, size_t pos, void *item, Error *err)
{
    ManTable *t = item;
    ManCtx ctx;

    man_ctx(ctx, "%s: table %zu", parent, pos);
    if (!man_get_str(o, "name", false, ctx, &t->name, err) ||
        !man_get_str(o, "schema", false, ctx, &t->schema, err))
        return false;
    man_ctx(ctx, "%s: table \"%s\".\"%s\"", parent, t->schema, t->name);
    return man_get_uint(o, "rows", ctx, &t->rows, err) && man_parse_stream(o, ctx, &t->data, err);
}

static bool man_parse_sequence(json_t *o, const char *parent, size_t pos, void *item, Error *err)
{
    ManSequence *s = item;
    ManCtx ctx;

    man_ctx(ctx, "%s: sequence %zu", parent, pos);
    if (!man_get_str(o, "name", false, ctx, &s->name, err) ||
        !man_get_str(o, "schema", false, ctx, &s->schema, err))
        return false;
    man_ctx(ctx, "%s: sequence \"%s\".\"%s\"", parent, s->schema, s->name);
    if (!man_get_str(o, "last_value", true, ctx, &s->last_value, err))
        return false;
    /* is_called goes with a value only: without one it means nothing */
    s->is_called = s->last_value != NULL;
    return s->last_value == NULL || man_get_bool(o, "is_called", true, ctx, &s->is_called, err);
}

static bool man_parse_matview(json_t *o, const char *parent, size_t pos, void *item, Error *err)
{
    ManMatview *v = item;
    ManCtx ctx;

    man_ctx(ctx, "%s: materialized view %zu", parent, pos);
    return man_get_str(o, "name", false, ctx, &v->name, err) &&
           man_get_str(o, "schema", false, ctx, &v->schema, err);
}

static bool man_parse_tenant(json_t *o, const char *parent, size_t pos, void *item, Error *err)
{
    ManTenant *t = item;
    json_t *tables, *seqs, *mvs;
    ManCtx ctx;

    man_ctx(ctx, "%s: tenant %zu", parent, pos);
    if (!man_get_str(o, "name", false, ctx, &t->name, err) ||
        !man_get_bool(o, "shared", false, ctx, &t->shared, err))
        return false;
    man_ctx(ctx, "%s: %s \"%s\"", parent, t->shared ? "shared part" : "tenant", t->name);
    if (!man_get_str(o, "class", false, ctx, &t->class, err) ||
        !man_get_str(o, "database", false, ctx, &t->database, err) ||
        !man_get_str(o, "schema", true, ctx, &t->schema, err) ||
        !man_get_str(o, "owner", false, ctx, &t->owner, err) ||
        !man_get_uint(o, "rows", ctx, &t->rows, err) ||
        !man_get_uint(o, "bytes", ctx, &t->bytes, err) ||
        !man_get_node(o, "tables", JSON_ARRAY, false, ctx, &tables, err) ||
        !man_get_node(o, "sequences", JSON_ARRAY, false, ctx, &seqs, err) ||
        !man_get_node(o, "matviews", JSON_ARRAY, false, ctx, &mvs, err))
        return false;
    t->tables = man_alloc(tables, sizeof(ManTable), &t->n_tables);
    t->sequences = man_alloc(seqs, sizeof(ManSequence), &t->n_sequences);
    t->matviews = man_alloc(mvs, sizeof(ManMatview), &t->n_matviews);
    return man_each(tables, ctx, "table", man_parse_table, t->tables, sizeof(ManTable), err) &&
           man_each(seqs, ctx, "sequence", man_parse_sequence, t->sequences, sizeof(ManSequence),
                    err) &&
           man_each(mvs, ctx, "materialized view", man_parse_matview, t->matviews,
                    sizeof(ManMatview), err) &&
           man_parse_opt_stream(o, "ddl", ctx, &t->ddl, err);
}

static bool man_parse_extension(json_t *o, const char *parent, size_t pos, void *item, Error *err)
{
    ManExtension *e = item;
    ManCtx ctx;

    man_ctx(ctx, "%s: extension %zu", parent, pos);
    return man_get_str(o, "name", false, ctx, &e->name, err) &&
           man_get_str(o, "schema", false, ctx, &e->schema, err);
}

static bool man_parse_grant(json_t *o, const char *parent, size_t pos, void *item, Error *err)
{
    ManGrant *g = item;
    ManCtx ctx;

    man_ctx(ctx, "%s: grant %zu", parent, pos);
    return man_get_str(o, "grantee", true, ctx, &g->grantee, err) &&
           man_get_str(o, "privilege", false, ctx, &g->privilege, err) &&
           man_get_bool(o, "grantable", false, ctx, &g->grantable, err);
}

static bool man_parse_role_settings(json_t *o, const char *parent, size_t pos, void *item,
                                    Error *err)
{
    ManRoleSettings *rs = item;
    json_t *settings;
    ManCtx ctx;

    man_ctx(ctx, "%s: role settings %zu", parent, pos);
    if (!man_get_str(o, "role", false, ctx, &rs->role, err))
        return false;
    man_ctx(ctx, "%s: settings of role \"%s\"", parent, rs->role);
    /* a role's setconfig is never NULL in practice; null reads as none */
    return man_get_node(o, "settings", JSON_ARRAY, true, ctx, &settings, err) &&
           man_get_strings(settings, ctx, "setting", &rs->settings, &rs->n_settings, err);
}

static bool man_parse_database(json_t *o, const char *parent, size_t pos, void *item, Error *err)
{
    ManDatabase *d = item;
    json_t *exts, *settings, *acl, *roles;
    ManCtx ctx;

    man_ctx(ctx, "%s: database %zu", parent, pos);
    if (!man_get_str(o, "name", false, ctx, &d->name, err))
        return false;
    man_ctx(ctx, "%s: database \"%s\"", parent, d->name);
    if (!man_get_str(o, "owner", false, ctx, &d->owner, err) ||
        !man_get_node(o, "extensions", JSON_ARRAY, false, ctx, &exts, err) ||
        !man_get_str(o, "encoding", false, ctx, &d->encoding, err) ||
        !man_get_str(o, "collate", false, ctx, &d->collate, err) ||
        !man_get_str(o, "ctype", false, ctx, &d->ctype, err) ||
        !man_get_str(o, "dba", false, ctx, &d->dba, err) ||
        !man_get_node(o, "settings", JSON_ARRAY, true, ctx, &settings, err) ||
        !man_get_str(o, "comment", true, ctx, &d->comment, err) ||
        !man_get_node(o, "acl", JSON_ARRAY, true, ctx, &acl, err) ||
        !man_get_node(o, "role_settings", JSON_ARRAY, true, ctx, &roles, err))
        return false;
    d->has_settings = settings != NULL;
    d->has_acl = acl != NULL;
    d->extensions = man_alloc(exts, sizeof(ManExtension), &d->n_extensions);
    d->acl = man_alloc(acl, sizeof(ManGrant), &d->n_acl);
    d->role_settings = man_alloc(roles, sizeof(ManRoleSettings), &d->n_role_settings);
    return man_each(exts, ctx, "extension", man_parse_extension, d->extensions,
                    sizeof(ManExtension), err) &&
           man_get_strings(settings, ctx, "setting", &d->settings, &d->n_settings, err) &&
           man_each(acl, ctx, "grant", man_parse_grant, d->acl, sizeof(ManGrant), err) &&
           man_each(roles, ctx, "role settings", man_parse_role_settings, d->role_settings,
                    sizeof(ManRoleSettings), err) &&
           man_parse_opt_stream(o, "ddl", ctx, &d->ddl, err);
}

static bool man_parse_failed(json_t *o, const char *parent, size_t pos, void *item, Error *err)
{
    ManFailed *f = item;
    ManCtx ctx;

    man_ctx(ctx, "%s: failed part %zu", parent, pos);
    return man_get_str(o, "name", false, ctx, &f->name, err) &&
           man_get_str(o, "error", false, ctx, &f->error, err);
}

static bool man_parse_unreadable(json_t *o, const char *parent, size_t pos, void *item, Error *err)
{
    ManUnreadable *u = item;
    ManCtx ctx;

    man_ctx(ctx, "%s: unreadable part %zu", parent, pos);
    return man_get_str(o, "part", false, ctx, &u->part, err) &&
           man_get_str(o, "tenant", true, ctx, &u->tenant, err) &&
           man_get_str(o, "error", false, ctx, &u->error, err) &&
           man_get_bool(o, "destroyed", false, ctx, &u->destroyed, err);
}

static bool man_parse_stats(json_t *o, const char *parent, ManStats *st, Error *err)
{
    ManCtx ctx;

    man_ctx(ctx, "%s: stats", parent);
    return man_get_uint(o, "tenants", ctx, &st->tenants, err) &&
           man_get_uint(o, "tables", ctx, &st->tables, err) &&
           man_get_uint(o, "rows", ctx, &st->rows, err) &&
           man_get_uint(o, "bytes_read", ctx, &st->bytes_read, err) &&
           man_get_uint(o, "bytes_added", ctx, &st->bytes_added, err) &&
           man_get_number(o, "seconds", ctx, &st->seconds, err);
}

static bool man_parse_doc(json_t *doc, const char *ctx, Manifest *m, Error *err)
{
    json_t *tags, *stats, *dbs, *tenants, *failed, *unreadable;

    if (!man_get_str(doc, "id", true, ctx, &m->id, err) ||
        !man_get_int(doc, "format", ctx, &m->format, err) ||
        !man_get_str(doc, "time", false, ctx, &m->time, err) ||
        !man_get_str(doc, "kind", false, ctx, &m->kind, err) ||
        !man_get_str(doc, "host", false, ctx, &m->host, err) ||
        !man_get_str(doc, "pin_until", true, ctx, &m->pin_until, err) ||
        !man_get_str(doc, "model", false, ctx, &m->model, err) ||
        !man_get_str(doc, "server_version", false, ctx, &m->server_version, err) ||
        !man_get_int(doc, "server_major", ctx, &m->server_major, err) ||
        !man_get_node(doc, "tags", JSON_ARRAY, false, ctx, &tags, err) ||
        !man_get_strings(tags, ctx, "tag", &m->tags, &m->n_tags, err) ||
        !man_get_node(doc, "stats", JSON_OBJECT, false, ctx, &stats, err) ||
        !man_parse_stats(stats, ctx, &m->stats, err) ||
        !man_parse_opt_stream(doc, "globals", ctx, &m->globals, err) ||
        !man_get_node(doc, "databases", JSON_ARRAY, false, ctx, &dbs, err) ||
        !man_get_node(doc, "tenants", JSON_ARRAY, false, ctx, &tenants, err) ||
        !man_get_node(doc, "failed", JSON_ARRAY, false, ctx, &failed, err) ||
        !man_get_node(doc, "unreadable", JSON_ARRAY, true, ctx, &unreadable, err))
        return false;
    m->has_unreadable = unreadable != NULL;
    m->databases = man_alloc(dbs, sizeof(ManDatabase), &m->n_databases);
    m->tenants = man_alloc(tenants, sizeof(ManTenant), &m->n_tenants);
    m->failed = man_alloc(failed, sizeof(ManFailed), &m->n_failed);
    m->unreadable = man_alloc(unreadable, sizeof(ManUnreadable), &m->n_unreadable);
    return man_each(dbs, ctx, "database", man_parse_database, m->databases, sizeof(ManDatabase),
                    err) &&
           man_each(tenants, ctx, "tenant", man_parse_tenant, m->tenants, sizeof(ManTenant), err) &&
           man_each(failed, ctx, "failed part", man_parse_failed, m->failed, sizeof(ManFailed),
                    err) &&
           man_each(unreadable, ctx, "unreadable part", man_parse_unreadable, m->unreadable,
                    sizeof(ManUnreadable), err);
}

Manifest *manifest_parse(json_t *doc, Error *err)
{
    json_t *id = json_object_get(doc, "id");
    Manifest *m;
    ManCtx ctx;

    if (doc == NULL || !json_is_object(doc))
    {
        error_set(err, ERR_FAILURE, "snapshot is %s, not an object",
                  doc == NULL ? "missing" : man_kind(doc));
        error_hint(err, "run \"coffer check\"; the snapshot may be damaged");
        return NULL;
    }
    if (json_is_string(id))
        man_ctx(ctx, "snapshot %.12s", json_string_value(id));
    else
        man_ctx(ctx, "snapshot");
    m = xcalloc(1, sizeof(Manifest));
    if (!man_parse_doc(doc, ctx, m, err))
    {
        manifest_free(m);
        error_hint(err, "run \"coffer check\"; the snapshot may be damaged");
        return NULL;
    }
    return m;
}

/* ---- freeing and looking up ----------------------------------------------- */

static void man_free_strings(char **items, size_t n)
{
    for (size_t i = 0; i < n && items != NULL; i++)
        free(items[i]);
    free(items);
}

static void man_free_stream(ManStream *s)
{
    if (s != NULL)
        json_decref(s->chunks);
    free(s);
}

static void man_free_tenant(ManTenant *t)
{
    for (size_t i = 0; i < t->n_tables && t->tables != NULL; i++)
    {
        free(t->tables[i].schema);
        free(t->tables[i].name);
        json_decref(t->tables[i].data.chunks);
    }
    free(t->tables);
    for (size_t i = 0; i < t->n_sequences && t->sequences != NULL; i++)
    {
        free(t->sequences[i].schema);
        free(t->sequences[i].name);
        free(t->sequences[i].last_value);
    }
    free(t->sequences);
    for (size_t i = 0; i < t->n_matviews && t->matviews != NULL; i++)
    {
        free(t->matviews[i].schema);
        free(t->matviews[i].name);
    }
    free(t->matviews);
    man_free_stream(t->ddl);
    free(t->name);
    free(t->class);
    free(t->database);
    free(t->schema);
    free(t->owner);
}

static void man_free_database(ManDatabase *d)
{
    for (size_t i = 0; i < d->n_extensions && d->extensions != NULL; i++)
    {
        free(d->extensions[i].name);
        free(d->extensions[i].schema);
    }
    free(d->extensions);
    for (size_t i = 0; i < d->n_acl && d->acl != NULL; i++)
    {
        free(d->acl[i].grantee);
        free(d->acl[i].privilege);
    }
    free(d->acl);
    for (size_t i = 0; i < d->n_role_settings && d->role_settings != NULL; i++)
    {
        free(d->role_settings[i].role);
        man_free_strings(d->role_settings[i].settings, d->role_settings[i].n_settings);
    }
    free(d->role_settings);
    man_free_strings(d->settings, d->n_settings);
    man_free_stream(d->ddl);
    free(d->name);
    free(d->owner);
    free(d->encoding);
    free(d->collate);
    free(d->ctype);
    free(d->dba);
    free(d->comment);
}

void manifest_free(Manifest *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_databases && m->databases != NULL; i++)
        man_free_database(&m->databases[i]);
    free(m->databases);
    for (size_t i = 0; i < m->n_tenants && m->tenants != NULL; i++)
        man_free_tenant(&m->tenants[i]);
    free(m->tenants);
    for (size_t i = 0; i < m->n_failed && m->failed != NULL; i++)
    {
        free(m->failed[i].name);
        free(m->failed[i].error);
    }
    free(m->failed);
    for (size_t i = 0; i < m->n_unreadable && m->unreadable != NULL; i++)
    {
        free(m->unreadable[i].part);
        free(m->unreadable[i].tenant);
        free(m->unreadable[i].error);
    }
    free(m->unreadable);
    man_free_strings(m->tags, m->n_tags);
    man_free_stream(m->globals);
    free(m->id);
    free(m->time);
    free(m->kind);
    free(m->host);
    free(m->pin_until);
    free(m->model);
    free(m->server_version);
    free(m);
}

const ManTenant *manifest_find_tenant(const Manifest *m, const char *name, bool shared)
{
    for (size_t i = 0; i < m->n_tenants; i++)
    {
        const ManTenant *t = &m->tenants[i];

        if (t->shared == shared && t->name != NULL && strcmp(t->name, name) == 0)
            return t;
    }
    return NULL;
}

const ManDatabase *manifest_find_database(const Manifest *m, const char *name)
{
    for (size_t i = 0; i < m->n_databases; i++)
        if (m->databases[i].name != NULL && strcmp(m->databases[i].name, name) == 0)
            return &m->databases[i];
    return NULL;
}

bool manifest_is_safety(const Manifest *m)
{
    for (size_t i = 0; i < m->n_tags; i++)
        if (m->tags[i] != NULL && strcmp(m->tags[i], "safety") == 0)
            return true;
    return false;
}
