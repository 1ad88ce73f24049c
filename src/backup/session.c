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
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"

static Unit *session_unit_for_schema(Backup *b, Session *s, const char *schema)
{
    for (size_t i = 0; i < s->n_units; i++)
        if (b->ops->owns_schema(s->units[i]->tenant, schema))
            return s->units[i];
    return NULL;
}

/* Rolls back to a savepoint and releases it: what ran inside it (a COPY, a
 * read of sequences) leaves no lock behind, and an error inside it does not
 * abort the snapshot's transaction. False when the connection is unusable. */
bool backup_release(PGconn *conn, const char *savepoint)
{
    char sql[96];
    Error e;

    error_clear(&e);
    snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT %s", savepoint);
    if (!pg_command(conn, "release locks", sql, &e))
        return false;
    snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT %s", savepoint);
    return pg_command(conn, "release savepoint", sql, &e);
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
    static const char sql[] = "SELECT n.nspname FROM pg_catalog.pg_namespace n";
    PGresult *res = pg_query(s->coord, "list schemas", sql, 0, NULL, err);

    if (res == NULL)
        return false;
    for (size_t i = 0; i < s->n_units; i++)
    {
        Unit *u = s->units[i];
        bool found = false;
        Error e;

        /* a part that owns every schema of its database is found with any */
        for (int r = 0; r < PQntuples(res) && !found; r++)
            found = b->ops->owns_schema(u->tenant, PQgetvalue(res, r, 0));
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
    PQclear(res);
    return true;
}

/* Finds relations the backup cannot read: tables and sequences whose
 * privileges are missing, or that were dropped since the snapshot. The
 * list comes from the snapshot; privileges and existence are looked up in
 * the current catalog (has_*_privilege is NULL for a dropped object), so
 * this also sees what changed after the snapshot was taken. Each unit with
 * such a relation fails; a schema that belongs to no unit is only left out
 * of the DDL dump (pg_dump locks every table it dumps). *found counts what
 * is new. */
bool backup_check_relations(Backup *b, Session *s, int *found, Error *err)
{
    static const char sql[] =
        "SELECT nspname, relname, relkind, readable FROM ("
        "  SELECT n.nspname, c.relname, c.relkind,"
        "         pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND"
        "         CASE WHEN c.relkind = 'S'"
        "              THEN pg_catalog.has_sequence_privilege(c.oid, 'SELECT,USAGE')"
        "              ELSE pg_catalog.has_table_privilege(c.oid, 'SELECT') END AS readable"
        "    FROM pg_catalog.pg_class c"
        "    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        "   WHERE c.relkind IN ('r', 'p', 'S')"
        "     AND " PG_SQL_USER_SCHEMA " AND " PG_SQL_NOT_EXTENSION_MEMBER ") q"
        " WHERE readable IS NOT TRUE"
        " ORDER BY nspname, relname";
    PGresult *res = pg_query(s->coord, "check privileges", sql, 0, NULL, err);
    const char *role = PQuser(s->coord);

    *found = 0;
    if (res == NULL)
        return false;
    for (int i = 0; i < PQntuples(res); i++)
    {
        const char *nsp = PQgetvalue(res, i, 0), *rel = PQgetvalue(res, i, 1);
        const char *kind = PQgetvalue(res, i, 2)[0] == 'S' ? "sequence" : "table";
        bool gone = PQgetisnull(res, i, 3);
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
        if (u->failed)
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
    PQclear(res);
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
    char *q = NULL, *sql;
    PGresult *res;

    error_clear(&err);
    if (*conn == NULL)
        *conn = pg_connect(b->cfg->pg_conninfo, s->dbname, &err);
    if (*conn != NULL)
        q = pg_quote_qualified(*conn, nsp, name, &err);
    if (q == NULL)
        return o;
    sql = xasprintf("SELECT last_value::text, is_called FROM %s", q);
    res = pg_query(*conn, "read sequence", sql, 0, NULL, &err);
    if (res != NULL && PQntuples(res) == 1)
    {
        json_object_set_new(o, "last_value", json_string(PQgetvalue(res, 0, 0)));
        json_object_set_new(o, "is_called", json_boolean(PQgetvalue(res, 0, 1)[0] == 't'));
    }
    PQclear(res);
    free(sql);
    free(q);
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
    static const char list_sql[] =
        "SELECT n.nspname, c.relname, c.oid"
        "  FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'S' AND NOT pg_catalog.pg_is_other_temp_schema(n.oid)"
        "   AND ($1::json IS NULL"
        "        OR n.nspname IN (SELECT pg_catalog.json_array_elements_text($1::json)))"
        " ORDER BY c.oid";
    static const char value_sql[] =
        "SELECT pg_catalog.has_sequence_privilege(x, 'SELECT,USAGE'),"
        "       CASE WHEN pg_catalog.has_sequence_privilege(x, 'SELECT,USAGE')"
        "            THEN pg_catalog.pg_sequence_last_value(x)::text END"
        "  FROM unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS s(x, i) ORDER BY i";
    json_t *schemas = b->ops->whole_database ? NULL : json_array();
    const char *params[1];
    char *text;
    PGresult *list, *vals = NULL;
    PGconn *conn, *seq_conn = NULL;
    Buf oids;

    /* only the sequences of the parts being backed up (all of them when a
     * tenant is a whole database), so another tenant's DDL cannot get in
     * the way */
    for (size_t i = 0; i < s->n_units && schemas != NULL; i++)
        if (!s->units[i]->failed)
            json_array_append_new(schemas, json_string(s->units[i]->tenant->schema));
    text = schemas ? json_dumps(schemas, JSON_COMPACT) : NULL;
    json_decref(schemas);
    params[0] = text;
    list = pg_query(s->coord, "list sequences", list_sql, 1, params, err);
    free(text);
    if (list == NULL)
        return false;
    if (PQntuples(list) == 0)
    {
        PQclear(list);
        return true;
    }
    buf_init(&oids);
    buf_append_str(&oids, "{");
    for (int i = 0; i < PQntuples(list); i++)
        buf_printf(&oids, "%s%s", i > 0 ? "," : "", PQgetvalue(list, i, 2));
    buf_append_str(&oids, "}");
    params[0] = buf_cstr(&oids);
    conn = pg_connect(b->cfg->pg_conninfo, s->dbname, err);
    for (int attempt = 0; conn != NULL && vals == NULL; attempt++)
    {
        vals = pg_query(conn, "read sequences", value_sql, 1, params, err);
        if (vals == NULL && (attempt == 2 || PQstatus(conn) != CONNECTION_OK))
            break;
        if (vals == NULL)
        {
            log_info("database \"%s\": reading sequences again (%s)", s->dbname, err->message);
            error_clear(err);
        }
    }
    PQfinish(conn);
    buf_free(&oids);
    if (vals == NULL || PQntuples(vals) != PQntuples(list))
    {
        if (vals != NULL)
            error_set(err, ERR_FAILURE, "read sequences: expected %d rows, got %d", PQntuples(list),
                      PQntuples(vals));
        PQclear(vals);
        PQclear(list);
        return false;
    }
    for (int i = 0; i < PQntuples(list); i++)
    {
        const char *nsp = PQgetvalue(list, i, 0), *name = PQgetvalue(list, i, 1);
        Unit *u = session_unit_for_schema(b, s, nsp);

        if (u == NULL || u->failed)
            continue;
        if (PQgetisnull(vals, i, 0) || PQgetvalue(vals, i, 0)[0] != 't')
        {
            /* a value we cannot read must not be saved as "never called" */
            Error e;

            error_clear(&e);
            if (PQgetisnull(vals, i, 0))
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
        if (PQgetisnull(vals, i, 1))
        {
            /* never called, or reset with setval(..., false): only the
             * sequence's own row tells its value and is_called */
            json_t *seq = backup_read_sequence_row(b, s, &seq_conn, nsp, name);

            json_array_append_new(u->sequences, seq);
            continue;
        }
        json_array_append_new(u->sequences,
                              json_pack("{s:s, s:s, s:s, s:b}", "schema", nsp, "name", name,
                                        "last_value", PQgetvalue(vals, i, 1), "is_called", 1));
    }
    PQfinish(seq_conn);
    PQclear(vals);
    PQclear(list);
    return true;
}

/* Reads, inside the snapshot, what the manifest needs besides data:
 * tables to copy, sequence values, populated materialized views,
 * extensions and database properties. Queues the DDL and table jobs. */
bool backup_open(Backup *b, Session *s, Error *err)
{
    /* user tables with data, largest first (partitions are their own tables) */
    static const char tables_sql[] =
        "SELECT n.nspname, c.relname, pg_catalog.pg_relation_size(c.oid)"
        "  FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND " PG_SQL_USER_SCHEMA " AND " PG_SQL_NOT_EXTENSION_MEMBER;
    /* materialized views that hold data, in creation order */
    static const char mv_sql[] = "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"
                                 "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                                 " WHERE c.relkind = 'm' AND c.relispopulated ORDER BY c.oid";
    /* extensions, which a scratch or new database must create first */
    static const char ext_sql[] = "SELECT e.extname, n.nspname FROM pg_catalog.pg_extension e"
                                  "  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
                                  " ORDER BY e.oid";
    /* database properties for re-creating the database */
    static const char db_sql[] =
        "SELECT pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,"
        "       pg_catalog.pg_get_userbyid(d.datdba),"
        "       (SELECT array_to_json(s.setconfig)::text FROM pg_catalog.pg_db_role_setting s"
        "         WHERE s.setdatabase = d.oid AND s.setrole = 0),"
        "       pg_catalog.shobj_description(d.oid, 'pg_database'),"
        "       CASE WHEN d.datacl IS NOT NULL THEN coalesce((SELECT pg_catalog.json_agg("
        "           pg_catalog.json_build_object('grantee', CASE WHEN a.grantee = 0 THEN NULL"
        "               ELSE pg_catalog.pg_get_userbyid(a.grantee) END,"
        "             'privilege', a.privilege_type, 'grantable', a.is_grantable))"
        "         FROM pg_catalog.aclexplode(d.datacl) a), '[]')::text END,"
        "       coalesce((SELECT pg_catalog.json_agg(pg_catalog.json_build_object("
        "             'role', pg_catalog.pg_get_userbyid(s.setrole), 'settings', s.setconfig))"
        "         FROM pg_catalog.pg_db_role_setting s"
        "        WHERE s.setdatabase = d.oid AND s.setrole <> 0), '[]')::text"
        "  FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()";
    PGresult *res;
    Job **jobs = NULL;
    size_t n = 0;
    json_t *exts = json_array();

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
    res = pg_query(s->coord, "list tables", tables_sql, 0, NULL, err);
    if (res == NULL)
        return false;
    jobs = xmalloc(sizeof(Job *) * ((size_t)PQntuples(res) + 1));
    for (int i = 0; i < PQntuples(res); i++)
    {
        Unit *u = session_unit_for_schema(b, s, PQgetvalue(res, i, 0));

        if (u != NULL && !u->failed)
            jobs[n++] = job_new(JOB_TABLE, s, u, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                                strtoll(PQgetvalue(res, i, 2), NULL, 10));
    }
    PQclear(res);

    if (!backup_read_sequences(b, s, err))
        goto fail;

    res = pg_query(s->coord, "list materialized views", mv_sql, 0, NULL, err);
    if (res == NULL)
        goto fail;
    for (int i = 0; i < PQntuples(res); i++)
    {
        Unit *u = session_unit_for_schema(b, s, PQgetvalue(res, i, 0));

        if (u != NULL)
            json_array_append_new(u->matviews,
                                  json_pack("{s:s, s:s}", "schema", PQgetvalue(res, i, 0), "name",
                                            PQgetvalue(res, i, 1)));
    }
    PQclear(res);

    res = pg_query(s->coord, "list extensions", ext_sql, 0, NULL, err);
    if (res == NULL)
        goto fail;
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(exts, json_pack("{s:s, s:s}", "name", PQgetvalue(res, i, 0), "schema",
                                              PQgetvalue(res, i, 1)));
    PQclear(res);

    res = pg_query(s->coord, "read database properties", db_sql, 0, NULL, err);
    if (res == NULL)
        goto fail;
    s->doc = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s}", "name", s->dbname, "owner",
                       s->ddl_owner, "extensions", exts, "encoding", PQgetvalue(res, 0, 0),
                       "collate", PQgetvalue(res, 0, 1), "ctype", PQgetvalue(res, 0, 2), "dba",
                       PQgetvalue(res, 0, 3));
    exts = NULL;
    if (!PQgetisnull(res, 0, 4))
        json_object_set_new(s->doc, "settings", json_loads(PQgetvalue(res, 0, 4), 0, NULL));
    /* comment, grants (null: the defaults) and per-role settings, for a
     * database restored under another name */
    json_object_set_new(s->doc, "comment",
                        PQgetisnull(res, 0, 5) ? json_null() : json_string(PQgetvalue(res, 0, 5)));
    json_object_set_new(s->doc, "acl",
                        PQgetisnull(res, 0, 6) ? json_null()
                                               : json_loads(PQgetvalue(res, 0, 6), 0, NULL));
    json_object_set_new(s->doc, "role_settings", json_loads(PQgetvalue(res, 0, 7), 0, NULL));
    PQclear(res);

    pthread_mutex_lock(&b->lock);
    b->tables_total += n;
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
    json_decref(exts);
    for (size_t i = 0; i < n; i++)
        job_free(jobs[i]);
    free(jobs);
    return false;
}
