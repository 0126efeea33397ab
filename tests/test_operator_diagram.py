"""make diagram: the cluster drawn by graphviz from settings.env and state/ (issue 13)."""

from __future__ import annotations

import html
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import bake as baking
from generator import facts
from tests.applying import Apply
from tests.baking import copy_cluster


def svg_text(cluster: Path, prefix: str = "build/topology") -> str:
    """The SVG with graphviz's entities (``&#45;`` for ``-``) decoded."""
    return html.unescape((cluster / f"{prefix}.svg").read_text())


def test_rehearsed_cluster_drawn_with_droplets_ips_and_ports(default_cluster: Path,
                                                             tmp_path: Path) -> None:
    apply = Apply.create(copy_cluster(default_cluster, tmp_path), tmp_path / "sim")
    apply.make("etcd", "controller", "worker", WORKERS="2")
    apply.make("diagram")
    s = apply.settings()
    svg = svg_text(apply.cluster)
    for name, rec in apply.droplets().items():
        assert name in svg
        assert f"public {rec['sim']['public_ip']}" in svg, name
        assert f"private {rec['sim']['private_ip']}" in svg, name
    for port in (f"client {s['ETCD_CLIENT_PORT']}/tcp", f"peer {s['ETCD_PEER_PORT']}/tcp",
                 f"https {s['APISERVER_SECURE_PORT']}/tcp", f"kubelet {s['KUBELET_PORT']}/tcp",
                 f"{s['FLANNEL_PORT']} (private)", f"{s['NODE_PORT_RANGE']}/tcp",
                 f"ssh {s['SSH_PORT']}/tcp"):
        assert port in svg, port
    assert (s["KUBELET_PORT"], s["FLANNEL_PORT"], s["SSH_PORT"]) == (
        str(facts.KUBELET_PORT), "8472/udp", str(facts.SSH_PORT))
    assert "workers (2)" in svg and "planned" not in svg
    # graphviz accepts the source it was drawn from
    canon = subprocess.run(["dot", "-Tcanon", str(apply.cluster / "build/topology.dot")],
                           capture_output=True, text=True, check=False)
    assert canon.returncode == 0, canon.stderr
    png = (apply.cluster / "build/topology.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert 600 <= width <= 4000 and 200 <= height <= 3000, (width, height)


def test_ports_follow_the_answers(bake_with: Callable[..., Path]) -> None:
    cluster = bake_with(_flannel_backend="udp", _node_port_range="31000-32000", worker_count=3)
    svg = svg_text(cluster, "docs/topology")
    assert "flannel udp" in svg and "8285/udp" in svg and "8472" not in svg
    assert "31000-32000/tcp" in svg and "workers (3)" in svg
    assert svg.count("planned: IPs once created") == 5
    host_gw = bake_with(_flannel_backend="host-gw")
    assert "flannel" not in svg_text(host_gw, "docs/topology")


def test_broken_dot_source_is_refused(cluster_copy: Path) -> None:
    """The negative twin: dot itself rejects a label a stray quote cuts short (a state record
    edited by hand; settings.env cannot carry a quote: its check refuses it first)."""
    state = cluster_copy / "state/droplets"
    state.mkdir(parents=True)
    (state / "do-cluster-etcd-01.json").write_text(
        '{"id": 1, "name": "do-cluster-etcd-01", "public_ip": "203.0.113.2\\"", '
        '"private_ip": "10.101.0.2"}\n')
    proc = subprocess.run(["make", "diagram"], cwd=cluster_copy, capture_output=True, text=True,
                          check=False)
    assert proc.returncode != 0 and "dot rejected" in proc.stderr
    assert not (cluster_copy / "build/topology.svg").exists()


def test_bake_embeds_the_planned_picture(default_cluster: Path) -> None:
    readme = (default_cluster / "README.md").read_text()
    assert baking.TOPOLOGY_EMBED in readme
    svg = svg_text(default_cluster, "docs/topology")
    assert "planned from settings.env" in svg and "do-cluster-etcd-01" in svg
    assert not (default_cluster / "docs/topology.png").exists()  # the repo stays text


def test_bake_without_graphviz_leaves_a_note(cluster_copy: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for f in (cluster_copy / "docs").iterdir():
        f.unlink()
    real_which = baking.shutil.which
    monkeypatch.setattr(baking.shutil, "which",
                        lambda tool: None if tool == "dot" else real_which(tool))
    baking.draw_planned_topology(cluster_copy)
    readme = (cluster_copy / "README.md").read_text()
    assert baking.TOPOLOGY_EMBED not in readme
    assert "No picture was drawn at bake time: dot; run `make diagram`." in readme
    assert list((cluster_copy / "docs").iterdir()) == []


def test_every_etcd_member_and_controller_is_drawn(bake_with: Callable[..., Path]) -> None:
    """etcd_count=3 controller_count=2: three members meshed as peers; each group's proxies
    drawn once to the etcd group (compound edges), not once per droplet and member."""
    cluster = bake_with(etcd_count=3, controller_count=2)
    svg = svg_text(cluster, "docs/topology")
    assert all(f"do-cluster-etcd-0{n}" in svg for n in (1, 2, 3))
    assert svg.count("planned: IPs once created") == 3 + 2 + 1
    assert "etcd (3, peers meshed on 2380/tcp (private))" in svg
    assert svg.count("etcd proxy: client") == 2
    dot = (cluster / "docs/topology.dot").read_text()
    assert len(mesh_edges(dot)) == 3


def mesh_edges(dot: str) -> list[str]:
    return [line for line in dot.splitlines() if "dir=none" in line]


def test_a_big_cluster_stays_readable(bake_with: Callable[..., Path]) -> None:
    """Issue 23 (6): 5 members, 3 controllers, 20 workers. Before: 311 edges, a 3408x11252
    PNG. Now: the peers a mesh (10 lines), one edge per flow between groups, workers past a
    handful as the first three and one box for the rest, the PNG bounded (size 20 in at 96
    dpi)."""
    cluster = bake_with(etcd_count=5, controller_count=3, worker_count=20)
    subprocess.run(["make", "diagram"], cwd=cluster, check=True, capture_output=True, timeout=120)
    dot = (cluster / "build/topology.dot").read_text()
    assert len(mesh_edges(dot)) == 10
    assert dot.count("->") - 10 <= 12
    svg = svg_text(cluster)
    assert "workers (20)" in svg and "17 more workers" in svg
    assert "do-cluster-worker-04 .. do-cluster-worker-20" in svg and "0 created, 17 planned" in svg
    assert "do-cluster-worker-05" not in svg.replace("do-cluster-worker-04 .. ", "")
    png = (cluster / "build/topology.png").read_bytes()
    width, height = struct.unpack(">II", png[16:24])
    assert width <= 1920 and height <= 1920, (width, height)
