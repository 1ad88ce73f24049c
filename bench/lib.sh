# bench/lib.sh - a throwaway PostgreSQL 15 for the benchmark, and small helpers.
#
# Sourced by bench/run.sh (and usable by hand: `source bench/lib.sh; bench_pg_start`).
# The server lives in a temp dir under /tmp (data, unix socket, log), listens on
# the socket only, and is always stopped by an EXIT trap, even on error or ^C.
#
# Settings, and why:
#   fsync=off, synchronous_commit=off, full_page_writes=off: every method measured
#     here READS from this server (backups) or restores into it with the same
#     settings for every method, so durability of the server itself is not what
#     is compared; it makes data generation several times faster. The backup
#     tools' own outputs (dump files, pgBackRest repo, Coffer repo) are written
#     with whatever syncing each tool does by default.
#   wal_level=replica, archive_mode=on: pgBackRest needs both; archive_command
#     is /bin/true until bench_pgbackrest_setup points it at pgBackRest.
#   max_locks_per_transaction=1024: a whole-database pg_dump of the tiny set
#     locks 16,000 tables in one transaction.
#   autovacuum=off: no background work skews timings; the generator runs
#     VACUUM ANALYZE itself after loading and after churn.
#
# test/lib/pg.sh (the tests' harness) had not landed when this was written; when
# it does, bench_pg_start can become a thin wrapper around it.

BENCH_PG_VERSION=${BENCH_PG_VERSION:-15}
BENCH_PG_BINDIR=${BENCH_PG_BINDIR:-/usr/lib/postgresql/$BENCH_PG_VERSION/bin}
BENCH_TMP=${BENCH_TMP:-}
BENCH_PGDATA=
BENCH_CLEANUP=()   # extra commands run by bench_cleanup, last registered first

bench_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Runs a command as the cluster owner: "postgres" when we are root, else ourselves.
bench_as_owner()
{
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A TCP port nobody listens on. The server listens on its unix socket only,
# but the port names the socket file and pgBackRest's config, so pick a free one.
bench_free_port()
{
    local p
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 30000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    bench_die "no free port found"
}

bench_pg_start()
{
    [ -x "$BENCH_PG_BINDIR/initdb" ] || bench_die "PostgreSQL $BENCH_PG_VERSION not found in $BENCH_PG_BINDIR (run: BENCH=1 scripts/install-deps.sh)"
    if [ -z "$BENCH_TMP" ]; then
        BENCH_TMP=$(mktemp -d /tmp/coffer-bench.XXXXXX)
    fi
    mkdir -p "$BENCH_TMP"
    chmod 755 "$BENCH_TMP"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$BENCH_TMP"
    fi
    BENCH_PGDATA=$BENCH_TMP/pgdata
    local port
    port=$(bench_free_port)

    bench_as_owner "$BENCH_PG_BINDIR/initdb" -D "$BENCH_PGDATA" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$BENCH_TMP/initdb.log" 2>&1 ||
        { cat "$BENCH_TMP/initdb.log" >&2; bench_die "initdb failed"; }

    bench_as_owner tee -a "$BENCH_PGDATA/postgresql.conf" >/dev/null <<EOF

# --- coffer bench ---
listen_addresses = ''
port = $port
unix_socket_directories = '$BENCH_TMP'
max_connections = 50
shared_buffers = 512MB
work_mem = 16MB
maintenance_work_mem = 256MB
max_locks_per_transaction = 1024
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = replica
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 30min
archive_mode = on
archive_command = '/bin/true'
autovacuum = off
max_parallel_workers_per_gather = 0
logging_collector = off
log_min_messages = warning
EOF
    bench_as_owner "$BENCH_PG_BINDIR/pg_ctl" -D "$BENCH_PGDATA" -l "$BENCH_TMP/postgres.log" \
        -w -t 120 start >/dev/null ||
        { tail -20 "$BENCH_TMP/postgres.log" >&2; bench_die "PostgreSQL did not start"; }

    export PGHOST=$BENCH_TMP PGPORT=$port PGUSER=postgres PGDATABASE=postgres
    export PATH="$BENCH_PG_BINDIR:$PATH"
    bench_log "PostgreSQL $BENCH_PG_VERSION started: data $BENCH_PGDATA, socket $PGHOST port $PGPORT"
}

bench_pg_stop()
{
    if [ -n "$BENCH_PGDATA" ] && [ -f "$BENCH_PGDATA/postmaster.pid" ]; then
        bench_as_owner "$BENCH_PG_BINDIR/pg_ctl" -D "$BENCH_PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            bench_as_owner "$BENCH_PG_BINDIR/pg_ctl" -D "$BENCH_PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
}

# Restarts the server, e.g. after changing a setting that needs it.
bench_pg_restart()
{
    bench_as_owner "$BENCH_PG_BINDIR/pg_ctl" -D "$BENCH_PGDATA" -l "$BENCH_TMP/postgres.log" \
        -m fast -w -t 120 restart >/dev/null
}

bench_pg_set()   # NAME VALUE: ALTER SYSTEM + reload
{
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "ALTER SYSTEM SET $1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null
}

bench_cleanup()
{
    local rc=$?
    trap - EXIT INT TERM
    local i
    for (( i=${#BENCH_CLEANUP[@]}-1; i>=0; i-- )); do
        eval "${BENCH_CLEANUP[$i]}" || true
    done
    bench_pg_stop
    if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$BENCH_TMP"
    fi
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
