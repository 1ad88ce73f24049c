/*
 * session.c - opening one database for the backup: the coordinator exports
 * its snapshot, checks that every part's schema and relations can still be
 * read, reads sequence values, materialized views, extensions and database
 * properties, then queues the DDL dump and one job per table.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup_intern.h"
#include "common/log.h"
#include "common/mem.h"

static Unit *session_unit_for_schema(Backup *b, Session *s, const char *schema)
{
    for (size_t i = 0; i < s->n_units; i++)
        if (b->ops->owns_schema(s->units[i]->tenant, schema))
            return s->units[i];
    return NULL;
}

/* Leaves a schema out of the session's DDL dump (once); a tenant without
 * a schema of its own (NULL: a whole database) leaves nothing out. */
static void session_exclude(Session *s, const char *schema)
{
    if (schema == NULL)
        return;
    for (size_t i = 0; i < s->n_exclude; i++)
        if (strcmp(s->exclude[i], schema) == 0)
            return;
    s->exclude = xrealloc(s->exclude, sizeof(char *) * (s->n_exclude + 1));
    s->exclude[s->n_exclude++] = xstrdup(schema);
}

/* A unit the session can no longer back up: it is reported and left out of
 * the snapshot; in the schema model its schema is also left out of the DDL
 * dump, whose locks would otherwise fail the whole database. */
static void backup_unit_drop(Backup *b, Session *s, Unit *u, const Error *err)
{
    bool all = true;

    backup_unit_fail(b, u, err);
    session_exclude(s, u->tenant->schema);
    for (size_t i = 0; i < s->n_units; i++)
        all = all && s->units[i]->failed;
    if (all)
        s->failed = true;
}

/* Fails the units whose schema is missing from the snapshot: dropped (or
 * renamed) between discovery and the snapshot. Without this they would be
 * saved as empty tenants. */
static bool backup_check_schemas(Backup *b, Session *s, Error *err)
{
    PgNameList schemas;

    if (!pg_catalog_schemas(s->coord, &schemas, err))
        return false;
    for (size_t i = 0; i < s->n_units; i++)
    {
        Unit *u = s->units[i];
        bool found = false;
        Error e;

        /* a part that owns every schema of its database is found with any */
        for (size_t r = 0; r < schemas.count && !found; r++)
            found = b->ops->owns_schema(u->tenant, schemas.names[r]);
        if (found)
            continue;
        error_clear(&e);
        error_set(&e, ERR_FAILURE,
                  "schema \"%s\" no longer exists in database \"%s\": it was "
                  "dropped or renamed during the backup",
                  u->tenant->schema, s->dbname);
        error_hint(&e,
                   "it is not in this snapshot; \"coffer list --tenant %s\" shows the "
                   "earlier ones that hold it",
                   u->tenant->name);
        backup_unit_drop(b, s, u, &e);
    }
    pg_name_list_free(&schemas);
    return true;
}

/* Finds relations the backup cannot read: tables and sequences whose
 * privileges are missing, or that were dropped since the snapshot. The
 * list comes from the snapshot; privileges and existence are looked up in
 * the current catalog (pg_catalog_unreadable), so this also sees what
 * changed after the snapshot was taken. Each unit with such a relation
 * fails; a schema that belongs to no unit is only left out of the DDL
 * dump (pg_dump locks every table it dumps). *found counts what is new. */
bool backup_check_relations(Backup *b, Session *s, int *found, Error *err)
{
    PgRelationList rels;
    const char *role = PQuser(s->coord);

    *found = 0;
    if (!pg_catalog_unreadable(s->coord, &rels, err))
        return false;
    for (size_t i = 0; i < rels.count; i++)
    {
        const char *nsp = rels.items[i].schema, *rel = rels.items[i].name;
        const char *kind = rels.items[i].kind == 'S' ? "sequence" : "table";
        bool gone = rels.items[i].access == PG_ACCESS_DROPPED;
        Unit *u = session_unit_for_schema(b, s, nsp);
        Error e;

        if (u == NULL)
        {
            size_t before = s->n_exclude;

            /* another tenant's or an unlisted schema: pg_dump must not lock it */
            if (kind[0] == 't')
                session_exclude(s, nsp);
            if (s->n_exclude > before)
            {
                log_info("database \"%s\": schema \"%s\" is not backed up now and its table "
                         "\"%s\" cannot be read (%s); it is left out of the schema dump",
                         s->dbname, nsp, rel, gone ? "dropped" : "permission denied");
                (*found)++;
            }
            continue;
        }
        /* a tenant already in the snapshot (its part written) was read whole */
        if (u->failed || u->ref != NULL)
            continue;
        error_clear(&e);
        if (gone)
        {
            error_set(&e, ERR_FAILURE, "%s \"%s\".\"%s\" was dropped during the backup", kind, nsp,
                      rel);
            error_hint(&e, "it is not in this snapshot; back it up again once its schema "
                           "changes are done");
        }
        else
        {
            error_set(&e, ERR_FAILURE, "permission denied for %s \"%s\".\"%s\" (role \"%s\")", kind,
                      nsp, rel, role ? role : "?");
            error_hint(&e,
                       "grant the backup role USAGE on schema \"%s\" and SELECT on its "
                       "tables and sequences (GRANT SELECT ON ALL TABLES IN SCHEMA ..., "
                       "GRANT SELECT ON ALL SEQUENCES IN SCHEMA ...), or membership in "
                       "pg_read_all_data",
                       nsp);
        }
        backup_unit_drop(b, s, u, &e);
        (*found)++;
    }
    pg_relation_list_free(&rels);
    return true;
}

/* The manifest entry of a sequence pg_sequence_last_value() returns NULL
 * for: its row's last_value and is_called, read on a connection of its own
 * (an error must not abort the coordinator's snapshot). If it cannot be
 * read, last_value stays null and restore leaves the sequence as created. */
static json_t *backup_read_sequence_row(Backup *b, Session *s, PGconn **conn, const char *nsp,
                                        const char *name)
{
    json_t *o = json_pack("{s:s, s:s, s:n}", "schema", nsp, "name", name, "last_value");
    Error err;
    char *last_value = NULL;
    bool is_called = false;

    error_clear(&err);
    if (*conn == NULL)
        *conn = pg_connect(b->cfg->pg_conninfo, s->dbname, &err);
    if (*conn == NULL || !pg_catalog_sequence_row(*conn, nsp, name, &last_value, &is_called, &err))
        return o;
    json_object_set_new(o, "last_value", json_string(last_value));
    json_object_set_new(o, "is_called", json_boolean(is_called));
    free(last_value);
    return o;
}

/* Reads the sequence values of the session's units. Which sequences exist
 * comes from the snapshot; their values (not transactional, so no snapshot
 * applies to them) are read over a short connection of their own:
 * pg_sequence_last_value keeps its lock until the end of the transaction,
 * and in the coordinator's that would be the end of the backup, blocking
 * every DROP of a tenant until then. A sequence dropped while the read
 * waited for its lock fails the read once; the retry skips it (its
 * privilege test is NULL then) and its part fails. */
static bool backup_read_sequences(Backup *b, Session *s, Error *err)
{
    const char **schemas = NULL;
    size_t n_schemas = 0;
    PgRelationList seqs;
    PgSequenceValueList vals = {0};
    bool have_vals = false;
    PGconn *conn, *seq_conn = NULL;

    /* only the sequences of the parts being backed up (all of them when a
     * tenant is a whole database), so another tenant's DDL cannot get in
     * the way */
    if (!b->ops->whole_database)
    {
        schemas = xcalloc(s->n_units + 1, sizeof(char *));
        for (size_t i = 0; i < s->n_units; i++)
            if (!s->units[i]->failed)
                schemas[n_schemas++] = s->units[i]->tenant->schema;
    }
    have_vals = pg_catalog_sequences(s->coord, schemas, n_schemas, &seqs, err);
    free(schemas);
    if (!have_vals)
        return false;
    have_vals = false;
    if (seqs.count == 0)
    {
        pg_relation_list_free(&seqs);
        return true;
    }
    conn = pg_connect(b->cfg->pg_conninfo, s->dbname, err);
    for (int attempt = 0; conn != NULL && !have_vals; attempt++)
    {
        have_vals = pg_catalog_sequence_values(conn, b->cfg->pg_lock_budget, &seqs, &vals, err);
        if (!have_vals && (attempt == 2 || PQstatus(conn) != CONNECTION_OK))
            break;
        if (!have_vals)
        {
            log_info("database \"%s\": reading sequences again (%s)", s->dbname, err->message);
            error_clear(err);
        }
    }
    PQfinish(conn);
    if (!have_vals || vals.count != seqs.count)
    {
        if (have_vals)
            error_set(err, ERR_FAILURE, "read sequences: expected %d rows, got %d", (int)seqs.count,
                      (int)vals.count);
        pg_sequence_value_list_free(&vals);
        pg_relation_list_free(&seqs);
        return false;
    }
    for (size_t i = 0; i < seqs.count; i++)
    {
        const char *nsp = seqs.items[i].schema, *name = seqs.items[i].name;
        const PgSequenceValue *v = &vals.items[i];
        Unit *u = session_unit_for_schema(b, s, nsp);

        if (u == NULL || u->failed)
            continue;
        if (v->access != PG_ACCESS_READABLE)
        {
            /* a value we cannot read must not be saved as "never called" */
            Error e;

            error_clear(&e);
            if (v->access == PG_ACCESS_DROPPED)
                error_set(&e, ERR_FAILURE, "sequence \"%s\".\"%s\" was dropped during the backup",
                          nsp, name);
            else
            {
                error_set(&e, ERR_FAILURE, "permission denied for sequence \"%s\".\"%s\"", nsp,
                          name);
                error_hint(&e,
                           "grant the backup role SELECT on the sequences of schema \"%s\" "
                           "(GRANT SELECT ON ALL SEQUENCES IN SCHEMA ...), or membership in "
                           "pg_read_all_data",
                           nsp);
            }
            backup_unit_drop(b, s, u, &e);
            continue;
        }
        if (v->last_value == NULL)
        {
            /* never called, or reset with setval(..., false): only the
             * sequence's own row tells its value and is_called */
            json_t *seq = backup_read_sequence_row(b, s, &seq_conn, nsp, name);

            json_array_append_new(u->sequences, seq);
            continue;
        }
        json_array_append_new(u->sequences,
                              json_pack("{s:s, s:s, s:s, s:b}", "schema", nsp, "name", name,
                                        "last_value", v->last_value, "is_called", 1));
    }
    PQfinish(seq_conn);
    pg_sequence_value_list_free(&vals);
    pg_relation_list_free(&seqs);
    return true;
}

/* "name=value" settings as a JSON array of strings; null for none. */
static json_t *backup_json_settings(const PgNameList *settings)
{
    json_t *a;

    if (settings == NULL)
        return json_null();
    a = json_array();
    for (size_t i = 0; i < settings->count; i++)
        json_array_append_new(a, json_string(settings->names[i]));
    return a;
}

/* The manifest's "databases" entry (without "ddl", which the schema dump
 * adds): the database's name, the owner of its DDL, its extensions and
 * what re-creating it under another name needs. */
static json_t *backup_database_doc(const Session *s, const PgExtensionList *exts,
                                   const PgDatabaseProps *p)
{
    json_t *ext = json_array(), *doc, *acl, *roles = json_array();

    for (size_t i = 0; i < exts->count; i++)
        json_array_append_new(ext, json_pack("{s:s, s:s}", "name", exts->items[i].name, "schema",
                                             exts->items[i].schema));
    doc = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s}", "name", s->dbname, "owner", s->ddl_owner,
                    "extensions", ext, "encoding", p->encoding, "collate", p->collate, "ctype",
                    p->ctype, "dba", p->dba);
    if (p->settings != NULL)
        json_object_set_new(doc, "settings", backup_json_settings(p->settings));
    /* comment, grants (null: the defaults) and per-role settings, for a
     * database restored under another name */
    json_object_set_new(doc, "comment", p->comment ? json_string(p->comment) : json_null());
    acl = p->has_acl ? json_array() : json_null();
    for (size_t i = 0; i < p->n_acl; i++)
        json_array_append_new(
            acl, json_pack("{s:o, s:s, s:b}", "grantee",
                           p->acl[i].grantee ? json_string(p->acl[i].grantee) : json_null(),
                           "privilege", p->acl[i].privilege, "grantable", p->acl[i].grantable));
    json_object_set_new(doc, "acl", acl);
    for (size_t i = 0; i < p->n_role_settings; i++)
        json_array_append_new(roles,
                              json_pack("{s:s, s:o}", "role", p->role_settings[i].role, "settings",
                                        backup_json_settings(p->role_settings[i].settings)));
    json_object_set_new(doc, "role_settings", roles);
    return doc;
}

/* Reads, inside the snapshot, what the manifest needs besides data:
 * tables to copy, sequence values, populated materialized views,
 * extensions and database properties. Queues the DDL and table jobs. */
bool backup_open(Backup *b, Session *s, Error *err)
{
    PgRelationList tables, matviews;
    PgExtensionList exts;
    PgDatabaseProps props;
    Job **jobs = NULL;
    size_t n = 0;

    s->coord = pg_connect(b->cfg->pg_conninfo, s->dbname, err);
    if (s->coord == NULL)
        return false;
    s->snapshot = pg_snapshot_export(s->coord, err);
    if (s->snapshot == NULL)
        return false;
    {
        int found;

        if (!backup_check_schemas(b, s, err) || !backup_check_relations(b, s, &found, err))
            return false;
    }
    if (s->failed)
    {
        /* every unit of the database failed and was reported: nothing to queue */
        PQfinish(s->coord);
        s->coord = NULL;
        return true;
    }
    /* largest first is the queue's order, not the query's */
    if (!pg_catalog_tables(s->coord, b->cfg->pg_lock_budget, &tables, err))
        return false;
    jobs = xmalloc(sizeof(Job *) * (tables.count + 1));
    for (size_t i = 0; i < tables.count; i++)
    {
        const PgRelation *t = &tables.items[i];
        Unit *u = session_unit_for_schema(b, s, t->schema);

        if (u != NULL && !u->failed)
        {
            jobs[n++] = job_new(JOB_TABLE, s, u, t->schema, t->name, t->bytes);
            u->pending++;
        }
    }
    pg_relation_list_free(&tables);

    if (!backup_read_sequences(b, s, err))
        goto fail;

    if (!pg_catalog_matviews(s->coord, &matviews, err))
        goto fail;
    for (size_t i = 0; i < matviews.count; i++)
    {
        const PgRelation *m = &matviews.items[i];
        Unit *u = session_unit_for_schema(b, s, m->schema);

        if (u != NULL)
            json_array_append_new(u->matviews,
                                  json_pack("{s:s, s:s}", "schema", m->schema, "name", m->name));
    }
    pg_relation_list_free(&matviews);

    /* extensions, which a scratch or new database must create first */
    if (!pg_catalog_extensions(s->coord, &exts, err))
        goto fail;
    if (!pg_catalog_database(s->coord, &props, err))
    {
        pg_extension_list_free(&exts);
        goto fail;
    }
    s->doc = backup_database_doc(s, &exts, &props);
    pg_extension_list_free(&exts);
    pg_database_props_free(&props);

    pthread_mutex_lock(&b->lock);
    b->tables_total += n;
    /* and its DDL: a tenant's own, or its database's in the database model */
    for (size_t i = 0; i < s->n_units; i++)
        if (!s->units[i]->tenant->shared || b->ops->whole_database)
            s->units[i]->pending++;
    pthread_mutex_unlock(&b->lock);
    n = backup_bundle(jobs, n);
    pthread_mutex_lock(&b->lock);
    s->pending += (int)n + 1;
    backup_push_front(b, jobs, n);
    backup_push_dump(b, job_new(JOB_DDL, s, NULL, NULL, NULL, 0));
    pthread_mutex_unlock(&b->lock);
    free(jobs);
    return true;
fail:
    for (size_t i = 0; i < n; i++)
        job_free(jobs[i]);
    free(jobs);
    return false;
}
