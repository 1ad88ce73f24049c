/*
 * test_manifest.c - unit tests for the typed snapshot document: a round
 * trip of a document of each model gives the same JSON back, the types
 * carry what the engines read, and a malformed document is refused with a
 * message that names what is wrong and where.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "manifest/manifest.h"
#include "tap.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define C1 "1111111111111111111111111111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222222222222222222222222222"
#define H1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H2 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* The schema model, as manifest_load assembles it: a shared schema, a
 * tenant with its own DDL stream, a sequence never read (null), one that
 * was reset (is_called false), a failed tenant and an unreadable part. */
static const char schema_doc[] =
    "{'id': '" ID "', 'format': 2, 'kind': 'backup', 'time': '2026-03-01T10:00:00',"
    " 'host': 'db1', 'model': 'schema', 'server_version': '16.2', 'server_major': 16,"
    " 'tags': ['nightly', 'pre-upgrade'],"
    " 'stats': {'tenants': 1, 'tables': 3, 'rows': 1042, 'bytes_read': 90210,"
    "           'bytes_added': 4096, 'seconds': 2.5},"
    " 'globals': {'chunks': ['" C1 "'], 'bytes': 512, 'hash': '" H1 "'},"
    " 'databases': [{'name': 'app', 'owner': 'shared',"
    "   'extensions': [{'name': 'plpgsql', 'schema': 'pg_catalog'},"
    "                  {'name': 'citext', 'schema': 'public'}],"
    "   'encoding': 'UTF8', 'collate': 'C.UTF-8', 'ctype': 'C.UTF-8', 'dba': 'app_owner',"
    "   'comment': null, 'acl': null, 'role_settings': [],"
    "   'ddl': {'chunks': ['" C2 "'], 'bytes': 7000, 'hash': '" H2 "'}}],"
    " 'tenants': ["
    "  {'name': 'central', 'class': 'shared', 'shared': true, 'database': 'app',"
    "   'schema': 'central', 'owner': 'shared', 'rows': 40, 'bytes': 2000,"
    "   'tables': [{'schema': 'central', 'name': 'plans', 'rows': 40, 'bytes': 2000,"
    "               'hash': '" H1 "', 'chunks': ['" C1 "']}],"
    "   'sequences': [], 'matviews': []},"
    "  {'name': 'acme', 'class': 'gold', 'shared': false, 'database': 'app',"
    "   'schema': 't_acme', 'owner': 'tenant:acme', 'rows': 1002, 'bytes': 88210,"
    "   'tables': [{'schema': 't_acme', 'name': 'orders', 'rows': 1000, 'bytes': 88000,"
    "               'hash': '" H2 "', 'chunks': ['" C1 "', '" C2 "']},"
    "              {'schema': 't_acme', 'name': 'notes', 'rows': 2, 'bytes': 210,"
    "               'hash': '" H1 "', 'chunks': []}],"
    "   'sequences': [{'schema': 't_acme', 'name': 'orders_id_seq', 'last_value': '1000',"
    "                  'is_called': true},"
    "                 {'schema': 't_acme', 'name': 'notes_id_seq', 'last_value': '1',"
    "                  'is_called': false},"
    "                 {'schema': 't_acme', 'name': 'lost_seq', 'last_value': null}],"
    "   'matviews': [{'schema': 't_acme', 'name': 'order_totals'}],"
    "   'ddl': {'chunks': ['" C2 "'], 'bytes': 3000, 'hash': '" H1 "'}}],"
    " 'failed': [{'name': 'globex', 'error': 'permission denied for table t_globex.x'}],"
    " 'unreadable': [{'part': '" C2 "', 'tenant': 'initech', 'error': 'keys destroyed',"
    "                 'destroyed': true},"
    "                {'part': '" C1 "', 'error': 'pack missing', 'destroyed': false}]}";

/* The database model, as the backup writes it before the snapshot exists
 * (no id, no unreadable[]): databases with grants, a comment, settings and
 * per-role settings, and one with the defaults. A safety backup. */
static const char database_doc[] =
    "{'format': 1, 'kind': 'backup', 'time': '2026-03-02T11:30:00', 'host': 'db2',"
    " 'model': 'database', 'server_version': '17.0', 'server_major': 17, 'tags': ['safety'],"
    " 'stats': {'tenants': 2, 'tables': 1, 'rows': 5, 'bytes_read': 300, 'bytes_added': 0,"
    "           'seconds': 0.75},"
    " 'globals': {'chunks': ['" C1 "'], 'bytes': 100, 'hash': '" H1 "'},"
    " 'databases': ["
    "  {'name': 'acme', 'owner': 'tenant:acme', 'extensions': [{'name': 'plpgsql',"
    "   'schema': 'pg_catalog'}], 'encoding': 'UTF8', 'collate': 'en_US.UTF-8',"
    "   'ctype': 'en_US.UTF-8', 'dba': 'acme_owner',"
    "   'settings': ['work_mem=64MB', 'search_path=app, public'],"
    "   'comment': 'Acme production',"
    "   'acl': [{'grantee': null, 'privilege': 'CONNECT', 'grantable': false},"
    "           {'grantee': 'acme_owner', 'privilege': 'CREATE', 'grantable': true}],"
    "   'role_settings': [{'role': 'reporter', 'settings': ['statement_timeout=30s']}],"
    "   'ddl': {'chunks': ['" C2 "'], 'bytes': 4000, 'hash': '" H2 "'}},"
    "  {'name': 'globex', 'owner': 'tenant:globex', 'extensions': [], 'encoding': 'UTF8',"
    "   'collate': 'C', 'ctype': 'C', 'dba': 'postgres', 'comment': null, 'acl': [],"
    "   'role_settings': [],"
    "   'ddl': {'chunks': [], 'bytes': 0, 'hash': '" H1 "'}}],"
    " 'tenants': ["
    "  {'name': 'acme', 'class': 'default', 'shared': false, 'database': 'acme',"
    "   'schema': null, 'owner': 'tenant:acme', 'rows': 5, 'bytes': 300,"
    "   'tables': [{'schema': 'public', 'name': 'items', 'rows': 5, 'bytes': 300,"
    "               'hash': '" H2 "', 'chunks': ['" C1 "']}],"
    "   'sequences': [{'schema': 'public', 'name': 'items_id_seq', 'last_value': null}],"
    "   'matviews': []},"
    "  {'name': 'globex', 'class': 'default', 'shared': false, 'database': 'globex',"
    "   'schema': null, 'owner': 'tenant:globex', 'rows': 0, 'bytes': 0,"
    "   'tables': [], 'sequences': [], 'matviews': []}],"
    " 'failed': []}";

/* A database entry of an older snapshot: no comment, acl nor role_settings. */
static const char old_database[] =
    "{'name': 'old', 'owner': 'tenant:old', 'extensions': [], 'encoding': 'UTF8',"
    " 'collate': 'C', 'ctype': 'C', 'dba': 'postgres'}";

/* JSON written with single quotes, for legibility. */
static json_t *load(const char *text)
{
    char *s = strdup(text);
    json_error_t jerr;
    json_t *doc;

    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    doc = json_loads(s, 0, &jerr);
    if (doc == NULL)
        printf("# %s at line %d column %d\n", jerr.text, jerr.line, jerr.column);
    free(s);
    return doc;
}

/* parse -> to_json gives doc back, and parsing that gives the same again. */
static void check_round_trip(json_t *doc, const char *what)
{
    Error err;
    Manifest *m, *again;
    json_t *out, *out2 = NULL;
    char name[128];

    error_clear(&err);
    m = manifest_parse(doc, &err);
    snprintf(name, sizeof(name), "%s: parses", what);
    if (!ok(m != NULL, name))
        printf("#   %s\n", err.message);
    if (m == NULL)
        return;
    out = manifest_to_json(m);
    snprintf(name, sizeof(name), "%s: to_json(parse(doc)) equals doc", what);
    if (!ok(json_equal(out, doc), name))
    {
        char *a = json_dumps(out, JSON_SORT_KEYS), *b = json_dumps(doc, JSON_SORT_KEYS);

        printf("#   got:      %s\n#   expected: %s\n", a, b);
        free(a);
        free(b);
    }
    again = manifest_parse(out, &err);
    if (again != NULL)
        out2 = manifest_to_json(again);
    snprintf(name, sizeof(name), "%s: parse(to_json(m)) is m again", what);
    ok(again != NULL && json_equal(out2, out), name);
    json_decref(out2);
    json_decref(out);
    manifest_free(again);
    manifest_free(m);
}

static void test_schema_model(void)
{
    json_t *doc = load(schema_doc);
    Error err;
    Manifest *m;
    const ManTenant *acme, *central;
    const ManDatabase *db;

    ok(doc != NULL, "schema model document loads");
    check_round_trip(doc, "schema model");
    error_clear(&err);
    m = manifest_parse(doc, &err);
    json_decref(doc); /* the Manifest holds what it needs */
    if (m == NULL)
        return;
    is_str(m->id, ID, "id");
    is_int(m->format, 2, "format");
    is_str(m->model, "schema", "model");
    is_int(m->server_major, 16, "server_major");
    is_int(m->n_tags, 2, "tags");
    ok(!manifest_is_safety(m), "not a safety backup");
    is_int(m->stats.rows, 1042, "stats rows");
    ok(m->stats.seconds == 2.5, "stats seconds");
    ok(m->globals != NULL && m->globals->bytes == 512, "globals stream");
    acme = manifest_find_tenant(m, "acme", false);
    central = manifest_find_tenant(m, "central", true);
    ok(acme != NULL && !acme->shared, "tenant found by name");
    ok(central != NULL && central->shared, "shared part found by name");
    ok(manifest_find_tenant(m, "central", false) == NULL, "a shared part is not a tenant");
    ok(manifest_find_tenant(m, "acme", true) == NULL, "a tenant is not a shared part");
    ok(manifest_find_tenant(m, "nobody", false) == NULL, "unknown tenant: NULL");
    if (acme == NULL || central == NULL)
    {
        manifest_free(m);
        return;
    }
    is_str(acme->schema, "t_acme", "tenant schema");
    is_str(acme->owner, "tenant:acme", "tenant owner");
    is_int(acme->n_tables, 2, "tenant tables");
    is_str(acme->tables[0].name, "orders", "table name");
    is_int(acme->tables[0].rows, 1000, "table rows");
    is_int(acme->tables[0].data.bytes, 88000, "table stream bytes");
    is_str(acme->tables[0].data.hash, H2, "table stream hash");
    ok(json_is_array(acme->tables[0].data.chunks) &&
           json_array_size(acme->tables[0].data.chunks) == 2,
       "table chunk list kept as the array repo_read_chunks takes");
    is_int(json_array_size(acme->tables[1].data.chunks), 0, "empty chunk list");
    is_int(acme->n_sequences, 3, "sequences");
    is_str(acme->sequences[0].last_value, "1000", "sequence value");
    ok(acme->sequences[0].is_called, "sequence called");
    ok(!acme->sequences[1].is_called, "sequence reset: not called");
    ok(acme->sequences[2].last_value == NULL, "null last_value: NULL");
    ok(!acme->sequences[2].is_called, "no value: not called");
    is_int(acme->n_matviews, 1, "matviews");
    ok(acme->ddl != NULL && acme->ddl->bytes == 3000, "tenant's own DDL stream");
    ok(central->ddl == NULL, "shared part without DDL stream");
    db = manifest_find_database(m, "app");
    ok(db != NULL, "database found by name");
    ok(manifest_find_database(m, "nope") == NULL, "unknown database: NULL");
    if (db != NULL)
    {
        ok(db->ddl != NULL && strcmp(db->ddl->hash, H2) == 0, "database DDL stream");
        is_int(db->n_extensions, 2, "extensions");
        ok(!db->has_settings && !db->has_acl && db->comment == NULL, "database defaults");
    }
    is_int(m->n_failed, 1, "failed");
    is_str(m->failed[0].name, "globex", "failed name");
    ok(m->has_unreadable && m->n_unreadable == 2, "unreadable parts");
    is_str(m->unreadable[0].tenant, "initech", "unreadable part's tenant");
    ok(m->unreadable[0].destroyed, "destroyed");
    ok(m->unreadable[1].tenant == NULL && !m->unreadable[1].destroyed,
       "unreadable part without tenant");
    manifest_free(m);
}

static void test_database_model(void)
{
    json_t *doc = load(database_doc);
    Error err;
    Manifest *m;
    const ManDatabase *acme, *globex;
    const ManTenant *t;

    ok(doc != NULL, "database model document loads");
    check_round_trip(doc, "database model");
    error_clear(&err);
    m = manifest_parse(doc, &err);
    json_decref(doc);
    if (m == NULL)
        return;
    ok(m->id == NULL, "no id before the snapshot is written");
    ok(!m->has_unreadable, "a fresh backup lists no unreadable parts");
    ok(manifest_is_safety(m), "tagged safety: a safety backup");
    t = manifest_find_tenant(m, "acme", false);
    ok(t != NULL && t->schema == NULL, "schema null in the database model");
    ok(t != NULL && t->n_sequences == 1 && t->sequences[0].last_value == NULL,
       "sequence without value");
    acme = manifest_find_database(m, "acme");
    globex = manifest_find_database(m, "globex");
    ok(acme != NULL && globex != NULL, "databases found");
    if (acme == NULL || globex == NULL)
    {
        manifest_free(m);
        return;
    }
    is_str(acme->comment, "Acme production", "comment");
    is_str(acme->dba, "acme_owner", "dba");
    ok(acme->has_settings && acme->n_settings == 2, "settings");
    is_str(acme->settings[1], "search_path=app, public", "setting text");
    ok(acme->has_acl && acme->n_acl == 2, "grants");
    ok(acme->acl[0].grantee == NULL, "grant to PUBLIC: NULL grantee");
    is_str(acme->acl[0].privilege, "CONNECT", "privilege");
    ok(!acme->acl[0].grantable && acme->acl[1].grantable, "grantable");
    is_str(acme->acl[1].grantee, "acme_owner", "grantee");
    is_int(acme->n_role_settings, 1, "role settings");
    is_str(acme->role_settings[0].role, "reporter", "role");
    is_str(acme->role_settings[0].settings[0], "statement_timeout=30s", "role setting");
    ok(globex->has_acl && globex->n_acl == 0, "empty grant list: explicit, not the defaults");
    ok(globex->comment == NULL && !globex->has_settings, "no comment, no settings");
    manifest_free(m);
}

static void test_old_database(void)
{
    json_t *doc = load(database_doc);
    json_t *out;
    Error err;
    Manifest *m;

    json_array_append_new(json_object_get(doc, "databases"), load(old_database));
    error_clear(&err);
    m = manifest_parse(doc, &err);
    ok(m != NULL, "a database without comment, acl, role_settings parses");
    if (m == NULL)
    {
        printf("#   %s\n", err.message);
        json_decref(doc);
        return;
    }
    ok(m->databases[2].comment == NULL && !m->databases[2].has_acl &&
           m->databases[2].n_role_settings == 0 && m->databases[2].ddl == NULL,
       "absent members read as none");
    out = manifest_to_json(m);
    {
        json_t *d = json_array_get(json_object_get(out, "databases"), 2);

        ok(json_is_null(json_object_get(d, "comment")) && json_is_null(json_object_get(d, "acl")) &&
               json_array_size(json_object_get(d, "role_settings")) == 0 &&
               json_object_get(d, "ddl") == NULL && json_object_get(d, "settings") == NULL,
           "written back in today's form");
    }
    json_decref(out);
    manifest_free(m);
    json_decref(doc);
}

/* Parses doc, expecting failure with message want (and a hint). */
static void check_error(json_t *doc, const char *want, const char *name)
{
    Error err;
    Manifest *m;

    error_clear(&err);
    m = manifest_parse(doc, &err);
    ok(m == NULL, name);
    is_str(err.message, want, name);
    ok(err.hint[0] != '\0', "with a hint");
    manifest_free(m);
}

static json_t *acme_of(json_t *doc)
{
    return json_array_get(json_object_get(doc, "tenants"), 1);
}

static void test_errors(void)
{
    json_t *base = load(schema_doc);
    json_t *doc;

    doc = json_array();
    check_error(doc, "snapshot is an array, not an object", "not an object");
    json_decref(doc);
    check_error(NULL, "snapshot is missing, not an object", "no document");

    doc = json_deep_copy(base);
    json_object_set_new(doc, "tenants", json_object());
    check_error(doc, "snapshot 0123456789ab: tenants is an object, not an array",
                "tenants not an array");
    json_decref(doc);

    doc = json_deep_copy(base);
    json_object_del(doc, "tenants");
    check_error(doc, "snapshot 0123456789ab has no tenants", "no tenants");
    json_decref(doc);

    doc = json_deep_copy(base);
    json_array_append_new(json_object_get(acme_of(doc), "tables"),
                          json_pack("{s:s, s:i}", "schema", "t_acme", "rows", 1));
    check_error(doc, "snapshot 0123456789ab: tenant \"acme\": table 3 has no name",
                "a table without a name");
    json_decref(doc);

    doc = json_deep_copy(base);
    json_object_set_new(json_array_get(json_object_get(acme_of(doc), "tables"), 0), "rows",
                        json_string("1000"));
    check_error(doc,
                "snapshot 0123456789ab: tenant \"acme\": table \"t_acme\".\"orders\": rows is a "
                "string, not an integer",
                "a wrong type for rows");
    json_decref(doc);

    doc = json_deep_copy(base);
    json_object_set_new(acme_of(doc), "bytes", json_integer(-1));
    check_error(doc, "snapshot 0123456789ab: tenant \"acme\": bytes is negative", "negative bytes");
    json_decref(doc);

    doc = json_deep_copy(base);
    json_array_set_new(json_object_get(doc, "tenants"), 0, json_string("central"));
    check_error(doc, "snapshot 0123456789ab: tenant 1 is a string, not an object",
                "a tenant that is not an object");
    json_decref(doc);

    doc = json_deep_copy(base);
    json_object_set_new(json_object_get(acme_of(doc), "ddl"), "chunks", json_string(C1));
    check_error(doc,
                "snapshot 0123456789ab: tenant \"acme\": ddl: chunks is a string, not an array",
                "a chunk list that is not an array");
    json_decref(doc);

    doc = json_deep_copy(base);
    json_object_set_new(json_array_get(json_object_get(doc, "databases"), 0), "acl",
                        json_string("{=c/postgres}"));
    check_error(doc,
                "snapshot 0123456789ab: database \"app\": acl is a string, not an array or null",
                "acl of the wrong type");
    json_decref(doc);

    doc = json_deep_copy(base);
    json_object_set_new(json_array_get(json_object_get(acme_of(doc), "sequences"), 0), "is_called",
                        json_string("t"));
    check_error(doc,
                "snapshot 0123456789ab: tenant \"acme\": sequence \"t_acme\".\"orders_id_seq\": "
                "is_called is a string, not a boolean",
                "is_called of the wrong type");
    json_decref(doc);

    doc = json_deep_copy(base);
    json_object_del(json_array_get(json_object_get(doc, "unreadable"), 1), "error");
    check_error(doc, "snapshot 0123456789ab: unreadable part 2 has no error",
                "an unreadable part without error");
    json_decref(doc);

    json_decref(base);
}

int main(void)
{
    test_schema_model();
    test_database_model();
    test_old_database();
    test_errors();
    return tap_done();
}
