/*
 * archive.c - reading the table of contents of a pg_dump
 * custom-format archive (-Fc), so that one schema-only dump of a database
 * can be split into one archive per owner (each tenant, and the shared
 * part) that pg_restore reads like any other. The reader is a push parser
 * fed from pg_dump's stdout; it holds one entry at a time. Writing parts
 * is archive_write.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "pg/pg.h"

#define AR_MAGIC "PGDMP"
#define AR_MAGIC_LEN 5
#define AR_FORMAT_CUSTOM 1
#define AR_HEADER_TIMES 7
#define AR_DEFAULT_MAX_ENTRY ((size_t)64 * 1024 * 1024)
/* compact the input buffer once this much of it is consumed */
#define AR_COMPACT_AT ((size_t)64 * 1024)

/* Where the reader is. Header fields come in this order, then the entry
 * count, then each entry's fields (AR_ENTRY, with step naming the field). */
typedef enum
{
    AR_MAGIC_VERSION, /* "PGDMP", major, minor, revision */
    AR_SIZES,         /* int size, offset size, format */
    AR_COMPRESSION,   /* 1.14: an int (the level); 1.15+: a byte (the algorithm) */
    AR_TIMES,         /* seven ints: the creation time */
    AR_DBNAME,
    AR_SERVER_VERSION,
    AR_DUMP_VERSION,
    AR_COUNT, /* the number of entries */
    AR_ENTRY,
    AR_END, /* every entry read: nothing may follow */
} ArState;

/* The fields of one entry, in archive order. */
typedef enum
{
    AF_DUMP_ID,
    AF_HAD_DUMPER,
    AF_TABLE_OID,
    AF_OID,
    AF_TAG,
    AF_DESC,
    AF_SECTION,
    AF_DEFN,
    AF_DROP_STMT,
    AF_COPY_STMT,
    AF_NAMESPACE,
    AF_TABLESPACE,
    AF_TABLEAM,
    AF_RELKIND, /* 1.16+ */
    AF_OWNER,
    AF_WITH_OIDS,
    AF_DEPS, /* strings until a NULL one */
    AF_DATA, /* custom format: data state byte and offset */
    AF_DONE,
} ArField;

struct PgArchiveReader
{
    PgArchiveEntryFn fn;
    void *arg;
    size_t max_entry;
    Buf in;        /* unconsumed input, from the start of the current unit */
    size_t pos;    /* next byte to parse in in */
    size_t unit;   /* where the current header or entry starts in in */
    uint64_t base; /* archive offset of in.data[0] */
    ArState state;
    int step; /* AR_TIMES: ints read; AR_ENTRY: the ArField */
    PgArchiveHeader head;
    PgArchiveEntry cur;
    size_t deps_cap;
    size_t n_read; /* entries handed to fn */
    bool failed;   /* an error was returned: feeding stops */
};

/* ---- header and entry memory ---------------------------------------- */

static void ar_entry_clear(PgArchiveEntry *e)
{
    free(e->tag);
    free(e->desc);
    free(e->defn);
    free(e->drop_stmt);
    free(e->copy_stmt);
    free(e->namespace);
    free(e->tablespace);
    free(e->tableam);
    free(e->owner);
    free(e->deps);
    memset(e, 0, sizeof(*e));
}

static char *ar_strdup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

PgArchiveEntry *pg_archive_entry_copy(const PgArchiveEntry *e)
{
    PgArchiveEntry *c = xmalloc(sizeof(*c));

    *c = *e;
    c->tag = ar_strdup_or_null(e->tag);
    c->desc = ar_strdup_or_null(e->desc);
    c->defn = ar_strdup_or_null(e->defn);
    c->drop_stmt = ar_strdup_or_null(e->drop_stmt);
    c->copy_stmt = ar_strdup_or_null(e->copy_stmt);
    c->namespace = ar_strdup_or_null(e->namespace);
    c->tablespace = ar_strdup_or_null(e->tablespace);
    c->tableam = ar_strdup_or_null(e->tableam);
    c->owner = ar_strdup_or_null(e->owner);
    c->deps = NULL;
    if (e->n_deps > 0)
    {
        c->deps = xmalloc(e->n_deps * sizeof(int));
        memcpy(c->deps, e->deps, e->n_deps * sizeof(int));
    }
    return c;
}

void pg_archive_entry_free(PgArchiveEntry *e)
{
    if (e == NULL)
        return;
    ar_entry_clear(e);
    free(e);
}

static void ar_header_clear(PgArchiveHeader *h)
{
    free(h->dbname);
    free(h->server_version);
    free(h->dump_version);
    free(h->raw);
    memset(h, 0, sizeof(*h));
}

PgArchiveHeader *pg_archive_header_copy(const PgArchiveHeader *h)
{
    PgArchiveHeader *c = xmalloc(sizeof(*c));

    *c = *h;
    c->dbname = ar_strdup_or_null(h->dbname);
    c->server_version = ar_strdup_or_null(h->server_version);
    c->dump_version = ar_strdup_or_null(h->dump_version);
    c->raw = xmalloc(h->raw_len > 0 ? h->raw_len : 1);
    memcpy(c->raw, h->raw, h->raw_len);
    return c;
}

void pg_archive_header_fix_time(PgArchiveHeader *h)
{
    /* struct tm: sec, min, hour, mday, mon (from 0), year (from 1900), isdst */
    static const int fixed[7] = {0, 0, 0, 1, 0, 100, 0};
    size_t width = 1 + (size_t)h->int_size, off = h->created_off;

    if (h->created_off == 0 || off + 7 * width > h->raw_len)
        return;
    for (int i = 0; i < 7; i++)
    {
        unsigned char *p = h->raw + off + (size_t)i * width;

        h->created[i] = fixed[i];
        memset(p, 0, width);
        for (int b = 0; b < h->int_size && b < 4; b++)
            p[1 + b] = (unsigned char)((unsigned)fixed[i] >> (8 * b));
    }
}

void pg_archive_header_free(PgArchiveHeader *h)
{
    if (h == NULL)
        return;
    ar_header_clear(h);
    free(h);
}

/* ---- reading --------------------------------------------------------- */

PgArchiveReader *pg_archive_reader_new(size_t max_entry, PgArchiveEntryFn fn, void *arg)
{
    PgArchiveReader *r = xcalloc(1, sizeof(*r));

    r->fn = fn;
    r->arg = arg;
    r->max_entry = max_entry > 0 ? max_entry : AR_DEFAULT_MAX_ENTRY;
    buf_init(&r->in);
    r->state = AR_MAGIC_VERSION;
    return r;
}

void pg_archive_reader_free(PgArchiveReader *r)
{
    if (r == NULL)
        return;
    buf_free(&r->in);
    ar_header_clear(&r->head);
    ar_entry_clear(&r->cur);
    free(r);
}

const PgArchiveHeader *pg_archive_reader_header(const PgArchiveReader *r)
{
    return r->state > AR_DUMP_VERSION ? &r->head : NULL;
}

size_t pg_archive_reader_count(const PgArchiveReader *r)
{
    return r->n_read;
}

/* Archive offset of the next byte to parse. */
static unsigned long long ar_offset(const PgArchiveReader *r)
{
    return (unsigned long long)(r->base + r->pos);
}

/* Sets err to a message that says where in the archive the problem is. */
static int ar_fail(PgArchiveReader *r, Error *err, const char *what)
{
    if (r->state == AR_ENTRY)
        error_set(err, ERR_FAILURE, "invalid pg_dump archive: %s in entry %zu of %d (byte %llu)",
                  what, r->n_read + 1, r->head.entries, ar_offset(r));
    else
        error_set(err, ERR_FAILURE, "invalid pg_dump archive: %s (byte %llu)", what, ar_offset(r));
    return -1;
}

static size_t ar_avail(const PgArchiveReader *r)
{
    return r->in.len - r->pos;
}

/* Reads pg_dump's integer at in.data[at]: a sign byte (0 or 1), then
 * int_size bytes, least significant first. 1 with *v set, 0 when more
 * bytes are needed, -1 with err on a value no pg_dump writes. Consumes
 * nothing. */
static int ar_peek_int(PgArchiveReader *r, size_t at, int *v, Error *err)
{
    size_t n = 1 + (size_t)r->head.int_size;
    const unsigned char *p;
    uint64_t u = 0;

    if (r->in.len < at || r->in.len - at < n)
        return 0;
    p = r->in.data + at;
    if (p[0] > 1)
        return ar_fail(r, err, "bad integer sign byte");
    for (int i = r->head.int_size - 1; i >= 0; i--)
        u = (u << 8) | p[1 + i];
    if (u > INT_MAX)
        return ar_fail(r, err, "integer out of range");
    *v = p[0] ? -(int)u : (int)u;
    return 1;
}

static int ar_int(PgArchiveReader *r, int *v, Error *err)
{
    int rc = ar_peek_int(r, r->pos, v, err);

    if (rc == 1)
        r->pos += 1 + (size_t)r->head.int_size;
    return rc;
}

/* Reads a string: its length as an integer (-1 for NULL), then its bytes.
 * *s is malloc'd (NULL for NULL). Consumes nothing unless it is whole. */
static int ar_str(PgArchiveReader *r, char **s, Error *err)
{
    size_t isz = 1 + (size_t)r->head.int_size;
    int len;
    int rc = ar_peek_int(r, r->pos, &len, err);

    if (rc != 1)
        return rc;
    if (len < -1)
        return ar_fail(r, err, "negative string length");
    if (len == -1)
    {
        r->pos += isz;
        *s = NULL;
        return 1;
    }
    if ((size_t)len > r->max_entry)
    {
        ar_fail(r, err, "string longer than the limit");
        error_detail(err, "The string has %d bytes; the limit is %zu.", len, r->max_entry);
        return -1;
    }
    if (ar_avail(r) - isz < (size_t)len)
        return 0;
    if (memchr(r->in.data + r->pos + isz, '\0', (size_t)len) != NULL)
        return ar_fail(r, err, "string holding a NUL byte");
    *s = xstrndup((const char *)r->in.data + r->pos + isz, (size_t)len);
    r->pos += isz + (size_t)len;
    return 1;
}

/* A string holding a number as pg_dump prints it ("%u" or "%d"): digits
 * only, no sign, no leading zero, so that printing it again gives the same
 * bytes. */
static bool ar_parse_number(const char *s, unsigned long long max, unsigned long long *v)
{
    unsigned long long u = 0;

    if (s == NULL || *s == '\0' || (s[0] == '0' && s[1] != '\0'))
        return false;
    for (; *s; s++)
    {
        if (*s < '0' || *s > '9')
            return false;
        u = u * 10 + (unsigned long long)(*s - '0');
        if (u > max)
            return false;
    }
    *v = u;
    return true;
}

/* Reads an OID string into *oid. */
static int ar_oid(PgArchiveReader *r, uint32_t *oid, Error *err)
{
    char *s = NULL;
    unsigned long long v;
    int rc = ar_str(r, &s, err);

    if (rc != 1)
        return rc;
    if (!ar_parse_number(s, UINT32_MAX, &v))
    {
        free(s);
        return ar_fail(r, err, "bad OID");
    }
    free(s);
    *oid = (uint32_t)v;
    return 1;
}

/* The next dependency: 1 with one more in cur.deps, 2 at the list's end. */
static int ar_dep(PgArchiveReader *r, Error *err)
{
    char *s = NULL;
    unsigned long long v;
    int rc = ar_str(r, &s, err);

    if (rc != 1)
        return rc;
    if (s == NULL)
        return 2;
    if (!ar_parse_number(s, INT_MAX, &v) || v == 0)
    {
        free(s);
        return ar_fail(r, err, "bad dependency id");
    }
    free(s);
    if (r->cur.n_deps == r->deps_cap)
    {
        r->deps_cap = r->deps_cap ? r->deps_cap * 2 : 8;
        r->cur.deps = xrealloc(r->cur.deps, r->deps_cap * sizeof(int));
    }
    r->cur.deps[r->cur.n_deps++] = (int)v;
    return 1;
}

/* The custom format's extra field: a data state byte and off_size bytes of
 * offset. */
static int ar_data(PgArchiveReader *r, Error *err)
{
    size_t n = 1 + (size_t)r->head.off_size;
    const unsigned char *p;
    uint64_t off = 0;

    if (ar_avail(r) < n)
        return 0;
    p = r->in.data + r->pos;
    if (p[0] < PG_ARCHIVE_DATA_NOT_SET || p[0] > PG_ARCHIVE_DATA_NONE)
        return ar_fail(r, err, "bad data offset flag");
    for (int i = r->head.off_size - 1; i >= 0; i--)
        off = (off << 8) | p[1 + i];
    r->cur.data_state = p[0];
    r->cur.data_offset = off;
    r->pos += n;
    return 1;
}

static bool ar_section_ok(int s)
{
    return s >= PG_ARCHIVE_SECTION_NONE && s <= PG_ARCHIVE_SECTION_POST_DATA;
}

/* Reads the next field of the current entry; at its end checks it and
 * hands it on. 1 progressed, 0 needs more bytes, -1 error. */
static int ar_step_entry(PgArchiveReader *r, Error *err)
{
    PgArchiveEntry *e = &r->cur;
    int rc = 1;
    int v = 0;

    switch ((ArField)r->step)
    {
    case AF_DUMP_ID:
        rc = ar_int(r, &e->dump_id, err);
        if (rc == 1 && e->dump_id <= 0)
            return ar_fail(r, err, "entry id out of range");
        break;
    case AF_HAD_DUMPER:
        rc = ar_int(r, &v, err);
        if (rc == 1 && v != 0 && v != 1)
            return ar_fail(r, err, "bad has-data flag");
        e->had_dumper = v == 1;
        break;
    case AF_TABLE_OID:
        rc = ar_oid(r, &e->table_oid, err);
        break;
    case AF_OID:
        rc = ar_oid(r, &e->oid, err);
        break;
    case AF_TAG:
        rc = ar_str(r, &e->tag, err);
        break;
    case AF_DESC:
        rc = ar_str(r, &e->desc, err);
        if (rc == 1 && e->desc == NULL)
            return ar_fail(r, err, "entry without a type");
        break;
    case AF_SECTION:
        rc = ar_int(r, &e->section, err);
        if (rc == 1 && !ar_section_ok(e->section))
            return ar_fail(r, err, "bad section");
        break;
    case AF_DEFN:
        rc = ar_str(r, &e->defn, err);
        break;
    case AF_DROP_STMT:
        rc = ar_str(r, &e->drop_stmt, err);
        break;
    case AF_COPY_STMT:
        rc = ar_str(r, &e->copy_stmt, err);
        break;
    case AF_NAMESPACE:
        rc = ar_str(r, &e->namespace, err);
        break;
    case AF_TABLESPACE:
        rc = ar_str(r, &e->tablespace, err);
        break;
    case AF_TABLEAM:
        rc = ar_str(r, &e->tableam, err);
        break;
    case AF_RELKIND:
        if (r->head.minor >= 16)
            rc = ar_int(r, &e->relkind, err);
        break;
    case AF_OWNER:
        rc = ar_str(r, &e->owner, err);
        break;
    case AF_WITH_OIDS:
    {
        char *s = NULL;

        rc = ar_str(r, &s, err);
        if (rc != 1)
            break;
        if (s == NULL || (strcmp(s, "true") != 0 && strcmp(s, "false") != 0))
        {
            free(s);
            return ar_fail(r, err, "bad WITH OIDS flag");
        }
        e->with_oids = strcmp(s, "true") == 0;
        free(s);
        break;
    }
    case AF_DEPS:
        rc = ar_dep(r, err);
        if (rc == 1)
            return 1; /* stay on AF_DEPS */
        if (rc == 2)
            rc = 1;
        break;
    case AF_DATA:
        rc = ar_data(r, err);
        break;
    case AF_DONE:
        break;
    }
    if (rc != 1)
        return rc;
    r->step++;
    if (r->step < AF_DONE)
        return 1;

    /* the entry is whole */
    if (e->had_dumper || e->data_state != PG_ARCHIVE_DATA_NONE)
    {
        ar_fail(r, err, "entry with data");
        error_detail(err,
                     "Entry %d (%s %s) has a data block; only a schema-only archive can be "
                     "split.",
                     e->dump_id, e->desc, e->tag != NULL ? e->tag : "");
        error_hint(err, "run pg_dump with --schema-only");
        return -1;
    }
    if (r->fn != NULL && !r->fn(r->arg, e, err))
    {
        r->failed = true;
        return -1;
    }
    ar_entry_clear(e);
    r->deps_cap = 0;
    r->n_read++;
    r->step = AF_DUMP_ID;
    r->unit = r->pos;
    if (r->n_read == (size_t)r->head.entries)
        r->state = AR_END;
    return 1;
}

/* Checks the fixed start of the header: magic, version, sizes, format. */
static int ar_step_fixed(PgArchiveReader *r, Error *err)
{
    const unsigned char *p = r->in.data + r->pos;

    if (r->state == AR_MAGIC_VERSION)
    {
        if (ar_avail(r) < AR_MAGIC_LEN + 3)
            return 0;
        if (memcmp(p, AR_MAGIC, AR_MAGIC_LEN) != 0)
        {
            ar_fail(r, err, "no \"PGDMP\" magic");
            error_hint(err, "only pg_dump's custom format (--format=custom) can be read");
            return -1;
        }
        r->head.major = p[5];
        r->head.minor = p[6];
        r->head.rev = p[7];
        if (r->head.major != 1 || r->head.minor < 14 || r->head.minor > 16)
        {
            error_set(err, ERR_FAILURE, "unsupported pg_dump archive version %d.%d.%d",
                      r->head.major, r->head.minor, r->head.rev);
            error_detail(err, "Archive versions 1.14 (PostgreSQL 12 to 15), 1.15 (16) and "
                              "1.16 (17) can be read.");
            error_hint(err, "use pg_dump of a supported PostgreSQL version");
            return -1;
        }
        r->pos += AR_MAGIC_LEN + 3;
        r->state = AR_SIZES;
        return 1;
    }
    if (ar_avail(r) < 3)
        return 0;
    r->head.int_size = p[0];
    r->head.off_size = p[1];
    r->head.format = p[2];
    if (r->head.int_size < 4 || r->head.int_size > 8)
        return ar_fail(r, err, "unsupported integer size");
    if (r->head.off_size < 1 || r->head.off_size > 8)
        return ar_fail(r, err, "unsupported offset size");
    if (r->head.format != AR_FORMAT_CUSTOM)
    {
        ar_fail(r, err, "not the custom format");
        error_hint(err, "only pg_dump's custom format (--format=custom) can be read");
        return -1;
    }
    r->pos += 3;
    r->state = AR_COMPRESSION;
    return 1;
}

/* One step of the parser: 1 progressed, 0 needs more bytes, -1 error. */
static int ar_step(PgArchiveReader *r, Error *err)
{
    int rc;

    switch (r->state)
    {
    case AR_MAGIC_VERSION:
    case AR_SIZES:
        return ar_step_fixed(r, err);
    case AR_COMPRESSION:
        if (r->head.minor >= 15)
        {
            if (ar_avail(r) < 1)
                return 0;
            r->head.compression = r->in.data[r->pos++];
            rc = 1;
        }
        else
            rc = ar_int(r, &r->head.compression, err);
        if (rc == 1)
            r->state = AR_TIMES;
        return rc;
    case AR_TIMES:
        if (r->step == 0)
            r->head.created_off = r->pos - r->unit;
        rc = ar_int(r, &r->head.created[r->step], err);
        if (rc == 1 && ++r->step == AR_HEADER_TIMES)
        {
            r->step = 0;
            r->state = AR_DBNAME;
        }
        return rc;
    case AR_DBNAME:
        rc = ar_str(r, &r->head.dbname, err);
        if (rc == 1)
            r->state = AR_SERVER_VERSION;
        return rc;
    case AR_SERVER_VERSION:
        rc = ar_str(r, &r->head.server_version, err);
        if (rc == 1)
            r->state = AR_DUMP_VERSION;
        return rc;
    case AR_DUMP_VERSION:
        rc = ar_str(r, &r->head.dump_version, err);
        if (rc == 1)
        {
            r->head.raw_len = r->pos - r->unit;
            r->head.raw = xmalloc(r->head.raw_len);
            memcpy(r->head.raw, r->in.data + r->unit, r->head.raw_len);
            r->unit = r->pos;
            r->state = AR_COUNT;
        }
        return rc;
    case AR_COUNT:
        rc = ar_int(r, &r->head.entries, err);
        if (rc != 1)
            return rc;
        if (r->head.entries < 0)
            return ar_fail(r, err, "negative entry count");
        r->unit = r->pos;
        r->step = AF_DUMP_ID;
        r->state = r->head.entries == 0 ? AR_END : AR_ENTRY;
        return 1;
    case AR_ENTRY:
        return ar_step_entry(r, err);
    case AR_END:
        if (ar_avail(r) == 0)
            return 0;
        error_set(err, ERR_FAILURE,
                  "invalid pg_dump archive: data after the table of contents (byte %llu)",
                  ar_offset(r));
        error_detail(err, "Only a schema-only archive, which has no data blocks, can be split.");
        error_hint(err, "run pg_dump with --schema-only");
        return -1;
    }
    return -1;
}

/* Drops the consumed bytes before the current unit, now and then, so that
 * the buffer holds about one entry plus one chunk. */
static void ar_compact(PgArchiveReader *r)
{
    if (r->unit == 0 || (r->unit < AR_COMPACT_AT && r->unit * 2 < r->in.len))
        return;
    memmove(r->in.data, r->in.data + r->unit, r->in.len - r->unit);
    r->in.len -= r->unit;
    r->pos -= r->unit;
    r->base += r->unit;
    r->unit = 0;
}

bool pg_archive_feed(PgArchiveReader *r, const void *data, size_t len, Error *err)
{
    int rc;

    if (r->failed)
        return error_set(err, ERR_FAILURE, "pg_archive_feed: the reader already failed");
    if (len == 0)
        return true;
    buf_append(&r->in, data, len);
    do
        rc = ar_step(r, err);
    while (rc == 1);
    if (rc < 0)
    {
        r->failed = true;
        return false;
    }
    if (r->state != AR_END && r->in.len - r->unit > r->max_entry)
    {
        r->failed = true;
        ar_fail(r, err, "entry larger than the limit");
        error_detail(err, "An entry may hold at most %zu bytes.", r->max_entry);
        return false;
    }
    ar_compact(r);
    return true;
}

bool pg_archive_finish(PgArchiveReader *r, Error *err)
{
    if (r->failed)
        return error_set(err, ERR_FAILURE, "pg_archive_finish: the reader already failed");
    if (r->state == AR_END)
        return true;
    r->failed = true;
    if (r->state == AR_ENTRY)
        error_set(err, ERR_FAILURE,
                  "pg_dump archive is truncated: it ends in entry %zu of %d, after %llu bytes",
                  r->n_read + 1, r->head.entries, (unsigned long long)(r->base + r->in.len));
    else
        error_set(err, ERR_FAILURE,
                  "pg_dump archive is truncated: it ends in its header, after %llu bytes",
                  (unsigned long long)(r->base + r->in.len));
    error_hint(err, "pg_dump may have failed or been killed: see its error output");
    return false;
}
