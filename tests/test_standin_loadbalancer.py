"""The doctl stand-in's load balancers: doctl's flag syntax, the API's states and refusals.

Flag parsing follows doctl commands/load_balancers.go (buildRequestFromArgs,
extractForwardingRules, fillStructFromStringSliceArgs); fields, states and the API's rules
follow godo load_balancers.go and the API reference, cited in tests/standins/lbservice.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.standins import lbhealth
from tests.standins.testing import Sim

LB = ("compute", "load-balancer")
RULE = "entry_protocol:tcp,entry_port:443,target_protocol:tcp,target_port:443"
CHECK = "protocol:tcp,port:443"


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    s = Sim(tmp_path)
    assert s.doctl("compute", "tag", "create", "k:controller").returncode == 0
    return s


def create(sim: Sim, *extra: str, name: str = "k-lb", rules: str = RULE,
           **env: str) -> tuple[int, str]:
    proc = sim.doctl(*LB, "create", "--name", name, "--region", "nyc3", "--size-unit", "1",
                     "--forwarding-rules", rules, "--health-check", CHECK, *extra, "-o", "json",
                     env=sim.env(**env))
    return proc.returncode, proc.stdout + proc.stderr


def test_new_without_ip_until_active_then_ip_and_tag_droplets(sim: Sim) -> None:
    sim.create("c-01", "c-02", extra=("--tag-names", "k:controller"))
    sim.create("w-01")
    rc, out = create(sim, "--tag-name", "k:controller", DOSIM_LB_BOOT_SECONDS="30")
    assert rc == 0, out
    fresh = json.JSONDecoder().raw_decode(out)[0][0]
    assert fresh["status"] == "new" and fresh["ip"] == ""
    got = sim.doctl_json(*LB, "get", fresh["id"])[0]
    assert got["status"] == "new" and got["ip"] == ""  # still provisioning
    state = json.loads(sim.state_file.read_text())
    state["load_balancers"][fresh["id"]]["sim"]["active_at"] = 0
    sim.state_file.write_text(json.dumps(state))
    got = sim.doctl_json(*LB, "get", fresh["id"])[0]
    assert got["status"] == "active" and got["ip"].startswith(("203.0.113.", "198.51.100."))
    ids = {d["id"] for d in sim.doctl_json("compute", "droplet", "list", "--tag-name",
                                          "k:controller")}
    assert set(got["droplet_ids"]) == ids and len(ids) == 2
    assert got["forwarding_rules"][0]["entry_port"] == 443
    assert got["health_check"]["protocol"] == "tcp" and got["health_check"]["path"] == ""
    # its address is never handed to a droplet created afterwards
    later = sim.create("c-03")[0]["id"]
    assert sim.public_ip(str(later)) != got["ip"]


def test_doctl_rule_syntax_errors(sim: Sim) -> None:
    rc, out = create(sim, rules="entry_protocol=tcp")
    assert rc != 0
    assert "Unexpected input value [entry_protocol=tcp]: must be a key:value pair" in out
    # an unknown key vanishes (port:443), so the API sees a rule without entry_port
    rc, out = create(sim, rules=RULE.replace("entry_port", "port"))
    assert rc != 0 and "entry_port must be a port" in out
    assert json.loads(sim.state_file.read_text())["load_balancers"] == {}


@pytest.mark.parametrize(("extra", "rules", "needle"), [
    (("--tag-name", "k:nope"), RULE, "tag 'k:nope' does not exist"),
    (("--droplet-ids", "4242"), RULE, "droplet 4242 does not exist"),
    ((), RULE.replace("tcp,target_port", "ftp,target_port"), "target_protocol 'ftp'"),
    ((), RULE.replace("entry_protocol:tcp", "entry_protocol:https"), "certificate_id"),
    ((), RULE.replace("target_port:443", "target_port:70000"), "target_port must be a port"),
])
def test_api_refusals(sim: Sim, extra: tuple[str, ...], rules: str, needle: str) -> None:
    rc, out = create(sim, *extra, rules=rules)
    assert rc != 0 and "422" in out and needle in out, out


def test_tag_and_droplet_ids_are_exclusive(sim: Sim) -> None:
    droplet = sim.create("c-01")[0]["id"]
    rc, out = create(sim, "--tag-name", "k:controller", "--droplet-ids", str(droplet))
    assert rc != 0 and "mutually exclusive" in out


def test_names_are_not_unique_update_replaces_delete_removes(sim: Sim) -> None:
    assert create(sim, "--tag-name", "k:controller")[0] == 0
    assert create(sim, "--tag-name", "k:controller")[0] == 0  # the API allows it
    lbs = sim.doctl_json(*LB, "list")
    assert [lb["name"] for lb in lbs] == ["k-lb", "k-lb"]
    first = lbs[0]["id"]
    proc = sim.doctl(*LB, "update", first, "--name", "k-lb", "--region", "nyc3",
                     "--forwarding-rules", RULE.replace("entry_port:443", "entry_port:6443"),
                     "--tag-name", "k:controller", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    updated = json.loads(proc.stdout)[0]
    # PUT replaces everything: the health check not given falls back to the API's default
    assert updated["forwarding_rules"][0]["entry_port"] == 6443
    assert updated["health_check"]["protocol"] == "http"
    assert sim.doctl(*LB, "delete", first, "--force").returncode == 0
    assert [lb["id"] for lb in sim.doctl_json(*LB, "list")] == [lbs[1]["id"]]
    gone = sim.doctl(*LB, "get", first)
    assert gone.returncode != 0 and "404" in gone.stderr
    calls = sim.calls()
    assert calls["POST /v2/load_balancers"] == 2 and calls["DELETE /v2/load_balancers/{id}"] == 1


def test_text_output_has_doctls_columns(sim: Sim) -> None:
    assert create(sim, "--tag-name", "k:controller")[0] == 0
    out = sim.doctl(*LB, "list", "--format", "Name,Status,Tag,ForwardingRules", check=True).stdout
    header, row = out.splitlines()
    assert header.split() == ["Name", "Status", "Tag", "Forwarding", "Rules"]
    assert row.split()[:3] == ["k-lb", "active", "k:controller"]
    assert ("entry_protocol:tcp,entry_port:443,target_protocol:tcp,target_port:443,"
            "certificate_id:,tls_passthrough:false") in row


def test_allow_and_deny_lists_are_stored_and_replaced_by_update(sim: Sim) -> None:
    """doctl --allow-list/--deny-list: comma-separated, repeatable string slices; the API's
    ``firewall: {allow, deny}`` (godo LBFirewall); a PUT without them resets the firewall."""
    rc, out = create(sim, "--tag-name", "k:controller", "--allow-list", "ip:192.0.2.7",
                     "--allow-list", "cidr:198.51.100.0/24,ip:203.0.113.9",
                     "--deny-list", "ip:198.51.100.66")
    assert rc == 0, out
    (lb,) = sim.doctl_json(*LB, "list")
    assert lb["firewall"] == {"allow": ["ip:192.0.2.7", "cidr:198.51.100.0/24", "ip:203.0.113.9"],
                              "deny": ["ip:198.51.100.66"]}
    text = sim.doctl(*LB, "get", lb["id"], "--format", "Firewall", "--no-header", check=True)
    assert text.stdout.strip() == ("allow:[ip:192.0.2.7 cidr:198.51.100.0/24 ip:203.0.113.9],"
                                   "deny:[ip:198.51.100.66]")
    base = ("--name", "k-lb", "--region", "nyc3", "--forwarding-rules", RULE, "--tag-name",
            "k:controller", "-o", "json")
    proc = sim.doctl(*LB, "update", lb["id"], *base, "--allow-list", "ip:192.0.2.8")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["firewall"] == {"allow": ["ip:192.0.2.8"], "deny": []}
    proc = sim.doctl(*LB, "update", lb["id"], *base)  # no list given: no firewall sent
    assert proc.returncode == 0 and "firewall" not in json.loads(proc.stdout)[0]


@pytest.mark.parametrize(("rule", "needle"), [
    ("1.2.3.4", "invalid rule '1.2.3.4'"),  # no type
    ("host:1.2.3.4", "invalid rule 'host:1.2.3.4'"),
    ("ip:1.2.3", "invalid rule 'ip:1.2.3'"),
    ("ip:1.2.3.0/24", "invalid rule 'ip:1.2.3.0/24'"),
    ("cidr:1.2.0.0/33", "invalid rule 'cidr:1.2.0.0/33'"),
    ("cidr:0.0.0.0/0,cidr:::/0", "'cidr:::/0' is IPv6"),
    ("ip:2001:db8::1", "'ip:2001:db8::1' is IPv6"),
])
def test_malformed_or_ipv6_rules_are_refused(sim: Sim, rule: str, needle: str) -> None:
    rc, out = create(sim, "--tag-name", "k:controller", "--allow-list", rule)
    assert rc != 0 and "422" in out and f"firewall.allow: {needle}" in out, out
    rc, out = create(sim, "--tag-name", "k:controller", "--deny-list", rule)
    assert rc != 0 and f"firewall.deny: {needle}" in out, out
    assert json.loads(sim.state_file.read_text())["load_balancers"] == {}


def test_the_firewall_decides_who_gets_through() -> None:
    lb = {"firewall": {"allow": ["cidr:198.51.100.0/24", "ip:192.0.2.7"],
                       "deny": ["ip:198.51.100.66"]}}
    assert lbhealth.admits(lb, "198.51.100.7") and lbhealth.admits(lb, "192.0.2.7")
    assert not lbhealth.admits(lb, "192.0.2.8")  # not on the allow list
    assert not lbhealth.admits(lb, "198.51.100.66")  # denied wins
    assert lbhealth.admits({"firewall": None}, "192.0.2.8")  # no firewall: everyone
    assert not lbhealth.admits({"firewall": {"allow": [], "deny": ["cidr:0.0.0.0/0"]}},
                               "192.0.2.8")
