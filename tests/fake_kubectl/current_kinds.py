"""The API resources of the current profile's cluster: kinds, their kubectl aliases, and how a
current kubectl names them in its messages and output lines."""

from __future__ import annotations

NODE_PKI = "/etc/kubernetes/pki"
# Kind -> (resource, group, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("namespaces", "", False), "Node": ("nodes", "", False),
    "ServiceAccount": ("serviceaccounts", "", True), "ConfigMap": ("configmaps", "", True),
    "Service": ("services", "", True), "Pod": ("pods", "", True),
    "Endpoints": ("endpoints", "", True), "Secret": ("secrets", "", True),
    "Deployment": ("deployments", "apps", True), "DaemonSet": ("daemonsets", "apps", True),
    "ClusterRole": ("clusterroles", "rbac.authorization.k8s.io", False),
    "ClusterRoleBinding": ("clusterrolebindings", "rbac.authorization.k8s.io", False),
    "Role": ("roles", "rbac.authorization.k8s.io", True),
    "RoleBinding": ("rolebindings", "rbac.authorization.k8s.io", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", "policy", True),
    # DigitalOcean's CSI driver (issue 21)
    "StatefulSet": ("statefulsets", "apps", True),
    "CSIDriver": ("csidrivers", "storage.k8s.io", False),
    "PersistentVolumeClaim": ("persistentvolumeclaims", "", True),
    "PersistentVolume": ("persistentvolumes", "", False),
    "StorageClass": ("storageclasses", "storage.k8s.io", False),
    # metrics-server's aggregated API (issue 21.3)
    "APIService": ("apiservices", "apiregistration.k8s.io", False),
}
ALIASES = {"po": "Pod", "pod": "Pod", "pods": "Pod", "svc": "Service", "service": "Service",
           "services": "Service", "no": "Node", "node": "Node", "nodes": "Node",
           "ds": "DaemonSet", "daemonset": "DaemonSet", "daemonsets": "DaemonSet",
           "deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
           "ep": "Endpoints", "endpoints": "Endpoints", "ns": "Namespace",
           "namespace": "Namespace", "namespaces": "Namespace", "cm": "ConfigMap",
           "configmap": "ConfigMap", "configmaps": "ConfigMap", "secret": "Secret",
           "secrets": "Secret", "pdb": "PodDisruptionBudget",
           "poddisruptionbudget": "PodDisruptionBudget",
           "poddisruptionbudgets": "PodDisruptionBudget", "sts": "StatefulSet",
           "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sc": "StorageClass",
           "storageclass": "StorageClass", "storageclasses": "StorageClass",
           "csidriver": "CSIDriver", "csidrivers": "CSIDriver", "pvc": "PersistentVolumeClaim",
           "persistentvolumeclaim": "PersistentVolumeClaim",
           "persistentvolumeclaims": "PersistentVolumeClaim", "pv": "PersistentVolume",
           "persistentvolume": "PersistentVolume", "persistentvolumes": "PersistentVolume",
           "apiservice": "APIService", "apiservices": "APIService"}
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def type_name(kind: str) -> str:
    """``deployments.apps``: how kubectl names a resource type in messages."""
    resource, group, _ = KINDS[kind]
    return f"{resource}.{group}" if group else resource


def ref(kind: str, name: str) -> str:
    """``deployment.apps/coredns``: kubectl's object reference in its output lines."""
    _, group, _ = KINDS[kind]
    return f"{kind.lower()}{'.' + group if group else ''}/{name}"
