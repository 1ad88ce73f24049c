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

#endif
