#!/usr/bin/env bash
# A pack lost after a backup (deleted, then in a second round truncated):
#   check names it and points at the repair; the next backup stores the
#   lost chunks again instead of deduplicating against them, so its snapshot
#   restores every tenant; "repair index" drops the pack from the index,
#   "repair snapshots" drops the tenant that used it from the old snapshots;
#   then check is clean and prune runs.
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

DB=saas_schema
REPO="$T_TMP/repo"
export COFFER_PASSPHRASE="lost pack test"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
schema_model_config "$COFFER_CONFIG" "$DB" "$REPO"

# tenant_big's table makes its pack by far the largest in the repository
pg_psql -d "$DB" >/dev/null <<'SQL' || t_bail "cannot load tenant_big"
CREATE SCHEMA tenant_big;
CREATE TABLE tenant_big.events (id bigserial PRIMARY KEY, payload text NOT NULL);
INSERT INTO tenant_big.events (payload)
    SELECT md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 60000) g;
SQL

# "schema.table rows" of every table of the tenants and shared schemas of db
rowcounts() {
    pg_psql -d "$1" -c "SELECT n.nspname || '.' || c.relname || ' ' ||
            (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I',
                                                         n.nspname, c.relname), false, true, '')))[1]::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND (n.nspname LIKE 'tenant%' OR n.nspname IN ('central', 'parametros'))
        ORDER BY 1"
}
add_rows() {
    pg_psql -d "$DB" -c "INSERT INTO tenant_big.events (payload)
        SELECT md5(g::text) FROM generate_series(1, 2000) g" >/dev/null || t_bail "cannot add rows"
    LIVE=$(rowcounts $DB)
}
largest_pack() { find "$REPO/data" -type f -printf '%s %P\n' | sort -n | tail -1 | cut -d' ' -f2; }
LIVE=$(rowcounts $DB)
[ -n "$LIVE" ] || t_bail "cannot count the live rows"

"$COFFER" init >/dev/null 2>&1 || t_bail "init failed"

t_ok "help repair explains both subcommands" "$COFFER" help repair
t_like "$T_OUT" "coffer repair index .*coffer repair snapshots .*--force" "  ... with their options"

# round 1: a pack deleted
"$COFFER" backup --json >"$T_TMP/out" 2>"$T_TMP/err" || t_abort "first backup failed: $(cat "$T_TMP/err")"
snap1=$(jq -r .id <"$T_TMP/out")
pack=data/$(largest_pack)
rm -f "$REPO/$pack"
# new rows change the last chunk of the table: the old one is in no other pack
add_rows

t_run "$COFFER" check
t_like "rc=$T_RC $T_ERR" "^rc=1 .*pack \"$pack\" is missing.*HINT: \"coffer repair index\" drops" \
    "(1) check exits 1, names the missing pack and the repair"

t_run "$COFFER" backup --json
snap2=$(jq -r .id <<<"$T_OUT")
t_like "rc=$T_RC $T_ERR" "^rc=0 .*1 pack named by the index is missing or truncated; its chunks are stored again; run \"coffer repair index\"" \
    "(1) the next backup succeeds, storing the lost chunks again, and says so"
t_ok "(1) its snapshot restores every tenant" "$COFFER" restore --all --into-db copy1
t_is "$(rowcounts copy1)" "$LIVE" "  ... with every row"

t_run "$COFFER" repair index
t_like "rc=$T_RC $T_OUT" "^rc=0 dropped pack \"$pack\" from the index: missing; .*repaired the index" \
    "(1) repair index drops the missing pack and says so"
t_run "$COFFER" repair snapshots
want="^rc=0 snapshot ${snap1:0:12} \([^)]*\): tenant \"tenant_big\" lost [0-9]+ chunks?: dropped from the snapshot"
t_like "rc=$T_RC $T_OUT" "$want"$'\n'"1 snapshot rewritten" \
    "(1) repair snapshots names the tenant of the old snapshot that was lost, and only that one"
t_run "$COFFER" info "$snap1" --json
t_is "$T_RC $(jq '[.tenants[] | select(.name == "tenant_big")] | length' <<<"$T_OUT") $(jq '[.tenants[] | select(.name == "tenant_acme")] | length' <<<"$T_OUT")" \
    "0 0 1" "(1) the old snapshot no longer holds tenant_big, and still holds tenant_acme"
t_run "$COFFER" check --json
t_is "$T_RC $(jq .errors <<<"$T_OUT")" "0 0" "(1) check is clean after the repair"
t_run "$COFFER" prune
prune_rc=$T_RC
t_run "$COFFER" restore --tenant tenant_acme --snapshot "$snap1" --as acme_old
t_is "$prune_rc $T_RC $(pg_psql -d $DB -c 'SELECT count(*) FROM acme_old.orders' 2>/dev/null)" \
    "0 0 $(pg_psql -d $DB -c 'SELECT count(*) FROM tenant_acme.orders')" \
    "(1) prune works again, and the repaired snapshot restores its other tenants in full"

# round 2: a pack truncated (the one the second backup wrote for tenant_big)
pack=data/$(largest_pack)
size=$(stat -c %s "$REPO/$pack")
truncate -s $((size / 2)) "$REPO/$pack"
add_rows

t_run "$COFFER" check
t_like "rc=$T_RC $T_ERR" "^rc=1 .*pack \"$pack\" is truncated.*HINT: \"coffer repair index\" drops" \
    "(2) check exits 1, names the truncated pack and the repair"
t_run "$COFFER" backup --json
snap3=$(jq -r .id <<<"$T_OUT")
t_like "rc=$T_RC $T_ERR" "^rc=0 .*1 pack named by the index is missing or truncated; its chunks are stored again" \
    "(2) the next backup succeeds, storing the lost chunks again, and says so"
t_ok "(2) its snapshot restores every tenant" "$COFFER" restore --all --into-db copy2
t_is "$(rowcounts copy2)" "$LIVE" "  ... with every row"

t_run "$COFFER" repair index --json
t_is "$T_RC $(jq -r '[.packs_dropped, .packs[0].pack, .packs[0].problem, .packs[0].found] | join(" ")' <<<"$T_OUT")" \
    "0 1 $pack truncated $((size / 2))" "(2) repair index --json drops the truncated pack"
t_run "$COFFER" repair snapshots --json
t_is "$T_RC $(jq -c '[.lost[] | [.snapshot, .tenant, .action]]' <<<"$T_OUT")" \
    "0 [[\"$snap2\",\"tenant_big\",\"dropped\"]]" \
    "(2) repair snapshots --json names the lost tenant of the snapshot that used the pack"
t_run "$COFFER" check --json
t_is "$T_RC $(jq .errors <<<"$T_OUT")" "0 0" "(2) check is clean after the repair"
t_run "$COFFER" prune --json
t_is "$T_RC $(jq '.packs_deleted >= 1' <<<"$T_OUT")" "0 true" \
    "(2) prune works again and removes the truncated pack"
t_ok "(2) the newest snapshot still restores tenant_big" \
    "$COFFER" restore --tenant tenant_big --snapshot "$snap3" --as big_new
t_is "$(pg_psql -d $DB -c 'SELECT count(*) FROM big_new.events')" 64000 "  ... with its rows"
t_done
