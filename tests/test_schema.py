"""One answer schema: the bake's check, the audit and the apply's bash check agree on it.

The bash side (scripts/lib/settings.sh) reads settings.rules, which the bake writes from
generator/schema.py; these tests run it and compare it with the Python side value by value.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from generator import TEMPLATE_ROOT
from generator.answers import validate
from generator.schema import BY_ANSWER, BY_SETTING, CHOICES, COOKIECUTTER_KEYS, problem
from tests.test_template_rejects import DEFAULTS

# settings.env key -> values to try (valid and invalid, edge cases of each rule kind)
SAMPLES = {
    "CLUSTER_NAME": ["do-cluster", "a", "c" * 40, "c" * 41, "-a", "a-", "my_cluster", "", "1234",
                     "yes", "Off", "1e5", "0o17", "0x1f", "1e", "0x", "7a", "y", "n0", "a b",
                     " a", "a;b"],
    "REGION": ["ams3", "nyc1", "AMS3", "ams", "ams33", " ams3", "ams3 "],
    "IMAGE": ["coreos-alpha", "12345", "coreos..alpha", "-x", "i" * 64, "i" * 65],
    "WORKER_COUNT": ["1", "99", "0", "100", "01", "-1", "1.0", "", "999999999999"],
    "SSH_KEY_NAME": ["k8s-key", "me@laptop", "a+b.c_d", "k" * 255, "k" * 256, "my key",
                     "k8s'key", "$(id)", "-k", "no", "1234"],
    "KUBERNETES_VERSION": ["1.1.2", "1.10.13", "v1.1.2", "1.1", "1.1.2.3", "1." + "1" * 19],
    "POD_NETWORK": ["10.2.0.0/16", "10.2.0.0/255.255.0.0", "10.2.0.1/16", "10.2.0.0/33",
                    "010.2.0.0/16", "10.2.0.0/016", "10.2.0.0", "ten/16", "::/64",
                    "10.2.0.0/0.0.255.255", "256.0.0.0/8", "0.0.0.0/0", "10.2.0.0/255.0.255.0"],
    "DNS_SERVICE_IP": ["10.3.0.10", "10.3.0.010", "10.3.0", "10.3.0.256", "::1", "0.0.0.0"],
    "CLUSTER_DOMAIN": ["cluster.local", "k8s.example.org", "Cluster.local", "cluster.local.",
                       "a" * 63 + "." + "b" * 36, "a" * 64, "x..y", "1234", "on"],
    "RSA_BITS": ["2048", "4096", "8192", "1024", "512", "8193", "02048"],
    "INSPECTOR_NODE_PORT": ["31000", "031000", "65535", "65536", "0"],
    "SSL_DIR": ["/etc/kubernetes/ssl", "/" + "s" * 31, "/" + "s" * 32, "etc/ssl", "/etc/ssl/",
                "/etc/kssl;touch${IFS}/tmp/x", "/etc/k ssl"],
    "ETCD_MEMBER": ["etcd-01", "Etcd", "etcd_01", "yes"],
    "ETCD_TAG": ["do-cluster-etcd", "do-cluster:etcd", "a,b", ""],
}


@pytest.fixture(scope="module")
def rules_shell(default_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bash script that prints, per KEY<TAB>VALUE line on stdin, 'ok' or the problem."""
    work = tmp_path_factory.mktemp("rules")
    shutil.copy(default_cluster / "settings.rules", work)
    script = work / "check.sh"
    script.write_text(
        f"set -euo pipefail\ncd {work}\n"
        f"source {default_cluster}/scripts/lib/log.sh\n"
        f"source {default_cluster}/scripts/lib/settings.sh\n"
        "load_settings_rules\n"
        "while IFS= read -r key && IFS= read -r -d '' value; do\n"
        "  p=$(rule_problem \"$key\" \"$value\"); printf '%s\\t%s\\n' \"$key\" \"${p:-ok}\"\n"
        "done\n")
    return script


def test_every_answer_of_the_template_has_a_rule() -> None:
    context = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())
    unruled = [key for key in context
               if key not in BY_ANSWER and key not in CHOICES and key not in COOKIECUTTER_KEYS]
    assert unruled == []
    assert validate(DEFAULTS) == []


def test_an_answer_the_template_does_not_know_is_refused() -> None:
    errors = validate({**DEFAULTS, "_sll_dir": "/etc/ssl"})
    assert [str(e) for e in errors] == ["_sll_dir: is not an answer of this template; remove it"]


def test_the_bash_check_and_the_python_check_agree(rules_shell: Path) -> None:
    cases = [(key, value) for key, values in SAMPLES.items() for value in values]
    stdin = "".join(f"{key}\n{value}\0" for key, value in cases)
    out = subprocess.run(["bash", str(rules_shell)], input=stdin, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert len(out) == len(cases)
    disagree = []
    for (key, value), line in zip(cases, out, strict=True):
        python = problem(BY_SETTING[key].rule, value)
        bash = line.split("\t", 1)[1]
        if (python is None) != (bash == "ok"):
            disagree.append((key, value, python, bash))
    assert disagree == []
    # the samples exercise both outcomes of every key
    for key, values in SAMPLES.items():
        outcomes = {problem(BY_SETTING[key].rule, v) is None for v in values}
        assert outcomes == {True, False}, key


def test_both_checks_name_the_canonical_cidr(rules_shell: Path) -> None:
    stdin = "POD_NETWORK\n10.2.0.0/255.255.0.0\0POD_NETWORK\n10.2.7.1/16\0"
    out = subprocess.run(["bash", str(rules_shell)], input=stdin, capture_output=True,
                         text=True, check=True).stdout
    assert out.count("write 10.2.0.0/16") == 2
    assert "write 10.2.0.0/16" in str(problem(BY_SETTING["POD_NETWORK"].rule, "10.2.7.1/16"))


KUBECTL = "/usr/bin/kubectl"


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="needs the real kubectl")
def test_cluster_names_the_check_accepts_are_exactly_those_kubectl_reads(
        tmp_path: Path) -> None:
    """Issue 9 row 8: the admin kubeconfig with each name, read by the real kubectl."""
    import jinja2

    from generator.jinja_ext import ClusterFacts

    template = (TEMPLATE_ROOT / "{{cookiecutter.cluster_name}}/client/admin-kubeconfig.yaml")
    names = ["do-cluster", "1234", "yes", "Off", "y", "1e5", "0o17", "0x1f", "031000", "1e",
             "0x", "7a", "n0", "on-1"]
    verdicts = {}
    for name in names:
        path = tmp_path / f"{name}.yaml"
        path.write_text(jinja2.Environment(extensions=[ClusterFacts]).from_string(
            template.read_text()).render(cookiecutter={**DEFAULTS, "cluster_name": name}))
        proc = subprocess.run([KUBECTL, f"--kubeconfig={path}", "config", "get-contexts",
                               "-o", "name"], capture_output=True, text=True, timeout=60,
                              env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
        kubectl_reads = proc.returncode == 0 and proc.stdout.strip() == f"{name}-admin"
        accepted = validate({**DEFAULTS, "cluster_name": name}) == []
        verdicts[name] = (accepted, kubectl_reads)
    assert {n: v for n, v in verdicts.items() if v[0] != v[1]} == {}
    assert verdicts["do-cluster"] == (True, True) and verdicts["1234"] == (False, False)


def _longest(rule_len: str, unit: str, tail: str = "") -> str:
    return unit * (int(rule_len) - len(tail)) + tail


def test_answers_at_every_length_limit_bake_and_pass_the_audit(tmp_path: Path) -> None:
    """Issue 9 row 13: whatever the answer check accepts, the artifacts (and their audit)
    accept too; the limits are each field's longest value."""
    from tests.baking import bake

    limit = {key: field.rule.a for key, field in BY_ANSWER.items()}
    admission = ",".join(["NamespaceLifecycle"] * 7)
    answers = {
        "cluster_name": _longest(limit["cluster_name"], "c"),
        "_cluster_domain": "d" * 63 + "." + _longest(str(int(limit["_cluster_domain"]) - 64), "e"),
        "image": _longest(limit["image"], "i"),
        "etcd_size": _longest(limit["etcd_size"], "s"),
        "controller_size": _longest(limit["controller_size"], "t"),
        "worker_size": _longest(limit["worker_size"], "u"),
        "ssh_key_name": _longest(limit["ssh_key_name"], "k"),
        "kubernetes_version": "1.1." + _longest(str(int(limit["kubernetes_version"]) - 4), "2"),
        "_admission_control": admission + "," + _longest(
            str(int(limit["_admission_control"]) - len(admission) - 1), "A"),
        "_etcd_member": _longest(limit["_etcd_member"], "m"),
        "worker_count": limit["worker_count"] and BY_ANSWER["worker_count"].rule.b,
        "_pod_network": "10.128.0.0/9",
    }
    for key in ("_ssl_dir", "_manifest_dir", "_manifest_src_dir", "_kubeconfig_path"):
        answers[key] = "/" + _longest(str(int(limit[key]) - 1), key[1])
    for key in [k for k in BY_ANSWER if k.endswith("_image")]:  # pinned ones need a digit
        answers[key] = _longest(limit[key], key.lstrip("_")[0], ":" + "t" * 6 + "1")
    for key, value in answers.items():
        if BY_ANSWER[key].rule.kind == "pattern":
            assert len(value) == int(limit[key]), key
    assert validate({**DEFAULTS, **answers}) == []
    cluster = bake(tmp_path, **answers)  # the post-generation hook audits it
    assert (cluster / "pki/ca.pem").is_file()
