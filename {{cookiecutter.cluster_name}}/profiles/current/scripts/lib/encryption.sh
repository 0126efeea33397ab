# shellcheck shell=bash
# Secrets encrypted at rest (issue 20): the apiserver's EncryptionConfiguration, made here from
# the keys in pki/encryption-keys (0600 and git-ignored like every key in pki/; one line
# "NAME BASE64-SECRET" per key: the first encrypts, every one decrypts), installed over ssh with
# the TLS files (never in user data). Sourced by profile.sh after components.sh.
#
#   encryption_key_issue          pki/encryption-keys with one new key, unless it exists
#   encryption_new_key            a new key line: key-<UTC time> and 32 random bytes, base64
#   encryption_config [KEYS_FILE] the EncryptionConfiguration for those keys (default the file)
#   encryption_render             pki/encryption-config.yaml (0600) from pki/encryption-keys
#
# kubernetes.io "Encrypting Confidential Data at Rest": aescbc takes 32-byte keys; identity
# comes last so that Secrets stored before encryption was on stay readable until rewritten.
# Both values are generator/facts.py's ENCRYPTION_PROVIDER and ENCRYPTION_KEY_BYTES (bash reads
# no Python; a test keeps them equal), as NODE_PKI_DIR/encryption-config.yaml is its
# ENCRYPTION_CONFIG.

ENCRYPTION_PROVIDER=aescbc
ENCRYPTION_KEY_BYTES=32
ENCRYPTION_KEYS=$PKI_DIR/encryption-keys
ENCRYPTION_CONFIG_FILE=$PKI_DIR/encryption-config.yaml
# make rotate-encryption-key restarts an apiserver by moving its static pod manifest out of the
# kubelet's directory (cookiecutter _manifest_dir) into KUBERNETES_DIR (facts.py) and back
KUBERNETES_DIR=/etc/kubernetes
# shellcheck disable=SC2034 # read by scripts/rotate-encryption-key.sh
STATIC_POD_DIR=$KUBERNETES_DIR/manifests

encryption_new_key() {
  local secret
  secret=$(openssl rand -base64 "$ENCRYPTION_KEY_BYTES") || die "openssl rand failed"
  printf 'key-%(%Y%m%dT%H%M%S)T %s\n' -1 "$secret"
}

# encryption_write_keys LINES: pki/encryption-keys replaced at once (0600; never a partial file).
encryption_write_keys() {
  local tmp="$ENCRYPTION_KEYS.tmp.$BASHPID"
  (umask 077 && printf '%s\n' "$1" >"$tmp") || die "could not write $tmp"
  mv "$tmp" "$ENCRYPTION_KEYS"
  encryption_render
}

encryption_key_issue() {
  if [[ -s "$ENCRYPTION_KEYS" ]]; then
    encryption_render # the configuration always says what the keys file says
  else
    encryption_write_keys "$(encryption_new_key)"
  fi
}

encryption_config() {
  local keys=${1:-$ENCRYPTION_KEYS} name secret
  printf '%s\n' "apiVersion: apiserver.config.k8s.io/v1" "kind: EncryptionConfiguration" \
    "resources:" "  - resources:" "      - secrets" "    providers:" \
    "      - $ENCRYPTION_PROVIDER:" "          keys:"
  while read -r name secret; do
    [[ -n "$name" ]] || continue
    printf '            - name: %s\n              secret: %s\n' "$name" "$secret"
  done <"$keys"
  printf '%s\n' "      - identity: {}"
}

encryption_render() {
  local tmp="$ENCRYPTION_CONFIG_FILE.tmp.$BASHPID"
  [[ -s "$ENCRYPTION_KEYS" ]] || die "$ENCRYPTION_KEYS is missing: encryption_key_issue first"
  (umask 077 && encryption_config >"$tmp") || die "could not write $tmp"
  mv "$tmp" "$ENCRYPTION_CONFIG_FILE"
}
