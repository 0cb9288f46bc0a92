#!/bin/sh
# Signal race stress: SIGHUP N launches of `sandlot run` in their first
# moments while two busy loops load the machine, and count what outlived
# sandlot.
#
#   tools/sigrace.sh SANDLOT N BACKEND [nobody]
#
# SANDLOT is the binary, BACKEND bwrap or native; "nobody" runs sandlot
# through setpriv as uid/gid 65534 (the script then must run as root).
# Each launch runs `sh -c 'sleep M & sleep M'` with M unique to the launch
# (this script's pid and the launch number), and is signalled in one of
# three ways, picked at random: at once; after a random 0..20 ms; or the
# moment sandlot has a child (spinning on /proc/PID/task/PID/children).
# SIGRACE_MODE=0, 1 or 2 forces one of them; SIGRACE_SEED repeats a run;
# SIGRACE_SIGNAL sends another signal than HUP (KILL: sandlot cannot act);
# SIGRACE_DEBUG=1 shows a hung sandlot's processes and signal masks.
#
# After sandlot has been reaped, any host process whose command line holds
# M 2 s later is a survivor: it is counted and killed by pid.  A sandlot still
# running 10 s after the signal is counted as hung and SIGKILLed.  The
# busy loops end when this script does (they watch its pid) and are also
# killed by pid on exit.  Prints one line:
#   sigrace: SIGHUP, BACKEND as WHO: N launches, H hung, S survivors (seed X)
# and exits 1 when H or S is not 0, 2 on bad usage.
set -u
[ $# -ge 3 ] || { echo "usage: $0 SANDLOT N BACKEND [nobody]" >&2; exit 2; }
sandlot=$1 n=$2 backend=$3 who=${4:-$(id -un)}
seed=${SIGRACE_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
sig=${SIGRACE_SIGNAL:-HUP}
me=$$
busy=""
cleanup() {
    for b in $busy; do kill -KILL "$b" 2>/dev/null; done
    busy=""
}
trap cleanup EXIT
# not HUP: a launch forked but not yet exec'ed would run this trap's handler
# instead of dying of the SIGHUP meant for sandlot
trap 'exit 130' INT TERM
for _ in 1 2; do
    sh -c 'while kill -0 "$1" 2>/dev/null; do :; done' busy "$me" &
    busy="$busy $!"
done

# The pids of host processes whose command line holds $1 ("1000.N" is
# matched as "1000[.]N" so that grep's own command line does not match).
marked() {
    grep -l -a -e "${1%%.*}[.]${1#*.}" /proc/[0-9]*/cmdline 2>/dev/null |
        sed 's|^/proc/\([0-9]*\)/cmdline$|\1|'
}

# 1 when process $1 has ended (a zombie or gone), 0 while it runs.
ended() {
    st=""
    { read -r st < "/proc/$1/stat"; } 2>/dev/null || [ -n "$st" ] || return 0
    st=${st##*) }
    [ "${st%% *}" = Z ]
}

plan=$(awk -v n="$n" -v seed="$seed" 'BEGIN {
    srand(seed)
    for (i = 1; i <= n; i++) printf "%d %d %.4f\n", i, int(rand() * 3), rand() * 0.02
}')
hung=0 survived=0
while read -r i mode delay; do
    mode=${SIGRACE_MODE:-$mode}
    m=1000.$me$(printf %04d "$i")
    if [ "$who" = nobody ]; then
        SANDLOT_ISOLATION=$backend HOME=/nonexistent \
            setpriv --reuid 65534 --regid 65534 --clear-groups -- \
            "$sandlot" run -- sh -c "sleep $m & sleep $m" </dev/null >/dev/null 2>&1 &
    else
        SANDLOT_ISOLATION=$backend \
            "$sandlot" run -- sh -c "sleep $m & sleep $m" </dev/null >/dev/null 2>&1 &
    fi
    s=$!
    case $mode in
    1) sleep "$delay" ;;
    2)
        k=0
        while [ $k -lt 100000 ]; do
            c=""
            { read -r c < "/proc/$s/task/$s/children"; } 2>/dev/null
            [ -n "$c" ] && break
            ended "$s" && break
            k=$((k + 1))
        done ;;
    esac
    kill -"$sig" "$s" 2>/dev/null
    k=0
    while ! ended "$s" && [ $k -lt 500 ]; do
        sleep 0.02
        k=$((k + 1))
    done
    if ! ended "$s"; then
        hung=$((hung + 1))
        echo "sigrace: launch $i (mode $mode, delay $delay): sandlot still runs 10 s after SIG$sig" >&2
        if [ -n "${SIGRACE_DEBUG:-}" ]; then
            ps -o pid,ppid,stat,wchan:20,cmd -p "$s" --ppid "$s" >&2
            grep '^Sig' "/proc/$s/status" >&2
        fi
        kill -KILL "$s"
    fi
    { wait "$s"; } 2>/dev/null # no "Killed" from the shell
    left=$(marked "$m")
    # what sandlot killed may take a moment to go: count what stays 2 s
    k=0
    while [ -n "$left" ] && [ $k -lt 20 ]; do
        sleep 0.1
        left=$(marked "$m")
        k=$((k + 1))
    done
    if [ -n "$left" ]; then
        survived=$((survived + 1))
        echo "sigrace: launch $i (mode $mode, delay $delay): outlived sandlot:" \
             $left >&2
        if [ -n "${SIGRACE_DEBUG:-}" ]; then
            for p in $left; do ps -o pid,ppid,user,stat,wchan:20,cmd -p "$p" >&2; done
        fi
        for p in $left; do kill -KILL "$p" 2>/dev/null; done
    fi
done <<EOF
$plan
EOF
echo "sigrace: SIG$sig, $backend as $who: $n launches, $hung hung, $survived survivors (seed $seed)"
[ $hung -eq 0 ] && [ $survived -eq 0 ]
