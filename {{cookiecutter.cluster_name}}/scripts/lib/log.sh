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

# _ms_of SECONDS (may have a fraction) -> milliseconds; _s_of MILLISECONDS -> "S.mmm"
_ms_of() {
  local int=${1%%.*} frac=0
  [[ "$1" == *.* ]] && frac=${1#*.}
  frac=${frac}000
  echo $((10#${int:-0} * 1000 + 10#${frac:0:3}))
}

_s_of() {
  printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

_RUN_START_MS=$(_now_ms)
_STEP_NAME=""
_STEP_START_MS=0
_PHASES=()

# Colour only where a person reads it: stderr is a terminal, NO_COLOR is unset or empty
# (https://no-color.org) and TERM is not dumb. Errors red, warnings yellow, steps bold.
if [[ -t 2 && -z "${NO_COLOR:-}" && "${TERM:-dumb}" != dumb ]]; then
  _COLOUR_ERROR=$'\e[1;31m' _COLOUR_WARN=$'\e[33m' _COLOUR_STEP=$'\e[1m' _COLOUR_OFF=$'\e[0m'
else
  _COLOUR_ERROR="" _COLOUR_WARN="" _COLOUR_STEP="" _COLOUR_OFF=""
fi

log() {
  printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

warn() {
  log "${_COLOUR_WARN}WARNING: $*${_COLOUR_OFF}"
}

error() {
  log "${_COLOUR_ERROR}ERROR: $*${_COLOUR_OFF}"
}

die() {
  error "$@"
  exit 1
}

# step DESCRIPTION: announce what is created or waited for; step_done closes it with its duration.
step() {
  _STEP_NAME=$*
  _STEP_START_MS=$(_now_ms)
  log "${_COLOUR_STEP}==> $*${_COLOUR_OFF}"
}

step_done() {
  local detail=${1:-} took
  took=$(fmt_ms $(($(_now_ms) - _STEP_START_MS)))
  log "    done in $took${detail:+: $detail}"
  # the summary's "phases:" line names each step by its description's head
  local phase=${_STEP_NAME%% (*}
  _PHASES+=("${phase%%: *} $took")
}

# Bounded waits say what they wait for, the time elapsed and the limit, at least every
# HEARTBEAT_SECONDS (10): wait_begin WHAT LIMIT_SECONDS starts one, wait_sleep SECONDS sleeps
# in it (in slices no longer than the heartbeat), heartbeat speaks when one is due.
HEARTBEAT_SECONDS=${HEARTBEAT_SECONDS:-10}

wait_begin() {
  _WAIT_WHAT=$1
  _WAIT_LIMIT=$2
  _WAIT_START_MS=$(_now_ms)
  _WAIT_BEAT_MS=$_WAIT_START_MS
}

wait_sleep() {
  local left_ms beat_ms slice_ms
  left_ms=$(_ms_of "$1")
  beat_ms=$(_ms_of "$HEARTBEAT_SECONDS")
  while ((left_ms > 0)); do
    slice_ms=$((_WAIT_BEAT_MS + beat_ms - $(_now_ms)))
    ((slice_ms > 0)) || slice_ms=0
    ((slice_ms < left_ms)) || slice_ms=$left_ms
    sleep "$(_s_of "$slice_ms")"
    left_ms=$((left_ms - slice_ms))
    heartbeat
  done
}

heartbeat() {
  local now_ms
  now_ms=$(_now_ms)
  ((now_ms - _WAIT_BEAT_MS >= $(_ms_of "$HEARTBEAT_SECONDS"))) || return 0
  _WAIT_BEAT_MS=$now_ms
  log "    ... still waiting for $_WAIT_WHAT: $(fmt_ms $((now_ms - _WAIT_START_MS))) elapsed," \
    "limit ${_WAIT_LIMIT}s"
}

# table [PREFIX] < TAB-separated rows: each row on a line, every column but the last padded
# to its widest cell (aligned whatever the names' lengths).
table() {
  awk -F'\t' -v prefix="${1:-}" '
    { row[NR] = $0; for (i = 1; i < NF; i++) if (length($i) > width[i]) width[i] = length($i) }
    END {
      for (r = 1; r <= NR; r++) {
        n = split(row[r], cell, "\t"); line = prefix
        for (i = 1; i < n; i++) line = line sprintf("%-" width[i] "s ", cell[i])
        print line cell[n]
      }
    }'
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
