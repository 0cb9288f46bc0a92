#!/bin/sh
# Run the busted suite under Lua 5.4 and end with a plain summary line
# ("N passed, N failed, N skipped") that any CI log reader understands.
# The exit status is busted's.
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
lua5.4 /usr/bin/busted --lua=lua5.4 "$@" tests 2>&1 | tee "$log"
line=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" |
       tail -n 1)
if [ -z "$line" ]; then
    echo "0 passed, 1 failed"
    echo "sandlot: the test runner printed no summary" >&2
    exit 1
fi
set -- $line
passed=$1 failed=$4 errors=$7 pending=${10}
echo "$passed passed, $((failed + errors)) failed, $pending skipped"
[ "$failed" -eq 0 ] && [ "$errors" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$pending" -eq 0 ]
