"""The doctl stand-in, driven through its bin wrapper exactly as a bash script runs it."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.standins import state as standin_state
from tests.standins.testing import TOKEN, Sim

CREATE = ("compute", "droplet", "create")
FLAGS = ("--image", "coreos-stable", "--size", "2gb", "--region", "nyc3")


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    return Sim(tmp_path)


def test_create_then_get_by_name_and_by_id(sim: Sim) -> None:
    created = sim.doctl_json(*CREATE, "ctl-01", *FLAGS)
    assert isinstance(created, list) and len(created) == 1
    droplet = created[0]
    # the create answer: status new, no addresses; godo's omitempty drops tags and v4/v6
    assert droplet["status"] == "new"
    assert droplet["networks"] == {}
    assert "tags" not in droplet
    assert isinstance(droplet["id"], int)

    by_name = sim.doctl_json("compute", "droplet", "get", "ctl-01")
    by_id = sim.doctl_json("compute", "d", "g", str(droplet["id"]))
    assert by_name == by_id
    got = by_name[0]
    assert got["name"] == "ctl-01" and got["status"] == "active"
    assert got["region"]["slug"] == "nyc3" and got["size_slug"] == "2gb"
    assert got["image"]["slug"] == "coreos-stable"
    assert {"memory", "vcpus", "disk", "created_at", "vpc_uuid", "volume_ids"} <= set(got)
    kinds = {n["type"]: n["ip_address"] for n in got["networks"]["v4"]}
    assert ipaddress.ip_address(kinds["public"]) in ipaddress.ip_network("203.0.113.0/24")
    assert ipaddress.ip_address(kinds["private"]) in ipaddress.ip_network("10.0.0.0/8")
    # get by name lists (one page) then GETs; get by numeric ID GETs directly
    calls = sim.calls()
    assert calls["POST /v2/droplets"] == 1
    assert calls["GET /v2/droplets"] == 1
    assert calls["GET /v2/droplets/{id}"] == 2


def test_multi_create_sends_one_request_per_name(sim: Sim) -> None:
    out = sim.doctl_json(*CREATE, "w1", "w2", "w3", *FLAGS, "--tag-names", "k8s,k8s-worker")
    assert [d["name"] for d in out] == ["w1", "w2", "w3"]
    assert all(d["tags"] == ["k8s", "k8s-worker"] for d in out)
    calls = sim.calls()
    assert calls["POST /v2/droplets"] == 3 and calls["total"] == 3
    assert len({d["id"] for d in out}) == 3


def test_json_output_is_always_an_array(sim: Sim) -> None:
    assert sim.doctl("compute", "droplet", "list", "-o", "json").stdout == "[]"
    sim.doctl_json(*CREATE, "a", *FLAGS)
    for args in (("compute", "droplet", "list"), ("compute", "droplet", "get", "a"),
                 ("compute", "droplet", "ls", "a*")):
        assert isinstance(sim.doctl_json(*args), list)


def test_missing_and_duplicate_names(sim: Sim) -> None:
    missing = sim.doctl("compute", "droplet", "get", "nope")
    assert missing.returncode == 1
    assert missing.stderr == 'Error: Droplet with the name "nope" could not be found.\n'
    as_json = sim.doctl("compute", "droplet", "get", "nope", "-o", "json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {
        "errors": [{"detail": 'Droplet with the name "nope" could not be found.'}]}

    first = sim.doctl_json(*CREATE, "dup", *FLAGS)[0]["id"]
    second = sim.doctl_json(*CREATE, "dup", *FLAGS)[0]["id"]
    dup = sim.doctl("compute", "droplet", "get", "dup")
    assert dup.returncode == 1
    assert dup.stderr == (f'Error: There are 2 Droplets with the name "dup"; please provide a '
                          f"specific Droplet ID. [{first}, {second}]\n")
    deleting = sim.doctl("compute", "droplet", "delete", "dup", "--force")
    assert deleting.returncode == 1 and "There are 2 Droplets" in deleting.stderr
    assert len(sim.state()["droplets"]) == 2

    gone = sim.doctl("compute", "droplet", "get", "999")
    assert gone.returncode == 1
    assert "GET https://api.digitalocean.com/v2/droplets/999: 404 (request \"" in gone.stderr
    assert "The resource you were accessing could not be found." in gone.stderr


def test_cobra_errors_exit_255(sim: Sim) -> None:
    flag = sim.doctl(*CREATE, "x", *FLAGS, "--bogus")
    assert flag.returncode == 255
    assert "Error: unknown flag: --bogus" in flag.stderr
    assert flag.stdout == "unknown flag: --bogus\n"  # doctl's Execute prints it once more
    short = sim.doctl("compute", "droplet", "list", "-z")
    assert short.returncode == 255 and "unknown shorthand flag: 'z' in -z" in short.stderr
    top = sim.doctl("frobnicate")
    assert top.returncode == 255
    assert 'Error: unknown command "frobnicate" for "doctl"' in top.stderr and top.stdout == ""
    nested = sim.doctl("compute", "droplet", "frob")
    assert nested.returncode == 255 and "unknown command" in nested.stderr
    required = sim.doctl(*CREATE, "x")
    assert required.returncode == 255
    assert required.stdout == 'required flag(s) "image", "region", "size" not set\n'
    assert sim.calls()["total"] == 0


def test_token_is_required_and_never_stored(sim: Sim) -> None:
    no_token = sim.doctl("compute", "droplet", "list", env=sim.env(DIGITALOCEAN_ACCESS_TOKEN=None))
    assert no_token.returncode == 1
    assert no_token.stderr == ("Error: Unable to initialize DigitalOcean API client: access token "
                               "is required. (hint: run 'doctl auth init')\n")
    flag = sim.doctl("-t", "other-secret-token", "compute", "droplet", "list",
                     env=sim.env(DIGITALOCEAN_ACCESS_TOKEN=None))
    assert flag.returncode == 0
    sim.doctl_json(*CREATE, "a", *FLAGS)
    for path in sim.base.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            assert TOKEN.encode() not in text and b"other-secret-token" not in text, path


def test_api_validation_refuses_bad_requests(sim: Sim) -> None:
    bad_name = sim.doctl(*CREATE, "bad_name", *FLAGS)
    assert bad_name.returncode == 1
    assert "POST https://api.digitalocean.com/v2/droplets: 422" in bad_name.stderr
    assert "Only valid hostname characters are allowed." in bad_name.stderr
    bad_size = sim.doctl(*CREATE, "ok", "--image", "coreos-stable", "--size", "huge",
                         "--region", "nyc3")
    assert bad_size.returncode == 1 and "invalid size" in bad_size.stderr
    bad_key = sim.doctl(*CREATE, "ok", *FLAGS, "--ssh-keys", "aa:bb")
    assert bad_key.returncode == 1 and "422" in bad_key.stderr
    assert sim.state()["droplets"] == {}
    # one bad name does not stop the other creates (doctl sends them concurrently)
    mixed = sim.doctl(*CREATE, "good", "bad_one", *FLAGS)
    assert mixed.returncode == 1 and mixed.stdout == ""
    assert [d["name"] for d in sim.state()["droplets"].values()] == ["good"]


def test_user_data_limit_and_precedence(sim: Sim, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("#" * (64 * 1024 + 1))
    refused = sim.doctl(*CREATE, "big", *FLAGS, "--user-data-file", str(big))
    assert refused.returncode == 1 and "422" in refused.stderr
    big.write_text("#" * (64 * 1024))
    assert sim.doctl(*CREATE, "fits", *FLAGS, "--user-data-file", str(big)).returncode == 0

    from_file = tmp_path / "cfg.yaml"
    from_file.write_text("#cloud-config from file\n")
    sim.doctl_json(*CREATE, "both", *FLAGS, "--user-data", "#cloud-config inline",
                   "--user-data-file", str(from_file))
    stored = sim.root("both") / "var/lib/dosim/user-data"
    assert stored.read_text() == "#cloud-config inline"
    missing = sim.doctl(*CREATE, "nofile", *FLAGS, "--user-data-file", str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert missing.stderr == f"Error: open {tmp_path / 'nope'}: no such file or directory\n"


def _age(sim: Sim, seconds: float) -> None:
    """Move every droplet's instants into the past, as if seconds had passed."""
    with standin_state.locked(sim.state_file) as data:
        for rec in data["droplets"].values():
            for key in ("created", "active_at", "ip_at", "sshd_at"):
                if rec["sim"][key] is not None:
                    rec["sim"][key] -= seconds


def test_boot_latency_and_ip_delay(sim: Sim) -> None:
    """new until boot_seconds have passed, then active without networks for ip_delay_seconds.
    The test moves the droplet's clock itself: sleeping through 0.3 s phases raced the
    stand-in's own start-up on a loaded machine."""
    env = sim.env(DOSIM_BOOT_SECONDS="600", DOSIM_IP_DELAY_SECONDS="300")
    sim.doctl(*CREATE, "slow", *FLAGS, env=env, check=True)
    times = next(iter(sim.state()["droplets"].values()))["sim"]
    assert times["active_at"] - times["created"] == pytest.approx(600)
    assert times["ip_at"] - times["active_at"] == pytest.approx(300)

    def look() -> dict:
        return sim.doctl_json("compute", "droplet", "get", "slow")[0]

    first = look()
    assert first["status"] == "new" and first["networks"] == {}
    _age(sim, 600)
    middle = look()
    assert middle["status"] == "active" and middle["networks"] == {}
    _age(sim, 300)
    assert {n["type"] for n in look()["networks"]["v4"]} == {"public", "private"}


def test_wait_polls_the_create_action_then_gets_the_droplet(sim: Sim) -> None:
    env = sim.env(DOSIM_BOOT_SECONDS="2", DOSIM_IP_DELAY_SECONDS="30",
                  DOSIM_POLL_SECONDS="0.05")
    proc = sim.doctl(*CREATE, "w1", "w2", *FLAGS, "--wait", "-o", "json", env=env, check=True)
    out = json.loads(proc.stdout)
    # --wait returns at "active": on the real API the addresses may still be missing then
    assert [d["status"] for d in out] == ["active", "active"]
    assert all(d["networks"] == {} for d in out)
    calls = sim.calls()
    assert calls["POST /v2/droplets"] == 2
    assert calls["GET /v2/droplets/{id}"] == 2
    # polled per droplet until it was active: at least once before and once at "completed"
    # (a bound a loaded machine cannot miss: the first poll comes well within the 2 s boot)
    assert calls["GET /v2/actions/{id}"] >= 2 * 2


def test_server_error_is_retried_like_godo(sim: Sim) -> None:
    sim.doctl_json(*CREATE, "a", *FLAGS)  # call 1
    env = sim.env(DOSIM_FAIL_ON_CALL="2")
    proc = sim.doctl("compute", "droplet", "get", "a", env=env)  # call 2 fails, 3 lists, 4 gets
    assert proc.returncode == 0, proc.stderr
    state = sim.state()
    assert state["api_errors"] == {"500": 1} and state["api_retries"] == 1
    assert state["api_calls"]["total"] == 4

    no_retry = sim.doctl("compute", "droplet", "get", "a", "--http-retry-max", "0",
                         env=sim.env(DOSIM_FAIL_ON_CALL="5"))
    assert no_retry.returncode == 1
    assert "GET https://api.digitalocean.com/v2/droplets?page=1&per_page=200: 500" in (
        no_retry.stderr)
    assert "Unexpected server-side error" in no_retry.stderr
    assert "giving up" not in no_retry.stderr

    exhausted = sim.doctl("compute", "droplet", "list", env=sim.env(DOSIM_FAIL_ON_CALL="6-20"))
    assert exhausted.returncode == 1
    assert exhausted.stderr.rstrip().endswith("; giving up after 6 attempt(s)")


def test_rate_limit_answers_429(sim: Sim) -> None:
    env = sim.env(DOSIM_RATE_LIMIT_ON_CALL="1", DIGITALOCEAN_HTTP_RETRY_MAX="0")
    proc = sim.doctl(*CREATE, "a", *FLAGS, "-o", "json", env=env)
    assert proc.returncode == 1
    detail = json.loads(proc.stdout)["errors"][0]["detail"]
    assert ": 429 (request" in detail and "API Rate limit exceeded." in detail
    assert sim.state()["droplets"] == {}
    retried = sim.doctl(*CREATE, "a", *FLAGS, env=sim.env(DOSIM_RATE_LIMIT_ON_CALL="2"))
    assert retried.returncode == 0 and len(sim.state()["droplets"]) == 1


def test_burst_limit_answers_429_with_retry_after_and_doctl_waits_it(sim: Sim) -> None:
    """DigitalOcean's burst limit (openapi description.yml "Rate Limit": 250 requests a minute,
    each counted for its own minute; a 429 carries retry-after in seconds): here 2 requests a
    4 s window. doctl (go-retryablehttp DefaultBackoff) sleeps the retry-after and retries."""
    env = sim.env(DOSIM_RATE_LIMIT_PER_MINUTE="2", DOSIM_RATE_WINDOW_SECONDS="4")
    for _ in range(2):
        sim.doctl("compute", "droplet", "list", env=env, check=True)
    refused = sim.doctl("compute", "droplet", "list", "-o", "json",
                        env={**env, "DIGITALOCEAN_HTTP_RETRY_MAX": "0"})
    assert refused.returncode == 1
    detail = json.loads(refused.stdout)["errors"][0]["detail"]
    assert detail.startswith("GET https://api.digitalocean.com/v2/droplets")
    assert ': 429 (request "' in detail and detail.endswith(") API Rate limit exceeded.")
    assert sim.state()["api_log"][-1]["retry_after"] in range(1, 5)
    # with doctl's default retries a create waits the retry-after, then is served once
    sim.doctl("compute", "droplet", "create", "a", *FLAGS, env=env, check=True)
    assert len(sim.state()["droplets"]) == 1
    log = sim.state()["api_log"]
    pairs = [(e, next(f for f in log[i + 1:] if f["pid"] == e["pid"]))
             for i, e in enumerate(log) if e["status"] == 429 and e["call"].startswith("POST")]
    assert pairs, log
    assert all(f["t"] >= e["t"] + e["retry_after"] - 0.05 for e, f in pairs), pairs
    # never more than 2 served in any 4 s window
    served = [e["t"] for e in log if e["status"] < 400]
    assert all(sum(t <= u < t + 4 for u in served) <= 2 for t in served), served


def test_burst_limit_off_and_a_refused_request_is_not_counted(sim: Sim) -> None:
    """Broken twins: limit 0 never refuses; refused requests do not extend the wait."""
    off = sim.env(DOSIM_RATE_LIMIT_PER_MINUTE="0")
    for _ in range(5):
        sim.doctl("compute", "droplet", "list", env=off, check=True)
    assert "429" not in sim.state()["api_errors"]
    tight = sim.env(DOSIM_RATE_LIMIT_PER_MINUTE="1", DOSIM_RATE_WINDOW_SECONDS="3",
                    DIGITALOCEAN_HTTP_RETRY_MAX="0")
    sim.doctl("compute", "droplet", "list", env=tight, check=True)
    served_at = sim.state()["api_log"][-1]["t"]
    for _ in range(2):
        assert sim.doctl("compute", "droplet", "list", env=tight).returncode == 1
    # once the served request's own window is over, the next is served (refusals don't count)
    time.sleep(max(0.0, served_at + 3.05 - time.time()))
    sim.doctl("compute", "droplet", "list", env=tight, check=True)


def test_no_ip_glob_never_gets_networks(sim: Sim) -> None:
    env = sim.env(DOSIM_NO_IP="etcd-*")
    sim.doctl(*CREATE, "etcd-01", "ctl-01", *FLAGS, env=env, check=True)
    time.sleep(0.05)
    by_name = {d["name"]: d for d in sim.doctl_json("compute", "droplet", "list")}
    assert by_name["etcd-01"]["status"] == "active" and by_name["etcd-01"]["networks"] == {}
    assert by_name["ctl-01"]["networks"]["v4"]


def test_state_file_config_is_read_and_env_wins(sim: Sim) -> None:
    sim.state_file.parent.mkdir(parents=True)
    sim.state_file.write_text(json.dumps({"config": {"no_ip": "*"}}))
    sim.doctl(*CREATE, "a", *FLAGS, check=True)
    assert sim.doctl_json("compute", "droplet", "get", "a")[0]["networks"] == {}
    sim.doctl(*CREATE, "b", *FLAGS, env=sim.env(DOSIM_NO_IP="nothing"), check=True)
    assert sim.doctl_json("compute", "droplet", "get", "b")[0]["networks"]["v4"]


def test_delete_asks_and_aborts_without_a_yes(sim: Sim) -> None:
    droplet_id = sim.doctl_json(*CREATE, "a", *FLAGS)[0]["id"]
    aborted = sim.doctl("compute", "droplet", "delete", "a")
    assert aborted.returncode == 1
    assert aborted.stderr == ("Warning: Are you sure you want to delete this Droplet? (y/N) ? "
                              "Error: Operation aborted.\n")
    assert sim.doctl("compute", "droplet", "rm", "a", stdin="n\n").returncode == 1
    assert len(sim.state()["droplets"]) == 1
    assert "DELETE /v2/droplets/{id}" not in sim.calls()
    assert sim.doctl("compute", "droplet", "delete", "a", stdin="y\n").returncode == 0
    assert sim.state()["droplets"] == {}
    assert sim.state()["deleted_droplets"][0]["id"] == droplet_id

    sim.doctl_json(*CREATE, "b", *FLAGS)
    forced = sim.doctl("compute", "droplet", "d", "b", "-f")
    assert forced.returncode == 0 and forced.stdout == ""
    assert sim.state()["droplets"] == {}
    assert sim.calls()["DELETE /v2/droplets/{id}"] == 2


def test_delete_by_tag(sim: Sim) -> None:
    sim.doctl_json(*CREATE, "w1", "w2", *FLAGS, "--tag-names", "k8s,k8s-worker")
    sim.doctl_json(*CREATE, "other", *FLAGS)
    both = sim.doctl("compute", "droplet", "delete", "w1", "--tag-name", "k8s", "-f")
    assert both.returncode == 1
    assert "Please specify Droplet identifier or a tag name." in both.stderr
    deleted = sim.doctl("compute", "droplet", "delete", "--tag-name", "k8s", "--force")
    assert deleted.returncode == 0
    assert [d["name"] for d in sim.state()["droplets"].values()] == ["other"]
    assert sim.calls()["DELETE /v2/droplets?tag_name"] == 1
    again = sim.doctl("compute", "droplet", "delete", "--tag-name", "k8s", "--force")
    assert again.returncode == 0
    assert again.stdout == 'Nothing to delete: no Droplets are using the "k8s" tag\n'


def test_tags(sim: Sim) -> None:
    created = sim.doctl("compute", "tag", "create", "k8s")
    assert created.returncode == 0
    assert created.stdout.splitlines() == ["Name    Droplet Count", "k8s     0"]
    sim.doctl_json(*CREATE, "a", *FLAGS, "--tag-names", "k8s,k8s-etcd", "--tag-name", "extra")
    tags = {t["name"]: t["resources"]["droplets"]["count"]
            for t in sim.doctl_json("compute", "tag", "list")}
    assert tags == {"k8s": 1, "k8s-etcd": 1, "extra": 1}
    listed = sim.doctl_json("compute", "droplet", "list", "--tag-name", "k8s-etcd")
    assert [d["name"] for d in listed] == ["a"]
    assert sim.doctl("compute", "tag", "create", "bad tag").returncode == 1
    assert sim.doctl("compute", "t", "create", "x").returncode == 255  # tag has no aliases


def test_ssh_keys(sim: Sim) -> None:
    private, fingerprint = sim.add_key("k8s-key", seed=b"a")
    listed = sim.doctl_json("compute", "ssh-key", "list")
    assert [(k["name"], k["fingerprint"]) for k in listed] == [("k8s-key", fingerprint)]
    key_id = str(listed[0]["id"])
    assert sim.doctl_json("compute", "k", "g", key_id) == sim.doctl_json(
        "compute", "ssh-key", "get", fingerprint)
    text = sim.doctl("compute", "ssh-key", "get", key_id, "--format", "Name,PublicKey",
                     "--no-header").stdout
    assert text.startswith("k8s-key    ssh-ed25519 ")
    again = sim.doctl("compute", "ssh-key", "i", "again", "--public-key-file",
                      str(private) + ".pub")
    assert again.returncode == 1 and "SSH Key is already in use on your account" in again.stderr
    droplet = sim.create("with-key", fingerprint=fingerprint)[0]
    assert sim.state()["droplets"][str(droplet["id"])]["sim"]["ssh_key_ids"] == [int(key_id)]
    garbage = sim.base / "garbage.pub"
    garbage.write_text("not a key\n")
    bad = sim.doctl("compute", "ssh-key", "import", "bad", "--public-key-file", str(garbage))
    assert bad.returncode == 1 and bad.stderr == "Error: ssh: no key found\n"


def test_text_output_columns(sim: Sim) -> None:
    sim.doctl_json(*CREATE, "a", *FLAGS)
    text = sim.doctl("compute", "droplet", "list").stdout.splitlines()
    header = text[0].split()
    assert header[:6] == ["ID", "Name", "Public", "IPv4", "Private", "IPv4"]
    assert text[1].split()[1] == "a"
    ip = sim.public_ip("a")
    picked = sim.doctl("compute", "droplet", "list", "--format", "Name,PublicIPv4",
                       "--no-header").stdout
    assert picked == f"a    {ip}\n"
    bad = sim.doctl("compute", "droplet", "list", "--format", "Nope")
    assert bad.returncode == 1 and bad.stderr == 'Error: unknown column "Nope"\n'


def test_addresses_are_documentation_ranges_and_unique(sim: Sim) -> None:
    names = [f"n{i}" for i in range(6)]
    sim.doctl_json(*CREATE, *names, *FLAGS)
    droplets = sim.doctl_json("compute", "droplet", "list")
    public = [n["ip_address"] for d in droplets for n in d["networks"]["v4"]
              if n["type"] == "public"]
    private = [n["ip_address"] for d in droplets for n in d["networks"]["v4"]
               if n["type"] == "private"]
    assert len(set(public)) == 6 and len(set(private)) == 6
    assert all(ipaddress.ip_address(p) in ipaddress.ip_network("203.0.113.0/24") for p in public)
    assert all(ipaddress.ip_address(p).is_private and p.startswith("10.") for p in private)


def test_concurrent_invocations_share_the_account_safely(sim: Sim) -> None:
    procs = [subprocess.Popen(["doctl", *CREATE, f"p{i}", *FLAGS], env=sim.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(6)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    state = sim.state()
    assert sorted(d["name"] for d in state["droplets"].values()) == [f"p{i}" for i in range(6)]
    assert state["api_calls"]["total"] == 6
    assert len({d["sim"]["public_ip"] for d in state["droplets"].values()}) == 6


def test_without_state_file_setting_it_refuses(sim: Sim) -> None:
    proc = sim.doctl("compute", "droplet", "list", env=sim.env(DOSIM_STATE=None))
    assert proc.returncode == 70 and "DOSIM_STATE" in proc.stderr


def test_template_account_and_droplet_limit(sim: Sim) -> None:
    droplet = sim.doctl_json(*CREATE, "a", *FLAGS)[0]
    ip = sim.public_ip("a")
    shown = sim.doctl("compute", "droplet", "get", "a", "--template", "{{.ID}} {{.PublicIPv4}}")
    assert shown.stdout == f"{droplet['id']} {ip}"
    unknown = sim.doctl("compute", "droplet", "get", "a", "--template", "{{range .Tags}}")
    assert unknown.returncode == 1 and "not simulated" in unknown.stderr
    account = sim.doctl_json("account", "get")
    assert isinstance(account, dict) and account["droplet_limit"] == 25
    env = sim.env(DOSIM_DROPLET_LIMIT="2")
    over = sim.doctl(*CREATE, "b", "c", *FLAGS, env=env)
    assert over.returncode == 1 and "exceed your droplet limit" in over.stderr
    assert sorted(d["name"] for d in sim.state()["droplets"].values()) == ["a", "b"]


def test_wrapper_runs_with_plain_python3_from_any_directory(sim: Sim, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = sim.env(DOSIM_PYTHON=None, PYTHONPATH=None)
    proc = subprocess.run(["bash", "-c", "cd / && doctl version && doctl compute droplet list"],
                          env=env, capture_output=True, text=True, cwd=elsewhere, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("doctl version ") and "ID    Name" in proc.stdout
