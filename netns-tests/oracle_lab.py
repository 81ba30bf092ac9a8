"""keepalived as the importer's oracle: one keepalived.conf run by keepalived 2.2.7 in one namespace and, converted by
`vrrpctl import-keepalived`, by vrrpd in another, each on its own segment (two labs: the daemons never hear each
other), with the same interfaces and addresses. Both are read once settled and normalised (keepalived_data.py).

Each node: eth0 198.51.100.11/24 and 2001:db8::11/64 on the lab bridge; eth1 203.0.113.11/24, a veth whose peer
eth1p is up; eth2, a veth whose peer eth2p is down (no carrier: a tracked eth2 is down). The placeholder @SCRATCH@ in a
configuration is replaced by a private directory of that node (track files).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from keepalived_data import Normal, differences, from_keepalived_data, from_vrrpd
from lab import Host, Lab, check_address, wait_for
from vrrpd_runner import Vrrpd

from vrrpd.config import load_config

CONFIG_ID = "lab1"
SETTLE_TIMEOUT = 25.0
STABLE_FOR = 1.2  # seconds both views must stay unchanged: scripts run every second in the fixtures
DATA_SIGNAL = 10  # SIGUSR1: keepalived writes $TMPDIR/keepalived.data (keepalived --signum=DATA)


def oracle_host(lab: Lab, name: str) -> Host:
    host = lab.add_host(name, ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    for link, up in (("eth1", True), ("eth2", False)):
        host.run(["ip", "link", "add", link, "type", "veth", "peer", "name", f"{link}p"])
        host.run(["ip", "link", "set", link, "up"])
        if up:
            host.run(["ip", "link", "set", f"{link}p", "up"])
    check_address("203.0.113.11/24")
    host.run(["ip", "addr", "add", "203.0.113.11/24", "dev", "eth1"])
    return host


class KeepalivedRun:
    """keepalived 2.2.7 in the foreground with private pid files and TMPDIR (where SIGUSR1's data file goes)."""

    def __init__(self, host: Host, conf: str) -> None:
        self.host = host
        self.dir = host.lab.workdir / f"oracle-keepalived-{host.name}"
        self.dir.mkdir(mode=0o700)
        self.conf_path = self.dir / "keepalived.conf"
        self.conf_path.write_text(conf.replace("@SCRATCH@", str(self.dir)))
        self.data_path = self.dir / "keepalived.data"
        self.log_path = self.dir / "keepalived.log"
        host.lab.logs[f"keepalived {host.name}"] = self.log_path
        pids = ["-p", str(self.dir / "keepalived.pid"), "-r", str(self.dir / "vrrp.pid")]
        argv = ["keepalived", "-n", "-l", "-D", "-P", "-G", "-i", CONFIG_ID, "-f", str(self.conf_path), *pids]
        with self.log_path.open("a") as log:
            env = {**os.environ, "TMPDIR": str(self.dir)}
            self.proc = host.popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    def _vrrp_pid(self) -> int | None:
        path = self.dir / "vrrp.pid"
        if self.proc.poll() is not None:
            raise AssertionError(f"keepalived exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
        text = path.read_text().strip() if path.exists() else ""
        return int(text) if text else None

    def dump(self) -> str:
        """A fresh data file: remove the old one, signal the VRRP child, wait until it is complete."""
        pid = wait_for(self._vrrp_pid, 15, message="keepalived's VRRP child never wrote its pid file")
        self.data_path.unlink(missing_ok=True)
        os.kill(pid, DATA_SIGNAL)
        # The file is written in one go and closed; the interface list is its last section.
        return wait_for(
            lambda: self.data_path.exists() and "------< Interfaces >------" in (t := self.data_path.read_text()) and t,
            5,
            message="keepalived wrote no data file on SIGUSR1",
        )

    def settled(self, data: str) -> bool:
        # keepalived/vrrp/vrrp_data.c dump_vrrp: "Number of track scripts init" counts scripts without a result.
        return "Number of track scripts init = 0" in data and " = INIT\n" not in data.replace("Wantstate", "")

    def stop(self) -> None:
        self.host.stop(self.proc, signal.SIGTERM)


@dataclass
class Imported:
    returncode: int
    yaml: str
    messages: str
    doc: dict[str, Any] = field(default_factory=dict)


def import_conf(workdir: Path, conf: str, scratch: Path) -> Imported:
    """`vrrpctl import-keepalived` as a user runs it: exit 0 (clean) or 1 (warnings) still print the YAML."""
    source = workdir / f"import-{time.monotonic_ns()}.conf"
    source.write_text(conf.replace("@SCRATCH@", str(scratch)))
    argv = [sys.executable, "-m", "vrrpd.cli.ctl", "import-keepalived", "--config-id", CONFIG_ID, str(source)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    doc = yaml.safe_load(done.stdout) if done.stdout.strip() else {}
    return Imported(done.returncode, done.stdout, done.stderr, doc or {})


class VrrpdRun:
    def __init__(self, host: Host, conf: str) -> None:
        scratch = host.lab.workdir / f"oracle-vrrpd-{host.name}"
        scratch.mkdir(mode=0o700)
        self.imported = import_conf(host.lab.workdir, conf, scratch)
        doc = self.imported.doc
        assert doc.get("instances"), (
            f"import-keepalived exited {self.imported.returncode} without YAML:\n{self.imported.messages}"
        )
        top = {key: value for key, value in doc.items() if key != "instances"}
        self.runner = Vrrpd(host, doc["instances"], **top).start(wait=True)
        self.config = load_config(self.runner.conf_path)

    def settled(self, status: dict[str, Any]) -> bool:
        return all(
            inst["state"] != "INITIALIZE" and all(t["state"] != "unknown" for t in inst["trackers"])
            for inst in status["instances"]
        )

    def stop(self) -> None:
        self.runner.stop()


@dataclass
class Verdict:
    keepalived: dict[str, Normal]
    vrrpd: dict[str, Normal]
    imported: Imported
    diffs: list[tuple[str, str, Any, Any]]

    def report(self) -> str:
        lines = [f"{inst}.{key}: keepalived {ka!r}, vrrpd {ours!r}" for inst, key, ka, ours in self.diffs]
        return "\n".join([*lines, f"(import-keepalived exit {self.imported.returncode})", self.imported.messages])


def compare(ka_lab: Lab, vd_lab: Lab, conf: str, name: str = "node") -> Verdict:
    """Run `conf` under keepalived and, converted, under vrrpd at the same time; compare once both have settled
    (trackers have a result, no instance initialising) and stayed the same for STABLE_FOR seconds."""
    ka = KeepalivedRun(oracle_host(ka_lab, name), conf)
    vd = VrrpdRun(oracle_host(vd_lab, name), conf)
    ka_lab.logs.update(vd_lab.logs)
    try:
        last: tuple[Any, Any] | None = None
        since = time.monotonic()
        deadline = since + SETTLE_TIMEOUT
        while True:
            data, status = ka.dump(), vd.runner.status()
            views = (from_keepalived_data(data), from_vrrpd(status, vd.config))
            ready = ka.settled(data) and vd.settled(status)
            if views != last or not ready:
                last, since = views, time.monotonic()
            elif time.monotonic() - since >= STABLE_FOR:
                break
            assert time.monotonic() < deadline, f"never settled:\n{data}\n{status}"
            time.sleep(0.3)
    finally:
        ka.stop()
        vd.stop()
    return Verdict(views[0], views[1], vd.imported, differences(*views))
