# test/lib/tap.sh: a small TAP producer for bash integration tests.
#
# Source it, call the assertions, end with t_done:
#
#   . "$(dirname "$0")/../lib/tap.sh"
#   t_ok   "init succeeds"      "$COFFER" init --config "$cfg"
#   t_exit 2 "bad flag is a usage error" "$COFFER" backup --bogus
#   t_like "$T_ERR" 'unknown option' "  ... and says why"
#   t_is   "$(pg_psql -c 'select 1')" 1 "server answers"
#   t_done
#
# Tests are plan-less: t_done prints "1..N" and exits non-zero if anything
# failed. Commands run by t_ok/t_exit have stdout and stderr captured into
# $T_OUT / $T_ERR (trailing newlines stripped) and the exit status in $T_RC;
# they never write to the TAP stream. Every assertion returns 0 on pass and 1
# on failure, so `t_ok ... || t_bail "..."` works. Do not use `set -e` in tests:
# a failed assertion would end the test before t_done.
#
# t_at_exit registers cleanup commands that run on exit and on INT/TERM/HUP
# (pg.sh uses it to always stop the server). A test that was killed by a
# signal exits 128+signal after cleaning up. $T_TMP is a scratch directory
# (0755, under /tmp) that is removed at exit; T_KEEP=1 keeps it.

if [ -n "${_T_TAP_LOADED:-}" ]; then
    return 0
fi
_T_TAP_LOADED=1

T_N=0         # assertions run so far
T_FAILED=0    # assertions failed so far
T_OUT=''      # stdout of the last t_ok / t_exit / t_run command
T_ERR=''      # stderr of the last t_ok / t_exit / t_run command
T_RC=0        # exit status of the last t_ok / t_exit / t_run command
_T_AT_EXIT=()
_T_TRAP_PID=''

# A test must never wait on the terminal (a forgotten --yes would hang the
# run); commands that need input get it from a here-string or pipe.
if [ -t 0 ]; then
    exec </dev/null
fi

# ---------------------------------------------------------------- output

# t_diag MSG... : diagnostics on stderr as "# " lines (shown by prove).
t_diag() {
    local line
    while IFS= read -r line || [ -n "$line" ]; do
        printf '# %s\n' "$line"
    done <<<"$*" >&2
}

# t_note MSG... : comment lines on stdout (shown by prove -v only).
t_note() {
    local line
    while IFS= read -r line || [ -n "$line" ]; do
        printf '# %s\n' "$line"
    done <<<"$*"
}

# _t_diag_value LABEL VALUE: "#   LABEL: 'value'" on stderr; a multi-line
# value continues on indented lines, quoted as a whole.
_t_diag_value() {
    local label=$1 pad i n
    local -a lines
    pad=$(printf '%*s' "${#label}" '')
    mapfile -t lines <<<"$2"
    n=${#lines[@]}
    for ((i = 0; i < n; i++)); do
        local l=${lines[i]}
        [ "$i" -eq 0 ] && l="'$l"
        [ "$i" -eq $((n - 1)) ] && l="$l'"
        if [ "$i" -eq 0 ]; then
            printf '#   %s: %s\n' "$label" "$l" >&2
        else
            printf '#   %s   %s\n' "$pad" "$l" >&2
        fi
    done
}

# Where in the test file the failing assertion was called.
_t_where() {
    local i=0 frame
    while frame=$(caller "$i"); do
        case "$frame" in
        *"/lib/tap.sh" | *"/lib/pg.sh") ;;
        *)
            set -- $frame
            printf '%s line %s' "${3:-?}" "${1:-?}"
            return
            ;;
        esac
        i=$((i + 1))
    done
    printf 'unknown place'
}

# _t_result PASSED(0|1) NAME: print one TAP line and count it.
_t_result() {
    local raw=${2:-} name
    name=${raw//$'\n'/ }
    name=${name//\#/\\#}
    T_N=$((T_N + 1))
    if [ "$1" -eq 0 ]; then
        printf 'ok %d - %s\n' "$T_N" "$name"
        return 0
    fi
    T_FAILED=$((T_FAILED + 1))
    printf 'not ok %d - %s\n' "$T_N" "$name"
    printf '#   Failed test '\''%s'\''\n#   at %s.\n' "$raw" "$(_t_where)" >&2
    return 1
}

# Show what a failed command did: command line, status, and output tails.
_t_diag_run() {
    local q
    q=$(printf '%q ' "$@")
    printf '#   command: %s\n' "${q% }" >&2
    printf '#    status: %s\n' "$T_RC" >&2
    [ -n "$T_OUT" ] && _t_diag_value "stdout" "$(tail -n 20 <<<"$T_OUT")"
    [ -n "$T_ERR" ] && _t_diag_value "stderr" "$(tail -n 20 <<<"$T_ERR")"
    return 0
}

# ---------------------------------------------------------------- cleanup

_t_on_signal() {
    t_diag "caught SIG$1, cleaning up"
    exit "$2"
}

_t_on_exit() {
    local rc=$? i
    trap - EXIT
    for ((i = ${#_T_AT_EXIT[@]} - 1; i >= 0; i--)); do
        eval "${_T_AT_EXIT[i]}" || true
    done
    _T_AT_EXIT=()
    exit "$rc"
}

# Traps are per process: a subshell that registers cleanups gets its own
# traps and its own (initially empty) list, so it never runs its parent's.
_t_traps_install() {
    if [ "$_T_TRAP_PID" != "$BASHPID" ]; then
        _T_TRAP_PID=$BASHPID
        _T_AT_EXIT=()
        trap _t_on_exit EXIT
        trap '_t_on_signal INT 130' INT
        trap '_t_on_signal TERM 143' TERM
        trap '_t_on_signal HUP 129' HUP
    fi
}

# t_at_exit "COMMAND STRING": run it (with eval) when the test exits, is
# interrupted or terminated. Cleanups run last-registered first.
t_at_exit() {
    _t_traps_install
    _T_AT_EXIT+=("$1")
}

# T_TMP: a scratch directory for this test, made when tap.sh is loaded:
# mode 0755 under /tmp, so the postgres user can reach it. Removed at exit
# unless T_KEEP=1 (or T_KEEP=fail and something failed).
_t_tmp_remove() {
    if [ "${T_KEEP:-0}" = 1 ] || { [ "$T_FAILED" -gt 0 ] && [ "${T_KEEP:-0}" = fail ]; }; then
        t_diag "kept $T_TMP"
    elif [ -n "$T_TMP" ]; then
        rm -rf -- "$T_TMP"
    fi
}

T_TMP=$(mktemp -d /tmp/coffer-test.XXXXXX) || {
    echo "Bail out! tap.sh: cannot create a temp directory"
    exit 255
}
chmod 0755 "$T_TMP"
export T_TMP
t_at_exit _t_tmp_remove

# ---------------------------------------------------------------- running

# t_run CMD ARGS...: run a command (or shell function, in this shell),
# capturing stdout/stderr into T_OUT/T_ERR and its status into T_RC.
# Not an assertion; returns the command's status.
t_run() {
    local o e
    o=$(mktemp "$T_TMP/.out.XXXXXX") && e=$(mktemp "$T_TMP/.err.XXXXXX") || return 1
    T_RC=0
    "$@" >"$o" 2>"$e" || T_RC=$?
    T_OUT=$(<"$o")
    T_ERR=$(<"$e")
    rm -f -- "$o" "$e"
    return "$T_RC"
}

# ---------------------------------------------------------------- assertions

# t_ok NAME CMD ARGS...: passes if the command exits 0.
t_ok() {
    local name=$1
    shift
    t_run "$@"
    if [ "$T_RC" -eq 0 ]; then
        _t_result 0 "$name"
    else
        _t_result 1 "$name"
        _t_diag_run "$@"
        return 1
    fi
}

# t_exit CODE NAME CMD ARGS...: passes if the command exits exactly CODE.
t_exit() {
    local want=$1 name=$2
    shift 2
    t_run "$@"
    if [ "$T_RC" -eq "$want" ]; then
        _t_result 0 "$name"
    else
        _t_result 1 "$name"
        printf '#  expected status: %s\n' "$want" >&2
        _t_diag_run "$@"
        return 1
    fi
}

# t_is GOT EXPECTED NAME: exact string equality.
t_is() {
    if [ "$1" == "$2" ]; then
        _t_result 0 "${3:-}"
    else
        _t_result 1 "${3:-}"
        _t_diag_value "     got" "$1"
        _t_diag_value "expected" "$2"
        return 1
    fi
}

# t_isnt GOT UNEXPECTED NAME: strings differ.
t_isnt() {
    if [ "$1" != "$2" ]; then
        _t_result 0 "${3:-}"
    else
        _t_result 1 "${3:-}"
        _t_diag_value "     got" "$1"
        _t_diag_value "expected" "anything else"
        return 1
    fi
}

# t_same GOT EXPECTED NAME: passes if the two texts are equal; on failure
# shows a unified diff (expected first).
t_same() {
    if [ "$1" == "$2" ]; then
        t_pass "$3"
    else
        t_fail "$3" "$(diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$1") | head -40)"
    fi
}

# t_like GOT REGEX NAME: bash extended regex match ([[ =~ ]]) anywhere in GOT.
t_like() {
    if [[ $1 =~ $2 ]]; then
        _t_result 0 "${3:-}"
    else
        _t_result 1 "${3:-}"
        _t_diag_value "     got" "$1"
        _t_diag_value "    like" "$2"
        return 1
    fi
}

# t_unlike GOT REGEX NAME: GOT must not match REGEX.
t_unlike() {
    if ! [[ $1 =~ $2 ]]; then
        _t_result 0 "${3:-}"
    else
        _t_result 1 "${3:-}"
        _t_diag_value "     got" "$1"
        _t_diag_value "  unlike" "$2"
        return 1
    fi
}

# t_pass NAME / t_fail NAME [DIAG...]
t_pass() { _t_result 0 "${1:-}"; }
t_fail() {
    _t_result 1 "${1:-}"
    shift
    [ $# -gt 0 ] && t_diag "$*"
    return 1
}

# t_skip REASON [COUNT]: record COUNT (default 1) skipped tests.
t_skip() {
    local i n=${2:-1}
    for ((i = 0; i < n; i++)); do
        T_N=$((T_N + 1))
        printf 'ok %d # skip %s\n' "$T_N" "$1"
    done
}

# t_skip_all REASON: skip the whole file (call before any assertion).
t_skip_all() {
    printf '1..0 # SKIP %s\n' "$1"
    exit 0
}

# t_bail REASON: stop the whole prove run (harness broken, nothing to test).
t_bail() {
    printf 'Bail out! %s\n' "$1"
    exit 255
}

# t_abort REASON: record a failure and end this file now (keeps the run going).
t_abort() {
    _t_result 1 "$1"
    t_done
}

# t_done: print the plan and exit: 0 if all passed, else the number failed.
t_done() {
    if [ "$T_N" -eq 0 ]; then
        t_diag "No tests run!"
        exit 255
    fi
    printf '1..%d\n' "$T_N"
    if [ "$T_FAILED" -gt 0 ]; then
        t_diag "Looks like you failed $T_FAILED test(s) of $T_N."
        exit $((T_FAILED > 254 ? 254 : T_FAILED))
    fi
    exit 0
}

# t_flip_byte FILE OFFSET: inverts one byte, so that the file surely changes
# (writing a fixed byte leaves it as it was once in 256 runs).
t_flip_byte() {
    python3 -c 'import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0xFF]))' "$1" "$2"
}
