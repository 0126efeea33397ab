# shellcheck shell=bash
# Settings: settings.env checked against settings.rules, the table the bake writes from the
# template's answer schema (one source for the bake, the audit and this check). First as text,
# before bash sources it (make runs the same check before it includes it: scripts/check-settings.sh),
# then value by value and across values before any API call. Each failure names the setting
# and the fix. Needs die (log.sh); jq only for the region check.

SETTINGS_FILE=settings.env
SETTINGS_RULES_FILE=settings.rules
declare -A _RULE_NEED=() _RULE_KIND=() _RULE_A=() _RULE_B=() _RULE_YAML=() _RULE_FIX=() _CONST=()
_RULE_KEYS=()

# load_settings_rules: read settings.rules (once); sets MAX_WORKERS, the one worker limit.
load_settings_rules() {
  ((${#_RULE_KEYS[@]})) && return 0
  [[ -s "$SETTINGS_RULES_FILE" ]] || die "$SETTINGS_RULES_FILE is missing: re-bake the cluster repo"
  local type key need kind a b yaml fix
  while IFS=$'\t' read -r type key need kind a b yaml fix; do
    case $type in
      const) _CONST[$key]=$need ;; # const NAME VALUE: the value is the third column
      field)
        _RULE_KEYS+=("$key")
        _RULE_NEED[$key]=$need _RULE_KIND[$key]=$kind _RULE_A[$key]=$a _RULE_B[$key]=$b
        _RULE_YAML[$key]=$yaml _RULE_FIX[$key]=$fix
        ;;
    esac
  done <"$SETTINGS_RULES_FILE"
  MAX_WORKERS=${_CONST[MAX_WORKERS]}
  NODE_SUBNET_PREFIX=${_CONST[NODE_SUBNET_PREFIX]}
}

# check_settings_text [FILE]: every line is empty, a comment, or KEY=VALUE with a value of
# inert characters only, so `include` (make) and `source` (bash) read the same plain values
# and neither can run anything. Prints the problems; returns 1 if any.
check_settings_text() {
  local LC_ALL=C file=${1:-$SETTINGS_FILE} n=0 line key value problems=()
  load_settings_rules
  local inert=${_CONST[INERT_VALUE]} known=${_CONST[SETTINGS_KEYS]:-}
  [[ -n "$known" ]] || problems+=("$SETTINGS_RULES_FILE lacks SETTINGS_KEYS; re-bake the cluster repo")
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$((n + 1))
    if [[ -z "$line" ]]; then
      continue
    elif [[ "$line" == '#'* ]]; then
      [[ "$line" != *\\ ]] ||
        problems+=("$file:$n: a comment ending in '\\' swallows the next line in make; remove the '\\'")
    elif [[ "$line" =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]]; then
      key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
      # only the settings the bake wrote (SETTINGS_KEYS): not a misspelt one, nor make's or
      # the shell's own variables (MAKEFLAGS, SHELL, PATH)
      [[ " $known " == *" $key "* ]] ||
        problems+=("$key ($file:$n): not a setting of this cluster (a misspelt name? settings.rules' SETTINGS_KEYS lists them); correct or remove it")
      [[ "$value" =~ $inert ]] ||
        problems+=("$key ($file:$n): ${value@Q} may only hold ${_CONST[INERT_CHARS]} (make and bash read it unquoted); correct it or re-bake")
    else
      problems+=("$file:$n: ${line@Q} is not a KEY=value line (make includes this file, bash sources it); remove it")
    fi
  done <"$file"
  ((${#problems[@]} == 0)) && return 0
  {
    echo "ERROR: $file is refused; nothing was run:"
    printf '  - %s\n' "${problems[@]}"
  } >&2
  return 1
}

# load_settings: the checked settings.env, sourced.
load_settings() {
  check_settings_text || exit 1
  # shellcheck source=settings.env
  source "$SETTINGS_FILE"
}

# settings_record KEY VALUE: settings.env's KEY line set to VALUE (it must pass KEY's rule;
# the file is replaced in one rename, its mode kept), so that the next target reads what a
# day-two step made of the cluster (make scale WORKERS=N: WORKER_COUNT).
settings_record() {
  local key=$1 value=$2 problem
  problem=$(rule_problem "$key" "$value")
  [[ -z "$problem" ]] || die "not recording $key=$value in $SETTINGS_FILE: $problem"
  grep -q "^$key=" "$SETTINGS_FILE" || die "$SETTINGS_FILE has no $key line: re-bake the cluster repo"
  sed "s|^$key=.*|$key=$value|" "$SETTINGS_FILE" >"$SETTINGS_FILE.tmp"
  chmod --reference="$SETTINGS_FILE" "$SETTINGS_FILE.tmp"
  mv "$SETTINGS_FILE.tmp" "$SETTINGS_FILE"
}

# rule_problem KEY VALUE: what is wrong with VALUE under KEY's rule (nothing: it passes).
# Mirrors generator/schema.py problem(); tests/test_settings_check.py compares the two.
rule_problem() {
  local LC_ALL=C key=$1 value=$2
  local kind=${_RULE_KIND[$key]} a=${_RULE_A[$key]} b=${_RULE_B[$key]} fix=${_RULE_FIX[$key]}
  local shown=${value@Q}
  if [[ "$value" =~ ^[[:space:]]|[[:space:]]$|[[:cntrl:]] ]]; then
    echo "$shown has leading/trailing whitespace or a control character; remove it: values are never trimmed"
    return
  fi
  local problem=""
  case $kind in
    pattern) ((${#value} <= a)) && [[ "$value" =~ $b ]] || problem="$shown is not valid; $fix" ;;
    int)
      [[ "$value" =~ ^([1-9][0-9]{0,8}|0)$ ]] && ((value >= a && value <= b)) ||
        problem="$shown is not valid; $fix"
      ;;
    cidr) problem=$(_cidr_problem "$value" "$fix") ;;
    ip) _ip_int "$value" >/dev/null || problem="$shown is not an IPv4 address; $fix" ;;
  esac
  if [[ -z "$problem" && ${_RULE_YAML[$key]} == yaml ]] && _reads_as_non_text "$value"; then
    problem="$shown would read as a number, bool or null in the generated YAML; include a letter and avoid yes/no/on/off/true/false/null"
  fi
  [[ -z "$problem" ]] || echo "$problem"
}

_reads_as_non_text() {
  local word number=${_CONST[YAML_NUMBER]}
  for word in ${_CONST[YAML_WORDS]}; do
    [[ "${1,,}" == "$word" ]] && return 0
  done
  [[ "$1" =~ $number ]]
}

# _ip_int A.B.C.D: the address as a number; fails unless canonical dotted-quad IPv4.
_ip_int() {
  local octet='(0|[1-9][0-9]{0,2})'
  [[ "$1" =~ ^$octet\.$octet\.$octet\.$octet$ ]] || return 1
  local i n=0
  for i in 1 2 3 4; do
    ((BASH_REMATCH[i] <= 255)) || return 1
    n=$((n * 256 + BASH_REMATCH[i]))
  done
  echo "$n"
}

_ip_text() {
  echo "$(($1 >> 24 & 255)).$(($1 >> 16 & 255)).$(($1 >> 8 & 255)).$(($1 & 255))"
}

# _cidr_parts CIDR: "NETWORK PREFIX" as numbers for a canonical IPv4 prefix CIDR.
_cidr_parts() {
  local addr prefix=${1#*/}
  [[ "$1" == */* ]] && addr=$(_ip_int "${1%/*}") || return 1
  [[ "$prefix" =~ ^([0-9]|[12][0-9]|3[0-2])$ ]] || return 1
  local mask=$(((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
  ((addr == (addr & mask))) || return 1
  echo "$addr $prefix"
}

_cidr_problem() {
  local fix=$2 addr mask prefix
  _cidr_parts "$1" >/dev/null && return 0
  if [[ "$1" == */* ]] && addr=$(_ip_int "${1%/*}"); then
    prefix=${1#*/}
    if mask=$(_ip_int "$prefix"); then # netmask form: its prefix, if the mask is contiguous
      prefix=0
      while ((prefix < 32 && (mask >> (31 - prefix) & 1))); do prefix=$((prefix + 1)); done
      ((mask == ((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))) || prefix=x
    fi
    if [[ "$prefix" =~ ^([0-9]|[12][0-9]|3[0-2])$ ]]; then
      mask=$(((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
      echo "${1@Q} is not in canonical prefix form; write $(_ip_text $((addr & mask)))/$prefix"
      return
    fi
  fi
  echo "${1@Q} is not a network in CIDR notation; $fix"
}

# check_settings: every setting of settings.rules (derived ones when present), the pod network's room for the workers
# (WORKERS or WORKER_COUNT), the service range, and the region the droplets were created in.
# Stops before any API call, listing each problem with its fix.
check_settings() {
  load_settings_rules
  local key problem problems=()
  for key in "${_RULE_KEYS[@]}"; do
    if [[ -z "${!key+set}" ]]; then
      [[ ${_RULE_NEED[$key]} != required ]] ||
        problems+=("$key: missing from settings.env; re-bake or add $key=...")
    elif problem=$(rule_problem "$key" "${!key}") && [[ -n "$problem" ]]; then
      problems+=("$key: ${problem//$'\n'/; }")
    fi
  done
  if ((${#problems[@]} == 0)); then
    while IFS= read -r problem; do
      [[ -z "$problem" ]] || problems+=("$problem")
    done < <(_settings_across)
  fi
  ((${#problems[@]} == 0)) && return 0
  die "settings.env has ${#problems[@]} problem(s); nothing was sent to DigitalOcean:$(printf '\n  - %s' "${problems[@]}")"
}

# _settings_across: the rules between settings (each problem on one line).
_settings_across() {
  local workers=$WORKER_COUNT pods services prefix fits dns first
  if [[ -n "${WORKERS:-}" ]]; then
    if [[ "$WORKERS" =~ ^[1-9][0-9]{0,8}$ ]] && ((WORKERS <= MAX_WORKERS)); then
      ((WORKERS > workers)) && workers=$WORKERS
    else
      echo "WORKERS=${WORKERS@Q}: use a number of workers from 1 to $MAX_WORKERS"
    fi
  fi
  read -r pods prefix < <(_cidr_parts "$POD_NETWORK")
  fits=0
  ((prefix > NODE_SUBNET_PREFIX)) || fits=$((1 << (NODE_SUBNET_PREFIX - prefix)))
  local nodes=$((workers + CONTROLLER_COUNT))
  if ((fits < nodes)); then
    local wide=$NODE_SUBNET_PREFIX
    while (((1 << (NODE_SUBNET_PREFIX - wide)) < nodes)); do wide=$((wide - 1)); done
    echo "POD_NETWORK: $POD_NETWORK holds $fits node subnet(s) (/$NODE_SUBNET_PREFIX each) but $CONTROLLER_COUNT controller(s) and $workers worker(s) need $nodes; use a /$wide or larger network (re-bake) or fewer workers"
  fi
  local sprefix smask pmask
  read -r services sprefix < <(_cidr_parts "$SERVICE_CIDR")
  smask=$(((0xFFFFFFFF << (32 - sprefix)) & 0xFFFFFFFF))
  pmask=$(((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
  if (((pods & smask) == services || (services & pmask) == pods)); then
    echo "SERVICE_CIDR: $SERVICE_CIDR overlaps POD_NETWORK $POD_NETWORK; pick disjoint ranges (re-bake)"
  fi
  dns=$(_ip_int "$DNS_SERVICE_IP")
  (((dns & smask) == services)) ||
    echo "DNS_SERVICE_IP: $DNS_SERVICE_IP is outside SERVICE_CIDR $SERVICE_CIDR; pick an address inside it (re-bake)"
  first=$(_ip_text $((services + 1)))
  [[ "${APISERVER_SERVICE_IP:-$first}" == "$first" ]] ||
    echo "APISERVER_SERVICE_IP: $APISERVER_SERVICE_IP is not the first address of SERVICE_CIDR $SERVICE_CIDR ($first); re-bake"
  _region_problems
}

# _region_problems: droplets recorded under state/droplets/ in another region than REGION
# (the record's region is the API droplet's region.slug, kept by JQ_RECORD in doctl.sh; godo's
# Droplet.Region, digitalocean/godo droplets.go). No API call: records predating it are skipped.
_region_problems() {
  local records=("$DROPLET_STATE_DIR"/*.json) name created_in
  [[ -e "${records[0]}" ]] || return 0
  while IFS=$'\t' read -r name created_in; do
    [[ -z "$created_in" || "$created_in" == "$REGION" ]] ||
      echo "REGION: $REGION, but $name was created in $created_in; set REGION=$created_in back (one cluster lives in one region; to move it, make destroy first)"
  done < <(jq -r '[.name // "?", .region // ""] | @tsv' "${records[@]}")
}
