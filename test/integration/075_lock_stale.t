#!/usr/bin/env bash
# Locks on shared storage: a holder refreshes its lock while it runs; a
# lock another host stopped refreshing is stale after repository.lock_stale
# and is broken by whoever finds it; "coffer unlock" shows every lock, who
# holds it and from where.
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"
. "$(dirname "$0")/../lib/big_tenant.sh"

big_tenant_setup
REPO="$T_TMP/repo"
printf '  lock_stale: 4\n' >>"$COFFER_CONFIG"
LOCK="$REPO/locks/$(printf 'feed%.0s' {1..16})"

# lock HOST PID REFRESHED: a lock object of another process
lock() {
    printf '{"mode": "exclusive", "host": "%s", "pid": %s, "time": "2030-01-02T03:04:05Z", "command": "prune", "refreshed": %s}\n' \
        "$1" "$2" "$3" >"$LOCK"
    chmod 600 "$LOCK"
}

# a running restore rewrites its lock every third of lock_stale; an
# application's transaction keeps it waiting for a few seconds
pg_psql -d "$DB" -c 'BEGIN' -c 'SELECT count(*) FROM tenant_big.events' -c 'SELECT pg_sleep(4)' -c 'COMMIT' >/dev/null &
app=$!
wait_for_query 'pg_sleep' || t_diag "the application's transaction never started"
"$COFFER" restore --tenant tenant_big --clean --yes >"$T_TMP/out" 2>"$T_TMP/err" &
pid=$!
first='' later=''
for _ in $(seq 200); do
    f=$(ls "$REPO/locks" 2>/dev/null | head -1)
    if [ -n "$f" ]; then
        r=$(jq -r .refreshed "$REPO/locks/$f" 2>/dev/null)
        [ -z "$first" ] && first=$r
        [ -n "$first" ] && [ "$r" != "$first" ] && later=$r && break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
wait "$pid"
t_is "$?" 0 "a restore that waits for an application"
wait "$app"
t_like "$later" '^[0-9]+$' "  ... refreshed its lock while it ran ($first, then $later)"
t_is "$(ls "$REPO/locks" | wc -l)" 0 "  ... and left no lock"

# another host's lock, refreshed just now: respected, and the hint says when it goes stale
lock other-host.example 4242 "$(date +%s)"
t_exit 1 "a lock another host refreshed just now stops a backup" "$COFFER" backup --tenant tenant_acme
t_like "$T_ERR" 'is locked by process 4242 on other-host.example' "  ... naming host and process"
t_like "$T_ERR" 'refreshed [0-9]+ s ago' "  ... and when it was last refreshed"
t_like "$T_ERR" 'stale after 4 s without a refresh' "  ... and says when it becomes stale"
t_ok "coffer unlock --json" "$COFFER" unlock --json
t_is "$(jq -r '.locks[0] | "\(.host) \(.pid) \(.command) \(.state)"' <<<"$T_OUT")" \
    "other-host.example 4242 prune kept" "  ... shows who holds the lock, from where, and keeps it"
t_ok "coffer unlock in words" "$COFFER" unlock
t_like "$T_OUT" 'exclusive lock of process 4242 on other-host.example \(prune since 2030-01-02T03:04:05Z, refreshed [0-9]+ s ago\): kept' \
    "  ... says the same in words"

# the same lock, not refreshed for longer than lock_stale: broken on sight
lock other-host.example 4242 "$(($(date +%s) - 60))"
t_ok "a lock not refreshed for 60 s (stale after 4) does not stop a backup" "$COFFER" backup --tenant tenant_acme
t_like "$T_ERR" 'removed stale lock .* of process 4242 on other-host.example .*not refreshed for [0-9]+ s' \
    "  ... which says it broke it, and why"
t_ok "  ... the lock is gone" test ! -e "$LOCK"

# coffer unlock removes it too, and says why
lock other-host.example 4242 "$(($(date +%s) - 60))"
t_ok "coffer unlock --json with a stale lock" "$COFFER" unlock --json
t_is "$(jq -r '"\(.removed) \(.locks[0].state)"' <<<"$T_OUT")" "1 removed" "  ... removes it"
t_like "$(jq -r '.locks[0].why' <<<"$T_OUT")" 'not refreshed for' "  ... and says why"

# a lock written before locks were refreshed (no "refreshed") is never taken for stale
printf '{"mode": "exclusive", "host": "other-host.example", "pid": 4242, "time": "2030-01-02T03:04:05Z", "command": "prune"}\n' >"$LOCK"
t_exit 1 "a lock of another host without a refresh time still stops a backup" "$COFFER" backup --tenant tenant_acme
t_ok "  ... until unlock --all" "$COFFER" unlock --all
t_ok "  ... then the backup runs" "$COFFER" backup --tenant tenant_acme
t_done
