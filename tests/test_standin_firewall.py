"""The doctl stand-in's cloud firewalls: doctl's rule syntax, the API's refusals, its state.

Rule parsing follows doctl commands/firewalls.go (extractRule; unknown keys vanish in
json.Unmarshal into godo.InboundRule); the stored form follows the API ("all" and ICMP come back
as ports "0"). See tests/standins/fwservice.py for the source of each error text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.standins.testing import Sim

FW = ("compute", "firewall")


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    s = Sim(tmp_path)
    for tag in ("k-etcd", "k-worker"):
        assert s.doctl("compute", "tag", "create", tag).returncode == 0
    return s


def create(sim: Sim, name: str, inbound: str, *extra: str) -> tuple[int, str]:
    proc = sim.doctl(*FW, "create", "--name", name, "--inbound-rules", inbound, *extra)
    return proc.returncode, proc.stdout + proc.stderr


def test_create_stores_the_api_form_and_get_list_show_it(sim: Sim) -> None:
    rc, out = create(sim, "k-nodes", "protocol:tcp,ports:22,address:0.0.0.0/0,address:::/0 "
                     "protocol:icmp,address:0.0.0.0/0 "
                     "protocol:udp,ports:all,tag:k-etcd,tag:k-worker",
                     "--outbound-rules", "protocol:tcp,ports:all,address:0.0.0.0/0",
                     "--tag-names", "k-etcd,k-worker")
    assert rc == 0, out
    listed = sim.doctl_json(*FW, "list")
    assert len(listed) == 1
    fw = listed[0]
    assert fw["name"] == "k-nodes" and fw["tags"] == ["k-etcd", "k-worker"]
    assert fw["inbound_rules"] == [
        {"protocol": "tcp", "ports": "22", "sources": {"addresses": ["0.0.0.0/0", "::/0"]}},
        {"protocol": "icmp", "ports": "0", "sources": {"addresses": ["0.0.0.0/0"]}},
        {"protocol": "udp", "ports": "0", "sources": {"tags": ["k-etcd", "k-worker"]}},
    ]
    assert fw["outbound_rules"] == [
        {"protocol": "tcp", "ports": "0", "destinations": {"addresses": ["0.0.0.0/0"]}}]
    assert sim.doctl_json(*FW, "get", fw["id"]) == listed
    text = sim.doctl(*FW, "get", fw["id"]).stdout
    assert "protocol:icmp,address:0.0.0.0/0" in text and "Inbound Rules" in text
    calls = sim.calls()
    assert calls["POST /v2/firewalls"] == 1 and calls["GET /v2/firewalls"] == 1
    assert calls["GET /v2/firewalls/{id}"] == 2


@pytest.mark.parametrize(("inbound", "extra", "message"), [
    # doctl drops the unknown key "port": the API sees a tcp rule without ports
    ("protocol:tcp,port:22,address:0.0.0.0/0", (), "422"),
    ("protocol:tcp,ports:70000,address:0.0.0.0/0", (), "invalid ports '70000'"),
    ("protocol:tcp,ports:0,address:0.0.0.0/0", (), "invalid ports '0'"),
    ("protocol:tcp,ports:30-20,address:0.0.0.0/0", (), "invalid ports '30-20'"),
    ("protocol:icmp,ports:22,address:0.0.0.0/0", (), "must not be set for the icmp"),
    ("protocol:sctp,ports:22,address:0.0.0.0/0", (), "invalid protocol 'sctp'"),
    ("protocol:tcp,ports:22,tag:k-nope", (), "tag 'k-nope' does not exist"),
    ("protocol:tcp,ports:22,address:0.0.0.0/0", ("--tag-names", "k-nope"),
     "tag 'k-nope' does not exist"),
    ("protocol:tcp,ports:22,address:300.0.0.1/8", (), "invalid address"),
    ("protocol:tcp,ports:22", (), "at least one of sources"),
    # extractRule's "[%v]" around Go's own brackets of the slice (doctl commands/firewalls.go)
    ("protocol:tcp,ports:22,address", (),
     "Unexpected input value [[address]], must be a key:value"),
    # two spaces: an empty rule between them (strings.Split on " ")
    ("protocol:tcp,ports:22,address:0.0.0.0/0  protocol:udp,ports:53,address:0.0.0.0/0", (),
     "Unexpected input value [[]], must be a key:value pair"),
])
def test_the_api_and_doctl_refuse_what_they_refuse(
        sim: Sim, inbound: str, extra: tuple[str, ...], message: str) -> None:
    rc, out = create(sim, "k-bad", inbound, *extra)
    assert rc == 1 and message in out, out
    assert sim.state()["firewalls"] == {}


def test_duplicate_name_update_and_delete(sim: Sim) -> None:
    assert create(sim, "k-a", "protocol:tcp,ports:22,address:0.0.0.0/0")[0] == 0
    rc, out = create(sim, "k-a", "protocol:tcp,ports:23,address:0.0.0.0/0")
    assert rc == 1 and "409" in out and "duplicate name" in out
    fw_id = sim.doctl_json(*FW, "list")[0]["id"]
    proc = sim.doctl(*FW, "update", fw_id, "--name", "k-a", "--inbound-rules",
                     "protocol:tcp,ports:2222,address:10.0.0.0/8")
    assert proc.returncode == 0, proc.stderr
    (fw,) = sim.doctl_json(*FW, "list")
    assert fw["inbound_rules"] == [
        {"protocol": "tcp", "ports": "2222", "sources": {"addresses": ["10.0.0.0/8"]}}]
    # an update that would leave no rule is refused and changes nothing
    proc = sim.doctl(*FW, "update", fw_id, "--name", "k-a")
    assert proc.returncode == 1 and "at least one inbound or outbound rule" in proc.stderr
    assert sim.doctl_json(*FW, "list") == [fw]
    assert sim.doctl(*FW, "delete", fw_id).returncode == 1  # no terminal: not confirmed
    assert sim.doctl(*FW, "delete", fw_id, "--force").returncode == 0
    assert sim.doctl_json(*FW, "list") == []
    proc = sim.doctl(*FW, "delete", fw_id, "--force")
    assert proc.returncode == 1 and "404" in proc.stderr
