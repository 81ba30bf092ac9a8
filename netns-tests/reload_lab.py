"""What the reload tests (test_reload.py, test_reload_instances.py) share: a vrrpd whose file a test rewrites and
reloads, `vrrpctl` run as an operator runs it (a subprocess in the daemon's namespace), and an observer recording
every IPv4 advert on the segment (helpers/advert_sniffer.py: decoded independently of vrrpd, stamped by the
observer's kernel)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from lab import Host, Lab, wait_for
from vrrpd_runner import Vrrpd

SNIFFER = Path(__file__).resolve().parent / "helpers" / "advert_sniffer.py"
A_IP, B_IP, OBS_IP = "198.51.100.11", "198.51.100.12", "198.51.100.50"


def hosts(lab: Lab) -> tuple[Host, Host, Host]:
    """a and b (the routers) and an observer that only listens."""
    return (
        lab.add_host("a", ipv4=f"{A_IP}/24"),
        lab.add_host("b", ipv4=f"{B_IP}/24"),
        lab.add_host("obs", ipv4=f"{OBS_IP}/24"),
    )


class Observer:
    """Every IPv4 VRRP advert seen by `host`'s eth0, as helpers/advert_sniffer.py records them; with `arp`, every
    ARP frame too."""

    def __init__(self, host: Host, arp: bool = False) -> None:
        self.path = host.lab.workdir / f"adverts-{host.name}.jsonl"
        argv = [sys.executable, str(SNIFFER), host.ifname, str(self.path), *(["--arp"] if arp else [])]
        self.proc = host.popen(argv)
        wait_for(lambda: self.path.exists() and '"ready"' in self.path.read_text(), 10, message="sniffer not ready")

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.path.read_text().splitlines()[1:]:
            if line.endswith("}"):  # not the line being written
                out.append(json.loads(line))
        return out

    def adverts(self, src: str | None = None, vrid: int | None = None, since: float = 0.0) -> list[dict[str, Any]]:
        """Adverts in arrival order; `since` is a time.monotonic() value (the sniffer's `time`)."""
        return [
            r
            for r in self.records()
            if not r.get("arp") and not r.get("short") and r["time"] >= since
            if (src is None or r["src"] == src) and (vrid is None or r["vrid"] == vrid)
        ]

    def garps(self, address: str, after: float = 0.0) -> list[dict[str, Any]]:
        """Gratuitous ARPs for `address` (sender IP = target IP) stamped by the kernel after `after` (time.time())."""
        return [
            r
            for r in self.records()
            if r.get("arp") and r["sender_ip"] == r["target_ip"] == address and r["kernel_time"] > after
        ]


def max_gap(adverts: Sequence[dict[str, Any]]) -> float:
    """The largest gap between consecutive adverts, by the observer kernel's timestamps (seconds)."""
    stamps = [r["kernel_time"] for r in adverts]
    return max((b - a for a, b in itertools.pairwise(stamps)), default=0.0)


def write_file(d: Vrrpd, instances: Sequence[dict[str, Any]], **top: Any) -> None:
    """Replace `d`'s configuration file (atomically: a reload never reads half of it)."""
    doc = {"control_socket": str(d.socket), **top, "instances": list(instances)}
    tmp = d.conf_path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.replace(tmp, d.conf_path)


def write_text(d: Vrrpd, text: str) -> None:
    tmp = d.conf_path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, d.conf_path)


def vrrpctl(d: Vrrpd, *args: str, socket: Path | None = None, timeout: float = 150) -> subprocess.CompletedProcess:
    """`vrrpctl --socket S ARGS...` in `d`'s namespace; the caller checks the exit status."""
    argv = [sys.executable, "-m", "vrrpd.cli.ctl", "--socket", str(socket or d.socket), *args]
    return d.host.run(argv, check=False, timeout=timeout)


def reload(d: Vrrpd) -> str:
    """`vrrpctl reload`, which must exit 0; returns the summary it printed."""
    done = vrrpctl(d, "reload")
    assert done.returncode == 0, f"vrrpctl reload exited {done.returncode}: {done.stderr.strip()}"
    return done.stdout.strip()


def config(d: Vrrpd) -> dict[str, Any]:
    """The status' `config` entry (path, generation, loaded_at, last_reload)."""
    return d.status()["config"]


def log_lines(d: Vrrpd, what: str) -> list[str]:
    """Lines of `d`'s log that report a reload of its file with outcome `what` (applied, rejected)."""
    return [line for line in d.log().splitlines() if f"reload of {d.conf_path} {what}" in line]


def snapshot(d: Vrrpd) -> dict[str, dict[str, Any]]:
    """Per instance: what a rejected reload must leave as it was."""
    keys = ("state", "priority", "vrid", "advert_interval", "virtual_addresses", "preempt")
    return {
        i["name"]: {**{k: i[k] for k in keys}, "transitions": i["counters"]["transitions"]}
        for i in d.status()["instances"]
    }


def hold(predicate: Any, seconds: float, message: str) -> None:
    """Assert that `predicate()` stays true for `seconds` (what a negative outcome needs: no event to wait for)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), message
        time.sleep(0.05)
