#!/usr/bin/env bash
# bench/run.sh - Coffer against what users do today, on the same data, in one run.
#
# Starts a throwaway PostgreSQL 15 (bench/lib.sh), generates the data sets
# (bench/gen.sh), times the alternatives and Coffer, and prints a table of
# medians and the ratios Coffer / alternative against the targets. Results also
# go to build/bench/results.json; logs of every run to build/bench/logs/.
#
# Environment:
#   BENCH_SCALE=1.0          data size factor of the skewed and dbs sets (0.05: quick run)
#   BENCH_SETS="skewed tiny dbs s3 retention"  which sets to run; "huge" (10,000
#                            tiny tenants and one tenant of the same bytes) is
#                            opt-in: BENCH_SETS="skewed tiny dbs s3 retention huge"
#   BENCH_TINY_TENANTS=2000  tenants of the tiny set (and of the s3 set's);
#                            BENCH_HUGE_TENANTS=10000 of the huge one
#   BENCH_S3_SCALE           size factor of the s3 set's skewed data (default
#                            0.4 x BENCH_SCALE); BENCH_S3_PART_SIZE its
#                            part_size in MiB (default: Coffer's, 8)
#   BENCH_RETENTION_TENANTS=200, BENCH_RETENTION_SNAPSHOTS=1000  the retention
#                            set: tenants, and snapshots (1 backup, the rest
#                            copies written by build/bench/repo_tool)
#   BENCH_CHEAP_SECONDS=60   a method whose first run takes less is run 3 times
#                            (median reported); a longer one runs once
#   BENCH_TINY_SAMPLE=100    schemas of the tiny set timed by the per-schema loop
#   BENCH_KEEP=1             keep the temp dir (server data, dumps, repos) at exit
#   COFFER=./coffer          the binary under test; COFFER_PASSPHRASE its passphrase
#
# The s3 set runs Coffer against a bucket of the tests' S3 server (OpenStack
# Swift with s3api on this machine, test/lib/s3.sh, started here and stopped
# at its end) and against a directory; a counting proxy in front of Swift
# gives the requests and bytes sent. Without Swift its rows say "not available".
#
# Coffer is called only through the coffer_* functions below: when its commands
# change, those are the only lines to adjust. If "coffer help backup" fails, the
# Coffer rows print "coffer backup: not available" and the alternatives still run.
#
# The server runs with the stock max_locks_per_transaction (64) for every Coffer
# run: Coffer keeps to a lock budget of a quarter of the lock table. A
# whole-database pg_dump of the tiny set cannot run there ("out of shared
# memory"), so the server is restarted with RAISED_LOCKS around those runs
# only (locks_raised / locks_stock; their rows say so in a note).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
COFFER_GIVEN=${COFFER:-}   # lib.sh (through test/lib/pg.sh) sets COFFER to ./coffer
source bench/lib.sh

export BENCH_SCALE=${BENCH_SCALE:-1.0}
SETS=${BENCH_SETS:-skewed tiny dbs s3 retention}
JOBS=2
CHEAP_SECONDS=${BENCH_CHEAP_SECONDS:-60}
TINY_SAMPLE=${BENCH_TINY_SAMPLE:-100}
OUT=$ROOT/build/bench
LOGS=$OUT/logs
RESULTS=$OUT/results.json
COFFER=${COFFER_GIVEN:-$ROOT/coffer}
export COFFER_PASSPHRASE=${COFFER_PASSPHRASE:-coffer-bench-passphrase}
RSS_LIMIT_KIB=$(( 128 * 1024 ))
STOCK_LOCKS=64       # max_locks_per_transaction of a stock server (lib.sh starts with it)
RAISED_LOCKS=1024    # for the whole-database pg_dumps of the tiny set

mkdir -p "$OUT" "$LOGS"
rm -f "$LOGS"/*.log

# ---------------------------------------------------------------------------
# Results: every measurement is a key with these fields.
KEYS=()
declare -A R_SET R_LABEL R_MEDIAN R_RUNS R_BYTES R_RSS R_NOTE R_STATUS
# R_LOCKS: the server's max_locks_per_transaction during the key's runs
declare -A R_LOCKS
# R_EXTRA: more "name": value pairs of a key's JSON object (restore steps, RSS split)
declare -A R_EXTRA

result_new()   # KEY SET LABEL
{
    KEYS+=("$1")
    R_SET[$1]=$2 R_LABEL[$1]=$3 R_MEDIAN[$1]= R_RUNS[$1]= R_BYTES[$1]= R_RSS[$1]= R_NOTE[$1]= R_STATUS[$1]=ok
    R_LOCKS[$1]=
}

note() { R_NOTE[$1]="${R_NOTE[$1]:+${R_NOTE[$1]}; }$2"; }

# measure KEY SET LABEL PREP RUN [ARGS...]
# Runs PREP (untimed) then RUN (timed) once; if that took less than
# CHEAP_SECONDS, twice more. Stores the runs and their median. RUN's output goes
# to build/bench/logs/KEY.N.log; a failure marks the key failed and stops there.
# Records the server's max_locks_per_transaction (a note when it was raised);
# a Coffer run (RUN coffer_*) on a server with raised locks is a bug here.
measure()
{
    local key=$1 set=$2 label=$3 prep=$4 run=$5
    shift 5
    result_new "$key" "$set" "$label"
    case $run in
        coffer_*) [ "$BENCH_LOCKS" = "$STOCK_LOCKS" ] ||
            bench_die "$label: Coffer would run with max_locks_per_transaction = $BENCH_LOCKS (call locks_stock first)" ;;
    esac
    R_LOCKS[$key]=$BENCH_LOCKS
    if [ "$BENCH_LOCKS" != "$STOCK_LOCKS" ]; then
        note "$key" "run with max_locks_per_transaction = $BENCH_LOCKS, raised from the stock $STOCK_LOCKS${LOCKS_WHY:+: $LOCKS_WHY}"
    fi
    local n=1 i secs runs=()
    for (( i = 1; i <= n; i++ )); do
        if ! "$prep" "$@" >"$LOGS/$key.prep.$i.log" 2>&1; then
            R_STATUS[$key]=failed
            bench_log "$label: preparation failed, see $LOGS/$key.prep.$i.log"
            tail -5 "$LOGS/$key.prep.$i.log" >&2
            return 1
        fi
        RUN_KEY=$key
        if ! bench_time secs "$run" "$@" >"$LOGS/$key.$i.log" 2>&1; then
            R_STATUS[$key]=failed
            bench_log "$label: FAILED after $secs s, see $LOGS/$key.$i.log"
            tail -5 "$LOGS/$key.$i.log" >&2
            return 1
        fi
        runs+=("$secs")
        bench_log "$label: run $i: $secs s"
        if [ "$i" -eq 1 ] && awk -v s="$secs" -v c="$CHEAP_SECONDS" 'BEGIN { exit !(s < c) }'; then
            n=3
        fi
    done
    R_RUNS[$key]="${runs[*]}"
    R_MEDIAN[$key]=$(bench_median "${runs[@]}")
}

# A row that was not measured (e.g. Coffer's command is not there yet).
unavailable()   # KEY SET LABEL WHY
{
    result_new "$1" "$2" "$3"
    R_STATUS[$1]="not available"
    note "$1" "$4"
}

# run_timed KEY RUN [ARGS...]: one more timed run of RUN for a key made by
# result_new, for runs that alternate between keys (A B A B) or need their own
# preparation; measure does the rest. The log is build/bench/logs/KEY.N.log;
# the time is added to R_RUNS[KEY] and LAST_SECS, the median updated. A
# failure marks the key failed and returns 1.
LAST_SECS=
run_timed()
{
    local key=$1 run=$2 secs n
    shift 2
    [ "${R_STATUS[$key]}" = ok ] || return 1
    case $run in
        coffer_*) [ "$BENCH_LOCKS" = "$STOCK_LOCKS" ] ||
            bench_die "${R_LABEL[$key]}: Coffer would run with max_locks_per_transaction = $BENCH_LOCKS (call locks_stock first)" ;;
    esac
    R_LOCKS[$key]=$BENCH_LOCKS
    n=$(( $(wc -w <<<"${R_RUNS[$key]:-}") + 1 ))
    RUN_KEY=$key
    if ! bench_time secs "$run" "$@" >"$LOGS/$key.$n.log" 2>&1; then
        R_STATUS[$key]=failed
        bench_log "${R_LABEL[$key]}: FAILED after $secs s, see $LOGS/$key.$n.log"
        tail -5 "$LOGS/$key.$n.log" >&2
        return 1
    fi
    LAST_SECS=$secs
    R_RUNS[$key]="${R_RUNS[$key]:+${R_RUNS[$key]} }$secs"
    # shellcheck disable=SC2086
    R_MEDIAN[$key]=$(bench_median ${R_RUNS[$key]})
    bench_log "${R_LABEL[$key]}: run $n: $secs s"
}

# prep_failed KEY WHAT LOG: an untimed step before KEY's run failed.
prep_failed()
{
    R_STATUS[$1]=failed
    note "$1" "$2 failed, see $3"
    bench_log "${R_LABEL[$1]}: $2 failed, see $3"
    tail -5 "$3" >&2
}

nothing() { :; }
dir_bytes() { du -sb "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'; }

# rss_sample PID OUT: the peak RSS of PID and, apart, of its children, until
# PID exits. /usr/bin/time (wait4) reports the largest peak over the whole
# process tree, which for a backup may be its pg_dump's; this reads VmHWM (the
# kernel's high-water mark of resident memory) from /proc/PID/status and from
# each child's every 20 ms, and writes the largest per program name as
# "NAME KIB" lines to OUT (then "samples N"). VmHWM only grows, so a sample
# misses at most what a process adds in its last 20 ms. Children are found by
# scanning /proc for PPid = PID every 100 ms (every 500 ms while one is alive).
rss_sample()
{
    local root=$1 out=$2 fd i=0 f p line rest status name hwm _
    local -A peak=() live=()
    exec {fd}<> <(:)   # read -t on this pipe waits without forking sleep
    while :; do
        if (( i % (${#live[@]} ? 25 : 5) == 0 )); then
            for f in /proc/[0-9]*/stat; do
                { read -r line <"$f"; } 2>/dev/null || continue
                rest=${line##*) }; rest=${rest#* }
                if [ "${rest%% *}" = "$root" ]; then p=${f#/proc/}; live[${p%/stat}]=1; fi
            done
        fi
        for p in "$root" "${!live[@]}"; do
            # one read call: the kernel makes the file anew after each seek,
            # and lines such as State: change length between two makings
            status='' hwm=''
            { read -r -d '' status <"/proc/$p/status"; } 2>/dev/null || true
            name=${status#Name:}; name=${name%%$'\n'*}; name=${name//[[:space:]]/}
            case $status in *VmHWM:*) hwm=${status#*VmHWM:}; hwm=${hwm%%kB*}; hwm=${hwm//[!0-9]/} ;; esac
            if [ -z "$hwm" ]; then   # gone, or a zombie: memory released
                [ "$p" = "$root" ] && break 2
                unset "live[$p]"
                continue
            fi
            [ "$p" = "$root" ] && name=coffer
            if [ -z "${peak[$name]:-}" ] || [ "$hwm" -gt "${peak[$name]}" ]; then peak[$name]=$hwm; fi
        done
        i=$(( i + 1 ))
        read -r -t 0.02 -u "$fd" _ || true
    done
    { for name in "${!peak[@]}"; do echo "$name ${peak[$name]}"; done; echo "samples $i"; } >"$out"
}

# locks_raised WHY: the runs that follow need more than the stock lock table
# (a restart with RAISED_LOCKS, unless it is so already); WHY goes to their
# notes. locks_stock: back to the stock setting, before any Coffer run.
LOCKS_WHY=
locks_raised() { LOCKS_WHY=$1; bench_pg_locks "$RAISED_LOCKS"; }
locks_stock() { LOCKS_WHY=; bench_pg_locks "$STOCK_LOCKS"; }

proc_alive()   # PID: the process exists and is no zombie
{
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# locks_sample PID OUT: until PID exits, counts every 50 ms the relation locks
# held by the server's other sessions (every database), through one psql
# session that is sent one query per sample. Writes to OUT "max N" (the largest
# count), "max_shared N" (the largest count of those not fast-path, i.e. in the
# shared lock table), "samples N", and the settings the lock budget comes from
# as SHOW reports them: "max_locks_per_transaction N", "max_connections N",
# "max_prepared_transactions N". The psql session ends with the sampling.
LOCKS_SQL="SELECT count(*), count(*) FILTER (WHERE NOT fastpath) FROM pg_locks WHERE locktype = 'relation' AND pid <> pg_backend_pid();"
locks_sample()
{
    local root=$1 out=$2 fd in ofd qpid _ g v n sh max=0 maxs=0 i=0
    local -a settings=()
    exec {fd}<> <(:)   # read -t on this pipe waits without forking sleep
    coproc LOCKQ { exec psql -X -At -F ' ' -d postgres 2>/dev/null; }
    # bash unsets LOCKQ and LOCKQ_PID once the coprocess is gone: copies
    qpid=${LOCKQ_PID:-} in=${LOCKQ[1]:-} ofd=${LOCKQ[0]:-}
    if [ -z "$qpid" ] || [ -z "$in" ] || [ -z "$ofd" ]; then
        echo "error psql did not start" >"$out"
        return 0
    fi
    for g in max_locks_per_transaction max_connections max_prepared_transactions; do
        printf 'SHOW %s;\n' "$g" >&"$in" && read -r -t 10 v <&"$ofd" || v=
        settings+=("$g ${v:-?}")
    done
    while proc_alive "$root"; do
        printf '%s\n' "$LOCKS_SQL" >&"$in" 2>/dev/null || break
        read -r -t 10 n sh <&"$ofd" || break
        [[ "$n" =~ ^[0-9]+$ ]] && (( n > max )) && max=$n
        [[ "$sh" =~ ^[0-9]+$ ]] && (( sh > maxs )) && maxs=$sh
        i=$(( i + 1 ))
        read -r -t 0.05 -u "$fd" _ || true
    done
    exec {in}>&- {fd}>&-
    wait "$qpid" 2>/dev/null || true
    { echo "max $max"; echo "max_shared $maxs"; echo "samples $i"; printf '%s\n' "${settings[@]}"; } >"$out"
}

# ---------------------------------------------------------------------------
# Coffer. Every call to the binary under test is in this section.

coffer_has()   # COMMAND: true when "coffer help COMMAND" succeeds
{
    [ -x "$COFFER" ] && "$COFFER" help "$1" >/dev/null 2>&1
}

# coffer_config NAME DB MODEL [REPOSITORY]: writes $BENCH_TMP/coffer/NAME.yaml,
# prints its path. REPOSITORY: the repository section (YAML); by default a
# directory, $BENCH_TMP/coffer/repo-NAME.
coffer_config()
{
    local name=$1 db=$2 model=$3 dir=$BENCH_TMP/coffer
    local repo=${4:-"repository:
  path: \"$dir/repo-$name\""}
    mkdir -p "$dir"
    local shared pattern
    if [ "$model" = schema ]; then
        shared="[central]" pattern="tenant_%"
    else
        shared="[bench_master]" pattern="bench_db_%"
    fi
    cat >"$dir/$name.yaml" <<EOF
# written by bench/run.sh; passphrase from COFFER_PASSPHRASE
postgres:
  conninfo: "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$db"
tenancy:
  model: $model
  shared: $shared
  discover:
    pattern: "$pattern"
$repo
EOF
    chmod 600 "$dir/$name.yaml"
    echo "$dir/$name.yaml"
}

coffer_repo() { awk -F'"' '/^  path:/ { print $2 }' "$1"; }

# coffer_config_s3 NAME DB ENDPOINT PREFIX: a configuration (schema model)
# whose repository is PREFIX in the bucket BENCH_S3_BUCKET at ENDPOINT. The
# keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (bench_s3_start);
# part_size is Coffer's default (8 MiB) unless BENCH_S3_PART_SIZE is set.
coffer_config_s3()
{
    coffer_config "$1" "$2" schema "repository:
  s3: {endpoint: \"$3\", bucket: $BENCH_S3_BUCKET, prefix: \"$4\"${BENCH_S3_PART_SIZE:+, part_size: $BENCH_S3_PART_SIZE}}"
}

# coffer_config_copy NAME DB ENDPOINT PREFIX: two repositories, "local" (the
# directory $BENCH_TMP/coffer/repo-NAME) and "offsite" (PREFIX in the bucket
# at ENDPOINT), both with the passphrase COFFER_PASSPHRASE.
coffer_config_copy()
{
    coffer_config "$1" "$2" schema "repositories:
  - name: local
    path: \"$BENCH_TMP/coffer/repo-$1\"
  - name: offsite
    s3: {endpoint: \"$3\", bucket: $BENCH_S3_BUCKET, prefix: \"$4\"${BENCH_S3_PART_SIZE:+, part_size: $BENCH_S3_PART_SIZE}}"
}

coffer_init() { "$COFFER" --config "$1" ${2:+--repo "$2"} init; }   # CONFIG [REPO]

# A backup whose JSON summary (bytes_read, bytes_added, ...) goes to OUT.
coffer_backup_json()   # CONFIG OUT [REPO]
{
    coffer_run --config "$1" ${3:+--repo "$3"} backup -j "$JOBS" --json >"$2"
}

# coffer copy of the latest snapshot; its JSON summary (bytes, bytes_added,
# chunks, chunks_new) goes to OUT.
coffer_copy_json()   # CONFIG FROM TO OUT
{
    coffer_run --config "$1" copy --from "$2" --to "$3" --json >"$4"
}

# coffer_restore_one with its JSON summary (rows, bytes) to OUT.
coffer_restore_json()   # CONFIG TENANT TARGET_DB OUT
{
    coffer_run --config "$1" restore --tenant "$2" --into-db "$3" --yes -j "$JOBS" --json >"$4"
}

# Runs coffer under /usr/bin/time, keeping the peak RSS (KiB) of RUN_KEY's runs.
coffer_run()
{
    local rss=$BENCH_TMP/rss.$$ rc=0
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f %M -o "$rss" "$COFFER" "$@" || rc=$?
        local kib
        kib=$(tail -1 "$rss" 2>/dev/null || true)
        if [[ "$kib" =~ ^[0-9]+$ ]] && [ -n "${RUN_KEY:-}" ]; then
            if [ -z "${R_RSS[$RUN_KEY]:-}" ] || [ "$kib" -gt "${R_RSS[$RUN_KEY]}" ]; then
                R_RSS[$RUN_KEY]=$kib
            fi
        fi
    else
        "$COFFER" "$@" || rc=$?
    fi
    return $rc
}

coffer_fresh_repo()   # CONFIG: an empty repository (prep of a first backup)
{
    rm -rf "$(coffer_repo "$1")"
    if coffer_has init; then
        "$COFFER" --config "$1" init
    fi
}

coffer_backup_full()   # CONFIG: first backup into an empty repository
{
    coffer_run --config "$1" backup -j "$JOBS"
}

coffer_backup_again()   # CONFIG: a later backup into the same repository
{
    coffer_run --config "$1" backup -j "$JOBS"
}

coffer_restore_one()   # CONFIG TENANT TARGET_DB: one tenant into another database
{
    coffer_run --config "$1" restore --tenant "$2" --into-db "$3" --yes -j "$JOBS"
}

# The same restore with --verbose: its log has "NAME: STEP took N.NNNs" for
# each step of the target (untimed run, read by restore_steps).
coffer_restore_verbose()   # CONFIG TENANT TARGET_DB
{
    "$COFFER" --verbose --config "$1" restore --tenant "$2" --into-db "$3" --yes -j "$JOBS"
}

# "coffer list" opens the repository (deriving its key with scrypt) and reads
# the list of snapshots: the key derivation a restore pays before its steps.
coffer_list() { coffer_run --config "$1" list; }

# A first backup (untimed) with coffer's peak RSS and its children's sampled
# apart (see rss_sample: OUT gets "PROGRAM KIB" lines), and the relation locks
# held meanwhile (see locks_sample: LOCKS_OUT).
coffer_backup_rss_split()   # CONFIG OUT LOCKS_OUT
{
    local pid spid lpid rc=0
    "$COFFER" --config "$1" backup -j "$JOBS" &
    pid=$!
    rss_sample "$pid" "$2" &
    spid=$!
    locks_sample "$pid" "$3" &
    lpid=$!
    wait "$pid" || rc=$?
    wait "$spid" || true
    wait "$lpid" || true
    return $rc
}

# A backup of one tenant only (untimed): a snapshot holding just that tenant.
coffer_backup_tenant()   # CONFIG TENANT
{
    "$COFFER" --config "$1" backup --tenant "$2" -j "$JOBS"
}

# The retention set's configuration: coffer_config's (schema model), with the
# shared part in class master and CLASSES (YAML lines) under classes:.
coffer_config_classes()   # NAME DB CLASSES
{
    local f
    f=$(coffer_config "$1" "$2" schema) || return 1
    sed -i 's/^tenancy:$/tenancy:\n  shared_class: master/' "$f"
    printf 'classes:\n%s\n' "$3" >>"$f"
    echo "$f"
}

# The retention set's calls, each on coffer's calendar at TIME (COFFER_NOW):
# a backup of every tenant (its JSON summary, with the snapshot id, to
# stdout), coffer run (what a timer calls), and coffer expire with ARGS.
coffer_backup_at() { COFFER_NOW=$2 "$COFFER" --config "$1" backup -j "$JOBS" --json; }   # CONFIG TIME
coffer_run_at() { COFFER_NOW=$2 coffer_run --config "$1" run; }                       # CONFIG TIME
coffer_expire_at() { COFFER_NOW=$2 coffer_run --config "$1" expire "${@:3}"; }        # CONFIG TIME ARGS...

# ---------------------------------------------------------------------------
# The alternatives.

# copy_lists DB PREFIX: splits every user table of DB into JOBS files of
# "COPY t TO STDOUT;" balanced by size (largest first), prints their names.
copy_lists()
{
    local db=$1 prefix=$2
    psql -X -At -F ' ' -d "$db" -c "
        SELECT pg_relation_size(c.oid), format('COPY %I.%I TO STDOUT;', n.nspname, c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1 DESC" |
    awk -v jobs="$JOBS" -v prefix="$prefix" '
        BEGIN { for (j = 1; j <= jobs; j++) { f[j] = prefix "." j ".sql"; print "\\set ON_ERROR_STOP 1" > f[j] } }
        {
            best = 1; for (j = 2; j <= jobs; j++) if (load[j] < load[best]) best = j
            load[best] += $1 + 8192; sub(/^[0-9]+ /, ""); print > f[best]
        }
        END { for (j = 1; j <= jobs; j++) print f[j] }'
}

# copy_streams DB MODE FILES...: one psql per file in parallel.
# MODE null: to /dev/null; zstd: through zstd -3, compressed bytes to FILE.out;
# count: raw bytes to FILE.out.
copy_streams()
{
    local db=$1 mode=$2 f p rc=0 pids=()
    shift 2
    for f in "$@"; do
        case $mode in
            null) psql -X -q -d "$db" -f "$f" >/dev/null & ;;
            zstd) { psql -X -q -d "$db" -f "$f" | zstd -3 -q -c | wc -c >"$f.out"; } & ;;
            count) { psql -X -q -d "$db" -f "$f" | wc -c >"$f.out"; } & ;;
        esac
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

sum_outs() { cat "$@" | awk '{ s += $1 } END { printf "%d", s }'; }

clean_dir() { rm -rf "$1" && mkdir -p "$1"; }
# preps get the timed command's arguments: each picks its output dir from them
prep_schema_loop() { clean_dir "$3"; }   # DB LISTFILE OUTDIR
prep_db_loop() { clean_dir "$2"; }       # LISTFILE OUTDIR

# The runbooks' way: one pg_dump -Fc per schema, one after the other.
schema_loop()   # DB LISTFILE OUTDIR
{
    local s
    while read -r s; do
        pg_dump -Fc -n "$s" -f "$3/$s.dump" "$1" || return 1
    done <"$2"
}

db_loop()   # LISTFILE OUTDIR: one pg_dump -Fc per database
{
    local d
    while read -r d; do
        pg_dump -Fc -f "$2/$d.dump" "$d" || return 1
    done <"$1"
}

pgdump_fd() { pg_dump -Fd -j "$JOBS" -f "$2" "$1"; }
pgdump_fc() { pg_dump -Fc -f "$2" "$1"; }
clean_path() { rm -rf "$2"; }   # prep for pg_dump DB PATH

# pgBackRest: a stanza in a temp repo, WAL archived by archive-push for real.
PGBR_CONF=
pgbackrest_setup()
{
    local d=$BENCH_TMP/pgbackrest
    bench_as_owner mkdir -p "$d/repo" "$d/lock" "$d/spool" "$d/log"
    PGBR_CONF=$d/pgbackrest.conf
    cat >"$PGBR_CONF" <<EOF
[global]
repo1-path=$d/repo
repo1-retention-full=1
compress-type=zst
compress-level=3
process-max=$JOBS
start-fast=y
lock-path=$d/lock
spool-path=$d/spool
log-path=$d/log
log-level-console=warn
log-level-stderr=warn
log-level-file=off

[bench]
pg1-path=$BENCH_PGDATA
pg1-socket-path=$PGHOST
pg1-port=$PGPORT
pg1-user=$PGUSER
EOF
    chmod 644 "$PGBR_CONF"
    bench_pg_set archive_command "pgbackrest --config=$PGBR_CONF --stanza=bench archive-push %p"
    pgbackrest_fresh
}

pgbackrest_fresh()   # an empty repo with the stanza created (prep of a full backup)
{
    bench_as_owner find "$BENCH_TMP/pgbackrest/repo" -mindepth 1 -delete
    bench_as_owner pgbackrest --config="$PGBR_CONF" --stanza=bench stanza-create
}

pgbackrest_full() { bench_as_owner pgbackrest --config="$PGBR_CONF" --stanza=bench --type=full backup; }

# A fresh database holding the shared schema central, so a tenant's FKs into it
# resolve: the state both restores start from.
restore_target()   # DB CENTRAL_DUMP
{
    dropdb --if-exists "$1" && createdb "$1" && pg_restore -d "$1" "$2"
}

# prep of both restores (whatever arguments the timed command gets)
RESTORE_CENTRAL_DUMP=
restore_prep() { restore_target bench_restore "$RESTORE_CENTRAL_DUMP"; }

# pg_restore -n restores the objects in the schema but not the schema itself
pgrestore_one()   # DB TENANT DUMP
{
    psql -X -q -d "$1" -c "CREATE SCHEMA $2" && pg_restore -n "$2" -j "$JOBS" -d "$1" "$3"
}

# tenant_by_size DB N: the tenant schema with the N-th largest total size (0: the largest)
tenant_by_size()
{
    psql -X -At -d "$1" -c "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
        WHERE n.nspname LIKE 'tenant\_%' GROUP BY 1 ORDER BY sum(pg_total_relation_size(c.oid)) DESC, 1 OFFSET $2 LIMIT 1"
}

schema_bytes()   # DB SCHEMA: total size of its relations (tables, indexes, TOAST)
{
    psql -X -At -d "$1" -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$2'"
}

# restore_check KEY DB TENANT [TABLE]: after a restore into bench_restore, the
# tenant's TABLE (default orders) has as many rows as in DB, or KEY is marked failed.
restore_check()
{
    [ "${R_STATUS[$1]}" = ok ] || return 0
    local a b t=${4:-orders}
    a=$(psql -X -At -d "$2" -c "SELECT count(*) FROM $3.$t")
    b=$(psql -X -At -d bench_restore -c "SELECT count(*) FROM $3.$t" 2>&1 || true)
    [ "$a" = "$b" ] || { R_STATUS[$1]=failed; note "$1" "$t rows '$b', expected $a"; }
}

RESTORE_STEPS=("fetching the DDL" "listing the DDL" "pre-data" "data" "post-data" "sequences and statistics")

# coffer_restore_row KEY CONFIG DB TENANT LABEL: the timed restore, then one
# more with --verbose (untimed by measure) for the time of each step.
coffer_restore_row()
{
    local key=$1 cfg=$2 db=$3 tenant=$4 label=$5
    measure "$key" skewed "coffer restore: $label" restore_prep coffer_restore_one "$cfg" "$tenant" bench_restore || true
    restore_check "$key" "$db" "$tenant"
    [ "${R_STATUS[$key]}" = ok ] || return 0
    restore_steps "$key" "$cfg" "$tenant"
}

# restore_steps KEY CONFIG TENANT: the step times of a --verbose run go to
# R_STEPS[KEY] ("STEP=SECONDS|..." in RESTORE_STEPS order), R_EXTRA[KEY] (JSON)
# and the log $LOGS/KEY.verbose.log (with the parsed times at its end).
declare -A R_STEPS R_STEPS_RUN
restore_steps()
{
    local key=$1 cfg=$2 tenant=$3 log=$LOGS/$1.verbose.log secs step t sum=0 json='' kdf=''
    if ! restore_prep >"$LOGS/$key.verbose.prep.log" 2>&1 ||
        ! bench_time secs coffer_restore_verbose "$cfg" "$tenant" bench_restore >"$log" 2>&1; then
        note "$key" "the --verbose run failed, see $log"
        return 0
    fi
    R_STEPS_RUN[$key]=$secs
    R_STEPS[$key]=
    for step in "${RESTORE_STEPS[@]}"; do
        t=$(awk -v s=": $step took " 'index($0, s) { v = substr($0, index($0, s) + length(s)); sub(/s$/, "", v); x += v; n++ }
            END { if (n) printf "%.3f", x }' "$log")
        R_STEPS[$key]+="${R_STEPS[$key]:+|}$step=${t:-?}"
        json+="${json:+, }$(json_str "$step"): $(json_num "$t")"
        [ -z "$t" ] || sum=$(awk -v a="$sum" -v b="$t" 'BEGIN { printf "%.3f", a + b }')
    done
    has_median coffer_kdf && kdf=${R_MEDIAN[coffer_kdf]}
    R_EXTRA[$key]="\"steps_s\": {$json}, \"steps_sum_s\": $sum, \"verbose_run_s\": $secs, \"key_derivation_s\": $(json_num "$kdf")"
    {
        echo "== step times (s), summed over the target's lines: ${R_STEPS[$key]//|/, }"
        echo "== sum of steps $sum s of the --verbose run's $secs s; key derivation (median of coffer list) ${kdf:-?} s"
    } >>"$log"
    bench_log "${R_LABEL[$key]}: steps ${R_STEPS[$key]//|/, }; --verbose run $secs s"
}

# ---------------------------------------------------------------------------
# The sets.

declare -A SETINFO

run_skewed()
{
    local db=bench_schema work=$BENCH_TMP/skewed t0 secs
    mkdir -p "$work"
    locks_stock
    bench_time secs bench/gen.sh skewed
    SETINFO[skewed_gen_s]=$secs
    SETINFO[skewed_db_bytes]=$(psql -X -At -d $db -c "SELECT pg_database_size(current_database())")
    SETINFO[skewed_tenants]=$(psql -X -At -d $db -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'")
    psql -X -At -d $db -c "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%' OR nspname = 'central' ORDER BY nspname" >"$work/schemas"

    mapfile -t lists < <(copy_lists $db "$work/copy")
    # warm-up read (untimed): counts the COPY text bytes, sets every cache alike
    copy_streams $db count "${lists[@]}"
    SETINFO[skewed_copy_bytes]=$(sum_outs "${lists[@]/%/.out}")
    bench_log "skewed: $(bench_human_bytes "${SETINFO[skewed_copy_bytes]}") of COPY text in ${SETINFO[skewed_tenants]} tenants, database $(bench_human_bytes "${SETINFO[skewed_db_bytes]}")"

    measure floor_read skewed "COPY floor, read ($JOBS streams to /dev/null)" nothing copy_streams $db null "${lists[@]}" || true
    R_BYTES[floor_read]=${SETINFO[skewed_copy_bytes]}
    measure floor_zstd skewed "COPY floor, read+zstd -3 ($JOBS streams)" nothing copy_streams $db zstd "${lists[@]}" || true
    R_BYTES[floor_zstd]=$(sum_outs "${lists[@]/%/.out}")

    measure loop_skewed skewed "pg_dump -Fc -n SCHEMA loop ($(wc -l <"$work/schemas") schemas)" \
        prep_schema_loop schema_loop $db "$work/schemas" "$work/loop" || true
    R_BYTES[loop_skewed]=$(dir_bytes "$work/loop")
    measure fd_skewed skewed "pg_dump -Fd -j $JOBS" clean_path pgdump_fd $db "$work/fd" || true
    R_BYTES[fd_skewed]=$(dir_bytes "$work/fd")
    rm -rf "$work/fd"
    measure fc_skewed skewed "pg_dump -Fc" clean_path pgdump_fc $db "$work/fc.dump" || true
    R_BYTES[fc_skewed]=$(dir_bytes "$work/fc.dump")
    rm -f "$work/fc.dump"

    if pgbackrest_setup >"$LOGS/pgbackrest_setup.log" 2>&1; then
        measure pgbackrest skewed "pgBackRest full (zst, process-max $JOBS)" pgbackrest_fresh pgbackrest_full || true
        R_BYTES[pgbackrest]=$(dir_bytes "$BENCH_TMP/pgbackrest/repo/backup")
        note pgbackrest "whole cluster, physical; WAL archived with archive-push"
        bench_as_owner pgbackrest --config="$PGBR_CONF" --stanza=bench info >"$LOGS/pgbackrest_info.log" 2>&1 || true
    else
        unavailable pgbackrest skewed "pgBackRest full" "setup failed, see $LOGS/pgbackrest_setup.log"
        tail -5 "$LOGS/pgbackrest_setup.log" >&2
    fi
    bench_pg_set archive_command /bin/true

    # restore of one tenant: a mid-size one (the 10th largest) and the largest
    local tenant tenant_large rlabel rlabel_large
    tenant=$(tenant_by_size $db 9)
    tenant_large=$(tenant_by_size $db 0)
    SETINFO[restore_tenant]=$tenant
    SETINFO[restore_tenant_bytes]=$(schema_bytes $db "$tenant")
    SETINFO[restore_tenant_large]=$tenant_large
    SETINFO[restore_tenant_large_bytes]=$(schema_bytes $db "$tenant_large")
    rlabel="$tenant, $(bench_human_bytes "${SETINFO[restore_tenant_bytes]}")"
    rlabel_large="$tenant_large (largest), $(bench_human_bytes "${SETINFO[restore_tenant_large_bytes]}")"
    RESTORE_CENTRAL_DUMP=$work/loop/central.dump
    measure restore_pg skewed "pg_restore -n -j $JOBS (+CREATE SCHEMA): $rlabel" restore_prep \
        pgrestore_one bench_restore "$tenant" "$work/loop/$tenant.dump" || true
    restore_check restore_pg $db "$tenant"
    measure restore_pg_large skewed "pg_restore -n -j $JOBS (+CREATE SCHEMA): $rlabel_large" restore_prep \
        pgrestore_one bench_restore "$tenant_large" "$work/loop/$tenant_large.dump" || true
    restore_check restore_pg_large $db "$tenant_large"

    # Coffer
    local cfg
    cfg=$(coffer_config skewed $db schema)
    locks_stock
    if coffer_has backup; then
        measure coffer_full skewed "coffer backup -j $JOBS (first)" coffer_fresh_repo coffer_backup_full "$cfg" || true
        R_BYTES[coffer_full]=$(dir_bytes "$(coffer_repo "$cfg")")
        measure coffer_again skewed "coffer backup -j $JOBS (again, nothing changed)" nothing coffer_backup_again "$cfg" || true
    else
        unavailable coffer_full skewed "coffer backup -j $JOBS (first)" "coffer backup: not available"
        unavailable coffer_again skewed "coffer backup -j $JOBS (again, nothing changed)" "coffer backup: not available"
    fi
    if coffer_has backup && coffer_has restore && [ "${R_STATUS[coffer_full]}" = ok ]; then
        # key derivation is no step of the restore log: timed as "coffer list"
        measure coffer_kdf skewed "coffer list (opens the repository: key derivation)" nothing \
            coffer_list "$cfg" || true
        coffer_restore_row coffer_restore "$cfg" $db "$tenant" "$rlabel"
        coffer_restore_row coffer_restore_large "$cfg" $db "$tenant_large" "$rlabel_large"
    else
        unavailable coffer_restore skewed "coffer restore: $rlabel" "coffer restore: not available"
        unavailable coffer_restore_large skewed "coffer restore: $rlabel_large" "coffer restore: not available"
    fi
    dropdb --if-exists bench_restore

    # a day of churn, then a second backup: how many bytes does it add?
    bench_time secs bench/gen.sh churn
    SETINFO[churn_s]=$secs
    if coffer_has backup && [ "${R_STATUS[coffer_full]}" = ok ]; then
        local before
        before=$(dir_bytes "$(coffer_repo "$cfg")")
        CHEAP_SECONDS=0 measure coffer_churn skewed "coffer backup -j $JOBS (after churn)" nothing coffer_backup_again "$cfg" || true
        R_BYTES[coffer_churn]=$(( $(dir_bytes "$(coffer_repo "$cfg")") - before ))
        note coffer_churn "bytes = repository growth"
    else
        unavailable coffer_churn skewed "coffer backup -j $JOBS (after churn)" "coffer backup: not available"
    fi
    rm -rf "$work"
    [ "${BENCH_KEEP:-0}" = 1 ] || dropdb bench_schema
}

run_tiny()
{
    local db=bench_tiny work=$BENCH_TMP/tiny secs total sample
    mkdir -p "$work"
    locks_stock
    bench_time secs bench/gen.sh tiny
    SETINFO[tiny_gen_s]=$secs
    psql -X -At -d $db -c "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%' ORDER BY nspname" >"$work/all"
    total=$(wc -l <"$work/all")
    SETINFO[tiny_tenants]=$total
    SETINFO[tiny_tables]=$(psql -X -At -d $db -c "SELECT count(*) FROM pg_tables WHERE schemaname LIKE 'tenant\_%'")
    # an even sample: every (total/sample)-th schema
    awk -v n="$total" -v k="$TINY_SAMPLE" 'BEGIN { step = (n > k ? n / k : 1) } NR >= next_pick { print; next_pick += step }' \
        next_pick=1 "$work/all" >"$work/sample"
    sample=$(wc -l <"$work/sample")

    CHEAP_SECONDS=0 measure loop_tiny_sample tiny "pg_dump -Fc -n SCHEMA loop, $sample of $total schemas" \
        prep_schema_loop schema_loop $db "$work/sample" "$work/loop" || true
    result_new loop_tiny tiny "pg_dump -Fc -n SCHEMA loop, all $total schemas (extrapolated)"
    if [ "${R_STATUS[loop_tiny_sample]}" = ok ]; then
        R_MEDIAN[loop_tiny]=$(awk -v s="${R_MEDIAN[loop_tiny_sample]}" -v n="$total" -v k="$sample" 'BEGIN { printf "%.3f", s * n / k }')
        R_BYTES[loop_tiny]=$(( $(dir_bytes "$work/loop") * total / sample ))
        note loop_tiny "linear extrapolation of the $sample-schema sample x $total/$sample"
    else
        R_STATUS[loop_tiny]=failed
    fi
    # one transaction locking all 16,000 tables (and with -j, each worker the
    # ones it dumps): "out of shared memory" on a stock server
    locks_raised "a whole-database pg_dump of this set fails with \"out of shared memory\" at $STOCK_LOCKS"
    measure fd_tiny tiny "pg_dump -Fd -j $JOBS" clean_path pgdump_fd $db "$work/fd" || true
    R_BYTES[fd_tiny]=$(dir_bytes "$work/fd")

    local cfg
    cfg=$(coffer_config tiny $db schema)
    locks_stock
    if coffer_has backup; then
        measure coffer_tiny tiny "coffer backup -j $JOBS (first)" coffer_fresh_repo coffer_backup_full "$cfg" || true
        R_BYTES[coffer_tiny]=$(dir_bytes "$(coffer_repo "$cfg")")
        if [ "${R_STATUS[coffer_tiny]}" = ok ]; then rss_split coffer_tiny "$cfg"; fi
    else
        unavailable coffer_tiny tiny "coffer backup -j $JOBS (first)" "coffer backup: not available"
    fi
    rm -rf "$work" "$(coffer_repo "$cfg")"
    dropdb bench_tiny
}

# rss_split KEY CONFIG: one more first backup, untimed, into a fresh repository,
# with coffer's own peak RSS and its pg_dump's sampled apart (rss_sample):
# RSS_COFFER[KEY], RSS_PGDUMP[KEY] (KiB), RSS_CHILD[KEY] (the largest peak of
# any child, KiB), RSS_CHILDREN[KEY] ("NAME KIB, ..."), R_EXTRA[KEY],
# $LOGS/KEY.rss.log. The same run samples the relation locks held
# (locks_sample): LOCKS_MAX[KEY] against LOCKS_BUDGET[KEY], a note on KEY.
declare -A RSS_COFFER RSS_PGDUMP RSS_CHILD RSS_CHILDREN LOCKS_MAX LOCKS_BUDGET
rss_split()
{
    local key=$1 cfg=$2 log=$LOGS/$1.rss.log out=$BENCH_TMP/rss-split.$$ lout=$BENCH_TMP/locks-sample.$$
    if ! coffer_fresh_repo "$cfg" >"$log" 2>&1 || ! coffer_backup_rss_split "$cfg" "$out" "$lout" >>"$log" 2>&1; then
        note "$key" "the run sampling RSS and locks failed, see $log"
        rm -f "$out" "$lout"
        return 0
    fi
    { echo "== peak VmHWM (KiB) by program, sampled every 20 ms:"; cat "$out"
      echo "== relation locks of the other sessions, sampled every 50 ms:"; cat "$lout"; } >>"$log"
    RSS_COFFER[$key]=$(awk '$1 == "coffer" { print $2 }' "$out")
    RSS_PGDUMP[$key]=$(awk '$1 == "pg_dump" { print $2 }' "$out")
    RSS_CHILD[$key]=$(awk '$1 != "coffer" && $1 != "samples" && $2 > m { m = $2 } END { if (m != "") print m }' "$out")
    RSS_CHILDREN[$key]=$(awk '$1 != "coffer" && $1 != "samples" { printf "%s%s %.1f MiB", (n++ ? ", " : ""), $1, $2 / 1024 }' "$out")
    local children
    children=$(awk '$1 != "coffer" && $1 != "samples" { printf "%s%s: %s", (n++ ? ", " : ""), "\"" $1 "\"", $2 }' "$out")
    R_EXTRA[$key]="\"peak_rss_coffer_kib\": $(json_num "${RSS_COFFER[$key]}"), \"peak_rss_pg_dump_kib\": $(json_num "${RSS_PGDUMP[$key]}"), \"peak_rss_children_kib\": {$children}"
    bench_log "${R_LABEL[$key]}: peak RSS of coffer ${RSS_COFFER[$key]:-?} KiB, of its pg_dump ${RSS_PGDUMP[$key]:-?} KiB"

    local max shared samples mlpt mc mpt
    read -r max shared samples mlpt mc mpt < <(awk '{ v[$1] = $2 } END { print v["max"], v["max_shared"], v["samples"],
        v["max_locks_per_transaction"], v["max_connections"], v["max_prepared_transactions"] }' "$lout")
    rm -f "$out" "$lout"
    if ! [[ "$max" =~ ^[0-9]+$ && "$samples" =~ ^[1-9][0-9]*$ && "$mlpt" =~ ^[0-9]+$ && "$mc" =~ ^[0-9]+$ && "$mpt" =~ ^[0-9]+$ ]]; then
        note "$key" "the relation locks could not be sampled, see $log"
        return 0
    fi
    LOCKS_MAX[$key]=$max
    LOCKS_BUDGET[$key]=$(( mlpt * (mc + mpt) / 4 ))
    R_EXTRA[$key]+=", \"locks_sampled\": {\"max_relation_locks\": $max, \"max_not_fastpath\": $shared, \"budget\": ${LOCKS_BUDGET[$key]}, \"samples\": $samples, \"max_locks_per_transaction\": $mlpt, \"max_connections\": $mc, \"max_prepared_transactions\": $mpt}"
    note "$key" "max relation locks held during an untimed first backup: $max ($shared outside the fast path), Coffer's budget ${LOCKS_BUDGET[$key]} = $mlpt x ($mc + $mpt) / 4; $samples samples every 50 ms"
    bench_log "${R_LABEL[$key]}: at most $max relation locks held ($shared outside the fast path), budget ${LOCKS_BUDGET[$key]} (max_locks_per_transaction $mlpt); $samples samples"
}

run_dbs()
{
    local work=$BENCH_TMP/dbs secs
    mkdir -p "$work"
    locks_stock
    bench_time secs bench/gen.sh dbs
    SETINFO[dbs_gen_s]=$secs
    psql -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'bench\_db\_%' OR datname = 'bench_master' ORDER BY datname" >"$work/dbs"
    SETINFO[dbs_databases]=$(grep -c bench_db_ "$work/dbs" || true)
    SETINFO[dbs_bytes]=$(psql -X -At -d postgres -c "SELECT sum(pg_database_size(datname)) FROM pg_database WHERE datname LIKE 'bench\_db\_%'")

    measure loop_dbs dbs "pg_dump -Fc DB loop ($(wc -l <"$work/dbs") databases)" prep_db_loop db_loop "$work/dbs" "$work/loop" || true
    R_BYTES[loop_dbs]=$(dir_bytes "$work/loop")
    rm -rf "$work/loop"
    local cfg
    cfg=$(coffer_config dbs bench_master database)
    locks_stock
    if coffer_has backup; then
        measure coffer_dbs dbs "coffer backup -j $JOBS (first)" coffer_fresh_repo coffer_backup_full "$cfg" || true
        R_BYTES[coffer_dbs]=$(dir_bytes "$(coffer_repo "$cfg")")
    else
        unavailable coffer_dbs dbs "coffer backup -j $JOBS (first)" "coffer backup: not available"
    fi
    rm -rf "$work" "$(coffer_repo "$cfg")"
}

# copy_text_bytes DB WHERE: the bytes of COPY text of DB's tables whose schema
# n.nspname satisfies WHERE.
copy_text_bytes()
{
    psql -X -At -d "$1" -c "SELECT format('COPY %I.%I TO STDOUT;', n.nspname, c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND ($2)" |
        psql -X -q -v ON_ERROR_STOP=1 -d "$1" | wc -c
}

# The huge set: Coffer alone, at the stock lock setting, on 10,000 tiny
# tenants (bench_huge) against one tenant of the same bytes (bench_one).
run_huge()
{
    local work=$BENCH_TMP/huge secs n tenant sample cfg= cfg_one= cfg_t=
    mkdir -p "$work"
    locks_stock
    bench_time secs bench/gen.sh huge
    SETINFO[huge_gen_s]=$secs
    n=$(psql -X -At -d bench_huge -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'")
    SETINFO[huge_tenants]=$n
    SETINFO[huge_tables]=$(psql -X -At -d bench_huge -c "SELECT count(*) FROM pg_tables WHERE schemaname LIKE 'tenant\_%'")
    SETINFO[huge_db_bytes]=$(psql -X -At -d bench_huge -c "SELECT pg_database_size(current_database())")
    SETINFO[one_db_bytes]=$(psql -X -At -d bench_one -c "SELECT pg_database_size(current_database())")
    # the COPY text of 120 tenants (a whole period of gen_tiny's row counts and
    # words), scaled to all; bench_one's is read whole
    sample=$(( n < 120 ? n : 120 ))
    SETINFO[huge_copy_bytes]=$(( $(copy_text_bytes bench_huge "n.nspname IN (SELECT schema_name FROM central.tenants WHERE id <= $sample)") * n / sample ))
    SETINFO[one_copy_bytes]=$(copy_text_bytes bench_one "n.nspname LIKE 'tenant\_%'")
    tenant=$(psql -X -At -d bench_huge -c "SELECT schema_name FROM central.tenants WHERE id = least(42, $n)")
    SETINFO[huge_restore_tenant]=$tenant
    bench_log "huge: $n tenants, ${SETINFO[huge_tables]} tables, about $(bench_human_bytes "${SETINFO[huge_copy_bytes]}") of COPY text," \
        "$(bench_human_bytes "${SETINFO[huge_db_bytes]}") on disk; bench_one $(bench_human_bytes "${SETINFO[one_copy_bytes]}") of COPY text"

    local lfirst="coffer backup -j $JOBS (first): $n tenants x 8 tables"
    local lfirst1="coffer backup -j $JOBS (first): 1 tenant x 8 tables, same bytes"
    local lagain="coffer backup -j $JOBS (again, nothing changed): $n tenants"
    local lagain1="coffer backup -j $JOBS (again, nothing changed): 1 tenant"
    local lrest="coffer restore: $tenant from the $n-tenant snapshot"
    local lrest1="coffer restore: $tenant from a snapshot of it alone"
    if ! coffer_has backup; then
        unavailable coffer_huge huge "$lfirst" "coffer backup: not available"
        unavailable coffer_one huge "$lfirst1" "coffer backup: not available"
        unavailable coffer_huge_again huge "$lagain" "coffer backup: not available"
        unavailable coffer_one_again huge "$lagain1" "coffer backup: not available"
    else
        cfg=$(coffer_config huge bench_huge schema)
        cfg_one=$(coffer_config one bench_one schema)
        locks_stock
        measure coffer_huge huge "$lfirst" coffer_fresh_repo coffer_backup_full "$cfg" || true
        R_BYTES[coffer_huge]=$(dir_bytes "$(coffer_repo "$cfg")")
        measure coffer_one huge "$lfirst1" coffer_fresh_repo coffer_backup_full "$cfg_one" || true
        R_BYTES[coffer_one]=$(dir_bytes "$(coffer_repo "$cfg_one")")
        if [ "${R_STATUS[coffer_huge]}" = ok ]; then
            measure coffer_huge_again huge "$lagain" nothing coffer_backup_again "$cfg" || true
        else
            unavailable coffer_huge_again huge "$lagain" "the first backup failed"
        fi
        if [ "${R_STATUS[coffer_one]}" = ok ]; then
            measure coffer_one_again huge "$lagain1" nothing coffer_backup_again "$cfg_one" || true
        else
            unavailable coffer_one_again huge "$lagain1" "the first backup failed"
        fi
    fi

    # one tenant restored into a fresh database holding central: from the
    # snapshot of all tenants, and from one of that tenant alone (another
    # repository, "coffer backup --tenant")
    if coffer_has backup && coffer_has restore && [ "${R_STATUS[coffer_huge]}" = ok ]; then
        pg_dump -Fc -n central -f "$work/central.dump" bench_huge
        RESTORE_CENTRAL_DUMP=$work/central.dump
        cfg_t=$(coffer_config huge1 bench_huge schema)
        measure coffer_restore_huge huge "$lrest" restore_prep coffer_restore_one "$cfg" "$tenant" bench_restore || true
        restore_check coffer_restore_huge bench_huge "$tenant" accounts
        if coffer_fresh_repo "$cfg_t" >"$LOGS/coffer_restore_huge1.backup.log" 2>&1 &&
            coffer_backup_tenant "$cfg_t" "$tenant" >>"$LOGS/coffer_restore_huge1.backup.log" 2>&1; then
            measure coffer_restore_huge1 huge "$lrest1" restore_prep coffer_restore_one "$cfg_t" "$tenant" bench_restore || true
            restore_check coffer_restore_huge1 bench_huge "$tenant" accounts
        else
            unavailable coffer_restore_huge1 huge "$lrest1" "coffer backup --tenant $tenant failed, see $LOGS/coffer_restore_huge1.backup.log"
        fi
        dropdb --if-exists bench_restore
    else
        unavailable coffer_restore_huge huge "$lrest" "coffer restore: not available, or the first backup failed"
        unavailable coffer_restore_huge1 huge "$lrest1" "coffer restore: not available, or the first backup failed"
    fi

    # last: RSS split and relation locks, in one more first backup (it empties the repository)
    if [ "${R_STATUS[coffer_huge]}" = ok ]; then rss_split coffer_huge "$cfg"; fi
    rm -rf "$work"
    [ -z "$cfg" ] || rm -rf "$(coffer_repo "$cfg")" "$(coffer_repo "$cfg_one")"
    [ -z "$cfg_t" ] || rm -rf "$(coffer_repo "$cfg_t")"
    [ "${BENCH_KEEP:-0}" = 1 ] || { dropdb bench_huge; dropdb bench_one; }
}

# ---------------------------------------------------------------------------
# The retention set: coffer run when nothing is due, and coffer expire, over
# BENCH_RETENTION_SNAPSHOTS (1,000) snapshots of BENCH_RETENTION_TENANTS (200)
# tiny tenants. One real backup; the other snapshots are copies of it that
# repo_tool clone-snapshots writes at the times coffer run would have backed
# up: every day at 02:00 for the tenants (class default) and the shared part,
# and every hour for the shared part (class master) in the last 48 hours.

RETENTION_CLASSES='  default: { every: 1d, at: "02:00", keep: { daily: 30, weekly: 12, monthly: 12, yearly: 3 } }
  master:  { every: 1h, keep: { hourly: 48, daily: 30 } }'
RETENTION_START=2027-01-01T02:00:00Z

# retention_gen DB N: N schemas tenant_0001... of one table of 20 rows, and central.
retention_gen()
{
    dropdb --if-exists "$1" && createdb "$1" &&
        psql -X -q -v ON_ERROR_STOP=1 -d "$1" -v n="$2" >/dev/null <<'SQL'
CREATE SCHEMA central;
CREATE TABLE central.plans (id int PRIMARY KEY, name text);
INSERT INTO central.plans SELECT g, 'plan ' || g FROM generate_series(1, 10) g;
SELECT format('CREATE SCHEMA %1$I; CREATE TABLE %1$I.items (id int PRIMARY KEY, v text);
               INSERT INTO %1$I.items SELECT g, md5(%1$L || g) FROM generate_series(1, 20) g',
              'tenant_' || lpad(i::text, 4, '0'))
FROM generate_series(1, :n) i \gexec
SQL
}

# retention_times START N: the times of N snapshots after START (02:00 UTC),
# oldest first, as "TIME" (every tenant) or "TIME shared" (the shared part
# alone) lines for repo_tool clone-snapshots: the last 48 hours hourly (the
# 02:00 ones with every tenant), the days before at 02:00.
retention_times()
{
    python3 - "$1" "$2" <<'PY'
import datetime as dt, sys
start = dt.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")
n = int(sys.argv[2])
days = n - 48 + 2          # the hourly part ends on day `days` at 02:00
last = start + dt.timedelta(days=days)
times = [start + dt.timedelta(days=d) for d in range(1, days - 1)]
times += [last - dt.timedelta(hours=h) for h in range(47, -1, -1)]
for t in times:
    print(t.strftime("%Y-%m-%dT%H:%M:%SZ") + ("" if t.hour == 2 else " shared"))
PY
}

retention_restore() { rm -rf "$(coffer_repo "$1")" && cp -a "$BENCH_TMP/retention/repo.orig" "$(coffer_repo "$1")"; }   # CONFIG ...

run_retention()
{
    local db=bench_retention work=$BENCH_TMP/retention n=${BENCH_RETENTION_TENANTS:-200}
    local snaps=${BENCH_RETENTION_SNAPSHOTS:-1000} cfg repo secs id newest now i log why=
    local lrun="coffer run, nothing due: $snaps snapshots, $n tenants (median of 5)"
    local ldry="coffer expire --dry-run: $snaps snapshots x $n tenants"
    local lexp="coffer expire --yes: $snaps snapshots x $n tenants"
    local -a rows=("coffer_run_idle|$lrun" "coffer_expire_dry|$ldry" "coffer_expire|$lexp")
    mkdir -p "$work"
    locks_stock
    log=$LOGS/retention.setup.log
    : >"$log"
    if ! coffer_has run || ! coffer_has expire || [ ! -x "$OUT/repo_tool" ]; then
        why="coffer run/expire or build/bench/repo_tool: not available"
    elif [ "$snaps" -lt 50 ]; then
        why="BENCH_RETENTION_SNAPSHOTS must be 50 or more (48 hourly ones end the series)"
    elif ! bench_time secs retention_gen $db "$n" >>"$log" 2>&1; then
        why="the data could not be made, see $log"
    fi
    if [ -z "$why" ]; then
        SETINFO[retention_gen_s]=$secs
        SETINFO[retention_tenants]=$n
        cfg=$(coffer_config_classes retention $db "$RETENTION_CLASSES")
        repo=$(coffer_repo "$cfg")
        if ! coffer_fresh_repo "$cfg" >>"$log" 2>&1; then
            why="coffer init failed, see $log"
        elif ! bench_time secs coffer_backup_at "$cfg" "$RETENTION_START" >"$work/backup.json" 2>>"$log"; then
            why="the backup failed, see $log"
        fi
    fi
    if [ -z "$why" ]; then
        SETINFO[retention_backup_s]=$secs
        id=$(jq -r .id "$work/backup.json")
        retention_times "$RETENTION_START" $(( snaps - 1 )) >"$work/times"
        bench_time secs "$OUT/repo_tool" clone-snapshots "$repo" "$id" <"$work/times" >"$work/clones" 2>>"$log" ||
            why="repo_tool clone-snapshots failed, see $log"
    fi
    if [ -n "$why" ]; then
        for i in "${rows[@]}"; do unavailable "${i%%|*}" retention "${i#*|}" "$why"; done
        bench_log "retention: $why"
        rm -rf "$work"
        return 0
    fi
    SETINFO[retention_forge_s]=$secs
    SETINFO[retention_snapshots]=$(find "$repo/snapshots" -type f | wc -l)
    newest=$(tail -1 "$work/times" | cut -d' ' -f1)
    now=$(date -u -d "$newest + 10 minutes" +%Y-%m-%dT%H:%M:%SZ)
    SETINFO[retention_now]=$now
    bench_log "retention: $n tenants, ${SETINFO[retention_snapshots]} snapshots (1 backup in ${SETINFO[retention_backup_s]} s," \
        "$(wc -l <"$work/clones") copies in ${SETINFO[retention_forge_s]} s), the newest at $newest"

    # The first run after the copies reads their headers into its cache
    # (state/schedule), as every run does for the snapshots written since the
    # one before: untimed, its time is information.
    result_new coffer_run_idle retention "$lrun"
    if RUN_KEY= bench_time secs coffer_run_at "$cfg" "$now" >"$LOGS/coffer_run_idle.first.log" 2>&1; then
        SETINFO[retention_first_run_s]=$secs
        note coffer_run_idle "the first run after the copies, which reads their headers: $secs s"
        for i in 1 2 3 4 5; do run_timed coffer_run_idle coffer_run_at "$cfg" "$now" || break; done
        if [ "${R_STATUS[coffer_run_idle]}" = ok ] && ! grep -q "nothing to do" "$LOGS/coffer_run_idle.5.log"; then
            R_STATUS[coffer_run_idle]=failed
            note coffer_run_idle "something was due: see $LOGS/coffer_run_idle.5.log"
        fi
    else
        prep_failed coffer_run_idle "the first coffer run" "$LOGS/coffer_run_idle.first.log"
    fi

    cp -a "$repo" "$work/repo.orig"
    measure coffer_expire_dry retention "$ldry" nothing coffer_expire_at "$cfg" "$now" --dry-run || true
    measure coffer_expire retention "$lexp" retention_restore coffer_expire_at "$cfg" "$now" --yes || true
    SETINFO[retention_expire_summary]=$(grep -h '^expire' "$LOGS/coffer_expire.1.log" 2>/dev/null | tail -1 || true)
    [ -z "${SETINFO[retention_expire_summary]}" ] || note coffer_expire "${SETINFO[retention_expire_summary]}"
    rm -rf "$work" "$repo"
    [ "${BENCH_KEEP:-0}" = 1 ] || dropdb $db
}

# ---------------------------------------------------------------------------
# The s3 set: Coffer into a bucket of a local S3 server (bench_s3_start:
# OpenStack Swift with s3api on this machine, and a counting proxy) against
# Coffer into a directory, on the skewed set's data made at S3_SCALE and on
# the tiny set.

# json_top KEY FILE: a number at the top level of a JSON summary ("  KEY": N).
json_top() { sed -n "s/^  \"$1\": \([0-9.]*\),\{0,1\}\$/\1/p" "$2" | head -1; }

# stat_of KEY FILE: one counter of a saved bench_s3_stats output (0 if absent).
stat_of() { awk -F= -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$2"; }

# s3_requests KEY PER_BYTES WHAT: the proxy's counters since its last reset
# (saved to build/bench/logs/KEY.proxy.log) as the requests of KEY's run: by
# method, and per GB (10^9 bytes) of PER_BYTES, which WHAT names. Sets
# S3_REQ[KEY] (a line for the summary), S3_PERGB[KEY] (all requests per GB),
# S3_SENT[KEY] (request body bytes of PUT and POST) and adds to R_EXTRA[KEY].
declare -A S3_REQ S3_PERGB S3_SENT S3_OBJ S3_OBJ_LINE
s3_requests()
{
    local key=$1 bytes=$2 what=$3 log=$LOGS/$1.proxy.log m c total sent recv json='' pergb='' line='' p
    if ! bench_s3_stats >"$log" 2>&1; then
        note "$key" "the proxy's counters could not be read, see $log"
        return 0
    fi
    total=$(stat_of requests "$log")
    sent=$(( $(stat_of req_body_bytes.PUT "$log") + $(stat_of req_body_bytes.POST "$log") ))
    recv=$(stat_of resp_body_bytes "$log")
    [[ "$bytes" =~ ^[0-9]+$ ]] || bytes=0
    for m in GET PUT POST HEAD DELETE; do
        c=$(stat_of "requests.$m" "$log")
        json+="${json:+, }\"$m\": $c"
        if [ "$bytes" -gt 0 ]; then
            p=$(awk -v c="$c" -v b="$bytes" 'BEGIN { printf "%.0f", c * 1e9 / b }')
            pergb+="${pergb:+, }\"$m\": $p"
            [ "$c" = 0 ] || line+="${line:+, }$m $c ($p/GB)"
        else
            [ "$c" = 0 ] || line+="${line:+, }$m $c"
        fi
    done
    S3_SENT[$key]=$sent
    if [ "$bytes" -gt 0 ]; then
        S3_PERGB[$key]=$(awk -v c="$total" -v b="$bytes" 'BEGIN { printf "%.0f", c * 1e9 / b }')
        pergb="{\"all\": ${S3_PERGB[$key]}, $pergb}"
    else
        pergb=null
    fi
    S3_REQ[$key]="$total requests${S3_PERGB[$key]:+ = ${S3_PERGB[$key]} per GB of $what ($(bench_human_bytes "$bytes"))}: $line;"
    S3_REQ[$key]+=" $(bench_human_bytes "$sent") sent in request bodies, $(bench_human_bytes "$recv") received"
    R_EXTRA[$key]="${R_EXTRA[$key]:+${R_EXTRA[$key]}, }\"requests\": {\"all\": $total, $json}, \"requests_per_gb\": $pergb,"
    R_EXTRA[$key]+=" \"per_gb_of\": $(json_str "$what"), \"per_gb_bytes\": $bytes, \"req_body_bytes_put_post\": $sent, \"resp_body_bytes\": $recv"
    bench_log "${R_LABEL[$key]}: ${S3_REQ[$key]}"
}

# s3_objects KEY PREFIX BEFORE: the objects under PREFIX/ now, less those of
# BEFORE (a bench_s3_keys output saved before the run), by first path element
# (data, parts, index, snapshots, keys; anything else as "other"). Sets
# S3_OBJ[KEY] (the number of new objects), S3_OBJ_LINE[KEY] and adds to R_EXTRA[KEY].
s3_objects()
{
    local key=$1 prefix=$2 before=$3 after=$LOGS/$1.keys.log out
    if ! bench_s3_keys "$prefix" >"$after" 2>&1; then
        note "$key" "the bucket could not be listed, see $after"
        return 0
    fi
    # "NAME N" lines: after minus before, in a fixed order
    out=$(awk 'NR == FNR { b[$1] = $2; next }
        { k = ($1 ~ /^(data|parts|index|snapshots|keys)$/) ? $1 : "other"; n[k] += $2 - b[$1]; b[$1] = 0 }
        END { split("data parts index snapshots keys other", o, " ")
              for (i = 1; i <= 6; i++) { k = o[i]; print k, n[k] + 0; t += n[k] }
              print "total", t }' "$before" "$after")
    S3_OBJ[$key]=$(awk '$1 == "total" { print $2 }' <<<"$out")
    S3_OBJ_LINE[$key]=$(awk '$1 != "total" && $2 != 0 { printf "%s%s/ %d", (n++ ? ", " : ""), $1, $2 }' <<<"$out")
    S3_OBJ_LINE[$key]=${S3_OBJ_LINE[$key]//other\/ /other }
    R_EXTRA[$key]="${R_EXTRA[$key]:+${R_EXTRA[$key]}, }\"objects_written\": ${S3_OBJ[$key]}, \"objects_by_prefix\": {$(awk '$1 != "total" { printf "%s\"%s\": %d", (n++ ? ", " : ""), $1, $2 }' <<<"$out")}"
    bench_log "${R_LABEL[$key]}: ${S3_OBJ[$key]} objects written (${S3_OBJ_LINE[$key]})"
}

S3_SCALE=${BENCH_S3_SCALE:-$(awk -v s="$BENCH_SCALE" 'BEGIN { printf "%g", s * 0.4 }')}
S3_KEYS=(coffer_s3_posix_full coffer_s3_full coffer_s3_posix_again coffer_s3_again coffer_s3_proxied
    coffer_s3_posix_restore coffer_s3_restore coffer_s3_restore_proxied coffer_s3_copy_full coffer_s3_copy_incr
    coffer_s3_tiny coffer_s3_tiny_posix)
declare -A S3_LABEL
s3_labels()   # TENANT N_TINY
{
    S3_LABEL=(
        [coffer_s3_posix_full]="coffer backup -j $JOBS (first) into a directory"
        [coffer_s3_full]="coffer backup -j $JOBS (first) into S3"
        [coffer_s3_posix_again]="coffer backup -j $JOBS (again, nothing changed) into a directory"
        [coffer_s3_again]="coffer backup -j $JOBS (again, nothing changed) into S3"
        [coffer_s3_proxied]="coffer backup -j $JOBS (first) into S3 (proxy)"
        [coffer_s3_posix_restore]="coffer restore: $1 (largest) from a directory"
        [coffer_s3_restore]="coffer restore: $1 (largest) from S3"
        [coffer_s3_restore_proxied]="coffer restore: $1 (largest) from S3 (proxy)"
        [coffer_s3_copy_full]="coffer copy: first snapshot, directory to S3 (proxy)"
        [coffer_s3_copy_incr]="coffer copy: snapshot after churn, directory to S3 (proxy)"
        [coffer_s3_tiny]="coffer backup -j $JOBS (first): tiny set, $2 tenants, into S3 (proxy)"
        [coffer_s3_tiny_posix]="coffer backup -j $JOBS (first): tiny set, $2 tenants, into a directory"
    )
}

run_s3()
{
    local db=bench_schema work=$BENCH_TMP/s3 secs rc=0 k i rounds=3 tenant why
    local cfg_posix cfg_s3='' cfg_px cfg_copy cfg_ts cfg_tp c0 c1
    local -a cpu=()
    mkdir -p "$work"
    locks_stock
    s3_labels "the largest tenant" "${BENCH_TINY_TENANTS:-2000}"
    if ! coffer_has backup; then
        for k in "${S3_KEYS[@]}"; do unavailable "$k" s3 "${S3_LABEL[$k]}" "coffer backup: not available"; done
        return 0
    fi
    bench_time secs bench_s3_start >"$LOGS/s3_start.log" 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then
        why="the S3 server did not start, see $LOGS/s3_start.log"
        [ "$rc" != 2 ] || why="no S3 server: OpenStack Swift is not installed (scripts/install-deps.sh installs it)"
        bench_log "s3: $why"
        for k in "${S3_KEYS[@]}"; do unavailable "$k" s3 "${S3_LABEL[$k]}" "$why"; done
        bench_s3_stop >/dev/null 2>&1 || true
        return 0
    fi
    SETINFO[s3_start_s]=$secs
    SETINFO[s3_scale]=$S3_SCALE
    SETINFO[s3_part_size_mib]=${BENCH_S3_PART_SIZE:-8}
    bench_log "s3: Swift started in $secs s; the skewed data at scale $S3_SCALE"
    BENCH_SCALE=$S3_SCALE bench_time secs bench/gen.sh skewed
    SETINFO[s3_gen_s]=$secs
    SETINFO[s3_db_bytes]=$(psql -X -At -d $db -c "SELECT pg_database_size(current_database())")
    SETINFO[s3_tenants]=$(psql -X -At -d $db -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'")
    tenant=$(tenant_by_size $db 0)
    SETINFO[s3_restore_tenant]=$tenant
    s3_labels "$tenant" "${BENCH_TINY_TENANTS:-2000}"
    for k in "${S3_KEYS[@]}"; do result_new "$k" s3 "${S3_LABEL[$k]}"; done

    cfg_posix=$(coffer_config s3_posix $db schema)
    cfg_px=$(coffer_config_s3 s3_proxied $db "$S3_PROXY_ENDPOINT" proxied)
    cfg_copy=$(coffer_config_copy s3_copy $db "$S3_PROXY_ENDPOINT" copy)

    # The local repository of the copy, and a warm-up: one untimed first
    # backup (the first read of data just made is slower than the next ones).
    if coffer_init "$cfg_copy" local >"$LOGS/s3_local.log" 2>&1 &&
        coffer_init "$cfg_copy" offsite >>"$LOGS/s3_local.log" 2>&1 &&
        coffer_backup_json "$cfg_copy" "$work/local1.json" local 2>>"$LOGS/s3_local.log"; then
        SETINFO[s3_bytes_read]=$(json_top bytes_read "$work/local1.json")
        SETINFO[s3_bytes_added]=$(json_top bytes_added "$work/local1.json")
        bench_log "s3: $(bench_human_bytes "${SETINFO[s3_bytes_read]}") read by a backup of $db, $(bench_human_bytes "${SETINFO[s3_bytes_added]}") stored"
    else
        prep_failed coffer_s3_copy_full "the first backup into the local repository" "$LOGS/s3_local.log"
        R_STATUS[coffer_s3_copy_incr]=failed
    fi

    # 1. First backups into fresh repositories, and again with nothing
    # changed, A B A B: a directory, then a new prefix of the bucket (Swift
    # directly, not through the proxy).
    for (( i = 1; i <= rounds; i++ )); do
        if ! coffer_fresh_repo "$cfg_posix" >"$LOGS/coffer_s3_posix_full.prep.$i.log" 2>&1; then
            prep_failed coffer_s3_posix_full "coffer init" "$LOGS/coffer_s3_posix_full.prep.$i.log"
            break
        fi
        run_timed coffer_s3_posix_full coffer_backup_full "$cfg_posix" || break
        R_BYTES[coffer_s3_posix_full]=$(dir_bytes "$(coffer_repo "$cfg_posix")")
        run_timed coffer_s3_posix_again coffer_backup_again "$cfg_posix" || true
        cfg_s3=$(coffer_config_s3 "s3_full_$i" $db "$S3_ENDPOINT" "full-$i")
        if ! coffer_init "$cfg_s3" >"$LOGS/coffer_s3_full.prep.$i.log" 2>&1; then
            prep_failed coffer_s3_full "coffer init" "$LOGS/coffer_s3_full.prep.$i.log"
            cfg_s3=''
            break
        fi
        c0=$(bench_s3_cpu || true)
        run_timed coffer_s3_full coffer_backup_full "$cfg_s3" || { cfg_s3=''; break; }
        c1=$(bench_s3_cpu || true)
        cpu+=("$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')")
        run_timed coffer_s3_again coffer_backup_again "$cfg_s3" || true
        if [ "$i" = 1 ] && ! awk -v s="$LAST_SECS" -v c="$CHEAP_SECONDS" 'BEGIN { exit !(s < c) }'; then
            rounds=1
        fi
    done
    for k in coffer_s3_posix_full coffer_s3_full coffer_s3_posix_again coffer_s3_again; do
        note "$k" "A B A B: each round a directory (first, again), then S3 (first, again); each first backup into a fresh repository"
    done
    if [ ${#cpu[@]} -gt 0 ]; then
        SETINFO[s3_swift_cpu_s]=$(bench_median "${cpu[@]}")
        R_EXTRA[coffer_s3_full]="\"swift_cpu_s\": [$(IFS=,; echo "${cpu[*]}")]"
        note coffer_s3_full "Swift's processes used ${cpu[*]} CPU-s during these runs"
    fi

    # 4a. The requests of a first backup into S3, counted by the proxy
    local before=$work/keys.before
    if coffer_init "$cfg_px" >"$LOGS/coffer_s3_proxied.prep.log" 2>&1 &&
        bench_s3_keys proxied >"$before" 2>>"$LOGS/coffer_s3_proxied.prep.log" &&
        bench_s3_stats --reset >/dev/null 2>>"$LOGS/coffer_s3_proxied.prep.log"; then
        if run_timed coffer_s3_proxied coffer_backup_json "$cfg_px" "$work/proxied.json"; then
            SETINFO[s3_proxied_bytes_read]=$(json_top bytes_read "$work/proxied.json")
            s3_requests coffer_s3_proxied "${SETINFO[s3_proxied_bytes_read]}" "data read (bytes_read)"
            s3_objects coffer_s3_proxied proxied "$before"
            R_BYTES[coffer_s3_proxied]=${S3_SENT[coffer_s3_proxied]:-}
            note coffer_s3_proxied "bytes = request bodies sent (PUT, POST)"
        fi
    else
        prep_failed coffer_s3_proxied "coffer init or the listing of the bucket" "$LOGS/coffer_s3_proxied.prep.log"
    fi

    # Restore of the largest tenant into a database that does not exist (Coffer
    # creates it and restores central too), A B A B: from the directory of the
    # last round, from its S3 twin; then once more from S3 through the proxy.
    local rdone=0
    if [ "${R_STATUS[coffer_s3_posix_full]}" = ok ] && [ -n "$cfg_s3" ] && coffer_has restore; then
        for (( i = 1; i <= rounds; i++ )); do
            dropdb --if-exists bench_restore
            run_timed coffer_s3_posix_restore coffer_restore_one "$cfg_posix" "$tenant" bench_restore || true
            restore_check coffer_s3_posix_restore $db "$tenant"
            dropdb --if-exists bench_restore
            run_timed coffer_s3_restore coffer_restore_one "$cfg_s3" "$tenant" bench_restore || true
            restore_check coffer_s3_restore $db "$tenant"
        done
        rdone=1
    else
        R_STATUS[coffer_s3_posix_restore]="not available" R_STATUS[coffer_s3_restore]="not available"
        note coffer_s3_restore "no backup to restore from, or coffer restore is not available"
    fi
    if [ "${R_STATUS[coffer_s3_proxied]}" = ok ] && [ "$rdone" = 1 ]; then
        dropdb --if-exists bench_restore
        bench_s3_stats --reset >/dev/null || true
        if run_timed coffer_s3_restore_proxied coffer_restore_json "$cfg_px" "$tenant" bench_restore "$work/restore.json"; then
            restore_check coffer_s3_restore_proxied $db "$tenant"
            SETINFO[s3_restore_bytes]=$(json_top bytes "$work/restore.json")
            s3_requests coffer_s3_restore_proxied "${SETINFO[s3_restore_bytes]}" "data restored (bytes, central's included)"
        fi
    else
        R_STATUS[coffer_s3_restore_proxied]="not available"
    fi
    dropdb --if-exists bench_restore

    # 2. coffer copy: the first snapshot of the local repository to S3, a day
    # of churn, a second backup, its copy: the bytes sent against its new chunks
    if [ "${R_STATUS[coffer_s3_copy_full]}" = ok ] && coffer_has copy; then
        bench_s3_stats --reset >/dev/null || true
        if run_timed coffer_s3_copy_full coffer_copy_json "$cfg_copy" local offsite "$work/copy1.json"; then
            SETINFO[s3_copy_full_added]=$(json_top bytes_added "$work/copy1.json")
            s3_requests coffer_s3_copy_full "$(json_top bytes "$work/copy1.json")" "snapshot data (bytes)"
            R_BYTES[coffer_s3_copy_full]=${S3_SENT[coffer_s3_copy_full]:-}
            note coffer_s3_copy_full "bytes = request bodies sent (PUT, POST); the copy's new chunks: ${SETINFO[s3_copy_full_added]} bytes"
        fi
    else
        R_STATUS[coffer_s3_copy_full]="not available"
    fi
    BENCH_SCALE=$S3_SCALE bench_time secs bench/gen.sh churn
    SETINFO[s3_churn_s]=$secs
    if [ "${R_STATUS[coffer_s3_copy_full]}" = ok ]; then
        if coffer_backup_json "$cfg_copy" "$work/local2.json" local 2>"$LOGS/coffer_s3_copy_incr.prep.log"; then
            bench_s3_stats --reset >/dev/null || true
            if run_timed coffer_s3_copy_incr coffer_copy_json "$cfg_copy" local offsite "$work/copy2.json"; then
                SETINFO[s3_copy_incr_added]=$(json_top bytes_added "$work/copy2.json")
                SETINFO[s3_copy_incr_chunks_new]=$(json_top chunks_new "$work/copy2.json")
                s3_requests coffer_s3_copy_incr "$(json_top bytes "$work/copy2.json")" "snapshot data (bytes)"
                R_BYTES[coffer_s3_copy_incr]=${S3_SENT[coffer_s3_copy_incr]:-}
                note coffer_s3_copy_incr "bytes = request bodies sent (PUT, POST); the copy's new chunks: ${SETINFO[s3_copy_incr_added]} bytes in ${SETINFO[s3_copy_incr_chunks_new]} chunks"
            fi
        else
            prep_failed coffer_s3_copy_incr "the backup after churn" "$LOGS/coffer_s3_copy_incr.prep.log"
        fi
    else
        R_STATUS[coffer_s3_copy_incr]="not available"
    fi
    [ "${BENCH_KEEP:-0}" = 1 ] || dropdb $db

    # 3. The tiny set into S3 (through the proxy): objects and requests per
    # tenant; then into a directory
    bench_time secs bench/gen.sh tiny
    SETINFO[s3_tiny_gen_s]=$secs
    SETINFO[s3_tiny_tenants]=$(psql -X -At -d bench_tiny -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'")
    cfg_ts=$(coffer_config_s3 s3_tiny bench_tiny "$S3_PROXY_ENDPOINT" tiny)
    cfg_tp=$(coffer_config s3_tiny_posix bench_tiny schema)
    before=$work/tiny.keys.before
    if coffer_init "$cfg_ts" >"$LOGS/coffer_s3_tiny.prep.log" 2>&1 &&
        bench_s3_keys tiny >"$before" 2>>"$LOGS/coffer_s3_tiny.prep.log" &&
        bench_s3_stats --reset >/dev/null 2>>"$LOGS/coffer_s3_tiny.prep.log"; then
        if run_timed coffer_s3_tiny coffer_backup_json "$cfg_ts" "$work/tiny.json"; then
            SETINFO[s3_tiny_bytes_read]=$(json_top bytes_read "$work/tiny.json")
            s3_requests coffer_s3_tiny "${SETINFO[s3_tiny_bytes_read]}" "data read (bytes_read)"
            s3_objects coffer_s3_tiny tiny "$before"
            R_BYTES[coffer_s3_tiny]=${S3_SENT[coffer_s3_tiny]:-}
            note coffer_s3_tiny "bytes = request bodies sent (PUT, POST); one run"
        fi
    else
        prep_failed coffer_s3_tiny "coffer init or the listing of the bucket" "$LOGS/coffer_s3_tiny.prep.log"
    fi
    if coffer_fresh_repo "$cfg_tp" >"$LOGS/coffer_s3_tiny_posix.prep.log" 2>&1; then
        run_timed coffer_s3_tiny_posix coffer_backup_full "$cfg_tp" || true
        R_BYTES[coffer_s3_tiny_posix]=$(dir_bytes "$(coffer_repo "$cfg_tp")")
        note coffer_s3_tiny_posix "one run, after the one into S3"
    else
        prep_failed coffer_s3_tiny_posix "coffer init" "$LOGS/coffer_s3_tiny_posix.prep.log"
    fi
    [ "${BENCH_KEEP:-0}" = 1 ] || dropdb bench_tiny

    for k in "${S3_KEYS[@]}"; do
        if [ "${R_STATUS[$k]}" = ok ] && [ -z "${R_RUNS[$k]:-}" ]; then R_STATUS[$k]="not run"; fi
    done
    rm -rf "$work" "$BENCH_TMP"/coffer/repo-s3_*
    bench_s3_stop >/dev/null 2>&1 || true
}

# Repository micro-benchmarks (bench/codec_bench.c, bench/repo_tool.c, written
# separately): run if built, their output included as it is.
declare -A MICRO

micro_codec_bench() { "$OUT/codec_bench"; }

# repo_tool: pipeline throughput, then storing a generated COPY-like stream into
# a fresh repository and storing it again after 1% of its lines changed in runs
# of 1000 lines (dedup).
micro_repo_tool()
{
    local rt=$OUT/repo_tool d=$BENCH_TMP/micro-repo bytes
    bytes=$(awk -v s="$BENCH_SCALE" 'BEGIN { b = 268435456 * s; if (b < 33554432) b = 33554432; printf "%.0f", b }')
    mkdir -p "$d"
    "$rt" gen "$bytes" 1 >"$d/a" && "$rt" gen "$bytes" 1 --edit 1 --edit-run 1000 >"$d/b" || return 1
    echo "input: $bytes bytes from \"repo_tool gen $bytes 1\", then the same with --edit 1 --edit-run 1000"
    local o
    o=$("$rt" pipeline <"$d/a") || return 1
    echo "pipeline:          $o"
    "$rt" init "$d/repo" --cheap-kdf >/dev/null || return 1
    o=$("$rt" store "$d/repo" t1 <"$d/a") || return 1
    echo "store:             $o"
    o=$("$rt" store "$d/repo" t1 <"$d/b") || return 1
    echo "store, 1% edited:  $o"
    rm -rf "$d"
}

run_micro()
{
    local tool
    for tool in codec_bench repo_tool; do
        [ -x "$OUT/$tool" ] || continue
        bench_log "micro: $tool"
        if "micro_$tool" >"$LOGS/micro-$tool.log" 2>&1; then
            MICRO[$tool]=$(cat "$LOGS/micro-$tool.log")
        else
            MICRO[$tool]="FAILED: $(tail -5 "$LOGS/micro-$tool.log")"
        fi
    done
}

# ---------------------------------------------------------------------------
# Report.

# The targets: NAME COFFER_KEY ALTERNATIVE_KEY LIMIT (ratio Coffer / alternative).
TARGETS=(
    "full backup vs per-schema pg_dump loop|coffer_full|loop_skewed|0.15"
    "full backup vs pg_dump -Fd -j 2|coffer_full|fd_skewed|0.45"
    "full backup vs read+compress floor|coffer_full|floor_zstd|1.25"
    "full backup vs pgBackRest full|coffer_full|pgbackrest|1.0"
    "second backup, nothing changed, vs first|coffer_again|coffer_full|0.6"
    "tiny set vs per-schema pg_dump loop|coffer_tiny|loop_tiny|0.01"
    "tiny set vs pg_dump -Fd -j 2|coffer_tiny|fd_tiny|0.8"
    "restore one mid-size tenant vs pg_restore -n -j 2|coffer_restore|restore_pg|1.0"
    "restore the largest tenant vs pg_restore -n -j 2|coffer_restore_large|restore_pg_large|1.0"
    "(info) full backup vs pg_dump -Fc|coffer_full|fc_skewed|"
    "(info) dbs set vs per-database pg_dump loop|coffer_dbs|loop_dbs|"
)

declare -A T_RATIO T_STATUS
evaluate()
{
    local t name c a lim
    if [ -n "${SETINFO[huge_tenants]:-}" ]; then
        local hn=${SETINFO[huge_tenants]}
        TARGETS+=(
            "huge: first backup, $hn tenants vs 1 (same bytes)|coffer_huge|coffer_one|2.0"
            "huge: backup again, unchanged, $hn tenants vs 1|coffer_huge_again|coffer_one_again|2.0"
            "huge: restore a tenant from $hn vs 1-tenant snapshot|coffer_restore_huge|coffer_restore_huge1|1.5"
        )
    fi
    if [ -n "${SETINFO[s3_tenants]:-}" ]; then
        TARGETS+=(
            "s3: first backup, S3 vs directory|coffer_s3_full|coffer_s3_posix_full|1.3"
            "s3: backup again, unchanged, S3 vs directory|coffer_s3_again|coffer_s3_posix_again|1.3"
            "(info) s3: restore the largest tenant, S3 vs directory|coffer_s3_restore|coffer_s3_posix_restore|"
            "(info) s3: tiny set backup, S3 (proxy) vs directory|coffer_s3_tiny|coffer_s3_tiny_posix|"
            "(info) s3: first backup, through the proxy vs not|coffer_s3_proxied|coffer_s3_full|"
        )
    fi
    for t in "${TARGETS[@]}"; do
        IFS='|' read -r name c a lim <<<"$t"
        T_RATIO[$name]= T_STATUS[$name]=n/a
        if has_median "$c" && has_median "$a"; then
            T_RATIO[$name]=$(awk -v c="${R_MEDIAN[$c]}" -v a="${R_MEDIAN[$a]}" 'BEGIN { if (a > 0) printf "%.3f", c / a }')
        fi
        judge "$name" "$lim"
    done
    # bytes of the second backup after churn vs the first
    name="bytes stored by backup after churn vs first"
    TARGETS+=("$name|coffer_churn|coffer_full|0.10")
    T_RATIO[$name]= T_STATUS[$name]=n/a
    if has_median coffer_churn && [ -n "${R_BYTES[coffer_full]:-}" ] && [ "${R_BYTES[coffer_full]}" -gt 0 ]; then
        T_RATIO[$name]=$(awk -v c="${R_BYTES[coffer_churn]}" -v a="${R_BYTES[coffer_full]}" 'BEGIN { printf "%.3f", c / a }')
    fi
    judge "$name" 0.10
    # peak RSS of every Coffer run
    name="peak RSS of Coffer runs (MiB) vs 128 MiB"
    TARGETS+=("$name|coffer_*||128")
    T_RATIO[$name]= T_STATUS[$name]=n/a
    local k max=
    for k in "${KEYS[@]}"; do
        if [ -n "${R_RSS[$k]:-}" ] && { [ -z "$max" ] || [ "${R_RSS[$k]}" -gt "$max" ]; }; then max=${R_RSS[$k]}; fi
    done
    if [ -n "$max" ]; then
        T_RATIO[$name]=$(awk -v k="$max" 'BEGIN { printf "%.1f", k / 1024 }')
    fi
    judge "$name" 128
    # the same apart on the tiny set: coffer's own peak and its pg_dump's (rss_split)
    local row
    for row in "the coffer process|${RSS_COFFER[coffer_tiny]:-}" "coffer's pg_dump|${RSS_PGDUMP[coffer_tiny]:-}"; do
        name="(info) tiny set: peak RSS (MiB) of ${row%|*}"
        k=${row##*|}
        TARGETS+=("$name|coffer_tiny||")
        T_RATIO[$name]='' T_STATUS[$name]=n/a
        [ -z "$k" ] || T_RATIO[$name]=$(awk -v k="$k" 'BEGIN { printf "%.1f", k / 1024 }')
        judge "$name" ""
    done
    # the huge set: coffer's own peak and its children's (the largest), each <= 128 MiB
    if [ -n "${SETINFO[huge_tenants]:-}" ]; then
        for row in "the coffer process|${RSS_COFFER[coffer_huge]:-}" "coffer's children (largest)|${RSS_CHILD[coffer_huge]:-}"; do
            name="huge: peak RSS (MiB) of ${row%|*}"
            k=${row##*|}
            TARGETS+=("$name|coffer_huge||128")
            T_RATIO[$name]='' T_STATUS[$name]=n/a
            [ -z "$k" ] || T_RATIO[$name]=$(awk -v k="$k" 'BEGIN { printf "%.1f", k / 1024 }')
            judge "$name" 128
        done
    fi
    [ -z "${SETINFO[s3_tenants]:-}" ] || evaluate_s3
    [ -z "${SETINFO[retention_snapshots]:-}" ] || evaluate_retention
    # relation locks held during a first backup (rss_split) against Coffer's budget
    local set
    for k in coffer_tiny coffer_huge; do
        [ -n "${R_STATUS[$k]:-}" ] || continue
        set=${R_SET[$k]}
        name="$set: max relation locks held vs Coffer's budget"
        TARGETS+=("$name|$k||${LOCKS_BUDGET[$k]:-}")
        T_RATIO[$name]=${LOCKS_MAX[$k]:-} T_STATUS[$name]=n/a
        judge "$name" "${LOCKS_BUDGET[$k]:-}"
    done
}

has_median() { [ "${R_STATUS[$1]:-}" = ok ] && [ -n "${R_MEDIAN[$1]:-}" ]; }

# A target whose value is a figure, not a ratio of two keys' medians.
value_target()   # NAME KEY LIMIT VALUE
{
    TARGETS+=("$1|$2||$3")
    T_RATIO[$1]=$4 T_STATUS[$1]=n/a
    judge "$1" "$3"
}

# The s3 set's figures that are not times: bytes sent by the copy after churn
# against its new chunks (~1.0, judged <= 1.1), objects written per tenant of
# the tiny set (<= 0.1), and requests per GB (information).
evaluate_s3()
{
    local v=
    if has_median coffer_s3_copy_incr && [ -n "${S3_SENT[coffer_s3_copy_incr]:-}" ] && [ "${SETINFO[s3_copy_incr_added]:-0}" -gt 0 ]; then
        v=$(awk -v s="${S3_SENT[coffer_s3_copy_incr]}" -v a="${SETINFO[s3_copy_incr_added]}" 'BEGIN { printf "%.3f", s / a }')
    fi
    value_target "s3: bytes sent by a copy after churn vs new chunks" coffer_s3_copy_incr 1.1 "$v"
    v=
    if has_median coffer_s3_copy_full && [ -n "${S3_SENT[coffer_s3_copy_full]:-}" ] && [ "${SETINFO[s3_copy_full_added]:-0}" -gt 0 ]; then
        v=$(awk -v s="${S3_SENT[coffer_s3_copy_full]}" -v a="${SETINFO[s3_copy_full_added]}" 'BEGIN { printf "%.3f", s / a }')
    fi
    value_target "(info) s3: bytes sent by the first copy vs new chunks" coffer_s3_copy_full "" "$v"
    v=
    if has_median coffer_s3_tiny && [ -n "${S3_OBJ[coffer_s3_tiny]:-}" ] && [ "${SETINFO[s3_tiny_tenants]:-0}" -gt 0 ]; then
        v=$(awk -v o="${S3_OBJ[coffer_s3_tiny]}" -v n="${SETINFO[s3_tiny_tenants]}" 'BEGIN { printf "%.2f", o / n }')
    fi
    value_target "s3: objects written per tenant, tiny set" coffer_s3_tiny 0.1 "$v"
    value_target "(info) s3: requests per GB read, first backup" coffer_s3_proxied "" "${S3_PERGB[coffer_s3_proxied]:-}"
    value_target "(info) s3: requests per GB restored, one tenant" coffer_s3_restore_proxied "" "${S3_PERGB[coffer_s3_restore_proxied]:-}"
    value_target "(info) s3: requests per GB read, tiny set backup" coffer_s3_tiny "" "${S3_PERGB[coffer_s3_tiny]:-}"
}

# The retention set's figures: coffer run when nothing is due (<= 0.2 s), and
# coffer expire's time and peak RSS (information).
evaluate_retention()
{
    local n=${SETINFO[retention_snapshots]} t=${SETINFO[retention_tenants]} k v
    for k in coffer_run_idle coffer_expire_dry coffer_expire; do
        v=
        has_median $k && v=${R_MEDIAN[$k]}
        case $k in
            coffer_run_idle) value_target "retention: coffer run, nothing due, $n snapshots (s)" $k 0.2 "$v" ;;
            coffer_expire_dry) value_target "(info) retention: expire --dry-run, $n snapshots x $t tenants (s)" $k "" "$v" ;;
            coffer_expire) value_target "(info) retention: expire, $n snapshots x $t tenants (s)" $k "" "$v" ;;
        esac
    done
    for k in coffer_expire_dry coffer_expire; do
        v=
        [ -z "${R_RSS[$k]:-}" ] || v=$(awk -v k="${R_RSS[$k]}" 'BEGIN { printf "%.1f", k / 1024 }')
        value_target "(info) retention: peak RSS (MiB) of ${R_LABEL[$k]%%:*}" $k "" "$v"
    done
}

judge()   # NAME LIMIT (empty: no target, informational)
{
    local r=${T_RATIO[$1]}
    [ -n "$r" ] || return 0
    if [ -z "$2" ]; then T_STATUS[$1]=info; return 0; fi
    if awk -v r="$r" -v l="$2" 'BEGIN { exit !(r <= l) }'; then T_STATUS[$1]=PASS; else T_STATUS[$1]=MISS; fi
}

print_report()
{
    local k med bytes rss
    echo
    echo "Coffer benchmark: scale $BENCH_SCALE, $(nproc) cores, PostgreSQL $(psql -X -At -c 'SHOW server_version'), sets: $SETS"
    [ -z "${SETINFO[skewed_copy_bytes]:-}" ] || echo "  skewed: ${SETINFO[skewed_tenants]} tenant schemas + central, $(bench_human_bytes "${SETINFO[skewed_copy_bytes]}") COPY text, $(bench_human_bytes "${SETINFO[skewed_db_bytes]}") on disk, generated in ${SETINFO[skewed_gen_s]} s; churn took ${SETINFO[churn_s]:-?} s"
    [ -z "${SETINFO[tiny_tenants]:-}" ] || echo "  tiny:   ${SETINFO[tiny_tenants]} tenant schemas, ${SETINFO[tiny_tables]} tables, generated in ${SETINFO[tiny_gen_s]} s"
    [ -z "${SETINFO[dbs_databases]:-}" ] || echo "  dbs:    ${SETINFO[dbs_databases]} databases + bench_master, $(bench_human_bytes "${SETINFO[dbs_bytes]}") on disk, generated in ${SETINFO[dbs_gen_s]} s"
    [ -z "${SETINFO[huge_tenants]:-}" ] || echo "  huge:   ${SETINFO[huge_tenants]} tenant schemas, ${SETINFO[huge_tables]} tables, about $(bench_human_bytes "${SETINFO[huge_copy_bytes]}") COPY text, $(bench_human_bytes "${SETINFO[huge_db_bytes]}") on disk;" \
        "bench_one: 1 tenant, 8 tables, $(bench_human_bytes "${SETINFO[one_copy_bytes]}") COPY text, $(bench_human_bytes "${SETINFO[one_db_bytes]}") on disk; generated in ${SETINFO[huge_gen_s]} s"
    [ -z "${SETINFO[s3_tenants]:-}" ] || echo "  s3:     the skewed data at scale ${SETINFO[s3_scale]} (${SETINFO[s3_tenants]} tenants, $(bench_human_bytes "${SETINFO[s3_db_bytes]}") on disk," \
        "$(bench_human_bytes "${SETINFO[s3_bytes_read]:-0}") read by a backup) generated in ${SETINFO[s3_gen_s]} s, the tiny set (${SETINFO[s3_tiny_tenants]:-?} tenants) in ${SETINFO[s3_tiny_gen_s]:-?} s;" \
        "Swift with s3api on this machine, started in ${SETINFO[s3_start_s]} s; part_size ${SETINFO[s3_part_size_mib]} MiB"
    [ -z "${SETINFO[retention_snapshots]:-}" ] || echo "  retention: ${SETINFO[retention_tenants]} tenant schemas of one table (generated in ${SETINFO[retention_gen_s]} s)," \
        "${SETINFO[retention_snapshots]} snapshots: 1 backup (${SETINFO[retention_backup_s]} s) and copies of it by repo_tool clone-snapshots (${SETINFO[retention_forge_s]} s);" \
        "the clock at ${SETINFO[retention_now]}"
    if [ -n "${SETINFO[locks_raised_runs]:-}" ]; then
        echo "  max_locks_per_transaction: the stock $STOCK_LOCKS for every run but ${SETINFO[locks_raised_runs]} ($RAISED_LOCKS, see the notes);" \
            "${SETINFO[locks_restarts]} server restarts to switch"
    else
        echo "  max_locks_per_transaction: the stock $STOCK_LOCKS for every run"
    fi
    echo "  each method ran 3 times if its first run took < $CHEAP_SECONDS s (median shown), else once"
    echo
    printf '%-7s %-66s %10s %-24s %11s %9s\n' set method "median s" runs bytes "peak RSS"
    printf '%s\n' "$(printf -- '-%.0s' {1..132})"
    for k in "${KEYS[@]}"; do
        med=${R_MEDIAN[$k]:-} bytes=${R_BYTES[$k]:-} rss=${R_RSS[$k]:-}
        [ "${R_STATUS[$k]}" = ok ] || med=${R_STATUS[$k]}
        [ -z "$bytes" ] || bytes=$(bench_human_bytes "$bytes")
        [ -z "$rss" ] || rss="$((rss / 1024)) MiB"
        printf '%-7s %-66s %10s %-24s %11s %9s\n' "${R_SET[$k]}" "${R_LABEL[$k]}" "$med" "${R_RUNS[$k]:-}" "$bytes" "$rss"
        [ -z "${R_NOTE[$k]}" ] || printf '%-7s   %s\n' "" "(${R_NOTE[$k]})"
    done
    echo
    printf '%-55s %10s %8s  %s\n' "target (ratio = Coffer / alternative)" ratio limit status
    printf '%s\n' "$(printf -- '-%.0s' {1..85})"
    local t name c a lim
    for t in "${TARGETS[@]}"; do
        IFS='|' read -r name c a lim <<<"$t"
        printf '%-55s %10s %8s  %s\n' "$name" "${T_RATIO[$name]:--}" "${lim:+<= $lim}" "${T_STATUS[$name]}"
    done
    print_steps
    print_s3
    if [ -n "${RSS_COFFER[coffer_tiny]:-}${RSS_PGDUMP[coffer_tiny]:-}" ]; then
        echo
        echo "Peak RSS, tiny set, coffer backup -j $JOBS: the coffer process $(kib_mib "${RSS_COFFER[coffer_tiny]:-}")," \
            "its pg_dump $(kib_mib "${RSS_PGDUMP[coffer_tiny]:-}")"
        echo "  (VmHWM from /proc every 20 ms in one more, untimed, first backup; /usr/bin/time's peak of the whole" \
            "process tree in the timed runs: $(kib_mib "${R_RSS[coffer_tiny]:-}"))"
    fi
    if [ -n "${RSS_COFFER[coffer_huge]:-}${RSS_CHILD[coffer_huge]:-}" ]; then
        echo
        echo "Peak RSS, huge set, coffer backup -j $JOBS: the coffer process $(kib_mib "${RSS_COFFER[coffer_huge]:-}")," \
            "its children: ${RSS_CHILDREN[coffer_huge]:-?}"
        echo "  (sampled as for the tiny set; /usr/bin/time's peak of the whole process tree in the timed runs:" \
            "$(kib_mib "${R_RSS[coffer_huge]:-}"))"
    fi
    local lk head=
    for lk in coffer_tiny coffer_huge; do
        [ -n "${LOCKS_MAX[$lk]:-}" ] || continue
        if [ -z "$head" ]; then
            head=1
            echo
            echo "Relation locks held by the other sessions (pg_locks every 50 ms, one more, untimed, first backup at the stock setting):"
        fi
        echo "  ${R_SET[$lk]}: at most ${LOCKS_MAX[$lk]}, Coffer's budget ${LOCKS_BUDGET[$lk]}"
    done
    if [ -n "${MICRO[*]-}" ]; then
        echo
        for k in "${!MICRO[@]}"; do
            echo "== micro-benchmark: $k"
            echo "${MICRO[$k]}"
        done
    fi
    echo
    echo "results: $RESULTS   logs: $LOGS/"
}

# The s3 set's counts: requests by method (per GB), objects by prefix, bytes sent.
print_s3()
{
    [ -n "${SETINFO[s3_tenants]:-}" ] || return 0
    local k
    echo
    echo "S3 (Swift with s3api on this machine; requests and bodies counted by the proxy, GB = 10^9 bytes):"
    for k in coffer_s3_proxied coffer_s3_restore_proxied coffer_s3_copy_full coffer_s3_copy_incr coffer_s3_tiny; do
        [ -n "${S3_REQ[$k]:-}" ] || continue
        echo "  ${R_LABEL[$k]}:"
        echo "    ${S3_REQ[$k]}"
        [ -z "${S3_OBJ[$k]:-}" ] || echo "    objects written: ${S3_OBJ[$k]} (${S3_OBJ_LINE[$k]})"
    done
    if [ -n "${SETINFO[s3_copy_incr_added]:-}" ] && [ -n "${S3_SENT[coffer_s3_copy_incr]:-}" ]; then
        echo "  copy after churn: ${S3_SENT[coffer_s3_copy_incr]} bytes sent for ${SETINFO[s3_copy_incr_added]} bytes of new chunks" \
            "(${SETINFO[s3_copy_incr_chunks_new]:-?} chunks); the first copy: ${S3_SENT[coffer_s3_copy_full]:-?} for ${SETINFO[s3_copy_full_added]:-?}"
    fi
    if [ -n "${SETINFO[s3_swift_cpu_s]:-}" ] && has_median coffer_s3_full; then
        echo "  Swift's own CPU time during a first backup into S3: ${SETINFO[s3_swift_cpu_s]} s (median) for a median run of" \
            "${R_MEDIAN[coffer_s3_full]} s, on the $(nproc) cores PostgreSQL and Coffer use too"
    fi
}

kib_mib() { if [ -n "$1" ]; then awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; else echo "?"; fi; }

# The step times of each Coffer restore (restore_steps), beside the key
# derivation it pays first (the median time of "coffer list").
print_steps()
{
    local k line head=
    for k in coffer_restore coffer_restore_large; do
        [ -n "${R_STEPS[$k]:-}" ] || continue
        if [ -z "$head" ]; then
            head=1
            echo
            echo "Restore steps, s (one more run of each Coffer restore with --verbose; key derivation = median of \"coffer list\"):"
        fi
        line=${R_STEPS[$k]//=/ }
        echo "  ${R_LABEL[$k]#coffer restore: }: ${line//|/, }; key derivation ${R_MEDIAN[coffer_kdf]:-?};" \
            "--verbose run ${R_STEPS_RUN[$k]}, timed median ${R_MEDIAN[$k]}"
    done
}

json_str()
{
    local s=$1
    s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/}
    s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
    printf '"%s"' "$s"
}
json_num() { if [ -n "${1:-}" ]; then printf '%s' "$1"; else printf null; fi; }

write_json()
{
    local k t name c a lim first=1
    {
        printf '{\n  "scale": %s,\n  "cores": %s,\n  "sets": %s,\n' "$BENCH_SCALE" "$(nproc)" "$(json_str "$SETS")"
        printf '  "finished": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
        printf '  "coffer_backup_available": %s,\n' "$(coffer_has backup && echo true || echo false)"
        printf '  "cheap_seconds": %s,\n  "info": {' "$CHEAP_SECONDS"
        for k in $(printf '%s\n' "${!SETINFO[@]}" | sort); do
            [ $first = 1 ] || printf ','
            first=0
            if [[ "${SETINFO[$k]}" =~ ^[0-9.]+$ ]]; then
                printf '\n    %s: %s' "$(json_str "$k")" "${SETINFO[$k]}"
            else
                printf '\n    %s: %s' "$(json_str "$k")" "$(json_str "${SETINFO[$k]}")"
            fi
        done
        printf '\n  },\n  "measurements": ['
        first=1
        for k in "${KEYS[@]}"; do
            [ $first = 1 ] || printf ','
            first=0
            local runs
            runs=$(echo "${R_RUNS[$k]:-}" | tr ' ' ',')
            printf '\n    {"key": %s, "set": %s, "method": %s, "status": %s, "median_s": %s, "runs_s": [%s], "bytes": %s, "peak_rss_kib": %s, "max_locks_per_transaction": %s, "note": %s%s}' \
                "$(json_str "$k")" "$(json_str "${R_SET[$k]}")" "$(json_str "${R_LABEL[$k]}")" \
                "$(json_str "${R_STATUS[$k]}")" "$(json_num "${R_MEDIAN[$k]}")" "$runs" \
                "$(json_num "${R_BYTES[$k]}")" "$(json_num "${R_RSS[$k]}")" "$(json_num "${R_LOCKS[$k]:-}")" \
                "$(json_str "${R_NOTE[$k]}")" "${R_EXTRA[$k]:+, ${R_EXTRA[$k]}}"
        done
        printf '\n  ],\n  "targets": ['
        first=1
        for t in "${TARGETS[@]}"; do
            IFS='|' read -r name c a lim <<<"$t"
            [ $first = 1 ] || printf ','
            first=0
            printf '\n    {"name": %s, "coffer": %s, "alternative": %s, "value": %s, "limit": %s, "status": %s}' \
                "$(json_str "$name")" "$(json_str "$c")" "$(json_str "$a")" \
                "$(json_num "${T_RATIO[$name]}")" "$(json_num "$lim")" "$(json_str "${T_STATUS[$name]}")"
        done
        printf '\n  ],\n  "micro": {'
        first=1
        for k in "${!MICRO[@]}"; do
            [ $first = 1 ] || printf ','
            first=0
            printf '\n    %s: %s' "$(json_str "$k")" "$(json_str "${MICRO[$k]}")"
        done
        printf '\n  }\n}\n'
    } >"$RESULTS"
    if command -v jq >/dev/null && ! jq empty "$RESULTS" 2>/dev/null; then
        bench_log "warning: $RESULTS is not valid JSON"
    fi
}

# ---------------------------------------------------------------------------

main()
{
    local t0=$EPOCHREALTIME s
    local tools=pg_dump
    case " $SETS " in *" skewed "*) tools+=" pgbackrest zstd" ;; esac   # the skewed set's alternatives
    for tool in $tools; do
        command -v "$tool" >/dev/null || [ -x "$BENCH_PG_BINDIR/$tool" ] ||
            bench_die "$tool not found (run: BENCH=1 scripts/install-deps.sh)"
    done
    bench_pg_start
    if coffer_has backup; then
        bench_log "coffer: $("$COFFER" version 2>&1 | head -1)"
    else
        bench_log "coffer backup: not available (\"$COFFER help backup\" fails); timing the alternatives only"
    fi
    for s in $SETS; do
        case $s in
            skewed) run_skewed ;;
            tiny) run_tiny ;;
            dbs) run_dbs ;;
            huge) run_huge ;;
            s3) run_s3 ;;
            retention) run_retention ;;
            *) bench_die "unknown set \"$s\" in BENCH_SETS (skewed, tiny, dbs, s3, huge, retention)" ;;
        esac
    done
    local k raised=
    for k in "${KEYS[@]}"; do
        if [ -n "${R_LOCKS[$k]:-}" ] && [ "${R_LOCKS[$k]}" != "$STOCK_LOCKS" ]; then raised+="${raised:+ }$k"; fi
    done
    SETINFO[locks_stock]=$STOCK_LOCKS
    SETINFO[locks_raised]=$RAISED_LOCKS
    SETINFO[locks_raised_runs]=$raised
    SETINFO[locks_restarts]=$BENCH_LOCK_RESTARTS
    run_micro
    evaluate
    write_json
    print_report
    bench_log "total $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"
}

main "$@"
