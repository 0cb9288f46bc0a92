#!/bin/sh
# Install the Debian packages sandlot needs to build, test and run, when
# any is missing.  Idempotent and quiet when everything is present.
# `deps.sh bench` adds what `make bench` needs (valgrind for instruction counts),
# `deps.sh fuzz` what `make fuzz` needs (clang and its libFuzzer runtime),
# `deps.sh package` what building the Debian package needs (.ci/run).
set -eu
pkgs="gcc make pkg-config libc6-dev lua5.4 liblua5.4-dev lua-filesystem lua-cjson
      lua-busted lua-check bubblewrap util-linux git libreadline-dev libncurses-dev libseccomp-dev nettle-dev
      scdoc bash-completion groff-base man-db curl perl"
[ "${1:-}" = bench ] && pkgs="$pkgs valgrind"
[ "${1:-}" = fuzz ] && pkgs="$pkgs clang libclang-rt-14-dev"
[ "${1:-}" = package ] && pkgs="$pkgs debhelper dpkg-dev fakeroot lintian"
missing=""
for p in $pkgs; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"ok installed") ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0
echo "sandlot: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
