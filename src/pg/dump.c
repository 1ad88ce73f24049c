/*
 * dump.c - the argument lists of pg_dump and pg_restore in one place: the
 * exact-name pattern, the database argument, and the pg_restore runs of a
 * restore (section, -L list, jobs, single transaction).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "pg/pg.h"

char *pg_dump_exact_pattern(const char *name)
{
    size_t n = 0;
    char *out = xmalloc(strlen(name) * 2 + 3);

    /* inside double quotes nothing is special, and a quote is written twice */
    out[n++] = '"';
    for (const char *p = name; *p != '\0'; p++)
    {
        if (*p == '"')
            out[n++] = '"';
        out[n++] = *p;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

char *pg_dump_dbarg(const char *db)
{
    Buf b;

    buf_init(&b);
    buf_append_str(&b, "dbname='");
    for (const char *p = db; *p; p++)
    {
        if (*p == '\'' || *p == '\\')
            buf_append(&b, "\\", 1);
        buf_append(&b, p, 1);
    }
    buf_append_str(&b, "'");
    return (char *)b.data;
}

bool pg_restore_run(const PgRestoreRun *run, PGconn *conn, Error *err)
{
    char *argv[16];
    int n = 0;
    char *dbarg = pg_dump_dbarg(run->dbname);
    char *sect = run->section ? xasprintf("--section=%s", run->section) : NULL;
    char *jarg = run->jobs > 1 ? xasprintf("--jobs=%d", run->jobs) : NULL;
    bool ok;

    argv[n++] = (char *)run->program;
    argv[n++] = "--exit-on-error";
    if (sect != NULL)
        argv[n++] = sect;
    if (run->list != NULL)
    {
        argv[n++] = "--use-list";
        argv[n++] = (char *)run->list;
    }
    if (run->create)
        argv[n++] = "--create";
    if (jarg != NULL)
        argv[n++] = jarg;
    else if (!run->create)
        argv[n++] = "--single-transaction"; /* pg_restore refuses it with --create */
    argv[n++] = "--dbname";
    argv[n++] = dbarg;
    argv[n++] = (char *)run->archive;
    argv[n] = NULL;
    ok = pg_tool_run(argv, conn, NULL, NULL, NULL, err);
    free(dbarg);
    free(sect);
    free(jarg);
    return ok;
}

bool pg_restore_list(const char *program, const char *archive, const char *const *schemas,
                     size_t n_schemas, Buf *out, Error *err)
{
    char **argv = xcalloc(n_schemas + 4, sizeof(char *));
    size_t n = 0;
    bool ok;

    argv[n++] = (char *)program;
    argv[n++] = "--list";
    for (size_t i = 0; i < n_schemas; i++)
        argv[n++] = xasprintf("--schema=%s", schemas[i]);
    argv[n++] = (char *)archive;
    argv[n] = NULL;
    ok = pg_tool_run(argv, NULL, NULL, sink_to_buf, out, err);
    for (size_t i = 2; i < 2 + n_schemas; i++)
        free(argv[i]);
    free(argv);
    return ok;
}

bool pg_dump_schema_file(const char *program, const char *schema, const char *dbname,
                         const char *file, PGconn *conn, Error *err)
{
    char *pattern = pg_dump_exact_pattern(schema);
    char *schemaopt = xasprintf("--schema=%s", pattern);
    char *fileopt = xasprintf("--file=%s", file);
    char *dbarg = pg_dump_dbarg(dbname);
    char *argv[] = {(char *)program, "--schema-only", "--format=custom", "--compress=0",
                    schemaopt,       fileopt,         "--dbname",        dbarg,
                    NULL};
    bool ok = pg_tool_run(argv, conn, NULL, NULL, NULL, err);

    free(pattern);
    free(schemaopt);
    free(fileopt);
    free(dbarg);
    return ok;
}
