"""Runs our own daemon in a lab host: writes its YAML, starts `vrrpd run`, reads `status` over the control socket."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from lab import Host, Lab, wait_for

from vrrpd.services.control import ControlError, request

_counter = itertools.count()
TEST = shutil.which("test") or "/usr/bin/test"


def instance(
    name: str = "v",
    vrid: int = 51,
    priority: int = 100,
    addresses: Sequence[str] = ("198.51.100.100/24",),
    advert_interval: float = 0.1,
    accept_mode: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One instance's YAML; None for `accept_mode` leaves the key out (the daemon's default: true)."""
    inst = {
        "name": name,
        "interface": "eth0",
        "vrid": vrid,
        "priority": priority,
        "advert_interval": advert_interval,
        "virtual_addresses": list(addresses),
        **extra,
    }
    if accept_mode is not None:
        inst["accept_mode"] = accept_mode
    return inst


class Vrrpd:
    def __init__(self, host: Host, instances: Sequence[dict[str, Any]], **top: Any) -> None:
        self.host = host
        self.dir = host.lab.workdir / f"vrrpd-{host.name}-{next(_counter)}"
        self.dir.mkdir(mode=0o700)
        self.socket = self.dir / "vrrpd.sock"
        self.conf_path = self.dir / "vrrpd.yaml"
        self.log_path = self.dir / "vrrpd.log"
        self.instances = list(instances)
        self.conf_path.write_text(
            yaml.safe_dump({"control_socket": str(self.socket), "instances": self.instances, **top})
        )
        host.lab.logs[f"vrrpd {host.name}"] = self.log_path
        self.proc: subprocess.Popen | None = None

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", "vrrpd.cli.daemon", "run", "-c", str(self.conf_path), "--log-level", "debug"]

    def start(self, wait: bool = True, env: dict[str, str] | None = None) -> Vrrpd:
        log = self.log_path.open("ab")
        # Its own state directory (the drained state file), kept across restarts of this daemon.
        env = {**os.environ, "STATE_DIRECTORY": str(self.dir), **(env or {})}
        self.proc = self.host.popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        if wait:
            wait_for(self._ready, 15, message=f"vrrpd on {self.host.name} never answered on {self.socket}")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"vrrpd on {self.host.name} exited {self.proc.returncode}:\n{self.log()}")
        try:
            self.status()
        except ControlError:
            return False
        return True

    def status(self) -> dict[str, Any]:
        return request(self.socket, "status", timeout=2.0)

    def instance_status(self, name: str = "v") -> dict[str, Any]:
        for inst in self.status()["instances"]:
            if inst["name"] == name:
                return inst
        raise KeyError(name)

    def state(self, name: str = "v") -> str | None:
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            return self.instance_status(name)["state"]
        except ControlError:
            return None

    def stop(self, timeout: float = 10) -> int | None:
        assert self.proc is not None
        return self.host.stop(self.proc, timeout=timeout)

    def crash(self) -> None:
        assert self.proc is not None
        self.host.kill(self.proc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __repr__(self) -> str:
        return f"Vrrpd({self.host.name})"


def vip_holders(hosts: Sequence[Host], vip: str) -> list[str]:
    """Names of the hosts that have `vip` (ADDR/PREFIX) on eth0."""
    return [h.name for h in hosts if vip in h.addresses()]


def two_hosts(lab: Lab) -> tuple[Host, Host]:
    return (
        lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64"),
        lab.add_host("b", ipv4="198.51.100.12/24", ipv6="2001:db8::12/64"),
    )


def flag_script(flag: Path, **extra) -> dict:
    """A check that fails while `flag` exists."""
    return {"command": [TEST, "!", "-e", str(flag)], "interval": 0.1, "timeout": 1, **extra}


def follow_events(host: Host, d: Vrrpd, out: Path, *extra: str) -> subprocess.Popen:
    """`vrrpctl events` as a subprocess in the host's namespace, stdout to `out`."""
    argv = [sys.executable, "-m", "vrrpd.cli.ctl", "--socket", str(d.socket), "events", *extra]
    with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
        return host.popen(argv, stdout=stdout, stderr=stderr)


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
