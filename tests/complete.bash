# Complete a command line as bash would at its end, with bash-completion
# and the completion file loaded; print the candidates, one per line.
#   bash tests/complete.bash COMPLETION_FILE LINE
# The line is cut into COMP_WORDS as readline cuts it: at blanks, and at
# each ':' or '=' (COMP_WORDBREAKS), which become words of their own.
source /usr/share/bash-completion/bash_completion || exit 1
source "$1" || exit 1
line=$2
COMP_LINE=$line
COMP_POINT=${#line}
read -ra blank <<<"$line"
[[ $line == *' ' ]] && blank+=("")
COMP_WORDS=()
for w in "${blank[@]}"; do
    while [[ $w == *[:=]* ]]; do
        pre=${w%%[:=]*}
        [[ -n $pre ]] && COMP_WORDS+=("$pre")
        COMP_WORDS+=("${w:${#pre}:1}")
        w=${w:${#pre}+1}
    done
    [[ -n $w || ${#COMP_WORDS[@]} -eq 0 || ${COMP_WORDS[-1]} != [:=] ]] && COMP_WORDS+=("$w")
done
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
complete -p "${COMP_WORDS[0]}" >/dev/null || exit 1
_sandlot "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"
