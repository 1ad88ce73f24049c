#!/usr/bin/env bash
# Restore fidelity in the schema model (DESIGN §6): a restored tenant's
# pg_dump --schema-only equals the original's (only the schema name differs
# for --as), its data matches row for row, sequences are where they were,
# and the copy is self-contained. Fixture test/fixtures/fidelity.sql: a rich
# tenant with every hard object kind, a hostile-named tenant, a tenant of
# empty tables and an empty tenant, a shared schema they reference.
#   (a) --as beside the live tenant     (e) the hostile tenant, --as and in place
#   (b) in place with --clean            (f) the empty tenant and empty tables
#   (c) --into-db, shared schema too     (g) --all --into-db
#   (d) --data-only, --clean, --table    (h) --all --clean in place
. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture fidelity || t_bail "cannot load the fidelity fixture"

DB=fidelity
rich=tenant_rich
hostile='tenant_rich Ünï "Q"; DROP--東x𝄞Zoë'
export COFFER_PASSPHRASE=fidelity-test
export COFFER_CONFIG="$T_TMP/coffer.yaml"
cat >"$COFFER_CONFIG" <<EOF
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=$DB user=postgres"
tenancy:
  model: schema
  shared: [central, public]
  discover:
    pattern: "tenant_%"
repository:
  path: $T_TMP/repo
EOF

# ---------------------------------------------------------------- helpers

# qi NAME: NAME as a quoted SQL identifier (also a pg_dump pattern matching
# exactly NAME).
qi() { printf '"%s"' "${1//\"/\"\"}"; }

# sdump DB SCHEMA: pg_dump --schema-only of one schema, without the
# \restrict lines (a random key per run).
sdump() {
    pg_dump --schema-only --schema="$(qi "$2")" -d "$1" | grep -Ev '^\\(un)?restrict '
}

# fulldump DB: pg_dump --schema-only of a whole database, likewise.
fulldump() {
    pg_dump --schema-only -d "$1" | grep -Ev '^\\(un)?restrict '
}

# sdata DB SCHEMA: one line per table, partitioned table and populated
# materialized view: name, row count, md5 of its rows' text in C order.
SQL_DATA=$(cat <<'SQL'
SELECT format('SELECT %L || '' '' || count(*) || '' '' || md5(coalesce(string_agg(coffer_row::text, E''\n'' ORDER BY coffer_row::text COLLATE "C"), '''')) FROM %I.%I AS coffer_row',
              c.relname, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'s' AND c.relkind IN ('r', 'p', 'm') AND (c.relkind <> 'm' OR c.relispopulated)
 ORDER BY c.relname COLLATE "C" \gexec
SQL
)
sdata() { pg_psql -d "$1" -v s="$2" <<<"$SQL_DATA"; }

# sseq DB SCHEMA: "name last_value is_called" per sequence.
SQL_SEQ=$(cat <<'SQL'
SELECT format('SELECT %L || '' '' || last_value || '' '' || is_called FROM %I.%I', c.relname, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'s' AND c.relkind = 'S'
 ORDER BY c.relname COLLATE "C" \gexec
SQL
)
sseq() { pg_psql -d "$1" -v s="$2" <<<"$SQL_SEQ"; }

# facts DB SCHEMA: catalog state a schema dump shows only indirectly:
# populated materialized views, RLS flags, persistence, trigger states,
# policies, the schema's comment and grants, default privileges.
SQL_FACTS=$(cat <<'SQL'
SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' populated=' || c.relispopulated
       || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity || ' ' || c.relpersistence::text
       || ' owner=' || pg_get_userbyid(c.relowner)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'s' ORDER BY c.relname COLLATE "C", c.relkind;
SELECT 'trigger ' || c.relname || ' ' || t.tgname || ' ' || t.tgenabled::text
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'s' AND NOT t.tgisinternal ORDER BY 1;
SELECT 'policy ' || tablename || ' ' || policyname || ' ' || permissive || ' ' || cmd || ' '
       || array_to_string(roles, ',') || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
  FROM pg_policies WHERE schemaname = :'s' ORDER BY 1;
SELECT 'schema comment=' || coalesce(obj_description(oid, 'pg_namespace'), '(none)')
       || ' acl=' || coalesce(nspacl::text, '(default)') || ' owner=' || pg_get_userbyid(nspowner)
  FROM pg_namespace WHERE nspname = :'s';
SELECT 'default acl ' || d.defaclobjtype::text || ' ' || d.defaclacl::text
  FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
 WHERE n.nspname = :'s' ORDER BY 1;
SQL
)
facts() { pg_psql -d "$1" -v s="$2" <<<"$SQL_FACTS"; }

# state DB SCHEMA: everything above, with one psql (for "back as it was"
# and "left untouched" checks).
state() {
    printf '%s\n' "$(sdump "$1" "$2")"
    pg_psql -d "$1" -v s="$2" <<<"$SQL_DATA
$SQL_SEQ
$SQL_FACTS"
}

# crossdeps DB A B: pg_depend edges between objects of schemas A and B, in
# either direction, described (objects are placed in a schema through their
# table for defaults, constraints, triggers, rules and policies).
crossdeps() {
    pg_psql -d "$1" -v a="$2" -v b="$3" <<'SQL'
WITH ns AS (SELECT (SELECT oid FROM pg_namespace WHERE nspname = :'a') AS a,
                   (SELECT oid FROM pg_namespace WHERE nspname = :'b') AS b),
objs AS (
    SELECT 'pg_class'::regclass AS cls, oid, relnamespace AS nsp FROM pg_class
    UNION ALL SELECT 'pg_attrdef'::regclass, d.oid, c.relnamespace FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
    UNION ALL SELECT 'pg_constraint'::regclass, oid, connamespace FROM pg_constraint
    UNION ALL SELECT 'pg_trigger'::regclass, t.oid, c.relnamespace FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    UNION ALL SELECT 'pg_rewrite'::regclass, r.oid, c.relnamespace FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
    UNION ALL SELECT 'pg_policy'::regclass, p.oid, c.relnamespace FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
    UNION ALL SELECT 'pg_proc'::regclass, oid, pronamespace FROM pg_proc
    UNION ALL SELECT 'pg_type'::regclass, oid, typnamespace FROM pg_type
    UNION ALL SELECT 'pg_statistic_ext'::regclass, oid, stxnamespace FROM pg_statistic_ext
    UNION ALL SELECT 'pg_collation'::regclass, oid, collnamespace FROM pg_collation
    UNION ALL SELECT 'pg_ts_config'::regclass, oid, cfgnamespace FROM pg_ts_config
    UNION ALL SELECT 'pg_default_acl'::regclass, oid, defaclnamespace FROM pg_default_acl
    UNION ALL SELECT 'pg_namespace'::regclass, oid, oid FROM pg_namespace)
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) || ' -> '
       || pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
  FROM pg_depend d
  JOIN objs o ON o.cls = d.classid AND o.oid = d.objid
  JOIN objs r ON r.cls = d.refclassid AND r.oid = d.refobjid, ns
 WHERE (o.nsp = ns.a AND r.nsp = ns.b) OR (o.nsp = ns.b AND r.nsp = ns.a)
 ORDER BY 1;
SQL
}

# renamed FROM TO: stdin with every FROM, quoted ("a""b") or bare, made TO.
renamed() {
    FROM=$1 TO=$2 perl -pe '
        BEGIN {
            ($f, $t) = @ENV{qw(FROM TO)};
            ($qf, $qt) = map { (my $x = $_) =~ s/"/""/g; qq{"$x"} } $f, $t;
        }
        s/\Q$qf\E/$qt/g;
        s/\Q$f\E/$t/g;'
}

# t_absent TEXT NEEDLE NAME: NEEDLE (a fixed string) does not occur in TEXT.
t_absent() {
    if [[ $1 != *"$2"* ]]; then
        t_pass "$3"
    else
        t_fail "$3" "$(grep -nF -- "$2" <<<"$1" | head -5)"
    fi
}

# no_leftovers NAME: no schema renamed aside and no scratch database remain.
no_leftovers() {
    t_is "$(pg_psql -d "$DB" -c "SELECT string_agg(nspname, ', ') FROM pg_namespace WHERE nspname LIKE '%coffer_old%'")" \
        "" "$1: no schema left renamed aside"
    t_is "$(pg_psql -c "SELECT string_agg(datname, ', ') FROM pg_database WHERE datname LIKE 'coffer_%'")" \
        "" "$1: no scratch database left"
}

# ---------------------------------------------------------------- backup

T0=$SECONDS
t_ok "init" "$COFFER" init
t_ok "backup" "$COFFER" backup
t_like "$T_OUT" "snapshot [0-9a-f]{64}" "  ... names the snapshot"
# a tenant with a partitioned table: tenants and info count the same tables
t_ok "coffer tenants --json" "$COFFER" tenants --json
tenants_count=$(jq '.[] | select(.name == "tenant_blank") | .tables' <<<"$T_OUT")
t_ok "coffer info latest --tenant tenant_blank --json" "$COFFER" info latest --tenant tenant_blank --json
info_count=$(jq '[.. | objects | select(.name? == "tenant_blank") | .tables] | first | if type == "array" then length else . end' <<<"$T_OUT")
t_like "$tenants_count" "^[1-9][0-9]*$" "  ... tenants counts tenant_blank's tables ($tenants_count)"
t_is "$tenants_count" "$info_count" "  ... tenants and info agree on tenant_blank's tables (a partitioned one among them)"

FULL0=$(fulldump "$DB")
declare -A DUMP0 DATA0 SEQ0 FACTS0 STATE0
for s in "$rich" "$hostile" tenant_blank tenant_empty central public; do
    DUMP0[$s]=$(sdump "$DB" "$s")
    DATA0[$s]=$(sdata "$DB" "$s")
    SEQ0[$s]=$(sseq "$DB" "$s")
    FACTS0[$s]=$(facts "$DB" "$s")
done
for s in "$rich" "$hostile" tenant_blank; do STATE0[$s]=$(state "$DB" "$s"); done
t_same "${STATE0[$rich]}" "${DUMP0[$rich]}
${DATA0[$rich]}
${SEQ0[$rich]}
${FACTS0[$rich]}" "baseline: state() is the dump, rows, sequences and catalog facts together"
# the baselines are not vacuous
t_like "${DUMP0[$rich]}" 'CREATE TABLE tenant_rich\.events_2024_h1' "baseline: the rich tenant's dump has its partitions"
t_like "${DATA0[$rich]}" $'(^|\n)blobs 4 ' "baseline: blobs has 4 rows"
t_like "${DATA0[$rich]}" $'(^|\n)customers 196 ' "baseline: customers has 196 rows"
t_like "${DATA0[$hostile]}" $'(^|\n)Ordérs "Q" 40 ' "baseline: the hostile tenant has its rows"
t_like "${FACTS0[$rich]}" 'trigger orders orders_audit A' "baseline: an ENABLE ALWAYS trigger"
t_like "${FACTS0[$rich]}" 'trigger bookings bookings_never D' "baseline: a disabled trigger"
t_like "${FACTS0[$rich]}" 'rel event_counts m populated=false' "baseline: a materialized view WITH NO DATA"
t_is "$(pg_psql -d "$DB" -c "SELECT octet_length(body) > 2000000 AND octet_length(raw) > 1000000 AND pg_column_size(doc) > 100000 FROM tenant_rich.blobs WHERE blob_id = 1")" \
    t "baseline: multi-MB text and bytea values, a large jsonb"

# ---------------------------------------------------------------- (a) --as

new=restored_rich
t_ok "(a) restore --as beside the live tenant" "$COFFER" restore --tenant "$rich" --as "$new"
t_like "$T_OUT" "restored \"$rich\" into schema \"$new\" of database $DB: 15 tables, [0-9]+ rows, .*verified" \
    "  ... and says so"
dump_new=$(sdump "$DB" "$new")
t_like "$dump_new" "CREATE TABLE $new\.customers" "  ... the copy exists under the new name"
t_absent "$dump_new" "$rich" "  ... its dump never names the original schema"
t_absent "${DUMP0[$rich]}" "$new" "  ... nor the original's the copy"
t_same "$(renamed "$new" "$rich" <<<"$dump_new")" "${DUMP0[$rich]}" \
    "  ... pg_dump --schema-only equals the original's but for the schema name"
t_same "$(sdata "$DB" "$new")" "${DATA0[$rich]}" "  ... every table's rows are the same"
t_same "$(sseq "$DB" "$new")" "${SEQ0[$rich]}" "  ... sequences are where they were"
t_same "$(facts "$DB" "$new" | renamed "$new" "$rich")" "${FACTS0[$rich]}" \
    "  ... populated materialized views, RLS, trigger states, policies, comment, grants, default privileges"
t_is "$(crossdeps "$DB" "$new" "$rich")" "" "  ... self-contained: no dependency between the copy and the original"
t_is "$(pg_psql -d "$DB" -c "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c
        WHERE c.relnamespace = '$new'::regnamespace AND c.relkind = 'r' AND c.reltuples > 0
          AND NOT EXISTS (SELECT FROM pg_statistic s WHERE s.starelid = c.oid)")" "" \
    "  ... every table that has rows was analyzed"
t_like "$(pg_psql -d "$DB" -c "SELECT count(*) FROM pg_class c WHERE c.relnamespace = '$new'::regnamespace
        AND c.relkind = 'r' AND c.reltuples > 0")" '^([5-9]|1[0-5])$' "  ... (most of its 15 tables have rows)"
t_like "$(crossdeps "$DB" "$new" central)" "constraint customers_plan_id_fkey on table $new\.customers -> column plan_id of table central\.plans" \
    "  ... (the same query does see its foreign keys into the shared schema)"
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = '$new'::regnamespace")" \
    4 "  ... its 4 RLS policies exist"
t_is "$(pg_psql -d "$DB" -c "SELECT has_table_privilege('coffer_test_reader', '$new.customers', 'SELECT'), has_column_privilege('coffer_test_writer', '$new.customers', 'name', 'UPDATE'), has_column_privilege('coffer_test_writer', '$new.customers', 'email', 'UPDATE'), obj_description('$new'::regnamespace, 'pg_namespace') LIKE 'The rich tenant:%'")" \
    "t|t|f|t" "  ... grants (table and column) and the schema comment are on the copy"
# the copy works on its own: defaults, identity, triggers use its objects
before_orig=$(pg_psql -d "$DB" -c "SELECT (SELECT last_value FROM tenant_rich.invoice_no) || '/' || (SELECT count(*) FROM tenant_rich.audit_log)")
t_ok "  ... an order can be inserted into the copy" pg_psql -d "$DB" -c \
    "INSERT INTO $new.orders (customer_id, quantity, unit_price, placed_at) VALUES (100, 2, 3.50, '2025-01-01')"
t_is "$(pg_psql -d "$DB" -c "SELECT invoice_no || ' ' || total || ' ' || order_id FROM $new.orders WHERE placed_at = '2025-01-01'")" \
    "8119 7.00 5005" "  ... taking the copy's invoice number, identity and generated total"
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM $new.audit_log WHERE op IN ('INSERT', 'BATCH') AND logged_at = '2024-06-01' AND log_id > 1376")" \
    2 "  ... its triggers write the copy's audit_log"
t_is "$(pg_psql -d "$DB" -c "SELECT (SELECT last_value FROM tenant_rich.invoice_no) || '/' || (SELECT count(*) FROM tenant_rich.audit_log)")" \
    "$before_orig" "  ... and the original's sequence and audit_log did not move"
t_same "$(state "$DB" "$rich")" "${STATE0[$rich]}" "  ... the original is untouched"
no_leftovers "(a)"

# ---------------------------------------------------------------- (b) in place

others=("$hostile" tenant_blank tenant_empty central public "$new")
declare -A OTHER0
for s in "${others[@]}"; do OTHER0[$s]=$(state "$DB" "$s"); done

pg_psql -d "$DB" <<'SQL' >/dev/null || t_bail "cannot damage tenant_rich"
DELETE FROM tenant_rich.customers WHERE customer_id % 5 = 1;
UPDATE tenant_rich.specials SET t = 'damaged', b = NULL;
UPDATE tenant_rich.blobs SET body = 'damaged' WHERE blob_id = 1;
DROP TABLE tenant_rich.sessions;
DROP VIEW tenant_rich.big_spenders;
ALTER TABLE tenant_rich.orders DISABLE TRIGGER orders_batch;
SELECT nextval('tenant_rich.invoice_no');
COMMENT ON SCHEMA tenant_rich IS 'damaged';
REVOKE SELECT ON tenant_rich.customers FROM coffer_test_reader;
SQL
damaged_customers=$(pg_psql -d "$DB" -c "SELECT count(*) FROM tenant_rich.customers")
t_isnt "$(sdump "$DB" "$rich")" "${DUMP0[$rich]}" "(b) the damage shows in the dump"

t_exit 1 "(b) restore in place without --clean refuses" "$COFFER" restore --tenant "$rich"
t_like "$T_ERR" "already exists" "  ... because the schema exists"
t_ok "(b) restore in place with --clean --yes" "$COFFER" restore --tenant "$rich" --clean --yes
t_like "$T_OUT" 'safety backup: snapshot [0-9a-f]{64}' "  ... after a safety backup"
safety=$(grep -oE 'safety backup: snapshot [0-9a-f]{64}' <<<"$T_OUT" | awk '{print $4}')
t_same "$(sdump "$DB" "$rich")" "${DUMP0[$rich]}" "  ... pg_dump --schema-only equals the pre-damage one"
t_same "$(sdata "$DB" "$rich")" "${DATA0[$rich]}" "  ... every table's rows are the pre-damage ones"
t_same "$(sseq "$DB" "$rich")" "${SEQ0[$rich]}" "  ... sequences are back"
t_same "$(facts "$DB" "$rich")" "${FACTS0[$rich]}" "  ... trigger states, RLS, comment and grants are back"
for s in "${others[@]}"; do
    t_same "$(state "$DB" "$s")" "${OTHER0[$s]}" "  ... schema \"$s\" is byte-identical (dump, data, sequences)"
done
no_leftovers "(b)"
t_ok "(b) the safety backup restores beside the tenant" \
    "$COFFER" restore --snapshot "$safety" --tenant "$rich" --as rich_damaged
t_is "$(pg_psql -d "$DB" -c "SELECT (SELECT count(*) FROM rich_damaged.customers) || ' ' || (to_regclass('rich_damaged.sessions') IS NULL)")" \
    "$damaged_customers true" "  ... and holds the damaged state it replaced"
pg_psql -d "$DB" -c "SET client_min_messages = warning" -c "DROP SCHEMA rich_damaged CASCADE" >/dev/null

# ---------------------------------------------------------------- (c) --into-db

t_ok "(c) restore --into-db a new database" "$COFFER" restore --tenant "$rich" --into-db fid_copy
t_like "$T_ERR" 'shared schema "central" is missing in "fid_copy" and is restored too' \
    "  ... bringing the shared schema it references"
t_same "$(sdump fid_copy "$rich")" "${DUMP0[$rich]}" "  ... the tenant's dump equals the original's"
t_same "$(sdata fid_copy "$rich")" "${DATA0[$rich]}" "  ... its rows are the same"
t_same "$(sseq fid_copy "$rich")" "${SEQ0[$rich]}" "  ... its sequences are the same"
t_same "$(sdump fid_copy central)$(sdata fid_copy central)" "${DUMP0[central]}${DATA0[central]}" \
    "  ... the shared schema arrived whole"
t_is "$(pg_psql -d fid_copy -c "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname !~ '^(pg_|information_schema)'")" \
    "central,public,tenant_rich" "  ... and no other tenant"
t_is "$(pg_psql -d fid_copy -c "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'citext'")" \
    public "  ... the extension its types need is there"
t_exit 1 "  ... a foreign key into the shared schema rejects an unknown plan" \
    pg_psql -d fid_copy -c "INSERT INTO tenant_rich.customers (email, name, plan_id) VALUES ('fk@x.example', 'fk', 99)"
t_like "$T_ERR" 'violates foreign key constraint "customers_plan_id_fkey"' "  ... naming the constraint"
t_ok "  ... and accepts a known one" \
    pg_psql -d fid_copy -c "INSERT INTO tenant_rich.customers (email, name, plan_id) VALUES ('fk@x.example', 'fk', 2)"
t_is "$(pg_psql -d fid_copy -c "SELECT plan FROM tenant_rich.customer_plans WHERE name = 'fk'")" pro \
    "  ... and the view joining the shared schema sees it"

# ---------------------------------------------------------------- (d) --data-only

pg_psql -d "$DB" <<'SQL' >/dev/null || t_bail "cannot damage tenant_rich's data"
DELETE FROM tenant_rich.orders WHERE order_id % 3 = 0;
DELETE FROM tenant_rich.events WHERE event_id % 5 = 0;
UPDATE tenant_rich.specials SET t = 'damaged';
INSERT INTO tenant_rich.empty_things (label) VALUES ('junk');
UPDATE tenant_rich.notes SET body = 'x' WHERE note_id = 2;
SQL
t_ok "(d) restore --data-only --clean into the existing tables" \
    "$COFFER" restore --tenant "$rich" --data-only --clean --yes
t_same "$(sdata "$DB" "$rich")" "${DATA0[$rich]}" \
    "  ... every table's rows are back (the ALWAYS trigger did not log the load)"
t_same "$(sseq "$DB" "$rich")" "${SEQ0[$rich]}" "  ... sequences are back (the unused one restarted)"
t_same "$(sdump "$DB" "$rich")" "${DUMP0[$rich]}" \
    "  ... the DDL is as it was (NOT VALID checks and their comments, trigger states)"

pg_psql -d "$DB" -c "DELETE FROM tenant_rich.specials; DELETE FROM tenant_rich.orders" >/dev/null ||
    t_bail "cannot empty two tables"
data_before=$(sdata "$DB" "$rich")
seq_before=$(sseq "$DB" "$rich")
t_ok "(d) restore --data-only --table into two emptied tables" \
    "$COFFER" restore --tenant "$rich" --data-only --table specials --table orders
t_like "$T_OUT" ': 2 tables, 1000 rows' "  ... loading just those two"
data_after=$(sdata "$DB" "$rich")
seq_after=$(sseq "$DB" "$rich")
t_same "$(grep -E '^(specials|orders) ' <<<"$data_after")" "$(grep -E '^(specials|orders) ' <<<"${DATA0[$rich]}")" \
    "  ... their rows are back"
t_same "$(grep -Ev '^(specials|orders) ' <<<"$data_after")" "$(grep -Ev '^(specials|orders) ' <<<"$data_before")" \
    "  ... the other tables were left alone"
t_is "$(grep -E '^(invoice_no|orders_order_id_seq) ' <<<"$seq_after")" "$(grep -E '^(invoice_no|orders_order_id_seq) ' <<<"${SEQ0[$rich]}")" \
    "  ... the selected table's sequences are back"
t_is "$(grep -Ev '^(invoice_no|orders_order_id_seq) ' <<<"$seq_after")" "$(grep -Ev '^(invoice_no|orders_order_id_seq) ' <<<"$seq_before")" \
    "  ... the other sequences were not moved back"
t_ok "  ... and new rows still get fresh keys everywhere" pg_psql -d "$DB" -c \
    "INSERT INTO tenant_rich.orders (customer_id, quantity, unit_price, placed_at) VALUES (100, 1, 1, '2025-02-02')"

data_before=$(sdata "$DB" "$rich")
t_exit 1 "(d) --data-only --clean --table of a referenced table refuses" \
    "$COFFER" restore --tenant "$rich" --data-only --clean --yes --table customers
t_like "$T_ERR" 'referenced|foreign key' "  ... because other tables reference it"
t_same "$(sdata "$DB" "$rich")" "$data_before" "  ... and changes nothing"

t_ok "(d) --data-only --clean puts the whole tenant back again" \
    "$COFFER" restore --tenant "$rich" --data-only --clean --yes
t_same "$(sdata "$DB" "$rich")" "${DATA0[$rich]}" "  ... every table's rows are back"
t_exit 1 "(d) --data-only into a schema that does not exist fails" \
    "$COFFER" restore --tenant "$rich" --as no_such_schema --data-only
t_like "$T_ERR" 'needs the target schema "no_such_schema" to exist' "  ... saying why"

# ---------------------------------------------------------------- (e) hostile names

hnew='restored "Ünï"; DROP--x'
t_ok "(e) the hostile tenant restores --as a hostile name" "$COFFER" restore --tenant "$hostile" --as "$hnew"
dump_hnew=$(sdump "$DB" "$hnew")
t_like "$dump_hnew" 'CREATE TABLE "restored ""Ünï""; DROP--x"\."Ordérs ""Q"""' "  ... quoted names come back"
t_absent "$dump_hnew" "DROP--東x𝄞Zoë" "  ... its dump never names the original schema"
t_same "$(renamed "$hnew" "$hostile" <<<"$dump_hnew")" "${DUMP0[$hostile]}" \
    "  ... pg_dump --schema-only equals the original's but for the schema name"
t_same "$(sdata "$DB" "$hnew")" "${DATA0[$hostile]}" "  ... every table's rows are the same"
t_same "$(sseq "$DB" "$hnew")" "${SEQ0[$hostile]}" "  ... sequences are the same"
t_same "$(facts "$DB" "$hnew" | renamed "$hnew" "$hostile")" "${FACTS0[$hostile]}" "  ... comment and grants too"
t_is "$(crossdeps "$DB" "$hnew" "$hostile")" "" "  ... self-contained"

rich_state=$(state "$DB" "$rich")
pg_psql -d "$DB" -v s="$hostile" <<'SQL' >/dev/null || t_bail "cannot damage the hostile tenant"
DELETE FROM :"s"."Líneas; DROP TABLE x; --" WHERE "Línea" = 2;
DROP TABLE :"s"."select";
SELECT nextval(format('%I.%I', :'s', 'Séq "Q"'));
SQL
t_ok "(e) the hostile tenant restores in place with --clean" "$COFFER" restore --tenant "$hostile" --clean --yes
t_same "$(state "$DB" "$hostile")" "${STATE0[$hostile]}" "  ... dump, rows, sequences, comment and grants are back"
t_same "$(state "$DB" "$rich")" "$rich_state" \
    "  ... tenant_rich, whose name plus a space starts the hostile one, is untouched"
no_leftovers "(e)"

# ---------------------------------------------------------------- (f) empty

t_ok "(f) the empty tenant restores --as" "$COFFER" restore --tenant tenant_empty --as empty_copy
t_same "$(sdump "$DB" empty_copy | renamed empty_copy tenant_empty)" "${DUMP0[tenant_empty]}" \
    "  ... an empty schema, equal to the original"
t_ok "(f) the empty tenant restores in place" "$COFFER" restore --tenant tenant_empty --clean --yes
t_same "$(sdump "$DB" tenant_empty)" "${DUMP0[tenant_empty]}" "  ... still there, still empty"
t_ok "(f) the tenant of empty tables restores --as" "$COFFER" restore --tenant tenant_blank --as blank_copy
t_like "$T_OUT" ': 3 tables, 0 rows' "  ... three empty tables"
t_same "$(sdump "$DB" blank_copy | renamed blank_copy tenant_blank)" "${DUMP0[tenant_blank]}" \
    "  ... pg_dump --schema-only equals the original's but for the schema name"
t_same "$(sdata "$DB" blank_copy)$(sseq "$DB" blank_copy)" "${DATA0[tenant_blank]}${SEQ0[tenant_blank]}" \
    "  ... no rows, sequences never used"
t_same "$(facts "$DB" blank_copy | renamed blank_copy tenant_blank)" "${FACTS0[tenant_blank]}" \
    "  ... its materialized view is populated (and empty)"
pg_psql -d "$DB" -c "INSERT INTO tenant_blank.accounts (name, plan_id) VALUES ('x', 1)" >/dev/null
t_ok "(f) the tenant of empty tables restores in place" "$COFFER" restore --tenant tenant_blank --clean --yes
t_same "$(state "$DB" tenant_blank)" "${STATE0[tenant_blank]}" "  ... empty again, its identity unused again"

# ---------------------------------------------------------------- (g) --all --into-db

t_ok "(g) restore --all --into-db a new database" "$COFFER" restore --all --into-db fid_all
t_same "$(fulldump fid_all)" "$FULL0" "  ... pg_dump --schema-only of the whole database equals the original's"
for s in "$rich" "$hostile" tenant_blank tenant_empty central public; do
    t_same "$(sdata fid_all "$s")" "${DATA0[$s]}" "  ... rows of \"$s\" are the same"
done
t_same "$(sseq fid_all "$rich")" "${SEQ0[$rich]}" "  ... sequences of tenant_rich are the same"

# ---------------------------------------------------------------- (h) --all --clean

for s in "$new" "$hnew" empty_copy blank_copy; do
    pg_psql -d "$DB" -v s="$s" <<<'SET client_min_messages = warning; DROP SCHEMA :"s" CASCADE' ||
        t_bail "cannot drop schema $s"
done
pg_psql -d "$DB" <<'SQL' >/dev/null || t_bail "cannot damage the database"
INSERT INTO central.plans VALUES (4, 'extra', 1);
DELETE FROM tenant_rich.customers WHERE customer_id BETWEEN 130 AND 160;
DELETE FROM "tenant_rich Ünï ""Q""; DROP--東x𝄞Zoë"."Ordérs ""Q""";
INSERT INTO tenant_blank.accounts (name, plan_id) VALUES ('y', 4);
SQL
t_ok "(h) restore --all --clean --yes in place" "$COFFER" restore --all --clean --yes
t_unlike "$T_ERR" 'warning' "  ... with no warning"
t_same "$(fulldump "$DB")" "$FULL0" "  ... pg_dump --schema-only of the whole database equals the original's"
for s in "$rich" "$hostile" tenant_blank tenant_empty central public; do
    t_same "$(sdata "$DB" "$s")" "${DATA0[$s]}" "  ... rows of \"$s\" are back"
done
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM information_schema.columns WHERE udt_name = 'citext' OR domain_name IN ('email', 'tags')")" \
    "$(pg_psql -d fid_all -c "SELECT count(*) FROM information_schema.columns WHERE udt_name = 'citext' OR domain_name IN ('email', 'tags')")" \
    "  ... the extension in public and every column of its types survived"
no_leftovers "(h)"

t_diag "020_fidelity_schema: $((SECONDS - T0)) s"
t_done
