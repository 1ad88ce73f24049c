#!/usr/bin/env bash
# coffer forget and coffer prune: forgetting a snapshot frees nothing until
# prune; prune removes only what no remaining snapshot uses, the repository
# stays clean, and the remaining snapshot still restores byte for byte.

. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

export COFFER_PASSPHRASE="prune test"
cfg="$T_TMP/coffer.yaml"
cat >"$cfg" <<YAML
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=saas_schema user=postgres"
tenancy:
  model: schema
  shared: [central, parametros]
  discover:
    pattern: "tenant_%"
repository:
  path: $T_TMP/repo
YAML
export COFFER_CONFIG=$cfg
t_ok "init" "$COFFER" init
t_ok "first backup" "$COFFER" backup --json
first=$(sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p' <<<"$T_OUT")
t_like "$first" '^[0-9a-f]{64}$' "first snapshot id"

# a change that only the first snapshot holds
pg_psql -d saas_schema -c "UPDATE tenant_acme.customers SET name = name || ' (renamed)'"
pg_psql -d saas_schema -c "INSERT INTO tenant_globex.orders (customer_id, amount, placed_at)
                           SELECT customer_id, amount, placed_at FROM tenant_globex.orders"
t_ok "second backup" "$COFFER" backup --json
second=$(sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p' <<<"$T_OUT")
want=$(pg_psql -d saas_schema -c "SELECT md5(string_agg(c::text, ',' ORDER BY c::text)) FROM tenant_acme.customers c")
# snapshots taken within the same second must still order: latest is the second one
t_ok "a third backup right away" "$COFFER" backup --json
third=$(sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p' <<<"$T_OUT")
t_ok "info latest" "$COFFER" info latest --json
t_like "$T_OUT" "\"id\": \"$third\"" "  ... is the backup just taken"
t_like "$T_OUT" '"time": "[0-9T:-]+\.[0-9]{6}Z"' "  ... whose time has microseconds"
t_ok "forget it again" "$COFFER" forget "$third"

packs_before=$(find "$T_TMP/repo/data" -type f | wc -l)
t_exit 2 "forget without an id is a usage error" "$COFFER" forget
t_like "$T_ERR" 'forget: name the snapshots to forget' "  ... says what is missing"
t_exit 1 "forget of an unknown id fails" "$COFFER" forget ffffffff
t_like "$T_ERR" 'ffffffff' "  ... and names it"
t_ok "forget the first snapshot by prefix" "$COFFER" forget "${first:0:12}"
t_like "$T_OUT" "forgot snapshot $first" "  ... prints the full id"
t_is "$(find "$T_TMP/repo/data" -type f | wc -l)" "$packs_before" "forget deletes no pack"

t_ok "prune" "$COFFER" prune --json
t_like "$T_OUT" '"packs_deleted": [1-9]|"packs_repacked": [1-9]' "  ... freed packs only the first snapshot used"
t_ok "check --read-data is clean after prune" "$COFFER" check --read-data
t_exit 1 "the forgotten snapshot is gone" "$COFFER" info "$first"

t_ok "the remaining snapshot restores" "$COFFER" restore --tenant tenant_acme --snapshot "$second" --as acme_back
t_is "$(pg_psql -d saas_schema -c "SELECT md5(string_agg(c::text, ',' ORDER BY c::text)) FROM acme_back.customers c")" \
    "$want" "  ... with the data of the second backup"
t_ok "a second prune has nothing left to do and stays clean" "$COFFER" prune
t_like "$T_OUT" 'pruned: 0 packs deleted' "  ... nothing deleted"
t_ok "check after the second prune" "$COFFER" check
t_done
