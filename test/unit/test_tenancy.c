/*
 * test_tenancy.c - unit tests for the pure parts of the tenancy tables:
 * where a restored tenant goes under --as and --into-db in each model, the
 * names they give messages, and the names of what is renamed aside.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tenancy/tenancy.h"
#include "tap.h"

/* Places a part with ops and checks the database and schema it gets. */
static void check_place(const TenancyOps *ops, const char *src_schema, bool shared, const char *as,
                        const char *into_db, const char *want_db, const char *want_schema,
                        const char *name)
{
    char *db = NULL, *schema = NULL;

    ops->place("app", src_schema, shared, as, into_db, &db, &schema);
    is_str(db, want_db, name);
    if (want_schema == NULL)
        ok(schema == NULL, "  ... and no schema");
    else
        is_str(schema, want_schema, "  ... and its schema");
    free(db);
    free(schema);
}

static void test_schema_model(void)
{
    const TenancyOps *ops = tenancy_ops(TENANCY_SCHEMA);
    Error err;

    is_str(ops->name, "schema", "the schema model's table");
    is_str(ops->object, "schema", "  ... a tenant lives in a schema");
    ok(!ops->whole_database, "  ... not in a whole database");
    check_place(ops, "tenant_a", false, NULL, NULL, "app", "tenant_a", "schema: in place");
    check_place(ops, "tenant_a", false, "tenant_a_copy", NULL, "app", "tenant_a_copy",
                "schema: --as renames the schema, same database");
    check_place(ops, "tenant_a", false, NULL, "scratch", "scratch", "tenant_a",
                "schema: --into-db moves it to another database");
    check_place(ops, "tenant_a", false, "t2", "scratch", "scratch", "t2",
                "schema: --as and --into-db together");
    check_place(ops, "central", true, "t2", "scratch", "scratch", "central",
                "schema: a shared schema keeps its name, follows --into-db");
    is_str(ops->object_name("app", "tenant_a"), "tenant_a", "schema: the object is the schema");
    is_str(ops->home_db("app"), "app", "  ... held by its database");
    ok(ops->restores_into("public", "public"), "schema: \"public\" is restored into");
    ok(!ops->restores_into("public", "tenant_a"), "  ... but not when another schema becomes it");
    ok(!ops->restores_into("tenant_a", "tenant_a"), "  ... nor any other schema");
    is_str(ops->table_schema("t2", "tenant_a"), "t2", "schema: tables go to the target schema");
    is_str(ops->ddl_owner("tenant:a"), "shared", "schema: a database's DDL is shared");
    error_clear(&err);
    ok(ops->restore_names_check("t2", "scratch", &err), "schema: --as goes with --into-db");
    ok(ops->backup_check(&err) && ops->restore_check(&err) && !error_is_set(&err),
       "schema: backup and restore supported");
}

static void test_database_model(void)
{
    const TenancyOps *ops = tenancy_ops(TENANCY_DATABASE);
    Error err;

    is_str(ops->name, "database", "the database model's table");
    is_str(ops->object, "database", "  ... a tenant lives in a database");
    ok(ops->whole_database, "  ... a whole one");
    check_place(ops, NULL, false, NULL, NULL, "app", NULL, "database: in place");
    check_place(ops, NULL, false, "app_copy", NULL, "app_copy", NULL,
                "database: --as names the new database");
    check_place(ops, NULL, false, NULL, "app_copy", "app_copy", NULL,
                "database: so does --into-db");
    check_place(ops, NULL, true, "app_copy", NULL, "app", NULL,
                "database: a shared database keeps its name");
    check_place(ops, NULL, true, NULL, "app_copy", "app", NULL,
                "database: ... under --into-db too");
    is_str(ops->object_name("app", NULL), "app", "database: the object is the database");
    ok(ops->home_db("app") == NULL, "  ... managed from the maintenance database");
    ok(!ops->restores_into("public", "public"), "database: nothing is restored into");
    is_str(ops->table_schema(NULL, "sales"), "sales", "database: tables keep their schema");
    is_str(ops->ddl_owner("tenant:a"), "tenant:a", "database: a database's DDL is its tenant's");
    error_clear(&err);
    ok(ops->restore_names_check("a", NULL, &err) && ops->restore_names_check(NULL, "b", &err),
       "database: --as or --into-db alone");
    ok(!ops->restore_names_check("a", "b", &err), "database: not both");
    is_int(err.code, ERR_USAGE, "  ... a usage error");
    like(err.message, "--as and --into-db both name the new database", "  ... that says why");
}

static void test_row_model(void)
{
    const TenancyOps *ops = tenancy_ops(TENANCY_ROW);
    Error err;

    is_str(ops->name, "row", "the row model's table");
    error_clear(&err);
    ok(!ops->backup_check(&err), "row: backup refuses");
    is_int(err.code, ERR_USAGE, "  ... a usage error");
    is_str(err.message, "backup does not support the row model yet", "  ... with its message");
    like(err.hint, "schema or database model", "  ... and hint");
    error_clear(&err);
    ok(!ops->restore_check(&err), "row: restore refuses");
    is_str(err.message, "restore does not support the row model yet", "  ... with its message");
    like(err.hint, "coffer help restore", "  ... and hint");
    error_clear(&err);
    ok(!ops->rename(NULL, "rename", "a", "b", &err), "row: server-side DDL refuses too");
}

static void test_aside_name(void)
{
    char want_suffix[64], *a, *b, *n;
    char long_ascii[80], long_utf8[80];
    size_t len;

    a = tenancy_aside_name("tenant_a");
    b = tenancy_aside_name("tenant_b");
    snprintf(want_suffix, sizeof(want_suffix), "_%d", (int)getpid());
    ok(strncmp(a, "tenant_a_coffer_old_", 20) == 0, "aside: the name, then _coffer_old_");
    len = strlen(a);
    ok(len > strlen(want_suffix) && strcmp(a + len - strlen(want_suffix), want_suffix) == 0,
       "aside: ends with this process's id");
    ok(strcmp(a, b) != 0, "aside: different names stay different");
    free(a);
    free(b);

    memset(long_ascii, 'x', 63);
    long_ascii[63] = '\0';
    n = tenancy_aside_name(long_ascii);
    ok(strlen(n) <= 63, "aside: a 63-byte name is cut to fit 63 bytes");
    like(n, "_coffer_old_", "  ... keeping the suffix");
    free(n);

    /* 20 "é" (2 bytes each): any cut at an odd byte would split one */
    long_utf8[0] = '\0';
    for (int i = 0; i < 20; i++)
        strcat(long_utf8, "\xc3\xa9");
    for (int pad = 0; pad < 2; pad++)
    {
        char name[84];
        const char *suffix;
        size_t keep;

        snprintf(name, sizeof(name), "%s%s", pad ? "x" : "", long_utf8);
        n = tenancy_aside_name(name);
        suffix = strstr(n, "_coffer_old_");
        keep = suffix ? (size_t)(suffix - n) : 0;
        ok(strlen(n) <= 63, "aside: a long UTF-8 name fits 63 bytes");
        ok(suffix != NULL && keep > 0 && strncmp(n, name, keep) == 0 &&
               ((unsigned char)name[keep] & 0xC0) != 0x80,
           "  ... cut on a character boundary");
        free(n);
    }
}

int main(void)
{
    test_schema_model();
    test_database_model();
    test_row_model();
    test_aside_name();
    return tap_done();
}
