# shellcheck shell=bash
# Checks on a backup before make restore stops anything (both profiles): backup.json well
# formed and made of this cluster, the archive whole, its entries inside their directory and
# laid out as the profile's etcd writes them. Each stops with the field or entry at fault and
# the fact that nothing was changed.

# backup_meta_verify DIR: DIR/backup.json is a JSON object with the fields make backup writes
# (member, taken_at, keys, etcd_count; since issue 18 also cluster, etcd_version, members,
# archive_sha256), and names this cluster (another cluster's, or one that does not say, only
# with FORCE_OTHER_CLUSTER=1). Sets BACKUP_META (compact JSON).
BACKUP_META=""
backup_meta_verify() {
  local dir=$1 problems cluster
  BACKUP_META=$(jq -ce 'if type == "object" then . else error("not an object") end' \
    "$dir/backup.json" 2>&1) ||
    die "$dir/backup.json is not a JSON object ($(head -n1 <<<"$BACKUP_META")): not a backup" \
      "make backup wrote, or damaged; nothing was changed"
  problems=$(jq -r '[
      (if (.member | type) != "string" or .member == "" then "member (the droplet backed up)" else empty end),
      (if (.taken_at | type) != "string" or (.taken_at | test("^[0-9]{8}T[0-9]{6}Z$") | not) then "taken_at (UTC stamp)" else empty end),
      (if (.keys | type) != "number" then "keys (a number)" else empty end),
      (if (.etcd_count | type) != "number" then "etcd_count (a number)" else empty end),
      (if has("members") and (.members | type) != "number" then "members (a number)" else empty end),
      (if has("archive_sha256") and ((.archive_sha256 | type) != "string" or (.archive_sha256 | test("^[0-9a-f]{64}$") | not)) then "archive_sha256 (64 hex digits)" else empty end),
      (if has("cluster") and (.cluster | type) != "string" then "cluster (a name)" else empty end)
    ] | join(", ")' <<<"$BACKUP_META")
  [[ -z "$problems" ]] ||
    die "$dir/backup.json lacks or garbles: $problems; nothing was changed (take a new one with make backup)"
  cluster=$(jq -r '.cluster // ""' <<<"$BACKUP_META")
  if [[ "$cluster" != "$CLUSTER_NAME" && "${FORCE_OTHER_CLUSTER:-}" != 1 ]]; then
    die "$dir was taken of ${cluster:-a cluster it does not name (a backup older than its cluster field)}," \
      "not of $CLUSTER_NAME: not restoring it here; nothing was changed" \
      "(FORCE_OTHER_CLUSTER=1 restores it all the same)"
  fi
}

# backup_archive_verify ARCHIVE TOP REGEX...: ARCHIVE is a whole gzip'd tar (gzip -t), equal to
# the archive_sha256 BACKUP_META recorded (when it did), whose entries are plain files and
# directories below TOP/ (no absolute path, no `..`, no link), with an entry matching each
# REGEX (the profile's data dir layout).
backup_archive_verify() {
  local archive top=$2 listing names bad regex want
  archive=$(local_path "$1")
  shift 2
  gzip -t "$archive" 2>/dev/null ||
    die "$archive is damaged (gzip -t fails: truncated or not gzip); nothing was changed"
  want=$(jq -r '.archive_sha256 // ""' <<<"${BACKUP_META:-{\}}")
  [[ -z "$want" || "$(sha256_of "$archive")" == "$want" ]] ||
    die "$archive is not the archive backup.json recorded (sha256 differs); nothing was changed"
  # -P: the names as stored (without it tar strips a leading / or ../ and only warns)
  listing=$(tar -tvzPf "$archive" 2>/dev/null) ||
    die "$archive is not a tar archive (tar -t fails); nothing was changed"
  names=$(tar -tzPf "$archive")
  bad=$(grep -v '^[-d]' <<<"$listing" | head -n1 || true)
  [[ -z "$bad" ]] || die "$archive holds a link or special file ($bad): not restoring it; nothing was changed"
  bad=$(grep -E '^/|(^|/)\.\.(/|$)' <<<"$names" | head -n1 || true)
  [[ -z "$bad" ]] || die "$archive has an entry leaving its directory ($bad): not restoring it; nothing was changed"
  bad=$(grep -vE "^$top(/|$)" <<<"$names" | head -n1 || true)
  [[ -z "$bad" ]] || die "$archive has an entry outside $top/ ($bad): not an etcd data dir backup; nothing was changed"
  for regex in "$@"; do
    grep -qE "$regex" <<<"$names" ||
      die "$archive lacks an entry matching $regex: not an etcd data dir backup; nothing was changed"
  done
}
