"""Jinja extension cookiecutter loads (see `_extensions` in cookiecutter.json).

It exposes the derived facts of `generator.facts` as filters, so templates never
re-derive an address or a URL by hand, the template root as a global for hooks, and the
answer schema as the rules table settings.sh applies (settings.rules).
"""

from __future__ import annotations

from jinja2 import Environment
from jinja2.ext import Extension

from generator import TEMPLATE_ROOT, abac, facts, schema


class ClusterFacts(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["apiserver_service_ip"] = facts.apiserver_service_ip
        environment.filters["release_url"] = facts.release_url
        environment.filters["kubelet_path"] = facts.kubelet_path
        environment.filters["droplet_name"] = facts.droplet_name
        environment.filters["flannel_port"] = facts.flannel_port
        environment.globals["kubelet_port"] = facts.KUBELET_PORT
        environment.globals["ssh_port"] = facts.SSH_PORT
        environment.globals["lb_size_unit"] = facts.LB_SIZE_UNIT
        environment.globals["lb_node_monthly_usd"] = facts.LB_NODE_MONTHLY_USD
        environment.filters["apiserver_url"] = facts.apiserver_url
        environment.filters["droplet_tag"] = facts.droplet_tag
        environment.globals["template_root"] = str(TEMPLATE_ROOT)
        environment.globals["release_bucket"] = facts.RELEASE_BUCKET
        environment.globals["settings_rules"] = schema.settings_rules
        environment.globals["abac_policy"] = abac.abac_policy
