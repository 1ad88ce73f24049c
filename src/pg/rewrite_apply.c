/*
 * rewrite_apply.c - applying the rewriter on the server: every SQL and
 * PL/pgSQL function of a renamed schema gets its body and search_path
 * rewritten (CREATE OR REPLACE with only the body changed, ALTER ROUTINE
 * ... SET), in one transaction; what could not be rewritten is reported.
 */
#include "pg/pg.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "pg/rewrite_intern.h"

/* ---- on the server ---------------------------------------------------------------- */

/* The schema's functions and procedures, not members of an extension: oid,
 * signature (regprocedure text; with search_path = pg_catalog it is schema-
 * qualified and quoted by the server), language, source, whether the body
 * is SQL-standard (parsed: nothing to rewrite), whether it has settings. */
#define RW_SQL_FUNCTIONS(SQL_BODY)                                                                 \
    "SELECT p.oid, p.oid::pg_catalog.regprocedure::pg_catalog.text, l.lanname, "                   \
    "p.prosrc, " SQL_BODY ", p.proconfig IS NOT NULL"                                              \
    "  FROM pg_catalog.pg_proc p"                                                                  \
    "  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"                                   \
    "  JOIN pg_catalog.pg_language l ON l.oid = p.prolang"                                         \
    " WHERE n.nspname = $1 AND p.prokind IN ('f', 'p')"                                            \
    "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"                                      \
    "        WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid"      \
    "          AND d.deptype = 'e')"                                                               \
    " ORDER BY 2"

static const char rw_sql_functions[] = RW_SQL_FUNCTIONS("p.prosqlbody IS NOT NULL");
/* before PostgreSQL 14, no SQL-standard bodies */
static const char rw_sql_functions_13[] = RW_SQL_FUNCTIONS("false");

/* A dollar-quote tag that does not occur in body, nor straddles its end. */
static char *rw_pick_tag(const char *body)
{
    size_t len = strlen(body);

    for (int k = 0;; k++)
    {
        char *tag = k == 0 ? xstrdup("$coffer$") : xasprintf("$coffer%d$", k);
        char *joined = xasprintf("%s%s", body, tag);
        bool fits = strstr(joined, tag) == joined + len;

        free(joined);
        if (fits)
            return tag;
        free(tag);
    }
}

/* Replaces the body of function oid (source prosrc) with body: its
 * pg_get_functiondef, which ends "AS $tag$<prosrc>$tag$\n", with only the
 * part between the tags changed, run as CREATE OR REPLACE. */
static bool rw_apply_body(PGconn *conn, const char *oid, const char *signature, const char *prosrc,
                          const char *body, Error *err)
{
    const char *params[1] = {oid};
    PGresult *res =
        pg_query(conn, "read a function definition",
                 "SELECT pg_catalog.pg_get_functiondef($1::pg_catalog.oid)", 1, params, err);
    const char *def;
    size_t end, close, src_len = strlen(prosrc), tag_len, open;
    char *tag, *sql;
    bool ok;

    if (res == NULL)
        return false;
    def = PQgetvalue(res, 0, 0);
    end = strlen(def);
    if (end > 0 && def[end - 1] == '\n')
        end--;
    /* the closing tag: $ letters $ */
    close = end > 0 && def[end - 1] == '$' ? end - 1 : 0;
    while (close > 0 && def[close - 1] >= 'a' && def[close - 1] <= 'z')
        close--;
    ok = close > 0 && def[close - 1] == '$';
    close = ok ? close - 1 : 0;
    tag_len = end - close;
    ok =
        ok && close >= src_len + tag_len + 3 && memcmp(def + close - src_len, prosrc, src_len) == 0;
    open = ok ? close - src_len - tag_len : 0;
    ok = ok && memcmp(def + open, def + close, tag_len) == 0 &&
         memcmp(def + open - 3, "AS ", 3) == 0;
    if (!ok)
    {
        PQclear(res);
        error_set(err, ERR_FAILURE, "could not find the body of function %s in its definition",
                  signature);
        return error_hint(err, "restore the tenant without --as, or report this definition");
    }
    tag = rw_pick_tag(body);
    sql = xasprintf("%.*s%s%s%s\n", (int)open, def, tag, body, tag);
    PQclear(res);
    ok = pg_command(conn, "replace a function body", sql, err);
    if (!ok)
        error_prefix(err, "function %s", signature);
    free(sql);
    free(tag);
    return ok;
}

/* ALTER ROUTINE signature SET search_path = the elements of entry, each
 * quoted by the server's rules. */
static bool rw_apply_search_path(PGconn *conn, const char *signature, const char *entry, Error *err)
{
    RwElement *elems;
    size_t count = rw_split_list(entry + rw_setting_name_len(entry) + 1, &elems);
    Buf sql;
    bool ok = true, first = true;

    buf_init(&sql);
    buf_printf(&sql, "ALTER ROUTINE %s SET search_path = ", signature);
    for (size_t i = 0; i < count && ok; i++)
    {
        char *q;

        /* an empty name ('' in SET) matches no schema, and cannot be quoted */
        if (elems[i].name[0] == '\0')
            continue;
        q = pg_quote_ident(conn, elems[i].name, err);
        ok = q != NULL;
        if (ok)
            buf_printf(&sql, "%s%s", first ? "" : ", ", q);
        first = false;
        free(q);
    }
    if (ok)
        ok = pg_command(conn, "set a function's search_path", buf_cstr(&sql), err);
    if (!ok)
        error_prefix(err, "function %s", signature);
    rw_elements_free(elems, count);
    buf_free(&sql);
    return ok;
}

/* Rewrites the search_path among the settings of function oid. */
static bool rw_settings(PGconn *conn, const char *oid, const char *signature,
                        const char *old_schema, const char *schema, PgRewriteReport *report,
                        Error *err)
{
    const char *params[1] = {oid};
    PGresult *res = pg_query(conn, "read a function's settings",
                             "SELECT pg_catalog.unnest(proconfig) FROM pg_catalog.pg_proc"
                             " WHERE oid = $1::pg_catalog.oid",
                             1, params, err);
    bool ok = res != NULL;

    for (int i = 0; ok && i < PQntuples(res); i++)
    {
        int before = report->rewritten;
        char *entry = pg_rewrite_setting(PQgetvalue(res, i, 0), old_schema, schema, report);

        if (report->rewritten > before)
            ok = rw_apply_search_path(conn, signature, entry, err);
        free(entry);
    }
    PQclear(res);
    return ok;
}

static void rw_result_add(PgRewriteFunction **list, size_t *count, const char *signature,
                          const PgRewriteReport *report)
{
    *list = xrealloc(*list, (*count + 1) * sizeof(**list));
    (*list)[*count].signature = xstrdup(signature);
    (*list)[*count].report = *report;
    (*count)++;
}

/* One row of rw_sql_functions. */
static bool rw_function(PGconn *conn, PGresult *list, int row, const char *schema,
                        const char *old_schema, PgRewriteResult *res, Error *err)
{
    const char *oid = PQgetvalue(list, row, 0);
    const char *signature = PQgetvalue(list, row, 1);
    const char *lang = PQgetvalue(list, row, 2);
    const char *prosrc = PQgetvalue(list, row, 3);
    bool sql_body = PQgetvalue(list, row, 4)[0] == 't';
    bool has_config = PQgetvalue(list, row, 5)[0] == 't';
    bool ok = true;
    PgRewriteReport report = {0};
    bool text_body = !sql_body && (strcmp(lang, "sql") == 0 || strcmp(lang, "plpgsql") == 0);
    /* C and internal functions name a symbol; other languages are not parsed here */
    bool other = !sql_body && !text_body && strcmp(lang, "c") != 0 && strcmp(lang, "internal") != 0;

    if (text_body)
    {
        char *body = pg_rewrite_body(prosrc, old_schema, schema, &report);

        if (report.rewritten > 0)
            ok = rw_apply_body(conn, oid, signature, prosrc, body, err);
        free(body);
    }
    else if (other)
        report.unsure += rw_count_mentions(prosrc, strlen(prosrc), old_schema);
    if (ok && has_config)
        ok = rw_settings(conn, oid, signature, old_schema, schema, &report, err);
    if (!ok)
        return false;
    if (report.rewritten > 0)
        rw_result_add(&res->rewritten, &res->n_rewritten, signature, &report);
    if (pg_rewrite_report_leftover(&report))
        rw_result_add(&res->leftovers, &res->n_leftovers, signature, &report);
    return true;
}

bool pg_rewrite_schema_functions(PGconn *conn, const char *schema, const char *old_schema,
                                 PgRewriteResult *res, Error *err)
{
    const char *params[1] = {schema};
    PGresult *list = NULL;
    bool ok;
    Error ignored;

    if (!pg_command(conn, "begin the rewrite of function bodies", "BEGIN", err))
        return false;
    /* qualified names in signatures and definitions; bodies are not
     * validated again (the dump did not validate them either) */
    ok = pg_command(conn, "prepare the rewrite of function bodies",
                    "SELECT pg_catalog.set_config('search_path', 'pg_catalog', true),"
                    " pg_catalog.set_config('check_function_bodies', 'off', true)",
                    err);
    if (ok)
    {
        list = pg_query(conn, "list the schema's functions",
                        pg_server_major(conn) >= 14 ? rw_sql_functions : rw_sql_functions_13, 1,
                        params, err);
        ok = list != NULL;
    }
    for (int i = 0; ok && i < PQntuples(list); i++)
        ok = rw_function(conn, list, i, schema, old_schema, res, err);
    PQclear(list);
    if (ok)
        return pg_command(conn, "commit the rewritten function bodies", "COMMIT", err);
    error_clear(&ignored);
    pg_command(conn, "roll back the rewrite of function bodies", "ROLLBACK", &ignored);
    return false;
}

void pg_rewrite_result_log(const PgRewriteResult *res, const char *old_schema)
{
    if (res->n_rewritten > 0)
        log_info("rewrote the references to schema \"%s\" in %zu function(s)", old_schema,
                 res->n_rewritten);
    for (size_t i = 0; i < res->n_rewritten; i++)
        log_debug("function %s: %d reference(s) to schema \"%s\" rewritten",
                  res->rewritten[i].signature, res->rewritten[i].report.rewritten, old_schema);
    for (size_t i = 0; i < res->n_leftovers; i++)
    {
        char *where = pg_rewrite_report_describe(&res->leftovers[i].report);

        log_warning("function %s still names schema \"%s\" %s; check that it does not refer "
                    "to the original schema",
                    res->leftovers[i].signature, old_schema, where);
        free(where);
    }
}

void pg_rewrite_result_free(PgRewriteResult *res)
{
    for (size_t i = 0; i < res->n_rewritten; i++)
        free(res->rewritten[i].signature);
    for (size_t i = 0; i < res->n_leftovers; i++)
        free(res->leftovers[i].signature);
    free(res->rewritten);
    free(res->leftovers);
    memset(res, 0, sizeof(*res));
}
