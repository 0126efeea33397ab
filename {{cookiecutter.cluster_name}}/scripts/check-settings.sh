#!/usr/bin/env bash
# The Makefile runs this before it includes settings.env: the file's text must pass the
# rules of scripts/lib/settings.sh (plain KEY=value lines, inert values) or make stops.
set -euo pipefail
# The platform first: bash 3.2 stops at inherit_errexit below with no word of why; this tells it.
# shellcheck source=scripts/lib/platform.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/platform.sh"
require_bash
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/log.sh
source scripts/lib/log.sh
# shellcheck source=scripts/lib/settings.sh
source scripts/lib/settings.sh
check_settings_text
