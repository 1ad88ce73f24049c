/*
 * db.c - databases a restore creates: encoding, locale, owner, settings,
 * comment, grants and per-role settings as the snapshot recorded them.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fmt.h"
#include "common/log.h"
#include "common/mem.h"
#include "restore/restore_intern.h"

/* The database's comment, grants and per-role settings from the snapshot
 * (absent in snapshots taken before they were recorded). */
static bool restore_db_extras(PGconn *c, const char *db, json_t *dbdoc, Error *err)
{
    static const char *const privileges[] = {"CREATE", "CONNECT", "TEMPORARY"};
    json_t *comment = json_object_get(dbdoc, "comment");
    json_t *acl = json_object_get(dbdoc, "acl");
    json_t *o, *v;
    size_t i, k;
    bool ok = true;

    if (json_is_string(comment))
    {
        const char *text = json_string_value(comment);
        char *lit = PQescapeLiteral(c, text, strlen(text));
        char *qdb = lit ? pg_quote_ident(c, db, err) : NULL;
        char *sql;

        if (qdb == NULL)
        {
            PQfreemem(lit);
            return false;
        }
        sql = xasprintf("COMMENT ON DATABASE %s IS %s", qdb, lit);
        ok = pg_command(c, "comment on database", sql, err);
        free(sql);
        free(qdb);
        PQfreemem(lit);
    }
    if (ok && json_is_array(acl))
    {
        /* explicit grants replace the defaults: start from none */
        ok = pg_exec_ident(c, "revoke defaults", "REVOKE ALL ON DATABASE %s FROM PUBLIC", db,
                                NULL, err);
        json_array_foreach (acl, i, o)
        {
            const char *priv = json_string_value(json_object_get(o, "privilege"));
            const char *grantee = json_string_value(json_object_get(o, "grantee"));
            bool known = false;
            char tmpl[128];

            for (k = 0; priv != NULL && k < sizeof(privileges) / sizeof(privileges[0]); k++)
                known = known || strcmp(priv, privileges[k]) == 0;
            if (!ok || !known)
                continue;
            snprintf(tmpl, sizeof(tmpl), "GRANT %s ON DATABASE %%s TO %s%s", priv,
                     grantee ? "%s" : "PUBLIC",
                     json_is_true(json_object_get(o, "grantable")) ? " WITH GRANT OPTION" : "");
            ok = pg_exec_ident(c, "grant on database", tmpl, db, grantee, err);
        }
    }
    json_array_foreach (json_object_get(dbdoc, "role_settings"), i, o)
        json_array_foreach (json_object_get(o, "settings"), k, v)
            if (ok)
                ok = pg_apply_setting(c, db, json_string_value(json_object_get(o, "role")),
                                           json_string_value(v), err);
    return ok;
}

bool restore_create_db(Restore *r, const char *db, json_t *dbdoc, Error *err)
{
    PGconn *c = r->admin;
    char *qdb = pg_quote_ident(c, db, err);
    char *enc = NULL, *col = NULL, *ctype = NULL, *sql;
    json_t *settings = json_object_get(dbdoc, "settings");
    json_t *s;
    size_t i;
    bool ok;

    if (qdb == NULL)
        return false;
    enc = PQescapeLiteral(c, restore_jstr(dbdoc, "encoding"), strlen(restore_jstr(dbdoc, "encoding")));
    col = PQescapeLiteral(c, restore_jstr(dbdoc, "collate"), strlen(restore_jstr(dbdoc, "collate")));
    ctype = PQescapeLiteral(c, restore_jstr(dbdoc, "ctype"), strlen(restore_jstr(dbdoc, "ctype")));
    sql = xasprintf("CREATE DATABASE %s TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s",
                    qdb, enc, col, ctype);
    ok = pg_command(c, "create database", sql, err);
    free(sql);
    PQfreemem(enc);
    PQfreemem(col);
    PQfreemem(ctype);
    /* the source's owner (its public schema belongs to the owner too) */
    if (ok && restore_jstr(dbdoc, "dba")[0] != '\0')
        ok = pg_exec_ident(c, "set database owner", "ALTER DATABASE %s OWNER TO %s", db,
                                restore_jstr(dbdoc, "dba"), err);
    json_array_foreach (settings, i, s)
        if (ok)
            ok = pg_apply_setting(c, db, NULL, json_string_value(s), err);
    if (ok)
        ok = restore_db_extras(c, db, dbdoc, err);
    free(qdb);
    return ok;
}
