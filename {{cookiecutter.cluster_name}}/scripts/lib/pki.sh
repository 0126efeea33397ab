#!/usr/bin/env bash
# Node certificates, issued with openssl exactly as the tutorial does (steps 8 and 10),
# signed by the CA the bake created in pki/. Sourced by the apply scripts; run from the
# cluster repo root with settings.env loaded (RSA_BITS, CERT_DAYS).
#
# Keys are created 0600 and never replaced: a re-run re-signs only a missing certificate.

PKI_DIR=${PKI_DIR:-pki}

# pki_new_key FILE: a fresh RSA key, unless FILE exists.
pki_new_key() {
  local key=$1
  if [[ -e "$key" ]]; then
    return 0
  fi
  # written aside and renamed: an interrupted run never leaves a truncated key behind
  (umask 077 && openssl genrsa -out "$key.tmp.$$" "$RSA_BITS" 2>/dev/null && mv "$key.tmp.$$" "$key")
}

# pki_sign NAME CN CONFIG: pki/NAME.pem from pki/NAME-key.pem, with the v3_req
# extensions (SANs) of CONFIG; IPs reach openssl through the environment ($ENV::).
pki_sign() {
  local name=$1 cn=$2 config=$3
  local key="$PKI_DIR/$name-key.pem" cert="$PKI_DIR/$name.pem" csr="$PKI_DIR/$name.csr"
  pki_new_key "$key"
  if [[ -s "$cert" ]]; then
    return 0
  fi
  openssl req -new -key "$key" -out "$csr" -subj "/CN=$cn" -config "$config"
  openssl x509 -req -in "$csr" \
    -CA "$PKI_DIR/ca.pem" -CAkey "$PKI_DIR/ca-key.pem" -CAcreateserial \
    -out "$cert.tmp" -days "$CERT_DAYS" -extensions v3_req -extfile "$config" 2>/dev/null
  mv "$cert.tmp" "$cert"
  rm -f "$csr"
}

# pki_issue_apiserver PUBLIC_IP PRIVATE_IP: pki/apiserver{,-key}.pem, CN=kube-apiserver,
# SANs: the controller's droplet name, the first service IP, its public and private IP.
pki_issue_apiserver() {
  CONTROLLER_PUBLIC_IP=$1 CONTROLLER_PRIVATE_IP=$2 \
    pki_sign apiserver kube-apiserver openssl/apiserver.cnf
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

# ensure_cert_ips CERT_NAME EXPECTED_IP...: delete pki/CERT_NAME.pem when its IP SANs are not
# exactly EXPECTED_IP... (the droplet was re-created); the key stays, the cert is re-issued.
ensure_cert_ips() {
  local name=$1 cert have want
  shift
  cert=$PKI_DIR/$name.pem
  [[ -s "$cert" ]] || return 0
  have=$(pki_cert_ips "$cert" | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  if [[ "$have" != "$want" ]]; then
    log "pki/$name.pem is for ${have% } but the droplet has ${want% }: re-issuing it"
    rm -f "$cert"
  fi
}
