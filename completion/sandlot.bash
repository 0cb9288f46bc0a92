# bash completion for sandlot(1) and noether-sandbox        -*- shell-script -*-
#
# Needs bash-completion (2.11 or later): _init_completion, _filedir,
# _command_offset and __ltrim_colon_completions.  Effects are completed
# after -e/--effects, one comma-separated item at a time, with paths after
# fs-read: and fs-write: (':' is in COMP_WORDBREAKS: _init_completion -n :
# keeps the word whole, __ltrim_colon_completions gives readline back only
# the part after the last colon).

_sandlot_effects="pure fallible network fs-read: fs-write: llm llm: non-deterministic
                  process cost cost: unknown"

# The last item of a comma-separated effect list in $1: effect names, or
# host paths after fs-read: and fs-write:, each prefixed with the items
# before it.
_sandlot_complete_effects()
{
    local word=$1 head=""
    if [[ $word == *,* ]]; then
        head=${word%,*},
        word=${word##*,}
    fi
    local f
    case $word in
        fs-read:* | fs-write:*)
            local kind=${word%%:*}: path=${word#*:}
            local IFS=$'\n'
            for f in $(compgen -f -- "$path"); do
                [[ -d $f && $f != */ ]] && f+=/
                COMPREPLY+=("$head$kind$f")
            done
            ;;
        *)
            for f in $(compgen -W "$_sandlot_effects" -- "$word"); do
                COMPREPLY+=("$head$f")
            done
            ;;
    esac
    # a kind that takes an argument, or a directory: keep typing
    if ((${#COMPREPLY[@]} == 1)) && [[ ${COMPREPLY[0]} == *[:/] ]]; then
        compopt -o nospace
    fi
}

_sandlot()
{
    local cur prev words cword split
    _init_completion -s -n : || return

    local name=${words[0]##*/} cmd i
    if [[ $name == noether-sandbox ]]; then
        cmd=noether-sandbox
        i=1
    else
        if ((cword == 1)); then
            COMPREPLY=($(compgen -W 'run explain repl check doctor noether-sandbox
                version help --help --version' -- "$cur"))
            return
        fi
        cmd=${words[1]}
        i=2
    fi

    # after "--" comes the command run in the sandbox
    for (( ; i < cword; i++)); do
        if [[ ${words[i]} == -- ]]; then
            case $cmd in
                run | explain | noether-sandbox) _command_offset $((i + 1)) ;;
            esac
            return
        fi
    done

    case $cmd in
        run | explain | repl)
            case $prev in
                -e | --effects)
                    _sandlot_complete_effects "$cur"
                    __ltrim_colon_completions "$cur"
                    return
                    ;;
                -p | --policy)
                    _filedir lua
                    return
                    ;;
                --effects-json | --policy-json | --status-json)
                    _filedir
                    return
                    ;;
                --work)
                    _filedir -d
                    return
                    ;;
                --isolate)
                    COMPREPLY=($(compgen -W 'auto native bwrap none' -- "$cur"))
                    return
                    ;;
                --env)
                    COMPREPLY=($(compgen -e -- "$cur"))
                    return
                    ;;
                --stage | --timeout | --kill-after | --host-id | --status-fd)
                    return
                    ;;
            esac
            $split && return
            if [[ $cur == -* || $cmd == repl ]]; then
                local opts='--effects --effects-json --policy --policy-json --env --stage
                    --work --isolate --require-isolation --unsafe-no-isolation --timeout
                    --kill-after --pty --no-pty --host-id --no-system-policies --verbose
                    --quiet --help'
                case $cmd in
                    run) opts+=' --status-json --status-fd' ;;
                    explain) opts+=' --json --argv' ;;
                esac
                COMPREPLY=($(compgen -W "$opts" -- "$cur"))
            elif [[ $cmd == run ]]; then
                COMPREPLY=($(compgen -W '--' -- "$cur"))
            fi
            ;;
        check)
            case $prev in
                -e | --effects)
                    _sandlot_complete_effects "$cur"
                    __ltrim_colon_completions "$cur"
                    return
                    ;;
                --effects-json)
                    _filedir json
                    return
                    ;;
            esac
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W '--effects --effects-json --quiet --help' -- "$cur"))
            else
                _filedir lua
            fi
            ;;
        doctor)
            COMPREPLY=($(compgen -W '--json --help' -- "$cur"))
            ;;
        version)
            COMPREPLY=($(compgen -W '--help' -- "$cur"))
            ;;
        noether-sandbox)
            case $prev in
                --policy-file)
                    _filedir
                    return
                    ;;
                --isolate)
                    COMPREPLY=($(compgen -W 'auto native bwrap none' -- "$cur"))
                    return
                    ;;
            esac
            $split && return
            COMPREPLY=($(compgen -W '--isolate= --require-isolation --policy-file --help --' \
                -- "$cur"))
            [[ ${COMPREPLY-} == *= ]] && compopt -o nospace
            ;;
    esac
} &&
    complete -F _sandlot sandlot noether-sandbox

# ex: filetype=sh
