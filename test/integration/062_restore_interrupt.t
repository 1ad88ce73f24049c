#!/usr/bin/env bash
# An interrupt (SIGINT, SIGTERM, SIGHUP) at any point of "restore --clean"
# or "restore --as": the live tenant is there, under its own name, with its
# rows; no aside schema, scratch database or temporary file is left; the
# exit status says which signal it was.
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"
. "$(dirname "$0")/../lib/big_tenant.sh"

big_tenant_setup

sig_code() { case $1 in INT) echo 130 ;; TERM) echo 143 ;; HUP) echo 129 ;; esac; }

# interrupt SIG WHEN ARGS...: start a restore, wait for WHEN (a query
# regex, or "sleep:SECONDS"), send SIG, and check what is left.
interrupt() {
    local sig=$1 when=$2 rc pid what
    shift 2
    # job control on: a background job of a script ignores SIGINT otherwise
    set -m
    "$COFFER" restore --tenant tenant_big "$@" >"$T_TMP/out" 2>"$T_TMP/err" &
    pid=$!
    set +m
    case $when in
    sleep:*) sleep "${when#sleep:}" ;;
    *) wait_for_query "$when" || t_diag "never saw a query matching $when" ;;
    esac
    kill -s "$sig" "$pid" 2>/dev/null
    rc=0
    wait "$pid" || rc=$?
    what="SIG$sig at $when ($*)"
    if [ "$rc" -eq 0 ]; then
        # the restore finished before the signal: it restored the snapshot
        if [ "$1" = --clean ]; then
            t_is "$(fingerprint | cut -d' ' -f1)" 300000 "$what: finished first, restored"
            pg_psql -d "$DB" <<<"DELETE FROM tenant_big.events WHERE id % 10 = 0" >/dev/null
        else
            t_pass "$what: finished first"
            pg_psql -d "$DB" <<<"DROP SCHEMA big_copy CASCADE" >/dev/null
        fi
        t_pass "  ... (no signal to report)"
    elif grep -q '^restored "tenant_big"' "$T_TMP/out" ||
        grep -q 'the restore had completed when the interrupt came' "$T_TMP/err"; then
        # the signal came after every target stood (it says so): the
        # restore stays; what it replaced goes with the next --recover
        t_is "$rc" "$(sig_code "$sig")" "$what: came after the restore stood"
        t_is "$(fingerprint | cut -d' ' -f1)" 300000 "  ... which is kept"
        t_ok "  ... restore --recover finishes it" "$COFFER" restore --recover
        pg_psql -d "$DB" <<<"DELETE FROM tenant_big.events WHERE id % 10 = 0" >/dev/null
        pg_psql -d "$DB" <<<"DROP SCHEMA IF EXISTS big_copy CASCADE" >/dev/null
    else
        interrupted=$((interrupted + 1))
        t_is "$rc" "$(sig_code "$sig")" "$what: exit status $(sig_code "$sig")"
        t_like "$(cat "$T_TMP/err")" "interrupted by SIG$sig" "  ... and says it was interrupted"
        # what was put back is no longer in the journal: a stale entry
        # would make the next restore take the live tenant for a copy
        t_is "$(find "$T_TMP/repo/journal" -type f 2>/dev/null | wc -l)" 0 \
            "  ... and leaves no journal entry behind"
    fi
    t_is "$(fingerprint)" "$live" "  ... the live tenant has its rows, under its name" ||
        t_diag "$(cat "$T_TMP/err")"
    t_is "$(leftover_schemas)" 0 "  ... no aside schema or partial copy is left"
    t_is "$(scratch_dbs)" 0 "  ... no scratch database is left"
    t_is "$(find "$TMPDIR" -mindepth 1 | wc -l)" 0 "  ... no temporary file is left" ||
        t_diag "$(find "$TMPDIR" -mindepth 1)"
    rm -rf "${TMPDIR:?}"/* # one leak is reported once, not by every later case
    t_ok "  ... coffer tenants runs" "$COFFER" tenants --json
    t_unlike "$T_OUT" '_coffer_old_' "  ... and lists no leftover"
}

interrupted=0
for sig in INT TERM HUP; do
    interrupt "$sig" '^COPY "tenant_big"\."events" FROM STDIN' --clean --yes
done
interrupt TERM 'CREATE INDEX' --clean --yes
interrupt INT 'ALTER SCHEMA' --clean --yes
interrupt INT sleep:0.2 --clean --yes
interrupt TERM sleep:0.5 --clean --yes
interrupt HUP sleep:0.8 --clean --yes
interrupt INT '^COPY "big_copy"\."events" FROM STDIN' --as big_copy
interrupt TERM sleep:0.3 --as big_copy

t_like "$interrupted" '^([4-9]|10)$' "at least 4 of the 10 restores were interrupted before they finished ($interrupted)"
t_ok "after all that, the repository is clean" "$COFFER" check
t_ok "and a restore --clean still works" "$COFFER" restore --tenant tenant_big --clean --yes
t_is "$(fingerprint | cut -d' ' -f1)" 300000 "  ... and restores the snapshot's rows"
t_done
