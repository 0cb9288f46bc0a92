#!/bin/sh
# Run the busted suite under Lua 5.4 once per sandbox backend (bwrap, then
# native; SANDLOT_TEST_BACKENDS narrows the list) and end with a plain
# summary line ("N passed, N failed, N skipped") over all runs that any CI
# log reader understands.  Fails when any run failed, errored, skipped a
# test or printed no summary.
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0 failed=0 pending=0 status=0
for backend in ${SANDLOT_TEST_BACKENDS:-bwrap native}; do
    echo "== the suite with the $backend backend"
    SANDLOT_TEST_BACKEND=$backend SANDLOT_ISOLATION=$backend \
        lua5.4 /usr/bin/busted --lua=lua5.4 "$@" tests 2>&1 | tee "$log"
    line=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' \
           "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "sandlot: the test runner printed no summary for the $backend backend" >&2
        failed=$((failed + 1)) status=1
        continue
    fi
    read -r ns _ _ nf _ _ ne _ _ np _ <<END
$line
END
    passed=$((passed + ns)) failed=$((failed + nf + ne)) pending=$((pending + np))
done
echo "$passed passed, $failed failed, $pending skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$pending" -eq 0 ]
