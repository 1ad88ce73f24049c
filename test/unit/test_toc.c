/*
 * test_toc.c - unit tests for choosing a tenant's entries in a pg_restore -l listing.
 */
#include <string.h>

#include "common/buf.h"
#include "pg/toc.h"
#include "tap.h"

static const char listing[] =
    ";\n; Archive created at 2026-11-21\n;\n"
    "7; 2615 16385 SCHEMA - central postgres\n"
    "10; 2615 16398 SCHEMA - tenant_a postgres\n"
    "3472; 0 0 COMMENT - SCHEMA tenant_a postgres\n"
    "3473; 0 0 ACL - SCHEMA tenant_a postgres\n"
    "11; 2615 16399 SCHEMA - tenant_a_b postgres\n"
    "8; 2615 16402 SCHEMA - tenant_x\"; DROP SCHEMA central; -- postgres\n"
    "12; 2615 16403 SCHEMA - tenant_Mixed Case postgres\n"
    "2; 3079 16411 EXTENSION - citext \n"
    "3474; 0 0 COMMENT - EXTENSION citext \n"
    "908; 1247 16517 DOMAIN tenant_a email postgres\n"
    "219; 1259 16386 TABLE central plans postgres\n"
    "221; 1259 16399 TABLE tenant_a t1 postgres\n"
    "222; 1259 16400 TABLE tenant_a_b t1 postgres\n"
    "225; 1259 16533 MATERIALIZED VIEW tenant_a mv postgres\n"
    "3473; 0 0 COMMENT tenant_a TABLE users postgres\n"
    "3321; 2606 16528 FK CONSTRAINT tenant_a users users_plan_fkey postgres\n"
    "223; 1259 16404 TABLE tenant_x\"; DROP SCHEMA central; -- t postgres\n"
    "224; 1259 16405 TABLE tenant_Mixed Case Some Table postgres\n"
    "0; 0 0 DEFAULT ACL tenant_a DEFAULT PRIVILEGES FOR TABLES postgres\n";

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

int main(void)
{
    Buf out;
    const char *a[] = {"tenant_a"};
    const char *hostile[] = {"tenant_x\"; DROP SCHEMA central; --"};
    const char *mixed[] = {"tenant_Mixed Case"};
    const char *two[] = {"tenant_a", "central"};
    TocFilter f = {a, 1, false};

    buf_init(&out);
    is_int(toc_filter(listing, &f, &out), 9, "tenant_a keeps its 9 entries");
    like(buf_cstr(&out), "SCHEMA - tenant_a postgres", "the schema itself");
    like(buf_cstr(&out), "COMMENT - SCHEMA tenant_a", "comment on the schema");
    like(buf_cstr(&out), "ACL - SCHEMA tenant_a", "grants on the schema");
    like(buf_cstr(&out), "FK CONSTRAINT tenant_a users", "FK constraint");
    like(buf_cstr(&out), "DEFAULT ACL tenant_a", "default privileges");
    ok(strstr(buf_cstr(&out), "tenant_a_b") == NULL, "tenant_a_b is another tenant");
    ok(strstr(buf_cstr(&out), "central") == NULL, "shared schema not included");
    ok(strstr(buf_cstr(&out), "EXTENSION") == NULL, "no extensions unless asked");

    buf_reset(&out);
    f.extensions = true;
    is_int(toc_filter(listing, &f, &out), 11, "with extensions");

    buf_reset(&out);
    f.schemas = hostile;
    f.extensions = false;
    is_int(toc_filter(listing, &f, &out), 2, "hostile name: schema and table");
    is_int(count_lines(buf_cstr(&out)), 2, "two lines");

    buf_reset(&out);
    f.schemas = mixed;
    is_int(toc_filter(listing, &f, &out), 2, "name with a space");

    buf_reset(&out);
    f.schemas = two;
    f.n_schemas = 2;
    is_int(toc_filter(listing, &f, &out), 11, "tenant and shared schema together");
    buf_free(&out);
    return tap_done();
}
