# shellcheck shell=bash
# Logging with timestamps, steps that report their duration, the closing summary.

_now_ms() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local t=${EPOCHREALTIME/[.,]/}
    echo $((10#$t / 1000))
  else
    echo $((SECONDS * 1000))
  fi
}

# fmt_ms MILLISECONDS -> "12.3s"
fmt_ms() {
  printf '%d.%ds' $(($1 / 1000)) $((($1 % 1000) / 100))
}

_RUN_START_MS=$(_now_ms)
_STEP_NAME=""
_STEP_START_MS=0
_PHASES=()

log() {
  printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

warn() {
  log "WARNING: $*"
}

die() {
  log "ERROR: $*"
  exit 1
}

# step DESCRIPTION: announce what is created or waited for; step_done closes it with its duration.
step() {
  _STEP_NAME=$*
  _STEP_START_MS=$(_now_ms)
  log "==> $*"
}

step_done() {
  local detail=${1:-} took
  took=$(fmt_ms $(($(_now_ms) - _STEP_START_MS)))
  log "    done in $took${detail:+: $detail}"
  # the summary's "phases:" line names each step by its description's head
  local phase=${_STEP_NAME%% (*}
  _PHASES+=("${phase%%: *} $took")
}

# indent < text: show command output under the current step.
indent() {
  sed 's/^/    /' >&2
}

run_elapsed() {
  fmt_ms $(($(_now_ms) - _RUN_START_MS))
}

# summary TITLE LINE...: the closing block of every target.
summary() {
  local title=$1
  shift
  {
    echo
    echo "---- $title ($(run_elapsed)) ----"
    local line
    for line in "$@"; do
      echo "  $line"
    done
    if ((${#_PHASES[@]})); then
      local IFS='|'
      line="${_PHASES[*]}"
      echo "  phases: ${line//|/, }"
    fi
  } >&2
}

# output_format ARGS...: the -o text|json option (default: OUTPUT, else text) of the scripts
# that print for people or for other scripts.
output_format() {
  local opt output=${OUTPUT:-text} OPTIND=1
  while getopts 'o:' opt; do
    case $opt in
      o) output=$OPTARG ;;
      *) die "usage: $0 [-o text|json]" ;;
    esac
  done
  [[ "$output" == text || "$output" == json ]] || die "-o $output: expected text or json"
  echo "$output"
}
