"""The doctl stand-in's custom images: `compute image create|get|list`, strict and stateful."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.standins.testing import Sim

URL = ("https://stable.release.flatcar-linux.net/amd64-usr/4757.2.1/"
       "flatcar_production_digitalocean_image.bin.bz2")
CREATE = ("compute", "image", "create", "fc", "--image-url", URL, "--region", "ams3")


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    return Sim(tmp_path)


def test_an_import_is_new_then_pending_then_available(sim: Sim) -> None:
    (image,) = sim.doctl_json(*CREATE, "--tag-names", "c1")
    assert (image["status"], image["type"], image["distribution"]) == ("NEW", "custom", "Unknown")
    assert "regions" not in image and "public" not in image  # godo omitempty
    seen = [sim.doctl_json("compute", "image", "get", str(image["id"]))[0]["status"]
            for _ in range(3)]
    assert seen == ["pending", "pending", "available"]
    (done,) = sim.doctl_json("compute", "image", "get", str(image["id"]))
    assert done["regions"] == ["ams3"] and done["min_disk_size"] > 0
    listed = sim.doctl_json("compute", "image", "list")
    assert [i["id"] for i in listed] == [image["id"]]
    assert "c1" in sim.state()["tags"]
    droplet = sim.create("n1", image=str(image["id"]))
    assert droplet


def test_a_failed_import_ends_deleted_with_an_error_message(sim: Sim) -> None:
    env = sim.env(DOSIM_IMAGE_FAIL_URL="*flatcar*", DOSIM_IMAGE_POLLS="1")
    created = sim.doctl(*CREATE, "-o", "json", env=env)
    image_id = str(json.loads(created.stdout)[0]["id"])
    (got,) = json.loads(sim.doctl("compute", "image", "get", image_id, "-o", "json",
                                  env=env).stdout)
    assert got["status"] == "deleted" and "404 Not Found" in got["error_message"]
    assert sim.doctl_json("compute", "image", "list") == []


def test_an_image_that_is_not_available_cannot_boot_a_droplet(sim: Sim) -> None:
    (image,) = sim.doctl_json(*CREATE)
    _, fingerprint = sim.add_key()
    out = sim.doctl("compute", "droplet", "create", "n1", "--image", str(image["id"]),
                    "--region", "ams3", "--size", "s-1vcpu-1gb", "--ssh-keys", fingerprint)
    assert out.returncode == 1 and "is NEW, not available" in out.stderr


def test_the_api_and_cobra_refuse_what_doctl_and_digitalocean_refuse(sim: Sim) -> None:
    required = sim.doctl("compute", "image", "create", "fc", "--region", "ams3")
    assert required.returncode == 255 and 'required flag(s) "image-url" not set' in required.stdout
    no_name = sim.doctl("compute", "image", "create", "--image-url", URL, "--region", "ams3")
    assert no_name.returncode == 1 and "missing required arguments" in no_name.stderr
    region = sim.doctl("compute", "image", "create", "fc", "--image-url", URL, "--region", "xx9")
    assert region.returncode == 1 and "422" in region.stderr
    distro = sim.doctl(*CREATE, "--image-distribution", "Flatcar")
    assert distro.returncode == 1 and "distribution" in distro.stderr
    missing = sim.doctl("compute", "image", "get", "4242")
    assert missing.returncode == 1 and "404" in missing.stderr
    assert "images" not in sim.state() or sim.state()["images"] == {}


def test_delete_then_get_and_droplet_create_are_refused(sim: Sim) -> None:
    """Issue 18 stand-ins: an image deleted (doctl compute image delete) is gone, and an
    image ID the account does not have boots nothing (the API: 'invalid image')."""
    (image,) = sim.doctl_json(*CREATE, "--image-distribution", "Unknown")
    unconfirmed = sim.doctl("compute", "image", "delete", str(image["id"]))
    assert unconfirmed.returncode == 1 and "Operation aborted" in unconfirmed.stderr
    assert sim.doctl("compute", "image", "delete", str(image["id"]), "--force").returncode == 0
    assert "404" in sim.doctl("compute", "image", "get", str(image["id"])).stderr
    _, fingerprint = sim.add_key()
    for ident in (str(image["id"]), "4242"):
        out = sim.doctl("compute", "droplet", "create", "n1", "--image", ident, "--region",
                        "ams3", "--size", "s-1vcpu-1gb", "--ssh-keys", fingerprint)
        assert out.returncode == 1
        assert "You specified an invalid image for Droplet creation." in out.stderr, ident
    again = sim.doctl("compute", "image", "delete", str(image["id"]), "--force")
    assert again.returncode == 1 and "404" in again.stderr
