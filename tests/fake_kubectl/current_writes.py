"""What the current profile's cluster does with manifests: ``create [--save-config]``,
``apply``, ``replace``, ``delete`` and ``get -f`` (``-f -``: standard input), in a current
kubectl's words: ``<resource>[.<group>]/<name> created|configured|unchanged|deleted``; an
existing object on create is ``AlreadyExists``; a missing namespace is ``NotFound``; every
object is handled, then exit 1 if any failed. Secrets keep a digest of each value (atrest.py);
``create secret generic NAME --from-file=KEY=PATH --dry-run=client -o yaml`` renders one."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import atrest
import podsecurity
from apiserver import droplets, installed
from core import KubectlError, key, lines
from current_kinds import BUILTIN_NAMESPACES, KINDS, ref, type_name
from current_workloads import pod_security, pod_spec

from tests.standins import yamlfast

# -f -: stdin, read before the state lock is taken (the kubectl feeding the pipe may need it)
STDIN = [""]


def load_manifests(file: str) -> list[dict[str, Any]]:
    path = Path(file)
    if file != "-" and not path.is_file():
        raise KubectlError(f'error: the path "{file}" does not exist')
    try:
        text = STDIN[0] if file == "-" else path.read_text()
        docs = [d for d in yamlfast.load_all(text) if d is not None]
    except yamlfast.Error as exc:
        raise KubectlError(f'error: error parsing {file}: {exc}') from None
    docs = [i for d in docs for i in (d.get("items") or [] if d.get("kind") == "List" else [d])]
    for doc in docs:
        kind = doc.get("kind", "")
        if kind not in KINDS or kind in ("Node", "Endpoints", "PersistentVolume"):
            raise KubectlError(f'error: resource mapping not found for name: '
                               f'"{(doc.get("metadata") or {}).get("name", "")}" namespace: "" '
                               f'from "{file}": no matches for kind "{kind}" in version '
                               f'"{doc.get("apiVersion", "")}"\nensure CRDs are installed first')
        if not (doc.get("metadata") or {}).get("name"):
            raise KubectlError(f'error: error validating "{file}": metadata.name is required')
    return docs


def _objects(files: list[str], namespace: str) -> list[tuple[str, dict[str, Any], str, str]]:
    if not files:
        raise KubectlError("error: must specify one of -f and -k")
    out = []
    for file in files:
        for doc in load_manifests(file):
            kind = doc["kind"]
            ns = (doc["metadata"].get("namespace") or namespace) if KINDS[kind][2] else ""
            out.append((file, doc, ns, key(kind, ns, doc["metadata"]["name"])))
    return out


def _namespace_exists(data: dict[str, Any], ns: str) -> bool:
    return not ns or ns in BUILTIN_NAMESPACES or key("Namespace", "", ns) in data["objects"]


def cmd_write(verb: str, files: list[str], opts: dict[str, Any],
              data: dict[str, Any]) -> tuple[str, str, bool]:
    """stdout, stderr (errors and Pod Security warnings) and whether any object failed."""
    out, errors, warnings = [], [], []
    for file, doc, ns, obj_key in _objects(files, opts["namespace"]):
        kind, name = doc["kind"], doc["metadata"]["name"]
        when = {"create": "creating", "delete": "deleting", "replace": "replacing"}.get(
            verb, "applying")
        if verb == "delete":
            if data["objects"].pop(obj_key, None) is None:
                errors.append(f'Error from server (NotFound): error when deleting "{file}": '
                              f'{type_name(kind)} "{name}" not found')
            else:
                out.append(f'{kind.lower()}{"." + KINDS[kind][1] if KINDS[kind][1] else ""} '
                           f'"{name}" deleted')
            continue
        if not _namespace_exists(data, ns):
            errors.append(f'Error from server (NotFound): error when {when} "{file}": '
                          f'namespaces "{ns}" not found')
            continue
        obj = json.loads(json.dumps(doc))
        obj["metadata"]["namespace"] = ns
        if kind == "Secret":
            # a replace sends back what get printed: values already kept as their digest
            obj["data"] = {k: v if str(v).startswith("sha256:") else
                           "sha256:" + hashlib.sha256(base64.b64decode(v)).hexdigest()
                           for k, v in (obj.get("data") or {}).items()}
        spec, modes = pod_spec(obj), pod_security(data, ns)
        if spec is not None and modes is not None:
            reject, warning = podsecurity.verdict(spec, modes)
            warnings += [warning] if warning else []
            if reject and kind == "Pod":
                errors.append(f'Error from server (Forbidden): error when {when} "{file}": '
                              f'pods "{name}" is forbidden: {reject}')
                continue
        old = data["objects"].get(obj_key)
        if verb == "replace" and old is None:
            errors.append(f'Error from server (NotFound): error when replacing "{file}": '
                          f'{type_name(kind)} "{name}" not found')
            continue
        if kind == "Secret":
            atrest.stored(obj, encryption_config())
        if verb == "create" and old is not None:
            errors.append(f'Error from server (AlreadyExists): error when creating "{file}": '
                          f'{type_name(kind)} "{name}" already exists')
            continue
        if verb == "create" and not opts["save_config"]:
            obj["metadata"].setdefault("annotations", {})
        if verb == "apply" and old is not None and _strip(old) == _strip(obj):
            out.append(f"{ref(kind, name)} unchanged")
            continue
        data["objects"][obj_key] = obj
        done = "replaced" if verb == "replace" else "created" if old is None else "configured"
        out.append(f"{ref(kind, name)} {done}")
    return lines(out), lines(warnings + errors), bool(errors)


def cmd_create_secret(args: list[str], opts: dict[str, Any]) -> str:
    """``kubectl create secret generic NAME --from-file=KEY=PATH... --dry-run=client -o yaml``:
    the Secret as kubectl renders it, nothing sent (the only form the scripts use)."""
    if len(args) != 1:
        raise KubectlError(f"error: exactly one NAME is required, got {len(args)}\n"
                           "See 'kubectl create secret generic -h' for help and examples")
    if opts["dry_run"] != "client" or opts["output"] != "yaml":
        raise KubectlError("error: fake kubectl: create secret only with --dry-run=client -o yaml")
    data = {}
    for item in opts["from_file"]:
        name, eq, path = item.partition("=")
        if not eq:
            name, path = Path(item).name, item
        try:
            raw = sys.stdin.buffer.read() if path == "/dev/stdin" else Path(path).read_bytes()
        except OSError as exc:
            raise KubectlError(f"error: error reading {path}: {exc.strerror}") from None
        data[name] = base64.b64encode(raw).decode()
    secret = {"apiVersion": "v1", "data": data, "kind": "Secret",
              "metadata": {"name": args[0], "namespace": opts["namespace"]}}
    return yamlfast.dump(secret)


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "status"}


def cmd_get_files(files: list[str], opts: dict[str, Any], data: dict[str, Any]) -> tuple[str, str]:
    out, errors = [], []
    for _file, doc, _ns, obj_key in _objects(files, opts["namespace"]):
        kind, name = doc["kind"], doc["metadata"]["name"]
        if obj_key in data["objects"]:
            out.append(ref(kind, name))
        else:
            errors.append(f'Error from server (NotFound): {type_name(kind)} "{name}" not found')
    return lines(out), lines(errors)


def encryption_config() -> Path | None:
    """The EncryptionConfiguration installed on a controller (None: Secrets in plain text)."""
    for rec in droplets():
        found = installed(Path(rec["sim"]["root"]), atrest.CONFIG)
        if found is not None:
            return found
    return None
