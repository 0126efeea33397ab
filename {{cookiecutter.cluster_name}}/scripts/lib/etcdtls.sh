# shellcheck shell=bash
# etcd over TLS (lock-down, issue 10): the member serves its private client and peer URLs on
# https with pki/etcd.pem (SAN: its private IP) and admits only clients whose certificate the
# cluster's CA signed; every node's etcd proxy (still http://localhost for the apiserver,
# podmaster and flannel, as in the tutorial) reaches it with the node's own certificate. The
# node certificates carry no extendedKeyUsage, so they may serve as TLS clients.
# Files go to ETCD_SSL_DIR owned by etcd (CoreOS's etcd2.service runs as User=etcd), keys 0600;
# the cloud-configs' etcd-tls-ready.service holds etcd2 back until they are there.

# etcd_peer_url PRIVATE_IP: the member's peer URL, what the proxies' initial-cluster names.
etcd_peer_url() {
  echo "https://$1:$ETCD_PEER_PORT"
}

# pki_issue_etcd PRIVATE_IP [BASE CN]: pki/BASE{,-key}.pem (default: etcd, the single
# member's), CN (default ETCD_MEMBER), SAN: PRIVATE_IP.
pki_issue_etcd() {
  ETCD_PRIVATE_IP=$1 pki_sign "${2:-etcd}" "${3:-$ETCD_MEMBER}" openssl/etcd.cnf
}

# install_etcd_tls NAME IP CERT KEY AS: CERT, KEY and the CA into ETCD_SSL_DIR on NAME as
# AS.pem, AS-key.pem and ca.pem, owned by etcd, the key 0600.
install_etcd_tls() {
  local name=$1 ip=$2 cert=$3 key=$4 as=$5 dir=$ETCD_SSL_DIR certf keyf
  certf=$(basename "$cert")
  keyf=$(basename "$key")
  local script="sudo mkdir -p $dir && sudo mv $certf $dir/$as.pem && sudo mv $keyf $dir/$as-key.pem"
  script+=" && sudo mv ca.pem $dir/ca.pem"
  script+=" && sudo chown etcd:etcd $dir/$as.pem $dir/$as-key.pem $dir/ca.pem"
  script+=" && sudo chmod 600 $dir/$as-key.pem"
  deliver_tls "$name" "$ip" etcd_tls_sha256 "etcd TLS assets" \
    "into $dir as $as.pem (etcd:etcd, key 0600)" "$script" "$cert" "$key"
}
