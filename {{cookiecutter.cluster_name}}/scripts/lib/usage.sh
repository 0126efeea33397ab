# shellcheck shell=bash
# Every script's command line, checked before anything else runs (sourced ahead of common.sh:
# no settings read, no lock taken, no API call). The script's header comment is its help, and
# its "# usage: scripts/NAME.sh [OPTION...]" line, when it has one, declares what it accepts:
# "[-o text|json]" an option with a value, "[--planned]" a switch. A script without that line
# takes no argument.
#
# usage_check "$@": -h/--help prints the help and exits 0; an argument the usage line does not
# declare prints the help to stderr and exits 2.

# _usage_synopsis SCRIPT: the usage line's text after "usage: " (empty when there is none).
_usage_synopsis() {
  sed -n 's/^# usage: //p' "$1" | head -n 1
}

# usage_help SCRIPT: "usage: ..." and the header comment (shebang and directives left out).
usage_help() {
  local script=$1 synopsis
  synopsis=$(_usage_synopsis "$script")
  echo "usage: ${synopsis:-scripts/$(basename "$script")}"
  sed -n '2,/^[^#]/{/^#/!d;/^# usage: /d;/^# shellcheck /d;s/^# \{0,1\}/  /;p;}' "$script"
}

# _usage_fail SCRIPT MESSAGE
_usage_fail() {
  {
    echo "$(basename "$1"): $2"
    usage_help "$1"
  } >&2
  exit 2
}

usage_check() {
  local script=${BASH_SOURCE[1]} group opt value switches=" " valued=" " arg
  while read -r opt value; do
    [[ -n "$opt" ]] || continue
    if [[ -n "$value" ]]; then valued+="$opt "; else switches+="$opt "; fi
  done < <(_usage_synopsis "$script" | grep -oE '\[-[^]]*\]' | tr -d '[]')
  while (($#)); do
    arg=$1
    shift
    case $arg in
      -h | --help)
        usage_help "$script"
        exit 0
        ;;
    esac
    if [[ "$switches" == *" $arg "* ]]; then
      continue
    elif [[ "$valued" == *" $arg "* ]]; then
      (($#)) || _usage_fail "$script" "$arg needs a value"
      shift
    elif [[ "$arg" == --*=* && "$valued" == *" ${arg%%=*} "* ]]; then
      continue
    else
      group=unknown
      [[ "$arg" == -* ]] || group=unexpected
      _usage_fail "$script" "$group argument '$arg'"
    fi
  done
}
