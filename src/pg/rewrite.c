/*
 * rewrite.c - the schema's name inside function bodies and settings, after
 * ALTER SCHEMA ... RENAME. The server follows a rename everywhere except in
 * text: the bodies (prosrc) of SQL and PL/pgSQL functions and their
 * search_path. This file reads bodies with PostgreSQL's token rules, rewrites
 * only schema qualifiers, reports what it could not, and applies the result.
 */
#include "pg/pg.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "pg/rewrite_intern.h"

/* Identifiers longer than NAMEDATALEN - 1 bytes are truncated by the server. */
#define RW_NAME_MAX 63

/* Words that cannot stand bare as a schema qualifier: SQL's reserved and
 * type/function-name keywords, and PL/pgSQL's reserved words. Quoting one
 * too many is harmless; this list only keeps plain names readable. */
/* clang-format off */
static const char *const rw_keywords[] = {
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
    "authorization", "begin", "binary", "both", "by", "case", "cast", "check", "collate",
    "collation", "column", "concurrently", "constraint", "create", "cross", "current_catalog",
    "current_date", "current_role", "current_schema", "current_time", "current_timestamp",
    "current_user", "declare", "default", "deferrable", "desc", "distinct", "do", "else", "end",
    "except", "execute", "false", "fetch", "for", "foreach", "foreign", "freeze", "from", "full",
    "grant", "group", "having", "if", "ilike", "in", "initially", "inner", "intersect", "into",
    "is", "isnull", "join", "lateral", "leading", "left", "like", "limit", "localtime",
    "localtimestamp", "loop", "natural", "not", "notnull", "null", "offset", "on", "only", "or",
    "order", "outer", "overlaps", "placing", "primary", "references", "returning", "right",
    "select", "session_user", "similar", "some", "strict", "symmetric", "system_user", "table",
    "tablesample", "then", "to", "trailing", "true", "union", "unique", "user", "using",
    "variadic", "verbose", "when", "where", "while", "window", "with",
};
/* clang-format on */

static bool rw_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool rw_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* First character of an identifier or a dollar-quote tag (any byte of a
 * multibyte character counts as a letter). */
static bool rw_is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool rw_is_ident_char(unsigned char c)
{
    return rw_is_ident_start(c) || rw_is_digit(c) || c == '$';
}

static char rw_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* A name the server stores as written when it appears unquoted. */
static bool rw_is_bare_safe(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > RW_NAME_MAX || !((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
    {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || rw_is_digit((unsigned char)c) || c == '_' || c == '$'))
            return false;
    }
    for (size_t i = 0; i < sizeof(rw_keywords) / sizeof(rw_keywords[0]); i++)
        if (strcmp(name, rw_keywords[i]) == 0)
            return false;
    return true;
}

/* True when the identifier name[0..len) names old: unquoted identifiers
 * fold A-Z to lower case; both kinds are truncated to 63 bytes, at a
 * character boundary. */
static bool rw_name_matches(const char *name, size_t len, bool fold, const char *old)
{
    size_t old_len = strlen(old);

    if (len > RW_NAME_MAX)
    {
        len = RW_NAME_MAX;
        while (len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80)
            len--;
    }
    if (len != old_len)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((fold ? rw_lower(name[i]) : name[i]) != old[i])
            return false;
    return true;
}

/* Counts the places where word appears in text, ASCII case-insensitively
 * and not as a part of a longer identifier (tenant_x2 is not tenant_x; a $
 * before it is taken for a dollar quote's, not an identifier's). */
static int rw_count_word(const char *text, size_t len, const char *word, size_t word_len)
{
    bool word_start = word_len > 0 && rw_is_ident_char((unsigned char)word[0]);
    bool word_end = word_len > 0 && rw_is_ident_char((unsigned char)word[word_len - 1]);
    int count = 0;

    if (word_len == 0 || len < word_len)
        return 0;
    for (size_t i = 0; i + word_len <= len; i++)
    {
        size_t k = 0;

        while (k < word_len && rw_lower(text[i + k]) == rw_lower(word[k]))
            k++;
        if (k < word_len)
            continue;
        if (word_start && i > 0 && text[i - 1] != '$' &&
            rw_is_ident_char((unsigned char)text[i - 1]))
            continue;
        if (word_end && i + word_len < len && rw_is_ident_char((unsigned char)text[i + word_len]))
            continue;
        count++;
    }
    return count;
}

/* Counts the mentions of the schema old in text (a literal or comment):
 * its name in any case (EXECUTE folds unquoted names) and, when it holds a
 * double quote, its quoted spelling with the quote doubled. */
int rw_count_mentions(const char *text, size_t len, const char *old)
{
    int count = rw_count_word(text, len, old, strlen(old));
    Buf doubled;

    if (strchr(old, '"') == NULL)
        return count;
    buf_init(&doubled);
    for (const char *p = old; *p != '\0'; p++)
    {
        buf_append(&doubled, p, 1);
        if (*p == '"')
            buf_append(&doubled, "\"", 1);
    }
    count += rw_count_word(text, len, (const char *)doubled.data, doubled.len);
    buf_free(&doubled);
    return count;
}

static bool rw_is_comment_start(const char *s, size_t i, size_t n)
{
    return i + 1 < n && ((s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*'));
}

/* s[i] starts a comment ("--" or "slash-star"); returns the index past
 * it. Block comments nest; an unterminated one runs to the end. */
static size_t rw_comment_end(const char *s, size_t i, size_t n)
{
    int depth = 1;

    if (s[i] == '-')
    {
        while (i < n && s[i] != '\n' && s[i] != '\r')
            i++;
        return i;
    }
    i += 2;
    while (i < n && depth > 0)
    {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*')
        {
            depth++;
            i += 2;
        }
        else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/')
        {
            depth--;
            i += 2;
        }
        else
            i++;
    }
    return i;
}

/* The index of the next character after spaces and comments. */
static size_t rw_skip_blank(const char *s, size_t i, size_t n)
{
    while (i < n)
    {
        if (rw_is_space((unsigned char)s[i]))
            i++;
        else if (rw_is_comment_start(s, i, n))
            i = rw_comment_end(s, i, n);
        else
            break;
    }
    return i;
}

/* s[i] is the opening quote of a string literal; returns the index past the
 * closing one. '' is a quote; with backslash (E'' strings), a backslash
 * escapes the next character. standard_conforming_strings is assumed on,
 * as it is by default. */
static size_t rw_string_end(const char *s, size_t i, size_t n, bool backslash)
{
    i++;
    while (i < n)
    {
        if (backslash && s[i] == '\\')
            i = i + 2 < n ? i + 2 : n;
        else if (s[i] == '\'' && i + 1 < n && s[i + 1] == '\'')
            i += 2;
        else if (s[i] == '\'')
            return i + 1;
        else
            i++;
    }
    return n;
}

/* s[i] is a double quote; returns the index past the closing one, with the
 * name ("" undoubled) in name when name is not NULL. */
static size_t rw_quoted_end(const char *s, size_t i, size_t n, Buf *name)
{
    i++;
    while (i < n)
    {
        if (s[i] == '"' && i + 1 < n && s[i + 1] == '"')
            i++;
        else if (s[i] == '"')
            return i + 1;
        if (name != NULL)
            buf_append(name, s + i, 1);
        i++;
    }
    return n;
}

/* The length of a dollar-quote delimiter ($$ or $tag$) at s[i], or 0 when
 * the $ starts none ($1 is a parameter). */
static size_t rw_dollar_tag(const char *s, size_t i, size_t n)
{
    size_t j = i + 1;

    if (j < n && s[j] == '$')
        return 2;
    if (j >= n || !rw_is_ident_start((unsigned char)s[j]))
        return 0;
    while (j < n && (rw_is_ident_start((unsigned char)s[j]) || rw_is_digit((unsigned char)s[j])))
        j++;
    return j < n && s[j] == '$' ? j - i + 1 : 0;
}

/* s[i] starts a number (a digit, or a dot before one); returns the index
 * past it, including any letters glued to it (0x1F, 1e5, trailing junk).
 * "1..10" (a PL/pgSQL range) stops before the two dots. */
static size_t rw_number_end(const char *s, size_t i, size_t n)
{
    while (i < n && (rw_is_digit((unsigned char)s[i]) || s[i] == '_'))
        i++;
    if (i < n && s[i] == '.' && !(i + 1 < n && s[i + 1] == '.'))
    {
        i++;
        while (i < n && (rw_is_digit((unsigned char)s[i]) || s[i] == '_'))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E'))
    {
        size_t j = i + 1;

        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < n && rw_is_digit((unsigned char)s[j]))
            i = j;
    }
    while (i < n && rw_is_ident_char((unsigned char)s[i]))
        i++;
    return i;
}

/* Appends name bare or double-quoted, quotes doubled. */
static void rw_append_name(Buf *out, const char *name, bool bare)
{
    if (bare)
    {
        buf_append_str(out, name);
        return;
    }
    buf_append(out, "\"", 1);
    for (const char *p = name; *p != '\0'; p++)
    {
        buf_append(out, p, 1);
        if (*p == '"')
            buf_append(out, "\"", 1);
    }
    buf_append(out, "\"", 1);
}

/* The state of one body being rewritten. */
typedef struct Rewriter
{
    const char *s; /* the body */
    size_t n;
    const char *old_schema;
    const char *new_schema;
    bool new_bare; /* new_schema may be written unquoted */
    PgRewriteReport *report;
    Buf out;
} Rewriter;

/* An identifier s[start..end), already decoded into name: written out as it
 * was, or as the new name when it is a qualifier naming the old schema. */
static void rw_identifier(Rewriter *rw, size_t start, size_t end, const char *name, size_t name_len,
                          bool quoted, bool after_dot)
{
    size_t next;

    if (!rw_name_matches(name, name_len, !quoted, rw->old_schema))
    {
        buf_append(&rw->out, rw->s + start, end - start);
        return;
    }
    next = rw_skip_blank(rw->s, end, rw->n);
    if (next < rw->n && rw->s[next] == '.' && !after_dot)
    {
        rw_append_name(&rw->out, rw->new_schema, rw->new_bare && !quoted);
        rw->report->rewritten++;
        return;
    }
    /* a.NAME.b is database.schema.object or schema.table.column */
    if (next < rw->n && rw->s[next] == '.')
        rw->report->unsure++;
    else
        rw->report->as_names++;
    buf_append(&rw->out, rw->s + start, end - start);
}

/* A literal s[start..end): copied unchanged, mentions counted. */
static size_t rw_literal(Rewriter *rw, size_t start, size_t end)
{
    rw->report->in_strings += rw_count_mentions(rw->s + start, end - start, rw->old_schema);
    buf_append(&rw->out, rw->s + start, end - start);
    return end;
}

/* A word starting at s[i]: a string with a prefix (E'', B'', X'', N'',
 * U&''), a U&"" identifier, or a plain identifier. Returns the index past
 * it. */
static size_t rw_word(Rewriter *rw, size_t i, bool after_dot)
{
    const char *s = rw->s;
    size_t n = rw->n, j = i;
    char c = s[i];

    while (j < n && rw_is_ident_char((unsigned char)s[j]))
        j++;
    if (j - i == 1 && j < n && s[j] == '\'' && strchr("eEbBxXnN", c) != NULL)
        return rw_literal(rw, i, rw_string_end(s, j, n, c == 'e' || c == 'E'));
    if (j - i == 1 && (c == 'u' || c == 'U') && j + 1 < n && s[j] == '&' && s[j + 1] == '\'')
        return rw_literal(rw, i, rw_string_end(s, j + 1, n, false));
    if (j - i == 1 && (c == 'u' || c == 'U') && j + 1 < n && s[j] == '&' && s[j + 1] == '"')
    {
        /* escapes (\0074) may spell any name: not rewritten, only reported */
        size_t end = rw_quoted_end(s, j + 1, n, NULL);

        rw->report->unsure += rw_count_mentions(s + i, end - i, rw->old_schema);
        buf_append(&rw->out, s + i, end - i);
        return end;
    }
    rw_identifier(rw, i, j, s + i, j - i, false, after_dot);
    return j;
}

char *pg_rewrite_body(const char *body, const char *old_schema, const char *new_schema,
                      PgRewriteReport *report)
{
    Rewriter rw = {.s = body,
                   .n = strlen(body),
                   .old_schema = old_schema,
                   .new_schema = new_schema,
                   .new_bare = rw_is_bare_safe(new_schema),
                   .report = report};
    size_t i = 0;
    bool after_dot = false; /* the last token was "." */
    Buf name;

    buf_init(&rw.out);
    buf_init(&name);
    while (i < rw.n)
    {
        unsigned char c = (unsigned char)body[i];
        bool was_after_dot = after_dot;
        size_t end;

        if (rw_is_space(c))
        {
            buf_append(&rw.out, body + i, 1);
            i++;
            continue;
        }
        if (rw_is_comment_start(body, i, rw.n))
        {
            end = rw_comment_end(body, i, rw.n);
            report->in_comments += rw_count_mentions(body + i, end - i, old_schema);
            buf_append(&rw.out, body + i, end - i);
            i = end;
            continue;
        }
        after_dot = false;
        if (c == '"')
        {
            buf_reset(&name);
            end = rw_quoted_end(body, i, rw.n, &name);
            rw_identifier(&rw, i, end, buf_cstr(&name), name.len, true, was_after_dot);
            i = end;
        }
        else if (rw_is_ident_start(c))
            i = rw_word(&rw, i, was_after_dot);
        else if (c == '\'')
            i = rw_literal(&rw, i, rw_string_end(body, i, rw.n, false));
        else if (c == '$' && rw_dollar_tag(body, i, rw.n) > 0)
        {
            size_t tag = rw_dollar_tag(body, i, rw.n);
            const char *close = memmem(body + i + tag, rw.n - i - tag, body + i, tag);

            i = rw_literal(&rw, i, close != NULL ? (size_t)(close - body) + tag : rw.n);
        }
        else if (rw_is_digit(c) ||
                 (c == '.' && i + 1 < rw.n && rw_is_digit((unsigned char)body[i + 1])))
        {
            end = rw_number_end(body, i, rw.n);
            buf_append(&rw.out, body + i, end - i);
            i = end;
        }
        else if (c == '$')
        {
            /* a parameter $1, or a lone $ */
            end = i + 1;
            while (end < rw.n && rw_is_digit((unsigned char)body[end]))
                end++;
            buf_append(&rw.out, body + i, end - i);
            i = end;
        }
        else if (c == '.' && i + 1 < rw.n && body[i + 1] == '.')
        {
            /* the range operator of FOR i IN 1..n */
            buf_append(&rw.out, body + i, 2);
            i += 2;
        }
        else
        {
            after_dot = c == '.';
            buf_append(&rw.out, body + i, 1);
            i++;
        }
    }
    buf_free(&name);
    buf_cstr(&rw.out);
    return (char *)rw.out.data;
}


/* Splits a list value at the commas outside double quotes; an element is a
 * quoted name ("" for a quote) or a bare word, spaces around it ignored.
 * Returns the number of elements, *elems malloc'd (free with
 * rw_elements_free). */
size_t rw_split_list(const char *v, RwElement **elems)
{
    size_t n = strlen(v), i = 0, count = 0, cap = 4;
    RwElement *out = xcalloc(cap, sizeof(*out));

    while (i < n)
    {
        RwElement e = {0};
        Buf name;

        buf_init(&name);
        while (i < n && rw_is_space((unsigned char)v[i]))
            i++;
        e.start = i;
        if (i < n && v[i] == '"')
        {
            e.quoted = true;
            i = rw_quoted_end(v, i, n, &name);
            e.end = i;
        }
        else
        {
            while (i < n && v[i] != ',')
                i++;
            e.end = i;
            while (e.end > e.start && rw_is_space((unsigned char)v[e.end - 1]))
                e.end--;
            for (size_t k = e.start; k < e.end; k++)
            {
                char c = rw_lower(v[k]);

                buf_append(&name, &c, 1);
            }
        }
        e.name = xstrdup(buf_cstr(&name));
        buf_free(&name);
        while (i < n && v[i] != ',')
            i++;
        if (count == cap)
        {
            cap *= 2;
            out = xrealloc(out, cap * sizeof(*out));
        }
        out[count++] = e;
        if (i < n)
            i++; /* the comma */
    }
    *elems = out;
    return count;
}

void rw_elements_free(RwElement *elems, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(elems[i].name);
    free(elems);
}

/* The length of the setting name in a proconfig entry "name=value", or
 * -1 when there is no "=". */
long rw_setting_name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');

    return eq != NULL ? (long)(eq - entry) : -1;
}

static bool rw_is_search_path(const char *entry)
{
    return rw_setting_name_len(entry) == 11 && strncasecmp(entry, "search_path", 11) == 0;
}

char *pg_rewrite_setting(const char *entry, const char *old_schema, const char *new_schema,
                         PgRewriteReport *report)
{
    long name_len = rw_setting_name_len(entry);
    const char *value;
    RwElement *elems;
    size_t count, done = 0;
    Buf out;

    if (name_len < 0)
        return xstrdup(entry);
    value = entry + name_len + 1;
    if (!rw_is_search_path(entry))
    {
        report->in_settings += rw_count_mentions(value, strlen(value), old_schema) > 0;
        return xstrdup(entry);
    }
    buf_init(&out);
    buf_append(&out, entry, (size_t)name_len + 1);
    count = rw_split_list(value, &elems);
    for (size_t i = 0; i < count; i++)
    {
        RwElement *e = &elems[i];

        if (!rw_name_matches(e->name, strlen(e->name), false, old_schema))
            continue;
        buf_append(&out, value + done, e->start - done);
        rw_append_name(&out, new_schema, !e->quoted && rw_is_bare_safe(new_schema));
        done = e->end;
        report->rewritten++;
    }
    buf_append_str(&out, value + done);
    rw_elements_free(elems, count);
    buf_cstr(&out);
    return (char *)out.data;
}

bool pg_rewrite_report_leftover(const PgRewriteReport *report)
{
    return report->in_strings > 0 || report->in_comments > 0 || report->unsure > 0 ||
           report->in_settings > 0 || (report->as_names > 0 && report->rewritten > 0);
}

char *pg_rewrite_report_describe(const PgRewriteReport *report)
{
    Buf out;

    buf_init(&out);
    if (report->in_strings > 0)
        buf_printf(&out, "%sin %d string literal(s)", out.len ? ", " : "", report->in_strings);
    if (report->in_comments > 0)
        buf_printf(&out, "%sin %d comment(s)", out.len ? ", " : "", report->in_comments);
    if (report->as_names > 0 && report->rewritten > 0)
        buf_printf(&out,
                   "%sas %d other name(s) (an alias, label, variable or column) beside "
                   "the rewritten qualifiers",
                   out.len ? ", " : "", report->as_names);
    if (report->unsure > 0)
        buf_printf(&out, "%sin %d place(s) where it may or may not mean the schema",
                   out.len ? ", " : "", report->unsure);
    if (report->in_settings > 0)
        buf_printf(&out, "%sin %d setting(s) other than search_path", out.len ? ", " : "",
                   report->in_settings);
    buf_cstr(&out);
    return (char *)out.data;
}
