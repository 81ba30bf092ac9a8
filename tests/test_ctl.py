"""vrrpctl against a ControlServer in this process (CliRunner), and once as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from controlcase import ServerThread

from vrrpd.cli.ctl import main
from vrrpd.cli.status import render_status
from vrrpd.cli.status.instances import COLUMNS


def instance(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "gw-v4",
        "interface": "eth0",
        "family": "IPv4",
        "vrid": 51,
        "state": "BACKUP",
        "priority": 150,
        "effective_priority": 140,
        "advert_interval": 1.0,
        "master_advert_interval": 0.5,
        "preempt": True,
        "master_address": "198.51.100.2",
        "master_priority": 200,
        "master_age": 0.25,
        "master_down_interval": 1.6796875,
        "skew_time": 0.1796875,
        "checksum": {"transmit": "pseudo-header", "receive": ["pseudo-header", "message-only"]},
        "virtual_addresses": ["198.51.100.1/24"],
        "counters": {
            "adverts_sent": 3,
            "adverts_received": 1200,
            "transitions": 2,
            "became_master": 1,
            "priority_zero_sent": 1,
            "priority_zero_received": 0,
            "address_mismatches": 0,
            "message_only_checksums": 0,
            "drops": {"ttl": 2, "checksum": 5},
        },
        "fault_reason": None,
    }
    base.update(overrides)
    return base


STATUS: dict[str, Any] = {
    "version": "0.1.0",
    "pid": 4242,
    "uptime": 3725.5,
    "instances": [
        instance(),
        instance(
            name="gw-v6",
            family="IPv6",
            state="MASTER",
            priority=100,
            effective_priority=100,
            advert_interval=0.5,
            master_advert_interval=0.5,
            master_address="fe80::1",
            master_priority=100,
            master_age=None,
            virtual_addresses=["2001:db8:51::1/64"],
            counters={**instance()["counters"], "drops": {}},
            conflict="another address owner fe80::2 (priority 255)",
            conflict_age=12.25,
        ),
        instance(
            name="gw-down",
            interface="eth1",
            state="FAULT",
            master_address=None,
            master_priority=None,
            master_age=None,
            fault_reason="eth1 is down",
        ),
    ],
}


@pytest.fixture
def daemon(tmp_path: Path):
    path = tmp_path / "vrrpd.sock"
    with ServerThread(path, {"status": lambda args: STATUS}):
        yield path


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_status_json_is_exactly_the_daemons_result(daemon):
    result = run("--socket", str(daemon), "status", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == STATUS
    assert result.stdout.startswith('{\n  "version"')  # pretty-printed


def test_status_table(daemon):
    result = run("--socket", str(daemon), "status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "vrrpd 0.1.0, pid 4242, up 1h02m"
    rows = [re.split(r" {2,}", line) for line in lines[1:5]]  # columns are separated by two spaces or more
    assert rows[0] == [*COLUMNS]
    assert rows[1] == [
        *("gw-v4", "eth0", "IPv4", "51", "BACKUP", "150(140)", "1s (0.5s)", "198.51.100.2 prio=200 age=0.2s"),
        *("1.68s", "3", "1200", "7 (checksum=5,ttl=2)"),
    ]
    assert rows[2] == [
        *("gw-v6", "eth0", "IPv6", "51", "MASTER", "100(100)", "0.5s", "fe80::1 prio=100 (self)"),
        *("1.68s", "3", "1200", "0"),
    ]
    assert rows[3][:9] == ["gw-down", "eth1", "IPv4", "51", "FAULT", "150(140)", "1s (0.5s)", "-", "1.68s"]
    assert lines[5] == "gw-v6: CONFLICT: another address owner fe80::2 (priority 255) (last seen 12.2s ago)"
    assert lines[6] == "gw-down: fault: eth1 is down"
    # columns line up: every row's STATE starts where the header's does
    column = lines[1].index("STATE")
    assert all(line[column:].split()[0] in {"STATE", "BACKUP", "MASTER", "FAULT"} for line in lines[1:5])


def test_socket_from_environment(daemon):
    result = run("status", env={"VRRPCTL_SOCKET": str(daemon)})
    assert result.exit_code == 0, result.output
    assert "gw-v4" in result.stdout


def test_daemon_not_running_is_one_line_on_stderr_and_exit_1(tmp_path):
    path = tmp_path / "none.sock"
    result = run("--socket", str(path), "status")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"vrrpctl: no vrrpd listening on {path} (is it running?)\n"


def test_daemon_error_is_exit_1(tmp_path):
    path = tmp_path / "vrrpd.sock"

    def fails(args: dict[str, Any]) -> Any:
        raise RuntimeError("broken")

    with ServerThread(path, {"status": fails}):
        result = run("--socket", str(path), "status")
    assert result.exit_code == 1
    assert result.stderr == "vrrpctl: internal error in status: RuntimeError: broken\n"


@pytest.mark.parametrize("args", [["status", "--bogus"], ["frobnicate"], ["--timeout", "x", "status"]])
def test_usage_errors_exit_2(args):
    assert run(*args).exit_code == 2


def test_render_tolerates_missing_fields():
    text = render_status({"instances": [{"name": "x"}, "junk"]})
    assert text.splitlines()[0] == "vrrpd ?, pid ?, up ?"
    assert text.splitlines()[2].split() == ["x", "-", "-", "-", "-", "-(-)", "-", "-", "-", "-", "-", "0"]
    assert render_status({"version": "1", "pid": 1, "uptime": 5}) == "vrrpd 1, pid 1, up 5s\nno instances\n"
    assert render_status(None) == "unexpected status from the daemon: None\n"


def test_real_subprocess(daemon):
    script = Path(sys.executable).with_name("vrrpctl")
    # The console script exists once the package is (re)installed with its entry points; until then, -m.
    command = [str(script)] if script.exists() else [sys.executable, "-m", "vrrpd.cli.ctl"]
    env = {**os.environ, "VRRPCTL_SOCKET": str(daemon)}
    result = subprocess.run([*command, "status", "--json"], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == STATUS

    env["VRRPCTL_SOCKET"] = str(daemon.with_name("missing.sock"))
    result = subprocess.run([*command, "status"], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 1
    assert result.stderr == f"vrrpctl: no vrrpd listening on {daemon.with_name('missing.sock')} (is it running?)\n"
