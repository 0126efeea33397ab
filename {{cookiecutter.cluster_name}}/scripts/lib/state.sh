# shellcheck shell=bash
# Apply state under state/: a cache of what the API said (the API is the truth).

state_file() {
  echo "$DROPLET_STATE_DIR/$1.json"
}

# save_record NAME [KEY VALUE [if-absent]]: state/droplets/NAME.json from CLUSTER_LIST; keeps
# the extra keys (tls_sha256, user_data_sha256) of the same droplet id, drops them when the
# droplet was re-created (and forgets the old and new IPs' host keys); sets KEY (only when the
# record lacks it with if-absent). Rewrites only what changed.
save_record() {
  local name=$1 key=${2:-} value=${3:-} only_absent=${4:-} file old out old_id merged
  file=$(state_file "$name")
  old='{}'
  [[ -s "$file" ]] && old=$(<"$file")
  out=$({ printf '%s\n' "$CLUSTER_LIST"; printf '%s\n' "$old"; } |
    jq -nc --arg n "$name" --arg k "$key" --arg v "$value" --arg keep "$only_absent" '
      input as $list | input as $old
    | ($list[] | select(.name == $n)) as $rec
    | ($old.id // "" | tostring),
      (if $old.id == $rec.id then ($old + $rec) else $rec end
       | if $k != "" and ($keep == "" or (.[$k] // "") == "") then .[$k] = $v else . end),
      ($old.public_ip // ""), $rec.public_ip, ($rec.id | tostring)')
  local lines=()
  while IFS= read -r line; do lines+=("$line"); done <<<"$out"
  old_id=${lines[0]//\"/}
  merged=${lines[1]}
  if [[ "$merged" != "$old" ]]; then
    printf '%s\n' "$merged" >"$file.tmp"
    mv "$file.tmp" "$file"
  fi
  if [[ "$old_id" != "${lines[4]//\"/}" ]]; then
    forget_host "${lines[3]//\"/}"
    forget_host "${lines[2]//\"/}"
  fi
}

# state_get NAME KEY: a value from state/droplets/NAME.json (empty if none)
state_get() {
  local file
  file=$(state_file "$1")
  [[ -s "$file" ]] || return 0
  jq -r --arg k "$2" '.[$k] // ""' "$file"
}

# state_set NAME KEY VALUE
state_set() {
  local file
  file=$(state_file "$1")
  jq -c --arg k "$2" --arg v "$3" '.[$k] = $v' "$file" >"$file.tmp"
  mv "$file.tmp" "$file"
}

# node_done NAME KEY RUN: NAME finished the run RUN of a one-node-at-a-time job (state key KEY:
# make rotate-certs' "rotation", make upgrade's "upgrade"), said in the log; a re-run of an
# interrupted job skips it. The job records it with state_set NAME KEY RUN once NAME is done.
node_done() {
  [[ "$(state_get "$1" "$2")" == "$3" ]] || return 1
  log "$1: done in this $2 ($3) already"
}

# write_if_changed FILE < content: replace FILE only when the content differs (re-runs
# leave files untouched). Prints "created", "updated" or "unchanged".
write_if_changed() {
  local file=$1 tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat >"$tmp"
  if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    echo unchanged
  elif [[ -f "$file" ]]; then
    chmod 0644 "$tmp"
    mv "$tmp" "$file"
    echo updated
  else
    chmod 0644 "$tmp"
    mv "$tmp" "$file"
    echo created
  fi
}

# files_of NAME: the local files that belong to droplet NAME (existing or not).
files_of() {
  local name=$1
  printf '%s\n' "$(state_file "$name")" "$USER_DATA_DIR/$name.yaml" \
    "$LOG_DIR/$name.log" "$LOG_DIR/$name.ssh-error"
  profile_pki_files "$name"
  [[ "$name" != "$CONTROLLER_NAME" ]] || echo "$KUBECONFIG_FILE"
}

# existing < FILES: those of the paths (one a line) that exist, relative to the cluster repo.
existing() {
  local f
  while IFS= read -r f; do
    [[ -e "$f" ]] && echo "${f#"$CLUSTER_DIR"/}"
  done
  return 0
}
