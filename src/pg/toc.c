/*
 * toc.c - filtering a pg_restore -l listing by schema.
 *
 * A listing line reads "ID; CATOID OID TYPE NAMESPACE TAG OWNER". TYPE may
 * hold spaces ("FK CONSTRAINT"), and so may names, so the line is matched
 * against the known types and the wanted schema names rather than split on
 * spaces. Comments and grants on a schema have namespace "-" and a tag
 * "SCHEMA name".
 */
#include "pg/toc.h"

#include <string.h>

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

/* True when rest begins with "NAME " for NAME one of the wanted schemas. */
static bool toc_starts_with_schema(const TocFilter *f, const char *rest, size_t len)
{
    for (size_t i = 0; i < f->n_schemas; i++)
    {
        size_t n = strlen(f->schemas[i]);

        if (n < len && memcmp(rest, f->schemas[i], n) == 0 && rest[n] == ' ')
            return true;
    }
    return false;
}

static bool toc_keep(const TocFilter *f, const char *line, size_t len)
{
    const char *p = memchr(line, ';', len);
    const char *end = line + len;
    const char *type;
    size_t tlen = 0;
    int spaces = 0;

    if (p == NULL || line[0] == ';')
        return false;
    /* skip "; CATOID OID " */
    p++;
    while (p < end && spaces < 3)
    {
        if (*p == ' ')
            spaces++;
        p++;
    }
    if (p >= end)
        return false;
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
            return toc_starts_with_schema(f, tag, rest);
        if ((strcmp(type, "COMMENT") == 0 || strcmp(type, "ACL") == 0 ||
             strcmp(type, "SECURITY LABEL") == 0) &&
            rest > 7 && memcmp(tag, "SCHEMA ", 7) == 0)
            return toc_starts_with_schema(f, tag + 7, rest - 7);
        if (strcmp(type, "COMMENT") == 0 && rest > 10 && memcmp(tag, "EXTENSION ", 10) == 0)
            return f->extensions;
        return false;
    }
    return toc_starts_with_schema(f, p, (size_t)(end - p));
}

size_t toc_filter(const char *listing, const TocFilter *filter, Buf *out)
{
    const char *p = listing;
    size_t kept = 0;

    while (*p != '\0')
    {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        if (toc_keep(filter, p, len))
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
