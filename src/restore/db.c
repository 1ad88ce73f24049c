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
static bool restore_db_extras(PGconn *c, const char *db, const ManDatabase *mdb, Error *err)
{
    static const char *const privileges[] = {"CREATE", "CONNECT", "TEMPORARY"};
    bool ok = true;

    if (mdb->comment != NULL)
    {
        char *lit = PQescapeLiteral(c, mdb->comment, strlen(mdb->comment));
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
    if (ok && mdb->has_acl)
    {
        /* explicit grants replace the defaults: start from none */
        ok = pg_exec_ident(c, "revoke defaults", "REVOKE ALL ON DATABASE %s FROM PUBLIC", db, NULL,
                           err);
        for (size_t i = 0; ok && i < mdb->n_acl; i++)
        {
            const ManGrant *g = &mdb->acl[i];
            bool known = false;
            char tmpl[128];

            for (size_t k = 0; k < sizeof(privileges) / sizeof(privileges[0]); k++)
                known = known || strcmp(g->privilege, privileges[k]) == 0;
            if (!known)
                continue;
            snprintf(tmpl, sizeof(tmpl), "GRANT %s ON DATABASE %%s TO %s%s", g->privilege,
                     g->grantee ? "%s" : "PUBLIC", g->grantable ? " WITH GRANT OPTION" : "");
            ok = pg_exec_ident(c, "grant on database", tmpl, db, g->grantee, err);
        }
    }
    for (size_t i = 0; ok && i < mdb->n_role_settings; i++)
        for (size_t k = 0; ok && k < mdb->role_settings[i].n_settings; k++)
            ok = pg_apply_setting(c, db, mdb->role_settings[i].role,
                                  mdb->role_settings[i].settings[k], err);
    return ok;
}

bool restore_create_db(Restore *r, const char *db, const ManDatabase *mdb, Error *err)
{
    PGconn *c = r->admin;
    char *qdb = pg_quote_ident(c, db, err);
    char *enc = NULL, *col = NULL, *ctype = NULL, *sql;
    bool ok;

    if (qdb == NULL)
        return false;
    enc = PQescapeLiteral(c, mdb->encoding, strlen(mdb->encoding));
    col = PQescapeLiteral(c, mdb->collate, strlen(mdb->collate));
    ctype = PQescapeLiteral(c, mdb->ctype, strlen(mdb->ctype));
    sql = xasprintf("CREATE DATABASE %s TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s",
                    qdb, enc, col, ctype);
    ok = pg_command(c, "create database", sql, err);
    free(sql);
    if (ok && r->a->drill && r->a->into_db != NULL && strcmp(db, r->a->into_db) == 0)
        ok = restore_mark_scratch(r, db, err);
    PQfreemem(enc);
    PQfreemem(col);
    PQfreemem(ctype);
    /* the source's owner (its public schema belongs to the owner too) */
    if (ok && mdb->dba[0] != '\0')
        ok = pg_exec_ident(c, "set database owner", "ALTER DATABASE %s OWNER TO %s", db, mdb->dba,
                           err);
    for (size_t i = 0; ok && i < mdb->n_settings; i++)
        ok = pg_apply_setting(c, db, NULL, mdb->settings[i], err);
    if (ok)
        ok = restore_db_extras(c, db, mdb, err);
    free(qdb);
    return ok;
}
