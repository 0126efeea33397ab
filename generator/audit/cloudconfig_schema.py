"""What coreos-cloudinit accepts, as data (its config/*.go structs and `valid:` tags).

A field is a scalar type name, a dict (an object's fields) or a one-element list (a list
of that). Keys are in normal form ('_'); cloud-configs may spell them with '-'.
"""

from __future__ import annotations

from typing import Any

STR, BOOL, INT, FLOAT = "string", "bool", "int", "float"

ETCD2 = {
    key: STR
    for key in (
        "advertise_client_urls", "ca_file", "cert_file", "cors", "data_dir", "discovery",
        "discovery_fallback", "discovery_srv", "discovery_proxy", "initial_advertise_peer_urls",
        "initial_cluster", "initial_cluster_state", "initial_cluster_token", "key_file",
        "listen_client_urls", "listen_peer_urls", "log_package_levels", "name", "peer_ca_file",
        "peer_cert_file", "peer_key_file", "peer_trusted_ca_file", "proxy", "trusted_ca_file",
        "wal_dir",
    )
} | {
    key: BOOL
    for key in (
        "client_cert_auth", "debug", "enable_pprof", "force_new_cluster",
        "peer_client_cert_auth", "strict_reconfig_check",
    )
} | {
    key: INT
    for key in (
        "election_timeout", "heartbeat_interval", "max_snapshots", "max_wals",
        "proxy_dial_timeout", "proxy_failure_wait", "proxy_read_timeout",
        "proxy_refresh_interval", "proxy_write_timeout", "snapshot_count",
    )
}

ETCD = {
    key: STR
    for key in (
        "addr", "bind_addr", "ca_file", "cert_file", "cluster_active_size",
        "cluster_remove_delay", "cluster_sync_interval", "cors", "data_dir", "discovery",
        "http_read_timeout", "http_write_timeout", "key_file", "name", "peer_addr",
        "peer_bind_addr", "peer_ca_file", "peer_cert_file", "peer_key_file",
        "peer_election_timeout", "peer_heartbeat_interval", "peers", "peers_file",
        "max_result_buffer", "max_retry_attempts", "retry_interval", "snapshot_count",
        "verbose", "very_verbose", "veryveryverbose",
    )
} | {"snapshot": BOOL, "graphite_host": STR, "max_cluster_size": INT}

FLANNEL = {
    key: STR
    for key in (
        "etcd_endpoints", "etcd_cafile", "etcd_certfile", "etcd_keyfile", "etcd_prefix",
        "ip_masq", "subnet_file", "interface", "public_ip",
    )
}

FLEET = {
    key: STR
    for key in (
        "agent_ttl", "authorized_keys_file", "etcd_cafile", "etcd_certfile", "etcd_keyfile",
        "etcd_key_prefix", "etcd_servers", "metadata", "public_ip",
    )
} | {
    "disable_engine": BOOL, "verify_units": BOOL, "token_limit": INT,
    "engine_reconcile_interval": FLOAT, "etcd_request_timeout": FLOAT,
}

LOCKSMITH = {
    key: STR
    for key in (
        "endpoint", "etcd_cafile", "etcd_certfile", "etcd_keyfile", "group",
        "window_start", "window_length",
    )
}

UPDATE = {"reboot_strategy": STR, "group": STR, "server": STR}

OEM = {key: STR for key in ("id", "name", "version_id", "home_url", "bug_report_url")}

UNIT = {
    "name": STR, "mask": BOOL, "enable": BOOL, "runtime": BOOL, "content": STR,
    "command": STR, "drop_ins": [{"name": STR, "content": STR}],
}

WRITE_FILE = {"encoding": STR, "content": STR, "owner": STR, "path": STR, "permissions": STR}

USER = {
    "name": STR, "passwd": STR, "ssh_authorized_keys": [STR],
    "coreos_ssh_import_github": STR, "coreos_ssh_import_github_users": [STR],
    "coreos_ssh_import_url": STR, "gecos": STR, "homedir": STR, "no_create_home": BOOL,
    "primary_group": STR, "groups": [STR], "no_user_group": BOOL, "system": BOOL,
    "no_log_init": BOOL, "shell": STR,
}

SCHEMA: dict[str, Any] = {
    "ssh_authorized_keys": [STR],
    "hostname": STR,
    "manage_etc_hosts": STR,
    "users": [USER],
    "write_files": [WRITE_FILE],
    "coreos": {
        "etcd": ETCD, "etcd2": ETCD2, "flannel": FLANNEL, "fleet": FLEET,
        "locksmith": LOCKSMITH, "oem": OEM, "update": UPDATE, "units": [UNIT],
    },
}

# `valid:` tags: the raw scalar text must match (paths in normal form, [] = each item).
VALUES = {
    "coreos.units[].command": r"start|stop|restart|reload|try-restart|reload-or-restart"
    r"|reload-or-try-restart",
    "coreos.etcd2.proxy": r"on|off|readonly",
    "coreos.update.reboot_strategy": r"reboot|etcd-lock|best-effort|off",
    "write_files[].permissions": r"0?[0-7]{3,4}",
    "write_files[].encoding": r"base64|b64|gz|gzip|gz\+base64|gzip\+base64|gz\+b64|gzip\+b64",
    "manage_etc_hosts": r"localhost",
}

# Scalar YAML tags each field type takes (go-yaml decodes any scalar into a string).
COMPATIBLE = {
    STR: {"str", "int", "float", "bool"},
    BOOL: {"bool"},
    INT: {"int"},
    FLOAT: {"int", "float"},
}

# DigitalOcean refuses user data above 64 KiB.
MAX_USER_DATA = 64 * 1024
HEADER = "#cloud-config"
# The longest value the apply can substitute for each placeholder (profiles.py names each
# profile's), with the longest IPv4 address; the etcd ones once per member, comma-joined.
LONGEST_IP = "255.255.255.255"
PLACEHOLDERS = {
    "ETCD_PEER": "{ETCD_PREFIX}-00=https://" + LONGEST_IP + ":{ETCD_PEER_PORT}",
    "CONTROLLER_PUBLIC_IP": LONGEST_IP,
    "ETCD_ENDPOINTS": "https://" + LONGEST_IP + ":{ETCD_CLIENT_PORT}",
    "APISERVER_ENDPOINT": LONGEST_IP,
}
PER_ETCD_MEMBER = ("ETCD_PEER", "ETCD_ENDPOINTS")
# /usr is read-only on CoreOS: coreos-cloudinit fails to write there.
READ_ONLY_PREFIX = "/usr/"
