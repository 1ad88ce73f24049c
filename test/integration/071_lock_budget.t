#!/usr/bin/env bash
# Many tenant schemas on a server whose shared lock table is small: one
# pg_dump of the database runs out of shared memory there, and so did a
# backup that read every table's size, sequence or DDL in one transaction.
# The backup keeps to its lock budget and succeeds; every tenant is in the
# snapshot and restores row for row; a budget too small for one tenant
# still backs it up, with a warning; and when another session holds much of
# the lock table, the backup takes less, and that session's work goes on.
. "$(dirname "$0")/../lib/pg.sh"

# 10 x (20 + 0) = 200 lock slots by the settings (the server adds some for
# its own processes): 250 tenants of 4 tables do not fit in one transaction
pg_start "max_locks_per_transaction = 10" "max_connections = 20" ||
    t_bail "cannot start PostgreSQL"

DB=many_schemas
n=250
pg_psql -c "CREATE DATABASE $DB" >/dev/null || t_bail "cannot create $DB"
{
    echo "CREATE SCHEMA central; CREATE TABLE central.plans (id int PRIMARY KEY, name text);"
    echo "INSERT INTO central.plans VALUES (1, 'basic'), (2, 'pro');"
    for i in $(seq -w 1 $n); do
        s="tenant_$i"
        echo "CREATE SCHEMA $s;"
        echo "CREATE TABLE $s.users (id serial PRIMARY KEY, email text NOT NULL, plan int REFERENCES central.plans);"
        echo "CREATE TABLE $s.orders (id bigserial PRIMARY KEY, user_id int REFERENCES $s.users, total numeric(10,2));"
        echo "CREATE TABLE $s.events (id bigint, kind text, at timestamptz DEFAULT '2026-01-01');"
        echo "CREATE TABLE $s.notes (id int PRIMARY KEY, body text);"
        echo "INSERT INTO $s.users (email, plan) SELECT 'u' || g || '@$s.test', 1 + g % 2 FROM generate_series(1, 5) g;"
        echo "INSERT INTO $s.orders (user_id, total) SELECT 1 + g % 5, g * 1.5 FROM generate_series(1, 7) g;"
        echo "INSERT INTO $s.events SELECT g, 'k' || (g % 3) FROM generate_series(1, 4) g;"
    done
} | pg_psql -q -d "$DB" >/dev/null 2>"$T_TMP/load.err" || t_bail "cannot load: $(head -3 "$T_TMP/load.err")"

t_run pg_dump --schema-only -d "$DB" -f /dev/null
t_like "$T_ERR" 'out of shared memory' "one pg_dump of the database runs out of shared memory on this server"

export COFFER_PASSPHRASE="lock budget"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
write_config() {
    cat >"$COFFER_CONFIG" <<YAML
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=$DB user=postgres"
$1
tenancy:
  model: schema
  shared: [central, public]
  discover:
    pattern: "tenant_%"
repository:
  path: $T_TMP/repo
YAML
}
write_config ""

t_ok "init" "$COFFER" init
t_ok "coffer tenants measures $n tenants" "$COFFER" tenants --json
t_is "$(jq '[.[] | select(.shared | not)] | length' <<<"$T_OUT")" "$n" "  ... all of them"
t_is "$(jq '[.[] | select(.name == "tenant_007")][0].tables' <<<"$T_OUT")" 4 \
    "  ... with their tables counted"

t_ok "backup of $n tenants within the lock budget" "$COFFER" backup -j 2 --json
t_is "$(jq '.tenants' <<<"$T_OUT")" "$n" "  ... every tenant is in the snapshot"
t_unlike "$T_ERR" 'out of shared memory' "  ... and the server never ran out of lock memory"
t_ok "an unchanged re-backup" "$COFFER" backup -j 2 --json
t_is "$(jq '.bytes_added < 4096' <<<"$T_OUT")" true \
    "  ... stores next to nothing: the tenants' DDL is the same bytes as before ($(jq .bytes_added <<<"$T_OUT") bytes added)"

rows() {
    pg_psql -d "$DB" <<SQL
SELECT (SELECT count(*) || ':' || md5(string_agg(u::text, ',' ORDER BY u.id)) FROM $1.users u) || ' ' ||
       (SELECT count(*) || ':' || md5(string_agg(o::text, ',' ORDER BY o.id)) FROM $1.orders o) || ' ' ||
       (SELECT count(*) || ':' || md5(string_agg(e::text, ',' ORDER BY e.id)) FROM $1.events e) || ' ' ||
       (SELECT count(*) FROM $1.notes)
SQL
}
want=$(rows tenant_123)
t_ok "restore one tenant beside the live one" "$COFFER" restore --tenant tenant_123 --as t123_copy --yes
t_is "$(rows t123_copy)" "$want" "  ... row for row"
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM pg_constraint WHERE connamespace = 't123_copy'::regnamespace AND contype = 'f'")" 2 \
    "  ... with its foreign keys"

pg_psql -d "$DB" -c "DELETE FROM tenant_200.orders; INSERT INTO tenant_200.notes VALUES (1, 'later')" >/dev/null
t_ok "restore --clean of a tenant changed since" "$COFFER" restore --tenant tenant_200 --clean --yes
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM tenant_200.orders")" 7 "  ... the snapshot's rows are back"
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM tenant_200.notes")" 0 "  ... and the later row is gone"

# a budget smaller than one tenant's tables: each is dumped alone, with a warning
write_config "  lock_budget: 3"
t_ok "backup with lock_budget 3 (each tenant has 4 tables)" "$COFFER" backup --tenant tenant_001 --tenant tenant_002 --json
t_is "$(jq '.tenants' <<<"$T_OUT")" 2 "  ... both tenants are in the snapshot"
t_like "$T_ERR" 'tenant "tenant_001" has 4 tables, more than the 3 locks' "  ... and a warning says why it took more"
write_config ""

# another session holds most of what the backup would take: it takes less,
# and that session's transaction still commits
{
    echo "BEGIN;"
    for i in $(seq -w 1 40); do
        echo "LOCK TABLE tenant_0$i.users, tenant_0$i.orders, tenant_0$i.events, tenant_0$i.notes IN ACCESS SHARE MODE;"
    done
    echo "SELECT pg_sleep(6);"
    echo "INSERT INTO tenant_001.notes VALUES (99, 'the application is fine');"
    echo "COMMIT;"
} >"$T_TMP/app.sql"
pg_psql -d "$DB" -v ON_ERROR_STOP=1 -f "$T_TMP/app.sql" >"$T_TMP/app.out" 2>&1 &
app=$!
sleep 1.5
t_ok "backup while another session holds 160 locks" "$COFFER" backup -j 2 --json
t_is "$(jq '.tenants' <<<"$T_OUT")" "$n" "  ... every tenant is in the snapshot"
t_like "$T_ERR" "lock table is [0-9]+% full: taking at most" "  ... and it took fewer locks at once"
rc=0
wait "$app" || rc=$?
t_is "$rc" 0 "  ... the other session's transaction committed" || t_diag "$(cat "$T_TMP/app.out")"
t_is "$(pg_psql -d "$DB" -c "SELECT body FROM tenant_001.notes WHERE id = 99")" "the application is fine" \
    "  ... with its row"

t_ok "the repository is clean" "$COFFER" check
t_done
