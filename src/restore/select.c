/*
 * select.c - --table: which tables of a target the restore loads. A name
 * selects the snapshot's tables of that name, or, for a partitioned table,
 * every partition below it; and --data-only --clean refuses, before
 * anything changes, when a table outside the selection has a foreign key
 * into it (emptying it would break that key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "restore/restore_intern.h"

bool restore_table_selected(const Restore *r, const Target *t, const char *name)
{
    if (r->a->n_tables == 0)
        return true;
    for (size_t i = 0; i < t->n_sel; i++)
        if (strcmp(t->sel[i].name, name) == 0)
            return true;
    return false;
}

size_t restore_count_selected(const Restore *r, const Target *t)
{
    size_t n = 0;

    for (size_t i = 0; i < t->unit->n_tables; i++)
        n += restore_table_selected(r, t, t->unit->tables[i].name);
    return n;
}

/* Adds a table to the selection once; true when it was not in it yet. */
static bool sel_add(Target *t, const char *schema, const char *name, bool partitioned)
{
    for (size_t i = 0; i < t->n_sel; i++)
        if (strcmp(t->sel[i].schema, schema) == 0 && strcmp(t->sel[i].name, name) == 0)
            return false;
    t->sel = xrealloc(t->sel, sizeof(SelTable) * (t->n_sel + 1));
    t->sel[t->n_sel].schema = xstrdup(schema);
    t->sel[t->n_sel].name = xstrdup(name);
    t->sel[t->n_sel].partitioned = partitioned;
    t->n_sel++;
    return true;
}

void restore_sel_free(Target *t)
{
    for (size_t i = 0; i < t->n_sel; i++)
    {
        free(t->sel[i].schema);
        free(t->sel[i].name);
    }
    free(t->sel);
    t->sel = NULL;
    t->n_sel = 0;
}

/* ---- the partition tree, from the snapshot's DDL ----------------------------
 *
 * The manifest lists the tables that hold rows (leaf partitions included),
 * not partitioned tables, and says nothing of who is whose partition. The
 * snapshot's schema dump does, and it is what the restore creates the
 * tables from, so it is right even when the live tenant is gone or has
 * changed: pg_dump (14 and later) writes each partition as a TABLE entry
 * plus a "TABLE ATTACH" entry named after the partition, which depends on
 * exactly two TABLE entries, the partition's and its parent's. Reading the
 * dependencies, not the ATTACH statement's text, needs no SQL parsing. */

typedef struct TocTable
{
    int id;
    char *schema;
    char *name;
} TocTable;

typedef struct TocAttach
{
    char *schema; /* the partition's */
    char *name;
    int deps[2];
    size_t n_deps;
} TocAttach;

typedef struct PartTree
{
    TocTable *tables;
    size_t n_tables;
    TocAttach *attach;
    size_t n_attach;
} PartTree;

static bool tree_read_entry(void *arg, const PgArchiveEntry *e, Error *err)
{
    PartTree *p = arg;

    (void)err;
    if (e->namespace == NULL)
        return true;
    if (strcmp(e->desc, "TABLE") == 0)
    {
        p->tables = xrealloc(p->tables, sizeof(TocTable) * (p->n_tables + 1));
        p->tables[p->n_tables++] = (TocTable){e->dump_id, xstrdup(e->namespace), xstrdup(e->tag)};
    }
    else if (strcmp(e->desc, "TABLE ATTACH") == 0 && e->n_deps == 2)
    {
        TocAttach *a;

        p->attach = xrealloc(p->attach, sizeof(TocAttach) * (p->n_attach + 1));
        a = &p->attach[p->n_attach++];
        *a = (TocAttach){xstrdup(e->namespace), xstrdup(e->tag), {e->deps[0], e->deps[1]}, 2};
    }
    return true;
}

static void tree_free(PartTree *p)
{
    for (size_t i = 0; i < p->n_tables; i++)
    {
        free(p->tables[i].schema);
        free(p->tables[i].name);
    }
    for (size_t i = 0; i < p->n_attach; i++)
    {
        free(p->attach[i].schema);
        free(p->attach[i].name);
    }
    free(p->tables);
    free(p->attach);
}

static const TocTable *tree_table_by_id(const PartTree *p, int id)
{
    for (size_t i = 0; i < p->n_tables; i++)
        if (p->tables[i].id == id)
            return &p->tables[i];
    return NULL;
}

/* The parent of the partition a attaches: the other table it depends on. */
static const TocTable *tree_parent(const PartTree *p, const TocAttach *a)
{
    for (size_t k = 0; k < a->n_deps; k++)
    {
        const TocTable *x = tree_table_by_id(p, a->deps[k]);

        if (x != NULL && (strcmp(x->schema, a->schema) != 0 || strcmp(x->name, a->name) != 0))
            return x;
    }
    return NULL;
}

/* Has the table (schema, name) partitions? */
static bool tree_is_parent(const PartTree *p, const char *schema, const char *name)
{
    for (size_t i = 0; i < p->n_attach; i++)
    {
        const TocTable *x = tree_parent(p, &p->attach[i]);

        if (x != NULL && strcmp(x->schema, schema) == 0 && strcmp(x->name, name) == 0)
            return true;
    }
    return false;
}

/* Adds the partitions of the partitioned tables already selected, and
 * theirs in turn (each table once, so a damaged dump cannot loop). */
static void tree_select_below(const PartTree *p, Target *t)
{
    for (size_t s = 0; s < t->n_sel; s++)
    {
        if (!t->sel[s].partitioned)
            continue;
        for (size_t i = 0; i < p->n_attach; i++)
        {
            const TocAttach *a = &p->attach[i];
            const TocTable *x = tree_parent(p, a);

            if (x != NULL && strcmp(x->schema, t->sel[s].schema) == 0 &&
                strcmp(x->name, t->sel[s].name) == 0)
                sel_add(t, a->schema, a->name, tree_is_parent(p, a->schema, a->name));
        }
    }
}

/* Selects the partitioned tables named name and what is below them;
 * *found is set when there is one. */
static void tree_select(const PartTree *p, Target *t, const char *name, bool *found)
{
    for (size_t i = 0; i < p->n_tables; i++)
    {
        const TocTable *x = &p->tables[i];

        if (strcmp(x->name, name) == 0 && tree_is_parent(p, x->schema, x->name))
        {
            sel_add(t, x->schema, x->name, true);
            *found = true;
        }
    }
    tree_select_below(p, t);
}

/* Selects the snapshot's tables named name; false when it has none. */
static bool select_rows_tables(Target *t, const char *name)
{
    bool found = false;

    for (size_t j = 0; j < t->unit->n_tables; j++)
    {
        const ManTable *o = &t->unit->tables[j];

        if (strcmp(o->name, name) == 0)
        {
            sel_add(t, o->schema, o->name, false);
            found = true;
        }
    }
    return found;
}

bool restore_select_tables(Restore *r, Target *t, bool strict, Error *err)
{
    const ManStream *ddl = t->unit->ddl ? t->unit->ddl : t->mdb ? t->mdb->ddl : NULL;
    PartTree tree;
    bool have_tree = false, ok = true;

    memset(&tree, 0, sizeof(tree));
    for (size_t k = 0; k < r->a->n_tables && ok; k++)
    {
        const char *name = r->a->tables[k];
        bool found = select_rows_tables(t, name);

        /* the DDL is read only for a name that holds no rows itself */
        if (!found && !have_tree && ddl != NULL)
            ok = have_tree = restore_read_ddl(r, ddl, "DDL", tree_read_entry, &tree, NULL, err);
        if (!found && have_tree)
            tree_select(&tree, t, name, &found);
        if (ok && !found && strict)
        {
            error_set(err, ERR_FAILURE, "tenant \"%s\" has no table \"%s\" in snapshot %.12s",
                      t->name, name, r->man->id);
            ok = error_hint(err, "run \"coffer info %.12s --tenant %s\" to list its tables",
                            r->man->id, t->name);
        }
    }
    tree_free(&tree);
    return ok;
}

/* ---- foreign keys into the selection ------------------------------------- */

/* Distinct names, in the order first seen. */
typedef struct Names
{
    char **v;
    size_t n;
} Names;

static void names_add(Names *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return;
    l->v = xrealloc(l->v, sizeof(char *) * (l->n + 1));
    l->v[l->n++] = xstrdup(s);
}

static void names_free(Names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* "a", "b" and "c" */
static void names_list(const Names *l, Buf *out)
{
    for (size_t i = 0; i < l->n; i++)
        buf_printf(out, "%s\"%s\"", i == 0 ? "" : i + 1 == l->n ? " and " : ", ", l->v[i]);
}

/* Is the live table (schema, name) selected? */
static bool sel_live(const Restore *r, const Target *t, const char *schema, const char *name)
{
    for (size_t i = 0; i < t->n_sel; i++)
        if (strcmp(t->sel[i].name, name) == 0 &&
            strcmp(r->ops->table_schema(t->schema, t->sel[i].schema), schema) == 0)
            return true;
    return false;
}

/* How a live table is named to the user: as --table names it when it is
 * the tenant's (a --table can add it), else qualified. Sets *outside. */
static char *sel_display(const Restore *r, const Target *t, const char *schema, const char *name,
                         bool *outside)
{
    if (r->ops->whole_database || strcmp(schema, t->schema) == 0)
        return xstrdup(name);
    *outside = true;
    return xasprintf("%s.%s", schema, name);
}

/* The refusal: what is referenced, from where, and what to add. */
static bool references_error(const Names *into, const Names *from, bool outside, Error *err)
{
    Buf msg, hint;

    buf_init(&msg);
    buf_init(&hint);
    names_list(into, &msg);
    buf_append_str(&msg, " alone: ");
    names_list(from, &msg);
    error_set(err, ERR_FAILURE, "cannot --clean %s %s into %s", buf_cstr(&msg),
              from->n == 1 ? "has a foreign key" : "have foreign keys",
              into->n == 1 ? "it" : "them");
    if (outside)
        error_hint(err, "a table outside the tenant cannot be added with --table: remove its "
                        "foreign key first, or restore without --clean");
    else
    {
        for (size_t i = 0; i < from->n; i++)
            buf_printf(&hint, "%s--table %s", i == 0 ? "" : " ", from->v[i]);
        error_hint(err, "add %s, or restore without --table", buf_cstr(&hint));
    }
    buf_free(&msg);
    buf_free(&hint);
    return false;
}

/* Every foreign key into the target's schema (or, $1 NULL, anywhere):
 * the referenced table and the root of its partition tree (itself when it
 * is none), then the same of the referencing one. A key on a partitioned
 * table has a row for each partition too; the root is what --table names. */
static const char fk_sql[] =
    "SELECT fn.nspname, f.relname, frn.nspname, fr.relname,"
    "       cn.nspname, c.relname, crn.nspname, cr.relname"
    "  FROM pg_catalog.pg_constraint k"
    "  JOIN pg_catalog.pg_class f ON f.oid = k.confrelid"
    "  JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace"
    "  JOIN pg_catalog.pg_class fr ON fr.oid = COALESCE("
    "       pg_catalog.pg_partition_root(f.oid)::pg_catalog.oid, f.oid)"
    "  JOIN pg_catalog.pg_namespace frn ON frn.oid = fr.relnamespace"
    "  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid"
    "  JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace"
    "  JOIN pg_catalog.pg_class cr ON cr.oid = COALESCE("
    "       pg_catalog.pg_partition_root(c.oid)::pg_catalog.oid, c.oid)"
    "  JOIN pg_catalog.pg_namespace crn ON crn.oid = cr.relnamespace"
    " WHERE k.contype = 'f' AND ($1::text IS NULL OR fn.nspname = $1)"
    " ORDER BY 4, 2, 8, 6";

/* Collects, from fk_sql's rows, the selected tables that tables outside
 * the selection reference, and those tables (by the root of their
 * partition tree, which a --table takes whole). */
static void references_collect(const Restore *r, const Target *t, PGresult *res, Names *into,
                               Names *from, bool *outside)
{
    for (int i = 0; i < PQntuples(res); i++)
    {
        const char *v[8];
        char *name;

        for (int c = 0; c < 8; c++)
            v[c] = PQgetvalue(res, i, c);
        if (!sel_live(r, t, v[0], v[1]) || sel_live(r, t, v[4], v[5]))
            continue;
        /* a partitioned table named whole is named, not each partition */
        name = sel_live(r, t, v[2], v[3]) ? sel_display(r, t, v[2], v[3], outside)
                                          : sel_display(r, t, v[0], v[1], outside);
        names_add(into, name);
        free(name);
        name = sel_display(r, t, v[6], v[7], outside);
        names_add(from, name);
        free(name);
    }
}

bool restore_check_references(Restore *r, Target *t, Error *err)
{
    const char *params[1] = {r->ops->whole_database ? NULL : t->schema};
    Names into = {NULL, 0}, from = {NULL, 0};
    bool outside = false, ok;
    PGconn *conn = restore_connect(r, t->db, err);
    PGresult *res;

    if (conn == NULL)
        return false;
    res = pg_query(conn, "list foreign keys", fk_sql, 1, params, err);
    PQfinish(conn);
    if (res == NULL)
        return false;
    references_collect(r, t, res, &into, &from, &outside);
    PQclear(res);
    /* what is referenced is always the tenant's: only the referencing
     * tables can lie outside it */
    ok = from.n == 0 || references_error(&into, &from, outside, err);
    names_free(&into);
    names_free(&from);
    return ok;
}
