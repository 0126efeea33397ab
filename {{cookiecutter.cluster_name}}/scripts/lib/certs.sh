# shellcheck shell=bash
# Certificates as an operator reads them: subject, SANs, issuer, serial, days left, and a level
# (ok / warn under CERT_WARN_DAYS / fail under CERT_FAIL_DAYS). openssl reads, jq computes.

CERT_WARN_DAYS=${CERT_WARN_DAYS:-30}
CERT_FAIL_DAYS=${CERT_FAIL_DAYS:-7}

# cert_record LOCATION < PEM: one JSON object (one line) for the certificate on stdin.
cert_record() {
  local text
  text=$(openssl x509 -noout -subject -issuer -enddate -serial -ext subjectAltName \
    -nameopt RFC2253 2>/dev/null) || return 1
  jq -cRn --arg location "$1" --argjson warn "$CERT_WARN_DAYS" --argjson fail "$CERT_FAIL_DAYS" '
    def value($p): (map(select(startswith($p)))[0] // "" | ltrimstr($p));
    [inputs] as $l
    | ($l | value("notAfter=") | gsub("  +"; " ") | strptime("%b %d %H:%M:%S %Y GMT") | mktime) as $expiry
    | (($expiry - now) / 86400 | ceil) as $days
    | {location: $location, subject: ($l | value("subject=")),
       issuer: ($l | value("issuer=")), serial: ($l | value("serial=")),
       sans: [$l | to_entries[] | select(.value | startswith("X509v3 Subject Alternative Name"))
              | $l[.key + 1] // "" | split(",")[] | gsub("^ +| +$"; "")
              | sub("^IP Address:"; "IP:") | select(. != "")],
       not_after: ($expiry | todate), days_left: $days,
       level: (if $days < $fail then "fail" elif $days < $warn then "warn" else "ok" end)}' \
    <<<"$text"
}

# local_cert_records: a record for every certificate in PKI_DIR (keys and CSRs skipped).
local_cert_records() {
  local f
  for f in "$PKI_DIR"/*.pem; do
    [[ -f "$f" && "$f" != *-key.pem ]] || continue
    cert_record "$PKI_DIR/${f##*/}" <"$f" || warn "$f is not a certificate openssl can read"
  done
}

# _remote_certs DIR: prints each certificate file of DIR (not keys, not the symlinks) after a
# "== NAME" line; only builtins, ls, test and cat run on the droplet.
_remote_certs() {
  # shellcheck disable=SC2016 # expanded on the droplet
  printf 'for f in $(ls %s); do case $f in *-key.pem) ;; *.pem)
  if ! test -L %s/$f; then echo "== $f"; cat %s/$f; fi ;; esac; done' "$1" "$1" "$1"
}

# remote_cert_records NAME IP DIR: a record for every certificate installed in DIR on droplet
# NAME, with "node" (NAME) and "from": the file in PKI_DIR it was installed from (the kubelet's
# kubelet.pem on NAME comes from kubelet-NAME.pem, a member's etcd.pem from etcd-NN.pem in a
# cluster of several, else the same name).
remote_cert_records() {
  local name=$1 ip=$2 dir=$3 out line file="" pem=""
  out=$(remote "$ip" "$(_remote_certs "$dir")" 2>&1) || {
    warn "$name ($ip): cannot list $dir: $(tr '\n' ' ' <<<"$out")"
    return 1
  }
  while IFS= read -r line; do
    if [[ "$line" == "== "* ]]; then
      [[ -z "$file" ]] || _remote_record "$name" "$dir" "$file" <<<"$pem"
      file=${line#== }
      pem=""
    else
      pem+=$line$'\n'
    fi
  done <<<"$out"
  [[ -z "$file" ]] || _remote_record "$name" "$dir" "$file" <<<"$pem"
}

# _remote_record NAME DIR FILE < PEM
_remote_record() {
  local name=$1 base=${3%.pem} from
  from=$3
  if [[ -s "$PKI_DIR/$base-$name.pem" ]]; then
    from=$base-$name.pem
  elif [[ -s "$PKI_DIR/$base-${name##*-}.pem" && ! -s "$PKI_DIR/$3" ]]; then
    from=$base-${name##*-}.pem
  fi
  cert_record "$name:$2/$3" | jq -c --arg n "$name" --arg f "$from" '. + {node: $n, from: $f}'
}

# soonest_expiry RECORDS: the record (JSON lines in) that expires first, or nothing.
soonest_expiry() {
  jq -sc 'sort_by(.days_left) | .[0] // empty' <<<"$1"
}


# cert_table < RECORDS_ARRAY: one aligned row per certificate (the columns as wide as their
# longest entry): where, level ("*": stale copy), days left, subject, issuer, SANs.
cert_table() {
  {
    printf '%s\t' CERTIFICATE LEVEL DAYS SUBJECT ISSUER
    echo SANS
    jq -r '.[] | [.location, (.level + (if .stale then "*" else "" end)), .days_left, .subject,
      .issuer, (if .sans == [] then "-" else .sans | join(",") end)] | @tsv'
  } | table "  "
}
