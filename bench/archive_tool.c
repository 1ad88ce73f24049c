/*
 * archive_tool.c - a small driver of the pg_dump archive reader and writer
 * (src/pg/archive.c), for test/integration/061_archive_split.t: it splits a
 * real schema-only custom-format dump into per-owner archives as a backup
 * does, so that pg_restore can be run on each part.
 *
 *   archive_tool split [--chunk BYTES] ARCHIVE OUTDIR SCHEMA...
 *       OUTDIR/shared.dump, and OUTDIR/tenant-I.dump for the I-th SCHEMA
 *       (from 1); every part gets the session setup entries. Prints
 *       "shared N" and "tenant I N" (entry counts).
 *   archive_tool copy [--chunk BYTES] ARCHIVE OUT   every entry, rewritten
 *   archive_tool list [--chunk BYTES] ARCHIVE       one line per entry:
 *       dump id, section, type, namespace, tag, dependencies
 *
 * ARCHIVE "-" is standard input. --chunk sets the size of the pieces the
 * reader is fed (default 65536; 1 feeds byte by byte).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"
#include "pg/pg.h"

typedef struct ToolSplit
{
    const char *const *schemas;
    size_t n_schemas;
    PgArchivePart **parts; /* [0] shared, [1 + i] schema i */
    bool list;
} ToolSplit;

static int tool_fail(const Error *err)
{
    error_print(err);
    return 1;
}

static int tool_usage(void)
{
    fprintf(stderr, "usage: archive_tool split [--chunk BYTES] ARCHIVE OUTDIR SCHEMA...\n"
                    "       archive_tool copy [--chunk BYTES] ARCHIVE OUT\n"
                    "       archive_tool list [--chunk BYTES] ARCHIVE\n");
    return 2;
}

static bool tool_to_file(void *arg, const void *data, size_t len, Error *err)
{
    if (len > 0 && fwrite(data, 1, len, (FILE *)arg) != len)
        return error_set(err, ERR_FAILURE, "could not write: %s", strerror(errno));
    return true;
}

static bool tool_entry(void *arg, const PgArchiveEntry *e, Error *err)
{
    ToolSplit *t = arg;
    size_t which;

    (void)err;
    if (t->list)
    {
        printf("%d %d %s %s %s", e->dump_id, e->section, e->desc,
               e->namespace != NULL ? e->namespace : "-", e->tag != NULL ? e->tag : "-");
        for (size_t i = 0; i < e->n_deps; i++)
            printf("%s%d", i == 0 ? " deps " : ",", e->deps[i]);
        printf("\n");
        return true;
    }
    if (pg_archive_entry_is_setup(e))
    {
        for (size_t i = 0; i <= t->n_schemas; i++)
            pg_archive_part_add(t->parts[i], e);
        return true;
    }
    if (pg_archive_entry_owner(e, t->schemas, t->n_schemas, &which))
        pg_archive_part_add(t->parts[1 + which], e);
    else
        pg_archive_part_add(t->parts[0], e);
    return true;
}

/* Feeds the archive at path to r in chunks of chunk bytes. */
static bool tool_read(const char *path, size_t chunk, PgArchiveReader *r, Error *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    unsigned char *buf;
    bool ok = true;

    if (f == NULL)
        return error_set(err, ERR_FAILURE, "could not open \"%s\": %s", path, strerror(errno));
    buf = xmalloc(chunk);
    while (ok)
    {
        size_t n = fread(buf, 1, chunk, f);

        if (n == 0)
            break;
        ok = pg_archive_feed(r, buf, n, err);
    }
    if (ok && ferror(f))
        ok = error_set(err, ERR_FAILURE, "could not read \"%s\"", path);
    if (ok)
        ok = pg_archive_finish(r, err);
    free(buf);
    if (f != stdin)
        fclose(f);
    return ok;
}

static bool tool_write(const char *path, const PgArchivePart *p, const PgArchiveHeader *h,
                       Error *err)
{
    FILE *f = fopen(path, "wb");
    bool ok;

    if (f == NULL)
        return error_set(err, ERR_FAILURE, "could not create \"%s\": %s", path, strerror(errno));
    ok = pg_archive_part_write(p, h, tool_to_file, f, err);
    if (fclose(f) != 0 && ok)
        ok = error_set(err, ERR_FAILURE, "could not write \"%s\": %s", path, strerror(errno));
    return ok;
}

int main(int argc, char **argv)
{
    Error err;
    ToolSplit t = {0};
    size_t chunk = 65536;
    const char *cmd;
    int a = 2;
    size_t n_parts;
    PgArchiveReader *r;
    bool ok;

    error_clear(&err);
    if (argc < 3)
        return tool_usage();
    cmd = argv[1];
    if (strcmp(argv[a], "--chunk") == 0 && a + 1 < argc)
    {
        chunk = strtoul(argv[a + 1], NULL, 10);
        a += 2;
    }
    if (chunk == 0 || a >= argc)
        return tool_usage();
    if (strcmp(cmd, "list") == 0)
        t.list = true;
    else if (strcmp(cmd, "split") == 0 && a + 2 <= argc)
    {
        t.schemas = (const char *const *)argv + a + 2;
        t.n_schemas = (size_t)(argc - a - 2);
    }
    else if (!(strcmp(cmd, "copy") == 0 && a + 2 == argc))
        return tool_usage();

    /* copy is a split with no tenant: everything is "shared" */
    n_parts = 1 + t.n_schemas;
    t.parts = xcalloc(n_parts, sizeof(*t.parts));
    for (size_t i = 0; i < n_parts; i++)
        t.parts[i] = pg_archive_part_new();
    r = pg_archive_reader_new(0, tool_entry, &t);
    ok = tool_read(argv[a], chunk, r, &err);
    if (ok && strcmp(cmd, "copy") == 0)
        ok = tool_write(argv[a + 1], t.parts[0], pg_archive_reader_header(r), &err);
    else if (ok && strcmp(cmd, "split") == 0)
    {
        for (size_t i = 0; ok && i < n_parts; i++)
        {
            char *path = i == 0 ? xasprintf("%s/shared.dump", argv[a + 1])
                                : xasprintf("%s/tenant-%zu.dump", argv[a + 1], i);

            ok = tool_write(path, t.parts[i], pg_archive_reader_header(r), &err);
            if (ok && i == 0)
                printf("shared %zu\n", pg_archive_part_count(t.parts[i]));
            else if (ok)
                printf("tenant %zu %zu\n", i, pg_archive_part_count(t.parts[i]));
            free(path);
        }
    }
    pg_archive_reader_free(r);
    for (size_t i = 0; i < n_parts; i++)
        pg_archive_part_free(t.parts[i]);
    free(t.parts);
    return ok ? 0 : tool_fail(&err);
}
