#!/usr/bin/env bash
# restore --as onto another tenant's name replaces that tenant: it needs
# --yes even on a terminal, says so, and its safety backup holds the
# tenant it replaces (not the one restored), which restores back.
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

DB=saas_schema
export COFFER_PASSPHRASE="as other"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
schema_model_config "$COFFER_CONFIG" "$DB" "$T_TMP/repo"
orders() { pg_psql -d "$DB" -c "SELECT count(*) FROM \"$1\".orders"; }

t_ok "init" "$COFFER" init
t_ok "backup" "$COFFER" backup
t_is "$(orders tenant_globex)" 16 "tenant_globex has 16 orders"
t_exit 2 "restore tenant_acme --as tenant_globex --clean without --yes is refused" \
    "$COFFER" restore --tenant tenant_acme --as tenant_globex --clean
t_like "$T_ERR" 'replaces tenant "tenant_globex", another tenant than the one restored' \
    "  ... saying which tenant it would replace"
t_is "$(orders tenant_globex)" 16 "  ... and tenant_globex is untouched"
t_ok "with --yes it runs" "$COFFER" restore --tenant tenant_acme --as tenant_globex --clean --yes
t_like "$T_ERR" 'replaces tenant "tenant_globex"' "  ... and warns"
safety=$(sed -n 's/^safety backup: snapshot \([0-9a-f]*\)$/\1/p' <<<"$T_OUT")
t_like "$safety" '^[0-9a-f]{64}$' "  ... after a safety backup"
t_is "$(orders tenant_globex)" 10 "  ... tenant_globex now holds tenant_acme's 10 orders"
t_ok "the safety backup holds tenant_globex" "$COFFER" info "$safety" --tenant tenant_globex --json
t_is "$(jq '.tables[] | select(.name == "orders") | .rows' <<<"$T_OUT")" 16 \
    "  ... with its 16 orders, as they were"
t_ok "  ... and restores it" \
    "$COFFER" restore --tenant tenant_globex --snapshot "$safety" --as globex_back
t_is "$(orders globex_back)" 16 "  ... with its 16 orders"
t_done
