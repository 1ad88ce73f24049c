#!/usr/bin/env bash
# Snapshots in parts: each tenant's part is sealed under its own key.
#   (a) a damaged or missing tenant part: that tenant fails with the part
#       named, every other tenant still restores (--all: exit 3)
#   (b) a tenant whose keys were destroyed: a clear error, exit 1; the
#       repository stays clean and the other tenants restore
#   (c) one tenant's part dropped from a snapshot: list, info, restore and
#       prune no longer see it; the other tenants are untouched
#   (d) SIGINT and SIGTERM during backup and prune: the repository stays
#       clean and the next backup works
#   (e) a restore --into-db NEW that fails drops the database it created
#       and prints nothing as restored
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"

TOOL="$REPO_ROOT/build/bench/repo_tool"
if [ ! -x "$TOOL" ]; then
    make -s -C "$REPO_ROOT" build/bench/repo_tool >/dev/null 2>&1 ||
        t_skip_all "build/bench/repo_tool is not built"
fi
pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

DB=saas_schema
REPO="$T_TMP/repo"
export COFFER_PASSPHRASE="parts test"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
schema_model_config "$COFFER_CONFIG" "$DB" "$REPO"
count() { pg_psql -d "$1" -c "SELECT count(*) FROM \"$2\".orders"; }
check_clean() {
    t_ok "$1" "$COFFER" check --json
    t_is "$(jq .errors <<<"$T_OUT")" 0 "  ... with no errors"
}

t_ok "init" "$COFFER" init
t_ok "backup" "$COFFER" backup --json
snap=$(jq -r .id <<<"$T_OUT")
t_like "$snap" '^[0-9a-f]{64}$' "a snapshot id"
t_is "$(find "$REPO/parts" -type f | wc -l)" 9 "nine parts: eight tenants and the shared one"
t_unlike "$(cat "$REPO"/snapshots/* | tr -d '\0')" 'tenant_acme' "the header names no tenant"

# (a) a damaged part, then a missing one
acme=$("$TOOL" part "$REPO" "$snap" tenant_acme)
t_like "$acme" '^parts/[0-9a-f]{64}$' "(a) tenant_acme's part is found by its keyed owner id"
t_flip_byte "$REPO/$acme" 40
t_exit 1 "(a) restoring tenant_acme from a damaged part fails" \
    "$COFFER" restore --tenant tenant_acme --as acme_copy
t_like "$T_ERR" "tenant \"tenant_acme\": snapshot part \"$acme\"" "  ... naming the tenant and the part"
t_ok "(a) another tenant of the snapshot still restores" \
    "$COFFER" restore --tenant tenant_globex --as globex_copy
t_is "$(count $DB globex_copy)" 16 "  ... with its rows"
t_exit 3 "(a) restore --all into a new database is partial" \
    "$COFFER" restore --all --into-db all_copy
t_like "$T_ERR" "snapshot part \"$acme\".*not restored" "  ... names the unreadable part"
t_is "$(count all_copy tenant_globex)" 16 "  ... and restores the other tenants"
t_is "$(pg_psql -d all_copy -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_acme'")" 0 \
    "  ... but not the damaged one"
t_exit 1 "(a) check reports the damaged part" "$COFFER" check
globex=$("$TOOL" part "$REPO" "$snap" tenant_globex)
rm -f "$REPO/$globex"
t_exit 1 "(a) a missing part fails its tenant" "$COFFER" restore --tenant tenant_globex --as g2
t_like "$T_ERR" "snapshot part \"$globex\" is missing" "  ... saying it is missing"

# a fresh snapshot for the rest
t_ok "a new backup" "$COFFER" backup --json
snap2=$(jq -r .id <<<"$T_OUT")
t_ok "  ... whose tenant_acme part is sound" \
    "$COFFER" restore --tenant tenant_acme --snapshot "$snap2" --as acme_again
t_is "$(count $DB acme_again)" 10 "  ... so tenant_acme restores from it"
t_ok "  ... as does tenant_globex" "$COFFER" restore --tenant tenant_globex --snapshot "$snap2" --as globex_again
t_is "$(count $DB globex_again)" 16 "  ... with its rows"
t_ok "forget the damaged snapshot" "$COFFER" forget "$snap"
t_ok "prune" "$COFFER" prune
check_clean "(a) the repository is clean again"

# (b) keys destroyed
t_ok "(b) destroy tenant_demo1's keys" "$TOOL" destroy "$REPO" "tenant:tenant_demo1"
t_exit 1 "(b) its restore fails" "$COFFER" restore --tenant tenant_demo1 --as demo_copy
t_like "$T_ERR" "tenant \"tenant_demo1\"'s keys were destroyed on [0-9]{4}-[0-9]{2}-[0-9]{2}; its backups cannot be read" \
    "  ... saying its keys were destroyed"
check_clean "(b) check calls the repository clean"
t_ok "(b) another tenant restores" "$COFFER" restore --tenant tenant_acme --as acme_b
t_is "$(count $DB acme_b)" 10 "  ... with its rows"
t_ok "(b) info still lists the snapshot" "$COFFER" info "$snap2"
t_ok "(b) prune works" "$COFFER" prune

# (c) forget one tenant in one snapshot
t_ok "(c) a third backup" "$COFFER" backup --json
snap3=$(jq -r .id <<<"$T_OUT")
t_ok "(c) drop tenant_acme from it" "$TOOL" forget-tenant "$REPO" "$snap3" tenant_acme
t_ok "(c) list --tenant tenant_acme" "$COFFER" list --tenant tenant_acme --json
t_is "$(jq -r '.[].id' <<<"$T_OUT" | grep -c "$snap3")" 0 "  ... no longer shows that snapshot"
t_ok "(c) info of it" "$COFFER" info "$snap3" --json
t_is "$(jq '[.tenants[] | select(.name == "tenant_acme")] | length' <<<"$T_OUT")" 0 \
    "  ... holds no tenant_acme"
t_is "$(jq '[.tenants[] | select(.name == "tenant_globex")] | length' <<<"$T_OUT")" 1 \
    "  ... and still holds tenant_globex"
t_exit 1 "(c) restoring tenant_acme from it fails" \
    "$COFFER" restore --tenant tenant_acme --snapshot "$snap3" --as acme_c
t_ok "(c) the latest snapshot holding tenant_acme is used by default" \
    "$COFFER" restore --tenant tenant_acme --as acme_c
t_ok "(c) prune" "$COFFER" prune
check_clean "(c) the repository is clean"

# (d) interrupts during backup and prune, with a tenant large enough that
# a backup takes a second or two
pg_psql -d "$DB" >/dev/null <<'SQL' || t_bail "cannot load tenant_big"
CREATE SCHEMA tenant_big;
CREATE TABLE tenant_big.events (id bigserial PRIMARY KEY, payload text NOT NULL);
INSERT INTO tenant_big.events (payload)
    SELECT md5(g::text) || repeat(md5((g * 7)::text), 3) FROM generate_series(1, 400000) g;
SQL
for sig in INT TERM; do
    set -m # job control: a background job of a script ignores SIGINT otherwise
    "$COFFER" backup --tenant tenant_big >/dev/null 2>"$T_TMP/err" &
    pid=$!
    set +m
    sleep 0.3
    kill -s "$sig" "$pid" 2>/dev/null
    rc=0
    wait "$pid" || rc=$?
    t_is "$rc" "$([ $sig = INT ] && echo 130 || echo 143)" "(d) SIG$sig during a backup ends it"
    t_like "$(cat "$T_TMP/err")" "interrupted by SIG$sig" "  ... and says so"
    check_clean "(d) the repository is clean after SIG$sig during a backup"
    set -m
    "$COFFER" prune >/dev/null 2>&1 &
    pid=$!
    set +m
    sleep 0.2
    kill -s "$sig" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    t_ok "(d) unlock what a prune killed by SIG$sig may hold" "$COFFER" unlock
    check_clean "(d) the repository is clean after SIG$sig during a prune"
done
t_ok "(d) the next backup works" "$COFFER" backup
t_ok "(d) and restores" "$COFFER" restore --tenant tenant_globex --as globex_d
t_is "$(count $DB globex_d)" 16 "  ... with its rows"

# (e) every pack damaged: a restore into a new database fails after creating it
for f in $(find "$REPO/data" -type f); do
    t_flip_byte "$f" 200
done
t_exit 1 "(e) a restore --into-db from damaged packs fails" \
    "$COFFER" restore --tenant tenant_globex --into-db brand_new
t_unlike "$T_OUT" 'restored' "  ... and prints nothing as restored"
t_like "$T_ERR" 'dropped database "brand_new" that the failed restore had created' \
    "  ... and says it dropped the database it created"
t_is "$(pg_psql -c "SELECT count(*) FROM pg_database WHERE datname = 'brand_new'")" 0 \
    "  ... which is gone"
t_done
