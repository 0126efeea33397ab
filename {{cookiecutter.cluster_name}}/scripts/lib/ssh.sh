# shellcheck shell=bash
# ssh/scp to the droplets and the tutorial's TLS install.

# forget_host IP: drop IP from the repo's known_hosts (a re-created droplet has a new host key).
forget_host() {
  local ip=$1
  [[ -n "$ip" && -f "$KNOWN_HOSTS" ]] || return 0
  if grep -qE "^(\[?$ip\]?[ ,])" "$KNOWN_HOSTS"; then
    grep -vE "^(\[?$ip\]?[ ,])" "$KNOWN_HOSTS" >"$KNOWN_HOSTS.tmp" || true
    mv "$KNOWN_HOSTS.tmp" "$KNOWN_HOSTS"
  fi
}

remote() {
  local ip=$1
  shift
  # shellcheck disable=SC2029 # the command is meant to run on the droplet
  ssh "${SSH_OPTS[@]}" "$SSH_USER@$ip" "$@"
}

# local_path FILE: FILE, as ./FILE when relative: scp and tar read "host:path" in a name with
# a colon before its first slash (BACKUP=pre:v2 would name a host "pre").
local_path() {
  if [[ "$1" == /* ]]; then echo "$1"; else echo "./$1"; fi
}

# copy_to IP FILE...: scp FILE... (local_path) to SSH_USER's home on IP.
copy_to() {
  local ip=$1 files=() f
  shift
  for f; do
    files+=("$(local_path "$f")")
  done
  scp -q "${SSH_OPTS[@]}" "${files[@]}" "$SSH_USER@$ip:~"
}

# ssh_retry NAME IP COMMAND...: run COMMAND (remote or copy_to), retrying while ssh cannot
# connect (exit 255), bounded by SSH_TIMEOUT_SECONDS. A droplet is ready when ssh answers, not
# when the API says "active" (doctl issue 1003: --wait returns before sshd runs); a line every
# SSH_HEARTBEAT_SECONDS says the wait goes on.
ssh_retry() {
  local name=$1 ip=$2 start now deadline beat rc err
  shift 2
  start=$(_now_ms)
  deadline=$((start + SSH_TIMEOUT_SECONDS * 1000))
  beat=$((start + SSH_HEARTBEAT_SECONDS * 1000))
  mkdir -p "$LOG_DIR"
  err=$LOG_DIR/$name.ssh-error
  while true; do
    rc=0
    "$@" 2>"$err" || rc=$?
    if ((rc == 0)); then
      [[ -s "$err" ]] || rm -f "$err" # nothing to tell: no empty *.ssh-error left behind
      return 0
    fi
    if ((rc != 255)); then
      error "$1 on $name ($ip) failed (exit $rc): $(tr '\n' ' ' <"$err")"
      return 1
    fi
    now=$(_now_ms)
    if ((now >= beat)); then
      log "$name ($ip): ssh does not answer yet after $(((now - start) / 1000))s, waiting up to" \
        "${SSH_TIMEOUT_SECONDS}s: $(tr '\n' ' ' <"$err")"
      beat=$((now + SSH_HEARTBEAT_SECONDS * 1000))
    fi
    if ((now >= deadline)); then
      error "timed out after ${SSH_TIMEOUT_SECONDS}s waiting for ssh on $name ($ip):" \
        "$(tr '\n' ' ' <"$err")(SSH_TIMEOUT_SECONDS; is the key '$SSH_KEY_NAME' in your ssh-agent?)"
      return 1
    fi
    sleep 0.5
  done
}

# deliver_tls NAME IP STATE_KEY WHAT WHERE SCRIPT CERT KEY: the tutorial's way of installing
# TLS assets: scp CERT, KEY and the CA to ~core on NAME, then run SCRIPT there over ssh (it
# moves them WHERE, as root). Skipped when this very CERT and CA were delivered before (the
# droplet's state key STATE_KEY); WHAT names them in the log.
deliver_tls() {
  local name=$1 ip=$2 state_key=$3 what=$4 where=$5 script=$6 cert=$7 key=$8 sha
  sha=$(cat "$cert" "$PKI_DIR/ca.pem" | sha256_of)
  if [[ "$(state_get "$name" "$state_key")" == "$sha" ]]; then
    log "$name: $what already installed ($(basename "$cert"))"
    return 0
  fi
  log "$name: copying $(basename "$cert") $(basename "$key") ca.pem to $SSH_USER@$ip:~"
  ssh_retry "$name" "$ip" copy_to "$ip" "$key" "$cert" "$PKI_DIR/ca.pem" || return 1
  log "$name: installing $what $where"
  ssh_retry "$name" "$ip" remote "$ip" "$script" || return 1
  state_set "$name" "$state_key" "$sha"
}

# install_tls NAME IP CERT KEY [LINK_NAME]: into SSL_DIR, root:root, the key 0600, and
# (workers) the generic symlinks LINK_NAME.pem and LINK_NAME-key.pem.
install_tls() {
  local name=$1 ip=$2 cert=$3 key=$4 link=${5:-} certf keyf
  certf=$(basename "$cert")
  keyf=$(basename "$key")
  local script="sudo mkdir -p $SSL_DIR && sudo mv $keyf $certf ca.pem $SSL_DIR/"
  script+=" && sudo chown root:root $SSL_DIR/$certf $SSL_DIR/$keyf $SSL_DIR/ca.pem"
  script+=" && sudo chmod 600 $SSL_DIR/$keyf"
  if [[ -n "$link" ]]; then
    script+=" && sudo ln -sf $SSL_DIR/$certf $SSL_DIR/$link.pem"
    script+=" && sudo ln -sf $SSL_DIR/$keyf $SSL_DIR/$link-key.pem"
  fi
  deliver_tls "$name" "$ip" tls_sha256 "TLS assets" "into $SSL_DIR (root:root, keys 0600)" \
    "$script" "$cert" "$key"
}
