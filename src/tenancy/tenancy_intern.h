/*
 * tenancy_intern.h - what the files of the tenancy module share: the
 * discovery function of each model (tenancy.c) and the tables that
 * model_*.c fill in. Callers include tenancy.h only.
 */
#ifndef COFFER_TENANCY_TENANCY_INTERN_H
#define COFFER_TENANCY_TENANCY_INTERN_H

#include "tenancy/tenancy.h"

bool tenancy_discover_schema(const Config *cfg, PGconn *conn, bool measure, TenantList *list,
                             Error *err);
bool tenancy_discover_database(const Config *cfg, PGconn *conn, bool measure, TenantList *list,
                               Error *err);
bool tenancy_discover_row(const Config *cfg, PGconn *conn, bool measure, TenantList *list,
                          Error *err);

extern const TenancyOps tenancy_schema_ops;
extern const TenancyOps tenancy_database_ops;
extern const TenancyOps tenancy_row_ops;

#endif
