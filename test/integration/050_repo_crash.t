#!/usr/bin/env bash
# kill -9 at any moment of a write or a prune leaves a repository that
# "coffer check" calls clean (perhaps with unreferenced packs, which prune
# removes), and the next write works. Kills land at random moments and at
# every named crash point (COFFER_CRASH_POINT, see src/repo/object.c).
# Also the CLI basics of init/check/unlock: exit codes and messages.
. "$(dirname "$0")/../lib/tap.sh"

REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COFFER="$REPO_ROOT/coffer"
TOOL="$REPO_ROOT/build/bench/repo_tool"

[ -x "$COFFER" ] || t_skip_all "coffer is not built (make)"
if [ ! -x "$TOOL" ]; then
    make -s -C "$REPO_ROOT" build/bench/repo_tool >/dev/null 2>&1 ||
        t_skip_all "build/bench/repo_tool is not built (make build/bench/repo_tool)"
fi

export COFFER_PASSPHRASE=crash-test-passphrase
unset COFFER_CONFIG COFFER_CRASH_POINT
R="$T_TMP/repo"
DATA="$T_TMP/data"
mkdir -p "$DATA"

# ------------------------------------------------------------ CLI basics
C="$T_TMP/cli"
t_ok "coffer init creates a repository" "$COFFER" init --repo "$C"
t_like "$T_OUT" "created repository \"$C\" \\(id [0-9a-f]{16}" "  ... and prints location and id"
t_exit 1 "a second init refuses" "$COFFER" init --repo "$C"
t_like "$T_ERR" "repository \"$C\" already exists" "  ... saying it already exists"
t_exit 1 "a wrong passphrase is exit 1" env COFFER_PASSPHRASE=wrong "$COFFER" check --repo "$C"
t_like "$T_ERR" "wrong passphrase for repository \"$C\"" "  ... with one clear error"
t_is "$(grep -c 'error:' <<<"$T_ERR")" 1 "  ... and only one"
cp "$C/config" "$T_TMP/config.saved"
sed -i 's/"compression": 3/"compression": 4/' "$C/config"
t_exit 1 "a config changed since init is exit 1" "$COFFER" check --repo "$C"
t_like "$T_ERR" "its \"config\" was changed or damaged since the repository was made" \
    "  ... and it says so"
t_unlike "$T_ERR" "wrong passphrase" "  ... instead of blaming the passphrase"
cp "$T_TMP/config.saved" "$C/config"
t_ok "  ... with config put back, it opens again" "$COFFER" check --repo "$C"
: >"$T_TMP/afile"
t_exit 2 "init on a file is refused" "$COFFER" init --repo "$T_TMP/afile"
t_like "$T_ERR" "is not a directory" "  ... clearly"
t_exit 1 "check of a directory that is no repository fails" "$COFFER" check --repo "$T_TMP"
t_like "$T_ERR" "is not a coffer repository" "  ... clearly"
t_ok "check of an empty repository" "$COFFER" check --repo "$C" --json
t_like "$T_OUT" '"errors": 0' "  ... reports no errors as JSON"
t_ok "unlock of an unlocked repository" "$COFFER" unlock --repo "$C"
t_like "$T_OUT" "removed 0 locks" "  ... removes nothing"
t_exit 2 "check --read-data=0 is a usage error" "$COFFER" check --repo "$C" --read-data=0
t_ok "init with encryption none" "$COFFER" init --repo "$T_TMP/plain" --encryption none
t_ok "  ... which opens without a passphrase" env -u COFFER_PASSPHRASE "$COFFER" check --repo "$T_TMP/plain"

# ------------------------------------------------- kill -9 during writes
# small chunks and packs so that a kill can land between any two steps
t_ok "repository for the crash test" "$TOOL" init "$R" --avg 65536 --pack-size 1048576 ||
    t_abort "cannot create the repository"

# gen_data N: a 24 MB COPY-like stream, different for each N
gen_data() {
    [ -f "$DATA/$1" ] || "$TOOL" gen 24000000 "$1" >"$DATA/$1"
}

# kill_after SECONDS CMD...: runs CMD in the background and SIGKILLs it
# after SECONDS; status 137 when the kill landed, the command's own otherwise.
kill_after() {
    local delay=$1 pid rc
    shift
    "$@" >/dev/null 2>"$T_TMP/killed.err" &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null # the shell's "Killed" notice is no test output
    rc=$?
    return $rc
}

# quiet CMD...: runs CMD with its stderr (and the shell's "Killed" notice)
# in a file, for commands expected to die
quiet() {
    { "$@"; } 2>>"$T_TMP/killed.err"
}

check_clean() {
    t_ok "$1" "$COFFER" check --repo "$R" || return 1
    t_like "$T_OUT" $'\n0 errors' "  ... 0 errors"
}

killed=0
for i in 1 2 3 4 5 6 7 8; do
    gen_data "$i"
    delay=$(printf '0.%02d' $((RANDOM % 22 + 3)))
    kill_after "$delay" "$TOOL" store "$R" "tenant_$((i % 3))" <"$DATA/$i"
    rc=$?
    [ "$rc" -eq 137 ] && killed=$((killed + 1))
    check_clean "check clean after kill -9 of a store after ${delay}s (status $rc)"
done
t_note "$killed of 8 random kills of a store landed"

for point in pack-before-commit pack-after-commit pack-after-commit@3 index-after-commit \
    snapshot-after-write; do
    gen_data 20
    t_exit 137 "store killed at $point" quiet env COFFER_CRASH_POINT="$point" \
        "$TOOL" store "$R" tenant_x <"$DATA/20"
    check_clean "check clean after the kill at $point"
done

gen_data 30
t_ok "a store after all the kills works" "$TOOL" store "$R" tenant_1 <"$DATA/30"
snap=$(sed -n 's/.*"snapshot": "\([0-9a-f]*\)".*/\1/p' <<<"$T_OUT")
t_ok "  ... and reads back byte-equal" cmp -s <("$TOOL" restore "$R" "$snap") "$DATA/30"
check_clean "check clean after the new store"

# -------------------------------------------------- kill -9 during prune
prune_kills=0
for i in 1 2 3 4 5 6; do
    t_ok "forget all but the last 3 snapshots" "$TOOL" forget "$R" --keep-last 3
    delay=$(printf '0.%02d' $((RANDOM % 15 + 1)))
    kill_after "$delay" "$TOOL" prune "$R"
    rc=$?
    [ "$rc" -eq 137 ] && prune_kills=$((prune_kills + 1))
    check_clean "check clean after kill -9 of prune after ${delay}s (status $rc)"
    gen_data $((40 + i))
    t_ok "a store after the killed prune works" "$TOOL" store "$R" "tenant_$((i % 2))" \
        <"$DATA/$((40 + i))"
done
t_note "$prune_kills of 6 random kills of prune landed"

for point in prune-after-packs prune-after-index prune-index-delete prune-pack-delete \
    prune-pack-delete@3; do
    gen_data 50
    "$TOOL" store "$R" tenant_y <"$DATA/50" >/dev/null
    "$TOOL" forget "$R" --keep-last 2 >/dev/null
    t_exit 137 "prune killed at $point" quiet env COFFER_CRASH_POINT="$point" \
        "$TOOL" prune "$R"
    check_clean "check clean after the prune killed at $point"
done

gen_data 60
t_ok "a store after the killed prunes works" "$TOOL" store "$R" tenant_z <"$DATA/60"
snap=$(sed -n 's/.*"snapshot": "\([0-9a-f]*\)".*/\1/p' <<<"$T_OUT")
t_ok "a full prune works" "$TOOL" prune "$R"
t_ok "check --read-data after the final prune" "$COFFER" check --repo "$R" --read-data --json
t_like "$T_OUT" '"errors": 0' "  ... no errors"
t_like "$T_OUT" '"unreferenced_packs": 0' "  ... no unreferenced packs left"
t_like "$T_OUT" '"duplicates": 0' "  ... no chunk indexed twice"
t_ok "the newest snapshot reads back byte-equal" cmp -s <("$TOOL" restore "$R" "$snap") \
    "$DATA/60"
# a kill -9 while a lock was being written can leave its temp file, which is
# no lock; prune removes such files once they are old (see below)
t_ok "no lock is left behind" test -z "$(ls -A "$R/locks" 2>/dev/null | grep -v '\.tmp-')"
t_is "$(find "$R" -path "$R/locks" -prune -o -name '*.tmp-*' -print)" "" \
    "prune left no temp file of the killed writes outside locks/"

# ------------------------- temp files that interrupted writes leave behind
pack_dir=$(find "$R/data" -mindepth 1 -maxdepth 1 -type d | head -n 1)
printf 'torn' >"$pack_dir/0123abcd.tmp-1-00"
printf 'torn' >"$R/snapshots/4567cdef.tmp-2-00"
printf 'torn' >"$R/locks/old.tmp-3-00"
printf 'torn' >"$R/locks/new.tmp-4-00"
touch -d '-1 hour' "$R/locks/old.tmp-3-00"
t_ok "check ignores temp files" "$COFFER" check --repo "$R"
t_ok "prune removes them" "$COFFER" prune --repo "$R" --json
t_like "$T_OUT" '"temp_files_removed": 3' "  ... counting three"
t_ok "  ... the pack's is gone" test ! -e "$pack_dir/0123abcd.tmp-1-00"
t_ok "  ... the snapshot's is gone" test ! -e "$R/snapshots/4567cdef.tmp-2-00"
t_ok "  ... the old lock's is gone" test ! -e "$R/locks/old.tmp-3-00"
t_ok "  ... a fresh lock's stays: its writer may be taking a lock now" \
    test -e "$R/locks/new.tmp-4-00"
rm -f "$R/locks/new.tmp-4-00"

# ------------------------------------------ a lost index, and its repair
rm -f "$R"/index/*
t_exit 1 "check fails when the index is lost" "$COFFER" check --repo "$R"
t_like "$T_ERR" "which is not in the index" "  ... naming the chunks the index lacks"
t_like "$T_ERR" "rebuild-index" "  ... and pointing at the repair"
t_ok "check --rebuild-index repairs it" "$COFFER" check --repo "$R" --rebuild-index
t_like "$T_ERR" "rebuilt the index: [1-9][0-9]* packs? indexed" "  ... from the pack headers"
t_ok "check --read-data is clean after the repair" "$COFFER" check --repo "$R" --read-data
t_ok "the newest snapshot reads back after the repair" cmp -s <("$TOOL" restore "$R" "$snap") \
    "$DATA/60"

t_done
