#!/usr/bin/env bash
# make image: the droplets' image. With IMAGE set in settings.env (a slug, or an existing custom
# image's numeric ID) it only checks that the image exists. With IMAGE empty (the current
# profile's default) it imports Flatcar Container Linux stable from IMAGE_URL as a custom image
# (doctl compute image create), waits until DigitalOcean says it is available and records its
# ID in state/image.json, which make etcd/controller/worker then boot. Exactly one import per
# cluster: a re-run resumes the wait for the recorded (or, after an interruption, the
# same-named) import instead of importing again; the apply lock serialises concurrent runs.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# The name of the cluster's import: found again by name when a run was interrupted between the
# create and writing state/image.json (never a second import).
IMAGE_NAME=$CLUSTER_NAME-flatcar-stable
# Bounded wait for an import (DigitalOcean takes minutes), and how often to ask.
IMAGE_TIMEOUT_SECONDS=${IMAGE_TIMEOUT_SECONDS:-1800}
IMAGE_POLL_SECONDS=${IMAGE_POLL_SECONDS:-15}

# image_json ID: the image as `doctl compute image get` reports it (one object).
image_json() {
  do_json "reading image $1" compute image get "$1" | jq -c '.[0]'
}

# named_import: the ID of this cluster's import by name (an interrupted run's), empty if none.
named_import() {
  do_json "listing the account's images" compute image list |
    jq -r --arg n "$IMAGE_NAME" '[.[] | select(.name == $n and .status != "deleted")][0].id // ""'
}

# image_listed ID: the account's image list has ID (an image get can fail for other reasons).
image_listed() {
  local list
  list=$(do_json "listing the account's images" compute image list) || return 0
  jq -e --arg id "$1" 'any(.[]; (.id | tostring) == $id)' <<<"$list" >/dev/null
}

# start_import: POST the import, record it at once, print its ID.
start_import() {
  local out
  out=$(do_json "importing $IMAGE_URL" compute image create "$IMAGE_NAME" \
    --image-url "$IMAGE_URL" --region "$REGION" \
    --image-description "Flatcar Container Linux stable for cluster $CLUSTER_NAME (make image)" \
    --tag-names "$CLUSTER_TAG") ||
    die "DigitalOcean refused the import (above); check IMAGE_URL and REGION in settings.env"
  out=$(jq -c '.[0]' <<<"$out")
  record_image "$out"
  jq -r .id <<<"$out"
}

# wait_available ID: poll until ID is available (bounded by IMAGE_TIMEOUT_SECONDS); a status
# change is shown, and the heartbeat in between. Stops with DigitalOcean's error_message on a failed import.
wait_available() {
  local id=$1 json status="" last="" polls=0 start=$SECONDS
  step "waiting for image $id to be available (DigitalOcean downloads and converts it; minutes)"
  wait_begin "image $id to be available" "$IMAGE_TIMEOUT_SECONDS"
  while true; do
    json=$(image_json "$id") || {
      # deleted from the account (by hand, or a failed import DigitalOcean removed): waiting
      # again would never end; the next run imports anew
      if ! image_listed "$id"; then
        mv "$IMAGE_STATE" "$STATE_DIR/image-deleted.json"
        die "image $id is gone from the account (deleted): nothing was created; its record" \
          "moved to $STATE_DIR/image-deleted.json; re-run 'make image' to import Flatcar anew"
      fi
      die "could not read image $id (above); re-run 'make image' to keep waiting"
    }
    polls=$((polls + 1))
    status=$(jq -r .status <<<"$json")
    record_image "$json"
    if [[ "$status" != "$last" ]]; then
      log "    image $id: $status after $((SECONDS - start))s ($polls poll(s))"
      last=$status
    fi
    case $status in
      available) break ;;
      NEW | new | pending) ;;
      *)
        mv "$IMAGE_STATE" "$STATE_DIR/image-failed.json"
        die "the import of $IMAGE_URL failed: image $id is '$status':" \
          "$(jq -r '.error_message // "no error message"' <<<"$json");" \
          "check that IMAGE_URL downloads (a raw/qcow2/vhdx/vdi/vmdk image, gzip or bzip2) and" \
          "re-run 'make image' for a new import (state/image-failed.json keeps this one's record)"
        ;;
    esac
    if ((SECONDS - start >= IMAGE_TIMEOUT_SECONDS)); then
      die "image $id is still '$status' after ${IMAGE_TIMEOUT_SECONDS}s (IMAGE_TIMEOUT_SECONDS):" \
        "re-run 'make image' to keep waiting (it resumes this import, never starts another)"
    fi
    wait_sleep "$IMAGE_POLL_SECONDS"
  done
  step_done "$polls poll(s)"
}

main() {
  apply_lock image
  preflight --no-key
  if [[ -n "$IMAGE" ]]; then
    step "image $IMAGE (IMAGE in settings.env): nothing to import"
    local json
    json=$(image_json "$IMAGE") ||
      die "image $IMAGE does not exist for this token (above): correct IMAGE in settings.env," \
        "or empty it to import Flatcar with 'make image'"
    local refusal
    refusal=$(image_os_refusal "$json")
    [[ -z "$refusal" ]] || die "$refusal; correct IMAGE in settings.env, or empty it to import" \
      "Flatcar with 'make image'"
    step_done "$(jq -r '"\(.name), \(.distribution), \(.status // "available")"' <<<"$json")"
    summary "image $IMAGE ready (not imported: IMAGE names it)" "next: make etcd"
    return 0
  fi
  [[ -n "$IMAGE_URL" ]] ||
    die "IMAGE and IMAGE_URL are both empty in settings.env: set IMAGE to an image slug or ID"

  local id from
  id=$(recorded_image id)
  from="recorded in $IMAGE_STATE"
  if [[ -z "$id" ]]; then
    step "looking for an import named $IMAGE_NAME (a run interrupted before recording it)"
    id=$(named_import)
    from="found by name"
    step_done "${id:-none}"
  fi
  if [[ -z "$id" ]]; then
    step "importing $IMAGE_URL into $REGION as $IMAGE_NAME"
    id=$(start_import)
    from="imported now"
    step_done "image $id"
  else
    log "image $id ($from): no new import"
  fi
  wait_available "$id"
  summary "image $id available ($from)" \
    "$IMAGE_NAME from $IMAGE_URL in $REGION; recorded in $IMAGE_STATE" \
    "make etcd/controller/worker boot it (IMAGE is empty in settings.env)" \
    "make destroy leaves it: delete it with 'doctl compute image delete $id' when no cluster needs it" \
    "next: make etcd"
}

main "$@"
