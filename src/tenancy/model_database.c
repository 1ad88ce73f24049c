/*
 * model_database.c - the database model's table: a tenant is a whole
 * database, beside a master database with the registry. Its objects are
 * renamed and dropped from the maintenance database, after its sessions
 * are ended. Discovery is in tenancy.c; the DDL goes through pg/admin.c.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "tenancy/tenancy_intern.h"

static bool database_supported(Error *err)
{
    (void)err;
    return true;
}

static bool database_names_check(const char *as, const char *into_db, Error *err)
{
    if (as == NULL || into_db == NULL)
        return true;
    return error_set(err, ERR_USAGE,
                     "restore: in the database model --as and --into-db both name "
                     "the new database; give one");
}

/* one part owns every schema of its database */
static bool database_owns_schema(const Tenant *t, const char *nsp)
{
    (void)t;
    (void)nsp;
    return true;
}

/* a tenant's database DDL is its own */
static const char *database_ddl_owner(const char *part_owner)
{
    return part_owner;
}

/* --as or --into-db names the tenant's new database */
static void database_place(const char *src_db, const char *src_schema, bool shared, const char *as,
                           const char *into_db, char **db, char **schema)
{
    (void)src_schema;
    *db = xstrdup(as && !shared ? as : into_db && !shared ? into_db : src_db);
    *schema = NULL;
}

static const char *database_object_name(const char *db, const char *schema)
{
    (void)schema;
    return db;
}

static const char *database_home_db(const char *db)
{
    (void)db;
    return NULL;
}

static bool database_restores_into(const char *name, const char *src_name)
{
    (void)name;
    (void)src_name;
    return false;
}

static const char *database_table_schema(const char *target_schema, const char *own_schema)
{
    (void)target_schema;
    return own_schema;
}

static bool database_rename(PGconn *conn, const char *what, const char *from, const char *to,
                            Error *err)
{
    return pg_exec_ident(conn, what, "ALTER DATABASE %s RENAME TO %s", from, to, err);
}

static bool database_drop(PGconn *conn, const char *name, const char *which, Error *err)
{
    (void)which;
    return pg_drop_database(conn, name, err);
}

/* nothing outside a database depends on what is in it */
static char *database_dependents(PGconn *conn, const char *name, Error *err)
{
    (void)conn;
    (void)name;
    (void)err;
    return NULL;
}

const TenancyOps tenancy_database_ops = {
    .name = "database",
    .object = "database",
    .whole_database = true,
    .discover = tenancy_discover_database,
    .backup_check = database_supported,
    .restore_check = database_supported,
    .restore_names_check = database_names_check,
    .owns_schema = database_owns_schema,
    .ddl_owner = database_ddl_owner,
    .place = database_place,
    .object_name = database_object_name,
    .home_db = database_home_db,
    .restores_into = database_restores_into,
    .table_schema = database_table_schema,
    .exists = pg_database_exists,
    .rename = database_rename,
    .drop = database_drop,
    .terminate = pg_terminate_sessions,
    .dependents = database_dependents,
};
