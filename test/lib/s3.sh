# test/lib/s3.sh: a throwaway S3 server for integration tests (OpenStack
# Swift with its s3api middleware), and a fault-injecting proxy in front of it.
#
#   . "$(dirname "$0")/../lib/s3.sh"     # also loads tap.sh (not pg.sh)
#   s3_available || t_skip_all "no OpenStack Swift (scripts/install-deps.sh)"
#   s3_start || t_bail "cannot start the S3 server"
#   s3_mb backups
#   s3_put backups some/key "$T_TMP/file"
#   t_is "$(s3_ls backups some/)" some/key "listed"
#   s3_proxy_start rate=0.2 faults=503,reset seed=7   # exports S3_PROXY_ENDPOINT
#   ...point the client at $S3_PROXY_ENDPOINT...
#   t_like "$(s3_proxy_stats)" 'faults.503=[1-9]' "faults were injected"
#   t_done                                # servers are stopped on exit
#
# s3_start runs a single-node Swift 2.30 (Debian package python3-swift) as
# four processes on free 127.0.0.1 ports: proxy, account, container and
# object server, one worker each, run as the current user (root in CI); it
# takes about 5 s. Everything lives in $S3_TMP (under $T_TMP): its own
# swift.conf, server configs and rings (part power 8, one replica, one
# device), the storage device (srv/d1, which needs user xattrs) and the logs
# (log/*.log). Nothing in /etc/swift is used or written: the servers are
# started through a small wrapper that points Swift at $S3_TMP/etc/swift.conf
# and sends its logs to log/ instead of syslog. The proxy's memcache is an
# in-process dictionary, so tests never share a real memcached. s3_stop is
# registered to run on EXIT/INT/TERM/HUP, and a detached watchdog kills the
# servers if the test process is SIGKILLed. 127.0.0.1 and localhost are
# added to no_proxy/NO_PROXY, so an HTTP proxy of the environment is not used
# to reach them.
#
# The S3 side (s3api + tempauth): path-style and virtual-hosted-style
# (BUCKET.localhost:PORT) addressing, SigV4 only with an x-amz-content-sha256
# header (UNSIGNED-PAYLOAD or the body's SHA-256; aws-chunked streaming
# uploads are refused with 501), multipart uploads with the AWS 5 MiB minimum
# part size (EntityTooSmall) and up to 10000 parts, multi-object delete,
# ListObjectsV2 with continuation tokens, ranged GETs. Where its answers
# differ from AWS (an unknown access key is SignatureDoesNotMatch, a wrong
# payload hash BadDigest, ...) is listed in test/lib/README.md.
#
# Functions (all return non-zero on failure, messages on stderr):
#   s3_available            true if Swift and curl are installed
#   s3_start                start the server; exports the S3_* variables below
#   s3_stop                 stop the proxy and the servers, remove $S3_TMP
#   s3_running              true while all four servers are up
#   s3_curl [-e URL] [-r REGION] [-u ACCESS:SECRET] [-s SHA256] [-o FILE] METHOD PATH [CURL_ARGS...]
#                           one SigV4-signed request to PATH (already
#                           URL-encoded, query sorted by name, a bare
#                           parameter written as "uploads="); the body goes to
#                           stdout (or FILE), the status to $S3_STATUS, the
#                           response head to $S3_HEADERS (and on failure,
#                           "HTTP 403 SignatureDoesNotMatch: ..." to stderr);
#                           returns 0 for a 2xx status, 1 for another, 2 if
#                           curl failed
#   s3_mb BUCKET            create a bucket
#   s3_ls BUCKET [PREFIX [PAGE_SIZE]]  print the keys, one a line, in S3
#                           order (ListObjectsV2, follows continuation tokens)
#   s3_get BUCKET KEY [FILE] download (to stdout without FILE)
#   s3_put BUCKET KEY FILE  upload a file (signed with its SHA-256)
#   s3_rm BUCKET KEY        delete an object
#   s3_proxy_start [KEY=VALUE...] start the fault proxy in front of the
#                           server; exports S3_PROXY_ENDPOINT (see below)
#   s3_proxy_set KEY=VALUE...  change the proxy's settings while it runs
#   s3_proxy_stats [--reset]   print its counters as sorted KEY=VALUE lines
#                           (--reset zeroes them after printing)
#   s3_proxy_stat KEY       print one counter (0 if never counted)
#   s3_proxy_stop           stop the proxy (s3_stop does it too)
#
# Exported while the server runs:
#   S3_ENDPOINT     http://127.0.0.1:PORT (the Swift proxy, path-style)
#   S3_REGION       us-east-1
#   S3_ACCESS_KEY   test:tester    (tempauth user test:tester, .admin)
#   S3_SECRET_KEY   testing
#   S3_TMP          the server's directory (etc/, srv/, log/, run/)
#   S3_PROXY_ENDPOINT  http://127.0.0.1:PORT of the fault proxy, while it runs
# AWS_ACCESS_KEY_ID and friends are left alone: a test exports what its
# client needs. curl's --user would cut the access key at its colon, so
# s3_curl passes the credentials in the URL (test%3Atester:testing@host).
#
# Fault proxy settings (s3_proxy_start and s3_proxy_set take the same
# KEY=VALUE pairs; see test/lib/s3_fault_proxy.py and test/lib/README.md):
#   rate=0.0..1.0      share of eligible requests that get a fault
#   faults=K[:W],...   kinds, optionally weighted: 500 503 429 (an S3 XML
#                      error, the request is not forwarded), reset (forwarded,
#                      then the connection is reset halfway through the
#                      response), reset_req (reset halfway through the
#                      request body; the server never sees a whole request),
#                      delay (forwarded, the response held for `delay` s)
#   delay=SECONDS      for the delay fault (default 30)
#   seed=N             reseed the fault generator (default 0)
#   methods=GET,PUT    only these methods are eligible (default all)
#   match=REGEX        only requests whose target (path?query) matches
#   limit=N            at most N faults from now on (0: no limit)
#
# Knobs (environment): S3_PYTHON (the python3 that has Swift, default
# /usr/bin/python3), S3_MIN_PART_SIZE (default 5242880, the AWS minimum; a
# smaller value makes multipart tests cheaper but less like AWS),
# S3_START_TIMEOUT (seconds, default 60), S3_CURL_TIMEOUT (seconds, for
# s3_curl, default 300), S3_KEEP=1 (keep $S3_TMP).

. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

if [ -n "${_S3_SH_LOADED:-}" ]; then
    return 0
fi
_S3_SH_LOADED=1

REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export REPO_ROOT

S3_PYTHON=${S3_PYTHON:-/usr/bin/python3}
_S3_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_S3_SERVERS=(proxy account container object)

_s3_err() {
    printf 's3.sh: %s\n' "$*" >&2
}

# s3_available: Swift (with s3api) is importable and curl is there.
s3_available() {
    command -v curl >/dev/null 2>&1 &&
        [ -x "$S3_PYTHON" ] &&
        "$S3_PYTHON" -c 'import swift.common.middleware.s3api.s3api' >/dev/null 2>&1
}

# ---------------------------------------------------------------- helpers

# _s3_alive PID: the process exists and is not a zombie.
_s3_alive() {
    local st
    [ -n "${1:-}" ] || return 1
    read -r st 2>/dev/null <"/proc/$1/stat" || return 1
    st=${st##*) }
    [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

_s3_port_free() {
    local p=$1
    if command -v ss >/dev/null 2>&1; then
        [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        return 1
    fi
    return 0
}

# _s3_pick_ports N: N distinct free ports, one a line, from 10000-32767
# (below the kernel's ephemeral range, which outgoing connections use).
_s3_pick_ports() {
    local n=$1 i p
    local -a got=()
    for ((i = 0; i < 400 && ${#got[@]} < n; i++)); do
        p=$((10000 + (RANDOM * 32768 + RANDOM) % 22768))
        case " ${got[*]} " in *" $p "*) continue ;; esac
        _s3_port_free "$p" && got+=("$p")
    done
    if [ ${#got[@]} -lt "$n" ]; then
        _s3_err "no $n free ports in 10000-32767"
        return 1
    fi
    printf '%s\n' "${got[@]}"
}

# _s3_pct STRING: percent-encode everything but RFC 3986 unreserved
# characters (and "/" too unless a second argument is given).
_s3_pct() {
    local s=$1 keep=${2-/} out='' c i LC_ALL=C
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case "$c" in
        [A-Za-z0-9._~-]) out+=$c ;;
        *)
            if [ -n "$keep" ] && [ "$c" = "$keep" ]; then
                out+=$c
            else
                out+=$(printf '%%%02X' "'$c")
            fi
            ;;
        esac
    done
    printf '%s' "$out"
}

_s3_log_tail() {
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        _s3_err "last lines of $f:"
        tail -n 15 "$f" | sed 's/^/    /' >&2
    done
}

# The wrapper every Swift process runs through: it makes Swift read our
# swift.conf instead of /etc/swift/swift.conf (utils.SWIFT_CONF_FILE, a
# module global, read when swift.common.constraints and storage_policy are
# first imported; the servers have no option for it, swift_dir only places
# the rings), logs to stderr instead of syslog, and gives the proxy an
# in-process memcache. "rings" builds the three rings (what
# `swift-ring-builder X.builder create 8 1 1; add ...; rebalance` does, in one
# process instead of nine).
_s3_write_wrapper() {
    cat >"$1" <<'PY'
import json
import logging
import os
import sys
from time import time as now

mode, swift_dir = sys.argv[1], sys.argv[2]

# Importing swift.common.utils reads the hash path settings from
# /etc/swift/swift.conf if there is one; set_swift_dir() forgets them and
# reads ours, before anything reads the storage policies or constraints.
import swift.common.utils as utils
utils.set_swift_dir(swift_dir)


def build_rings(ports, device_dir):
    from swift.common.ring import RingBuilder
    try:
        os.setxattr(device_dir, 'user.coffer-test', b'1')
        os.removexattr(device_dir, 'user.coffer-test')
    except OSError as e:
        sys.exit('the file system of %s has no user xattrs, which Swift '
                 'needs: %s' % (device_dir, e))
    for kind, port in zip(('account', 'container', 'object'), ports):
        builder = RingBuilder(8, 1, 1)
        builder.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1',
                         'port': int(port), 'device': 'd1', 'weight': 100,
                         'replication_ip': '127.0.0.1',
                         'replication_port': int(port), 'meta': ''})
        builder.rebalance()
        builder.save(os.path.join(swift_dir, kind + '.builder'))
        builder.get_ring().save(os.path.join(swift_dir, kind + '.ring.gz'))


class NoSyslog(logging.NullHandler):
    def __init__(self, *args, **kwargs):
        logging.NullHandler.__init__(self)


class LocalCache(object):
    """What the proxy needs of a MemcacheRing, kept in this process."""

    def __init__(self, *args, **kwargs):
        self.items = {}

    @staticmethod
    def _expiry(ttl):
        ttl = float(ttl or 0)
        if ttl <= 0:
            return None
        return ttl if ttl > 30 * 86400 else now() + ttl

    def set(self, key, value, serialize=True, time=0, min_compress_len=0,
            raise_on_error=False):
        self.items[key] = (json.dumps(value) if serialize else value,
                           serialize, self._expiry(time))

    def get(self, key, raise_on_error=False):
        item = self.items.get(key)
        if item is None:
            return None
        value, serialized, expiry = item
        if expiry is not None and expiry < now():
            del self.items[key]
            return None
        return json.loads(value) if serialized else value

    def incr(self, key, delta=1, time=0):
        value = self.get(key)
        value = max(0, int(value or 0) + int(delta))
        self.set(key, value, time=time)
        return value

    def decr(self, key, delta=1, time=0):
        return self.incr(key, -delta, time)

    def delete(self, key, server_key=None):
        self.items.pop(key, None)

    def set_multi(self, mapping, server_key, serialize=True, time=0,
                  min_compress_len=0):
        for key, value in mapping.items():
            self.set(key, value, serialize, time)

    def get_multi(self, keys, server_key):
        return [self.get(key) for key in keys]


if mode == 'rings':
    build_rings(sys.argv[3:6], sys.argv[6])
elif mode == 'serve':
    conf_file, app_section = sys.argv[3], sys.argv[4]
    try:
        os.setsid()  # its own process group: stopped as one
    except OSError:
        pass
    utils.ThreadSafeSysLogHandler = NoSyslog
    import swift.common.middleware.memcache as memcache
    memcache.MemcacheRing = LocalCache
    from swift.common.wsgi import run_wsgi
    # verbose: log to stderr, which is the server's log file
    sys.exit(run_wsgi(conf_file, app_section, verbose=True))
else:
    sys.exit('usage: swift-run.py rings|serve SWIFT_DIR ...')
PY
}

# _s3_write_confs PROXY ACCOUNT CONTAINER OBJECT: all the config files.
_s3_write_confs() {
    local pp=$1 ap=$2 cp=$3 op=$4 etc="$S3_TMP/etc" user common
    user=$(id -un)
    cat >"$etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = coffer-test-suffix
swift_hash_path_prefix = coffer-test-prefix

[storage-policy:0]
name = Policy-0
default = yes
EOF
    # bind_timeout: Swift retries a taken port for this long (default 30 s);
    # s3_start then tries other ports.
    common="bind_ip = 127.0.0.1
bind_timeout = 2
workers = 1
user = $user
swift_dir = $etc
devices = $S3_TMP/srv
mount_check = false
disable_fallocate = true
fallocate_reserve = 0
log_level = INFO
conn_timeout = 5
node_timeout = 30"

    cat >"$etc/account-server.conf" <<EOF
[DEFAULT]
bind_port = $ap
$common

[pipeline:main]
pipeline = healthcheck account-server

[app:account-server]
use = egg:swift#account

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
    cat >"$etc/container-server.conf" <<EOF
[DEFAULT]
bind_port = $cp
$common

[pipeline:main]
pipeline = healthcheck container-server

[app:container-server]
use = egg:swift#container

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
    # container_update_timeout: the object server tells the container
    # server about each new object within this time, or the listing only
    # learns of it from the object updater, which does not run here.
    cat >"$etc/object-server.conf" <<EOF
[DEFAULT]
bind_port = $op
$common

[pipeline:main]
pipeline = healthcheck object-server

[app:object-server]
use = egg:swift#object
container_update_timeout = 30

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
    cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_port = $pp
$common

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth bulk copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = $S3_REGION
storage_domain = localhost
allow_multipart_uploads = true
max_upload_part_num = 10000
min_segment_size = ${S3_MIN_PART_SIZE:-5242880}
check_bucket_owner = false
s3_acl = false

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000

[filter:cache]
use = egg:swift#memcache

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:copy]
use = egg:swift#copy

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
EOF
}

# _s3_pids: pids of the server processes (from run/*.pid), one a line.
_s3_pids() {
    local s pid
    for s in "${_S3_SERVERS[@]}"; do
        pid=$(cat "$S3_TMP/run/$s.pid" 2>/dev/null) && [ -n "$pid" ] && printf '%s\n' "$pid"
    done
}

# _s3_group_alive PID: the process or one of its group is alive (zombies
# do not count: the test shell reaps its children only when it gets to it).
_s3_group_alive() {
    local p
    _s3_alive "$1" && return 0
    for p in $(pgrep -g "$1" 2>/dev/null); do
        _s3_alive "$p" && return 0
    done
    return 1
}

# _s3_kill_group SIGNAL PID...: signal each process group (each server is a
# group of its own), then wait up to ~5 s for them to go.
_s3_kill_group() {
    local sig=$1 i p left
    shift
    for p in "$@"; do
        kill -s "$sig" -- "-$p" 2>/dev/null || kill -s "$sig" "$p" 2>/dev/null
    done
    for ((i = 0; i < 100; i++)); do
        left=0
        for p in "$@"; do
            _s3_group_alive "$p" && left=1
        done
        [ "$left" = 0 ] && return 0
        sleep 0.05
    done
    return 1
}

_s3_servers_down() {
    local s
    local -a pids
    mapfile -t pids < <(_s3_pids)
    [ ${#pids[@]} -gt 0 ] || return 0
    _s3_kill_group TERM "${pids[@]}" || _s3_kill_group KILL "${pids[@]}"
    for s in "${_S3_SERVERS[@]}"; do rm -f -- "$S3_TMP/run/$s.pid"; done
}

# A detached process that kills whatever runs from $S3_TMP and removes it
# (and the test's $T_TMP, unless T_KEEP=1) if the test process disappears
# without running its traps (SIGKILL). It finds the processes by $S3_TMP in
# their command line, as $S3_TMP itself may already be gone (pg.sh's
# watchdog removes $T_TMP). s3_stop ends it (its pid is in
# run/watchdog.pid). Not a child of the test shell, so a bare `wait` in a
# test does not wait for it.
_s3_watchdog() {
    local parent=$BASHPID i
    (
        setsid bash -c '
            parent=$1 dir=$2 ttmp=$3
            echo "$$" >"$dir/run/watchdog.pid"
            alive() {
                local st
                read -r st 2>/dev/null <"/proc/$1/stat" || return 1
                st=${st##*) }
                [ "${st:0:1}" != Z ]
            }
            while alive "$parent"; do sleep 0.5; done
            ours() {
                local p cmd
                for p in /proc/[0-9]*; do
                    [ "${p#/proc/}" = "$$" ] && continue
                    cmd=$(tr "\0" " " <"$p/cmdline" 2>/dev/null) || continue
                    case "$cmd" in *"$dir/"*) printf "%s\n" "${p#/proc/}" ;; esac
                done
            }
            pids=$(ours)
            [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
            for i in $(seq 100); do
                [ -z "$(ours)" ] && break
                sleep 0.05
            done
            [ "${S3_KEEP:-0}" = 1 ] || rm -rf -- "$dir"
            if [ "${T_KEEP:-0}" != 1 ]; then
                case "$ttmp" in /tmp/coffer-test.*) rm -rf -- "$ttmp" ;; esac
            fi
        ' coffer-s3-watchdog "$parent" "$S3_TMP" "${T_TMP:-}" </dev/null >/dev/null 2>&1 &
    )
    for ((i = 0; i < 100; i++)); do
        [ -s "$S3_TMP/run/watchdog.pid" ] && return 0
        sleep 0.02
    done
    _s3_err "the watchdog did not start"
    return 1
}

# _s3_watchdog_stop: end the watchdog (the servers are stopped already).
_s3_watchdog_stop() {
    local pid
    pid=$(cat "$S3_TMP/run/watchdog.pid" 2>/dev/null) || return 0
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q coffer-s3-watchdog; then
        kill -TERM "$pid" 2>/dev/null
    fi
    rm -f -- "$S3_TMP/run/watchdog.pid"
}

# _s3_launch: start the four servers on the ports in $S3_TMP/run/ports.
_s3_launch() {
    local s section
    for s in "${_S3_SERVERS[@]}"; do
        section=$s-server
        EVENTLET_NO_GREENDNS=yes "$S3_PYTHON" "$S3_TMP/swift-run.py" serve "$S3_TMP/etc" \
            "$S3_TMP/etc/$section.conf" "$section" \
            </dev/null >>"$S3_TMP/log/$s.log" 2>&1 &
        printf '%s\n' "$!" >"$S3_TMP/run/$s.pid"
    done
}

# _s3_health PORT: the server on PORT answers its /healthcheck.
_s3_health() {
    [ "$(curl -s --noproxy '*' --max-time 2 "http://127.0.0.1:$1/healthcheck" 2>/dev/null)" = OK ]
}

# _s3_wait_ready PORTS...: poll until every server answers, a server dies
# (returns 2 if its log says its port was taken, else 1), or time runs out.
_s3_wait_ready() {
    local deadline s i ready
    local -a ports=("$@")
    deadline=$((SECONDS + ${S3_START_TIMEOUT:-60}))
    while :; do
        ready=1
        for i in "${!_S3_SERVERS[@]}"; do
            s=${_S3_SERVERS[i]}
            if ! _s3_alive "$(cat "$S3_TMP/run/$s.pid" 2>/dev/null)"; then
                if grep -q 'Could not bind\|Address already in use' "$S3_TMP/log/$s.log" 2>/dev/null; then
                    return 2
                fi
                _s3_err "the $s server exited during startup"
                _s3_log_tail "$S3_TMP/log/$s.log"
                return 1
            fi
            _s3_health "${ports[i]}" || ready=0
        done
        [ "$ready" = 1 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            _s3_err "servers not ready after ${S3_START_TIMEOUT:-60} s"
            _s3_log_tail "$S3_TMP"/log/*.log
            return 1
        fi
        sleep 0.2
    done
}

# ---------------------------------------------------------------- API

# s3_start: start Swift with s3api; exports S3_ENDPOINT and friends.
s3_start() {
    local attempt rc pp ap cp op s
    local -a ports
    if [ -n "${S3_TMP:-}" ]; then
        _s3_err "s3_start: a server is already running in $S3_TMP"
        return 1
    fi
    if ! s3_available; then
        _s3_err "s3_start: needs curl and OpenStack Swift for $S3_PYTHON (package python3-swift; scripts/install-deps.sh)"
        return 1
    fi
    if [ "${_S3_TRAP_PID:-}" != "$BASHPID" ]; then
        t_at_exit s3_stop
        _S3_TRAP_PID=$BASHPID
    fi
    S3_TMP=$(mktemp -d "$T_TMP/s3.XXXXXX") || return 1
    export S3_TMP
    case ",${no_proxy:-}," in *,127.0.0.1,*) ;; *) export no_proxy="127.0.0.1,localhost,.localhost${no_proxy:+,$no_proxy}" ;; esac
    case ",${NO_PROXY:-}," in *,127.0.0.1,*) ;; *) export NO_PROXY="127.0.0.1,localhost,.localhost${NO_PROXY:+,$NO_PROXY}" ;; esac
    S3_REGION=us-east-1
    mkdir -p "$S3_TMP/etc" "$S3_TMP/srv/d1" "$S3_TMP/log" "$S3_TMP/run" || { s3_stop; return 1; }
    _s3_write_wrapper "$S3_TMP/swift-run.py"
    _s3_watchdog || { s3_stop; return 1; }

    # Swift binds the ports itself, so another process can take one between
    # the check and the bind: then start again on new ones.
    for attempt in 1 2 3; do
        mapfile -t ports < <(_s3_pick_ports 4)
        [ ${#ports[@]} -eq 4 ] || { s3_stop; return 1; }
        read -r pp ap cp op <<<"${ports[*]}"
        printf '%s\n' "${ports[@]}" >"$S3_TMP/run/ports"
        _s3_write_confs "$pp" "$ap" "$cp" "$op"
        rm -f -- "$S3_TMP"/etc/*.builder "$S3_TMP"/etc/*.ring.gz
        if ! "$S3_PYTHON" "$S3_TMP/swift-run.py" rings "$S3_TMP/etc" "$ap" "$cp" "$op" \
            "$S3_TMP/srv/d1" >"$S3_TMP/log/rings.log" 2>&1; then
            _s3_err "s3_start: cannot build the rings:"
            sed 's/^/    /' "$S3_TMP/log/rings.log" >&2
            s3_stop
            return 1
        fi
        _s3_launch
        rc=0
        _s3_wait_ready "${ports[@]}" || rc=$?
        [ "$rc" = 0 ] && break
        _s3_servers_down
        if [ "$rc" != 2 ] || [ "$attempt" = 3 ]; then
            [ "$rc" = 2 ] && _s3_err "s3_start: ports taken three times over"
            s3_stop
            return 1
        fi
        for s in "${_S3_SERVERS[@]}"; do
            mv -f -- "$S3_TMP/log/$s.log" "$S3_TMP/log/$s.log.$attempt" 2>/dev/null
        done
    done

    export S3_ENDPOINT="http://127.0.0.1:$pp" S3_REGION
    export S3_ACCESS_KEY=test:tester S3_SECRET_KEY=testing

    # The whole S3 path (s3api, tempauth, account autocreation) works.
    if ! s3_curl GET / >/dev/null; then
        _s3_err "s3_start: the server is up but a signed ListBuckets fails"
        _s3_log_tail "$S3_TMP/log/proxy.log"
        s3_stop
        return 1
    fi
    return 0
}

# s3_stop: stop the fault proxy and the servers, remove $S3_TMP (unless
# S3_KEEP=1). Safe to call twice or when nothing runs.
s3_stop() {
    [ -n "${S3_TMP:-}" ] || return 0
    s3_proxy_stop
    _s3_servers_down
    if [ "${T_FAILED:-0}" -gt 0 ]; then
        _s3_log_tail "$S3_TMP/log/proxy.log"
    fi
    _s3_watchdog_stop
    if [ "${S3_KEEP:-0}" = 1 ]; then
        _s3_err "kept $S3_TMP"
    else
        rm -rf -- "$S3_TMP"
    fi
    unset S3_TMP S3_ENDPOINT S3_REGION S3_ACCESS_KEY S3_SECRET_KEY
    return 0
}

# s3_running: all four servers are up.
s3_running() {
    local s
    [ -n "${S3_TMP:-}" ] || return 1
    for s in "${_S3_SERVERS[@]}"; do
        _s3_alive "$(cat "$S3_TMP/run/$s.pid" 2>/dev/null)" || return 1
    done
}

# s3_curl [-e ENDPOINT] [-r REGION] [-u ACCESS:SECRET] [-s SHA256] [-o FILE] METHOD PATH [CURL_ARGS...]
# One SigV4-signed request (curl --aws-sigv4). PATH is sent as given
# (--path-as-is): percent-encode keys, sort query parameters by name and
# write a bare one as "name=" (curl 7.88 signs the query string as it is).
# -s gives x-amz-content-sha256 (default UNSIGNED-PAYLOAD). The response
# body goes to stdout, or with -o to FILE if the status is 2xx; HEAD prints
# the response head. Sets S3_STATUS (the final status) and S3_HEADERS (the
# response head, CRs removed). Returns 0 for a 2xx status; 1 for another
# status, with "HTTP 403 SignatureDoesNotMatch: message" on stderr; 2 if
# curl failed (connection reset, timeout S3_CURL_TIMEOUT, default 300 s).
# Do not pass an empty header (-H 'Expect:'): curl 7.88 then signs wrongly.
S3_STATUS=''
S3_HEADERS=''
s3_curl() {
    local ep=${S3_ENDPOINT:-} region=${S3_REGION:-us-east-1} sha=UNSIGNED-PAYLOAD out=''
    local cred="${S3_ACCESS_KEY:-}:${S3_SECRET_KEY:-}" method path url body hdrs rc=0
    local OPTIND opt
    local -a how
    while getopts 'e:r:u:s:o:' opt; do
        case "$opt" in
        e) ep=$OPTARG ;;
        r) region=$OPTARG ;;
        u) cred=$OPTARG ;;
        s) sha=$OPTARG ;;
        o) out=$OPTARG ;;
        *) _s3_err "s3_curl: bad option"; return 2 ;;
        esac
    done
    shift $((OPTIND - 1))
    method=$1 path=$2
    shift 2
    S3_STATUS='' S3_HEADERS=''
    [ -n "$ep" ] || { _s3_err "s3_curl: no endpoint (s3_start first)"; return 2; }
    # The access key is everything before the last colon of ACCESS:SECRET.
    url="${ep%%://*}://$(_s3_pct "${cred%:*}" ''):$(_s3_pct "${cred##*:}" '')@${ep#*://}$path"
    if [ "$method" = HEAD ]; then how=(-I); else how=(-X "$method"); fi
    body=$(mktemp "${S3_TMP:-${T_TMP:-/tmp}}/.s3body.XXXXXX") || return 2
    hdrs=$(mktemp "${S3_TMP:-${T_TMP:-/tmp}}/.s3hdrs.XXXXXX") || { rm -f -- "$body"; return 2; }
    curl -sS --noproxy '*' --globoff --path-as-is --connect-timeout 5 --max-time "${S3_CURL_TIMEOUT:-300}" \
        --aws-sigv4 "aws:amz:$region:s3" -H "x-amz-content-sha256: $sha" \
        "${how[@]}" -o "$body" -D "$hdrs" "$@" "$url" || rc=2
    S3_HEADERS=$(tr -d '\r' <"$hdrs")
    S3_STATUS=$(awk '/^HTTP\// { c = $2 } END { print c }' <<<"$S3_HEADERS")
    if [ "$rc" = 0 ] && [[ $S3_STATUS == 2?? ]]; then
        if [ -n "$out" ]; then
            cat -- "$body" >"$out" || rc=2
        else
            cat -- "$body"
        fi
    elif [ "$rc" = 0 ]; then
        rc=1
        cat -- "$body"
        printf 'HTTP %s %s: %s\n' "$S3_STATUS" \
            "$(sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' "$body" | head -n 1)" \
            "$(sed -n 's:.*<Message>\([^<]*\)</Message>.*:\1:p' "$body" | head -n 1)" >&2
    fi
    rm -f -- "$body" "$hdrs"
    return "$rc"
}

# _s3_key_path BUCKET KEY: /BUCKET/KEY, the key percent-encoded.
_s3_key_path() {
    printf '/%s/%s' "$1" "$(_s3_pct "$2")"
}

# s3_mb BUCKET: create a bucket.
s3_mb() {
    s3_curl PUT "/$1" >/dev/null
}

# s3_ls BUCKET [PREFIX [PAGE_SIZE]]: the keys, one a line, following
# continuation tokens (ListObjectsV2 pages of PAGE_SIZE keys, default 1000).
s3_ls() {
    local bucket=$1 prefix=${2:-} page=${3:-} token='' q xml out
    while :; do
        q=''
        [ -n "$token" ] && q+="continuation-token=$(_s3_pct "$token" '')&"
        q+="list-type=2"
        [ -n "$page" ] && q+="&max-keys=$page"
        [ -n "$prefix" ] && q+="&prefix=$(_s3_pct "$prefix" '')"
        xml=$(s3_curl GET "/$bucket?$q") || return 1
        # First line: the continuation token (empty on the last page).
        out=$("$S3_PYTHON" -c '
import sys
import xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
truncated = (root.findtext(ns + "IsTruncated") or "").lower() == "true"
print((root.findtext(ns + "NextContinuationToken") or "") if truncated else "")
for c in root.findall(ns + "Contents"):
    print(c.find(ns + "Key").text)
' <<<"$xml") || { _s3_err "s3_ls: cannot parse the listing"; return 1; }
        token=${out%%$'\n'*}
        [[ $out == *$'\n'* ]] && printf '%s\n' "${out#*$'\n'}"
        [ -n "$token" ] || return 0
    done
}

# s3_get BUCKET KEY [FILE]: download an object (to stdout without FILE;
# FILE is only written if the GET succeeds).
s3_get() {
    if [ -n "${3:-}" ]; then
        s3_curl -o "$3" GET "$(_s3_key_path "$1" "$2")"
    else
        s3_curl GET "$(_s3_key_path "$1" "$2")"
    fi
}

# s3_put BUCKET KEY FILE: upload a file, signed with its SHA-256.
s3_put() {
    local sha
    [ -r "$3" ] || { _s3_err "s3_put: cannot read $3"; return 1; }
    sha=$(sha256sum <"$3") || return 1
    s3_curl -s "${sha%% *}" PUT "$(_s3_key_path "$1" "$2")" \
        -H 'Content-Type: application/octet-stream' -T "$3" >/dev/null
}

# s3_rm BUCKET KEY: delete an object.
s3_rm() {
    s3_curl DELETE "$(_s3_key_path "$1" "$2")" >/dev/null
}

# ---------------------------------------------------------------- fault proxy

# s3_proxy_start [KEY=VALUE|--option...]: start test/lib/s3_fault_proxy.py
# between clients and the server; exports S3_PROXY_ENDPOINT.
s3_proxy_start() {
    local a i dir
    local -a args=()
    [ -n "${S3_ENDPOINT:-}" ] || { _s3_err "s3_proxy_start: no server (s3_start first)"; return 1; }
    if [ -n "${S3_PROXY_ENDPOINT:-}" ]; then
        _s3_err "s3_proxy_start: a proxy already runs at $S3_PROXY_ENDPOINT"
        return 1
    fi
    for a in "$@"; do
        case "$a" in
        [a-z]*=*) args+=("--${a%%=*}=${a#*=}") ;;
        *) args+=("$a") ;;
        esac
    done
    dir="$S3_TMP/run"
    rm -f -- "$dir/fault-proxy.ports"
    "$S3_PYTHON" "$_S3_LIB/s3_fault_proxy.py" --upstream "${S3_ENDPOINT#*://}" \
        --port-file "$dir/fault-proxy.ports" "${args[@]}" \
        </dev/null >>"$S3_TMP/log/fault-proxy.log" 2>&1 &
    printf '%s\n' "$!" >"$dir/fault-proxy.pid"
    for ((i = 0; i < 200; i++)); do
        [ -s "$dir/fault-proxy.ports" ] && break
        if ! _s3_alive "$(cat "$dir/fault-proxy.pid")"; then
            _s3_err "s3_proxy_start: the proxy exited"
            _s3_log_tail "$S3_TMP/log/fault-proxy.log"
            rm -f -- "$dir/fault-proxy.pid"
            return 1
        fi
        sleep 0.05
    done
    read -r _S3_PROXY_PORT _S3_PROXY_CONTROL <"$dir/fault-proxy.ports" 2>/dev/null
    if [ -z "${_S3_PROXY_CONTROL:-}" ]; then
        _s3_err "s3_proxy_start: the proxy did not report its ports"
        s3_proxy_stop
        return 1
    fi
    export S3_PROXY_ENDPOINT="http://127.0.0.1:$_S3_PROXY_PORT"
}

# s3_proxy_stop: stop the fault proxy.
s3_proxy_stop() {
    local pid
    [ -n "${S3_TMP:-}" ] || return 0
    pid=$(cat "$S3_TMP/run/fault-proxy.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
        _s3_kill_group TERM "$pid" || _s3_kill_group KILL "$pid"
        rm -f -- "$S3_TMP/run/fault-proxy.pid" "$S3_TMP/run/fault-proxy.ports"
    fi
    unset S3_PROXY_ENDPOINT _S3_PROXY_PORT _S3_PROXY_CONTROL
    return 0
}

_s3_control() {
    [ -n "${_S3_PROXY_CONTROL:-}" ] || { _s3_err "no fault proxy (s3_proxy_start first)"; return 1; }
    curl -sS --noproxy '*' --fail-with-body --max-time 10 "$@" 2>&1
}

# s3_proxy_set KEY=VALUE...: change settings (all or none are applied).
s3_proxy_set() {
    local a out
    local -a data=()
    for a in "$@"; do data+=(--data-urlencode "$a"); done
    out=$(_s3_control -X POST "${data[@]}" "http://127.0.0.1:$_S3_PROXY_CONTROL/config") || {
        _s3_err "s3_proxy_set: ${out:-failed}"
        return 1
    }
}

# s3_proxy_stats [--reset]: the counters, sorted KEY=VALUE lines.
s3_proxy_stats() {
    local out what=stats
    [ "${1:-}" = --reset ] && what=stats/reset
    out=$(_s3_control -X POST "http://127.0.0.1:$_S3_PROXY_CONTROL/$what") || {
        _s3_err "s3_proxy_stats: ${out:-failed}"
        return 1
    }
    printf '%s\n' "$out"
}

# s3_proxy_stat KEY: one counter's value (0 if it was never counted).
s3_proxy_stat() {
    local out
    out=$(s3_proxy_stats) || return 1
    out=$(sed -n "s/^$1=//p" <<<"$out")
    printf '%s\n' "${out:-0}"
}
