"""The current profile's user data as a Flatcar droplet reads it: the apply's placeholders
filled with test addresses, then coreos-cloudinit's $private_ipv4/$public_ipv4."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.integration.support import cloudinit_config

ROLES = ("etcd", "controller", "worker")
# What the apply writes into user data (contract of issue 11): the etcd members' client URLs
# on the controller, the controller's private IP on a worker, 127.0.0.1 on the controller.
ETCD_ENDPOINTS = "https://10.0.0.2:2379"
APISERVER_ENDPOINT = {"controller": "127.0.0.1", "worker": "10.0.0.4", "etcd": "10.0.0.4"}


def user_data_text(cluster: Path, role: str) -> str:
    text = (cluster / f"cloud-config/{role}.yaml").read_text()
    return (text.replace("ETCD_ENDPOINTS", ETCD_ENDPOINTS)
            .replace("APISERVER_ENDPOINT", APISERVER_ENDPOINT[role]))


def droplet_config(cluster: Path, role: str, private_ipv4: str = "10.0.0.3") -> dict[str, Any]:
    return cloudinit_config(user_data_text(cluster, role), private_ipv4=private_ipv4,
                            public_ipv4="192.0.2.3")


def units(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {unit["name"]: unit for unit in config["coreos"]["units"]}


def exec_argv(unit_text: str, key: str = "ExecStart") -> list[list[str]]:
    """Each `key=` command of a unit, continuation lines joined, split on whitespace."""
    joined = unit_text.replace("\\\n", " ")
    return [line.split("=", 1)[1].split() for line in joined.splitlines()
            if line.startswith(f"{key}=")]


# Certificates for the tests, signed with openssl by a bake's CA (as the apply signs them).
def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def issue(ca: Path, ca_key: Path, out: Path, name: str, cn: str, ext: str) -> None:
    (out / f"{name}.ext").write_text(ext)
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
            "-keyout", str(out / f"{name}-key.pem"), "-out", str(out / f"{name}.csr"))
    openssl("x509", "-req", "-in", str(out / f"{name}.csr"), "-CA", str(ca), "-CAkey",
            str(ca_key), "-CAcreateserial", "-days", "1", "-extfile", str(out / f"{name}.ext"),
            "-out", str(out / f"{name}.pem"))


SERVER_EXT = ("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1\n")
CLIENT_EXT = ("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=clientAuth\n")
