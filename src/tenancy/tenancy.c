/*
 * tenancy.c - tenant discovery for the schema, database and row models.
 *
 * Discovery reads names (pattern or query), checks them against the catalog,
 * and optionally measures tables and bytes with one catalog query per
 * database (never one per tenant in the schema model).
 */
#include "tenancy/tenancy_intern.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "pg/pg.h"

static Tenant *tenancy_add(TenantList *list, const char *name, const char *class,
                           const char *database, const char *schema, bool shared)
{
    Tenant *t;

    list->items = xrealloc(list->items, sizeof(Tenant) * (list->count + 1));
    t = &list->items[list->count++];
    t->name = xstrdup(name);
    t->class = xstrdup(class != NULL && class[0] != '\0' ? class : "default");
    t->database = xstrdup(database);
    t->schema = schema != NULL ? xstrdup(schema) : NULL;
    t->shared = shared;
    t->tables = -1;
    t->bytes = -1;
    return t;
}

Tenant *tenancy_find(TenantList *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, name) == 0)
            return &list->items[i];
    return NULL;
}

void tenancy_list_free(TenantList *list)
{
    for (size_t i = 0; i < list->count; i++)
    {
        free(list->items[i].name);
        free(list->items[i].class);
        free(list->items[i].database);
        free(list->items[i].schema);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
    list->warnings = 0;
}

static void tenancy_warn(TenantList *list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tenancy_warn(TenantList *list, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warning("%s", msg);
    list->warnings++;
}

static bool tenancy_is_shared(const Config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_shared; i++)
        if (strcmp(cfg->shared[i], name) == 0)
            return true;
    return false;
}

/* The discovery query: runs it and finds its columns. need2 is the second
 * required column (database model) or NULL. */
typedef struct DiscoverResult
{
    PGresult *res;
    int col_tenant;
    int col_second; /* schema (optional) or database (required) */
    int col_class;
} DiscoverResult;

static bool tenancy_run_query(const Config *cfg, PGconn *conn, const char *second,
                              bool second_required, DiscoverResult *out, Error *err)
{
    /* the user's query only reads: a READ ONLY transaction makes sure of it */
    if (!pg_command(conn, "start discovery", "BEGIN READ ONLY", err))
        return false;
    out->res = pg_query(conn, "discovery query", cfg->discover_query, 0, NULL, err);
    if (out->res == NULL)
    {
        Error ignore;

        pg_command(conn, "end discovery", "ROLLBACK", &ignore);
        err->code = ERR_USAGE;
        return error_hint(err, "check tenancy.discover.query in \"%s\"", cfg->path);
    }
    if (!pg_command(conn, "end discovery", "COMMIT", err))
    {
        PQclear(out->res);
        out->res = NULL;
        return false;
    }
    out->col_tenant = PQfnumber(out->res, "tenant");
    out->col_second = second != NULL ? PQfnumber(out->res, second) : -1;
    out->col_class = PQfnumber(out->res, "class");
    if (out->col_tenant < 0 || (second_required && out->col_second < 0))
    {
        char cols[512] = "";
        size_t n = 0;

        for (int i = 0; i < PQnfields(out->res) && n < sizeof(cols) - 2; i++)
            n += (size_t)snprintf(cols + n, sizeof(cols) - n, "%s%s", i ? ", " : "",
                                  PQfname(out->res, i));
        error_set(err, ERR_USAGE, "discovery query returned no column \"%s\"",
                  out->col_tenant < 0 ? "tenant" : second);
        error_detail(err, "columns returned: %s", n > 0 ? cols : "(none)");
        error_hint(err,
                   "name the columns with AS: tenant%s%s[, class] (tenancy.discover.query in "
                   "\"%s\")",
                   second ? ", " : "", second ? second : "", cfg->path);
        PQclear(out->res);
        out->res = NULL;
        return false;
    }
    return true;
}

static const char *tenancy_value(PGresult *res, int row, int col)
{
    if (col < 0 || PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

/* Checks the class and adds the tenant unless it is a duplicate. */
static Tenant *tenancy_add_checked(const Config *cfg, TenantList *list, const char *name,
                                   const char *class, const char *database, const char *schema)
{
    if (tenancy_find(list, name) != NULL)
    {
        tenancy_warn(list, "tenant \"%s\" is discovered twice; the second one is ignored", name);
        return NULL;
    }
    if (class != NULL && class[0] != '\0' && cfg->n_classes > 0 && !config_has_class(cfg, class))
        tenancy_warn(list, "tenant \"%s\" has class \"%s\", which is not in classes: of \"%s\"",
                     name, class, cfg->path);
    return tenancy_add(list, name, class, database, schema, false);
}

/* What a restore renames aside (tenancy_aside_name) and its scratch
 * databases: never tenants, whatever the pattern matches. */
#define TENANCY_SQL_NOT_OURS "'(_coffer_old_[0-9]+_[0-9]+|^coffer_scratch_[0-9]+_[0-9]+)$'"

/* Adds every name a LIKE query ($1 = the configured pattern) returns,
 * shared ones excepted: schemas of database db, or (db NULL) databases. */
static bool tenancy_add_pattern(const Config *cfg, PGconn *conn, const char *sql, const char *db,
                                TenantList *list, Error *err)
{
    const char *params[1] = {cfg->discover_pattern};
    PGresult *res = pg_query(conn, "discover tenants", sql, 1, params, err);

    if (res == NULL)
        return false;
    for (int i = 0; i < PQntuples(res); i++)
    {
        const char *name = PQgetvalue(res, i, 0);

        if (!tenancy_is_shared(cfg, name))
            tenancy_add(list, name, NULL, db != NULL ? db : name, db != NULL ? name : NULL, false);
    }
    PQclear(res);
    return true;
}

/* ---- schema model ------------------------------------------------------- */

static bool tenancy_schema_exists(PGresult *schemas, const char *name)
{
    for (int i = 0; i < PQntuples(schemas); i++)
        if (strcmp(PQgetvalue(schemas, i, 0), name) == 0)
            return true;
    return false;
}

/* The total sizes of the relations whose oids are column col of res:
 * each size locks its relation, so they are read within the lock budget. */
static int64_t *tenancy_sizes(const Config *cfg, PGconn *conn, PGresult *res, int col, Error *err)
{
    size_t n = (size_t)PQntuples(res);
    uint32_t *oids = xcalloc(n + 1, sizeof(uint32_t));
    int64_t *bytes = xcalloc(n + 1, sizeof(int64_t));

    for (size_t i = 0; i < n; i++)
        oids[i] = (uint32_t)strtoul(PQgetvalue(res, (int)i, col), NULL, 10);
    if (!pg_relation_sizes(conn, cfg->pg_lock_budget, oids, n, true, bytes, err))
    {
        free(bytes);
        bytes = NULL;
    }
    free(oids);
    return bytes;
}

/* Orders indexes of a TenantList (arg) by schema, tenants without one last. */
static int tenancy_cmp_schema(const void *a, const void *b, void *arg)
{
    const TenantList *list = arg;
    const Tenant *x = &list->items[*(const size_t *)a];
    const Tenant *y = &list->items[*(const size_t *)b];

    if (x->schema == NULL || y->schema == NULL)
        return (x->schema == NULL) - (y->schema == NULL);
    return strcmp(x->schema, y->schema);
}

/* Where the tenants of schema nsp are in order[] (the list's indexes
 * sorted by schema): order[*lo..return) */
static size_t tenancy_by_schema(const TenantList *list, const size_t *order, const char *nsp,
                                size_t *lo_out)
{
    size_t lo = 0, hi = list->count, end;

    while (lo < hi)
    {
        size_t mid = lo + (hi - lo) / 2;
        const char *s = list->items[order[mid]].schema;

        if (s != NULL && strcmp(s, nsp) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (end = lo; end < list->count; end++)
    {
        const char *s = list->items[order[end]].schema;

        if (s == NULL || strcmp(s, nsp) != 0)
            break;
    }
    *lo_out = lo;
    return end;
}

static bool tenancy_measure_schemas(const Config *cfg, PGconn *conn, TenantList *list,
                                    Error *err)
{
    /* tables per schema (no lock taken), then the relations whose bytes
     * count, measured in batches within the lock budget. Tables are those
     * that hold rows, as a snapshot counts them: each partition is one, a
     * partitioned parent (which holds none) is not */
    static const char count_sql[] = "SELECT n.nspname, count(*)"
                                    "  FROM pg_catalog.pg_class c"
                                    "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                                    " WHERE c.relkind = 'r' GROUP BY n.nspname";
    static const char rels_sql[] = "SELECT n.nspname, c.oid"
                                   "  FROM pg_catalog.pg_class c"
                                   "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                                   " WHERE c.relkind IN ('r', 'm') AND " PG_SQL_USER_SCHEMA;
    size_t *order = xcalloc(list->count + 1, sizeof(size_t));
    PGresult *res = NULL;
    int64_t *bytes = NULL;
    bool ok = false;

    for (size_t i = 0; i < list->count; i++)
    {
        order[i] = i;
        if (list->items[i].schema != NULL)
            list->items[i].tables = list->items[i].bytes = 0;
    }
    qsort_r(order, list->count, sizeof(size_t), tenancy_cmp_schema, list);
    res = pg_query(conn, "count tables", count_sql, 0, NULL, err);
    if (res == NULL)
        goto done;
    for (int i = 0; i < PQntuples(res); i++)
    {
        /* several tenants may name one schema (a discovery query's choice) */
        size_t k, end = tenancy_by_schema(list, order, PQgetvalue(res, i, 0), &k);

        for (; k < end; k++)
            list->items[order[k]].tables = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
    PQclear(res);
    res = pg_query(conn, "list relations", rels_sql, 0, NULL, err);
    if (res == NULL || (bytes = tenancy_sizes(cfg, conn, res, 1, err)) == NULL)
        goto done;
    for (int i = 0; i < PQntuples(res); i++)
    {
        size_t k, end = tenancy_by_schema(list, order, PQgetvalue(res, i, 0), &k);

        for (; k < end; k++)
            list->items[order[k]].bytes += bytes[i];
    }
    ok = true;
done:
    PQclear(res);
    free(bytes);
    free(order);
    return ok;
}

bool tenancy_discover_schema(const Config *cfg, PGconn *conn, bool measure, TenantList *list,
                                    Error *err)
{
    /* every user schema, in a stable byte order */
    static const char schemas_sql[] =
        "SELECT n.nspname FROM pg_catalog.pg_namespace n"
        " WHERE " PG_SQL_USER_SCHEMA " ORDER BY n.nspname COLLATE \"C\"";
    const char *db = pg_dbname(conn);
    PGresult *schemas = pg_query(conn, "list schemas", schemas_sql, 0, NULL, err);

    if (schemas == NULL)
        return false;
    if (cfg->discover_pattern != NULL)
    {
        /* the user's LIKE pattern over the same list, as a parameter */
        static const char like_sql[] = "SELECT n.nspname FROM pg_catalog.pg_namespace n"
                                       " WHERE " PG_SQL_USER_SCHEMA " AND n.nspname LIKE $1"
                                       "   AND n.nspname !~ " TENANCY_SQL_NOT_OURS
                                       " ORDER BY n.nspname COLLATE \"C\"";

        if (!tenancy_add_pattern(cfg, conn, like_sql, db, list, err))
        {
            PQclear(schemas);
            return false;
        }
    }
    else
    {
        DiscoverResult dr;

        if (!tenancy_run_query(cfg, conn, "schema", false, &dr, err))
        {
            PQclear(schemas);
            return false;
        }
        for (int i = 0; i < PQntuples(dr.res); i++)
        {
            const char *name = tenancy_value(dr.res, i, dr.col_tenant);
            const char *schema = tenancy_value(dr.res, i, dr.col_second);

            if (name == NULL || name[0] == '\0')
            {
                tenancy_warn(list, "discovery query row %d has no tenant name; skipped", i + 1);
                continue;
            }
            if (schema == NULL)
                schema = name;
            if (!tenancy_schema_exists(schemas, schema))
            {
                tenancy_warn(list,
                             "tenant \"%s\": schema \"%s\" does not exist in database "
                             "\"%s\"; skipped",
                             name, schema, db);
                continue;
            }
            tenancy_add_checked(cfg, list, name, tenancy_value(dr.res, i, dr.col_class), db,
                                schema);
        }
        PQclear(dr.res);
    }
    for (size_t i = 0; i < cfg->n_shared; i++)
    {
        if (!tenancy_schema_exists(schemas, cfg->shared[i]))
        {
            tenancy_warn(list, "shared schema \"%s\" does not exist in database \"%s\"",
                         cfg->shared[i], db);
            continue;
        }
        tenancy_add(list, cfg->shared[i], "shared", db, cfg->shared[i], true);
    }
    PQclear(schemas);
    return !measure || tenancy_measure_schemas(cfg, conn, list, err);
}

/* ---- database model ----------------------------------------------------- */

static bool tenancy_measure_database(const Config *cfg, TenantList *list, Tenant *t)
{
    /* the user relations of the current database: tables count, tables
     * and materialized views hold bytes (measured within the lock budget) */
    static const char sql[] = "SELECT c.oid, c.relkind = 'r', c.relkind IN ('r', 'm')"
                              "  FROM pg_catalog.pg_class c"
                              "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                              " WHERE c.relkind IN ('r', 'p', 'm') AND " PG_SQL_USER_SCHEMA;
    Error err;
    PGconn *conn;
    PGresult *res;
    int64_t *bytes = NULL;

    error_clear(&err);
    conn = pg_connect(cfg->pg_conninfo, t->database, &err);
    res = conn ? pg_query(conn, "measure database", sql, 0, NULL, &err) : NULL;
    if (res != NULL)
        bytes = tenancy_sizes(cfg, conn, res, 0, &err);
    if (bytes == NULL)
    {
        tenancy_warn(list, "tenant \"%s\": %s", t->name, err.message);
        PQclear(res);
        PQfinish(conn);
        return false;
    }
    t->tables = t->bytes = 0;
    for (int i = 0; i < PQntuples(res); i++)
    {
        t->tables += PQgetvalue(res, i, 1)[0] == 't';
        t->bytes += PQgetvalue(res, i, 2)[0] == 't' ? bytes[i] : 0;
    }
    free(bytes);
    PQclear(res);
    PQfinish(conn);
    return true;
}

static bool tenancy_db_exists(PGresult *dbs, const char *name)
{
    return tenancy_schema_exists(dbs, name);
}

bool tenancy_discover_database(const Config *cfg, PGconn *conn, bool measure, TenantList *list,
                               Error *err)
{
    /* databases one can connect to, in a stable byte order */
    static const char dbs_sql[] = "SELECT datname FROM pg_catalog.pg_database"
                                  " WHERE datallowconn AND NOT datistemplate"
                                  " ORDER BY datname COLLATE \"C\"";
    PGresult *dbs = pg_query(conn, "list databases", dbs_sql, 0, NULL, err);

    if (dbs == NULL)
        return false;
    if (cfg->discover_pattern != NULL)
    {
        static const char like_sql[] = "SELECT datname FROM pg_catalog.pg_database"
                                       " WHERE datallowconn AND NOT datistemplate"
                                       "   AND datname LIKE $1"
                                       "   AND datname !~ " TENANCY_SQL_NOT_OURS
                                       " ORDER BY datname COLLATE \"C\"";

        if (!tenancy_add_pattern(cfg, conn, like_sql, NULL, list, err))
        {
            PQclear(dbs);
            return false;
        }
    }
    else
    {
        DiscoverResult dr;

        if (!tenancy_run_query(cfg, conn, "database", true, &dr, err))
        {
            PQclear(dbs);
            return false;
        }
        for (int i = 0; i < PQntuples(dr.res); i++)
        {
            const char *name = tenancy_value(dr.res, i, dr.col_tenant);
            const char *db = tenancy_value(dr.res, i, dr.col_second);

            if (name == NULL || name[0] == '\0' || db == NULL || db[0] == '\0')
            {
                tenancy_warn(list, "discovery query row %d has no tenant or database; skipped",
                             i + 1);
                continue;
            }
            if (!tenancy_db_exists(dbs, db))
            {
                tenancy_warn(list, "tenant \"%s\": database \"%s\" does not exist; skipped", name,
                             db);
                continue;
            }
            tenancy_add_checked(cfg, list, name, tenancy_value(dr.res, i, dr.col_class), db, NULL);
        }
        PQclear(dr.res);
    }
    for (size_t i = 0; i < cfg->n_shared; i++)
    {
        if (!tenancy_db_exists(dbs, cfg->shared[i]))
        {
            tenancy_warn(list, "shared database \"%s\" does not exist", cfg->shared[i]);
            continue;
        }
        tenancy_add(list, cfg->shared[i], "shared", cfg->shared[i], NULL, true);
    }
    PQclear(dbs);
    if (measure)
        for (size_t i = 0; i < list->count; i++)
            tenancy_measure_database(cfg, list, &list->items[i]);
    return true;
}

/* ---- row model ---------------------------------------------------------- */

/* A table is shared when listed in tenancy.shared as "name" or "schema.name". */
static bool tenancy_table_shared(const Config *cfg, const char *schema, const char *table)
{
    char *full = xasprintf("%s.%s", schema, table);
    bool shared = tenancy_is_shared(cfg, table) || tenancy_is_shared(cfg, full);

    free(full);
    return shared;
}

static bool tenancy_measure_rows(const Config *cfg, PGconn *conn, TenantList *list, Error *err)
{
    /* top-level tables and whether they carry the tenant column */
    static const char tables_sql[] =
        "SELECT n.nspname, c.relname, c.relkind,"
        "       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
        "                WHERE a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped),"
        "       c.oid"
        "  FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND " PG_SQL_USER_SCHEMA
        " ORDER BY 1, 2";
    const char *params[1] = {cfg->column};
    PGresult *tables = pg_query(conn, "list tables", tables_sql, 1, params, err);
    Tenant *shared = NULL;
    int64_t tenant_tables = 0;
    bool ok = true;

    int64_t *bytes;

    if (tables == NULL)
        return false;
    bytes = tenancy_sizes(cfg, conn, tables, 4, err);
    if (bytes == NULL)
    {
        PQclear(tables);
        return false;
    }
    for (size_t i = 0; i < list->count; i++)
        if (list->items[i].shared)
            shared = &list->items[i];
    for (size_t i = 0; i < list->count; i++)
        if (!list->items[i].shared)
            list->items[i].bytes = 0;
    if (shared != NULL)
        shared->tables = shared->bytes = 0;
    for (int r = 0; r < PQntuples(tables) && ok; r++)
    {
        const char *nsp = PQgetvalue(tables, r, 0);
        const char *rel = PQgetvalue(tables, r, 1);
        bool has_col = PQgetvalue(tables, r, 3)[0] == 't';
        char *qtable, *qcol, *sql;
        PGresult *res;

        if (!has_col || tenancy_table_shared(cfg, nsp, rel))
        {
            if (shared != NULL)
            {
                shared->tables++;
                shared->bytes += bytes[r];
            }
            continue;
        }
        tenant_tables++;
        qtable = pg_quote_qualified(conn, nsp, rel, err);
        qcol = qtable ? pg_quote_ident(conn, cfg->column, err) : NULL;
        if (qcol == NULL)
        {
            free(qtable);
            ok = false;
            break;
        }
        /* bytes of each tenant's rows in this table: one scan per table */
        sql = xasprintf("SELECT %s::text, sum(pg_catalog.pg_column_size(t.*)) FROM %s%s t"
                        " GROUP BY 1",
                        qcol, PQgetvalue(tables, r, 2)[0] == 'p' ? "" : "ONLY ", qtable);
        res = pg_query(conn, "measure tenant rows", sql, 0, NULL, err);
        free(sql);
        free(qtable);
        free(qcol);
        if (res == NULL)
        {
            ok = false;
            break;
        }
        for (int i = 0; i < PQntuples(res); i++)
        {
            Tenant *t;

            if (PQgetisnull(res, i, 0))
                continue;
            t = tenancy_find(list, PQgetvalue(res, i, 0));
            if (t != NULL && !t->shared)
                t->bytes += strtoll(PQgetvalue(res, i, 1), NULL, 10);
        }
        PQclear(res);
    }
    PQclear(tables);
    free(bytes);
    for (size_t i = 0; i < list->count; i++)
        if (!list->items[i].shared)
            list->items[i].tables = tenant_tables;
    return ok;
}

bool tenancy_discover_row(const Config *cfg, PGconn *conn, bool measure, TenantList *list,
                          Error *err)
{
    DiscoverResult dr;
    const char *db = pg_dbname(conn);

    if (!tenancy_run_query(cfg, conn, NULL, false, &dr, err))
        return false;
    for (int i = 0; i < PQntuples(dr.res); i++)
    {
        const char *name = tenancy_value(dr.res, i, dr.col_tenant);

        if (name == NULL || name[0] == '\0')
        {
            tenancy_warn(list, "discovery query row %d has no tenant; skipped", i + 1);
            continue;
        }
        tenancy_add_checked(cfg, list, name, tenancy_value(dr.res, i, dr.col_class), db, NULL);
    }
    PQclear(dr.res);
    /* tables without the tenant column (or listed in tenancy.shared) */
    tenancy_add(list, "shared", "shared", db, NULL, true);
    return !measure || tenancy_measure_rows(cfg, conn, list, err);
}

bool tenancy_discover(const Config *cfg, bool measure, TenantList *list, Error *err)
{
    PGconn *conn = pg_connect(cfg->pg_conninfo, NULL, err);
    bool ok = false;

    memset(list, 0, sizeof(*list));
    if (conn == NULL)
        return false;
    ok = tenancy_ops(cfg->model)->discover(cfg, conn, measure, list, err);
    PQfinish(conn);
    if (!ok)
        tenancy_list_free(list);
    return ok;
}

const TenancyOps *tenancy_ops(TenancyModel model)
{
    switch (model)
    {
    case TENANCY_DATABASE:
        return &tenancy_database_ops;
    case TENANCY_ROW:
        return &tenancy_row_ops;
    case TENANCY_SCHEMA:
        break;
    }
    return &tenancy_schema_ops;
}

bool tenancy_is_aside(const char *name)
{
    const char *p = strstr(name, "_coffer_old_");
    size_t a, b;

    if (p == NULL)
        return false;
    while (strstr(p + 1, "_coffer_old_") != NULL)
        p = strstr(p + 1, "_coffer_old_");
    p += strlen("_coffer_old_");
    a = strspn(p, "0123456789");
    if (a == 0 || p[a] != '_')
        return false;
    b = strspn(p + a + 1, "0123456789");
    return b > 0 && p[a + 1 + b] == '\0';
}

/* The suffix names this process and second, so that two restores never
 * pick the same name; the name is cut on a character boundary: half a
 * UTF-8 character is not a name the server accepts. */
char *tenancy_aside_name(const char *name)
{
    char suffix[48];
    size_t keep = strlen(name);

    snprintf(suffix, sizeof(suffix), "_coffer_old_%ld_%d", (long)time(NULL), (int)getpid());
    if (keep > 63 - strlen(suffix))
    {
        keep = 63 - strlen(suffix);
        while (keep > 0 && ((unsigned char)name[keep] & 0xC0) == 0x80)
            keep--;
    }
    return xasprintf("%.*s%s", (int)keep, name, suffix);
}
