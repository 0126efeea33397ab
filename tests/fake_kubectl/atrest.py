"""Secrets at rest in the kubectl stand-in's current cluster: each stored Secret remembers the
key its apiserver wrote it with, and reading it needs that key in the apiserver's
EncryptionConfiguration, as the real apiserver's envelope prefix (k8s:enc:aescbc:v1:<key>:)
does (kubernetes.io "Encrypting Confidential Data at Rest"; a Secret no configured key can
read fails with "no matching prefix found").

The configuration is the one installed on the controller
(/etc/kubernetes/pki/encryption-config.yaml), read at every request: the stand-in's apiserver
starts with whatever is installed (no restart is simulated beyond the static pod manifest:
while /etc/kubernetes/manifests/kube-apiserver.yaml is moved away, the apiserver does not
answer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.standins import yamlfast

CONFIG = "/etc/kubernetes/pki/encryption-config.yaml"
STATIC_POD = "/etc/kubernetes/manifests/kube-apiserver.yaml"
IDENTITY = "identity"
MARK = "dosim.encrypted-with"


def keys(config: Path | None) -> list[str]:
    """The key names Secrets can be read with, the writing one first ("identity": none)."""
    if config is None:
        return [IDENTITY]
    data = yamlfast.load(config.read_text()) or {}
    for res in data.get("resources") or []:
        if "secrets" in (res.get("resources") or []):
            out = []
            for provider in res.get("providers") or []:
                kind, conf = next(iter(provider.items()))
                out += [IDENTITY] if kind == IDENTITY else [
                    f"{kind}:{k['name']}" for k in (conf or {}).get("keys") or []]
            return out
    return [IDENTITY]


def stored(obj: dict[str, Any], config: Path | None) -> None:
    """Mark a Secret being written with the key its apiserver writes with."""
    obj[MARK] = keys(config)[0]


def readable(obj: dict[str, Any], config: Path | None) -> str:
    """Empty when the apiserver can read the stored Secret, else its error."""
    if obj.get(MARK, IDENTITY) in keys(config):
        return ""
    meta = obj["metadata"]
    return ("Error from server (InternalError): Internal error occurred: unable to transform key "
            f'"/registry/secrets/{meta["namespace"]}/{meta["name"]}": no matching prefix found')


def view(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != MARK}
