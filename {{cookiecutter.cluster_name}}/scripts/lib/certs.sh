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

# REMOTE_CERTS: prints each certificate file of SSL_DIR (not keys, not the symlinks) after a
# "== NAME" line; only builtins, ls, test and cat run on the droplet.
# shellcheck disable=SC2016 # expanded on the droplet
REMOTE_CERTS='for f in $(ls '"$SSL_DIR"'); do case $f in *-key.pem) ;; *.pem)
  if ! test -L '"$SSL_DIR"'/$f; then echo "== $f"; cat '"$SSL_DIR"'/$f; fi ;; esac; done'

# remote_cert_records NAME IP: a record for every certificate installed on droplet NAME.
remote_cert_records() {
  local name=$1 ip=$2 out line file="" pem=""
  out=$(remote "$ip" "$REMOTE_CERTS" 2>&1) || {
    warn "$name ($ip): cannot list $SSL_DIR: $(tr '\n' ' ' <<<"$out")"
    return 1
  }
  while IFS= read -r line; do
    if [[ "$line" == "== "* ]]; then
      [[ -z "$file" ]] || cert_record "$name:$SSL_DIR/$file" <<<"$pem"
      file=${line#== }
      pem=""
    else
      pem+=$line$'\n'
    fi
  done <<<"$out"
  [[ -z "$file" ]] || cert_record "$name:$SSL_DIR/$file" <<<"$pem"
}

# soonest_expiry RECORDS: the record (JSON lines in) that expires first, or nothing.
soonest_expiry() {
  jq -sc 'sort_by(.days_left) | .[0] // empty' <<<"$1"
}
