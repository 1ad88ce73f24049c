#!/usr/bin/env bash
# Restore fidelity in the database model (DESIGN §6): a tenant database
# restored --as a new database dumps (pg_dump --schema-only) exactly like the
# original, holds the same rows and sequence values, and carries the
# database-level state (owner, ALTER DATABASE SET settings, ...); in place
# with --clean it comes back after damage without touching the other
# tenants; restore --all --clean --yes brings every database back. Fixture
# test/fixtures/fidelity_db.sql: the rich tenant's content in a database
# whose settings write dates as 01/02/2024 and floats with 15 digits.
. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture fidelity_db || t_bail "cannot load the fidelity_db fixture"

hdb='fid_Ünï "q"; --'
hschema='Ünï "Q"; DROP--東x𝄞Zoë'
dbs=(fid_master fid_rich fid_blank fid_empty "$hdb")
export COFFER_PASSPHRASE=fidelity-test
export COFFER_CONFIG="$T_TMP/coffer.yaml"
cat >"$COFFER_CONFIG" <<EOF
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=fid_master user=postgres"
tenancy:
  model: database
  shared: [fid_master]
  discover:
    query: "SELECT tenant, dbname AS database, class FROM clientes_saas"
classes:
  active: {}
  demo: {}
repository:
  path: $T_TMP/repo
EOF

# ---------------------------------------------------------------- helpers

# dbarg DB: a conninfo naming DB exactly (names may hold spaces and quotes).
dbarg() {
    local v=${1//\\/\\\\}
    printf "dbname='%s'" "${v//\'/\\\'}"
}

# fulldump DB: pg_dump --schema-only of a database, without the \restrict
# lines (a random key per run).
fulldump() {
    pg_dump --schema-only -d "$(dbarg "$1")" | grep -Ev '^\\(un)?restrict '
}

# data DB: for every user schema, one line per table, partitioned table and
# populated materialized view (schema, name, rows, md5 of the rows' text in
# C order), then one per sequence (last_value, is_called). The session's
# output settings are pinned first: the database's own (DMY dates, 15-digit
# floats) would hide differences.
data() {
    pg_psql -d "$(dbarg "$1")" <<'SQL'
SET datestyle = 'ISO'; SET extra_float_digits = 3; SET timezone = 'UTC'; SET intervalstyle = 'postgres';
SELECT format('SELECT %L || '' '' || count(*) || '' '' || md5(coalesce(string_agg(coffer_row::text, E''\n'' ORDER BY coffer_row::text COLLATE "C"), '''')) FROM %I.%I AS coffer_row',
              n.nspname || '.' || c.relname, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname !~ '^(pg_|information_schema$)' AND c.relkind IN ('r', 'p', 'm')
   AND (c.relkind <> 'm' OR c.relispopulated)
 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C" \gexec
SELECT format('SELECT %L || '' '' || last_value || '' '' || is_called FROM %I.%I',
              n.nspname || '.' || c.relname, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname !~ '^(pg_|information_schema$)' AND c.relkind = 'S'
 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C" \gexec
SQL
}

# facts DB: catalog state the dump shows only indirectly (populated
# materialized views, RLS flags, trigger states).
facts() {
    pg_psql -d "$(dbarg "$1")" <<'SQL'
SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' populated=' || c.relispopulated
       || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity || ' ' || c.relpersistence::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname !~ '^(pg_|information_schema$)' ORDER BY 1;
SELECT 'trigger ' || c.relname || ' ' || t.tgname || ' ' || t.tgenabled::text
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE NOT t.tgisinternal ORDER BY 1;
SQL
}

# dbsettings DB: the database's own ALTER DATABASE SET values, sorted.
dbsettings() {
    pg_psql -v d="$1" <<'SQL'
SELECT coalesce(string_agg(x, ' | ' ORDER BY x), '(none)')
  FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) AS x
 WHERE d.datname = :'d' AND s.setrole = 0;
SQL
}

# dbprops DB: owner, encoding and locale.
dbprops() {
    pg_psql -v d="$1" <<'SQL'
SELECT pg_get_userbyid(datdba) || ' ' || pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype
  FROM pg_database WHERE datname = :'d';
SQL
}

# dbextra DB: comment, grants (sorted) and per-role settings.
dbextra() {
    pg_psql -v d="$1" <<'SQL'
SELECT 'comment=' || coalesce(shobj_description(d.oid, 'pg_database'), '(none)')
       || ' acl=' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(d.datacl) AS a), '(default)')
       || ' roles=' || coalesce((SELECT string_agg(pg_get_userbyid(s.setrole) || ':' || array_to_string(s.setconfig, ';'), ',' ORDER BY 1)
                                   FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole <> 0), '(none)')
  FROM pg_database d WHERE d.datname = :'d';
SQL
}

# whole DB: everything above, for "back as it was" and "left alone" checks.
whole() {
    printf '%s\n%s\n%s\n%s\n%s\n%s\n' "$(fulldump "$1")" "$(data "$1")" "$(facts "$1")" \
        "$(dbsettings "$1")" "$(dbprops "$1")" "$(dbextra "$1")"
}

no_leftovers() {
    t_is "$(pg_psql -c "SELECT string_agg(datname, ', ') FROM pg_database WHERE datname LIKE '%coffer_old%' OR datname LIKE 'coffer_%'")" \
        "" "$1: no database left renamed aside, no scratch database"
}

# ---------------------------------------------------------------- backup

T0=$SECONDS
t_ok "init" "$COFFER" init
t_ok "backup" "$COFFER" backup

declare -A W0
for d in "${dbs[@]}"; do W0[$d]=$(whole "$d"); done
DUMP0=$(fulldump fid_rich)
DATA0=$(data fid_rich)
FACTS0=$(facts fid_rich)
SETTINGS0=$(dbsettings fid_rich)
PROPS0=$(dbprops fid_rich)
EXTRA0=$(dbextra fid_rich)
t_like "$DUMP0" 'CREATE TABLE public\.events_2024_h1' "baseline: the rich database's dump has its partitions"
t_like "$DUMP0" 'CREATE TABLE "Ünï ""Q""; DROP--東x𝄞Zoë"\."Ordérs ""Q"""' "  ... and its hostile schema"
t_like "$DATA0" $'(^|\n)public\.blobs 4 ' "baseline: blobs has 4 rows"
t_like "$DATA0" $'(^|\n)public\.specials 7 ' "baseline: specials has 7 rows"
t_like "$SETTINGS0" "DateStyle=SQL, DMY" "baseline: the database writes dates day first"
t_like "$SETTINGS0" "extra_float_digits=0" "  ... and floats with 15 digits"
t_like "$PROPS0" '^coffer_test_owner UTF8' "baseline: owned by coffer_test_owner"
t_like "$EXTRA0" "roles=coffer_test_reader:statement_timeout=5s" "baseline: a per-role setting"
t_is "$(pg_psql -d fid_rich -c "SELECT d::text || ' ' || f::text FROM public.specials WHERE id = 5")" \
    "29/02/2000 1.79769313486232e+308" \
    "baseline: a plain session on fid_rich writes DMY dates and 15-digit floats (this one overflows when read back)"

# ---------------------------------------------------------------- --as

t_ok "restore --as a new database" "$COFFER" restore --tenant rich --as fid_rich_copy
t_like "$T_OUT" 'restored "rich" into database "fid_rich_copy": 21 tables' "  ... and says so"
t_same "$(fulldump fid_rich_copy)" "$DUMP0" "  ... pg_dump --schema-only of both databases is the same"
t_same "$(data fid_rich_copy)" "$DATA0" "  ... every table's rows and every sequence are the same"
t_same "$(facts fid_rich_copy)" "$FACTS0" "  ... materialized views, RLS and trigger states are the same"
t_same "$(dbsettings fid_rich_copy)" "$SETTINGS0" "  ... the ALTER DATABASE SET settings are restored"
t_same "$(dbprops fid_rich_copy)" "$PROPS0" "  ... owner, encoding and locale are the same"
t_same "$(dbextra fid_rich_copy)" "$EXTRA0" "  ... comment, grants and per-role settings are the same"
t_same "$(whole fid_rich)" "${W0[fid_rich]}" "  ... the original is untouched"
no_leftovers "--as"

t_ok "the hostile-named tenant restores --as a hostile name" \
    "$COFFER" restore --tenant 'Ünï "q"; --' --as 'fid_copy "Ünï"; --'
t_same "$(fulldump 'fid_copy "Ünï"; --')" "$(fulldump "$hdb")" "  ... pg_dump --schema-only is the same"
t_same "$(data 'fid_copy "Ünï"; --')" "$(data "$hdb")" "  ... rows and sequences are the same"
t_ok "the empty tenant restores --as" "$COFFER" restore --tenant empty --as fid_empty_copy
t_same "$(fulldump fid_empty_copy)" "$(fulldump fid_empty)" "  ... an empty database like the original"

# ---------------------------------------------------------------- in place

declare -A OTHER0
for d in fid_master fid_blank fid_empty "$hdb" fid_rich_copy; do OTHER0[$d]=$(whole "$d"); done
pg_psql -d fid_rich <<SQL >/dev/null || t_bail "cannot damage fid_rich"
DELETE FROM public.customers WHERE customer_id % 5 = 1;
UPDATE public.specials SET d = '2000-01-02', f = 1.5;
DROP TABLE public.sessions;
DROP TABLE "$(sed 's/"/""/g' <<<"$hschema")"."select";
SELECT nextval('public.invoice_no');
SQL
pg_psql <<'SQL' >/dev/null || t_bail "cannot damage fid_rich's settings"
ALTER DATABASE fid_rich SET work_mem = '1MB';
ALTER DATABASE fid_rich RESET search_path;
COMMENT ON DATABASE fid_rich IS 'damaged';
SQL
t_isnt "$(whole fid_rich)" "${W0[fid_rich]}" "the damage shows"
t_exit 1 "restore in place without --clean refuses" "$COFFER" restore --tenant rich
t_like "$T_ERR" 'database "fid_rich" already exists' "  ... because the database exists"
t_ok "restore in place with --clean --yes" "$COFFER" restore --tenant rich --clean --yes
t_like "$T_OUT" 'safety backup: snapshot [0-9a-f]{64}' "  ... after a safety backup"
t_same "$(fulldump fid_rich)" "$DUMP0" "  ... pg_dump --schema-only equals the pre-damage one"
t_same "$(data fid_rich)" "$DATA0" "  ... every table's rows and every sequence are back"
t_same "$(facts fid_rich)" "$FACTS0" "  ... materialized views, RLS and trigger states are back"
t_same "$(dbsettings fid_rich)" "$SETTINGS0" "  ... the ALTER DATABASE SET settings are back"
t_same "$(dbprops fid_rich)$(dbextra fid_rich)" "$PROPS0$EXTRA0" "  ... owner, comment, grants and per-role settings are back"
for d in fid_master fid_blank fid_empty "$hdb" fid_rich_copy; do
    t_same "$(whole "$d")" "${OTHER0[$d]}" "  ... database \"$d\" is untouched"
done
no_leftovers "in place"

# ---------------------------------------------------------------- --all --clean

pg_psql -d fid_master -c "DELETE FROM clientes_saas WHERE tenant = 'empty'" >/dev/null
pg_psql -d fid_blank -c "INSERT INTO public.accounts (name, plan_id) VALUES ('x', 1)" >/dev/null
pg_psql -d fid_empty -c "CREATE TABLE intruder (x int)" >/dev/null
pg_psql -d "$(dbarg "$hdb")" -c "DELETE FROM public.\"Líneas; DROP TABLE x; --\"" >/dev/null
pg_psql -d fid_rich -c "TRUNCATE public.blobs" >/dev/null
pg_psql -c "ALTER DATABASE fid_rich SET extra_float_digits = 1" >/dev/null
t_ok "restore --all --clean --yes, the registry row of one tenant gone" "$COFFER" restore --all --clean --yes
t_like "$T_ERR" 'warning: tenant "empty" is not in the safety backup' \
    "  ... the tenant discovery no longer finds is not in the safety backup"
t_like "$T_ERR" 'warning: the replaced database "fid_empty" is kept as "fid_empty_coffer_old_[0-9_]+"' \
    "  ... so what replaced it is kept aside, not dropped"
t_unlike "$T_ERR" 'error' "  ... and nothing failed"
kept=$(grep -oE 'fid_empty_coffer_old_[0-9_]+' <<<"$T_ERR" | head -1)
t_is "$(pg_psql -d "$kept" -c "SELECT count(*) FROM public.intruder")" 0 "  ... holding the replaced state"
pg_psql -c "DROP DATABASE \"$kept\"" >/dev/null
for d in fid_master fid_blank fid_empty "$hdb"; do
    t_same "$(whole "$d")" "${W0[$d]}" "  ... database \"$d\" is back: dump, rows, sequences, settings"
done
t_same "$(fulldump fid_rich)" "$DUMP0" "  ... fid_rich's dump is back"
t_same "$(data fid_rich)" "$DATA0" "  ... fid_rich's rows and sequences are back"
t_same "$(dbsettings fid_rich)$(dbprops fid_rich)$(dbextra fid_rich)" "$SETTINGS0$PROPS0$EXTRA0" \
    "  ... fid_rich's settings, owner, comment and grants are back"
t_same "$(whole fid_rich_copy)" "${OTHER0[fid_rich_copy]}" "  ... a database not in the snapshot is untouched"
no_leftovers "--all"

t_diag "021_fidelity_database: $((SECONDS - T0)) s"
t_done
