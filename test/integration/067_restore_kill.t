#!/usr/bin/env bash
# SIGKILL at any point of "restore --clean": nothing in the process can
# run, so the swap journal in the repository is what puts things right.
# After each kill, "coffer restore --recover" puts the live tenant back
# under its own name with its rows (or, when the restore had committed,
# finishes it); no aside schema is left and "coffer tenants" lists none.
. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

DB=saas_schema
export COFFER_PASSPHRASE=interrupt-test
export COFFER_CONFIG="$T_TMP/coffer.yaml"
export TMPDIR="$T_TMP/tmp"
mkdir -p "$TMPDIR"
cat >"$COFFER_CONFIG" <<EOF
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=$DB user=postgres"
tenancy:
  model: schema
  shared: [central, parametros, public]
  discover:
    pattern: "tenant_%"
repository:
  path: $T_TMP/repo
EOF

pg_psql -d "$DB" <<'SQL' >/dev/null || t_bail "cannot load tenant_big"
CREATE SCHEMA tenant_big;
CREATE TABLE tenant_big.events (id bigserial PRIMARY KEY, account integer NOT NULL, payload text NOT NULL);
CREATE INDEX ON tenant_big.events (account);
INSERT INTO tenant_big.events (account, payload)
    SELECT g % 1000, md5(g::text) || repeat('x', 60) FROM generate_series(1, 300000) g;
SQL

# fingerprint: row count and md5 of the rows of tenant_big.events.
fingerprint() {
    pg_psql -d "$DB" <<'SQL'
SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, E'\n' ORDER BY r::text COLLATE "C"), ''))
  FROM tenant_big.events r
SQL
}
leftover_schemas() { pg_psql -d "$DB" <<<"SELECT count(*) FROM pg_namespace WHERE nspname ~ '_coffer_old_|^big_copy$'"; }
scratch_dbs() { pg_psql <<<"SELECT count(*) FROM pg_database WHERE datname LIKE 'coffer_scratch_%'"; }
wait_for_query() {
    local i n
    for ((i = 0; i < 400; i++)); do
        n=$(pg_psql -v re="$1" <<<"SELECT count(*) FROM pg_stat_activity
            WHERE state = 'active' AND query ~ :'re' AND pid <> pg_backend_pid()" 2>/dev/null)
        [ "${n:-0}" -gt 0 ] && return 0
        sleep 0.05
    done
    return 1
}

t_ok "init" "$COFFER" init
t_ok "backup" "$COFFER" backup --tenant tenant_big
# the live tenant now differs from the snapshot: what must survive is this
pg_psql -d "$DB" <<<"DELETE FROM tenant_big.events WHERE id % 10 = 0" >/dev/null
live=$(fingerprint)
t_like "$live" '^270000 ' "the live tenant has 270,000 rows, the snapshot 300,000"

# killed SIG WHEN: start a restore --clean, wait for WHEN, kill -9 it,
# recover, and check what is left.
killed() {
    local when=$1 pid
    "$COFFER" restore --tenant tenant_big --clean --yes >"$T_TMP/out" 2>"$T_TMP/err" &
    pid=$!
    case $when in
    sleep:*) sleep "${when#sleep:}" ;;
    *) wait_for_query "$when" || t_diag "never saw a query matching $when" ;;
    esac
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    t_ok "kill -9 at $when: restore --recover" "$COFFER" restore --recover
    t_like "$T_OUT" '^[01] interrupted restores? put right$' "  ... says how many it put right"
    [ "${T_OUT%% *}" = 1 ] && recovered=$((recovered + 1))
    got=$(fingerprint)
    if [ "${got%% *}" = 300000 ]; then
        t_pass "  ... the restore had committed: it was finished"
        pg_psql -d "$DB" <<<"DELETE FROM tenant_big.events WHERE id % 10 = 0" >/dev/null
    else
        t_is "$got" "$live" "  ... the live tenant has its rows, under its name"
    fi
    t_is "$(leftover_schemas)" 0 "  ... no aside schema or partial copy is left"
    t_ok "  ... coffer tenants runs" "$COFFER" tenants --json
    t_unlike "$T_OUT" '_coffer_old_' "  ... and lists no leftover"
    t_ok "  ... and the repository is clean" "$COFFER" check
}

recovered=0
for when in '^COPY "tenant_big"\."events" FROM STDIN' 'CREATE INDEX' sleep:0.3 sleep:0.6 sleep:0.9; do
    killed "$when"
done

t_like "$recovered" '^[2-5]$' "at least 2 of the 5 kills left a swap to put right ($recovered)"

# a kill the next restore puts right by itself, before it starts
"$COFFER" restore --tenant tenant_big --clean --yes >/dev/null 2>&1 &
pid=$!
wait_for_query '^COPY "tenant_big"\."events" FROM STDIN' || t_diag "never saw the COPY"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
t_ok "after another kill -9, the next restore runs" "$COFFER" restore --tenant tenant_big --as big_after
t_like "$T_ERR" 'put back schema "tenant_big" after an interrupted restore' "  ... and first puts the live tenant back"
t_is "$(fingerprint)" "$live" "  ... with its rows"
t_is "$(pg_psql -d "$DB" <<<"SELECT count(*) FROM pg_namespace WHERE nspname ~ '_coffer_old_'")" 0 \
    "  ... and no aside schema is left"
t_done
