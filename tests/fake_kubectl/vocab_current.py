"""The vocabulary of a current kubectl (1.3x), the client the current profile requires: its
commands, flags and error texts (k8s.io/kubectl pkg/cmd/{version,create,apply,replace,delete,
get,exec,rollout}; the refusals are cobra's and spf13/pflag's, as kubectl 1.32 on this machine
prints them: ``Error: unknown flag: --save-config`` / ``See 'kubectl apply --help' for
usage.``). ``apply`` has no ``--save-config`` (it always records the configuration);
``create`` and ``create secret generic`` have it."""

from __future__ import annotations

import os

from core import Flag, Vocabulary

VERSION = os.environ.get("FAKE_KUBECTL_VERSION", "v1.37.0")
KUSTOMIZE = "v5.7.1"
FILES = Flag("filename", "f", "list")
OUTPUT = Flag("output", "o")
# the printers of k8s.io/cli-runtime PrintFlags plus get's table ones (`kubectl get --help`:
# json|yaml|name|go-template|go-template-file|template|templatefile|jsonpath|jsonpath-as-json|
# jsonpath-file|custom-columns|custom-columns-file|wide)
OUTPUTS = ("custom-columns", "custom-columns-file", "go-template", "go-template-file", "json",
           "jsonpath", "jsonpath-as-json", "jsonpath-file", "name", "template", "templatefile",
           "wide", "yaml")

VOCABULARY = Vocabulary(
    version=VERSION,
    global_flags=(Flag("kubeconfig"), Flag("namespace", "n")),
    commands={
        "version": (Flag("client", takes="bool"),),
        "create": (FILES, Flag("save-config", takes="bool")),
        "create secret generic": (Flag("from-file", takes="list"), Flag("dry-run"), OUTPUT,
                                  Flag("save-config", takes="bool")),
        "apply": (FILES,),
        "replace": (FILES,),
        "delete": (FILES,),
        "get": (FILES, Flag("selector", "l"), OUTPUT, Flag("raw"),
                Flag("all-namespaces", "A", "bool")),
        # pkg/cmd/exec/exec.go: -i/--stdin passes standard input to the container
        "exec": (Flag("stdin", "i", "bool"),),
        "rollout restart": (),
        # pkg/cmd/drain/drain.go (cordon, uncordon and drain share it)
        "cordon": (),
        "uncordon": (),
        "drain": (Flag("ignore-daemonsets", takes="bool"), Flag("delete-emptydir-data",
                                                               takes="bool"),
                  Flag("disable-eviction", takes="bool"), Flag("force", takes="bool"),
                  Flag("timeout")),
        # pkg/cmd/top/top_node.go and top_pod.go (aliases: nodes, no; pods, po)
        **{f"top {word}": (Flag("no-headers", takes="bool"),) for word in ("node", "nodes", "no")},
        **{f"top {word}": (Flag("no-headers", takes="bool"), Flag("all-namespaces", "A", "bool"))
           for word in ("pod", "pods", "po")},
    },
    unsimulated={
        "version": ("output",),
        "create": ("allow-missing-template-keys", "dry-run", "edit", "field-manager",
                   "kustomize", "output", "raw", "recursive", "selector", "show-managed-fields",
                   "template", "validate", "windows-line-endings"),
        "create secret generic": ("allow-missing-template-keys", "append-hash",
                                  "field-manager", "from-env-file", "from-literal",
                                  "show-managed-fields", "template", "type", "validate"),
        "apply": ("all", "allow-missing-template-keys", "cascade", "dry-run", "field-manager",
                  "force", "force-conflicts", "grace-period", "kustomize", "openapi-patch",
                  "output", "overwrite", "prune", "prune-allowlist", "recursive", "selector",
                  "server-side", "show-managed-fields", "subresource", "template", "timeout",
                  "validate", "wait"),
        "replace": ("allow-missing-template-keys", "cascade", "dry-run", "field-manager",
                    "force", "grace-period", "kustomize", "output", "raw", "recursive",
                    "save-config", "show-managed-fields", "subresource", "template", "timeout",
                    "validate", "wait"),
        "delete": ("all", "all-namespaces", "cascade", "dry-run", "field-selector", "force",
                   "grace-period", "ignore-not-found", "interactive", "kustomize", "now",
                   "output", "raw", "recursive", "selector", "timeout", "wait"),
        "get": ("allow-missing-template-keys", "chunk-size", "field-selector",
                "ignore-not-found", "kustomize", "label-columns", "no-headers",
                "output-watch-events", "recursive", "server-print", "show-kind", "show-labels",
                "show-managed-fields", "sort-by", "subresource", "template", "watch",
                "watch-only"),
        "exec": ("container", "filename", "pod-running-timeout", "quiet", "tty"),
        "rollout restart": ("allow-missing-template-keys", "field-manager", "filename",
                            "kustomize", "output", "recursive", "selector",
                            "show-managed-fields", "template"),
        "cordon": ("dry-run", "selector"),
        "uncordon": ("dry-run", "selector"),
        "drain": ("chunk-size", "dry-run", "grace-period", "pod-selector", "selector",
                  "skip-wait-for-delete-timeout"),
        **{f"top {word}": ("selector", "sort-by", "show-capacity", "show-swap",
                           "use-protocol-buffers") for word in ("node", "nodes", "no")},
        **{f"top {word}": ("containers", "field-selector", "selector", "sort-by", "sum",
                           "show-swap", "use-protocol-buffers") for word in ("pod", "pods", "po")},
    },
    # `kubectl --help`: the commands besides those above
    unsimulated_commands=("expose", "run", "set", "explain", "edit", "rollout", "scale",
                          "autoscale", "certificate", "cluster-info", "top", "taint",
                          "describe", "logs", "attach",
                          "port-forward", "proxy", "cp", "auth", "debug", "events", "diff",
                          "patch", "wait", "kustomize", "label", "annotate", "completion",
                          "api-resources", "api-versions", "config", "plugin"),
    outputs=OUTPUTS,
    usage_error="Error: {message}\nSee 'kubectl {command} --help' for usage.",
    unknown_command='Error: unknown command "{command}" for "kubectl"',
    bad_bool='invalid argument "{value}" for "--{name}" flag: strconv.ParseBool: parsing '
             '"{value}": invalid syntax',
    bad_output='error: unable to match a printer suitable for the output format "{output}", '
               "allowed formats are: " + ",".join(OUTPUTS),
    defaults={"namespace": "default", "dry_run": "none", "timeout": "0s"},
)
