# shellcheck shell=bash
# One apply at a time per cluster: every mutating target holds an flock on state/apply.lock.
# Without it two `make worker` runs both list, both find the workers missing, and both create
# them (4 droplets for WORKERS=2).

# Seconds a second run waits for the lock before it stops (overridable from the environment).
APPLY_LOCK_SECONDS=${APPLY_LOCK_SECONDS:-600}

# lock_holder FILE: the holder's line ("make TARGET, pid N on HOST, since ..."), or nothing
# when it names a process of this host that is gone: a finished run's line, read in the instant
# between the new holder's flock and its writing its own.
lock_holder() {
  local line
  line=$(head -n1 "$1" 2>/dev/null || true)
  if [[ "$line" =~ ^make\ [^,]*,\ pid\ ([0-9]+)\ on\ ([^ ,]+), ]] &&
    [[ "${BASH_REMATCH[2]}" == "$(uname -n)" ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    return 0
  fi
  printf '%s\n' "$line"
}

# apply_lock TARGET: take the cluster's lock for the rest of this process (the kernel releases
# it when the process exits, however it exits), then write who holds it into the lock file.
# A run that cannot get it within APPLY_LOCK_SECONDS stops, naming the holder. A script run
# by `make up` (scripts/up.sh) inherits its descriptor APPLY_LOCK_FD, open on the same lock:
# flock on that very descriptor succeeds at once (the lock is its open file's), where opening
# the file again would wait for make up itself. An APPLY_LOCK_FD open on anything else, or not
# open, is ignored.
apply_lock() {
  local target=$1 file=$STATE_DIR/apply.lock holder
  command -v flock >/dev/null 2>&1 ||
    die "missing tool: flock (util-linux; on macOS: brew install flock): every apply holds a lock"
  mkdir -p "$STATE_DIR"
  if [[ "${APPLY_LOCK_FD:-}" =~ ^[0-9]+$ && /dev/fd/$APPLY_LOCK_FD -ef "$file" ]] &&
    flock -n "$APPLY_LOCK_FD"; then
    return 0
  fi
  # opened read-write without truncating: the holder's line stays readable while we wait
  exec {APPLY_LOCK_FD}<>"$file"
  if ! flock -n "$APPLY_LOCK_FD"; then
    holder=$(lock_holder "$file")
    log "waiting up to ${APPLY_LOCK_SECONDS}s for $file, held by: ${holder:-unknown}"
    if ! flock -w "$APPLY_LOCK_SECONDS" "$APPLY_LOCK_FD"; then
      holder=$(lock_holder "$file")
      die "another apply of cluster $CLUSTER_NAME holds $file (${holder:-holder unknown})" \
        "after ${APPLY_LOCK_SECONDS}s (APPLY_LOCK_SECONDS): let it finish, or if that process" \
        "is gone, re-run (a dead holder's lock is released by the kernel)"
    fi
  fi
  printf 'make %s, pid %s on %s, since %(%Y-%m-%dT%H:%M:%S%z)T\n' \
    "$target" "$$" "$(uname -n)" -1 >"$file"
}
