/*
 * tenancy.h - finding the tenants of a multi-tenant PostgreSQL.
 *
 * Three models: a schema per tenant, a database per tenant (plus a master
 * database with a registry), or shared tables with a tenant column. Tenants
 * come from a LIKE pattern on schema or database names, or from a discovery
 * query the user configures. Shared schemas/databases are listed apart.
 */
#ifndef COFFER_TENANCY_TENANCY_H
#define COFFER_TENANCY_TENANCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "config/config.h"
#include "pg/pg.h"

typedef struct Tenant
{
    char *name;     /* the tenant's name as the user knows it */
    char *class;    /* "default" unless discovery gave one */
    char *database; /* the database holding it */
    char *schema;   /* schema model only, else NULL */
    bool shared;    /* a shared schema/database, not a tenant */
    int64_t tables; /* -1 until measured */
    int64_t bytes;  /* -1 until measured */
} Tenant;

typedef struct TenantList
{
    Tenant *items;
    size_t count;
    size_t warnings; /* problems reported as warnings (ghost rows, unreadable databases) */
} TenantList;

/* Discovers tenants and shared parts by the configured model, and measures
 * tables and bytes. Problems with single tenants (a registry row naming a
 * database that does not exist, a tenant database that refuses connections,
 * an unknown class) are logged as warnings and counted in list->warnings;
 * a tenant whose schema or database does not exist is left out.
 * Returns false with err for errors that stop discovery altogether
 * (unreachable server, failing discovery query, missing columns). */
bool tenancy_discover(const Config *cfg, bool measure, TenantList *list, Error *err);

/* Finds a tenant by exact name (shared parts too); NULL when absent. */
Tenant *tenancy_find(TenantList *list, const char *name);

void tenancy_list_free(TenantList *list);

/*
 * What differs between the models, as one table of functions per model
 * (model_schema.c, model_database.c, model_row.c): the engines ask the
 * table instead of testing the model. Names are what the server calls
 * them; functions that talk to the server take a connection to
 * home_db(db), or to the maintenance database when that is NULL.
 */
typedef struct TenancyOps
{
    const char *name;   /* the model, as in the configuration: "schema", "database", "row" */
    const char *object; /* what holds one tenant, for messages: "schema" or "database" */
    /* A tenant is a whole database: its DDL is its database's whole dump
     * (pg_restore --create, or CREATE DATABASE), --as and --into-db both
     * name the new database, and a backup reads all of its schemas.
     * Otherwise a tenant is one schema beside the shared schemas. */
    bool whole_database;

    /* Discovery (tenancy.c), on a connection to the default database. */
    bool (*discover)(const Config *cfg, PGconn *conn, bool measure, TenantList *list, Error *err);
    /* Can the model be backed up (restored)? false with an ERR_USAGE error
     * and hint when not. */
    bool (*backup_check)(Error *err);
    bool (*restore_check)(Error *err);
    /* Do --as and --into-db go together? false with an ERR_USAGE error
     * (without hint) when not. */
    bool (*restore_names_check)(const char *as, const char *into_db, Error *err);

    /* ---- backup ---- */
    /* Do the objects of schema nsp of the tenant's database belong to it? */
    bool (*owns_schema)(const Tenant *t, const char *nsp);
    /* Who owns the DDL dump of a database, given the owner of one of its
     * parts: that part (a database per tenant) or "shared". */
    const char *(*ddl_owner)(const char *part_owner);

    /* ---- restore: where a tenant goes ---- */
    /* The database and schema (NULL outside the schema model) a part of
     * database src_db and schema src_schema is restored to, given --as and
     * --into-db (NULL when absent); shared parts keep their names. Both
     * are allocated. */
    void (*place)(const char *src_db, const char *src_schema, bool shared, const char *as,
                  const char *into_db, char **db, char **schema);
    /* The name of the object that holds a tenant placed in db and schema. */
    const char *(*object_name)(const char *db, const char *schema);
    /* The database holding that object, NULL when it is the database. */
    const char *(*home_db)(const char *db);
    /* Is an existing object of that name restored into, not replaced? The
     * schema "public" is (pg_dump never creates it, and extensions live in
     * it). */
    bool (*restores_into)(const char *name, const char *src_name);
    /* A column's table lives in this schema of the target: the target's
     * schema, or the table's own one (the manifest's). */
    const char *(*table_schema)(const char *target_schema, const char *own_schema);

    /* ---- server-side DDL (pg/admin.c) on the object holding a tenant ---- */
    bool (*exists)(PGconn *conn, const char *name, bool *exists, Error *err);
    /* what names the statement in errors ("rename back") */
    bool (*rename)(PGconn *conn, const char *what, const char *from, const char *to, Error *err);
    /* which ("partial", "replaced") names the statement in errors */
    bool (*drop)(PGconn *conn, const char *name, const char *which, Error *err);
    /* Ends the sessions that would stop a rename or drop. */
    bool (*terminate)(PGconn *conn, const char *name, Error *err);
    /* Objects outside it that depend on objects in it (a few, described),
     * or NULL when there are none or on error (err set). */
    char *(*dependents)(PGconn *conn, const char *name, Error *err);
} TenancyOps;

/* The table of the model; never NULL. */
const TenancyOps *tenancy_ops(TenancyModel model);

/* A name for something renamed aside: name plus a suffix unique to this
 * process and second, at most 63 bytes, cut on a UTF-8 character boundary. */
char *tenancy_aside_name(const char *name);

/* True when name has the suffix tenancy_aside_name adds. */
bool tenancy_is_aside(const char *name);

#endif
