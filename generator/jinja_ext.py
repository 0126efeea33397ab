"""Jinja extension cookiecutter loads (see `_extensions` in cookiecutter.json).

It exposes the derived facts of `generator.facts` as filters, so templates never
re-derive an address or a URL by hand, and the template root as a global for hooks.
"""

from __future__ import annotations

from jinja2 import Environment
from jinja2.ext import Extension

from generator import TEMPLATE_ROOT, facts


class ClusterFacts(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["apiserver_service_ip"] = facts.apiserver_service_ip
        environment.filters["release_url"] = facts.release_url
        environment.filters["kubelet_path"] = facts.kubelet_path
        environment.filters["droplet_name"] = facts.droplet_name
        environment.filters["droplet_tag"] = facts.droplet_tag
        environment.globals["template_root"] = str(TEMPLATE_ROOT)
        environment.globals["release_bucket"] = facts.RELEASE_BUCKET
