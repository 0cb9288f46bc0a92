#!/bin/sh
# Build the Debian package from a copy of this checkout, check it with
# lintian (errors fail), install it with apt (as root: CI's fresh machine),
# and use the installed files: version, doctor, man pages, completion and
# sandboxed commands on each backend, as root and as nobody.  Then purge it.
# The .deb files are left in $1 when given (else a scratch directory).
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "package-check: run as root (it installs the package)" >&2; exit 1; }
if dpkg-query -W -f='${Status}' sandlot 2>/dev/null | grep -q 'ok installed'; then
    echo "package-check: a sandlot package is installed already; not touching it" >&2
    exit 1
fi
./tools/deps.sh package

scratch=$(mktemp -d /tmp/sandlot-pkg.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
out=${1:-$scratch}
mkdir -p "$scratch/sandlot" "$out"
# dpkg-buildpackage writes into the parent directory: build from a copy of
# the tracked files (as they are in the work tree).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$scratch/sandlot"
else
    tar -cf - --exclude=./build --exclude=./sandlot --exclude=./sandlot-exec . |
        tar -xf - -C "$scratch/sandlot"
fi
echo "== dpkg-buildpackage -us -uc -b"
if ! (cd "$scratch/sandlot" && dpkg-buildpackage -us -uc -b) >"$scratch/build.log" 2>&1; then
    tail -n 60 "$scratch/build.log"
    echo "package-check: the package build failed" >&2
    exit 1
fi
[ "$out" = "$scratch" ] || cp "$scratch"/*.deb "$out"/
deb=$(ls "$scratch"/sandlot_*.deb)
echo "== lintian $(basename "$deb")"
lintian --fail-on error "$deb"

echo "== install"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "$deb" >/dev/null
status=0
check() {
    desc=$1
    shift
    if "$@" >"$scratch/out" 2>&1; then
        echo "ok    $desc"
    else
        echo "FAIL  $desc"
        sed 's/^/      /' "$scratch/out"
        status=1
    fi
}
as_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups -- env HOME=/nonexistent "$@"; }
file=/etc/debian_version
check "the system layer /etc/sandlot/policies.d exists, empty" \
    sh -c '[ -d /etc/sandlot/policies.d ] && [ -z "$(ls -A /etc/sandlot/policies.d)" ]'
check "the exec helper is where the binary looks" \
    sh -c 'sandlot doctor | grep -E "^ok +helper +/usr/libexec/sandlot/sandlot-exec$"'
check "sandlot version" sh -c 'sandlot version && sandlot version | grep -q "^Lua 5\.4"'
check "sandlot doctor" sandlot doctor
check "man sandlot, man sandlot-policy, man noether-sandbox" \
    sh -c 'man -w sandlot && man -w sandlot-policy && man -w noether-sandbox &&
           MANWIDTH=80 man sandlot-policy | grep -q "POLICY METHODS"'
# _completion_loader returns 124 ("retry") when it loaded something
check "bash-completion finds the completion" bash -c '. /usr/share/bash-completion/bash_completion
    _completion_loader sandlot; complete -p sandlot | grep -q _sandlot'
for backend in bwrap native; do
    check "sandlot run --isolate $backend -- true (root)" sandlot run --isolate $backend -- true
    check "sandlot run --isolate $backend -- true (nobody)" as_nobody sandlot run --isolate $backend -- true
    check "sandlot run --isolate $backend -e fs-read:$file -- cat $file" \
        sh -c "[ \"\$(sandlot run --isolate $backend -e fs-read:$file -- cat $file)\" = \"\$(cat $file)\" ]"
    check "an undeclared file stays out ($backend)" \
        sh -c "! sandlot run --isolate $backend -- cat $file"
done
check "noether-sandbox runs a command (an empty policy: noether's default)" \
    sh -c 'noether-sandbox -- true </dev/null'

echo "== remove"
apt-get purge -y -qq sandlot >/dev/null
check "purged: no binary, no helper, no system layer" \
    sh -c '! [ -e /usr/bin/sandlot ] && ! [ -e /usr/libexec/sandlot ] && ! [ -e /etc/sandlot ]'
[ "$status" -eq 0 ] && echo "package-check: ok" || echo "package-check: FAILED" >&2
exit "$status"
