# bench/lib.sh - the benchmark's throwaway PostgreSQL 15, and small helpers.
#
# Sourced by bench/run.sh (and usable by hand: `source bench/lib.sh; bench_pg_start`).
# The s3 set's S3 server is the tests' too (test/lib/s3.sh, see bench_s3_start).
# The server comes from the tests' harness, test/lib/pg.sh (pg_start/pg_stop:
# data, unix socket and log in /tmp/coffer-pg.XXXXXX, listening on the socket
# only, run as the postgres OS user when we are root, always stopped at exit,
# even on error or ^C). bench_pg_start adds the settings a benchmark needs:
#
#   fsync=off, synchronous_commit=off, full_page_writes=off: every method measured
#     here READS from this server (backups) or restores into it with the same
#     settings for every method, so the durability of the server itself is not
#     what is compared, and it makes data generation several times faster. The
#     backup tools' own outputs (dump files, pgBackRest repo, Coffer repo) are
#     written with whatever syncing each tool does by default.
#   wal_level=replica, archive_mode=on: pgBackRest needs both; archive_command
#     is /bin/true until run.sh points it at pgBackRest's archive-push.
#   max_locks_per_transaction: left at PostgreSQL's default, 64, so Coffer is
#     measured on a stock server (it keeps to a lock budget: a quarter of
#     64 x (max_connections + max_prepared_transactions) relation locks). A
#     whole-database pg_dump of the tiny set locks 16,000 tables in one
#     transaction and fails with "out of shared memory" there: run.sh raises the
#     setting with bench_pg_locks (a restart) around the runs that need it only.
#   autovacuum=off: no background work skews timings; the generator runs
#     VACUUM ANALYZE itself after loading and after churn.
#   shared_buffers=512MB; the data sets also fit in the OS page cache (the
#     machine has 24 GiB), so every method reads warm data.

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../test/lib/pg.sh
. "$BENCH_LIB_DIR/../test/lib/pg.sh"
# shellcheck source=../test/lib/s3.sh
. "$BENCH_LIB_DIR/../test/lib/s3.sh"

BENCH_PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/${PG_MAJOR:-15}/bin}
BENCH_TMP=      # the server's temp dir ($PG_TMP): work files go there too
BENCH_PGDATA=

bench_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Runs a command as the cluster owner (PG_OS_USER: postgres when we are root).
bench_as_owner()
{
    if [ "$(id -u)" -eq 0 ] && [ "$PG_OS_USER" != root ]; then
        (cd / && exec runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

bench_pg_start()
{
    [ -x "$BENCH_PG_BINDIR/postgres" ] ||
        bench_die "PostgreSQL ${PG_MAJOR:-15} not found in $BENCH_PG_BINDIR (run: BENCH=1 scripts/install-deps.sh)"
    [ "${BENCH_KEEP:-0}" = 1 ] && export PG_KEEP=1 T_KEEP=1
    pg_start \
        "max_connections = 100" \
        "shared_buffers = 512MB" \
        "work_mem = 16MB" \
        "maintenance_work_mem = 256MB" \
        "fsync = off" \
        "synchronous_commit = off" \
        "full_page_writes = off" \
        "wal_level = replica" \
        "max_wal_size = 8GB" \
        "min_wal_size = 1GB" \
        "checkpoint_timeout = 30min" \
        "archive_mode = on" \
        "archive_command = '/bin/true'" \
        "autovacuum = off" \
        "max_parallel_workers_per_gather = 0" \
        "log_min_messages = warning" ||
        bench_die "PostgreSQL did not start"
    BENCH_TMP=$PG_TMP
    BENCH_PGDATA=$PGDATA
    BENCH_LOCKS=$(psql -X -At -d postgres -c "SHOW max_locks_per_transaction")
    bench_log "PostgreSQL $("$BENCH_PG_BINDIR/postgres" --version | awk '{ print $3 }') started: data $PGDATA, socket $PGHOST port $PGPORT, max_locks_per_transaction $BENCH_LOCKS"
}

# bench_pg_locks N: max_locks_per_transaction = N (ALTER SYSTEM; 64 resets it
# to the default). The lock table is sized at server start, so a change
# restarts the server (test/lib/pg.sh's pg_restart: fast stop, same data
# directory, socket and port; the OS page cache stays warm, shared_buffers
# does not). Does nothing when the server already runs with N. Sets
# BENCH_LOCKS to the value SHOW reports afterwards and counts the restarts in
# BENCH_LOCK_RESTARTS.
BENCH_LOCKS=
BENCH_LOCK_RESTARTS=0
bench_pg_locks()
{
    local n=$1 cur sql
    cur=$(psql -X -At -d postgres -c "SHOW max_locks_per_transaction") || bench_die "cannot read max_locks_per_transaction"
    if [ "$cur" != "$n" ]; then
        if [ "$n" = 64 ]; then
            sql="ALTER SYSTEM RESET max_locks_per_transaction"
        else
            sql="ALTER SYSTEM SET max_locks_per_transaction = $n"
        fi
        psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "$sql" >/dev/null || bench_die "$sql failed"
        pg_restart || bench_die "PostgreSQL did not restart (max_locks_per_transaction $cur -> $n)"
        BENCH_LOCK_RESTARTS=$(( BENCH_LOCK_RESTARTS + 1 ))
        cur=$(psql -X -At -d postgres -c "SHOW max_locks_per_transaction") || bench_die "PostgreSQL did not come back after the restart"
        [ "$cur" = "$n" ] || bench_die "max_locks_per_transaction is $cur after the restart, not $n"
        bench_log "PostgreSQL restarted with max_locks_per_transaction = $cur"
    fi
    BENCH_LOCKS=$cur
}

bench_pg_set()   # NAME VALUE: ALTER SYSTEM + reload
{
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "ALTER SYSTEM SET $1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null
}

# --- timing ---------------------------------------------------------------

# bench_time VAR CMD...: runs CMD, stores wall seconds (3 decimals) in VAR.
# Fails (returns CMD's status) if CMD fails.
bench_time()
{
    local __var=$1; shift
    local t0 t1 rc=0
    t0=$EPOCHREALTIME
    "$@" || rc=$?
    t1=$EPOCHREALTIME
    printf -v "$__var" '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
    return $rc
}

# bench_median N1 N2 ...: the median (the lower middle for an even count).
bench_median()
{
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# bench_calc EXPR: evaluates an arithmetic expression with awk, 4 decimals.
bench_calc() { awk "BEGIN { printf \"%.4f\", $* }"; }

bench_human_bytes()
{
    awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u); i=1; while (b >= 1024 && i < 5) { b /= 1024; i++ } printf (i==1 ? "%d %s" : "%.1f %s"), b, u[i] }'
}

# --- S3 ---------------------------------------------------------------------

# bench_s3_start: the s3 set's object store, test/lib/s3.sh's throwaway
# OpenStack Swift with s3api (four processes on 127.0.0.1, one worker each,
# its data in a temp dir, stopped at exit), the bucket BENCH_S3_BUCKET, and
# the counting proxy in front of it with no faults (rate=0): S3_ENDPOINT goes
# to Swift directly, S3_PROXY_ENDPOINT through the proxy, whose counters
# bench_s3_stats reads. Exports the keys Coffer reads (AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY). Returns 2 when Swift is not installed, 1 when it
# does not start.
BENCH_S3_BUCKET=bench
bench_s3_start()
{
    s3_available || return 2
    [ "${BENCH_KEEP:-0}" = 1 ] && export S3_KEEP=1
    s3_start || return 1
    s3_mb "$BENCH_S3_BUCKET" || return 1
    s3_proxy_start rate=0 || return 1
    export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
    unset AWS_SESSION_TOKEN AWS_PROFILE
    bench_log "S3: Swift with s3api at $S3_ENDPOINT, bucket $BENCH_S3_BUCKET, counting proxy at $S3_PROXY_ENDPOINT"
}

bench_s3_stop() { s3_stop; }

# bench_s3_stats [--reset]: the proxy's counters as KEY=VALUE lines (requests,
# requests.METHOD, req_body_bytes.METHOD, resp_body_bytes.METHOD, status.CODE).
bench_s3_stats() { s3_proxy_stats "$@"; }

# bench_s3_keys PREFIX: the keys under PREFIX/ in the bucket, counted by their
# first path element below the prefix ("data 4003", "config 1", ...), sorted.
bench_s3_keys()
{
    local keys
    keys=$(s3_ls "$BENCH_S3_BUCKET" "$1/") || return 1
    printf '%s\n' "$keys" | awk -F/ 'NF > 1 { n[$2]++ } END { for (k in n) print k, n[k] }' | sort
}

# bench_s3_cpu: the CPU seconds (user + system) used so far by Swift's
# processes (every process of the four servers' sessions: each server runs
# its worker as a child): on a small machine the server competes with
# PostgreSQL and Coffer for the same cores.
bench_s3_cpu()
{
    local s pid sids=''
    for s in proxy account container object; do
        pid=$(cat "$S3_TMP/run/$s.pid" 2>/dev/null) || continue
        sids+="${sids:+,}$pid"
    done
    # /proc/PID/stat after "(comm) ": state ppid pgrp session ... utime(12) stime(13) cutime(14) cstime(15)
    # (cat goes on past a process that ended meanwhile; awk would stop there)
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v sids="$sids" -v hz="$(getconf CLK_TCK)" '
        BEGIN { n = split(sids, a, ","); for (i = 1; i <= n; i++) s[a[i]] = 1 }
        { sub(/^.*\) /, ""); if ($4 in s) t += $12 + $13 + $14 + $15 }
        END { printf "%.2f", t / hz }'
}
