/*
 * test_archive.c - unit tests for the pg_dump custom-format archive reader,
 * writer and owner function (src/pg/archive.c): round trips of synthetic
 * archives of versions 1.14 to 1.16, byte-by-byte feeding, every truncation,
 * corrupt and unsupported input, and which tenant owns which entry.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "pg/pg.h"
#include "tap.h"

/* ---- building synthetic archives ------------------------------------- */

static void put_int(Buf *b, int v)
{
    unsigned char x[5];
    unsigned int u = v < 0 ? (unsigned int)(-v) : (unsigned int)v;

    x[0] = v < 0;
    for (int i = 0; i < 4; i++)
        x[1 + i] = (unsigned char)(u >> (8 * i));
    buf_append(b, x, 5);
}

static void put_str(Buf *b, const char *s)
{
    if (s == NULL)
    {
        put_int(b, -1);
        return;
    }
    put_int(b, (int)strlen(s));
    buf_append(b, s, strlen(s));
}

/* A header as pg_dump writes it, for archive version 1.minor. */
static PgArchiveHeader *make_header(int minor)
{
    PgArchiveHeader *h = xcalloc(1, sizeof(*h));
    Buf b;
    const unsigned char fixed[] = {'P', 'G', 'D', 'M', 'P', 1, (unsigned char)minor, 0, 4, 8, 1};

    buf_init(&b);
    buf_append(&b, fixed, sizeof(fixed));
    if (minor >= 15)
        buf_append(&b, "\0", 1); /* algorithm: none */
    else
        put_int(&b, 0); /* level 0 */
    for (int i = 0; i < 7; i++)
        put_int(&b, i + 1);
    put_str(&b, "saas");
    put_str(&b, "15.18");
    put_str(&b, "15.18");
    h->major = 1;
    h->minor = minor;
    h->int_size = 4;
    h->off_size = 8;
    h->format = 1;
    h->raw = b.data;
    h->raw_len = b.len;
    return h;
}

typedef struct Spec
{
    int id;
    const char *desc;
    const char *ns;
    const char *tag;
    int section;
    const char *defn;
    int deps[3];
} Spec;

#define SEARCHPATH_SQL "SELECT pg_catalog.set_config('search_path', '', false);\n"

static const Spec specs[] = {
    {3700, "ENCODING", NULL, "ENCODING", 2, "SET client_encoding = 'UTF8';\n", {0}},
    {3701, "STDSTRINGS", NULL, "STDSTRINGS", 2, "SET standard_conforming_strings = 'on';\n", {0}},
    {3702, "SEARCHPATH", NULL, "SEARCHPATH", 2, SEARCHPATH_SQL, {0}},
    {7, "SCHEMA", NULL, "a", 2, "CREATE SCHEMA a;\n", {0}},
    {8, "SCHEMA", NULL, "a b", 2, "CREATE SCHEMA \"a b\";\n", {0}},
    {3710, "COMMENT", NULL, "SCHEMA a", 1, "COMMENT ON SCHEMA a IS 'x';\n", {7}},
    {3711, "ACL", NULL, "SCHEMA \"a b\"", 1, "GRANT USAGE ON SCHEMA \"a b\" TO r;\n", {8}},
    {2, "EXTENSION", NULL, "citext", 2, "CREATE EXTENSION citext;\n", {0}},
    {220, "TABLE", "a", "t", 2, "CREATE TABLE a.t (x int);\n", {7, 2}},
    {221, "TABLE", "a b", "t", 2, "CREATE TABLE \"a b\".t (x int);\n", {8}},
    {3400, "CONSTRAINT", "a", "t t_pkey", 4, "ALTER TABLE a.t ADD PRIMARY KEY (x);\n", {220}},
    {3401, "FK CONSTRAINT", "a b", "t t_fk", 4, "", {221, 3400}},
};
#define N_SPECS (sizeof(specs) / sizeof(specs[0]))

static void fill_entry(PgArchiveEntry *e, const Spec *s, int *deps)
{
    memset(e, 0, sizeof(*e));
    e->dump_id = s->id;
    e->table_oid = s->section == 2 ? 1259 : 0;
    e->oid = (uint32_t)s->id * 11;
    e->tag = (char *)s->tag;
    e->desc = (char *)s->desc;
    e->section = s->section;
    e->defn = (char *)s->defn;
    e->drop_stmt = s->id % 2 ? (char *)"DROP x;\n" : NULL;
    e->copy_stmt = NULL;
    e->namespace = (char *)s->ns;
    e->tablespace = (char *)(strcmp(s->desc, "TABLE") == 0 ? "" : NULL);
    e->tableam = (char *)(strcmp(s->desc, "TABLE") == 0 ? "heap" : NULL);
    e->owner = (char *)"postgres";
    e->data_state = PG_ARCHIVE_DATA_NONE;
    e->n_deps = 0;
    for (int i = 0; i < 3 && s->deps[i] != 0; i++)
        deps[e->n_deps++] = s->deps[i];
    e->deps = deps;
}

static bool to_buf(void *arg, const void *data, size_t len, Error *err)
{
    (void)err;
    buf_append((Buf *)arg, data, len);
    return true;
}

/* Writes every spec (relkind 'r' for tables in 1.16) into out. */
static bool write_archive(const PgArchiveHeader *h, Buf *out, Error *err)
{
    PgArchiveWriter *w = pg_archive_write_begin(h, N_SPECS, to_buf, out, err);

    if (w == NULL)
        return false;
    for (size_t i = 0; i < N_SPECS; i++)
    {
        PgArchiveEntry e;
        int deps[3];

        fill_entry(&e, &specs[i], deps);
        if (h->minor >= 16 && strcmp(e.desc, "TABLE") == 0)
            e.relkind = 'r';
        if (!pg_archive_write_entry(w, &e, err))
        {
            pg_archive_write_end(w, NULL);
            return false;
        }
    }
    return pg_archive_write_end(w, err);
}

/* ---- reading back ----------------------------------------------------- */

typedef struct Got
{
    PgArchivePart *part;
    size_t fail_at; /* the callback fails on this entry (1-based), 0 never */
} Got;

static bool collect(void *arg, const PgArchiveEntry *e, Error *err)
{
    Got *g = arg;

    pg_archive_part_add(g->part, e);
    if (g->fail_at != 0 && pg_archive_part_count(g->part) == g->fail_at)
        return error_set(err, ERR_FAILURE, "callback says stop");
    return true;
}

/* Reads data in chunks of chunk bytes into g; false with err on failure. */
static bool read_archive(const unsigned char *data, size_t len, size_t chunk, Got *g,
                         PgArchiveHeader **head, Error *err)
{
    PgArchiveReader *r = pg_archive_reader_new(0, collect, g);
    bool ok = true;

    for (size_t off = 0; ok && off < len; off += chunk)
        ok = pg_archive_feed(r, data + off, len - off < chunk ? len - off : chunk, err);
    if (ok)
        ok = pg_archive_finish(r, err);
    if (ok && head != NULL)
        *head = pg_archive_header_copy(pg_archive_reader_header(r));
    pg_archive_reader_free(r);
    return ok;
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool entry_eq(const PgArchiveEntry *a, const PgArchiveEntry *b)
{
    if (a->dump_id != b->dump_id || a->had_dumper != b->had_dumper ||
        a->table_oid != b->table_oid || a->oid != b->oid || a->section != b->section ||
        a->relkind != b->relkind || a->with_oids != b->with_oids || a->n_deps != b->n_deps ||
        a->data_state != b->data_state || a->data_offset != b->data_offset)
        return false;
    for (size_t i = 0; i < a->n_deps; i++)
        if (a->deps[i] != b->deps[i])
            return false;
    return str_eq(a->tag, b->tag) && str_eq(a->desc, b->desc) && str_eq(a->defn, b->defn) &&
           str_eq(a->drop_stmt, b->drop_stmt) && str_eq(a->copy_stmt, b->copy_stmt) &&
           str_eq(a->namespace, b->namespace) && str_eq(a->tablespace, b->tablespace) &&
           str_eq(a->tableam, b->tableam) && str_eq(a->owner, b->owner);
}

static void test_round_trip(int minor)
{
    PgArchiveHeader *h = make_header(minor);
    PgArchiveHeader *h2 = NULL;
    Buf a, b;
    Error err;
    Got g = {pg_archive_part_new(), 0};
    Got g1 = {pg_archive_part_new(), 0};
    bool same = true;
    char name[128];

    buf_init(&a);
    buf_init(&b);
    error_clear(&err);
    snprintf(name, sizeof(name), "1.%d: the writer writes a synthetic archive", minor);
    ok(write_archive(h, &a, &err), name);
    ok(memcmp(a.data, h->raw, h->raw_len) == 0, "  ... starting with the header's bytes");

    snprintf(name, sizeof(name), "1.%d: it reads back in one piece", minor);
    ok(read_archive(a.data, a.len, a.len, &g, &h2, &err), name);
    is_int(pg_archive_part_count(g.part), N_SPECS, "  ... every entry");
    for (size_t i = 0; i < N_SPECS && i < pg_archive_part_count(g.part); i++)
    {
        PgArchiveEntry e;
        int deps[3];

        fill_entry(&e, &specs[i], deps);
        if (minor >= 16 && strcmp(e.desc, "TABLE") == 0)
            e.relkind = 'r';
        same = same && entry_eq(&e, pg_archive_part_entry(g.part, i));
    }
    ok(same, "  ... each equal to what was written (NULL and empty strings kept apart)");
    ok(h2 != NULL && h2->minor == minor && h2->int_size == 4 && h2->off_size == 8 &&
           h2->entries == (int)N_SPECS && str_eq(h2->dbname, "saas") &&
           str_eq(h2->dump_version, "15.18") && h2->created[6] == 7,
       "  ... and the header's fields");
    ok(h2 != NULL && h2->raw_len == h->raw_len && memcmp(h2->raw, h->raw, h->raw_len) == 0,
       "  ... and its bytes");

    snprintf(name, sizeof(name), "1.%d: fed one byte at a time", minor);
    ok(read_archive(a.data, a.len, 1, &g1, NULL, &err), name);
    same = pg_archive_part_count(g1.part) == N_SPECS;
    for (size_t i = 0; same && i < N_SPECS; i++)
        same = entry_eq(pg_archive_part_entry(g.part, i), pg_archive_part_entry(g1.part, i));
    ok(same, "  ... it reads the same entries");

    ok(h2 != NULL && pg_archive_part_write(g.part, h2, to_buf, &b, &err),
       "  ... written again from what was read");
    ok(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "  ... the bytes are identical");

    if (h2 != NULL)
    {
        /* a fixed creation time: the same archive from another dump is the same bytes */
        Buf c;
        Got g2 = {pg_archive_part_new(), 0};
        PgArchiveHeader *h3 = NULL;

        buf_init(&c);
        pg_archive_header_fix_time(h2);
        ok(pg_archive_part_write(g.part, h2, to_buf, &c, &err) && c.len == a.len,
           "  ... with its creation time fixed, the same length");
        ok(read_archive(c.data, c.len, c.len, &g2, &h3, &err) && h3->created[5] == 100 &&
               h3->created[3] == 1 && h3->created[0] == 0 && str_eq(h3->dbname, "saas"),
           "  ... which reads back as 2000-01-01, the rest of the header unchanged");
        ok(pg_archive_part_count(g2.part) == N_SPECS, "  ... with every entry");
        pg_archive_header_free(h3);
        pg_archive_part_free(g2.part);
        buf_free(&c);
    }

    pg_archive_header_free(h);
    pg_archive_header_free(h2);
    pg_archive_part_free(g.part);
    pg_archive_part_free(g1.part);
    buf_free(&a);
    buf_free(&b);
}

static void test_truncated(void)
{
    PgArchiveHeader *h = make_header(14);
    Buf a;
    Error err;
    bool all_fail = true, all_say = true;
    size_t n_entry_msgs = 0;

    buf_init(&a);
    error_clear(&err);
    write_archive(h, &a, &err);
    /* every proper prefix, fed one byte at a time: a clear error, no crash */
    for (size_t len = 0; len < a.len; len++)
    {
        Got g = {pg_archive_part_new(), 0};

        error_clear(&err);
        if (read_archive(a.data, len, 1, &g, NULL, &err))
            all_fail = false;
        else if (strstr(err.message, "pg_dump archive is truncated: it ends in") == NULL)
        {
            all_say = false;
            printf("# %zu bytes: %s\n", len, err.message);
        }
        if (strstr(err.message, "ends in entry ") != NULL)
            n_entry_msgs++;
        pg_archive_part_free(g.part);
    }
    ok(all_fail, "every truncation of an archive fails");
    ok(all_say, "  ... with \"pg_dump archive is truncated: it ends in ...\"");
    ok(n_entry_msgs > 0, "  ... naming the entry when it ends in one");
    {
        Got g = {pg_archive_part_new(), 0};

        error_clear(&err);
        read_archive(a.data, a.len - 3, a.len, &g, NULL, &err);
        like(err.message, "ends in entry 12 of 12", "  ... e.g. in the last entry");
        like(err.hint, "pg_dump may have failed", "  ... with a hint");
        pg_archive_part_free(g.part);
    }
    pg_archive_header_free(h);
    buf_free(&a);
}

/* Reads data whole; returns the error message (static) or "" on success. */
static const char *read_error(const unsigned char *data, size_t len)
{
    static Error err;
    Got g = {pg_archive_part_new(), 0};

    error_clear(&err);
    read_archive(data, len, len, &g, NULL, &err);
    pg_archive_part_free(g.part);
    return err.message;
}

static void test_bad_input(void)
{
    PgArchiveHeader *h = make_header(14);
    Buf a;
    Error err;
    unsigned char *c;
    size_t first; /* offset of the first entry */

    buf_init(&a);
    error_clear(&err);
    write_archive(h, &a, &err);
    c = xmalloc(a.len + 1);
    first = h->raw_len + 5;

    memcpy(c, a.data, a.len);
    c[a.len] = 0;
    like(read_error(c, a.len + 1), "data after the table of contents",
         "a byte after the last entry is an error");

    memcpy(c, a.data, a.len);
    c[0] = 'X';
    like(read_error(c, a.len), "no \"PGDMP\" magic", "no magic: not a custom archive");

    memcpy(c, a.data, a.len);
    c[6] = 13;
    like(read_error(c, a.len), "unsupported pg_dump archive version 1.13.0",
         "version 1.13 is refused");
    c[6] = 17;
    like(read_error(c, a.len), "unsupported pg_dump archive version 1.17.0",
         "version 1.17 is refused");

    memcpy(c, a.data, a.len);
    c[10] = 3; /* format: directory */
    like(read_error(c, a.len), "not the custom format", "another format is refused");

    memcpy(c, a.data, a.len);
    c[first + 5 + 1] = 1; /* the first entry's has-data flag */
    like(read_error(c, a.len), "entry with data in entry 1 of 12", "an entry with data is refused");

    memcpy(c, a.data, a.len);
    c[first] = 7; /* sign byte of the first entry's id */
    like(read_error(c, a.len), "bad integer sign byte", "a corrupt integer is refused");

    memcpy(c, a.data, a.len);
    c[h->raw_len] = 1; /* the entry count, negative */
    like(read_error(c, a.len), "negative entry count", "a negative entry count is refused");

    memcpy(c, a.data, a.len);
    c[first + 10 + 5] = 'x'; /* the table OID string "1259" */
    like(read_error(c, a.len), "bad OID", "a malformed OID is refused");

    /* a string longer than the limit */
    {
        PgArchiveReader *r = pg_archive_reader_new(16, NULL, NULL);

        error_clear(&err);
        ok(!pg_archive_feed(r, a.data, a.len, &err), "an entry over the size limit fails");
        like(err.message, "string longer than the limit", "  ... saying so");
        ok(!pg_archive_feed(r, a.data, 1, &err), "  ... and the reader accepts nothing more");
        pg_archive_reader_free(r);
    }
    /* the callback stops the reader */
    {
        Got g = {pg_archive_part_new(), 3};

        error_clear(&err);
        ok(!read_archive(a.data, a.len, 7, &g, NULL, &err), "a failing callback stops reading");
        is_str(err.message, "callback says stop", "  ... with the callback's error");
        is_int(pg_archive_part_count(g.part), 3, "  ... at that entry");
        pg_archive_part_free(g.part);
    }
    pg_archive_header_free(h);
    free(c);
    buf_free(&a);
}

static void test_writer_errors(void)
{
    PgArchiveHeader *h = make_header(14);
    PgArchiveHeader empty = {0};
    PgArchiveWriter *w;
    PgArchiveEntry e;
    int deps[3];
    Buf out;
    Error err;

    buf_init(&out);
    error_clear(&err);
    ok(pg_archive_write_begin(&empty, 1, to_buf, &out, &err) == NULL,
       "the writer needs a header read from an archive");

    w = pg_archive_write_begin(h, 2, to_buf, &out, &err);
    fill_entry(&e, &specs[3], deps);
    ok(pg_archive_write_entry(w, &e, &err), "one entry of two");
    e.had_dumper = true;
    ok(!pg_archive_write_entry(w, &e, &err), "an entry with data is refused");
    like(err.message, "it has data", "  ... saying so");
    ok(!pg_archive_write_end(w, &err), "ending after one of two entries fails");
    like(err.message, "1 of its 2 entries were written", "  ... saying how many");

    buf_reset(&out);
    w = pg_archive_write_begin(h, 0, to_buf, &out, &err);
    ok(pg_archive_write_end(w, &err), "an archive of no entries");
    {
        Got g = {pg_archive_part_new(), 0};

        ok(read_archive(out.data, out.len, 1, &g, NULL, &err), "  ... reads back");
        is_int(pg_archive_part_count(g.part), 0, "  ... empty");
        pg_archive_part_free(g.part);
    }
    pg_archive_header_free(h);
    buf_free(&out);
}

/* ---- owners ------------------------------------------------------------ */

/* The owner of an entry as a string: the schema's name or "shared". */
static const char *owner(const char *desc, const char *ns, const char *tag)
{
    static const char *const schemas[] = {"a", "a b", "x\"y", "\"", "Mixed Case", "tenant_ü"};
    PgArchiveEntry e = {0};
    size_t which = 99;

    e.desc = (char *)desc;
    e.namespace = (char *)ns;
    e.tag = (char *)tag;
    if (!pg_archive_entry_owner(&e, schemas, sizeof(schemas) / sizeof(schemas[0]), &which))
        return "shared";
    return schemas[which];
}

static void test_owner(void)
{
    PgArchiveEntry e = {0};

    is_str(owner("TABLE", "a", "t"), "a", "a table in schema a belongs to a");
    is_str(owner("TABLE", "a b", "t"), "a b", "a table in \"a b\" to \"a b\", not to a");
    is_str(owner("TABLE", "a b c", "t"), "shared", "a table in \"a b c\" is shared");
    is_str(owner("TABLE", "central", "t"), "shared", "a table in a shared schema is shared");
    is_str(owner("FK CONSTRAINT", "a", "t t_fk"), "a", "constraints go with their table's schema");
    is_str(owner("DEFAULT ACL", "a b", "DEFAULT PRIVILEGES FOR TABLES"), "a b",
           "default privileges in a schema go with it");
    is_str(owner("SCHEMA", NULL, "a"), "a", "the SCHEMA entry of a");
    is_str(owner("SCHEMA", NULL, "a b"), "a b", "the SCHEMA entry of \"a b\"");
    is_str(owner("SCHEMA", "", "a"), "a", "  ... also with an empty namespace");
    is_str(owner("SCHEMA", NULL, "a b c"), "shared", "the SCHEMA entry of another schema");
    is_str(owner("COMMENT", NULL, "SCHEMA a"), "a", "a comment on schema a (bare)");
    is_str(owner("COMMENT", NULL, "SCHEMA \"a\""), "a", "  ... or quoted");
    is_str(owner("ACL", NULL, "SCHEMA \"a b\""), "a b", "grants on \"a b\"");
    is_str(owner("ACL", NULL, "SCHEMA a b"), "shared", "  ... but not with its name bare");
    is_str(owner("SECURITY LABEL", NULL, "SCHEMA \"x\"\"y\""), "x\"y",
           "a label on x\"y, its quote doubled");
    is_str(owner("COMMENT", NULL, "SCHEMA \"x\"y\""), "shared", "  ... not with it single");
    is_str(owner("COMMENT", NULL, "SCHEMA \"\"\"\""), "\"", "a comment on the schema named \"");
    is_str(owner("COMMENT", NULL, "SCHEMA \"Mixed Case\""), "Mixed Case",
           "a comment on \"Mixed Case\"");
    is_str(owner("COMMENT", NULL, "SCHEMA Mixed Case"), "shared",
           "  ... not with it bare (fmtId quotes capitals and spaces)");
    is_str(owner("COMMENT", NULL, "SCHEMA \"tenant_ü\""), "tenant_ü", "a comment on \"tenant_ü\"");
    is_str(owner("COMMENT", NULL, "SCHEMA \"a b\" c"), "shared", "no prefix match on the tag");
    is_str(owner("COMMENT", NULL, "SCHEMA \"a"), "shared", "an unterminated quote matches nothing");
    is_str(owner("COMMENT", NULL, "SCHEMA "), "shared", "an empty name matches nothing");
    is_str(owner("COMMENT", NULL, "EXTENSION citext"), "shared", "a comment on an extension");
    is_str(owner("COMMENT", "a", "TABLE t"), "a", "a comment on a table in a");
    is_str(owner("TABLE", NULL, "SCHEMA a"), "shared",
           "only comments, grants, labels name a schema");
    is_str(owner("EXTENSION", NULL, "citext"), "shared", "an extension is shared");
    is_str(owner("DATABASE", NULL, "saas"), "shared", "the database is shared");
    is_str(owner("PUBLICATION", NULL, "pub"), "shared", "a publication is shared");
    is_str(owner("ENCODING", NULL, "ENCODING"), "shared", "ENCODING is shared");
    e.desc = (char *)"STDSTRINGS";
    ok(pg_archive_entry_is_setup(&e), "  ... and STDSTRINGS is a setup entry every part needs");
    e.desc = (char *)"SCHEMA";
    ok(!pg_archive_entry_is_setup(&e), "  ... a SCHEMA is not");
}

/* Renumbering a part: ids in order from first_id, dependencies inside the
 * part follow, those outside it are dropped. */
static void test_renumber(void)
{
    PgArchivePart *p = pg_archive_part_new();
    int deps_b[] = {5}, deps_c[] = {9, 3, 5};
    PgArchiveEntry a = {0}, b = {0}, c = {0};
    const PgArchiveEntry *e;

    a.dump_id = 5;
    b.dump_id = 9;
    b.deps = deps_b;
    b.n_deps = 1;
    c.dump_id = 12;
    c.deps = deps_c;
    c.n_deps = 3;
    pg_archive_part_add(p, &a);
    pg_archive_part_add(p, &b);
    pg_archive_part_add(p, &c);
    is_int(pg_archive_part_renumber(p, 100), 103, "renumber returns the next free id");
    e = pg_archive_part_entry(p, 0);
    ok(e->dump_id == 100 && e->n_deps == 0, "the first entry is 100");
    e = pg_archive_part_entry(p, 1);
    ok(e->dump_id == 101 && e->n_deps == 1 && e->deps[0] == 100,
       "the second is 101, depending on 100 (was 9 on 5)");
    e = pg_archive_part_entry(p, 2);
    ok(e->dump_id == 102 && e->n_deps == 2 && e->deps[0] == 100 && e->deps[1] == 101,
       "the third keeps its dependencies inside the part, renumbered and in order, and drops the "
       "one outside");
    is_int(deps_c[1], 3, "the entry added is a copy: the caller's dependencies are untouched");
    pg_archive_part_free(p);
}

int main(void)
{
    test_renumber();
    test_round_trip(14);
    test_round_trip(15);
    test_round_trip(16);
    test_truncated();
    test_bad_input();
    test_writer_errors();
    test_owner();
    return tap_done();
}
