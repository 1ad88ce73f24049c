# test/lib/pg.sh: a throwaway PostgreSQL server for integration tests.
#
#   . "$(dirname "$0")/../lib/pg.sh"     # also loads tap.sh and fixtures/load.sh
#   pg_start || t_bail "cannot start PostgreSQL"
#   load_fixture schema_model
#   t_is "$(pg_psql -d saas_schema -c 'select count(*) from central.plans')" 3 "plans"
#   t_done                                # the server is stopped on exit
#
# pg_start copies a cached initdb'd template (build/pgtemplate/<key>/data, made
# once per PostgreSQL version) into a fresh /tmp/coffer-pg.XXXXXX, and starts it
# listening on a unix socket in that directory only (no TCP unless
# PG_LISTEN=127.0.0.1), trust auth, fsync=off. As root the server runs as the
# `postgres` OS user. pg_stop is registered to run on EXIT/INT/TERM/HUP, and a
# detached watchdog stops the server if the test process dies by SIGKILL.
#
# Functions (all return non-zero on failure, messages on stderr):
#   pg_start [CONF_LINE...]   start; extra postgresql.conf lines, e.g.
#                             "wal_level = replica" "archive_mode = on"
#   pg_stop                   fast stop (then immediate, then SIGKILL), rm -rf
#   pg_restart [CONF_LINE...] fast stop if up, add lines, start on same data/port
#   pg_kill [SIGNAL]          crash: SIGKILL (default) the postmaster and every
#                             backend at once; data kept, pg_restart recovers
#   pg_running                true while the postmaster is up
#   pg_conf CONF_LINE...      append to postgresql.conf; pg_reload sends SIGHUP
#   pg_psql ARGS...           psql -X -v ON_ERROR_STOP=1 -qAt ARGS
#   pg_terminate_clients [DB] pg_terminate_backend() every other client session
#   load_fixture NAME [DB]    see test/fixtures/load.sh
# The archive_command and restore_command of a server run as PG_OS_USER with
# the postmaster's environment, not the test's: put what they need (paths,
# COFFER_CONFIG) in the command itself, and keep the files they touch
# readable by that user ($T_TMP is 0755; chown what the server must write).
#
# Exported while a server runs:
#   PGHOST=$PG_TMP  PGPORT  PGUSER=postgres  PGDATABASE=postgres  (libpq/psql)
#   PGDATA          the data directory ($PG_TMP/data)
#   PG_TMP          the server's temp directory (socket, data, log)
#   PG_LOG          the server log file
#   PG_PID          the postmaster pid
# Always exported: REPO_ROOT, COFFER ($REPO_ROOT/coffer), PG_BINDIR (also put
# first in PATH, so psql/pg_dump/pg_ctl are the server's version), PG_OS_USER.
#
# Knobs (environment): PG_MAJOR (default 15), PG_BINDIR, PG_LISTEN ('' or
# '127.0.0.1'), PG_KEEP=1 (keep $PG_TMP after stopping, for debugging).

. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

if [ -n "${_PG_SH_LOADED:-}" ]; then
    return 0
fi
_PG_SH_LOADED=1

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COFFER="$REPO_ROOT/coffer"
export REPO_ROOT COFFER

. "$REPO_ROOT/test/fixtures/load.sh"

# ---------------------------------------------------------------- setup

_pg_find_bindir() {
    local major=${PG_MAJOR:-15} d
    if [ -n "${PG_BINDIR:-}" ]; then
        :
    elif [ -x "/usr/lib/postgresql/$major/bin/postgres" ]; then
        PG_BINDIR="/usr/lib/postgresql/$major/bin"
    elif command -v pg_config >/dev/null 2>&1 &&
        [ -x "$(pg_config --bindir)/postgres" ]; then
        PG_BINDIR=$(pg_config --bindir)
    else
        for d in /usr/lib/postgresql/*/bin; do
            [ -x "$d/postgres" ] && PG_BINDIR=$d
        done
    fi
    [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/postgres" ]
}

if _pg_find_bindir; then
    export PG_BINDIR
    case ":$PATH:" in
    *":$PG_BINDIR:"*) ;;
    *) export PATH="$PG_BINDIR:$PATH" ;;
    esac
fi

if [ "$(id -u)" -eq 0 ]; then
    PG_OS_USER=${PG_OS_USER:-postgres}
else
    PG_OS_USER=$(id -un)
fi
export PG_OS_USER

# _pg_as CMD ARGS...: run a command as the server's OS user, from "/" so a
# working directory it cannot read does not matter.
_pg_as() {
    if [ "$(id -u)" -eq 0 ] && [ "$PG_OS_USER" != root ]; then
        (cd / && exec runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

_pg_err() {
    printf 'pg.sh: %s\n' "$*" >&2
}

# Settings every throwaway server shares (written into the template).
_PG_BASE_CONF="
# ---- coffer test harness ----
listen_addresses = ''
fsync = off
shared_buffers = 32MB
max_connections = 100
timezone = 'UTC'
log_timezone = 'UTC'
lc_messages = 'C'
log_line_prefix = '%m [%p] %q%u@%d '
"
_PG_INITDB_ARGS=(-U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions)

# _pg_template: make sure the template data directory exists, set
# _PG_TEMPLATE to it. Built in /tmp, copied next to its final place and
# renamed in one step, so racing tests never see a half-built template.
_pg_template() {
    local ver key root dir work stage
    ver=$("$PG_BINDIR/postgres" --version | awk '{print $3}')
    key=$(printf '%s\n' "${_PG_INITDB_ARGS[*]}" "$_PG_BASE_CONF" | cksum | awk '{print $1}')
    root="$REPO_ROOT/build/pgtemplate"
    dir="$root/pg$ver-$PG_OS_USER-$key"
    _PG_TEMPLATE="$dir/data"
    [ -f "$_PG_TEMPLATE/PG_VERSION" ] && return 0

    mkdir -p "$root" || return 1
    work=$(mktemp -d /tmp/coffer-pginit.XXXXXX) || return 1
    chmod 0755 "$work"
    [ "$(id -u)" -eq 0 ] && chown "$PG_OS_USER:" "$work"
    if ! _pg_as "$PG_BINDIR/initdb" -D "$work/data" "${_PG_INITDB_ARGS[@]}" \
        >"$work/initdb.log" 2>&1; then
        _pg_err "initdb failed:"
        cat "$work/initdb.log" >&2
        rm -rf -- "$work"
        return 1
    fi
    # Trust on the unix socket only; there is no host line at all.
    printf '%s\n' \
        'local all all trust' \
        'local replication all trust' >"$work/data/pg_hba.conf"
    printf '%s\n' "$_PG_BASE_CONF" >>"$work/data/postgresql.conf"

    stage=$(mktemp -d "$root/.stage.XXXXXX") || { rm -rf -- "$work"; return 1; }
    if cp -a "$work/data" "$stage/data" && mv -T "$stage" "$dir" 2>/dev/null; then
        :
    else
        rm -rf -- "$stage" # another test won the race, or the copy failed
    fi
    rm -rf -- "$work"
    [ -f "$_PG_TEMPLATE/PG_VERSION" ]
}

# Is this port free for us? ss if available, else a connect attempt.
_pg_port_free() {
    local p=$1
    if command -v ss >/dev/null 2>&1; then
        [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        return 1
    fi
    return 0
}

_pg_pick_port() {
    local i p
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 20001))
        if _pg_port_free "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    _pg_err "no free port in 20000-40000"
    return 1
}

# _pg_alive PID: the process exists and is not a zombie.
_pg_alive() {
    local st
    [ -n "${1:-}" ] || return 1
    read -r st 2>/dev/null <"/proc/$1/stat" || return 1
    st=${st##*) }
    [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# _pg_group_alive PGID: any live (non-zombie) process left in that group.
_pg_group_alive() {
    local p
    for p in $(pgrep -g "$1" 2>/dev/null); do
        _pg_alive "$p" && return 0
    done
    return 1
}

# _pg_postmaster: print the pid of the postmaster running on $PGDATA, if any.
# The pid file can be stale (after pg_kill), so the pid only counts if that
# process's working directory is our data directory.
_pg_postmaster() {
    local pid data
    [ -n "${PGDATA:-}" ] && [ -r "$PGDATA/postmaster.pid" ] || return 1
    pid=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null)
    [ -n "$pid" ] && _pg_alive "$pid" || return 1
    data=$(readlink -f "$PGDATA")
    [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$data" ] || return 1
    printf '%s\n' "$pid"
}

# Kill every process of the server, wait until they are gone.
_pg_kill_all() {
    local sig=$1 pid=$2 i
    # pg_ctl starts the postmaster in its own session, so its process group
    # holds exactly the server's processes.
    if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
        kill -s "$sig" -- "-$pid" 2>/dev/null
        for ((i = 0; i < 200; i++)); do
            _pg_group_alive "$pid" || return 0
            sleep 0.05
        done
    else
        pkill -"$sig" -P "$pid" 2>/dev/null
        kill -s "$sig" "$pid" 2>/dev/null
        for ((i = 0; i < 200; i++)); do
            _pg_alive "$pid" || return 0
            sleep 0.05
        done
    fi
    _pg_err "server pid $pid still alive after SIG$sig"
    return 1
}

_pg_log_tail() {
    if [ -n "${PG_LOG:-}" ] && [ -r "$PG_LOG" ]; then
        _pg_err "last lines of $PG_LOG:"
        tail -n "${1:-20}" "$PG_LOG" | sed 's/^/    /' >&2
    fi
}

_pg_ctl_start() {
    # Lock files left by a killed server block the start if its pid is
    # still taken (by a zombie, where nothing reaps orphans). They are stale
    # when no live postmaster runs in our data directory; the socket
    # directory is ours alone.
    if ! _pg_postmaster >/dev/null; then
        rm -f -- "$PGDATA/postmaster.pid" "$PG_TMP"/.s.PGSQL.*.lock
    fi
    if ! _pg_as "$PG_BINDIR/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 -s start \
        >/dev/null 2>"$PG_TMP/pg_ctl.err"; then
        _pg_err "pg_ctl start failed: $(cat "$PG_TMP/pg_ctl.err" 2>/dev/null)"
        _pg_log_tail
        return 1
    fi
    PG_PID=$(_pg_postmaster) || { _pg_err "server started but no postmaster found"; return 1; }
    export PG_PID
}

# A detached process that stops the server and removes $PG_TMP (and the
# test's $T_TMP) if this test process disappears without running its traps
# (SIGKILL). It exits by itself
# once $PG_TMP is gone (pg_stop). Not a child of the test shell, so a bare
# `wait` in a test does not wait for it.
_pg_watchdog() {
    local parent=$BASHPID
    (
        setsid bash -c '
            parent=$1 tmp=$2 data=$3 ttmp=$4
            alive() {
                local st
                read -r st 2>/dev/null <"/proc/$1/stat" || return 1
                st=${st##*) }
                [ "${st:0:1}" != Z ]
            }
            while alive "$parent" && [ -d "$tmp" ]; do sleep 0.5; done
            [ -d "$tmp" ] || exit 0
            pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
            if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd")" = "$(readlink -f "$data")" ]; then
                kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
                for i in $(seq 100); do alive "$pid" || break; sleep 0.05; done
            fi
            rm -rf -- "$tmp"
            case "$ttmp" in /tmp/coffer-test.*) rm -rf -- "$ttmp" ;; esac
        ' coffer-pg-watchdog "$parent" "$PG_TMP" "$PGDATA" "${T_TMP:-}" </dev/null >/dev/null 2>&1 &
    )
}

# ---------------------------------------------------------------- API

# pg_start [CONF_LINE...]: start a throwaway server; each argument is a
# postgresql.conf line ("wal_level = replica"). Returns non-zero (after
# printing the log tail) if it cannot start.
pg_start() {
    local i port
    if [ -n "${PG_TMP:-}" ]; then
        _pg_err "pg_start: a server is already running in $PG_TMP"
        return 1
    fi
    if [ -z "${PG_BINDIR:-}" ] || [ ! -x "$PG_BINDIR/postgres" ]; then
        _pg_err "pg_start: no PostgreSQL server binaries (set PG_BINDIR; tried PG_MAJOR=${PG_MAJOR:-15})"
        return 1
    fi
    if [ "$(id -u)" -eq 0 ] && ! id "$PG_OS_USER" >/dev/null 2>&1; then
        _pg_err "pg_start: running as root but there is no '$PG_OS_USER' OS user"
        return 1
    fi
    _pg_template || { _pg_err "pg_start: could not build the template data directory"; return 1; }

    if [ "${_PG_TRAP_PID:-}" != "$BASHPID" ]; then
        t_at_exit pg_stop
        _PG_TRAP_PID=$BASHPID
    fi
    PG_TMP=$(mktemp -d /tmp/coffer-pg.XXXXXX) || return 1
    PGDATA="$PG_TMP/data"
    PG_LOG="$PG_TMP/postgres.log"
    export PG_TMP PGDATA PG_LOG
    chmod 0755 "$PG_TMP"
    cp -a "$_PG_TEMPLATE" "$PGDATA" || { pg_stop; return 1; }
    [ "$(id -u)" -eq 0 ] && chown "$PG_OS_USER:" "$PG_TMP"

    {
        printf "unix_socket_directories = '%s'\n" "$PG_TMP"
        [ -n "${PG_LISTEN:-}" ] && printf "listen_addresses = '%s'\n" "$PG_LISTEN"
        for i in "$@"; do printf '%s\n' "$i"; done
    } >>"$PGDATA/postgresql.conf"

    # The port names the socket; it matters for TCP only if PG_LISTEN is
    # set, where another process may grab it between check and bind: retry.
    for i in 1 2 3; do
        port=$(_pg_pick_port) || { pg_stop; return 1; }
        printf 'port = %s\n' "$port" >>"$PGDATA/postgresql.conf"
        PGPORT=$port
        export PGPORT
        _pg_ctl_start && break
        if [ -z "${PG_LISTEN:-}" ] || [ "$i" -eq 3 ]; then
            pg_stop
            return 1
        fi
    done

    export PGHOST="$PG_TMP" PGUSER=postgres PGDATABASE=postgres
    _pg_watchdog
    return 0
}

# pg_stop: stop the server (fast, then immediate, then SIGKILL) and remove
# its directory. Safe to call twice or when nothing runs.
pg_stop() {
    local pid
    [ -n "${PG_TMP:-}" ] || return 0
    if pid=$(_pg_postmaster); then
        _pg_as "$PG_BINDIR/pg_ctl" -D "$PGDATA" -m fast -w -t 30 -s stop >/dev/null 2>&1 ||
            _pg_as "$PG_BINDIR/pg_ctl" -D "$PGDATA" -m immediate -w -t 10 -s stop >/dev/null 2>&1
        if _pg_alive "$pid"; then
            _pg_kill_all KILL "$pid"
        fi
    fi
    if [ "${T_FAILED:-0}" -gt 0 ]; then
        _pg_log_tail 15
    fi
    if [ "${PG_KEEP:-0}" = 1 ]; then
        _pg_err "kept $PG_TMP"
    else
        rm -rf -- "$PG_TMP"
    fi
    unset PG_TMP PGDATA PG_LOG PG_PID PGHOST PGPORT PGUSER PGDATABASE
    return 0
}

# pg_running: true if the server is up.
pg_running() {
    _pg_postmaster >/dev/null
}

# pg_restart [CONF_LINE...]: stop (fast) if running, append the given
# postgresql.conf lines, start again on the same data and port. After
# pg_kill this is crash recovery.
pg_restart() {
    local i
    if [ -z "${PG_TMP:-}" ]; then
        _pg_err "pg_restart: no server (call pg_start first)"
        return 1
    fi
    if pg_running; then
        _pg_as "$PG_BINDIR/pg_ctl" -D "$PGDATA" -m fast -w -t 60 -s stop >/dev/null ||
            return 1
    fi
    for i in "$@"; do printf '%s\n' "$i"; done >>"$PGDATA/postgresql.conf"
    _pg_ctl_start
}

# pg_kill [SIGNAL]: stop the server abruptly: SIGNAL (default KILL) to the
# postmaster and all its backends at once, like a crash. The data directory
# stays as it is; pg_restart then runs crash recovery.
pg_kill() {
    local pid
    pid=$(_pg_postmaster) || { _pg_err "pg_kill: no server running"; return 1; }
    _pg_kill_all "${1:-KILL}" "$pid"
}

# pg_conf CONF_LINE...: append lines to postgresql.conf (then pg_reload
# or pg_restart).
pg_conf() {
    [ -n "${PGDATA:-}" ] || { _pg_err "pg_conf: no server"; return 1; }
    local i
    for i in "$@"; do printf '%s\n' "$i"; done >>"$PGDATA/postgresql.conf"
}

# pg_reload: re-read the configuration (SIGHUP) and give the postmaster a
# moment; use pg_restart when a test needs the setting for certain.
pg_reload() {
    _pg_as "$PG_BINDIR/pg_ctl" -D "$PGDATA" -s reload >/dev/null && sleep 0.3
}

# pg_psql ARGS...: psql without psqlrc, stopping on the first error,
# quiet, unaligned, tuples only: `pg_psql -d db -c 'select ...'`.
pg_psql() {
    "${PG_BINDIR:+$PG_BINDIR/}psql" -X -v ON_ERROR_STOP=1 -qAt "$@"
}

# pg_terminate_clients [DBNAME]: drop every client connection (of DBNAME,
# or of all databases) except our own; prints how many were terminated.
pg_terminate_clients() {
    local where="backend_type = 'client backend' AND pid <> pg_backend_pid()"
    if [ -n "${1:-}" ]; then
        pg_psql -v "db=$1" <<<"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE $where AND datname = :'db'"
    else
        pg_psql -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE $where"
    fi
}
