# shellcheck shell=bash
# The droplets' image: IMAGE from settings.env (a slug or a custom image's numeric ID), or, when
# that is empty, the custom image `make image` imported from IMAGE_URL and recorded in
# state/image.json (its id, name, URL, region and last seen status).
#
# API facts (doctl commands/images.go, godo images.go, digitalocean/openapi images spec,
# terraform-provider-digitalocean resource_digitalocean_custom_image.go): `doctl compute image
# create NAME --image-url URL --region REGION` answers at once with status NEW; the image is
# usable once `doctl compute image get ID` says "available" (NEW and pending are the waiting
# states); an import that fails ends as "deleted" with an error_message.

IMAGE_STATE=$STATE_DIR/image.json

# recorded_image [KEY]: KEY (default id) of the recorded import, empty if none.
recorded_image() {
  [[ -s "$IMAGE_STATE" ]] || return 0
  jq -r --arg k "${1:-id}" '.[$k] // "" | tostring' "$IMAGE_STATE"
}

# record_image IMAGE_JSON: state/image.json from one image object of doctl's JSON.
record_image() {
  jq -c --arg url "$IMAGE_URL" '{id, name, status, url: $url, region: ((.regions // [])[0] // ""),
    created_at, error_message: (.error_message // "")}' <<<"$1" >"$IMAGE_STATE.tmp"
  mv "$IMAGE_STATE.tmp" "$IMAGE_STATE"
}

# require_image: IMAGE for a droplet create: the setting, else the recorded import once it is
# available; stops with what to run otherwise.
require_image() {
  [[ -n "$IMAGE" ]] && return 0
  local id status
  id=$(recorded_image id)
  status=$(recorded_image status)
  if [[ -z "$id" ]]; then
    die "IMAGE is empty in settings.env and no image was imported: run 'make image' (imports" \
      "Flatcar Container Linux stable from IMAGE_URL), or set IMAGE to an existing image's ID"
  fi
  [[ "$status" == available ]] ||
    die "the imported image $id is '$status', not available yet: run 'make image' (it waits for it)"
  IMAGE=$id
}

# image_label: what the droplets boot, for plans and pictures (no API call).
image_label() {
  if [[ -n "$IMAGE" ]]; then
    echo "$IMAGE"
  elif [[ -n "$(recorded_image id)" ]]; then
    echo "image $(recorded_image id) ($(recorded_image name), $(recorded_image status))"
  else
    echo "Flatcar stable (not imported yet: make image)"
  fi
}

# image_os_refusal IMAGE_JSON: empty when the image (one object of doctl's JSON) runs the
# profile's system (IMAGE_OS_MATCH, profile.sh, an extended regex matched without case against
# "DISTRIBUTION: NAME"), else why not.
image_os_refusal() {
  local seen
  seen=$(jq -r '"\(.distribution // "Unknown"): \(.name // "")"' <<<"$1")
  grep -qiE -- "$IMAGE_OS_MATCH" <<<"$seen" && return 0
  echo "image $(jq -r '.id' <<<"$1") is '$seen', not $IMAGE_OS: the $PROFILE profile's user" \
    "data is written for $IMAGE_OS"
}

# check_image: before make etcd/controller/worker change anything (preflight): IMAGE, or the
# import make image recorded, exists for this account and runs the profile's system. One
# lookup per make run (APPLY_RUN_ID), like the ssh key.
check_image() {
  require_image
  local cache=$STATE_DIR/image-check.json run=${APPLY_RUN_ID:-} json refusal
  if [[ -n "$run" && -s "$cache" ]] && jq -e --arg i "$IMAGE" --arg r "$run" \
    '.image == $i and .run == $r' "$cache" >/dev/null 2>&1; then
    return 0
  fi
  json=$(do_json "reading image $IMAGE" compute image get "$IMAGE") ||
    die "image $IMAGE does not exist for this account (above): correct IMAGE in settings.env," \
      "or run 'make image'"
  refusal=$(image_os_refusal "$(jq -c '.[0]' <<<"$json")")
  [[ -z "$refusal" ]] || die "$refusal; set IMAGE to such an image (or empty it and run 'make image')"
  jq -n --arg i "$IMAGE" --arg r "$run" '{image: $i, run: $r}' >"$cache"
}
