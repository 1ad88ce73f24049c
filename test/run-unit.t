#!/usr/bin/env bash
# Runs every unit-test binary (built with ASan/UBSan) as one TAP test each;
# a binary's own TAP lines are shown as a subtest.
cd "$(dirname "$0")/.." || exit 1
bins=(build/asan/test/test_*)
if [ ! -e "${bins[0]}" ]; then
    echo "1..0 # SKIP no unit tests built"
    exit 0
fi
echo "1..${#bins[@]}"
n=0
for b in "${bins[@]}"; do
    n=$((n + 1))
    out=$(ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$b" 2>&1)
    rc=$?
    sed 's/^/    /' <<<"$out"
    if [ $rc -eq 0 ]; then
        echo "ok $n - $(basename "$b")"
    else
        echo "not ok $n - $(basename "$b") (exit $rc)"
    fi
done
