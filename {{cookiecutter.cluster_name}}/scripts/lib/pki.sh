#!/usr/bin/env bash
# Node certificates, issued with openssl exactly as the tutorial does (steps 8 and 10),
# signed by the CA the bake created in pki/. Sourced by the apply scripts; run from the
# cluster repo root with settings.env loaded (RSA_BITS, CERT_DAYS).
#
# Keys are created 0600 and never replaced: a re-run re-signs only a missing certificate.

PKI_DIR=${PKI_DIR:-pki}

# pki_new_key FILE: a fresh RSA key, unless FILE exists. Written aside (an interrupted run
# never leaves a truncated key; the trap removes the partial file), then linked into place:
# `ln` never replaces an existing file, so a slower concurrent run cannot swap out a key that
# was already signed.
#
# A key another process is writing (make up's key jobs, while the level that needs it runs)
# is awaited, not generated a second time: openssl genrsa opens its output before it computes.
# Up to APPLY_TIMEOUT_SECONDS (a partial file left behind whose pid now names another
# process), then it is generated here.
pki_new_key() {
  local key=$1 tmp deadline
  for tmp in "$key".tmp.*; do
    [[ -e "$tmp" ]] || continue
    # here, not above: the integration tests source this file alone (settings.env, no common.sh)
    deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
    wait_begin "$key (openssl genrsa, pid ${tmp##*.})" "$APPLY_TIMEOUT_SECONDS"
    while [[ -e "$tmp" && ! -e "$key" ]] && ((SECONDS < deadline)) &&
      kill -0 "${tmp##*.}" 2>/dev/null; do
      wait_sleep 0.1
    done
  done
  [[ -e "$key" ]] && return 0
  (
    tmp="$key.tmp.$BASHPID"
    trap 'rm -f "$tmp"' EXIT
    trap 'exit 130' INT TERM HUP
    umask 077
    err=$(openssl genrsa -out "$tmp" "$RSA_BITS" 2>&1) ||
      die "generating $key failed (openssl genrsa $RSA_BITS): $(tr '\n' ' ' <<<"$err")"
    ln "$tmp" "$key" 2>/dev/null || [[ -e "$key" ]] ||
      die "could not create $key"
  )
}

# pki_keys_start NAME...: the private keys of droplets NAME (the key files profile_pki_files
# lists for each), each generated in the background: they need no address, so they are made
# while the droplets boot. Niced: they are to fill the CPU the apply leaves idle, not to slow
# its own steps. PKI_KEYGEN_PIDS collects the jobs; pki_keys_wait waits for them. Wait before
# pki_sweep (it removes the partial files these jobs are writing).
PKI_KEYGEN_PIDS=""
pki_keys_start() {
  local name key
  for name in "$@"; do
    while IFS= read -r key; do
      [[ "$key" == *-key.pem && ! -e "$key" ]] || continue
      (
        renice -n 10 -p "$BASHPID" >/dev/null 2>&1 || true
        pki_new_key "$key"
      ) &
      PKI_KEYGEN_PIDS+=" $!"
    done < <(profile_pki_files "$name")
  done
}

# pki_worker_keys_start COUNT: pki_keys_start for the first COUNT workers.
pki_worker_keys_start() {
  local nn names=()
  for ((nn = 1; nn <= $1; nn++)); do
    names+=("$(worker_name "$nn")")
  done
  pki_keys_start "${names[@]}"
}

pki_keys_wait() {
  local pid
  for pid in $PKI_KEYGEN_PIDS; do
    wait "$pid" || die "generating the droplets' keys in $PKI_DIR failed (openssl genrsa)"
  done
  PKI_KEYGEN_PIDS=""
}

# pki_place TMP FILE: move TMP to FILE unless FILE exists (then TMP is dropped): no clobber.
pki_place() {
  ln "$1" "$2" 2>/dev/null || [[ -e "$2" ]] || { rm -f "$1"; die "could not create $2"; }
  rm -f "$1"
}

# pki_sweep: partial files of interrupted runs (*.tmp.PID, *.csr; *.pub.tmp.PID: the
# service-account public key). Call with the apply lock held: no other run of this cluster can
# be writing them.
# PKI_SWEPT=yes: make up swept before it started its key jobs and its levels side by side
# (one level's sweep would remove the files another is writing).
pki_sweep() {
  local f swept=()
  [[ "${PKI_SWEPT:-}" != yes ]] || return 0
  for f in "$PKI_DIR"/*.pem.tmp.* "$PKI_DIR"/*.pem.tmp "$PKI_DIR"/*.pub.tmp.* "$PKI_DIR"/*.csr; do
    [[ -e "$f" ]] || continue
    rm -f "$f"
    swept+=("${f##*/}")
  done
  ((${#swept[@]} == 0)) || log "removed partial files of an interrupted run: ${swept[*]}"
}

# pki_sign NAME CN CONFIG [ORG]: pki/NAME.pem from pki/NAME-key.pem, subject CN (and O ORG:
# the group Kubernetes' RBAC reads from it), with the v3_req extensions (SANs) of CONFIG; IPs
# reach openssl through the environment ($ENV::). Signed by pki/ca.pem, or by pki/PKI_SIGNER.pem
# when the caller sets PKI_SIGNER (the current profile's front-proxy CA).
# On failure openssl's own message is shown and no partial file is left.
pki_sign() {
  local name=$1 cn=$2 config=$3 subject="/CN=$2"
  [[ -z "${4:-}" ]] || subject="/O=$4/CN=$cn"
  local key="$PKI_DIR/$name-key.pem" cert="$PKI_DIR/$name.pem" csr="$PKI_DIR/$name.$BASHPID.csr"
  local tmp="$cert.tmp.$BASHPID" err signer="$PKI_DIR/${PKI_SIGNER:-ca}"
  pki_new_key "$key"
  if [[ -s "$cert" && "$PKI_REISSUE" != *" $name "* ]]; then
    return 0
  fi
  if ! err=$(openssl req -new -key "$key" -out "$csr" -subj "$subject" -config "$config" 2>&1); then
    rm -f "$csr"
    die "the certificate request for $cert failed (openssl req, key $key, config $config):" \
      "$(tr '\n' ' ' <<<"$err")"
  fi
  # -CAcreateserial as the tutorial signs, but into a serial file of this signing's own: it
  # starts at a random serial (OpenSSL 1.1.1 and newer), and certificates signed at once (the
  # workers', make up's levels side by side) never read and write one shared pki/ca.srl
  if ! err=$(openssl x509 -req -in "$csr" \
    -CA "$signer.pem" -CAkey "$signer-key.pem" -CAserial "$tmp.srl" -CAcreateserial \
    -out "$tmp" -days "$CERT_DAYS" -extensions v3_req -extfile "$config" 2>&1); then
    rm -f "$csr" "$tmp" "$tmp.srl"
    die "signing $cert failed (openssl x509, CA $signer.pem + $signer-key.pem," \
      "CERT_DAYS=$CERT_DAYS): $(tr '\n' ' ' <<<"$err")"
  fi
  rm -f "$csr" "$tmp.srl"
  if [[ "$PKI_REISSUE" == *" $name "* ]]; then
    mv -f "$tmp" "$cert"
    PKI_REISSUE=${PKI_REISSUE// $name /}
  else
    pki_place "$tmp" "$cert"
  fi
}

# pki_issue_apiserver PUBLIC_IP PRIVATE_IP [PUBLIC_IP PRIVATE_IP]...: pki/apiserver{,-key}.pem,
# CN=kube-apiserver, SANs: the controllers' droplet names, the first service IP, each
# controller's public and private IP (the first pair: CONTROLLER_PUBLIC_IP/_PRIVATE_IP, the
# tutorial's; then CONTROLLER_NN_*), and APISERVER_LB_IP from the caller's environment.
pki_issue_apiserver() {
  (
    export CONTROLLER_PUBLIC_IP=$1 CONTROLLER_PRIVATE_IP=$2 APISERVER_LB_IP=${APISERVER_LB_IP:-}
    shift 2
    local nn=2
    while (($# >= 2)); do
      export "CONTROLLER_$(printf '%02d' "$nn")_PUBLIC_IP=$1" "CONTROLLER_$(printf '%02d' "$nn")_PRIVATE_IP=$2"
      shift 2
      nn=$((nn + 1))
    done
    pki_sign apiserver kube-apiserver openssl/apiserver.cnf
  )
}

# pki_issue_apiserver_shared [EXTRA_IP...]: pki/apiserver.pem, the one certificate every
# controller serves: IP SANs the first service IP, each controller's public and private IP
# (CONTROLLER_NAMES, CONTROLLER_PUBLICS, CONTROLLER_PRIVATES: read_controllers), LB_IP when a
# load balancer is in front of them, and EXTRA_IP (the current profile's 127.0.0.1). A
# certificate with other IP SANs is re-issued with the same key. The caller ends the step.
pki_issue_apiserver_shared() {
  local sans=() nn
  for ((nn = 0; nn < ${#CONTROLLER_NAMES[@]}; nn++)); do
    sans+=("${CONTROLLER_PUBLICS[nn]}" "${CONTROLLER_PRIVATES[nn]}")
  done
  step "apiserver certificate (SANs: ${CONTROLLER_NAMES[*]}, $APISERVER_SERVICE_IP, ${sans[*]}${LB_IP:+, load balancer $LB_IP}${*:+, $*})"
  ensure_cert_ips apiserver "$APISERVER_SERVICE_IP" "${sans[@]}" ${LB_IP:+"$LB_IP"} "$@"
  APISERVER_LB_IP=${LB_IP:-} pki_issue_apiserver "${sans[@]}"
}

# pki_issue_worker NN WORKER_IP: pki/worker-NN{,-key}.pem, CN=kube-worker-NN, SAN: WORKER_IP.
pki_issue_worker() {
  WORKER_IP=$2 pki_sign "worker-$1" "kube-worker-$1" openssl/worker.cnf
}

# pki_cert_ips CERT: the IP SANs of CERT, sorted, one a line (a droplet
# re-created with new addresses needs a new certificate).
pki_cert_ips() {
  openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
    grep -o 'IP Address:[0-9.]*' | cut -d: -f2 | sort
}

# ensure_cert_ips CERT_NAME EXPECTED_IP...: mark pki/CERT_NAME.pem for re-issue (PKI_REISSUE)
# when its IP SANs are not exactly EXPECTED_IP... (a droplet was re-created, the controllers or
# the load balancer changed); the key stays, the next pki_sign replaces the cert in one rename.
PKI_REISSUE=""
ensure_cert_ips() {
  local name=$1 cert have want
  shift
  cert=$PKI_DIR/$name.pem
  [[ -s "$cert" ]] || return 0
  have=$(pki_cert_ips "$cert" | tr '\n' ' ')
  # an address named twice (the load balancer's as a controller's, 127.0.0.1 twice) is one SAN:
  # compared as a set, or the certificate would be re-issued on every run
  want=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')
  if [[ "$have" != "$want" ]]; then
    log "pki/$name.pem is for ${have% } but the droplet has ${want% }: re-issuing it"
    # kept until the new one replaces it (pki_sign): an interrupted run leaves a certificate
    PKI_REISSUE+=" $name "
  fi
}
