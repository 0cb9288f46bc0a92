#!/bin/sh
# make demo: run a sample stage in the sandbox and show what it may do.
set -eu
cd "$(dirname "$0")/.."
here=$(pwd -P)  # the real path: binds never follow symlinks
data="$here/examples/data"
export DEMO_SECRET="do-not-leak-me"   # set in the caller's environment only

echo "== sandlot explain: the sandbox for a stage with effect fs-read:$data"
./sandlot explain --stage demo -e "fs-read:$data" -p examples/policies/demo.lua -- sh -s
echo
echo "== sandlot run: the same stage, for real"
status=0
./sandlot run --stage demo -e "fs-read:$data" -p examples/policies/demo.lua -- sh -s \
    < examples/stage.sh || status=$?
echo "exit status: $status"
echo
echo "== a stage that declares nothing cannot even see its input:"
./sandlot run -- cat "$data/input.txt" || echo "exit status: $?"
echo
echo "== a bad effect never runs anything:"
./sandlot run -e fs-read:relative/path -- echo "this never prints" || echo "exit status: $?"
