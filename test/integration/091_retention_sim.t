#!/usr/bin/env bash
# 800 days of "coffer run" under the issue's example policy (the shared
# part hourly, two active tenants daily, a demo tenant weekly, an active
# tenant dropped on day 42): what each tenant keeps equals what an
# independent model of the rules computes (test/lib/retention_model.py),
# the deleted class ends exactly 730 days after the tenant was last seen,
# and the repository stops growing once the retention windows are full.
#
# The model plans what coffer run does when a timer calls it every hour:
# a real "coffer run" every fourth week, after the data changed, and in
# between the snapshots it would make, forged from the newest real ones
# (repo_tool clone-snapshots: the same parts under a new header and time).
# The runs that would back up the shared part alone happen in the last two
# days of each week only (the 48 hours its hourly rule keeps): 6,000
# snapshots instead of 19,000, under the same rules. coffer expire runs at
# the end of every simulated week, coffer prune every fourth. The
# repository has cheap key derivation (repo_tool init --cheap-kdf): some
# 300 coffer calls would otherwise spend a third of the test in scrypt.

. "$(dirname "$0")/../lib/pg.sh"

RT=$REPO_ROOT/build/bench/repo_tool
MODEL=$REPO_ROOT/test/lib/retention_model.py
[ -x "$RT" ] || t_skip_all "build/bench/repo_tool is not built (make build/bench/repo_tool)"

START=2027-09-02 # a Thursday: "every: 7d" periods begin on Thursdays (1970-01-01 was one)
DAYS=800
DROP_DAY=42      # tenant_gone is dropped then; its 730 days end on day 772
TENANTS=(tenant_a=active tenant_b=active tenant_demo=demo tenant_gone=active)

pg_start || t_bail "cannot start PostgreSQL"
pg_psql -c "CREATE DATABASE sim" >/dev/null || t_bail "cannot create database"
pg_psql -d sim >/dev/null <<'SQL' || t_bail "cannot load data"
CREATE SCHEMA central;
CREATE TABLE central.plans (id int PRIMARY KEY, name text);
INSERT INTO central.plans SELECT g, 'plan ' || g FROM generate_series(1, 20) g;
CREATE SCHEMA tenant_a;    CREATE TABLE tenant_a.items (id int PRIMARY KEY, v text);
CREATE SCHEMA tenant_b;    CREATE TABLE tenant_b.items (id int PRIMARY KEY, v text);
CREATE SCHEMA tenant_demo; CREATE TABLE tenant_demo.items (id int PRIMARY KEY, v text);
CREATE SCHEMA tenant_gone; CREATE TABLE tenant_gone.items (id int PRIMARY KEY, v text);
INSERT INTO tenant_a.items SELECT g, md5('a' || g) FROM generate_series(1, 200) g;
INSERT INTO tenant_b.items SELECT g, md5('b' || g) FROM generate_series(1, 200) g;
INSERT INTO tenant_demo.items SELECT g, md5('d' || g) FROM generate_series(1, 50) g;
INSERT INTO tenant_gone.items SELECT g, md5('g' || g) FROM generate_series(1, 200) g;
SQL

export COFFER_PASSPHRASE="retention simulation"
export COFFER_CONFIG=$T_TMP/coffer.yaml
repo=$T_TMP/repo
cat >"$COFFER_CONFIG" <<YAML
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=sim user=postgres"
tenancy:
  model: schema
  shared: [central, public]
  shared_class: master
  discover:
    query: "SELECT nspname AS tenant, CASE WHEN nspname = 'tenant_demo' THEN 'demo' ELSE 'active' END AS class FROM pg_namespace WHERE nspname LIKE 'tenant\\\\_%'"
classes:
  master: { every: 1h, keep: { hourly: 48, daily: 30 } }
  active: { every: 1d, at: "02:00", keep: { daily: 90, weekly: 12, monthly: 12, yearly: 7 } }
  demo:   { every: 7d, keep: { within: 30d } }
  deleted: { keep: { within: 730d } }
repository:
  path: $repo
YAML
t_ok "a repository with cheap key derivation" "$RT" init "$repo" --cheap-kdf
t_ok "the configuration is valid" "$COFFER" config check

# ---- the plan: what coffer run does hour by hour, from the model
events=$T_TMP/events
model_args=()
for t in "${TENANTS[@]}"; do model_args+=(--tenant "${t/=/:}"); done
t_ok "the model plans $DAYS days" python3 "$MODEL" plan "$COFFER_CONFIG" --start "$START" \
    --days "$DAYS" --step-days 7 --hourly-days 2 --real-every 4 --prune-every 4 "${model_args[@]}" \
    --drop "tenant_gone:$DROP_DAY" --check day504:504 --check "day$DAYS:$DAYS"
printf '%s\n' "$T_OUT" >"$events"
t_note "events: $(awk '{ n[$1]++ } END { for (k in n) printf "%s %d, ", k, n[k] }' "$events")"

# ---- the simulation
# src[OWNER]: the newest snapshot holding OWNER's part, real or forged (its
# time in src_time): every rule keeps an owner's newest snapshot, so it is
# still there when the next snapshots are forged from it.
declare -A src src_time
forge=$T_TMP/forge     # "TIME OWNERS" lines waiting to be forged
forged=0 runs=0 run_bad=0 expires=0 prunes=0
us_forge=0 us_run=0 us_expire=0 us_prune=0 us_check=0
sizes=$T_TMP/sizes     # "DAY SNAPSHOTS FILE_BYTES DU_BYTES" after each prune
fail_at=               # the first step that failed, and why
: >"$forge"

now_us() { echo "${EPOCHREALTIME/./}"; }
secs() { printf '%d.%02d' $(( $1 / 1000000 )) $(( $1 % 1000000 / 10000 )); }
day_of() { echo $(( ($(date -ud "$1" +%s) - $(date -ud "$START" +%s)) / 86400 )); }
newest() { # OWNER ID TIME: ID holds OWNER's part; remember it if it is the newest
    if [ -z "${src_time[$1]:-}" ] || [[ "$3" > "${src_time[$1]}" ]]; then
        src[$1]=$2 src_time[$1]=$3
    fi
}

# Writes the snapshots waiting in $forge, in one repo_tool call: copies of
# the newest snapshot holding the shared part, each tenant's part taken
# from the newest snapshot holding it.
flush_forge() {
    local o tm owners rest t0
    local -a args=()
    local -A need=()
    t0=$(now_us)
    while read -r tm owners; do
        for o in ${owners//,/ }; do need[$o]=1; done
    done <"$forge"
    for o in "${!need[@]}"; do
        [ "$o" = shared ] || args+=(--part-from "${src[$o]}" "$o")
    done
    if ! "$RT" clone-snapshots "$repo" "${src[shared]}" "${args[@]}" <"$forge" \
        >"$T_TMP/clone.out" 2>"$T_TMP/clone.err"; then
        fail_at="clone-snapshots: $(cat "$T_TMP/clone.err")"
        return 1
    fi
    # {"id": "ID", "time": "TIME"} per line of $forge, in its order
    while read -r tm owners rest; do
        [[ $rest =~ \"id\":\ \"([0-9a-f]+)\" ]] || { fail_at="clone-snapshots said: $rest"; return 1; }
        for o in ${owners//,/ }; do newest "$o" "${BASH_REMATCH[1]}" "$tm"; done
        forged=$(( forged + 1 ))
    done < <(paste -d ' ' "$forge" "$T_TMP/clone.out")
    : >"$forge"
    us_forge=$(( us_forge + $(now_us) - t0 ))
}

# coffer at a time; its output in $T_TMP/out, errors in $T_TMP/err.
at() {
    COFFER_NOW=$1 "${@:2}" >"$T_TMP/out" 2>"$T_TMP/err" && return 0
    fail_at="$1: ${*:2} exited $?: $(tail -3 "$T_TMP/err")"
    return 1
}

# The snapshots holding each owner's part, for checkpoint NAME.
record() {
    local name=$1 t
    mkdir -p "$T_TMP/actual/$name"
    "$COFFER" list --json | jq -r '.[].time' >"$T_TMP/actual/$name/shared" || return 1
    for t in "${TENANTS[@]}"; do
        "$COFFER" list --tenant "${t%%=*}" --json | jq -r '.[].time' \
            >"$T_TMP/actual/$name/tenant_${t%%=*}" || return 1
    done
}

# The data changes before each real run: every value of the shared table
# and of the tenants left is new, so each real run stores new chunks and
# parts, and prune frees those no kept snapshot needs any more.
change_data() {
    local tbl
    for tbl in central.plans:name tenant_a.items:v tenant_b.items:v tenant_gone.items:v; do
        [ "$tbl" != tenant_gone.items:v ] || [ "$1" \< "$DROP_TIME" ] || continue
        pg_psql -d sim -c "UPDATE ${tbl%:*} SET ${tbl#*:} = md5(id || '$1')" >/dev/null || return 1
    done
}
DROP_TIME=$(date -ud "$START + $DROP_DAY days" +%Y-%m-%dT%H:%M:%SZ)

# The bytes of the repository's files (du -sb counts directories too: an
# ext4 directory never shrinks, and data/ gains subdirectories as packs
# with new prefixes come; those are at most 256 and hold no data).
file_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

sim_t0=$(now_us)
while read -r op when a b && [ -z "$fail_at" ]; do
    if [ "$op" = forge ]; then
        echo "$when $a" >>"$forge"
        continue
    fi
    [ ! -s "$forge" ] || flush_forge || break
    t0=$(now_us)
    case $op in
    data)
        change_data "$when" || fail_at="$when: the data could not be changed"
        ;;
    run)
        at "$when" "$COFFER" run --json --yes || break
        runs=$(( runs + 1 ))
        read -r id due < <(jq -r '[.backup.id // "-", ([.owners[] | select(.due) |
            if .tenant then "tenant:" + .tenant else "shared" end] | sort | join(","))] | join(" ")' "$T_TMP/out")
        if [ "$id" = - ] || [ "$due" != "$a" ]; then
            run_bad=$(( run_bad + 1 ))
            t_diag "run at $when: snapshot '$id', due '$due', the model says '$a'"
        fi
        for o in ${a//,/ }; do newest "$o" "$id" "$when"; done
        us_run=$(( us_run + $(now_us) - t0 ))
        ;;
    expire)
        at "$when" "$COFFER" expire --yes || break
        expires=$(( expires + 1 ))
        us_expire=$(( us_expire + $(now_us) - t0 ))
        ;;
    prune)
        at "$when" "$COFFER" prune || break
        prunes=$(( prunes + 1 ))
        echo "$(day_of "$when") $(find "$repo/snapshots" -type f | wc -l) $(file_bytes "$repo")" \
            "$(du -sb "$repo" | cut -f1)" >>"$sizes"
        us_prune=$(( us_prune + $(now_us) - t0 ))
        ;;
    drop)
        pg_psql -d sim -c "DROP SCHEMA $a CASCADE" >/dev/null 2>&1 || fail_at="$when: DROP SCHEMA $a failed"
        ;;
    gone)
        at "$when" "$COFFER" expire --tenant "$a" --allow-empty --dry-run --json || break
        got=$(jq -r --arg t "$a" '.owners[] | select(.tenant == $t) | .snapshots[0] |
            if .keep then "keep " + .why else "drop" end' "$T_TMP/out")
        if [ "$b" = keep ]; then
            t_is "$got" "keep within" \
                "day $(day_of "$when"): the deleted class keeps $a's last snapshot 730 days after it was last seen"
        else
            t_is "$got" "drop" "  ... and a second later, with --allow-empty, it would go"
        fi
        ;;
    empty)
        at "$when" "$COFFER" expire --tenant "$a" --allow-empty --yes || break
        ;;
    check)
        record "$a" || fail_at="$when: coffer list failed for checkpoint $a"
        us_check=$(( us_check + $(now_us) - t0 ))
        ;;
    esac
done <"$events"
[ ! -s "$forge" ] || [ -n "$fail_at" ] || flush_forge
t_is "$fail_at" "" "the simulation ran to day $DAYS"
t_note "$forged snapshots forged in $(secs $us_forge) s; $runs runs in $(secs $us_run) s;" \
    "$expires expires in $(secs $us_expire) s; $prunes prunes in $(secs $us_prune) s;" \
    "checkpoints $(secs $us_check) s; in all $(secs $(( $(now_us) - sim_t0 ))) s"
t_is "$runs" "$(grep -c '^run' "$events")" "a real coffer run every fourth week, the first at the start"
t_is "$run_bad" 0 "  ... each backed up exactly the owners the model finds due"
t_is "$forged" "$(grep -c '^forge' "$events")" "the snapshots of the runs between were forged"

# ---- what the repository holds, against the model
python3 "$MODEL" expect "$COFFER_CONFIG" "$events" "$T_TMP/actual" "${TENANTS[@]}" >"$T_TMP/expect" 2>&1 ||
    t_fail "the model could not compare" "$(tail -5 "$T_TMP/expect")"
while read -r status what; do
    case $status in
    PASS) t_pass "$what" ;;
    FAIL) t_fail "$what" ;;
    NOTE) t_note "$what" ;;
    *) t_fail "model: $status $what" ;;
    esac
done <"$T_TMP/expect"
t_is "$(wc -l <"$T_TMP/actual/after-empty/tenant_tenant_gone")" 0 \
    "expire --tenant tenant_gone --allow-empty at day $DAYS removed its last snapshot"

# ---- no growth once the windows are full: by day 504 (after New Year
# 2029, when the yearly rule starts keeping the last snapshot of 2028)
# every window is full, and up to day 800 (before New Year 2030) no rule
# keeps more. What stays varies a little with the calendar (the months
# with two real runs): a snapshot or two, one run's data.
t_note "after each prune, day snapshots file-bytes du-bytes: $(tr '\n' ';' <"$sizes")"
read -r d0 n0 b0 _ < <(awk '$1 >= 504' "$sizes" | head -1)
read -r nmax bmax < <(awk '$1 >= 504 { if ($2 > n) n = $2; if ($3 > b) b = $3 } END { print n, b }' "$sizes")
read -r d1 n1 b1 du1 < <(tail -1 "$sizes")
t_is "$d0 $d1" "504 $DAYS" "sizes were measured at day 504 and day $DAYS"
t_ok "from day 504 to $DAYS the snapshots stay within 2 of day 504's $n0 (at most $nmax; $n1 at the end)" \
    test "$nmax" -le $(( n0 + 2 ))
t_ok "  ... and the bytes of the repository's files within 3% of day 504's $b0 (at most $bmax; $b1 at the end)" \
    test "$bmax" -le $(( b0 + b0 * 3 / 100 ))

t_ok "coffer check is clean at the end" "$COFFER" check
t_done
