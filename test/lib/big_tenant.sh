# test/lib/big_tenant.sh - the setup the interrupt tests share: the schema
# model fixture with a tenant large enough (300,000 rows) that a restore
# takes a second or two, a repository with one backup of it, and the live
# tenant changed since (270,000 rows), which is what must survive.
# Source after pg.sh and config.sh; sets DB, COFFER_CONFIG, TMPDIR and $live.

big_tenant_setup() {
    pg_start || t_bail "cannot start PostgreSQL"
    load_fixture schema_model || t_bail "cannot load schema_model"
    DB=saas_schema
    export COFFER_PASSPHRASE=interrupt-test
    export COFFER_CONFIG="$T_TMP/coffer.yaml"
    export TMPDIR="$T_TMP/tmp"
    mkdir -p "$TMPDIR"
    schema_model_config "$COFFER_CONFIG" "$DB" "$T_TMP/repo"
    pg_psql -d "$DB" <<'SQL' >/dev/null || t_bail "cannot load tenant_big"
CREATE SCHEMA tenant_big;
CREATE TABLE tenant_big.events (id bigserial PRIMARY KEY, account integer NOT NULL, payload text NOT NULL);
CREATE INDEX ON tenant_big.events (account);
INSERT INTO tenant_big.events (account, payload)
    SELECT g % 1000, md5(g::text) || repeat('x', 60) FROM generate_series(1, 300000) g;
SQL
    t_ok "init" "$COFFER" init
    t_ok "backup" "$COFFER" backup --tenant tenant_big
    pg_psql -d "$DB" <<<"DELETE FROM tenant_big.events WHERE id % 10 = 0" >/dev/null
    live=$(fingerprint)
    t_like "$live" '^270000 ' "the live tenant has 270,000 rows, the snapshot 300,000"
}

# fingerprint: row count and md5 of the rows of tenant_big.events.
fingerprint() {
    pg_psql -d "$DB" <<'SQL'
SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, E'\n' ORDER BY r::text COLLATE "C"), ''))
  FROM tenant_big.events r
SQL
}

# Asides, copies and scratch databases a restore may leave.
leftover_schemas() { pg_psql -d "$DB" <<<"SELECT count(*) FROM pg_namespace WHERE nspname ~ '_coffer_old_|^big_copy$'"; }
scratch_dbs() { pg_psql <<<"SELECT count(*) FROM pg_database WHERE datname LIKE 'coffer_scratch_%'"; }

# wait_for_query REGEX: until an active session runs a query matching
# REGEX (at most 20 s).
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
