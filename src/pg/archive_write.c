/*
 * archive_write.c - writing pg_dump custom-format archives: a header and a
 * chosen subset of table-of-contents entries (a part), and which part an
 * entry belongs to (a tenant's schema, or the shared rest). The reader is
 * archive.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "pg/pg.h"

#define AR_MAGIC_LEN 5

static bool ar_section_ok(int s)
{
    return s >= PG_ARCHIVE_SECTION_NONE && s <= PG_ARCHIVE_SECTION_POST_DATA;
}

/* ---- writing --------------------------------------------------------- */

struct PgArchiveWriter
{
    int int_size;
    int off_size;
    bool relkind; /* 1.16+: entries carry relkind */
    size_t want;  /* entries announced in the count */
    size_t done;
    SinkFn sink;
    void *arg;
    Buf out; /* one entry at a time */
};

static void aw_int(PgArchiveWriter *w, int v)
{
    unsigned char b[9];
    unsigned int u = v < 0 ? (unsigned int)(-(long long)v) : (unsigned int)v;

    b[0] = v < 0 ? 1 : 0;
    for (int i = 0; i < w->int_size; i++)
    {
        b[1 + i] = (unsigned char)(u & 0xff);
        u = i < 3 ? u >> 8 : 0;
    }
    buf_append(&w->out, b, 1 + (size_t)w->int_size);
}

static void aw_str(PgArchiveWriter *w, const char *s)
{
    if (s == NULL)
    {
        aw_int(w, -1);
        return;
    }
    aw_int(w, (int)strlen(s));
    buf_append(&w->out, s, strlen(s));
}

static void aw_uint(PgArchiveWriter *w, unsigned long long v)
{
    char num[32];

    snprintf(num, sizeof(num), "%llu", v);
    aw_str(w, num);
}

static bool aw_flush(PgArchiveWriter *w, Error *err)
{
    bool ok = w->sink(w->arg, w->out.data, w->out.len, err);

    buf_reset(&w->out);
    return ok;
}

PgArchiveWriter *pg_archive_write_begin(const PgArchiveHeader *h, size_t n_entries, SinkFn sink,
                                        void *arg, Error *err)
{
    PgArchiveWriter *w;

    if (h->raw == NULL || h->raw_len < AR_MAGIC_LEN + 6 || h->int_size < 4 || h->int_size > 8 ||
        h->off_size < 1 || h->off_size > 8)
    {
        error_set(err, ERR_FAILURE, "cannot write a pg_dump archive: the header is incomplete");
        return NULL;
    }
    if (n_entries > INT_MAX)
    {
        error_set(err, ERR_FAILURE, "cannot write a pg_dump archive of %zu entries", n_entries);
        return NULL;
    }
    w = xcalloc(1, sizeof(*w));
    w->int_size = h->int_size;
    w->off_size = h->off_size;
    w->relkind = h->minor >= 16;
    w->want = n_entries;
    w->sink = sink;
    w->arg = arg;
    buf_init(&w->out);
    buf_append(&w->out, h->raw, h->raw_len);
    aw_int(w, (int)n_entries);
    if (!aw_flush(w, err))
    {
        buf_free(&w->out);
        free(w);
        return NULL;
    }
    return w;
}

bool pg_archive_write_entry(PgArchiveWriter *w, const PgArchiveEntry *e, Error *err)
{
    const unsigned char no_data[9] = {PG_ARCHIVE_DATA_NONE};

    if (w->done == w->want)
        return error_set(err, ERR_FAILURE,
                         "cannot write entry %d: the archive was announced with %zu entries",
                         e->dump_id, w->want);
    if (e->had_dumper)
        return error_set(err, ERR_FAILURE,
                         "cannot write entry %d (%s): it has data, and a split archive holds "
                         "none",
                         e->dump_id, e->desc != NULL ? e->desc : "");
    if (e->dump_id <= 0 || e->desc == NULL || !ar_section_ok(e->section))
        return error_set(err, ERR_FAILURE, "cannot write entry %d: it is incomplete", e->dump_id);
    for (size_t i = 0; i < e->n_deps; i++)
        if (e->deps[i] <= 0)
            return error_set(err, ERR_FAILURE, "cannot write entry %d: bad dependency id %d",
                             e->dump_id, e->deps[i]);
    aw_int(w, e->dump_id);
    aw_int(w, 0);
    aw_uint(w, e->table_oid);
    aw_uint(w, e->oid);
    aw_str(w, e->tag);
    aw_str(w, e->desc);
    aw_int(w, e->section);
    aw_str(w, e->defn);
    aw_str(w, e->drop_stmt);
    aw_str(w, e->copy_stmt);
    aw_str(w, e->namespace);
    aw_str(w, e->tablespace);
    aw_str(w, e->tableam);
    if (w->relkind)
        aw_int(w, e->relkind);
    aw_str(w, e->owner);
    aw_str(w, e->with_oids ? "true" : "false");
    for (size_t i = 0; i < e->n_deps; i++)
        aw_uint(w, (unsigned long long)e->deps[i]);
    aw_str(w, NULL);
    /* no data block: the state says so and the offset is zero */
    buf_append(&w->out, no_data, 1 + (size_t)w->off_size);
    w->done++;
    return aw_flush(w, err);
}

bool pg_archive_write_end(PgArchiveWriter *w, Error *err)
{
    bool ok = true;

    if (w == NULL)
        return false;
    if (w->done != w->want)
        ok = error_set(err, ERR_FAILURE,
                       "pg_dump archive incomplete: %zu of its %zu entries were written", w->done,
                       w->want);
    buf_free(&w->out);
    free(w);
    return ok;
}

/* ---- parts ----------------------------------------------------------- */

struct PgArchivePart
{
    PgArchiveEntry **entries;
    size_t n;
    size_t cap;
    size_t bytes;
};

PgArchivePart *pg_archive_part_new(void)
{
    return xcalloc(1, sizeof(PgArchivePart));
}

static size_t ar_len(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

void pg_archive_part_add(PgArchivePart *p, const PgArchiveEntry *e)
{
    if (p->n == p->cap)
    {
        p->cap = p->cap ? p->cap * 2 : 32;
        p->entries = xrealloc(p->entries, p->cap * sizeof(*p->entries));
    }
    p->entries[p->n++] = pg_archive_entry_copy(e);
    p->bytes += sizeof(PgArchiveEntry) + ar_len(e->tag) + ar_len(e->desc) + ar_len(e->defn) +
                ar_len(e->drop_stmt) + ar_len(e->copy_stmt) + ar_len(e->namespace) +
                ar_len(e->tablespace) + ar_len(e->tableam) + ar_len(e->owner) +
                e->n_deps * sizeof(int);
}

size_t pg_archive_part_count(const PgArchivePart *p)
{
    return p->n;
}

size_t pg_archive_part_bytes(const PgArchivePart *p)
{
    return p->bytes;
}

const PgArchiveEntry *pg_archive_part_entry(const PgArchivePart *p, size_t i)
{
    return i < p->n ? p->entries[i] : NULL;
}

bool pg_archive_part_write(const PgArchivePart *p, const PgArchiveHeader *h, SinkFn sink, void *arg,
                           Error *err)
{
    PgArchiveWriter *w = pg_archive_write_begin(h, p->n, sink, arg, err);

    if (w == NULL)
        return false;
    for (size_t i = 0; i < p->n; i++)
    {
        if (!pg_archive_write_entry(w, p->entries[i], err))
        {
            pg_archive_write_end(w, NULL);
            return false;
        }
    }
    return pg_archive_write_end(w, err);
}

typedef struct ArIdMap
{
    int from, to;
} ArIdMap;

static int ar_cmp_idmap(const void *a, const void *b)
{
    const ArIdMap *x = a, *y = b;

    return (x->from > y->from) - (x->from < y->from);
}

static int ar_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

int pg_archive_part_renumber(PgArchivePart *p, int first_id)
{
    ArIdMap *map = xcalloc(p->n + 1, sizeof(ArIdMap));

    for (size_t i = 0; i < p->n; i++)
    {
        map[i].from = p->entries[i]->dump_id;
        map[i].to = first_id + (int)i;
    }
    qsort(map, p->n, sizeof(ArIdMap), ar_cmp_idmap);
    for (size_t i = 0; i < p->n; i++)
    {
        PgArchiveEntry *e = p->entries[i];
        size_t kept = 0;

        e->dump_id = first_id + (int)i;
        for (size_t d = 0; d < e->n_deps; d++)
        {
            ArIdMap key = {e->deps[d], 0};
            const ArIdMap *m = bsearch(&key, map, p->n, sizeof(ArIdMap), ar_cmp_idmap);

            /* a dependency outside the part names another dump's entry */
            if (m != NULL)
                e->deps[kept++] = m->to;
        }
        e->n_deps = kept;
        /* pg_dump lists them in an order its own numbering decides: in
         * ours, so that the same objects give the same archive */
        if (kept > 1)
            qsort(e->deps, kept, sizeof(e->deps[0]), ar_cmp_int);
    }
    free(map);
    return first_id + (int)p->n;
}

void pg_archive_part_free(PgArchivePart *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        pg_archive_entry_free(p->entries[i]);
    free(p->entries);
    free(p);
}

/* ---- owners ---------------------------------------------------------- */

/* True when s is name as pg_dump's fmtId prints it: bare (only lowercase
 * ASCII letters, digits and underscores, not starting with a digit), or in
 * double quotes with inner quotes doubled. Keywords are always quoted, and
 * a quoted form cannot be read as another name's bare form, so accepting
 * both is exact. */
static bool ar_is_ident(const char *s, const char *name)
{
    bool bare = (*name >= 'a' && *name <= 'z') || *name == '_';
    const char *n;

    for (n = name; *n && bare; n++)
        bare = (*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '_';
    if (bare && strcmp(s, name) == 0)
        return true;
    if (*s++ != '"')
        return false;
    for (n = name; *n; n++)
    {
        if (*s++ != *n)
            return false;
        if (*n == '"' && *s++ != '"')
            return false;
    }
    return s[0] == '"' && s[1] == '\0';
}

bool pg_archive_entry_is_setup(const PgArchiveEntry *e)
{
    return e->desc != NULL &&
           (strcmp(e->desc, "ENCODING") == 0 || strcmp(e->desc, "STDSTRINGS") == 0 ||
            strcmp(e->desc, "SEARCHPATH") == 0);
}

bool pg_archive_entry_owner(const PgArchiveEntry *e, const char *const *schemas, size_t n_schemas,
                            size_t *which)
{
    bool on_schema;

    if (e->namespace != NULL && e->namespace[0] != '\0')
    {
        for (size_t i = 0; i < n_schemas; i++)
        {
            if (strcmp(e->namespace, schemas[i]) == 0)
            {
                *which = i;
                return true;
            }
        }
        return false;
    }
    if (e->desc == NULL || e->tag == NULL)
        return false;
    if (strcmp(e->desc, "SCHEMA") == 0)
    {
        for (size_t i = 0; i < n_schemas; i++)
        {
            if (strcmp(e->tag, schemas[i]) == 0)
            {
                *which = i;
                return true;
            }
        }
        return false;
    }
    /* comments, grants and labels on a schema: tag "SCHEMA name" */
    on_schema = strcmp(e->desc, "COMMENT") == 0 || strcmp(e->desc, "ACL") == 0 ||
                strcmp(e->desc, "SECURITY LABEL") == 0;
    if (!on_schema || strncmp(e->tag, "SCHEMA ", 7) != 0)
        return false;
    for (size_t i = 0; i < n_schemas; i++)
    {
        if (ar_is_ident(e->tag + 7, schemas[i]))
        {
            *which = i;
            return true;
        }
    }
    return false;
}
