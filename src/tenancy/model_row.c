/*
 * model_row.c - the row model's table: tenants share tables and are told
 * apart by a tenant_id column. Discovery works (tenancy.c); backup and
 * restore do not yet, and every operation that would change the server
 * refuses.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "tenancy/tenancy_intern.h"

static bool row_backup_check(Error *err)
{
    error_set(err, ERR_USAGE, "backup does not support the row model yet");
    return error_hint(err, "use the schema or database model for now");
}

static bool row_restore_check(Error *err)
{
    error_set(err, ERR_USAGE, "restore does not support the row model yet");
    return error_hint(err, "run \"coffer help restore\"");
}

static bool row_names_check(const char *as, const char *into_db, Error *err)
{
    (void)as;
    (void)into_db;
    (void)err;
    return true;
}

/* a tenant's rows are in every schema of its database */
static bool row_owns_schema(const Tenant *t, const char *nsp)
{
    (void)t;
    (void)nsp;
    return true;
}

static const char *row_ddl_owner(const char *part_owner)
{
    (void)part_owner;
    return "shared";
}

static void row_place(const char *src_db, const char *src_schema, bool shared, const char *as,
                      const char *into_db, char **db, char **schema)
{
    (void)src_schema;
    (void)shared;
    (void)as;
    *db = xstrdup(into_db ? into_db : src_db);
    *schema = NULL;
}

static const char *row_object_name(const char *db, const char *schema)
{
    (void)schema;
    return db;
}

static const char *row_home_db(const char *db)
{
    return db;
}

static bool row_restores_into(const char *name, const char *src_name)
{
    (void)name;
    (void)src_name;
    return true;
}

static const char *row_table_schema(const char *target_schema, const char *own_schema)
{
    (void)target_schema;
    return own_schema;
}

static bool row_exists(PGconn *conn, const char *name, bool *exists, Error *err)
{
    (void)conn;
    (void)name;
    *exists = false;
    return row_restore_check(err);
}

static bool row_rename(PGconn *conn, const char *what, const char *from, const char *to, Error *err)
{
    (void)conn;
    (void)what;
    (void)from;
    (void)to;
    return row_restore_check(err);
}

static bool row_drop(PGconn *conn, const char *name, const char *which, Error *err)
{
    (void)conn;
    (void)name;
    (void)which;
    return row_restore_check(err);
}

static bool row_terminate(PGconn *conn, const char *name, Error *err)
{
    (void)conn;
    (void)name;
    return row_restore_check(err);
}

static char *row_dependents(PGconn *conn, const char *name, Error *err)
{
    (void)conn;
    (void)name;
    row_restore_check(err);
    return NULL;
}

const TenancyOps tenancy_row_ops = {
    .name = "row",
    .object = "tenant",
    .whole_database = false,
    .discover = tenancy_discover_row,
    .backup_check = row_backup_check,
    .restore_check = row_restore_check,
    .restore_names_check = row_names_check,
    .owns_schema = row_owns_schema,
    .ddl_owner = row_ddl_owner,
    .place = row_place,
    .object_name = row_object_name,
    .home_db = row_home_db,
    .restores_into = row_restores_into,
    .table_schema = row_table_schema,
    .exists = row_exists,
    .rename = row_rename,
    .drop = row_drop,
    .terminate = row_terminate,
    .dependents = row_dependents,
};
