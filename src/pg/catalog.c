/*
 * catalog.c - the catalog queries whose results the backup reads as C
 * values: schemas, tables and their sizes, unreadable relations, sequences
 * and their values, materialized views, extensions and the database's
 * properties. Each query runs on the caller's connection, so it sees that
 * connection's snapshot; the caller decides which connection that is.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "pg/pg.h"

void pg_name_list_free(PgNameList *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->names[i]);
    free(list->names);
    memset(list, 0, sizeof(*list));
}

void pg_relation_list_free(PgRelationList *list)
{
    for (size_t i = 0; i < list->count; i++)
    {
        free(list->items[i].schema);
        free(list->items[i].name);
    }
    free(list->items);
    memset(list, 0, sizeof(*list));
}

void pg_sequence_value_list_free(PgSequenceValueList *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].last_value);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

void pg_extension_list_free(PgExtensionList *list)
{
    for (size_t i = 0; i < list->count; i++)
    {
        free(list->items[i].name);
        free(list->items[i].schema);
    }
    free(list->items);
    memset(list, 0, sizeof(*list));
}

/* A copy of a column's value, NULL for SQL NULL. */
static char *catalog_value(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

/* The rows of res as relations: column 0 the schema, 1 the name. */
static void catalog_relations(const PGresult *res, PgRelationList *out)
{
    out->count = (size_t)PQntuples(res);
    out->items = xcalloc(out->count + 1, sizeof(PgRelation));
    for (size_t i = 0; i < out->count; i++)
    {
        out->items[i].schema = xstrdup(PQgetvalue(res, (int)i, 0));
        out->items[i].name = xstrdup(PQgetvalue(res, (int)i, 1));
    }
}

bool pg_catalog_schemas(PGconn *conn, PgNameList *out, Error *err)
{
    /* every schema name, in no particular order */
    static const char sql[] = "SELECT n.nspname FROM pg_catalog.pg_namespace n";
    PGresult *res = pg_query(conn, "list schemas", sql, 0, NULL, err);

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return false;
    out->count = (size_t)PQntuples(res);
    out->names = xcalloc(out->count + 1, sizeof(char *));
    for (size_t i = 0; i < out->count; i++)
        out->names[i] = xstrdup(PQgetvalue(res, (int)i, 0));
    PQclear(res);
    return true;
}

bool pg_catalog_tables(PGconn *conn, long lock_budget, PgRelationList *out, Error *err)
{
    /* schema, name and oid of user tables with data (partitions are their
     * own tables); their sizes lock them, and are read in batches */
    static const char sql[] =
        "SELECT n.nspname, c.relname, c.oid"
        "  FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND " PG_SQL_USER_SCHEMA " AND " PG_SQL_NOT_EXTENSION_MEMBER;
    PGresult *res = pg_query(conn, "list tables", sql, 0, NULL, err);
    uint32_t *oids;
    int64_t *bytes;
    bool ok;

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return false;
    catalog_relations(res, out);
    oids = xcalloc(out->count + 1, sizeof(uint32_t));
    bytes = xcalloc(out->count + 1, sizeof(int64_t));
    for (size_t i = 0; i < out->count; i++)
    {
        out->items[i].kind = 'r';
        oids[i] = out->items[i].oid = (uint32_t)strtoul(PQgetvalue(res, (int)i, 2), NULL, 10);
    }
    PQclear(res);
    ok = pg_relation_sizes(conn, lock_budget, oids, out->count, false, bytes, err);
    for (size_t i = 0; ok && i < out->count; i++)
        out->items[i].bytes = bytes[i];
    free(oids);
    free(bytes);
    if (!ok)
        pg_relation_list_free(out);
    return ok;
}

bool pg_catalog_unreadable(PGconn *conn, PgRelationList *out, Error *err)
{
    /* schema, name, relkind and readability (NULL: dropped) of the user
     * tables and sequences the role cannot read */
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
    PGresult *res = pg_query(conn, "check privileges", sql, 0, NULL, err);

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return false;
    catalog_relations(res, out);
    for (size_t i = 0; i < out->count; i++)
    {
        out->items[i].kind = PQgetvalue(res, (int)i, 2)[0];
        out->items[i].access = PQgetisnull(res, (int)i, 3) ? PG_ACCESS_DROPPED : PG_ACCESS_DENIED;
    }
    PQclear(res);
    return true;
}

bool pg_catalog_sequences(PGconn *conn, const char *const *schemas, size_t n_schemas,
                          PgRelationList *out, Error *err)
{
    /* schema, name and oid of the sequences of the schemas in $1 (a JSON
     * array of names; NULL: every schema), in creation order */
    static const char sql[] =
        "SELECT n.nspname, c.relname, c.oid"
        "  FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'S' AND NOT pg_catalog.pg_is_other_temp_schema(n.oid)"
        "   AND ($1::json IS NULL"
        "        OR n.nspname IN (SELECT pg_catalog.json_array_elements_text($1::json)))"
        " ORDER BY c.oid";
    json_t *names = schemas != NULL ? json_array() : NULL;
    const char *params[1];
    char *text;
    PGresult *res;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; names != NULL && i < n_schemas; i++)
        json_array_append_new(names, json_string(schemas[i]));
    text = names != NULL ? json_dumps(names, JSON_COMPACT) : NULL;
    json_decref(names);
    params[0] = text;
    res = pg_query(conn, "list sequences", sql, 1, params, err);
    free(text);
    if (res == NULL)
        return false;
    catalog_relations(res, out);
    for (size_t i = 0; i < out->count; i++)
    {
        out->items[i].kind = 'S';
        out->items[i].oid = (uint32_t)strtoul(PQgetvalue(res, (int)i, 2), NULL, 10);
    }
    PQclear(res);
    return true;
}

bool pg_catalog_matviews(PGconn *conn, PgRelationList *out, Error *err)
{
    /* schema and name of the materialized views that hold data, in
     * creation order */
    static const char sql[] = "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"
                              "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                              " WHERE c.relkind = 'm' AND c.relispopulated ORDER BY c.oid";
    PGresult *res = pg_query(conn, "list materialized views", sql, 0, NULL, err);

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return false;
    catalog_relations(res, out);
    for (size_t i = 0; i < out->count; i++)
        out->items[i].kind = 'm';
    PQclear(res);
    return true;
}

bool pg_catalog_sequence_row(PGconn *conn, const char *schema, const char *name, char **last_value,
                             bool *is_called, Error *err)
{
    char *q = pg_quote_qualified(conn, schema, name, err);
    char *sql;
    PGresult *res;
    bool ok;

    *last_value = NULL;
    *is_called = false;
    if (q == NULL)
        return false;
    /* the sequence's own row: its last_value and is_called */
    sql = xasprintf("SELECT last_value::text, is_called FROM %s", q);
    res = pg_query(conn, "read sequence", sql, 0, NULL, err);
    ok = res != NULL && PQntuples(res) == 1;
    if (ok)
    {
        *last_value = xstrdup(PQgetvalue(res, 0, 0));
        *is_called = PQgetvalue(res, 0, 1)[0] == 't';
    }
    else if (res != NULL)
        error_set(err, ERR_FAILURE, "read sequence: expected 1 row, got %d", PQntuples(res));
    PQclear(res);
    free(sql);
    free(q);
    return ok;
}

bool pg_catalog_extensions(PGconn *conn, PgExtensionList *out, Error *err)
{
    /* name and schema of each extension, in creation order */
    static const char sql[] = "SELECT e.extname, n.nspname FROM pg_catalog.pg_extension e"
                              "  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
                              " ORDER BY e.oid";
    PGresult *res = pg_query(conn, "list extensions", sql, 0, NULL, err);

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return false;
    out->count = (size_t)PQntuples(res);
    out->items = xcalloc(out->count + 1, sizeof(PgExtension));
    for (size_t i = 0; i < out->count; i++)
    {
        out->items[i].name = xstrdup(PQgetvalue(res, (int)i, 0));
        out->items[i].schema = xstrdup(PQgetvalue(res, (int)i, 1));
    }
    PQclear(res);
    return true;
}

/* A JSON array of strings (text[] through array_to_json) as names; NULL
 * when it is not one. */
static PgNameList *catalog_names(const json_t *array)
{
    PgNameList *list;

    if (!json_is_array(array))
        return NULL;
    list = xcalloc(1, sizeof(PgNameList));
    list->names = xcalloc(json_array_size(array) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(array); i++)
    {
        const char *s = json_string_value(json_array_get(array, i));

        if (s == NULL)
        {
            pg_name_list_free(list);
            free(list);
            return NULL;
        }
        list->names[list->count++] = xstrdup(s);
    }
    return list;
}

/* The database's ACL, from the JSON array of {grantee, privilege,
 * grantable} the query builds; false when it is not that. */
static bool catalog_acl(const char *text, PgDatabaseProps *out)
{
    json_t *a = json_loads(text, 0, NULL);
    bool ok = json_is_array(a);

    out->has_acl = true;
    out->acl = xcalloc(json_array_size(a) + 1, sizeof(PgGrant));
    for (size_t i = 0; ok && i < json_array_size(a); i++)
    {
        json_t *g = json_array_get(a, i);
        json_t *grantee = json_object_get(g, "grantee");
        const char *privilege = json_string_value(json_object_get(g, "privilege"));
        json_t *grantable = json_object_get(g, "grantable");

        ok = (json_is_null(grantee) || json_is_string(grantee)) && privilege != NULL &&
             json_is_boolean(grantable);
        if (!ok)
            break;
        out->acl[i].grantee = json_is_string(grantee) ? xstrdup(json_string_value(grantee)) : NULL;
        out->acl[i].privilege = xstrdup(privilege);
        out->acl[i].grantable = json_is_true(grantable);
        out->n_acl++;
    }
    json_decref(a);
    return ok;
}

/* The per-role settings, from the JSON array of {role, settings} the query
 * builds; false when it is not that. */
static bool catalog_role_settings(const char *text, PgDatabaseProps *out)
{
    json_t *a = json_loads(text, 0, NULL);
    bool ok = json_is_array(a);

    out->role_settings = xcalloc(json_array_size(a) + 1, sizeof(PgRoleSettings));
    for (size_t i = 0; ok && i < json_array_size(a); i++)
    {
        json_t *r = json_array_get(a, i);
        const char *role = json_string_value(json_object_get(r, "role"));
        json_t *settings = json_object_get(r, "settings");
        PgNameList *names = catalog_names(settings);

        ok = role != NULL && (names != NULL || json_is_null(settings));
        if (!ok)
        {
            if (names != NULL)
                pg_name_list_free(names);
            free(names);
            break;
        }
        out->role_settings[i].role = xstrdup(role);
        out->role_settings[i].settings = names;
        out->n_role_settings++;
    }
    json_decref(a);
    return ok;
}

bool pg_catalog_database(PGconn *conn, PgDatabaseProps *out, Error *err)
{
    /* encoding, collate, ctype and owner of the current database, its
     * settings for every role (a JSON array, NULL: none), its comment, its
     * grants (a JSON array of {grantee, privilege, grantable}, NULL: the
     * defaults) and its per-role settings (a JSON array of {role, settings}) */
    static const char sql[] =
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
    PGresult *res = pg_query(conn, "read database properties", sql, 0, NULL, err);
    bool ok = true;

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return false;
    if (PQntuples(res) != 1)
    {
        error_set(err, ERR_FAILURE, "read database properties: expected 1 row, got %d",
                  PQntuples(res));
        PQclear(res);
        return false;
    }
    out->encoding = xstrdup(PQgetvalue(res, 0, 0));
    out->collate = xstrdup(PQgetvalue(res, 0, 1));
    out->ctype = xstrdup(PQgetvalue(res, 0, 2));
    out->dba = xstrdup(PQgetvalue(res, 0, 3));
    if (!PQgetisnull(res, 0, 4))
    {
        json_t *settings = json_loads(PQgetvalue(res, 0, 4), 0, NULL);

        out->settings = catalog_names(settings);
        ok = out->settings != NULL;
        json_decref(settings);
    }
    out->comment = catalog_value(res, 0, 5);
    if (ok && !PQgetisnull(res, 0, 6))
        ok = catalog_acl(PQgetvalue(res, 0, 6), out);
    ok = ok && catalog_role_settings(PQgetvalue(res, 0, 7), out);
    PQclear(res);
    if (!ok)
    {
        pg_database_props_free(out);
        return error_set(err, ERR_FAILURE,
                         "read database properties: unexpected settings or privileges");
    }
    return true;
}

void pg_database_props_free(PgDatabaseProps *props)
{
    free(props->encoding);
    free(props->collate);
    free(props->ctype);
    free(props->dba);
    if (props->settings != NULL)
        pg_name_list_free(props->settings);
    free(props->settings);
    free(props->comment);
    for (size_t i = 0; i < props->n_acl; i++)
    {
        free(props->acl[i].grantee);
        free(props->acl[i].privilege);
    }
    free(props->acl);
    for (size_t i = 0; i < props->n_role_settings; i++)
    {
        free(props->role_settings[i].role);
        if (props->role_settings[i].settings != NULL)
            pg_name_list_free(props->role_settings[i].settings);
        free(props->role_settings[i].settings);
    }
    free(props->role_settings);
    memset(props, 0, sizeof(*props));
}
