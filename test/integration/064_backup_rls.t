#!/usr/bin/env bash
# Row-level security never empties a table in a backup: a backup role that
# RLS policies would filter (a member of pg_read_all_data without
# BYPASSRLS) gets a failed tenant naming the table and the fix, and the
# snapshot holds no partial copy of it; with BYPASSRLS every row is saved.
. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

DB=saas_schema
export COFFER_PASSPHRASE="rls test"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
pg_psql -d "$DB" >/dev/null <<'SQL' || t_bail "cannot set up RLS"
CREATE ROLE backup_ro LOGIN IN ROLE pg_read_all_data;
ALTER TABLE tenant_acme.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_small ON tenant_acme.orders USING (order_id <= 3);
SQL
cat >"$COFFER_CONFIG" <<EOF
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=$DB user=backup_ro"
tenancy:
  model: schema
  shared: [central, parametros, public]
  discover:
    pattern: "tenant_%"
repository:
  path: $T_TMP/repo
EOF
t_ok "init" "$COFFER" init
t_exit 3 "a backup by a role that RLS filters is partial" "$COFFER" backup --json
t_like "$T_ERR" 'copy of table "tenant_acme"."orders" failed: .*row-level security' \
    "  ... naming the table"
t_like "$T_ERR" 'BYPASSRLS' "  ... and the fix"
t_is "$(jq '.failed | map(.name) | join(",")' -r <<<"$T_OUT")" tenant_acme "  ... only tenant_acme failed"
t_ok "info of that snapshot" "$COFFER" info latest --json
t_is "$(jq '[.tenants[] | select(.name == "tenant_acme")] | length' <<<"$T_OUT")" 0 \
    "  ... holds no copy of tenant_acme"
t_is "$(jq '[.tenants[] | select(.name == "tenant_globex")][0].rows' <<<"$T_OUT")" 24 \
    "  ... and all of tenant_globex (8 customers, 16 orders)"

pg_psql -d "$DB" -c "ALTER ROLE backup_ro BYPASSRLS" >/dev/null
t_ok "with BYPASSRLS the backup succeeds" "$COFFER" backup --tenant tenant_acme
t_ok "info" "$COFFER" info latest --tenant tenant_acme --json
t_is "$(jq '.tables[] | select(.name == "orders") | .rows' <<<"$T_OUT")" 10 \
    "  ... with all 10 orders, not the 3 the policy shows"
t_done
