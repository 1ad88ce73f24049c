/*
 * model_schema.c - the schema model's table: a tenant is one schema of a
 * database, beside shared schemas ("central", "public") that the tenants'
 * objects may refer to. Discovery is in tenancy.c; the DDL goes through
 * pg/admin.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "tenancy/tenancy_intern.h"

static bool schema_supported(Error *err)
{
    (void)err;
    return true;
}

static bool schema_names_check(const char *as, const char *into_db, Error *err)
{
    (void)as;
    (void)into_db;
    (void)err;
    return true;
}

static bool schema_owns_schema(const Tenant *t, const char *nsp)
{
    return strcmp(t->schema, nsp) == 0;
}

/* a database holds many tenants: its DDL dump is shared */
static const char *schema_ddl_owner(const char *part_owner)
{
    (void)part_owner;
    return "shared";
}

/* --as renames the tenant's schema, --into-db moves it (and the shared
 * schemas it lacks) to another database */
static void schema_place(const char *src_db, const char *src_schema, bool shared, const char *as,
                         const char *into_db, char **db, char **schema)
{
    *db = xstrdup(into_db ? into_db : src_db);
    *schema = xstrdup(as && !shared ? as : src_schema);
}

static const char *schema_object_name(const char *db, const char *schema)
{
    (void)db;
    return schema;
}

static const char *schema_home_db(const char *db)
{
    return db;
}

static bool schema_restores_into(const char *name, const char *src_name)
{
    return strcmp(name, "public") == 0 && strcmp(src_name, "public") == 0;
}

static const char *schema_table_schema(const char *target_schema, const char *own_schema)
{
    (void)own_schema;
    return target_schema;
}

static bool schema_rename(PGconn *conn, const char *what, const char *from, const char *to,
                          Error *err)
{
    return pg_exec_ident(conn, what, "ALTER SCHEMA %s RENAME TO %s", from, to, err);
}

static bool schema_drop(PGconn *conn, const char *name, const char *which, Error *err)
{
    char what[64];

    snprintf(what, sizeof(what), "drop %s schema", which);
    return pg_exec_ident(conn, what, "DROP SCHEMA %s CASCADE", name, NULL, err);
}

/* a schema is renamed or dropped under locks, not sessions */
static bool schema_terminate(PGconn *conn, const char *name, Error *err)
{
    (void)conn;
    (void)name;
    (void)err;
    return true;
}

/* Objects outside schema nsp that depend on objects in it (at most a few,
 * described), or NULL when there are none. */
static char *schema_dependents(PGconn *conn, const char *nsp, Error *err)
{
    static const char sql[] =
        "WITH ns AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1),"
        " objs AS ("
        "  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS cls, oid, relnamespace AS nsp"
        "    FROM pg_catalog.pg_class"
        "  UNION ALL SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass, a.oid, c.relnamespace"
        "    FROM pg_catalog.pg_attrdef a JOIN pg_catalog.pg_class c ON c.oid = a.adrelid"
        "  UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, oid, connamespace"
        "    FROM pg_catalog.pg_constraint"
        "  UNION ALL SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid, c.relnamespace"
        "    FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
        "  UNION ALL SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, w.oid, c.relnamespace"
        "    FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_class c ON c.oid = w.ev_class"
        "  UNION ALL SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid, c.relnamespace"
        "    FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid"
        "  UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, oid, pronamespace"
        "    FROM pg_catalog.pg_proc"
        "  UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, oid, typnamespace"
        "    FROM pg_catalog.pg_type"
        "  UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, oid, stxnamespace"
        "    FROM pg_catalog.pg_statistic_ext"
        "  UNION ALL SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, oid, collnamespace"
        "    FROM pg_catalog.pg_collation"
        "  UNION ALL SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, oid, cfgnamespace"
        "    FROM pg_catalog.pg_ts_config"
        "  UNION ALL SELECT 'pg_catalog.pg_extension'::pg_catalog.regclass, oid, extnamespace"
        "    FROM pg_catalog.pg_extension"
        "  UNION ALL SELECT 'pg_catalog.pg_default_acl'::pg_catalog.regclass, oid, defaclnamespace"
        "    FROM pg_catalog.pg_default_acl"
        "  UNION ALL SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, oid, dictnamespace"
        "    FROM pg_catalog.pg_ts_dict"
        "  UNION ALL SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, oid, connamespace"
        "    FROM pg_catalog.pg_conversion"
        "  UNION ALL SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, oid, oprnamespace"
        "    FROM pg_catalog.pg_operator"
        "  UNION ALL SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, oid, opcnamespace"
        "    FROM pg_catalog.pg_opclass"
        "  UNION ALL SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, oid, opfnamespace"
        "    FROM pg_catalog.pg_opfamily"
        "  UNION ALL SELECT 'pg_catalog.pg_amop'::pg_catalog.regclass, a.oid, f.opfnamespace"
        "    FROM pg_catalog.pg_amop a JOIN pg_catalog.pg_opfamily f ON f.oid = a.amopfamily"
        "  UNION ALL SELECT 'pg_catalog.pg_amproc'::pg_catalog.regclass, a.oid, f.opfnamespace"
        "    FROM pg_catalog.pg_amproc a JOIN pg_catalog.pg_opfamily f ON f.oid = a.amprocfamily"
        "  UNION ALL SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass, oid, oid"
        "    FROM pg_catalog.pg_namespace)"
        " SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, 0)"
        "   FROM pg_catalog.pg_depend d"
        "   JOIN objs r ON r.cls = d.refclassid AND r.oid = d.refobjid"
        "   LEFT JOIN objs o ON o.cls = d.classid AND o.oid = d.objid"
        "  WHERE r.nsp = (SELECT oid FROM ns) AND d.deptype IN ('n', 'a')"
        "    AND o.nsp IS DISTINCT FROM (SELECT oid FROM ns)"
        "  ORDER BY 1 LIMIT 4";
    const char *params[1] = {nsp};
    PGresult *res = pg_query(conn, "look for dependent objects", sql, 1, params, err);
    Buf b;

    if (res == NULL)
        return NULL;
    if (PQntuples(res) == 0)
    {
        PQclear(res);
        return NULL;
    }
    buf_init(&b);
    for (int i = 0; i < PQntuples(res); i++)
        buf_printf(&b, "%s%s", i ? ", " : "", PQgetvalue(res, i, 0));
    PQclear(res);
    return (char *)b.data;
}

const TenancyOps tenancy_schema_ops = {
    .name = "schema",
    .object = "schema",
    .whole_database = false,
    .discover = tenancy_discover_schema,
    .backup_check = schema_supported,
    .restore_check = schema_supported,
    .restore_names_check = schema_names_check,
    .owns_schema = schema_owns_schema,
    .ddl_owner = schema_ddl_owner,
    .place = schema_place,
    .object_name = schema_object_name,
    .home_db = schema_home_db,
    .restores_into = schema_restores_into,
    .table_schema = schema_table_schema,
    .exists = pg_schema_exists,
    .rename = schema_rename,
    .drop = schema_drop,
    .terminate = schema_terminate,
    .dependents = schema_dependents,
};
