#!/usr/bin/env bash
# One damaged object must not block the repository.
#   (a) one flipped byte in one snapshot header: list and the default
#       restore skip it with a warning naming it; prune refuses, naming it
#       and "coffer forget"; check's hint names the same fix; forget by its
#       full id removes it without reading it; then prune and check are clean
#   (b) one flipped byte in an owner key object that no snapshot uses any
#       more: plain check (without --read-data) reports it by name, and its
#       hint says what to do
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

DB=saas_schema
REPO="$T_TMP/repo"
export COFFER_PASSPHRASE="damaged objects test"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
schema_model_config "$COFFER_CONFIG" "$DB" "$REPO"
count() { pg_psql -d "$1" -c "SELECT count(*) FROM \"$2\".orders"; }
# Inverts one byte in the middle of a file (always a change, unlike writing
# a fixed byte that may already be there).
flip_middle() {
    local f=$1 off b
    off=$(($(stat -c %s "$f") / 2))
    b=$(od -An -tu1 -j "$off" -N 1 "$f" | tr -d ' ')
    printf "\\x$(printf %02x $((b ^ 255)))" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}
owner_keys() { ls "$REPO/keys" | grep -v -e '^master$' -e '-destroyed$' | sort; }

t_ok "init" "$COFFER" init
snaps=()
for i in 1 2 3; do
    t_ok "backup $i" "$COFFER" backup --json
    snaps+=("$(jq -r .id <<<"$T_OUT")")
done
s1=${snaps[0]} s2=${snaps[1]} s3=${snaps[2]}
t_is "$(ls "$REPO/snapshots" | wc -l)" 3 "three snapshot headers"
nparts=$(find "$REPO/parts" -type f | wc -l)
t_is "$nparts" 9 "three backups of unchanged tenants share their nine parts"

# (a) the middle snapshot's header is damaged
flip_middle "$REPO/snapshots/$s2"
t_ok "(a) list works with one damaged snapshot" "$COFFER" list
t_is "$(grep -cE "^(${s1:0:12}|${s3:0:12}) " <<<"$T_OUT") $(grep -c "${s2:0:12}" <<<"$T_OUT")" "2 0" \
    "  ... shows the other two snapshots and not the damaged one"
t_like "$T_ERR" "warning: snapshot \"snapshots/$s2\" cannot be read \(authentication failed\); it is skipped" \
    "  ... which a warning names"
t_like "$T_ERR" 'warning: run "coffer check"' "  ... with a hint to run check"
t_ok "(a) list --json works" "$COFFER" list --json
t_is "$(jq -r '.[].id' <<<"$T_OUT" | sort | tr '\n' ' ')" "$(printf '%s\n' "$s1" "$s3" | sort | tr '\n' ' ')" \
    "  ... is valid JSON with the two readable snapshots"
t_like "$T_ERR" "warning: snapshot \"snapshots/$s2\"" "  ... and warns on stderr"

t_ok "(a) the default restore works" "$COFFER" restore --tenant tenant_acme --as acme_copy
t_is "$(count $DB acme_copy)" 10 "  ... with its rows"
t_like "$T_ERR" "snapshot \"snapshots/$s2\" cannot be read" "  ... and names the skipped snapshot"

t_exit 1 "(a) prune refuses while a snapshot cannot be read" "$COFFER" prune
t_like "$T_ERR" "snapshot \"snapshots/$s2\" cannot be read" "  ... naming the damaged snapshot"
t_like "$T_ERR" "coffer forget $s2\", then prune" "  ... and the fix"
t_is "$(find "$REPO/parts" -type f | wc -l)" "$nparts" "  ... and deletes nothing"

t_exit 1 "(a) check reports the damaged snapshot" "$COFFER" check
t_like "$T_ERR" "HINT: .*coffer forget $s2\", then run \"coffer prune\"" \
    "  ... and its hint names the commands that fix it"

t_ok "(a) forget the damaged snapshot by its full id" "$COFFER" forget "$s2"
t_like "$T_OUT" "forgot snapshot $s2" "  ... says so"
t_is "$(ls "$REPO/snapshots" | sort | tr '\n' ' ')" "$(printf '%s\n' "$s1" "$s3" | sort | tr '\n' ' ')" \
    "  ... and only its header is gone"
t_ok "(a) prune then works" "$COFFER" prune
t_is "$(find "$REPO/parts" -type f | wc -l)" "$nparts" \
    "  ... and keeps the parts the other snapshots list too"
t_ok "(a) check is clean" "$COFFER" check --json
t_is "$(jq .errors <<<"$T_OUT")" 0 "  ... with no errors"
t_ok "(a) list no longer warns" "$COFFER" list
t_is "$T_ERR|$(tail -n 1 <<<"$T_OUT")" "|2 snapshots" "  ... and shows both snapshots"

# (a') a part both snapshots share is damaged: the next backup of the
# unchanged tenant reads it back, finds it damaged and writes it again,
# which heals every snapshot that lists it
TOOL="$REPO_ROOT/build/bench/repo_tool"
acme=$("$TOOL" part "$REPO" "$s3" tenant_acme)
t_like "$acme" '^parts/[0-9a-f]{64}$' "(a') tenant_acme's part, which all snapshots share"
flip_middle "$REPO/$acme"
t_exit 1 "(a') check finds it damaged" "$COFFER" check
t_ok "(a') a backup of the unchanged tenant" "$COFFER" backup --tenant tenant_acme --json
t_is "$("$TOOL" part "$REPO" "$(jq -r .id <<<"$T_OUT")" tenant_acme)" "$acme" "  ... lists the same part"
t_ok "(a') check is clean again: the part was written again" "$COFFER" check --json
t_is "$(jq .errors <<<"$T_OUT")" 0 "  ... with no errors"

# (b) a damaged owner key object, in a repository of its own. A tenant
# backed up once whose snapshot was then forgotten keeps its keys, and its
# next backup uses them again: nothing else reads them, so plain check must.
REPO="$T_TMP/repo_b"
sed -i "s|path: .*|path: $REPO|" "$COFFER_CONFIG"
t_ok "(b) init a second repository" "$COFFER" init
t_ok "(b) back up every tenant" "$COFFER" backup
pg_psql -d "$DB" >/dev/null <<'SQL' || t_bail "cannot create tenant_gone"
CREATE SCHEMA tenant_gone;
CREATE TABLE tenant_gone.orders (id int PRIMARY KEY);
INSERT INTO tenant_gone.orders SELECT generate_series(1, 5);
SQL
before=$(owner_keys)
t_ok "(b) back up a new tenant" "$COFFER" backup --tenant tenant_gone --json
gone_snap=$(jq -r .id <<<"$T_OUT")
gone_key=$(comm -13 <(echo "$before") <(owner_keys))
t_like "$gone_key" '^[0-9a-f]{32}-[0-9a-f]+$' "(b) its backup made one new owner key"
t_ok "(b) forget its snapshot" "$COFFER" forget "$gone_snap"
t_ok "(b) prune" "$COFFER" prune
flip_middle "$REPO/keys/$gone_key"
t_exit 1 "(b) plain check reports the damaged key" "$COFFER" check
t_like "$T_ERR" "owner key \"keys/$gone_key\": authentication failed" "  ... naming the key object"
t_like "$T_ERR" "HINT: copy the damaged owner key named above back from a copy of the repository" \
    "  ... and the hint says what to do"
# (e) a tenant's part depends on its own objects alone: a new tenant and a
# new schema elsewhere in the database leave the other tenants' parts as
# they were
REPO="$T_TMP/repo_e"
sed -i "s|path: .*|path: $REPO|" "$COFFER_CONFIG"
t_ok "(e) init a third repository" "$COFFER" init
t_ok "(e) a backup" "$COFFER" backup
before=$(find "$REPO/parts" -type f | wc -l)
pg_psql -d "$DB" >/dev/null <<'SQL' || t_bail "cannot add schemas"
CREATE SCHEMA tenant_newcomer;
CREATE TABLE tenant_newcomer.orders (id int PRIMARY KEY);
CREATE SCHEMA reporting;
CREATE TABLE reporting.daily (day date PRIMARY KEY);
SQL
t_ok "(e) a backup after a new tenant and a new schema" "$COFFER" backup
t_is "$(($(find "$REPO/parts" -type f | wc -l) - before))" 2 "  ... writes two parts: the new tenant's and the shared one"
t_ok "(e) an existing tenant restores from it" "$COFFER" restore --tenant tenant_globex --as globex_e
t_is "$(pg_psql -d "$DB" -c 'SELECT count(*) FROM globex_e.orders')" 16 "  ... with its rows"
t_done
