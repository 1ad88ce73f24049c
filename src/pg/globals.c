/*
 * globals.c - reading the output of pg_dumpall --globals-only: which of
 * its roles a server lacks, and the statements (CREATE ROLE, ALTER ROLE,
 * memberships) that create exactly those, in the dump's order. Pure text
 * work; restore runs the statements.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "pg/pg.h"

/* The length of the SQL identifier at p as pg_dumpall writes it: "quoted"
 * (with "" for a quote) or plain up to a space or semicolon; 0 if none. */
static size_t globals_ident_len(const char *p)
{
    size_t n = 0;

    if (p[0] != '"')
    {
        while (p[n] != '\0' && p[n] != ' ' && p[n] != ';' && p[n] != '\n')
            n++;
        return n;
    }
    for (n = 1; p[n] != '\0' && p[n] != '\n'; n++)
        if (p[n] == '"' && p[++n] != '"')
            return n;
    return 0;
}

/* The role name an identifier of globals_ident_len's spells (unquoted). */
static char *globals_ident_name(const char *p, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;

    if (p[0] != '"')
        memcpy(out, p, o = len);
    else
        for (size_t i = 1; i + 1 < len; i++)
        {
            out[o++] = p[i];
            if (p[i] == '"')
                i++;
        }
    out[o] = '\0';
    return out;
}

/* Does line start with prefix followed by one of the identifiers in
 * created (as the dump spells them)? Returns the identifier's length or 0. */
static size_t globals_line_names(const char *line, const char *prefix, char **created, size_t n)
{
    size_t plen = strlen(prefix), len;

    if (strncmp(line, prefix, plen) != 0)
        return 0;
    len = globals_ident_len(line + plen);
    for (size_t i = 0; len > 0 && i < n; i++)
        if (strlen(created[i]) == len && strncmp(created[i], line + plen, len) == 0)
            return len;
    return 0;
}

static void globals_add(PgRoleStatements *out, const char *sql, const char *role, size_t role_len)
{
    out->items = xrealloc(out->items, (out->count + 1) * sizeof(out->items[0]));
    out->items[out->count].sql = xstrdup(sql);
    out->items[out->count].created = role ? xstrndup(role, role_len) : NULL;
    out->count++;
}

void pg_globals_missing_roles(const char *globals, const char *const *existing, size_t n_existing,
                              PgRoleStatements *out)
{
    char *text = xstrdup(globals);
    char **created = NULL;
    size_t n_created = 0;

    memset(out, 0, sizeof(*out));
    /* pass 1: which roles are missing */
    for (char *line = text; line != NULL && *line != '\0';)
    {
        char *next = strchr(line, '\n');
        size_t len = strncmp(line, "CREATE ROLE ", 12) == 0 ? globals_ident_len(line + 12) : 0;

        if (len > 0)
        {
            char *name = globals_ident_name(line + 12, len);
            bool exists = false;

            for (size_t i = 0; i < n_existing && !exists; i++)
                exists = strcmp(existing[i], name) == 0;
            if (!exists)
            {
                created = xrealloc(created, (n_created + 1) * sizeof(char *));
                created[n_created++] = xstrndup(line + 12, len);
            }
            free(name);
        }
        line = next ? next + 1 : NULL;
    }
    /* pass 2: their statements, in the dump's order */
    for (char *line = text; n_created > 0 && line != NULL && *line != '\0';)
    {
        char *next = strchr(line, '\n');
        size_t role_len = 0;
        size_t create_len;
        bool run;

        if (next != NULL)
            *next = '\0';
        create_len = globals_line_names(line, "CREATE ROLE ", created, n_created);
        run = create_len > 0 || globals_line_names(line, "ALTER ROLE ", created, n_created) > 0;
        if (!run && strncmp(line, "GRANT ", 6) == 0 &&
            (role_len = globals_ident_len(line + 6)) > 0)
        {
            const char *to = line + 6 + role_len;

            /* a membership "GRANT role TO member ...": one of them is new */
            run = strncmp(to, " TO ", 4) == 0 &&
                  (globals_line_names(line, "GRANT ", created, n_created) > 0 ||
                   globals_line_names(to, " TO ", created, n_created) > 0);
        }
        if (run)
            globals_add(out, line, create_len > 0 ? line + 12 : NULL, create_len);
        line = next ? next + 1 : NULL;
    }
    for (size_t i = 0; i < n_created; i++)
        free(created[i]);
    free(created);
    free(text);
}

void pg_role_statements_free(PgRoleStatements *st)
{
    for (size_t i = 0; i < st->count; i++)
    {
        free(st->items[i].sql);
        free(st->items[i].created);
    }
    free(st->items);
    memset(st, 0, sizeof(*st));
}
