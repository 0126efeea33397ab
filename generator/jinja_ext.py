"""Jinja extension cookiecutter loads (see `_extensions` in cookiecutter.json).

It exposes the derived facts of `generator.facts` as filters, so templates never
re-derive an address or a URL by hand, the template root as a global for hooks, and the
answer schema as the rules table settings.sh applies (settings.rules).
"""

from __future__ import annotations

from jinja2 import Environment
from jinja2.ext import Extension

from generator import (
    TEMPLATE_ROOT,
    abac,
    csicompat,
    facts,
    generated,
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
        environment.globals["kubelet_cloud_env"] = facts.KUBELET_CLOUD_ENV
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
