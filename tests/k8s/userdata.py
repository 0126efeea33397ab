"""The controller's and workers' user data as coreos-cloudinit and systemd read them: the
cloud-config with cloud-init's substitutions, unit commands, and the commands of the pod
manifests the controller writes (what its kubelet would run)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

import yaml


def cloudinit_text(user_data: str, public_ip: str, private_ip: str) -> dict[str, Any]:
    """The cloud-config as coreos-cloudinit reads it: $public_ipv4/$private_ipv4 replaced,
    every scalar a string."""
    text = user_data.replace("$public_ipv4", public_ip).replace("$private_ipv4", private_ip)
    config = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 (BaseLoader builds no objects)
    if not isinstance(config, dict):
        raise ValueError("the user data is not a cloud-config mapping")
    return config


def unit_commands(content: str, key: str) -> list[tuple[bool, list[str]]]:
    """A unit's KEY= commands as systemd reads them (continuation lines joined), each with
    whether a failure is ignored (systemd's "-" prefix)."""
    joined = re.sub(r"\\\n\s*", " ", content)
    commands = []
    for line in joined.splitlines():
        if line.startswith(f"{key}="):
            command = line.split("=", 1)[1]
            commands.append((command.startswith("-"), shlex.split(command.lstrip("-"))))
    return commands


def unit_exec_start(content: str) -> list[str]:
    return unit_commands(content, "ExecStart")[0][1]


def unit_content(config: dict[str, Any], name: str) -> str:
    units = {u["name"]: u for u in config["coreos"]["units"]}
    if name not in units:
        raise ValueError(f"the user data has no {name} unit")
    return str(units[name]["content"])


@dataclass
class Probe:
    path: str
    port: int


@dataclass
class ControllerSpec:
    """The commands the controller's user data would run, as written there."""

    apiserver: list[str]
    scheduler: list[str]
    controller_manager: list[str]
    secure_port: int
    local_port: int
    scheduler_probe: Probe
    controller_manager_probe: Probe
    kube_system_ns: list[str]

    @classmethod
    def from_user_data(cls, user_data: str, public_ip: str, private_ip: str) -> ControllerSpec:
        config = cloudinit_text(user_data, public_ip, private_ip)
        pods: dict[str, dict[str, Any]] = {}
        for entry in config.get("write_files", []):
            doc = yaml.safe_load(entry.get("content", ""))
            if isinstance(doc, dict) and doc.get("kind") == "Pod":
                pods[doc["metadata"]["name"]] = doc

        def container(pod: str, name: str) -> dict[str, Any]:
            if pod not in pods:
                raise ValueError(f"the user data writes no {pod} pod manifest")
            found = [c for c in pods[pod]["spec"]["containers"] if c["name"] == name]
            if not found:
                raise ValueError(f"the {pod} pod has no {name} container")
            return found[0]

        def probe(c: dict[str, Any]) -> Probe:
            get = c["livenessProbe"]["httpGet"]
            return Probe(get["path"], int(get["port"]))

        api = container("kube-controller", "kube-apiserver")
        ports = {p["name"]: int(p["containerPort"]) for p in api["ports"]}
        sched = container("kube-scheduler", "kube-scheduler")
        cm = container("kube-controller-manager", "kube-controller-manager")
        return cls(api["command"], sched["command"], cm["command"], ports["https"],
                   ports["local"], probe(sched), probe(cm),
                   unit_exec_start(unit_content(config, "create-kube-system-ns.service")))
