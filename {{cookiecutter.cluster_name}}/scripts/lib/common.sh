#!/usr/bin/env bash
# Entry point of the apply scripts' library (scripts/<target>.sh source this file): the
# settings, the paths every script shares, then one file per concern beside this one.
#
# Sourcing it moves to the cluster repo root and loads settings.env (checked first). The API token is only
# ever read from the environment; nothing here writes or prints it.
# shellcheck source-path=SCRIPTDIR/../..

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$CLUSTER_DIR" || exit 1

# bash 4.4 first (macOS's 3.2 stops here with the fix); settings.env only after its text
# passed the rules (settings.sh); log.sh before it for die.
# shellcheck source=scripts/lib/platform.sh
source scripts/lib/platform.sh
require_bash
# shellcheck source=scripts/lib/log.sh
source scripts/lib/log.sh
# shellcheck source=scripts/lib/settings.sh
source scripts/lib/settings.sh
load_settings

# Paths every script shares (read by the library files sourced below).
# shellcheck disable=SC2034
{
  STATE_DIR=state
  DROPLET_STATE_DIR=$STATE_DIR/droplets
  BUILD_DIR=build
  USER_DATA_DIR=$BUILD_DIR/user-data
  LOG_DIR=$BUILD_DIR/logs
  KNOWN_HOSTS=$CLUSTER_DIR/$STATE_DIR/known_hosts
  # droplets whose deletion `make destroy` had accepted, until it removed their local files
  DELETED_FILE=$STATE_DIR/deleted-droplets.json
  KUBECONFIG_FILE=$CLUSTER_DIR/kubeconfig
}

# Bounded waits (seconds), overridable from the environment.
APPLY_TIMEOUT_SECONDS=${APPLY_TIMEOUT_SECONDS:-600}
APPLY_POLL_SECONDS=${APPLY_POLL_SECONDS:-5}
# Before any boot was measured on this account, the first poll waits this long: a droplet is
# rarely active with its IPs sooner, and earlier polls only spend API requests.
APPLY_BOOT_SECONDS=${APPLY_BOOT_SECONDS:-20}
SSH_TIMEOUT_SECONDS=${SSH_TIMEOUT_SECONDS:-$APPLY_TIMEOUT_SECONDS}
SSH_HEARTBEAT_SECONDS=${SSH_HEARTBEAT_SECONDS:-10}
# A read doctl gave up on with 429 (scripts/lib/doctl.sh do_json): waits before it is sent
# again. 60 s: the burst limit's window, after which every earlier request has expired.
RATE_LIMIT_WAIT_SECONDS=${RATE_LIMIT_WAIT_SECONDS:-60}
RATE_LIMIT_RETRIES=${RATE_LIMIT_RETRIES:-3}

# ssh/scp as SSH_USER with the repo's own known_hosts (plain host names, so the entry of a
# deleted droplet's IP can be dropped). The key comes from your ssh-agent, or from
# SSH_IDENTITY_FILE when set.
SSH_OPTS=(
  -o "UserKnownHostsFile=$KNOWN_HOSTS"
  -o StrictHostKeyChecking=accept-new
  -o HashKnownHosts=no
  -o LogLevel=ERROR
  -o BatchMode=yes
  -o ConnectTimeout=10
)
if [[ -n "${SSH_IDENTITY_FILE:-}" ]]; then
  SSH_OPTS+=(-i "$SSH_IDENTITY_FILE" -o IdentitiesOnly=yes)
fi


# shellcheck source=scripts/lib/lock.sh
source scripts/lib/lock.sh
# shellcheck source=scripts/lib/preflight.sh
source scripts/lib/preflight.sh
# shellcheck source=scripts/lib/doctl.sh
source scripts/lib/doctl.sh
# shellcheck source=scripts/lib/state.sh
source scripts/lib/state.sh
# shellcheck source=scripts/lib/userdata.sh
source scripts/lib/userdata.sh
# shellcheck source=scripts/lib/image.sh
source scripts/lib/image.sh
# shellcheck source=scripts/lib/cost.sh
source scripts/lib/cost.sh
# shellcheck source=scripts/lib/droplets.sh
source scripts/lib/droplets.sh
# shellcheck source=scripts/lib/firewall.sh
source scripts/lib/firewall.sh
# shellcheck source=scripts/lib/loadbalancer.sh
source scripts/lib/loadbalancer.sh
# shellcheck source=scripts/lib/cloudres.sh
source scripts/lib/cloudres.sh
# shellcheck source=scripts/lib/ssh.sh
source scripts/lib/ssh.sh
# shellcheck source=scripts/lib/pki.sh
source scripts/lib/pki.sh
# shellcheck source=scripts/lib/etcdtls.sh
source scripts/lib/etcdtls.sh
# shellcheck source=scripts/lib/etcdcluster.sh
source scripts/lib/etcdcluster.sh
# shellcheck source=scripts/lib/etcdmember.sh
source scripts/lib/etcdmember.sh
# shellcheck source=scripts/lib/backupcheck.sh
source scripts/lib/backupcheck.sh
# shellcheck source=scripts/lib/etcdbackup.sh
source scripts/lib/etcdbackup.sh
# shellcheck source=scripts/lib/authz.sh
source scripts/lib/authz.sh
# shellcheck source=scripts/lib/kube.sh
source scripts/lib/kube.sh
# shellcheck source=scripts/lib/drain.sh
source scripts/lib/drain.sh
# shellcheck source=scripts/lib/replace.sh
source scripts/lib/replace.sh
# The steps that differ per profile (PROFILE): placeholders, TLS assets, add-ons, status layers,
# each droplet's local files. The bake put the chosen profile's file here.
# shellcheck source=scripts/lib/profile.sh
source scripts/lib/profile.sh
