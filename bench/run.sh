#!/bin/sh
# make bench: launch cost of sandlot next to its floor (a bare exec) and its
# mechanism (raw bwrap with the argv sandlot builds), in one alternating run.
# Writes the table to stdout and bench/RESULTS.md.  Not a test: nothing
# here asserts a time; the "targets" lines say whether the ratios hold.
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-60}
WARMUP=${WARMUP:-5}
work=$(mktemp -d /tmp/sandlot-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
S=$PWD/sandlot

cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$work/harness" bench/harness.c
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$work/ns_floor" bench/ns_floor.c
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$work/proxy_bench" bench/proxy_bench.c -pthread

# N extra policy scripts in a user layer, each doing a little real work.
scripts() { # scripts N DIR
    mkdir -p "$2/sandlot/policies.d"
    i=0
    while [ "$i" -lt "$1" ]; do
        printf 'if stage:has("network") then policy:allow_env("X%d") end\npolicy:setenv("S%d", "%d")\n' \
            $i $i $i > "$2/sandlot/policies.d/$(printf '%04d' $i)-bench.lua"
        i=$((i + 1))
    done
}
scripts 100 "$work/xdg"
scripts 1000 "$work/xdg1000"
# N distinct effects on the command line (no mounts: cost:N).
effects=$(seq 1 1000 | sed 's/^/cost:/' | paste -sd, -)
effects100=$(seq 1 100 | sed 's/^/cost:/' | paste -sd, -)

# Raw bwrap: exactly what sandlot execs for the default policy: its argv
# (explain --argv), the same seccomp filter on fd 3 (dumped by
# bench/dump_filter.c) and the exec helper on fd 4, reporting on fd 5,
# with the Landlock rules sandlot gives it.
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc -o "$work/dump_filter" bench/dump_filter.c src/filter.c \
    src/policy.c src/egress.c src/util.c -l:libseccomp.a
"$work/dump_filter" "$work/filter.bpf"
"$S" explain --argv -- /bin/true | tr '\0' '\n' > "$work/words.explain"
# The files sandlot generates (passwd, group, nsswitch.conf: --ro-bind-data
# <generated> PATH) come on descriptors 6, 7, ... holding the same text.
gen_redir=""
gen_fd=6
for path in $(awk 'prev == "<generated>" { print } { prev = $0 }' "$work/words.explain"); do
    "$S" run -e fs-read:/usr -- cat "$path" > "$work/gen$gen_fd"
    gen_redir="$gen_redir$gen_fd<$work/gen$gen_fd$(printf '\t')"
    gen_fd=$((gen_fd + 1))
done
awk 'BEGIN { fd = 6 } $0 == "<generated>" { print fd++; next } { print }' \
    "$work/words.explain" > "$work/words"
# the helper's Landlock rules, as explain shows them (the default policy's paths need no quoting)
"$S" explain --isolate bwrap -- /bin/true |
    sed -n 's/^  \(\(list\|ro\|rw\|proc\):\/[^ ]*\) .*/\1/p' > "$work/rules"
{
    printf '3<%s\t4<%s\t5>/dev/null\t%s' "$work/filter.bpf" "$PWD/sandlot-exec" "$gen_redir"
    head -n 1 "$work/words"                               # bwrap
    printf -- '--seccomp\n3\n'
    sed -n '2,$p' "$work/words" | sed '/^--$/,$d'          # the options
    printf -- '--\n/proc/self/fd/4\n5\n'                 # the helper,
    cat "$work/rules"                                     # its rules,
    printf -- '--\n/bin/true\n'                          # then the command
} | tr '\n' '\t' | sed 's/\t$//' > "$work/raw"

tab=$(printf '\t')
{
    printf 'bare /bin/true\t/bin/true\n'
    printf 'raw bwrap: sandlot'"'"'s argv, filter, helper\t%s\n' "$(cat "$work/raw")"
    printf 'sandlot run --isolate bwrap -- /bin/true\t%s\trun\t--isolate\tbwrap\t--\t/bin/true\n' "$S"
    printf 'sandlot run (bwrap), +100 policy scripts\tXDG_CONFIG_HOME=%s\t%s\trun\t--isolate\tbwrap\t--\t/bin/true\n' "$work/xdg" "$S"
    printf 'sandlot run (bwrap), 1000 effects\t%s\trun\t--isolate\tbwrap\t-e\t%s\t--\t/bin/true\n' "$S" "$effects"
    printf 'sandlot explain (policy only)\t%s\texplain\n' "$S"
    printf 'lua5.4 -e "" (VM reference)\t/usr/bin/lua5.4\t-e\t\n'
    printf 'sandlot run --isolate native -- /bin/true\t%s\trun\t--isolate\tnative\t--\t/bin/true\n' "$S"
    printf 'kernel floor: clone into the same namespaces, fork, exec /bin/true\t%s\n' "$work/ns_floor"
    # BASELINE=/path/to/an/older/sandlot: the same three launches by it, in
    # the same alternating run, for before/after ratios (rows after 9)
    if [ -n "${BASELINE:-}" ]; then
        printf 'baseline: run --isolate bwrap -- /bin/true\t%s\trun\t--isolate\tbwrap\t--\t/bin/true\n' "$BASELINE"
        printf 'baseline: explain (policy only)\t%s\texplain\n' "$BASELINE"
        printf 'baseline: run --isolate native -- /bin/true\t%s\trun\t--isolate\tnative\t--\t/bin/true\n' "$BASELINE"
    fi
    if command -v firejail >/dev/null 2>&1; then
        printf 'firejail --noprofile --net=none\t%s\t--quiet\t--noprofile\t--net=none\t/bin/true\n' \
            "$(command -v firejail)"
    fi
} > "$work/spec"
# an empty word cannot travel through tabs: give lua an empty chunk file
: > "$work/empty.lua"
sed -i "s|-e${tab}\$|$work/empty.lua|" "$work/spec"

table=$("$work/harness" "$RUNS" "$WARMUP" 2 "$work/spec")

# Instruction counts: deterministic, unlike wall time.
instr() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
if command -v valgrind >/dev/null 2>&1; then
    i_explain=$(instr "$S" explain)
    i_scripts=$(XDG_CONFIG_HOME="$work/xdg" instr "$S" explain)
    i_scripts1000=$(XDG_CONFIG_HOME="$work/xdg1000" instr "$S" explain)
    i_effects=$(instr "$S" explain -e "$effects")
    i_effects100=$(instr "$S" explain -e "$effects100")
    i_lua=$(instr /usr/bin/lua5.4 "$work/empty.lua")
    if [ -n "${BASELINE:-}" ]; then
        i_base_explain=$(instr "$BASELINE" explain)
    fi
fi

# Streaming: 1 GiB from a pipe through cat, plain and in the sandbox.  Standard
# input is a pipe, so no pty and no relay: the command reads the pipe itself.
# Best of STREAM_RUNS runs each.
STREAM_RUNS=${STREAM_RUNS:-3}
stream() { # stream COMMAND... -> best wall time in seconds
    best=1e9 i=0
    while [ "$i" -lt "$STREAM_RUNS" ]; do
        t0=$(date +%s.%N)
        head -c 1073741824 /dev/zero | "$@" > /dev/null
        t1=$(date +%s.%N)
        best=$(awk -v b="$best" -v a="$t0" -v c="$t1" 'BEGIN { d = c - a; print (d < b ? d : b) }')
        i=$((i + 1))
    done
    echo "$best"
}
s_cat=$(stream cat)
s_bwrap=$(stream "$S" run --isolate bwrap -- cat)
s_native=$(stream "$S" run --isolate native -- cat)

# The egress proxy (issue 14): 100 MiB through a CONNECT tunnel next to a
# direct loopback transfer, and connection setup latency (tests/proxyrun).
proxy_lines=$("$work/proxy_bench" "$PWD/tests/proxyrun" "${PROXY_MIB:-100}" "${PROXY_CONNECTS:-200}")

med() { echo "$table" | awk -F'|' -v r="$1" '$2+0 == r { gsub(/ /, "", $4); print $4 }'; }
rss() { echo "$table" | awk -F'|' -v r="$1" '$2+0 == r { gsub(/ /, "", $7); print $7 }'; }
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "NOT met"; fi; }
r2=$(med 2) r3=$(med 3) r4=$(med 4) r5=$(med 5) r8=$(med 8)
t4=$(awk -v a="$r8" -v b="$r2" 'BEGIN { print (a <= 0.5 * b) }')
t1=$(awk -v a="$r3" -v b="$r2" 'BEGIN { print (a <= 1.10 * b) }')
d4=$(awk -v a="$r4" -v b="$r3" 'BEGIN { printf "%.2f", a - b }')
d5=$(awk -v a="$r5" -v b="$r3" 'BEGIN { printf "%.2f", a - b }')
t2=$(awk -v a="$d4" -v b="$d5" 'BEGIN { print (a <= 2 && b <= 2) }')
extra_rss=$(( $(rss 3) - $(rss 7) ))
t3=$(( extra_rss <= 4096 ))

{
    echo "# sandlot launch cost"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r), $(bwrap --version)," \
         "$RUNS alternating rounds after $WARMUP warm-up rounds."
    echo
    echo "$table"
    echo
    echo "Targets (ratios from this one run):"
    echo
    echo "- row 3 ≤ 1.10 × row 2: $(awk -v a="$r3" -v b="$r2" 'BEGIN { printf "%.2f", a / b }') × — $(verdict "$t1")"
    echo "- rows 4 and 5 add ≤ 2 ms over row 3: +$d4 ms, +$d5 ms — $(verdict "$t2")"
    echo "- row 8 (native) ≤ 0.5 × row 2: $(awk -v a="$r8" -v b="$r2" 'BEGIN { printf "%.2f", a / b }') × — $(verdict "$t4")"
    echo "  (its parts: the namespaces alone, row 9, are $(awk -v a="$(med 9)" -v b="$r2" 'BEGIN { printf "%.2f", a / b }') ×;" \
         "sandlot's policy work, row 6 − row 1, is $(awk -v a="$(med 6)" -v c="$(med 1)" -v b="$r2" 'BEGIN { printf "%.2f", (a - c) / b }') ×)"
    echo "- launcher peak RSS ≤ 4 MiB beyond the Lua VM's (row 3 − row 7): $extra_rss KiB — $(verdict "$t3")"
    echo
    echo "Streaming 1 GiB from a pipe through cat (best of $STREAM_RUNS):" \
         "plain $(printf '%.2f' "$s_cat") s;" \
         "sandlot run (bwrap) $(printf '%.2f' "$s_bwrap") s, $(awk -v a="$s_bwrap" -v b="$s_cat" 'BEGIN { printf "%.2f", a / b }') ×;" \
         "sandlot run (native) $(printf '%.2f' "$s_native") s, $(awk -v a="$s_native" -v b="$s_cat" 'BEGIN { printf "%.2f", a / b }') ×" \
         "(the launch included)."
    echo
    echo "Egress proxy (CONNECT tunnel to a local sink; best of 3 alternating transfers):"
    echo
    echo "$proxy_lines"
    if [ -n "${i_explain:-}" ]; then
        echo
        echo "Instructions (callgrind, deterministic):"
        echo
        echo "| work | instructions |"
        echo "|---|---:|"
        echo "| sandlot explain | $i_explain |"
        echo "| sandlot explain, +100 policy scripts | $i_scripts |"
        echo "| sandlot explain, +1000 policy scripts | $i_scripts1000 |"
        echo "| sandlot explain, 100 effects | $i_effects100 |"
        echo "| sandlot explain, 1000 effects | $i_effects |"
        echo "| lua5.4 on an empty chunk | $i_lua |"
        if [ -n "${i_base_explain:-}" ]; then
            echo "| baseline: sandlot explain | $i_base_explain |"
        fi
        echo
        per() { awk -v a="$1" -v b="$i_explain" -v n="$2" 'BEGIN { printf "%.0f", (a - b) / n }'; }
        echo "Linearity: per policy script $(per "$i_scripts" 100) instructions at 100," \
             "$(per "$i_scripts1000" 1000) at 1000; per effect $(per "$i_effects100" 100) at 100," \
             "$(per "$i_effects" 1000) at 1000."
    fi
} | tee bench/RESULTS.md
