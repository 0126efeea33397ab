"""The ssh/scp stand-ins: files land in the droplet root, with modes, owners and symlinks."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.standins import dropletfs
from tests.standins.testing import Sim, fake_public_key


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    return Sim(tmp_path)


@pytest.fixture
def node(sim: Sim) -> tuple[Sim, Path, str]:
    """One active droplet ``ctl`` with the account's key; (sim, identity, public IP)."""
    identity, fingerprint = sim.add_key()
    sim.create("ctl", fingerprint=fingerprint)
    return sim, identity, sim.public_ip("ctl")


def ssh(sim: Sim, identity: Path, ip: str, *command: str, stdin: str | None = None,
        user: str = "core", **env: str | None) -> subprocess.CompletedProcess[str]:
    return sim.run("ssh", *sim.ssh_opts(identity), f"{user}@{ip}", *command, stdin=stdin,
                   env=sim.env(**env))


TUTORIAL_TLS = """\
sudo mkdir -p /etc/kubernetes/ssl/
sudo mv ~core/*.pem /etc/kubernetes/ssl/
sudo chown root:root /etc/kubernetes/ssl/*.pem
sudo chmod 600 /etc/kubernetes/ssl/*-key.pem
sudo ln -s /etc/kubernetes/ssl/worker-01.pem /etc/kubernetes/ssl/worker.pem
"""


def test_tutorial_tls_install(node: tuple[Sim, Path, str]) -> None:
    sim, identity, ip = node
    for name, body in (("worker-01.pem", "CERT"), ("worker-01-key.pem", "KEY"), ("ca.pem", "CA")):
        (sim.base / name).write_text(body)
    copied = sim.run("scp", "-q", *sim.ssh_opts(identity), "worker-01-key.pem", "worker-01.pem",
                     "ca.pem", f"core@{ip}:~")
    assert copied.returncode == 0, copied.stderr
    root = sim.root("ctl")
    home = root / "home/core"
    assert (home / "ca.pem").read_text() == "CA"
    assert dropletfs.owner_of(root, "/home/core/ca.pem") == "core:core"

    ran = ssh(sim, identity, ip, stdin=TUTORIAL_TLS)  # ssh core@IP <<EOF ... EOF
    assert ran.returncode == 0, ran.stderr
    ssl = root / "etc/kubernetes/ssl"
    assert sorted(p.name for p in ssl.iterdir()) == [
        "ca.pem", "worker-01-key.pem", "worker-01.pem", "worker.pem"]
    assert not list(home.glob("*.pem"))
    assert stat.S_IMODE((ssl / "worker-01-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((ssl / "ca.pem").stat().st_mode) == 0o644
    for name in ("ca.pem", "worker-01.pem", "worker-01-key.pem"):
        assert dropletfs.owner_of(root, f"/etc/kubernetes/ssl/{name}") == "root:root"
    assert dropletfs.owner_of(root, "/etc/kubernetes/ssl") == "root:root"
    # the symlink keeps its droplet target; resolve() follows it inside the root
    link = ssl / "worker.pem"
    assert link.is_symlink() and os.readlink(link) == "/etc/kubernetes/ssl/worker-01.pem"
    assert dropletfs.resolve(root, "/etc/kubernetes/ssl/worker.pem") == ssl / "worker-01.pem"
    assert dropletfs.resolve(root, "/etc/kubernetes/ssl/worker.pem").read_text() == "CERT"
    # known_hosts got the droplet's key (accept-new), and the log has every command
    line = sim.known_hosts.read_text().split()
    assert line[:2] == [ip, "ssh-ed25519"]
    assert copied.stderr == ""  # -q keeps scp quiet
    ops = [(e["cmd"], e["sudo"], e["rc"]) for e in dropletfs.read_log(root) if e["kind"] == "op"]
    assert ops == [("mkdir", True, 0), ("mv", True, 0), ("chown", True, 0), ("chmod", True, 0),
                   ("ln", True, 0)]
    sessions = [e for e in dropletfs.read_log(root) if e["kind"] == "session"]
    assert sessions[-1]["script"] == TUTORIAL_TLS and sessions[-1]["script_on_stdin"]


def test_command_argument_form_and_file_tests(node: tuple[Sim, Path, str]) -> None:
    sim, identity, ip = node
    script = ("sudo install -d -m 0750 /opt/bin && echo hi | sudo tee /opt/bin/x >/dev/null"
              " && sudo chmod +x /opt/bin/x && [ -x /opt/bin/x ] && test -d /opt/bin"
              " && cat /opt/bin/x && sudo ls /opt/bin")
    proc = ssh(sim, identity, ip, script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi\nx\n"
    root = sim.root("ctl")
    assert stat.S_IMODE((root / "opt/bin").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "opt/bin/x").stat().st_mode) == 0o755
    missing = ssh(sim, identity, ip, "[ -e /etc/nothing ]")
    assert missing.returncode == 1
    closed = ssh(sim, identity, ip, "ls /opt/bin")  # 0750 root:root: not for core
    assert closed.returncode == 2
    assert closed.stderr == "ls: cannot open directory '/opt/bin': Permission denied\n"


def test_without_sudo_the_droplet_says_no(node: tuple[Sim, Path, str]) -> None:
    sim, identity, ip = node
    proc = ssh(sim, identity, ip, "mkdir -p /etc/kubernetes")
    assert proc.returncode == 1
    assert proc.stderr.endswith("mkdir: cannot create directory '/etc/kubernetes': "
                                "Permission denied\n")
    assert not (sim.root("ctl") / "etc/kubernetes").exists()
    (sim.base / "f").write_text("x")
    sim.run("scp", *sim.ssh_opts(identity), "f", f"core@{ip}:f", check=True)
    chown = ssh(sim, identity, ip, "chown root:root f")
    assert chown.returncode == 1
    assert "chown: changing ownership of 'f': Operation not permitted" in chown.stderr
    bad_user = ssh(sim, identity, ip, "sudo chown kube:kube f")
    assert bad_user.returncode == 1 and "invalid user: 'kube:kube'" in bad_user.stderr
    denied = sim.run("scp", *sim.ssh_opts(identity), "f", f"core@{ip}:/etc/")
    assert denied.returncode == 1 and denied.stderr == "scp: /etc/f: Permission denied\n"
    sim.run("ssh", *sim.ssh_opts(identity), f"core@{ip}", "sudo chmod 600 f; sudo chown root f",
            check=True)
    unreadable = ssh(sim, identity, ip, "cat f")
    assert unreadable.returncode == 1 and "cat: f: Permission denied" in unreadable.stderr


def test_unsupported_commands_fail_loudly(node: tuple[Sim, Path, str]) -> None:
    sim, identity, ip = node
    proc = ssh(sim, identity, ip, "sudo docker restart kubelet; echo after")
    assert proc.stdout == "after\n"
    assert proc.returncode == 127  # even though the last command succeeded
    assert "docker: not simulated on droplet ctl" in proc.stderr
    allowed = ssh(sim, identity, ip, "sudo docker restart kubelet", DOSIM_SSH_ALLOW="docker")
    assert allowed.returncode == 0
    logged = [e for e in dropletfs.read_log(sim.root("ctl")) if e["kind"] == "op"]
    assert logged[-1]["cmd"] == "docker" and logged[-1]["args"] == ["restart", "kubelet"]
    host_write = ssh(sim, identity, ip, "echo x > /etc/motd")
    assert host_write.returncode == 2 and "redirection to the absolute path" in host_write.stderr
    absolute = ssh(sim, identity, ip, "sudo /usr/bin/mkdir -p /x")
    assert absolute.returncode == 2 and "absolute command path" in absolute.stderr
    option = ssh(sim, identity, ip, "sudo ln -r a b")
    assert option.returncode == 2 and "not simulated" in option.stderr


def test_unreachable_hosts(sim: Sim) -> None:
    identity, fingerprint = sim.add_key()
    nobody = sim.run("ssh", *sim.ssh_opts(identity), "core@203.0.113.250", "true")
    assert nobody.returncode == 255
    assert nobody.stderr == "ssh: connect to host 203.0.113.250 port 22: Connection timed out\n"
    env = sim.env(DOSIM_BOOT_SECONDS="30")
    sim.run("doctl", "compute", "droplet", "create", "slow", "--image", "coreos-stable",
            "--size", "2gb", "--region", "nyc3", "--ssh-keys", fingerprint, env=env, check=True)
    booting_ip = sim.state()["droplets"].popitem()[1]["sim"]["public_ip"]
    booting = sim.run("ssh", *sim.ssh_opts(identity), f"core@{booting_ip}", "true")
    assert booting.returncode == 255 and "Connection timed out" in booting.stderr
    sim.run("doctl", "compute", "droplet", "create", "sshd", "--image", "coreos-stable",
            "--size", "2gb", "--region", "nyc3", "--ssh-keys", fingerprint,
            env=sim.env(DOSIM_SSHD_DELAY_SECONDS="30"), check=True)
    refused = sim.run("ssh", *sim.ssh_opts(identity), f"core@{sim.public_ip('sshd')}", "true")
    assert refused.returncode == 255 and refused.stderr.endswith("Connection refused\n")
    assert not sim.known_hosts.exists()
    by_name = sim.run("ssh", *sim.ssh_opts(identity), "core@sshd", "true")
    assert by_name.returncode == 255 and "Could not resolve hostname sshd" in by_name.stderr


def test_host_key_checking(node: tuple[Sim, Path, str]) -> None:
    sim, identity, ip = node
    default = sim.run("ssh", "-i", str(identity), f"core@{ip}", "true")
    assert default.returncode == 255
    assert default.stderr == "Host key verification failed.\n"
    first = ssh(sim, identity, ip, "true")
    assert first.returncode == 0
    # ssh ends the line with \r\n; text mode reads it as \n
    added = f"Warning: Permanently added '{ip}' (ED25519) to the list of known hosts.\n"
    assert first.stderr == added
    assert ssh(sim, identity, ip, "true").stderr == ""
    assert len(sim.known_hosts.read_text().splitlines()) == 1
    # a droplet re-created on a known IP presents a new key: accept-new refuses it
    key = sim.known_hosts.read_text().split()[2]
    sim.known_hosts.write_text(f"{ip} ssh-ed25519 {key[:-8]}AAAAAAA=\n")
    changed = ssh(sim, identity, ip, "true")
    assert changed.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED!" in changed.stderr
    assert changed.stderr.endswith("Host key verification failed.\n")


def test_host_key_changes_when_a_droplet_is_recreated(node: tuple[Sim, Path, str]) -> None:
    sim, _identity, _ip = node
    old = next(iter(sim.state()["droplets"].values()))["sim"]["host_key"]
    sim.doctl("compute", "droplet", "delete", "ctl", "--force", check=True)
    assert (sim.base / "sim/droplets/.deleted").is_dir()
    sim.create("ctl")
    new = next(iter(sim.state()["droplets"].values()))["sim"]["host_key"]
    assert new != old and new.startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")


def test_authentication(node: tuple[Sim, Path, str]) -> None:
    sim, identity, ip = node
    other = sim.home / ".ssh" / "id_other"
    other.write_text("placeholder\n")
    other.with_name("id_other.pub").write_text(fake_public_key(b"z"))
    wrong = sim.run("ssh", *sim.ssh_opts(other), f"core@{ip}", "true")
    assert wrong.returncode == 255
    assert wrong.stderr.endswith(f"core@{ip}: Permission denied (publickey).\n")
    as_root = ssh(sim, identity, ip, "true", user="root")  # CoreOS logs in as core only
    assert as_root.returncode == 255 and "Permission denied" in as_root.stderr
    keyless = Sim(sim.base / "other")
    keyless.doctl_json("compute", "droplet", "create", "bare", "--image", "coreos-stable",
                       "--size", "2gb", "--region", "nyc3")
    bare = keyless.run("ssh", *keyless.ssh_opts(identity), f"core@{keyless.public_ip('bare')}",
                       "true")
    assert bare.returncode == 255 and "Permission denied (publickey)" in bare.stderr
    tunnel = sim.run("ssh", "-L", "8080:localhost:8080", *sim.ssh_opts(identity), f"core@{ip}")
    assert tunnel.returncode == 255 and "not simulated" in tunnel.stderr
    bad_option = sim.run("ssh", "-o", "NoSuchOption=1", f"core@{ip}", "true")
    assert bad_option.returncode == 255
    assert "Bad configuration option: nosuchoption" in bad_option.stderr


def test_parallel_sessions_to_several_droplets(sim: Sim) -> None:
    identity, fingerprint = sim.add_key()
    names = ["w1", "w2", "w3", "w4"]
    sim.create(*names, fingerprint=fingerprint)
    ips = [sim.public_ip(n) for n in names]
    opts = " ".join(f"'{o}'" for o in sim.ssh_opts(identity))
    script = "set -e\npids=()\n"
    for ip in ips:
        script += (f"ssh {opts} core@{ip} 'sudo mkdir -p /etc/k && echo {ip} | sudo tee "
                   f"/etc/k/ip >/dev/null && sudo chown root:root /etc/k/ip' & pids+=($!)\n")
    script += 'for p in "${pids[@]}"; do wait "$p"; done\n'
    proc = sim.run("bash", "-c", script)
    assert proc.returncode == 0, proc.stderr
    for name, ip in zip(names, ips, strict=True):
        root = sim.root(name)
        assert (root / "etc/k/ip").read_text() == f"{ip}\n"
        assert dropletfs.owner_of(root, "/etc/k/ip") == "root:root"
    assert sorted(line.split()[0] for line in sim.known_hosts.read_text().splitlines()) == sorted(
        ips)


def test_scp_download_and_directories(node: tuple[Sim, Path, str]) -> None:
    sim, identity, ip = node
    ssh(sim, identity, ip, "echo conf | sudo tee /etc/admin.conf >/dev/null; sudo chmod 644 "
        "/etc/admin.conf")
    fetched = sim.run("scp", *sim.ssh_opts(identity), f"core@{ip}:/etc/admin.conf", "local.conf")
    assert fetched.returncode == 0, fetched.stderr
    assert (sim.base / "local.conf").read_text() == "conf\n"
    (sim.base / "dir").mkdir()
    (sim.base / "dir/a").write_text("a")
    no_r = sim.run("scp", *sim.ssh_opts(identity), "dir", f"core@{ip}:")
    assert no_r.returncode == 1 and "not a regular file" in no_r.stderr
    sim.run("scp", "-r", *sim.ssh_opts(identity), "dir", f"core@{ip}:", check=True)
    assert (sim.root("ctl") / "home/core/dir/a").read_text() == "a"
    missing = sim.run("scp", *sim.ssh_opts(identity), "nope", f"core@{ip}:")
    assert missing.returncode == 1 and missing.stderr == "scp: nope: No such file or directory\n"


def test_resolve_stays_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "etc/ssl").mkdir(parents=True)
    (root / "etc/ssl/real.pem").write_text("x")
    os.symlink("/etc/ssl/real.pem", root / "etc/ssl/abs.pem")
    os.symlink("real.pem", root / "etc/ssl/rel.pem")
    os.symlink("../../../../../../etc/ssl", root / "etc/up")
    assert dropletfs.resolve(root, "/etc/ssl/abs.pem") == root / "etc/ssl/real.pem"
    assert dropletfs.resolve(root, "/etc/ssl/rel.pem") == root / "etc/ssl/real.pem"
    assert dropletfs.resolve(root, "/etc/up/real.pem") == root / "etc/ssl/real.pem"
    assert dropletfs.resolve(root, "/../../etc") == root / "etc"
    assert dropletfs.resolve(root, "/etc/ssl/abs.pem", follow_last=False) == (
        root / "etc/ssl/abs.pem")
    os.symlink("/loop", root / "loop")
    with pytest.raises(OSError):
        dropletfs.resolve(root, "/loop")


def test_curl_asks_the_static_pods_as_their_probes_do(node: tuple[Sim, Path, str]) -> None:
    """curl on a controller (tests/standins/staticpods.py): a static pod serves the ports its
    probes name while its manifest is in the kubelet's directory, the kubelet runs and its image
    can be pulled; anything curl or the component would refuse is refused."""
    sim, identity, ip = node
    pods = sim.root("ctl") / "etc/kubernetes/manifests"
    pods.mkdir(parents=True)
    (pods / "kube-scheduler.yaml").write_text(
        "spec:\n  containers:\n    - image: registry.k8s.io/kube-scheduler:v1.37.0\n"
        "      livenessProbe:\n        httpGet:\n          port: 10259\n")
    url = "https://127.0.0.1:10259/healthz"

    def curl(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return ssh(sim, identity, ip, "curl", *args, **env)

    ok = curl("-fsSk", "--max-time", "5", url)
    assert (ok.returncode, ok.stdout) == (0, "ok"), ok.stderr
    refused = curl("-fsSk", "https://127.0.0.1:10257/healthz")  # nothing probes that port here
    assert refused.returncode == 7
    assert "Failed to connect to 127.0.0.1 port 10257" in refused.stderr
    assert curl("-fsS", url).returncode == 60  # a self-signed certificate: -k as the probes
    assert curl("-fsSk", "https://127.0.0.1:10259/metrics").returncode == 22  # anonymous: 403
    assert curl("-fsSk", f"https://{ip}:10259/healthz").returncode == 2  # not simulated
    assert curl("-fsSk", "--cacert", "ca.pem", url).returncode == 2
    pulled = curl("-fsSk", url, DOSIM_UNPULLABLE_IMAGES="*/kube-scheduler:v1.37.0")
    assert pulled.returncode == 7, pulled.stderr
    assert curl("-fsSk", url, DOSIM_UNPULLABLE_IMAGES="*/kube-scheduler:v1.36.4").returncode == 0
    (pods / "kube-scheduler.yaml").rename(pods.parent / "kube-scheduler.yaml")
    assert curl("-fsSk", url).returncode == 7  # the manifest moved away: the pod stopped
