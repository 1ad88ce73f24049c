/*
 * toc.c - filtering a pg_restore -l listing by schema.
 *
 * A listing line reads "ID; CATOID OID TYPE NAMESPACE TAG OWNER". TYPE may
 * hold spaces ("FK CONSTRAINT"), and so may names, so a line cannot be
 * split on spaces: "TABLE a b c owner" is table "b c" of schema "a" or
 * table "c" of schema "a b". Objects inside a schema are therefore picked
 * by entry id from a second listing that pg_restore itself filtered with
 * --schema (an exact match on the namespace); the schema's own entry
 * ("SCHEMA - NAME OWNER") is told apart by its owner being a role. Comments
 * and grants on a schema have namespace "-" and a tag "SCHEMA name", with
 * the name quoted as pg_dump's fmtId quotes it. The listing prints newlines
 * and carriage returns in names as spaces.
 */
#include "pg/toc.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* Entry types pg_dump writes, longest first where one is a prefix of another. */
static const char *const toc_types[] = {
    "MATERIALIZED VIEW DATA",
    "MATERIALIZED VIEW",
    "FK CONSTRAINT",
    "CHECK CONSTRAINT",
    "CONSTRAINT",
    "DEFAULT ACL",
    "DATABASE PROPERTIES",
    "DATABASE",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "SEQUENCE",
    "TABLE ATTACH",
    "TABLE DATA",
    "TABLE",
    "INDEX ATTACH",
    "INDEX",
    "ROW SECURITY",
    "POLICY",
    "TRIGGER",
    "EVENT TRIGGER",
    "RULE",
    "VIEW",
    "FUNCTION",
    "PROCEDURE",
    "AGGREGATE",
    "OPERATOR CLASS",
    "OPERATOR FAMILY",
    "OPERATOR",
    "TYPE",
    "DOMAIN",
    "SHELL TYPE",
    "COLLATION",
    "CONVERSION",
    "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY",
    "TEXT SEARCH PARSER",
    "TEXT SEARCH TEMPLATE",
    "STATISTICS DATA",
    "STATISTICS",
    "FOREIGN TABLE",
    "FOREIGN DATA WRAPPER",
    "SERVER",
    "USER MAPPING",
    "PUBLICATION TABLES IN SCHEMA",
    "PUBLICATION TABLE",
    "PUBLICATION",
    "SUBSCRIPTION",
    "EXTENSION",
    "SCHEMA",
    "COMMENT",
    "SECURITY LABEL",
    "ACL",
    "CAST",
    "ACCESS METHOD",
    "TRANSFORM",
    "PROCEDURAL LANGUAGE",
    "LARGE OBJECT",
    "BLOB",
    "ENCODING",
    "STDSTRINGS",
    "SEARCHPATH",
    "DEFAULT",
};

/* Returns the type at p (and its length) or NULL. */
static const char *toc_type_at(const char *p, size_t len, size_t *tlen)
{
    for (size_t i = 0; i < sizeof(toc_types) / sizeof(toc_types[0]); i++)
    {
        size_t n = strlen(toc_types[i]);

        if (n < len && memcmp(p, toc_types[i], n) == 0 && p[n] == ' ')
        {
            *tlen = n;
            return toc_types[i];
        }
    }
    return NULL;
}

/* The listing's form of a name: newlines and carriage returns as spaces. */
static char toc_san(char c)
{
    return c == '\n' || c == '\r' ? ' ' : c;
}

/* True when p[0..len) begins with name as the listing prints it. */
static bool toc_has_prefix(const char *p, size_t len, const char *name, size_t n)
{
    if (n > len)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] != toc_san(name[i]))
            return false;
    return true;
}

/* True when p[0..len) begins with "NAME " for NAME one of the wanted schemas. */
static bool toc_starts_with_schema(const TocFilter *f, const char *rest, size_t len)
{
    for (size_t i = 0; i < f->n_schemas; i++)
    {
        size_t n = strlen(f->schemas[i]);

        if (n < len && toc_has_prefix(rest, len, f->schemas[i], n) && rest[n] == ' ')
            return true;
    }
    return false;
}

/* The schema line "SCHEMA - NAME OWNER": rest is "NAME OWNER". With role
 * names known, NAME must be followed by exactly one role (or nothing: a
 * dump without owners); else by a space, as before. */
static bool toc_is_schema_line(const TocFilter *f, const TocExact *x, const char *rest, size_t len)
{
    if (x == NULL || x->n_roles == 0)
        return toc_starts_with_schema(f, rest, len);
    for (size_t i = 0; i < f->n_schemas; i++)
    {
        size_t n = strlen(f->schemas[i]);
        const char *owner;
        size_t olen;

        if (n >= len || !toc_has_prefix(rest, len, f->schemas[i], n) || rest[n] != ' ')
            continue;
        owner = rest + n + 1;
        olen = len - n - 1;
        if (olen == 0)
            return true;
        for (size_t k = 0; k < x->n_roles; k++)
            if (strlen(x->roles[k]) == olen && toc_has_prefix(owner, olen, x->roles[k], olen))
                return true;
    }
    return false;
}

/* A name as pg_dump's fmtId prints it: bare when it is all lowercase
 * letters, digits and underscores (not starting with a digit), else in
 * double quotes with quotes doubled. Keywords are quoted too, so the
 * quoted form is always tried as well. */
static bool toc_is_bare(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* True when tag (a "SCHEMA name" tag's name part, then " OWNER") names one
 * of the wanted schemas, bare or quoted. */
static bool toc_tag_is_schema(const TocFilter *f, const char *tag, size_t len)
{
    for (size_t i = 0; i < f->n_schemas; i++)
    {
        const char *name = f->schemas[i];
        size_t n = strlen(name);
        Buf q;
        bool match;

        if (toc_is_bare(name) && n < len && memcmp(tag, name, n) == 0 && tag[n] == ' ')
            return true;
        buf_init(&q);
        buf_append(&q, "\"", 1);
        for (const char *p = name; *p; p++)
        {
            buf_append(&q, p, 1);
            if (*p == '"')
                buf_append(&q, "\"", 1);
        }
        buf_append(&q, "\"", 1);
        match = q.len < len && toc_has_prefix(tag, len, (const char *)q.data, q.len) &&
                tag[q.len] == ' ';
        buf_free(&q);
        if (match)
            return true;
    }
    return false;
}

/* Entry ids of a listing, sorted, for bsearch. */
typedef struct TocIds
{
    long *ids;
    size_t n;
} TocIds;

static bool toc_line_id(const char *line, size_t len, long *id)
{
    char *end;

    if (len == 0 || line[0] < '0' || line[0] > '9')
        return false;
    *id = strtol(line, &end, 10);
    return end < line + len && *end == ';';
}

static int toc_id_cmp(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return x < y ? -1 : x > y;
}

static void toc_ids_read(const char *listing, TocIds *ids)
{
    size_t cap = 0;

    ids->ids = NULL;
    ids->n = 0;
    for (const char *p = listing; *p != '\0';)
    {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        long id;

        if (toc_line_id(p, len, &id))
        {
            if (ids->n == cap)
            {
                cap = cap ? cap * 2 : 64;
                ids->ids = xrealloc(ids->ids, cap * sizeof(long));
            }
            ids->ids[ids->n++] = id;
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    if (ids->n > 1)
        qsort(ids->ids, ids->n, sizeof(long), toc_id_cmp);
}

/* Where the entry type starts in a listing line "ID; CATOID OID TYPE ...",
 * or NULL for a comment line or a line too short to hold one. */
static const char *toc_after_ids(const char *line, size_t len)
{
    const char *p = memchr(line, ';', len);
    const char *end = line + len;
    int spaces = 0;

    if (p == NULL || line[0] == ';')
        return NULL;
    p++;
    while (p < end && spaces < 3)
    {
        if (*p == ' ')
            spaces++;
        p++;
    }
    return p < end ? p : NULL;
}

static bool toc_keep(const TocFilter *f, const TocExact *x, const TocIds *sel, const char *line,
                     size_t len)
{
    const char *p = toc_after_ids(line, len);
    const char *end = line + len;
    const char *type;
    size_t tlen = 0;
    long id;

    if (p == NULL)
        return false;
    /* an object inside a wanted schema, as pg_restore --schema chose it */
    if (x != NULL && x->selected != NULL && sel->n > 0 && toc_line_id(line, len, &id) &&
        bsearch(&id, sel->ids, sel->n, sizeof(long), toc_id_cmp) != NULL)
        return true;
    type = toc_type_at(p, (size_t)(end - p), &tlen);
    if (type == NULL)
        return false;
    p += tlen + 1;
    if (strcmp(type, "EXTENSION") == 0)
        return f->extensions;
    if (p + 2 <= end && p[0] == '-' && p[1] == ' ')
    {
        const char *tag = p + 2;
        size_t rest = (size_t)(end - tag);

        /* the schema itself, and comments/grants/labels on it */
        if (strcmp(type, "SCHEMA") == 0)
            return toc_is_schema_line(f, x, tag, rest);
        if ((strcmp(type, "COMMENT") == 0 || strcmp(type, "ACL") == 0 ||
             strcmp(type, "SECURITY LABEL") == 0) &&
            rest > 7 && memcmp(tag, "SCHEMA ", 7) == 0)
            return toc_tag_is_schema(f, tag + 7, rest - 7);
        if (strcmp(type, "COMMENT") == 0 && rest > 10 && memcmp(tag, "EXTENSION ", 10) == 0)
            return f->extensions;
        return false;
    }
    /* with a selection, what pg_restore did not pick is not in the schemas */
    if (x != NULL && x->selected != NULL)
        return false;
    return toc_starts_with_schema(f, p, (size_t)(end - p));
}

size_t toc_filter(const char *listing, const TocFilter *filter, Buf *out)
{
    return toc_filter_exact(listing, filter, NULL, out);
}

size_t toc_filter_exact(const char *listing, const TocFilter *filter, const TocExact *exact,
                        Buf *out)
{
    const char *p = listing;
    size_t kept = 0;
    TocIds sel = {NULL, 0};

    if (exact != NULL && exact->selected != NULL)
        toc_ids_read(exact->selected, &sel);
    while (*p != '\0')
    {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        if (toc_keep(filter, exact, &sel, p, len))
        {
            buf_append(out, p, len);
            buf_append(out, "\n", 1);
            kept++;
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    free(sel.ids);
    return kept;
}

/* The entry type of a listing line, or NULL for comments and unknown types. */
static const char *toc_line_type(const char *line, size_t len)
{
    const char *p = toc_after_ids(line, len);
    size_t tlen;

    return p != NULL ? toc_type_at(p, (size_t)(line + len - p), &tlen) : NULL;
}

size_t toc_select_types(const char *listing, const char *const *types, size_t n_types, bool want,
                        Buf *out)
{
    size_t kept = 0;

    for (const char *p = listing; *p != '\0';)
    {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *type = toc_line_type(p, len);
        bool match = false;
        long id;

        for (size_t i = 0; type != NULL && i < n_types && !match; i++)
            match = strcmp(type, types[i]) == 0;
        if (toc_line_id(p, len, &id) && match == want)
        {
            buf_append(out, p, len);
            buf_append(out, "\n", 1);
            kept++;
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    return kept;
}
