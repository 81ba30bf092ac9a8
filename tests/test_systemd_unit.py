"""systemd/vrrpd.service: `systemd-analyze verify` accepts it, and the directives the daemon relies on are there.

CI needs `systemd-analyze`, from the Debian package `systemd`. With VRRPD_NO_SKIPS set (scripts/test.sh) a
missing tool fails the run instead of skipping.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

from hosttools import required_tool

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "vrrpd.service"
INSTALLED_BINARY = "/usr/bin/vrrpd"
INSTALLED_CTL = "/usr/bin/vrrpctl"


def directives() -> dict[str, list[str]]:
    """Every `Key=value` of the unit, keys prefixed by section; repeated keys keep every value."""
    result: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        result.setdefault(f"{section}.{key}", []).append(value)
    return result


def test_verify(tmp_path):
    tool = required_tool("systemd-analyze", "systemd")
    # verify checks that ExecStart= binaries exist; point them at one that does, whatever is installed here.
    text = UNIT.read_text()
    assert INSTALLED_BINARY in text
    unit = tmp_path / "vrrpd.service"
    unit.write_text(text.replace(INSTALLED_BINARY, sys.executable).replace(INSTALLED_CTL, sys.executable))
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "vrrpd.service" not in result.stderr, result.stderr  # warnings about our unit, even at status 0


def test_key_directives():
    d = directives()
    expect = {
        "Service.Type": ["notify"],
        "Unit.ConditionPathExists": ["/etc/vrrpd/vrrpd.yaml"],
        "Service.ExecCondition": [f"{INSTALLED_BINARY} check --systemd-condition -c /etc/vrrpd/vrrpd.yaml"],
        "Service.ExecStart": [f"{INSTALLED_BINARY} run -c /etc/vrrpd/vrrpd.yaml"],
        "Service.ExecReload": [f"{INSTALLED_CTL} reload"],
        "Service.Restart": ["on-failure"],
        "Service.Group": ["vrrpd"],
        "Service.RuntimeDirectory": ["vrrpd"],
        "Service.RuntimeDirectoryMode": ["0750"],
        # The drained state file (issue #15): $STATE_DIRECTORY, vrrpd.defaults.DEFAULT_STATE_DIRECTORY.
        "Service.StateDirectory": ["vrrpd"],
        "Service.StateDirectoryMode": ["0750"],
        "Service.LimitNOFILE": ["65536"],
        "Service.AmbientCapabilities": ["CAP_NET_ADMIN CAP_NET_RAW"],
        "Service.CapabilityBoundingSet": ["CAP_NET_ADMIN CAP_NET_RAW"],
        "Service.NoNewPrivileges": ["yes"],
        "Service.ProtectSystem": ["strict"],
        "Service.ProtectHome": ["yes"],
        "Service.PrivateTmp": ["yes"],
        "Service.RestrictAddressFamilies": ["AF_UNIX AF_NETLINK AF_INET AF_INET6 AF_PACKET"],
        "Service.SystemCallFilter": ["@system-service"],
        # Leftovers of scripts and hooks (issue #13): bounded while running, killed at stop.
        "Service.TasksMax": ["1024"],
        "Service.KillMode": ["control-group"],
        "Install.WantedBy": ["multi-user.target"],
    }
    for key, values in expect.items():
        assert d.get(key) == values, key
    # /proc/sys must stay writable for per-interface sysctls (see the comment in the unit).
    assert "Service.ProtectKernelTunables" not in d


def test_unit_parses_as_ini():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(UNIT.read_text())
    assert set(parser.sections()) == {"Unit", "Service", "Install"}


def test_default_paths_match_the_code():
    from vrrpd.defaults import DEFAULT_CONFIG_PATH, DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIRECTORY

    d = directives()
    assert str(DEFAULT_CONFIG_PATH) in d["Service.ExecStart"][0]
    assert DEFAULT_CONTROL_SOCKET.parent == Path("/run") / d["Service.RuntimeDirectory"][0]
    assert Path("/var/lib") / d["Service.StateDirectory"][0] == DEFAULT_STATE_DIRECTORY
