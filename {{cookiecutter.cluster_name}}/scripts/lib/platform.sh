# shellcheck shell=bash
# The platform the apply runs on: bash 4.4 or newer and OpenSSL's openssl (tested on Debian and
# Ubuntu). macOS ships bash 3.2 and LibreSSL: refused here, before anything fails halfway.
# Written in bash 3.2's language (no `declare -A`, no `${v,,}`), so that bash reads it first.

# PLATFORM_EXIT: the exit status of a refused platform (the Makefile tells it from a refused
# settings.env).
PLATFORM_EXIT=3

# bash_problem MAJOR MINOR: why this bash cannot run the scripts (nothing: it can).
bash_problem() {
  if (($1 < 4 || ($1 == 4 && $2 < 4))); then
    echo "bash $1.$2 is too old: the apply scripts need bash 4.4 or newer (macOS ships 3.2)." \
      "Install a newer one (macOS: brew install bash) and put it first on PATH, then re-run"
  fi
}

# openssl_problem VERSION_LINE: why this openssl cannot issue the cluster's certificates
# (nothing: it can). LibreSSL's x509 lacks -ext, which the scripts read SANs with.
openssl_problem() {
  case $1 in
    LibreSSL*)
      echo "openssl is $1: the scripts need OpenSSL 1.1.1 or newer." \
        "Install it (macOS: brew install openssl@3) and put its bin first on PATH" \
        "(export PATH=\"\$(brew --prefix openssl@3)/bin:\$PATH\"), then re-run"
      ;;
  esac
}

# require_bash: stop (PLATFORM_EXIT) under a bash older than 4.4.
require_bash() {
  local problem
  problem=$(bash_problem "${BASH_VERSINFO[0]}" "${BASH_VERSINFO[1]}")
  if [[ -n "$problem" ]]; then
    echo "ERROR: $problem" >&2
    exit "$PLATFORM_EXIT"
  fi
}

# require_openssl: stop when openssl is LibreSSL (a missing one is require_tools' to report).
require_openssl() {
  local version problem
  version=$(openssl version 2>/dev/null) || return 0
  problem=$(openssl_problem "$version")
  if [[ -n "$problem" ]]; then
    echo "ERROR: $problem" >&2
    exit "$PLATFORM_EXIT"
  fi
}
