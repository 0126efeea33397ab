"""`make image`: Flatcar stable imported once as a custom image, waited for, recorded, booted.

The cluster is the default bake with settings.env switched to what a current bake carries
(PROFILE=current, IMAGE empty, IMAGE_URL Flatcar's stable DigitalOcean image): make image needs
nothing of the profile's artifacts, so it is tested on its own.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from generator.facts import flatcar_image_url
from tests.applying import REPO, Apply

FLATCAR_URL = flatcar_image_url()  # what a current bake's settings.env carries
FAST = {"IMAGE_POLL_SECONDS": "0.05", "DOSIM_IMAGE_POLLS": "4"}


def _set(cluster: Path, **values: str) -> None:
    env = cluster / "settings.env"
    text = env.read_text()
    for key, value in values.items():
        text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
        assert n == 1, key
    env.write_text(text)


@pytest.fixture
def apply(cluster_copy: Path, tmp_path: Path) -> Apply:
    _set(cluster_copy, PROFILE="current", IMAGE="", IMAGE_URL=FLATCAR_URL)
    # and the current profile's image facts (profile.sh), which check_image applies
    profile = cluster_copy / "scripts/lib/profile.sh"
    current = (REPO / "{{cookiecutter.cluster_name}}/profiles/current/scripts/lib/profile.sh")
    facts = [line for line in current.read_text().splitlines() if line.startswith("  IMAGE_OS")]
    profile.write_text(profile.read_text() + "\n".join(["", *facts, ""]))
    return Apply.create(cluster_copy, tmp_path / "sim")


def _images(apply: Apply) -> dict[str, dict]:
    return apply.account().get("images", {})


def _record(apply: Apply) -> dict:
    return json.loads((apply.cluster / "state/image.json").read_text())


def test_first_import_waits_until_available_and_the_apply_boots_it(apply: Apply) -> None:
    out = apply.make("image", **FAST)
    images = _images(apply)
    assert len(images) == 1
    (image,) = images.values()
    assert image["sim"]["url"] == FLATCAR_URL and image["status"] == "available"
    assert image["sim"]["region"] == "ams3" and image["name"] == "do-cluster-flatcar-stable"
    record = _record(apply)
    assert (record["id"], record["status"]) == (image["id"], "available")
    text = out.stderr
    assert "importing " + FLATCAR_URL in text and ": pending after" in text
    assert f"image {image['id']} available (imported now)" in text
    # 1 POST, then a GET per poll until available (DOSIM_IMAGE_POLLS=4)
    assert apply.calls("POST /v2/images") == 1 and apply.calls("GET /v2/images/{id}") == 4
    apply.make("etcd")
    (etcd,) = apply.droplets().values()
    assert etcd["image"]["id"] == image["id"]


def test_a_rerun_imports_nothing_and_reads_the_image_once(apply: Apply) -> None:
    apply.make("image", **FAST)
    gets = apply.calls("GET /v2/images/{id}")
    out = apply.make("image", **FAST)
    assert len(_images(apply)) == 1 and apply.calls("POST /v2/images") == 1
    assert apply.calls("GET /v2/images/{id}") == gets + 1
    assert "recorded in state/image.json): no new import" in out.stderr


def test_a_rerun_during_a_pending_import_resumes_it(apply: Apply) -> None:
    """The first run gives up waiting (its bound is one poll); the second waits for the same
    import. A lost record (interrupted before it was written) is found again by name."""
    first = apply.make("image", check=False, IMAGE_TIMEOUT_SECONDS="0",
                       IMAGE_POLL_SECONDS="0.05", DOSIM_IMAGE_POLLS="50")
    assert first.returncode != 0
    assert "still 'pending'" in first.stderr and "never starts another" in first.stderr
    assert _record(apply)["status"] == "pending"
    (apply.cluster / "state/image.json").unlink()
    second = apply.make("image", IMAGE_POLL_SECONDS="0.05", DOSIM_IMAGE_POLLS="50")
    assert "found by name" in second.stderr
    assert len(_images(apply)) == 1 and apply.calls("POST /v2/images") == 1
    assert _record(apply)["status"] == "available"


def test_concurrent_runs_import_once(apply: Apply) -> None:
    env = {**apply.env, **FAST, "DOSIM_IMAGE_POLLS": "20", "APPLY_LOCK_SECONDS": "240"}
    runs = [subprocess.Popen(["make", "--no-print-directory", "image"], cwd=apply.cluster,
                             env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(timeout=240), run.communicate()[1]) for run in runs]
    assert [rc for rc, _ in results] == [0, 0], results
    assert len(_images(apply)) == 1 and apply.calls("POST /v2/images") == 1
    assert sum("imported now" in err for _, err in results) == 1


def test_a_failed_import_stops_with_the_api_error_and_a_rerun_imports_again(
        apply: Apply) -> None:
    failed = apply.make("image", check=False, **FAST, DOSIM_IMAGE_FAIL_URL="*flatcar*")
    assert failed.returncode != 0
    assert f"the import of {FLATCAR_URL} failed" in failed.stderr
    assert "is 'deleted'" in failed.stderr and "404 Not Found" in failed.stderr
    assert not (apply.cluster / "state/image.json").exists()
    assert json.loads((apply.cluster / "state/image-failed.json").read_text())["status"] == \
        "deleted"
    refused = apply.make("etcd", check=False)
    assert refused.returncode != 0 and "run 'make image'" in refused.stderr
    assert apply.droplets() == {}
    apply.make("image", **FAST)
    assert apply.calls("POST /v2/images") == 2 and _record(apply)["status"] == "available"


def test_a_named_image_is_checked_not_imported(apply: Apply) -> None:
    _set(apply.cluster, IMAGE="flatcar-stable")
    out = apply.make("image")
    assert "nothing to import" in out.stderr and "Flatcar" in out.stderr
    assert apply.calls("POST /v2/images") == 0 and not (apply.cluster / "state/image.json").exists()
    _set(apply.cluster, IMAGE="coreos-alpha")  # issue 20: of another system than the profile's
    other = apply.make("image", check=False)
    assert other.returncode != 0 and "is 'CoreOS: coreos alpha', not Flatcar" in other.stderr
    _set(apply.cluster, IMAGE="4242")
    missing = apply.make("image", check=False)
    assert missing.returncode != 0 and "image 4242 does not exist" in missing.stderr
    assert "404" in missing.stderr and apply.calls("POST /v2/images") == 0


def test_destroy_leaves_the_imported_image(apply: Apply) -> None:
    """The image is the account's, reusable by the next apply (an import takes minutes):
    make destroy deletes droplets and keeps it and its record, saying how to delete it."""
    apply.make("image", **FAST)
    apply.make("etcd")
    out = apply.make("destroy", FORCE="1")
    assert apply.droplets() == {}
    (image,) = _images(apply).values()
    assert image["status"] == "available" and _record(apply)["id"] == image["id"]
    assert f"doctl compute image delete {image['id']}" in out.stderr
    apply.make("etcd")
    assert apply.calls("POST /v2/images") == 1


def test_a_deleted_import_stops_make_image_and_the_next_run_imports_anew(apply: Apply) -> None:
    """Issue 18 row 10: the recorded import deleted by hand: make image waited for it again
    on every run (image get failing) and never recovered."""
    apply.make("image", **FAST)
    first = _record(apply)["id"]
    apply.doctl("compute", "image", "delete", str(first), "--force")
    assert _images(apply) == {}
    gone = apply.make("image", check=False, **FAST)
    assert gone.returncode != 0
    assert f"image {first} is gone from the account (deleted): nothing was created" in gone.stderr
    assert (apply.cluster / "state/image-deleted.json").is_file()
    apply.make("image", **FAST)
    assert _record(apply)["id"] != first and len(_images(apply)) == 1
