#!/usr/bin/env bash
# coffer verify: restore drills into marked scratch databases.
#   (1) a drill of one tenant passes, its JSON counts the tables and rows
#       the fixture holds, and no scratch database is left
#   (2) the class's smoke queries run in the restored copy: they pass where
#       the tenant has customers, fail (naming the query and its result)
#       where it has none; a failing check still drops the scratch database
#   (3) --sample N drills the least recently verified first: after ceil(N/2)
#       runs of --sample 2 every tenant was drilled exactly once
#   (4) a damaged repository: the drill fails naming the tenant and the pack
#   (5) SIGINT drops the scratch database; SIGKILL leaves it, marked, and
#       the next drill drops it and works
#   (6) a role that may not create databases: a clear error, nothing left
#   (7) coffer run drills per class (verify: { every, sample }) under
#       COFFER_NOW, in turn; verify without sample is a configuration error
#   (8) after all of it, coffer check is clean
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"
. "$(dirname "$0")/../lib/big_tenant.sh" # wait_for_query, scratch_dbs

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

DB=saas_schema
REPO="$T_TMP/repo"
HOST=$(hostname)
export COFFER_PASSPHRASE="verify test"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
export TMPDIR="$T_TMP/tmp"
mkdir -p "$TMPDIR"
schema_model_config "$COFFER_CONFIG" "$DB" "$REPO"
CHECKS="$T_TMP/checks.yaml"
cp "$COFFER_CONFIG" "$CHECKS"
cat >>"$CHECKS" <<'YAML'
classes:
  default: { checks: ["SELECT count(*) > 0 FROM customers"] }
YAML

# "TABLES ROWS" of a tenant's schema, counted in the live database.
live_counts() {
    pg_psql -d "$DB" -v s="$1" <<'SQL'
SELECT count(*) || ' ' || coalesce(sum((xpath('/row/c/text()', query_to_xml(
           format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text::bigint), 0)
  FROM pg_tables WHERE schemaname = :'s'
SQL
}
# The fixture's tenants, in byte order (how verify breaks ties).
fixture_tenants() {
    pg_psql -d "$DB" <<<"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%' ORDER BY nspname COLLATE \"C\""
}
scratch_names() {
    pg_psql <<<"SELECT coalesce(string_agg(datname, ' ' ORDER BY datname), '') FROM pg_database WHERE datname LIKE 'coffer\_scratch\_%'"
}
journal_entries() { find "$1/journal" -type f 2>/dev/null | wc -l; }
# Inverts one byte in the middle of a file (as 065 does).
flip_middle() {
    local f=$1 off b
    off=$(($(stat -c %s "$f") / 2))
    b=$(od -An -tu1 -j "$off" -N 1 "$f" | tr -d ' ')
    printf "\\x$(printf %02x $((b ^ 255)))" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}

t_ok "init" "$COFFER" init
t_ok "backup every tenant" "$COFFER" backup --json
snap=$(jq -r .id <<<"$T_OUT")

# ---- (1) one drill, and (2) its smoke query passing
t_ok "(1) verify --tenant tenant_acme" "$COFFER" verify --config "$CHECKS" --tenant tenant_acme
t_like "$T_OUT" "^PASS +tenant_acme +snapshot ${snap:0:12} +3 tables, 15 rows, .*, 1/1 checks" \
    "  ... PASS, with its tables, rows and checks"
t_is "$(scratch_names)" "" "  ... and no scratch database is left"
t_ok "(1) verify --tenant tenant_acme --json" "$COFFER" verify --config "$CHECKS" --tenant tenant_acme --json
read -r tables rows <<<"$(live_counts tenant_acme)"
t_is "$(jq -r 'length' <<<"$T_OUT")" 1 "  ... one drill"
t_is "$(jq -r '.[0] | [.tenant, .class, .snapshot, .ok, .tables, .rows, .checks, .checks_failed, .error] | map(tostring) | join(" ")' <<<"$T_OUT")" \
    "tenant_acme default $snap true $tables $rows 1 0 null" \
    "  ... ok, $tables tables and $rows rows as the fixture holds, 1 check passed"
t_like "$(jq -r '.[0].bytes' <<<"$T_OUT")" '^[1-9][0-9]*$' "  ... and the bytes it restored"
t_is "$(scratch_names)" "" "  ... and no scratch database is left"

# ---- (2) a smoke query that fails
t_exit 1 "(2) verify tenant_empty, which has no customers table" \
    "$COFFER" verify --config "$CHECKS" --tenant tenant_empty
t_like "$T_OUT" "^FAIL +tenant_empty +snapshot ${snap:0:12} +0 tables, 0 rows, .*, 0/1 checks" "  ... FAIL, 0 of 1 checks"
t_like "$T_ERR" 'restore drill failed for 1 of 1 tenant' "  ... and says so on stderr"
t_like "$T_OUT$T_ERR" 'count\(\*\) > 0 FROM customers' "  ... naming the smoke query that failed"
t_like "$T_OUT$T_ERR" 'relation "customers" does not exist' "  ... and what it returned"
t_is "$(scratch_names)" "" "  ... and the scratch database is dropped"
t_exit 1 "(2) the same, --json" "$COFFER" verify --config "$CHECKS" --tenant tenant_empty --json
t_is "$(jq -r '.[0] | [.tenant, .ok, .tables, .rows, .checks, .checks_failed] | map(tostring) | join(" ")' <<<"$T_OUT")" \
    "tenant_empty false 0 0 1 1" "  ... ok false, checks 1, checks_failed 1"
t_like "$(jq -r '.[0].error' <<<"$T_OUT")" 'customers' "  ... and its error names the query"
t_is "$(scratch_names)" "" "  ... and the scratch database is dropped"

# a tenant whose customers table is empty: the query returns false
pg_psql -d "$DB" -c 'DELETE FROM tenant_demo1.orders' -c 'DELETE FROM tenant_demo1.customers' >/dev/null
t_ok "(2) back up tenant_demo1 without customers" "$COFFER" backup --tenant tenant_demo1
t_exit 1 "(2) verify tenant_demo1" "$COFFER" verify --config "$CHECKS" --tenant tenant_demo1 --json
t_is "$(jq -r '.[0] | [.tenant, .ok, .checks, .checks_failed] | map(tostring) | join(" ")' <<<"$T_OUT")" \
    "tenant_demo1 false 1 1" "  ... fails its smoke query"
t_like "$(jq -r '.[0].error' <<<"$T_OUT")" 'count\(\*\) > 0 FROM customers.*returned f' \
    "  ... and its error names the query and its result"
t_is "$(scratch_names)" "" "  ... and the scratch database is dropped"

# ---- (3) --sample rotates: never drilled first (ties by name), then the
# least recently drilled: tenant_acme, tenant_empty, tenant_demo1, in turn
mapfile -t all < <(fixture_tenants)
expect=()
for t in "${all[@]}"; do
    case $t in tenant_acme | tenant_empty | tenant_demo1) ;; *) expect+=("$t") ;; esac
done
expect+=(tenant_acme tenant_empty tenant_demo1)
t_is "${#all[@]}" 8 "(3) the fixture has 8 tenants"
got=()
for run in 1 2 3 4; do
    t_ok "(3) verify --sample 2, run $run" "$COFFER" verify --sample 2 --json
    t_is "$(jq -r '[.[] | select(.ok)] | length' <<<"$T_OUT")" 2 "  ... drills 2 tenants, which pass"
    mapfile -t -O "${#got[@]}" got < <(jq -r '.[].tenant' <<<"$T_OUT")
done
t_is "$(printf '%s\n' "${got[@]}")" "$(printf '%s\n' "${expect[@]}")" \
    "  ... 4 runs drilled every tenant once, the least recently verified first"
t_is "$(printf '%s\n' "${got[@]}" | sort -u | wc -l)" 8 "  ... 8 different tenants"
t_ok "(3) a fifth run, --sample 1" "$COFFER" verify --sample 1 --json
t_is "$(jq -r '[.[].tenant] | join(" ")' <<<"$T_OUT")" "${expect[0]}" "  ... starts over with the first of them"
t_is "$(scratch_names)" "" "(3) no scratch database is left"

# ---- (4) a damaged copy of the repository
cp -a "$REPO" "$T_TMP/damaged"
n=0
while IFS= read -r f; do
    flip_middle "$f"
    n=$((n + 1))
done < <(find "$T_TMP/damaged/data" -type f)
t_like "$n" '^[1-9][0-9]*$' "(4) damaged $n packs in a copy of the repository"
t_exit 1 "(4) verify from the damaged copy" "$COFFER" --repo "$T_TMP/damaged" verify --tenant tenant_acme
t_like "$T_OUT" '^FAIL +tenant_acme ' "  ... FAIL names the tenant"
t_like "$T_OUT$T_ERR" 'pack "data/[0-9a-f]{2}/[0-9a-f]{64}": chunk "[0-9a-f]+" at offset [0-9]+: authentication failed' \
    "  ... and the damaged pack and chunk"
t_like "$T_ERR" 'restore drill failed for 1 of 1 tenant' "  ... and says the drill failed"
pack=$(grep -oE 'pack "data/[0-9a-f]{2}/[0-9a-f]{64}"' <<<"$T_OUT$T_ERR" | head -n 1 | cut -d'"' -f2)
t_ok "  ... a pack that is there, in the damaged copy" test -f "$T_TMP/damaged/$pack"
t_is "$(scratch_names)" "" "  ... no scratch database is left"
t_is "$(journal_entries "$T_TMP/damaged")" 0 "  ... nor a journal entry"
t_exit 1 "(4) the same, --json" "$COFFER" --repo "$T_TMP/damaged" verify --tenant tenant_acme --json
t_like "$(jq -r '.[0] | select(.tenant == "tenant_acme" and .ok == false) | .error' <<<"$T_OUT")" \
    'pack "data/[0-9a-f]{2}/[0-9a-f]{64}"' "  ... its error names the pack"
rm -rf "$T_TMP/damaged"

# ---- (5) interrupts, on a tenant whose restore takes a while
pg_psql -d "$DB" <<'SQL' >/dev/null || t_bail "cannot load tenant_big"
CREATE SCHEMA tenant_big;
CREATE TABLE tenant_big.events (id bigserial PRIMARY KEY, account integer NOT NULL, payload text NOT NULL);
CREATE INDEX ON tenant_big.events (account);
INSERT INTO tenant_big.events (account, payload)
    SELECT g % 1000, md5(g::text) || repeat('x', 60) FROM generate_series(1, 300000) g;
SQL
t_ok "(5) back up tenant_big" "$COFFER" backup --tenant tenant_big
# start_drill: a drill of tenant_big in the background ($pid), once its
# scratch database exists and its data is being copied in
start_drill() {
    set -m # job control: a background job of a script ignores SIGINT otherwise
    "$COFFER" verify --tenant tenant_big >"$T_TMP/out" 2>"$T_TMP/err" &
    pid=$!
    set +m
    local i
    for ((i = 0; i < 400; i++)); do
        [ "$(scratch_names)" = "coffer_scratch_verify_${pid}_0" ] && break
        sleep 0.025
    done
    t_is "$(scratch_names)" "coffer_scratch_verify_${pid}_0" "  ... its scratch database exists"
    wait_for_query '^COPY "tenant_big"\."events" FROM STDIN' || t_diag "never saw the COPY of tenant_big"
}

t_note "(5a) SIGINT"
start_drill
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
t_is "$rc" 130 "(5a) a drill interrupted by SIGINT exits 130"
t_like "$(cat "$T_TMP/err")" 'interrupted by SIGINT' "  ... and says so"
t_is "$(scratch_names)" "" "  ... its scratch database is gone"
t_is "$(journal_entries "$REPO")" 0 "  ... and no journal entry is left"
t_ok "  ... coffer check" "$COFFER" check --json
t_is "$(jq -c .leftovers <<<"$T_OUT")" '[]' "  ... lists no leftover"

t_note "(5b) SIGKILL"
start_drill
kill -KILL "$pid"
wait "$pid" 2>/dev/null
t_is "$(scratch_names)" "coffer_scratch_verify_${pid}_0" "(5b) a drill killed by SIGKILL leaves its scratch database"
t_like "$(pg_psql <<<"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname LIKE 'coffer\_scratch\_%'")" \
    "^coffer scratch database: host=$HOST pid=$pid started=[0-9]+$" "  ... marked with its host and process"
t_ok "  ... coffer check" "$COFFER" check --json
t_like "$(jq -r '.leftovers[] | select(.kind == "scratch database") | "\(.name) \(.what)"' <<<"$T_OUT")" \
    "^coffer_scratch_verify_${pid}_0 .*process $pid on host \"$HOST\", gone" "  ... lists it, its process gone"
t_ok "(5b) the next drill works" "$COFFER" verify --tenant tenant_acme
t_like "$T_ERR" "dropped the scratch database \"coffer_scratch_verify_${pid}_0\"" "  ... and first drops the one left"
t_like "$T_OUT" '^PASS +tenant_acme ' "  ... then passes"
t_is "$(scratch_names)" "" "  ... no scratch database is left"
t_is "$(journal_entries "$REPO")" 0 "  ... nor a journal entry"
t_ok "(5b) restore --recover after it" "$COFFER" restore --recover
t_like "$T_OUT" '^0 interrupted restores put right$' "  ... has nothing left to put right"
if [ "$(journal_entries "$REPO")" != 0 ]; then
    # so that what follows tests its own case (see the failures above)
    t_diag "removing the journal entry the killed drill left"
    rm -f "$REPO"/journal/*
    pg_psql -c "DROP DATABASE IF EXISTS coffer_scratch_verify_${pid}_0" >/dev/null 2>&1
fi
pg_psql -d "$DB" -c 'DROP SCHEMA tenant_big CASCADE' >/dev/null 2>&1

# ---- (6) a role that may not create databases
pg_psql -d "$DB" >/dev/null <<'SQL' || t_bail "cannot create role drill"
CREATE ROLE drill LOGIN NOCREATEDB;
GRANT USAGE ON SCHEMA central, parametros, public, tenant_acme TO drill;
GRANT SELECT ON ALL TABLES IN SCHEMA central, parametros, public, tenant_acme TO drill;
SQL
sed 's/user=postgres/user=drill/' "$COFFER_CONFIG" >"$T_TMP/drill.yaml"
t_exit 1 "(6) verify as a role without CREATEDB" "$COFFER" --config "$T_TMP/drill.yaml" verify --tenant tenant_acme
t_like "$T_OUT" '^FAIL +tenant_acme ' "  ... FAIL"
t_like "$T_OUT$T_ERR" 'permission denied to create database' "  ... says the role may not create the scratch database"
t_unlike "$T_ERR" 'dropped database .* that the failed restore had created' \
    "  ... and claims to drop no database, none having been created"
t_is "$(scratch_names)" "" "  ... and no scratch database is left"
t_is "$(journal_entries "$REPO")" 0 "  ... nor a journal entry"

# ---- (7) drills scheduled by coffer run, in a repository of its own
RUN="$T_TMP/run.yaml"
schema_model_config "$RUN" "$DB" "$T_TMP/repo_run"
cat >>"$RUN" <<'YAML'
classes:
  default: { every: 1d, keep: { daily: 3 }, verify: { every: 7d, sample: 1 } }
YAML
at() { COFFER_NOW=$1 "${@:2}"; }
t_ok "(7) init" "$COFFER" --config "$RUN" init
t_ok "(7) the first run" at 2027-03-01T02:00:00Z "$COFFER" --config "$RUN" run --json
t_is "$(jq -r '.backup.stats.tenants' <<<"$T_OUT")" 8 "  ... backs up the 8 tenants"
t_is "$(jq -r '.verify | length' <<<"$T_OUT")" 1 "  ... and drills one"
first=$(jq -r '.verify[0].tenant' <<<"$T_OUT")
t_is "$first" "${all[0]}" "  ... the first by name, none having been drilled"
t_is "$(jq -r '.verify[0] | [.ok, .snapshot == $s] | map(tostring) | join(" ")' --arg s "$(jq -r .backup.id <<<"$T_OUT")" <<<"$T_OUT")" \
    "true true" "  ... from the snapshot just taken, and it passes"
t_ok "(7) a run a day later" at 2027-03-02T02:00:00Z "$COFFER" --config "$RUN" run --json
t_is "$(jq -r '.backup.stats.tenants' <<<"$T_OUT")" 8 "  ... backs up"
t_is "$(jq -r '.verify | length' <<<"$T_OUT")" 0 "  ... and drills none"
t_ok "(7) a run 7 days after the first" at 2027-03-08T02:00:00Z "$COFFER" --config "$RUN" run --json
t_is "$(jq -r '.verify | length' <<<"$T_OUT")" 1 "  ... drills one"
t_is "$(jq -r '.verify[0] | [.tenant, .ok] | map(tostring) | join(" ")' <<<"$T_OUT")" "${all[1]} true" \
    "  ... the next tenant, not $first again"
t_is "$(scratch_names)" "" "(7) no scratch database is left"
t_ok "(7) check of its repository" "$COFFER" --config "$RUN" check --json
t_is "$(jq -c '[.errors, .leftovers]' <<<"$T_OUT")" '[0,[]]' "  ... is clean"

sed 's/verify: { every: 7d, sample: 1 }/verify: { every: 7d }/' "$RUN" >"$T_TMP/bad.yaml"
t_exit 2 "(7) verify without sample" "$COFFER" --config "$T_TMP/bad.yaml" config check
t_like "$T_ERR" 'classes\.default\.verify.*give both every and sample' "  ... is a configuration error naming the key"
t_exit 2 "(7) and coffer run refuses it" at 2027-03-15T02:00:00Z "$COFFER" --config "$T_TMP/bad.yaml" run
t_like "$T_ERR" 'give both every and sample' "  ... for the same reason"

# ---- (8) what the drills recorded
t_ok "(8) check --read-data after every drill" "$COFFER" check --read-data --json
t_is "$(jq -c '[.errors, .leftovers]' <<<"$T_OUT")" '[0,[]]' "  ... is clean, with no leftover"
t_is "$(scratch_names)" "" "(8) no scratch database is left at the end"
t_done
