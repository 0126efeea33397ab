#!/usr/bin/env bash
# make upgrade KUBERNETES_VERSION=X.Y.Z: every node moved to another Kubernetes release of
# releases.tsv in place, one node at a time, by the version skew policy (the current profile's
# profile_upgrade, scripts/lib/upgrade.sh; make plan KUBERNETES_VERSION=X.Y.Z shows it first).
# The tutorial profile pins the reference's Kubernetes release and refuses.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/controllers_health.sh
source scripts/lib/controllers_health.sh

declare -F profile_upgrade >/dev/null ||
  die "make upgrade: the $PROFILE profile runs the reference's Kubernetes $KUBERNETES_VERSION" \
    "and has no other release to move to; bake the current profile for upgrades"
profile_upgrade
