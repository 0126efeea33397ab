#!/usr/bin/env bash
# make os-update [FORCE=1]: reboot each node into the Flatcar update it downloaded, one node at
# a time (the current profile's profile_os_update, scripts/lib/osupdate.sh): the etcd members
# first (the others' quorum checked before each, the member healthy again after), then the
# controllers (/readyz and Node Ready awaited), then the workers (cordoned, drained with their
# PodDisruptionBudgets respected, rebooted, Ready, uncordoned). A node on which no update waits
# (update_engine_client -status) is skipped; FORCE=1 reboots every node and drains regardless
# of budgets. Resumes after an interruption. The tutorial profile refuses.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/controllers_health.sh
source scripts/lib/controllers_health.sh

[[ -z "$NODE_OPS_REFUSAL" ]] || die "make os-update: $NODE_OPS_REFUSAL"
declare -F profile_os_update >/dev/null ||
  die "make os-update: the $PROFILE profile has no OS update; bake the current profile"
profile_os_update
