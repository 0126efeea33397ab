"""Jinja extension cookiecutter loads (see `_extensions` in cookiecutter.json).

It exposes the derived facts of `generator.facts` as filters, so templates never
re-derive an address or a URL by hand, the template root as a global for hooks, and the
answer schema as the rules table settings.sh applies (settings.rules).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import jinja2
from jinja2 import Environment
from jinja2.bccache import FileSystemBytecodeCache
from jinja2.ext import Extension

from generator import (
    TEMPLATE_ROOT,
    abac,
    csicompat,
    facts,
    generated,
    lintcache,
    profiles,
    prompts,
    releases,
    schema,
)


class ClusterFacts(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # cookiecutter loads this extension in its own process: a refused answer's errors
        # stay the last words, without cookiecutter's traceback after them
        prompts.quiet_hook_failures()
        environment.bytecode_cache = bytecode_cache(environment)
        environment.filters["apiserver_service_ip"] = facts.apiserver_service_ip
        environment.filters["dns_service_ip"] = facts.dns_service_ip
        environment.filters["release_url"] = facts.release_url
        environment.filters["kubelet_path"] = facts.kubelet_path
        environment.filters["kube_image"] = facts.kube_image
        environment.globals["node_pki_dir"] = facts.NODE_PKI_DIR
        environment.globals["kube_proxy_kubeconfig"] = facts.KUBE_PROXY_KUBECONFIG
        environment.filters["droplet_name"] = facts.droplet_name
        environment.filters["apiserver_controller_ips"] = facts.apiserver_controller_ips
        environment.filters["flannel_port"] = facts.flannel_port
        environment.globals["kubelet_port"] = facts.KUBELET_PORT
        environment.globals["ssh_port"] = facts.SSH_PORT
        environment.globals["kube_proxy_health_port"] = facts.KUBE_PROXY_HEALTH_PORT
        environment.globals["lb_size_unit"] = facts.LB_SIZE_UNIT
        environment.globals["lb_node_monthly_usd"] = facts.LB_NODE_MONTHLY_USD
        environment.globals["volume_gib_monthly_usd"] = facts.VOLUME_GIB_MONTHLY_USD
        environment.filters["apiserver_url"] = facts.apiserver_url
        environment.filters["droplet_tag"] = facts.droplet_tag
        environment.filters["cloud_tag"] = facts.cloud_tag
        environment.filters["csi_release"] = csicompat.release
        environment.filters["csi_minors"] = csicompat.minors_setting
        environment.filters["csi_problem"] = csicompat.bake_problem
        environment.globals["template_root"] = str(TEMPLATE_ROOT)
        environment.globals["release_bucket"] = facts.RELEASE_BUCKET
        environment.globals["settings_rules"] = schema.settings_rules
        environment.globals["abac_policy"] = abac.abac_policy
        # the current profile
        environment.filters["k8s_binary_url"] = facts.k8s_binary_url
        environment.filters["kubectl_url"] = facts.kubectl_url
        environment.globals["flatcar_image_url"] = facts.flatcar_image_url
        environment.globals["flatcar_version"] = facts.FLATCAR_VERSION
        environment.filters["k8s_sha256"] = releases.k8s_sha256
        environment.globals["kubernetes_releases"] = releases.kubernetes_table
        environment.filters["k8s_image"] = facts.k8s_image
        environment.filters["etcd_dist"] = facts.etcd_dist
        environment.filters["etcd_url"] = facts.etcd_url
        environment.filters["etcd_sha256"] = releases.etcd_sha256
        environment.filters["cni_plugins_dist"] = facts.cni_plugins_dist
        environment.filters["cni_plugins_url"] = facts.cni_plugins_url
        environment.filters["cni_plugins_sha256"] = releases.cni_plugins_sha256
        environment.globals["cni_bin_dir"] = facts.CNI_BIN_DIR
        environment.globals["cni_plugins"] = facts.CNI_PLUGINS
        environment.filters["service_account_issuer"] = facts.service_account_issuer
        environment.globals["node_file"] = facts.node_file
        environment.globals["kubelet_env"] = facts.KUBELET_ENV
        environment.filters["endpoint_files"] = facts.endpoint_files
        environment.filters["pki_dir"] = facts.pki_dir
        environment.globals["admission_plugins"] = facts.CURRENT_ADMISSION_PLUGINS
        environment.globals["apiserver_tls_name"] = facts.APISERVER_TLS_NAME
        environment.globals["controller_manager_port"] = facts.CONTROLLER_MANAGER_PORT
        environment.globals["scheduler_port"] = facts.SCHEDULER_PORT
        environment.globals["tls_files"] = facts.TLS_FILES
        environment.globals["control_plane_probes"] = facts.control_plane_probes
        environment.globals["bin_dir"] = facts.BIN_DIR
        environment.globals["node_subnet_prefix"] = schema.NODE_SUBNET_PREFIX
        # what the README and the Makefile's help say of the baked profile
        environment.globals["profile_of"] = profiles.profile
        environment.globals["generated_files"] = generated.generated_files
        environment.globals["profile_list"] = profiles.shell_list
        environment.globals["demo_command"] = profiles.demo_command
        # the current profile's hardening (issue 20)
        for name in ("AUDIT_POLICY", "AUDIT_LOG_DIR", "AUDIT_LOG_ROTATION", "ADMISSION_CONFIG",
                     "POD_SECURITY_DEFAULTS", "POD_SECURITY_EXEMPT_NAMESPACES",
                     "KUBELET_KERNEL_DEFAULTS", "ENCRYPTION_CONFIG", "ENCRYPTION_PROVIDER",
                     "ENCRYPTION_KEY_BYTES", "SECURITY"):
            environment.globals[name.lower()] = getattr(facts, name)


# Environment options that change what a template compiles to (jinja2.lexer.get_lexer's key
# and the code generator's): compiled code is reused only under the same ones.
COMPILE_OPTIONS = (
    "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
    "comment_start_string", "comment_end_string", "line_statement_prefix",
    "line_comment_prefix", "trim_blocks", "lstrip_blocks", "newline_sequence",
    "keep_trailing_newline", "autoescape", "optimized", "finalize", "is_async",
)


class CompiledTemplates(FileSystemBytecodeCache):
    """Jinja's compiled templates on disk, beside the lint cache: compiling the template's
    files is most of a render (0.1 s of 0.18 s per bake). Jinja reuses an entry only for the
    same template source (its sha1) and the same Jinja and Python; the key adds the
    environment's compile options, extensions and filter and test names."""

    def __init__(self, directory: Path, environment: Environment) -> None:
        super().__init__(str(directory), "%s.jinja")
        self.environment = environment

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        env = self.environment  # read now: extensions add filters after this cache is made
        digest = hashlib.sha256(super().get_cache_key(name, filename).encode())
        for part in (jinja2.__version__, *(repr(getattr(env, o)) for o in COMPILE_OPTIONS),
                     *sorted(env.extensions), *sorted(env.filters), *sorted(env.tests)):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()


def bytecode_cache(environment: Environment) -> CompiledTemplates | None:
    """The compiled-template cache in the lint cache's directory (jinja/), or none when that is
    off or cannot be made (a render is then only slower)."""
    lint_dir = lintcache.cache_dir()
    if lint_dir is None:
        return None
    directory = lint_dir / "jinja"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return CompiledTemplates(directory, environment) if os.access(directory, os.W_OK) else None
