#!/usr/bin/env bash
# SIGKILL at any point of "restore --clean": nothing in the process can
# run, so the swap journal in the repository is what puts things right.
# After each kill, "coffer restore --recover" puts the live tenant back
# under its own name with its rows (or, when the restore had committed,
# finishes it); no aside schema is left and "coffer tenants" lists none.
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"
. "$(dirname "$0")/../lib/big_tenant.sh"

big_tenant_setup

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
    t_ok "kill -9 at $when: coffer check" "$COFFER" check --json
    local report=$T_OUT
    t_ok "kill -9 at $when: restore --recover" "$COFFER" restore --recover
    t_like "$T_OUT" '^[01] interrupted restores? put right$' "  ... says how many it put right"
    if [ "${T_OUT%% *}" = 1 ]; then
        recovered=$((recovered + 1))
        t_like "$report" '"kind": "restore journal"' "  ... which check had reported as a leftover"
    else
        t_unlike "$report" '"kind": "restore journal"' "  ... and check had reported no journal"
    fi
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

# scratch databases a killed "--as" leaves: each carries a marker (host,
# pid, start); the next restore or --recover drops those whose process is
# gone on this host, or that are over a day old, and leaves the others
host=$(hostname)
sleep 0.01 &
dead=$!
wait "$dead"
now=$(date +%s)
mark() { pg_psql -c "CREATE DATABASE \"$1\"" -c "COMMENT ON DATABASE \"$1\" IS 'coffer scratch database: host=$2 pid=$3 started=$4'" >/dev/null; }
mark coffer_scratch_${dead}_1 "$host" "$dead" "$now"
mark coffer_scratch_$$_2 "$host" $$ "$now"
mark coffer_scratch_1_3 elsewhere 1 "$now"
mark coffer_scratch_1_4 elsewhere 1 $((now - 2 * 86400))
pg_psql -c 'CREATE DATABASE coffer_scratch_5_5' >/dev/null
pg_psql -d "$DB" -c 'CREATE SCHEMA tenant_big_coffer_old_1700000000_42' >/dev/null
t_ok "coffer check with leftovers on the server" "$COFFER" check --json
t_is "$(jq -r '.leftovers[] | "\(.kind)|\(.database // "")|\(.name)"' <<<"$T_OUT" | LC_ALL=C sort | paste -sd' ')" \
    "$(printf '%s\n' "aside schema|$DB|tenant_big_coffer_old_1700000000_42" "scratch database||coffer_scratch_${dead}_1" \
        "scratch database||coffer_scratch_$$_2" "scratch database||coffer_scratch_1_3" "scratch database||coffer_scratch_1_4" |
        LC_ALL=C sort | paste -sd' ')" "  ... lists the aside schema and the marked scratch databases, not the unmarked one"
t_like "$(jq -r '.leftovers[] | select(.name == "coffer_scratch_'"$dead"'_1") | .what' <<<"$T_OUT")" \
    "process $dead on host \"$host\", gone" "  ... and says whose process is gone"
t_is "$(jq -r .ok <<<"$T_OUT")" true "  ... which are no damage to the repository"
t_ok "coffer check in words" "$COFFER" check
t_like "$T_ERR" "warning: aside schema \"tenant_big_coffer_old_1700000000_42\" in database \"$DB\": a tenant renamed aside" \
    "  ... warns of the aside schema"
t_like "$T_ERR" 'coffer restore --recover' "  ... and says what puts things right"
t_like "$T_OUT" '5 leftovers of interrupted restores' "  ... and counts them"
t_ok "restore --recover with scratch databases left behind" "$COFFER" restore --recover
t_like "$T_ERR" "dropped the scratch database \"coffer_scratch_${dead}_1\"" \
    "  ... drops the one whose process is gone"
t_is "$(pg_psql <<<"SELECT string_agg(datname, ' ' ORDER BY datname COLLATE \"C\") FROM pg_database WHERE datname LIKE 'coffer_scratch_%'")" \
    "$(printf '%s\n' coffer_scratch_$$_2 coffer_scratch_1_3 coffer_scratch_5_5 | LC_ALL=C sort | paste -sd' ')" \
    "  ... and the day-old one; a live process's, another host's and an unmarked one stay"
t_is "$(pg_psql -d "$DB" <<<"SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_big_coffer_old_1700000000_42'")" 1 \
    "  ... an aside schema no journal names is never dropped for the user"
pg_psql -c "DROP DATABASE coffer_scratch_$$_2" -c 'DROP DATABASE coffer_scratch_1_3' \
    -c 'DROP DATABASE coffer_scratch_5_5' >/dev/null
pg_psql -d "$DB" -c 'DROP SCHEMA tenant_big_coffer_old_1700000000_42' >/dev/null
t_ok "with them gone, check lists no leftover" "$COFFER" check --json
t_is "$(jq -c .leftovers <<<"$T_OUT")" '[]' "  ... none"

# a real kill -9 while "--as" holds its scratch database
"$COFFER" restore --tenant tenant_big --as big_scratch >/dev/null 2>&1 &
pid=$!
for _ in $(seq 300); do
    [ "$(pg_psql <<<"SELECT count(*) FROM pg_database WHERE datname LIKE 'coffer_scratch_%'")" = 1 ] && break
    sleep 0.01
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
left=$(pg_psql <<<"SELECT count(*) FROM pg_database WHERE datname LIKE 'coffer_scratch_%'")
if [ "$left" = 1 ]; then
    t_like "$(pg_psql <<<"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname LIKE 'coffer_scratch_%'")" \
        "^coffer scratch database: host=$host pid=$pid started=[0-9]+$" "kill -9 during --as: its scratch database carries the marker"
    t_ok "  ... the next restore --recover" "$COFFER" restore --recover
    t_is "$(pg_psql <<<"SELECT count(*) FROM pg_database WHERE datname LIKE 'coffer_scratch_%'")" 0 \
        "  ... drops it"
else
    t_skip "the kill came outside the scratch database's life" 3
fi
pg_psql -d "$DB" <<<"DROP SCHEMA IF EXISTS big_scratch CASCADE" >/dev/null
t_done
