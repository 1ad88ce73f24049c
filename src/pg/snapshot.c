/*
 * snapshot.c - exported snapshots, so that every worker reading one
 * database sees the same instant.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "pg/pg.h"

char *pg_snapshot_export(PGconn *conn, Error *err)
{
    PGresult *res;
    char *snap;

    if (!pg_command(conn, "start snapshot transaction",
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return NULL;
    res = pg_query(conn, "export snapshot", "SELECT pg_catalog.pg_export_snapshot()", 0, NULL, err);
    if (res == NULL)
        return NULL;
    snap = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return snap;
}

bool pg_snapshot_import(PGconn *conn, const char *snapshot, Error *err)
{
    char *lit, *sql;
    bool ok;

    if (PQtransactionStatus(conn) != PQTRANS_IDLE && !pg_command(conn, "rollback", "ROLLBACK", err))
        return false;
    if (!pg_command(conn, "start snapshot transaction",
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return false;
    /* SET TRANSACTION SNAPSHOT takes no parameters: quote the name as a literal */
    lit = PQescapeLiteral(conn, snapshot, strlen(snapshot));
    if (lit == NULL)
        return error_set(err, ERR_FAILURE, "could not quote snapshot name");
    sql = xasprintf("SET TRANSACTION SNAPSHOT %s", lit);
    PQfreemem(lit);
    ok = pg_command(conn, "join the backup snapshot", sql, err);
    free(sql);
    return ok;
}
