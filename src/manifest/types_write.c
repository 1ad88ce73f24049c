/*
 * types_write.c - a typed snapshot written back as the JSON the backup
 * writes (manifest_to_json); types.c parses it, manifest.c splits it into
 * parts and assembles it again.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "manifest/manifest.h"

/* ---- writing -------------------------------------------------------------- */

/* A string, or null for NULL (never a missing member). */
static json_t *man_json_str(const char *s)
{
    json_t *v = s != NULL ? json_string(s) : NULL;

    return v != NULL ? v : json_null();
}

static json_t *man_json_strings(char *const *items, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, man_json_str(items[i]));
    return a;
}

/* Sets a stream's members in o; returns o. */
static json_t *man_json_stream(const ManStream *s, json_t *o)
{
    json_object_set_new(o, "chunks", s->chunks != NULL ? json_incref(s->chunks) : json_array());
    json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes));
    json_object_set_new(o, "hash", json_string(s->hash));
    return o;
}

static json_t *man_json_tenant(const ManTenant *t)
{
    json_t *o = json_object();
    json_t *tables = json_array(), *seqs = json_array(), *mvs = json_array();

    json_object_set_new(o, "name", man_json_str(t->name));
    json_object_set_new(o, "class", man_json_str(t->class));
    json_object_set_new(o, "shared", json_boolean(t->shared));
    json_object_set_new(o, "database", man_json_str(t->database));
    json_object_set_new(o, "schema", man_json_str(t->schema));
    json_object_set_new(o, "owner", man_json_str(t->owner));
    json_object_set_new(o, "rows", json_integer((json_int_t)t->rows));
    json_object_set_new(o, "bytes", json_integer((json_int_t)t->bytes));
    for (size_t i = 0; i < t->n_tables; i++)
    {
        const ManTable *x = &t->tables[i];
        json_t *tab = json_object();

        json_object_set_new(tab, "schema", man_json_str(x->schema));
        json_object_set_new(tab, "name", man_json_str(x->name));
        json_object_set_new(tab, "rows", json_integer((json_int_t)x->rows));
        json_array_append_new(tables, man_json_stream(&x->data, tab));
    }
    for (size_t i = 0; i < t->n_sequences; i++)
    {
        const ManSequence *x = &t->sequences[i];
        json_t *seq = json_object();

        json_object_set_new(seq, "schema", man_json_str(x->schema));
        json_object_set_new(seq, "name", man_json_str(x->name));
        json_object_set_new(seq, "last_value", man_json_str(x->last_value));
        if (x->last_value != NULL)
            json_object_set_new(seq, "is_called", json_boolean(x->is_called));
        json_array_append_new(seqs, seq);
    }
    for (size_t i = 0; i < t->n_matviews; i++)
        json_array_append_new(mvs,
                              json_pack("{s:o, s:o}", "schema", man_json_str(t->matviews[i].schema),
                                        "name", man_json_str(t->matviews[i].name)));
    json_object_set_new(o, "tables", tables);
    json_object_set_new(o, "sequences", seqs);
    json_object_set_new(o, "matviews", mvs);
    if (t->ddl != NULL)
        json_object_set_new(o, "ddl", man_json_stream(t->ddl, json_object()));
    return o;
}

static json_t *man_json_database(const ManDatabase *d)
{
    json_t *o = json_object();
    json_t *exts = json_array(), *roles = json_array();

    json_object_set_new(o, "name", man_json_str(d->name));
    json_object_set_new(o, "owner", man_json_str(d->owner));
    for (size_t i = 0; i < d->n_extensions; i++)
        json_array_append_new(exts,
                              json_pack("{s:o, s:o}", "name", man_json_str(d->extensions[i].name),
                                        "schema", man_json_str(d->extensions[i].schema)));
    json_object_set_new(o, "extensions", exts);
    json_object_set_new(o, "encoding", man_json_str(d->encoding));
    json_object_set_new(o, "collate", man_json_str(d->collate));
    json_object_set_new(o, "ctype", man_json_str(d->ctype));
    json_object_set_new(o, "dba", man_json_str(d->dba));
    if (d->has_settings)
        json_object_set_new(o, "settings", man_json_strings(d->settings, d->n_settings));
    json_object_set_new(o, "comment", man_json_str(d->comment));
    if (d->has_acl)
    {
        json_t *acl = json_array();

        for (size_t i = 0; i < d->n_acl; i++)
            json_array_append_new(acl, json_pack("{s:o, s:o, s:b}", "grantee",
                                                 man_json_str(d->acl[i].grantee), "privilege",
                                                 man_json_str(d->acl[i].privilege), "grantable",
                                                 d->acl[i].grantable));
        json_object_set_new(o, "acl", acl);
    }
    else
        json_object_set_new(o, "acl", json_null());
    for (size_t i = 0; i < d->n_role_settings; i++)
        json_array_append_new(roles, json_pack("{s:o, s:o}", "role",
                                               man_json_str(d->role_settings[i].role), "settings",
                                               man_json_strings(d->role_settings[i].settings,
                                                                d->role_settings[i].n_settings)));
    json_object_set_new(o, "role_settings", roles);
    if (d->ddl != NULL)
        json_object_set_new(o, "ddl", man_json_stream(d->ddl, json_object()));
    return o;
}

json_t *manifest_to_json(const Manifest *m)
{
    json_t *doc = json_object();
    json_t *dbs = json_array(), *tenants = json_array(), *failed = json_array();

    if (m->id != NULL)
        json_object_set_new(doc, "id", man_json_str(m->id));
    json_object_set_new(doc, "format", json_integer(m->format));
    json_object_set_new(doc, "time", man_json_str(m->time));
    json_object_set_new(doc, "kind", man_json_str(m->kind));
    json_object_set_new(doc, "host", man_json_str(m->host));
    json_object_set_new(doc, "model", man_json_str(m->model));
    json_object_set_new(doc, "server_version", man_json_str(m->server_version));
    json_object_set_new(doc, "server_major", json_integer(m->server_major));
    json_object_set_new(doc, "tags", man_json_strings(m->tags, m->n_tags));
    if (m->pin_until != NULL)
        json_object_set_new(doc, "pin_until", json_string(m->pin_until));
    json_object_set_new(doc, "stats",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:f}", "tenants",
                                  (json_int_t)m->stats.tenants, "tables",
                                  (json_int_t)m->stats.tables, "rows", (json_int_t)m->stats.rows,
                                  "bytes_read", (json_int_t)m->stats.bytes_read, "bytes_added",
                                  (json_int_t)m->stats.bytes_added, "seconds", m->stats.seconds));
    json_object_set_new(doc, "globals",
                        m->globals != NULL ? man_json_stream(m->globals, json_object())
                                           : json_null());
    for (size_t i = 0; i < m->n_databases; i++)
        json_array_append_new(dbs, man_json_database(&m->databases[i]));
    json_object_set_new(doc, "databases", dbs);
    for (size_t i = 0; i < m->n_tenants; i++)
        json_array_append_new(tenants, man_json_tenant(&m->tenants[i]));
    json_object_set_new(doc, "tenants", tenants);
    for (size_t i = 0; i < m->n_failed; i++)
        json_array_append_new(failed,
                              json_pack("{s:o, s:o}", "name", man_json_str(m->failed[i].name),
                                        "error", man_json_str(m->failed[i].error)));
    json_object_set_new(doc, "failed", failed);
    if (m->has_unreadable)
    {
        json_t *bad = json_array();

        for (size_t i = 0; i < m->n_unreadable; i++)
        {
            const ManUnreadable *u = &m->unreadable[i];
            json_t *o = json_pack("{s:o, s:o, s:b}", "part", man_json_str(u->part), "error",
                                  man_json_str(u->error), "destroyed", u->destroyed);

            if (u->tenant != NULL)
                json_object_set_new(o, "tenant", man_json_str(u->tenant));
            json_array_append_new(bad, o);
        }
        json_object_set_new(doc, "unreadable", bad);
    }
    return doc;
}
