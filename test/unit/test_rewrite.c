/*
 * test_rewrite.c - unit tests for rewriting the schema named in function
 * bodies and search_path settings (pg_rewrite_body, pg_rewrite_setting).
 */
#include <stdlib.h>
#include <string.h>

#include "pg/pg.h"
#include "tap.h"

/* The body rewritten from old to new, and its report. */
static char *rewrite(const char *body, const char *old, const char *new_name, PgRewriteReport *r)
{
    memset(r, 0, sizeof(*r));
    return pg_rewrite_body(body, old, new_name, r);
}

/* Checks one rewrite of tenant_x to tenant_x_copy: the text and the count. */
static void check(const char *body, const char *want, int rewritten, const char *name)
{
    PgRewriteReport r;
    char *got = rewrite(body, "tenant_x", "tenant_x_copy", &r);

    is_str(got, want, name);
    is_int(r.rewritten, rewritten, "  ... rewritten count");
    free(got);
}

static void test_qualifiers(void)
{
    PgRewriteReport r;
    char *got;

    check("INSERT INTO tenant_x.audit VALUES (1)", "INSERT INTO tenant_x_copy.audit VALUES (1)", 1,
          "plain qualifier");
    check("INSERT INTO Tenant_X.audit SELECT * FROM TENANT_X.t",
          "INSERT INTO tenant_x_copy.audit SELECT * FROM tenant_x_copy.t", 2,
          "mixed-case unquoted qualifiers fold to the schema");
    check("SELECT \"tenant_x\".f(1)", "SELECT \"tenant_x_copy\".f(1)", 1,
          "a quoted qualifier stays quoted");
    check("SELECT \"Tenant_X\".f(1)", "SELECT \"Tenant_X\".f(1)", 0,
          "a quoted name of another case is another schema");
    check("x tenant_x.audit%ROWTYPE; y tenant_x.t.c%TYPE;",
          "x tenant_x_copy.audit%ROWTYPE; y tenant_x_copy.t.c%TYPE;", 2, "%ROWTYPE and %TYPE");
    check("v := w::tenant_x.mood;", "v := w::tenant_x_copy.mood;", 1, "a cast to a type");
    check("FROM tenant_x . audit, tenant_x/* c */.t, tenant_x -- c\n.u",
          "FROM tenant_x_copy . audit, tenant_x_copy/* c */.t, tenant_x_copy -- c\n.u", 3,
          "spaces and comments between the name and the dot");
    check("SELECT tenant_x2.t, xtenant_x.t, tenant_x$a.t FROM tenant_x_old.t",
          "SELECT tenant_x2.t, xtenant_x.t, tenant_x$a.t FROM tenant_x_old.t", 0,
          "identifiers that only start or end with the name stay");
    check("SELECT $1, $2::int FROM tenant_x.t WHERE a = $1",
          "SELECT $1, $2::int FROM tenant_x_copy.t WHERE a = $1", 1,
          "parameters are not dollar quotes");
    check("FOR i IN 1..tenant_x.n LOOP x := 1.5e3 + .5; END LOOP",
          "FOR i IN 1..tenant_x_copy.n LOOP x := 1.5e3 + .5; END LOOP", 1,
          "numbers and PL/pgSQL ranges");
    check("NEW.tenant_x := 1; PERFORM tenant_x.f()", "NEW.tenant_x := 1; PERFORM tenant_x_copy.f()",
          1, "a field after a dot is no qualifier");

    got = rewrite("SELECT tenant_x FROM t", "tenant_x", "tenant_x_copy", &r);
    is_str(got, "SELECT tenant_x FROM t", "a column named like the schema stays");
    is_int(r.as_names, 1, "  ... counted as another name");
    ok(!pg_rewrite_report_leftover(&r), "  ... and alone it is no leftover");
    free(got);

    got = rewrite("SELECT a.tenant_x.b FROM x", "tenant_x", "tenant_x_copy", &r);
    is_str(got, "SELECT a.tenant_x.b FROM x", "a name between two dots stays");
    is_int(r.unsure, 1, "  ... reported as unsure");
    ok(pg_rewrite_report_leftover(&r), "  ... as a leftover");
    free(got);

    got = rewrite("<<tenant_x>> DECLARE v int; BEGIN tenant_x.v := 1; END", "tenant_x",
                  "tenant_x_copy", &r);
    is_int(r.rewritten, 1, "a block label of the same name: the qualifier is rewritten");
    is_int(r.as_names, 1, "  ... the label counted");
    ok(pg_rewrite_report_leftover(&r), "  ... and the function is reported");
    free(got);
}

static void test_quoting(void)
{
    PgRewriteReport r;
    char *got;

    got = rewrite("SELECT * FROM \"tenant_Mixed Case\".t, tenant_mixed.u, tenant_Mixed.v",
                  "tenant_Mixed Case", "copy Mixed", &r);
    is_str(got, "SELECT * FROM \"copy Mixed\".t, tenant_mixed.u, tenant_Mixed.v",
           "quoted \"Mixed Case\" schema; unquoted names fold to another schema");
    is_int(r.rewritten, 1, "  ... one rewritten");
    free(got);

    got = rewrite("SELECT \"tenant_Mixed\".f(), tenant_Mixed.g()", "tenant_Mixed", "tenant_m2", &r);
    is_str(got, "SELECT \"tenant_m2\".f(), tenant_Mixed.g()",
           "a mixed-case schema is only matched quoted");
    free(got);

    got = rewrite("INSERT INTO \"a\"\"b\".t VALUES ('\"a\"\"b\"')", "a\"b", "c\"d", &r);
    is_str(got, "INSERT INTO \"c\"\"d\".t VALUES ('\"a\"\"b\"')",
           "a quoted name with an embedded \"\": quotes doubled in the new name");
    is_int(r.rewritten, 1, "  ... one rewritten");
    is_int(r.in_strings, 1, "  ... the literal counted");
    free(got);

    got = rewrite("SELECT tenant_x.f()", "tenant_x", "Tenant Copy", &r);
    is_str(got, "SELECT \"Tenant Copy\".f()", "a new name that needs quotes is quoted");
    free(got);

    got = rewrite("SELECT tenant_x.f()", "tenant_x", "select", &r);
    is_str(got, "SELECT \"select\".f()", "a keyword as the new name is quoted");
    free(got);

    got = rewrite("SELECT tenant_x.f()", "tenant_x", "ünï", &r);
    is_str(got, "SELECT \"ünï\".f()", "a non-ASCII new name is quoted");
    free(got);

    got = rewrite("SELECT tenant_x.f()", "tenant_x", "evil\"; DROP SCHEMA central; --", &r);
    is_str(got, "SELECT \"evil\"\"; DROP SCHEMA central; --\".f()",
           "a hostile new name stays one identifier");
    free(got);

    /* the server truncates identifiers to 63 bytes */
    got = rewrite("SELECT abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcXYZ.t",
                  "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc", "s2", &r);
    is_str(got, "SELECT s2.t", "an identifier longer than 63 bytes is truncated before matching");
    free(got);
}

static void test_literals(void)
{
    PgRewriteReport r;
    char *got, *where;

    got = rewrite("EXECUTE 'INSERT INTO tenant_x.audit VALUES (1)'; INSERT INTO tenant_x.log",
                  "tenant_x", "tenant_x_copy", &r);
    is_str(got, "EXECUTE 'INSERT INTO tenant_x.audit VALUES (1)'; INSERT INTO tenant_x_copy.log",
           "a string literal stays");
    is_int(r.in_strings, 1, "  ... and is counted");
    ok(pg_rewrite_report_leftover(&r), "  ... as a leftover");
    where = pg_rewrite_report_describe(&r);
    like(where, "string literal", "  ... described as such");
    free(where);
    free(got);

    got = rewrite("EXECUTE format('INSERT INTO %I.t', 'TENANT_X'); x := 'it''s tenant_x.a';"
                  " y := tenant_x.b",
                  "tenant_x", "tenant_x_copy", &r);
    is_str(got,
           "EXECUTE format('INSERT INTO %I.t', 'TENANT_X'); x := 'it''s tenant_x.a';"
           " y := tenant_x_copy.b",
           "'' inside a literal does not end it");
    is_int(r.in_strings, 2, "  ... mentions in any case are counted");
    free(got);

    got = rewrite("x := E'it\\'s tenant_x.a' || e'\\\\' || tenant_x.b || E'\\''; z := tenant_x.c",
                  "tenant_x", "tenant_x_copy", &r);
    is_str(got,
           "x := E'it\\'s tenant_x.a' || e'\\\\' || tenant_x_copy.b || E'\\''; z := "
           "tenant_x_copy.c",
           "E'' strings with \\' and \\\\ escapes");
    is_int(r.rewritten, 2, "  ... two rewritten");
    is_int(r.in_strings, 1, "  ... one literal mention");
    free(got);

    check("x := 'C:\\'; y := tenant_x.t", "x := 'C:\\'; y := tenant_x_copy.t", 1,
          "a backslash does not escape in a standard string");
    check("x := B'01' || X'1F' || N'tenant_x.a' || U&'tenant_x.b' || tenant_x.c",
          "x := B'01' || X'1F' || N'tenant_x.a' || U&'tenant_x.b' || tenant_x_copy.c", 1,
          "prefixed strings");
    check("x := e.tenant_x + E.a; y := e'tenant_x.t'", "x := e.tenant_x + E.a; y := e'tenant_x.t'",
          0, "e alone is an identifier");

    got = rewrite("-- INSERT INTO tenant_x.a\nINSERT INTO tenant_x.b /* tenant_x.c /* nested "
                  "tenant_x.d */ still tenant_x.e */ VALUES (1)",
                  "tenant_x", "tenant_x_copy", &r);
    is_str(got,
           "-- INSERT INTO tenant_x.a\nINSERT INTO tenant_x_copy.b /* tenant_x.c /* nested "
           "tenant_x.d */ still tenant_x.e */ VALUES (1)",
           "comments stay, nested ones too");
    is_int(r.in_comments, 4, "  ... and their mentions are counted");
    is_int(r.rewritten, 1, "  ... one rewritten");
    free(got);

    got = rewrite("EXECUTE $q$INSERT INTO tenant_x.a $x$ tenant_x.b $x$ $q$; "
                  "EXECUTE $$tenant_x.c$$; INSERT INTO tenant_x.d",
                  "tenant_x", "tenant_x_copy", &r);
    is_str(got,
           "EXECUTE $q$INSERT INTO tenant_x.a $x$ tenant_x.b $x$ $q$; "
           "EXECUTE $$tenant_x.c$$; INSERT INTO tenant_x_copy.d",
           "dollar-quoted strings stay, nested tags too");
    is_int(r.in_strings, 3, "  ... their mentions counted");
    free(got);

    check("x := a$b$ + tenant_x.c", "x := a$b$ + tenant_x_copy.c", 1,
          "a $ inside an identifier starts no dollar quote");

    got = rewrite("SELECT U&\"tenant_x\".t, U&\"\\0074enant_x\".t", "tenant_x", "c", &r);
    is_str(got, "SELECT U&\"tenant_x\".t, U&\"\\0074enant_x\".t", "U&\"\" identifiers stay");
    is_int(r.unsure, 1, "  ... reported as unsure when they spell the name");
    free(got);

    check("", "", 0, "an empty body");
    check("x := E'ends in a backslash\\", "x := E'ends in a backslash\\", 0,
          "an E'' string cut after a backslash");
    check("x := 'unterminated tenant_x.a", "x := 'unterminated tenant_x.a", 0,
          "an unterminated literal runs to the end");
}

static void test_settings(void)
{
    PgRewriteReport r = {0};
    char *got;

    got = pg_rewrite_setting("search_path=tenant_x, public", "tenant_x", "tenant_x_copy", &r);
    is_str(got, "search_path=tenant_x_copy, public", "search_path: the schema is rewritten");
    is_int(r.rewritten, 1, "  ... counted");
    free(got);

    memset(&r, 0, sizeof(r));
    got = pg_rewrite_setting("search_path=\"$user\", \"tenant_x\", Tenant_X, tenant_x2", "tenant_x",
                             "New Copy", &r);
    is_str(got, "search_path=\"$user\", \"New Copy\", \"New Copy\", tenant_x2",
           "search_path: quoted and folded elements; the new name quoted");
    is_int(r.rewritten, 2, "  ... two rewritten");
    free(got);

    memset(&r, 0, sizeof(r));
    got = pg_rewrite_setting("search_path=\"Tenant X\", public", "Tenant X", "tenant_y", &r);
    is_str(got, "search_path=\"tenant_y\", public", "search_path: a quoted name");
    free(got);

    memset(&r, 0, sizeof(r));
    got = pg_rewrite_setting("search_path=\"a\"\"b\",public", "a\"b", "c\"d", &r);
    is_str(got, "search_path=\"c\"\"d\",public", "search_path: embedded quotes");
    free(got);

    memset(&r, 0, sizeof(r));
    got = pg_rewrite_setting("search_path=public, pg_temp", "tenant_x", "tenant_x_copy", &r);
    is_str(got, "search_path=public, pg_temp", "search_path without the schema stays");
    ok(r.rewritten == 0 && !pg_rewrite_report_leftover(&r), "  ... with nothing to report");
    free(got);

    memset(&r, 0, sizeof(r));
    got = pg_rewrite_setting("app.tenant=tenant_x", "tenant_x", "tenant_x_copy", &r);
    is_str(got, "app.tenant=tenant_x", "another setting stays");
    is_int(r.in_settings, 1, "  ... and is reported");
    ok(pg_rewrite_report_leftover(&r), "  ... as a leftover");
    free(got);

    memset(&r, 0, sizeof(r));
    got = pg_rewrite_setting("work_mem=64MB", "tenant_x", "tenant_x_copy", &r);
    is_str(got, "work_mem=64MB", "an unrelated setting stays");
    is_int(r.in_settings, 0, "  ... unreported");
    free(got);
}

int main(void)
{
    test_qualifiers();
    test_quoting();
    test_literals();
    test_settings();
    return tap_done();
}
