"""The vocabulary of kubectl 1.1.2, the client the tutorial installs: its commands, flags and
error texts, taken from the real binary (/work/shared/k8s-1.1.2/kubectl, ``kubectl CMD
--help`` and its refusals; the sources: kubernetes v1.1.2 pkg/kubectl/cmd/*.go, spf13/pflag of
2015). 1.1.2 has no ``-n`` (only ``--namespace``), no ``--save-config``, no ``-A``, no
``rollout``, ``replace`` is there but the scripts never use it. On a usage error it prints the
command's usage before ``Error: ...`` (the stand-in prints the last line only)."""

from __future__ import annotations

from core import Flag, Vocabulary

VERSION_INFO = ('version.Info{Major:"1", Minor:"1", GitVersion:"v1.1.2", '
                'GitCommit:"3085895b8a70a3d985e9320a098e74f545546171", GitTreeState:"clean"}')
FILES = Flag("filename", "f", "list")

VOCABULARY = Vocabulary(
    version="v1.1.2",
    global_flags=(Flag("kubeconfig"), Flag("namespace")),
    commands={
        "version": (Flag("client", "c", "bool"),),
        "cluster-info": (),
        "create": (FILES,),
        "apply": (FILES,),
        "delete": (FILES,),
        "get": (FILES, Flag("selector", "l"), Flag("output", "o")),
        "exec": (),
    },
    # real flags of these commands the stand-in does not model (refused as not simulated)
    unsimulated={
        "create": ("output", "schema-cache-dir", "validate"),
        "apply": ("output", "schema-cache-dir", "validate"),
        "delete": ("all", "cascade", "grace-period", "ignore-not-found", "output", "selector",
                   "timeout"),
        "get": ("all-namespaces", "label-columns", "no-headers", "output-version", "show-all",
                "sort-by", "template", "watch", "watch-only"),
        "exec": ("container", "pod", "stdin", "tty"),
    },
    unsimulated_commands=("describe", "replace", "patch", "edit", "namespace", "logs",
                          "rolling-update", "scale", "attach", "port-forward", "proxy", "run",
                          "stop", "expose", "autoscale", "label", "annotate", "config",
                          "api-versions", "help"),
    # `kubectl get --help`: json|yaml|wide|go-template=...|go-template-file=...|jsonpath=...|
    # jsonpath-file=... and name (pkg/kubectl/resource_printer.go GetPrinter; template and
    # templatefile are its aliases)
    outputs=("json", "yaml", "wide", "name", "template", "go-template", "templatefile",
             "go-template-file", "jsonpath", "jsonpath-file"),
    usage_error="Error: {message}",
    unknown_command="Error: unknown command \"{command}\" for \"kubectl\"\n"
                    "Run 'kubectl --help' for usage.",
    bad_bool='invalid argument "{value}" for --{name}={value}: strconv.ParseBool: parsing '
             '"{value}": invalid syntax',
    bad_output='error: output format "{output}" not recognized',
    defaults={"namespace": "default"},
)
