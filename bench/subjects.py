"""The subjects of bench/run_all.py: vrrpd or keepalived with N instances on one lab host, and the labs they run in.

Every lab is built by netns-tests/lab.py (a bridge namespace plus one namespace per host, nothing in the root
namespace). A subject writes its daemon's configuration into the lab's work directory, starts the daemon in the
host's namespace, reads its states (vrrpd: control socket; keepalived: its log) and stops it by PID.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import failover as fo  # puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports
import yaml
from lab import Host, Lab, wait_for
from progress import log

DAEMONS = ("vrrpd", "keepalived")
SCHED_POLICIES = ("other", "rr")
RR_PRIORITY = 1
"""What systemd gives `CPUSchedulingPolicy=rr` without `CPUSchedulingPriority=`: it clamps the unset priority (0)
into the policy's range, 1..99, so 1. The hog (default policy) never preempts it."""
MASTER_PRIO, BACKUP_PRIO = 200, 100
R1, R2, OBS = "198.51.100.1", "198.51.100.2", "198.51.100.3"
# A lab's work directory holds one directory per subject: the counter keeps their names apart across restarts.
_counter = itertools.count()


def vip4(vrid: int) -> str:
    """One IPv4 VIP per VRID, 1..255, all inside the documentation ranges."""
    return f"198.51.100.{vrid + 50}/24" if vrid <= 200 else f"203.0.113.{vrid - 200}/24"


@dataclass(frozen=True)
class Inst:
    vrid: int
    priority: int
    interval: float
    vips: tuple[str, ...]
    interface: str = "eth0"

    @property
    def name(self) -> str:
        return f"v{self.interface}_{self.vrid}"


def sched_prefix(policy: str) -> list[str]:
    """The command that starts a daemon under `policy` as systemd's CPUSchedulingPolicy= would: `chrt` sets it and
    execs the daemon (same PID); without reset-on-fork, so keepalived's VRRP child inherits it as under its unit."""
    if policy == "other":
        return []
    if policy == "rr":
        return ["chrt", "--rr", str(RR_PRIORITY)]
    raise ValueError(f"unknown scheduling policy {policy!r} (one of {', '.join(SCHED_POLICIES)})")


def instances(n: int, priority: int, interval: float) -> list[Inst]:
    return [Inst(vrid, priority, interval, (vip4(vrid),)) for vrid in range(1, n + 1)]


class Subject:
    """vrrpd or keepalived with a list of instances in one lab host; every process in the host is the daemon's."""

    daemon: str
    conf: Path
    """The daemon's configuration file (`write_config` writes it)."""

    sched = "other"
    """The scheduling policy the daemon starts under (`sched_prefix`); `make_subject` sets it."""

    def __init__(self, host: Host, insts: Sequence[Inst]) -> None:
        self.host = host
        self.insts = list(insts)
        self.proc: subprocess.Popen | None = None
        self.dir = host.lab.workdir / f"{self.daemon}-{host.name}-{next(_counter)}"
        self.dir.mkdir(mode=0o700)
        self.log_path = self.dir / "daemon.log"
        host.lab.logs[f"{self.daemon} {host.name}"] = self.log_path

    def argv(self) -> list[str]:
        raise NotImplementedError

    def config_text(self) -> str:
        """The daemon's configuration file for `self.insts`."""
        raise NotImplementedError

    def command(self) -> list[str]:
        """What `launch` runs: `argv` under the subject's scheduling policy."""
        return [*sched_prefix(self.sched), *self.argv()]

    def write_config(self, insts: Sequence[Inst] | None = None) -> None:
        """Write the configuration file (for `insts`, which then become the subject's), replacing it atomically:
        a reload never reads half a file."""
        if insts is not None:
            self.insts = list(insts)
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text(self.config_text())
        os.replace(tmp, self.conf)

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def launch(self, extra_env: dict[str, str] | None = None) -> None:
        with self.log_path.open("ab") as out:
            self.proc = self.host.popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, env={**self.env(), **(extra_env or {})}
            )

    def states(self) -> dict[str, str]:
        raise NotImplementedError

    def transitions(self) -> int:
        """State changes so far (a window is valid only if this did not move)."""
        raise NotImplementedError

    def wait_states(self, state: str, timeout: float) -> None:
        def done() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.daemon} on {self.host.name} exited {self.proc.returncode}")
            states = self.states()
            return len(states) == len(self.insts) and all(s == state for s in states.values())

        wait_for(done, timeout, 0.2, f"{self.daemon} on {self.host.name}: not all {state}")

    def pids(self) -> list[int]:
        return fo.netns_pids(self.host)

    def stop(self) -> None:
        if self.proc is not None:
            self.host.stop(self.proc, signal.SIGTERM, 15)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class VrrpdSubject(Subject):
    daemon = "vrrpd"

    def __init__(self, host: Host, insts: Sequence[Inst], code: fo.VrrpdCode) -> None:
        super().__init__(host, insts)
        self.code = code
        self.socket = self.dir / "vrrpd.sock"
        self.conf = self.dir / "vrrpd.yaml"
        self.metrics_listen: str | None = None
        """The exporter's `metrics.listen` (issue #15); set it before `write_config` to serve /metrics."""
        self.write_config()

    def config_text(self) -> str:
        doc = {
            "control_socket": str(self.socket),
            "instances": [
                {
                    "name": i.name,
                    "interface": i.interface,
                    "vrid": i.vrid,
                    "priority": i.priority,
                    "advert_interval": i.interval,
                    "virtual_addresses": list(i.vips),
                }
                for i in self.insts
            ],
        }
        if self.metrics_listen is not None:
            doc["metrics"] = {"listen": self.metrics_listen}
        return yaml.safe_dump(doc)

    def argv(self) -> list[str]:
        # info, as keepalived logs: state changes only.
        # Under the interpreter chosen for vrrpd (issue #16: Debian's /usr/bin/python3 by default), not the bench's.
        return [self.code.python, "-m", "vrrpd.cli.daemon", "run", "-c", str(self.conf), "--log-level", "info"]

    def env(self) -> dict[str, str]:
        return self.code.env()

    def launch(self, extra_env: dict[str, str] | None = None) -> None:
        with self.log_path.open("ab") as out:
            self.proc = self.host.popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.code.root,
                env={**self.env(), **(extra_env or {})},
            )

    def _status(self) -> dict[str, Any] | None:
        from vrrpd.services.control import ControlError, request

        try:
            return request(self.socket, "status", timeout=5.0)
        except (ControlError, OSError):
            return None

    def status(self) -> dict[str, Any] | None:
        """`vrrpctl status --json`, or None when it does not answer."""
        return self._status()

    def states(self) -> dict[str, str]:
        status = self._status()
        return {i["name"]: i["state"] for i in status["instances"]} if status else {}

    def transitions(self) -> int:
        status = self._status()
        if status is None:
            raise RuntimeError(f"vrrpd on {self.host.name} does not answer")
        return sum(i["counters"]["transitions"] for i in status["instances"])


class KeepalivedSubject(Subject):
    daemon = "keepalived"
    _STATE = re.compile(r"\((\S+)\) Entering (\w+) STATE")

    def __init__(self, host: Host, insts: Sequence[Inst]) -> None:
        super().__init__(host, insts)
        self.conf = self.dir / "keepalived.conf"
        self.write_config()

    def config_text(self) -> str:
        # As netns-tests/peers.py configures it, minus the notify script (one fork per transition and instance).
        lines = ["global_defs {", f"    router_id {self.host.name}", "    vrrp_version 3", "}"]
        for i in self.insts:
            lines += [
                f"vrrp_instance {i.name} {{",
                "    state BACKUP",
                f"    interface {i.interface}",
                f"    virtual_router_id {i.vrid}",
                f"    priority {i.priority}",
                f"    advert_int {i.interval:g}",
                "    virtual_ipaddress {",
                *(f"        {v}" for v in i.vips),
                "    }",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def argv(self) -> list[str]:
        pid_files = ["-p", str(self.dir / "keepalived.pid"), "-r", str(self.dir / "vrrp.pid")]
        return ["keepalived", "-n", "-l", "-D", "-P", "-G", "-f", str(self.conf), *pid_files]

    def states(self) -> dict[str, str]:
        states: dict[str, str] = {}
        for m in self._STATE.finditer(self.log_text()):
            states[m.group(1)] = m.group(2)
        return states

    def transitions(self) -> int:
        return sum(1 for _ in self._STATE.finditer(self.log_text()))


def make_subject(daemon: str, host: Host, insts: Sequence[Inst], code: fo.VrrpdCode, sched: str = "other") -> Subject:
    """vrrpd or keepalived, to start under the scheduling policy `sched` (`sched_prefix`)."""
    sched_prefix(sched)  # refuses an unknown policy before anything starts
    subject = VrrpdSubject(host, insts, code) if daemon == "vrrpd" else KeepalivedSubject(host, insts)
    subject.sched = sched
    return subject


def start_pair(master: Subject, backup: Subject | None, settle: float) -> None:
    """Master alone first (it becomes master by its own Master_Down_Timer), then the backup; then wait out the
    GARP bursts (second one 5 s after the transition, in both daemons)."""
    n = len(master.insts)
    mdi = fo.master_down_interval(master.insts[0].interval)
    master.launch()
    master.wait_states("MASTER", 30 + 4 * mdi + n * 0.05)
    if backup is not None:
        backup.launch()
        backup.wait_states("BACKUP", 30 + n * 0.05)
    time.sleep(settle)


# --- the labs they run in --------------------------------------------------------------------------------------


def run_labs(count: int, body: Callable[[int, Lab], Any]) -> list[Any]:
    """Make `count` labs (in this thread: lab.py installs its signal clean-up only from the main thread), run
    `body(i, lab)` for each in its own thread, close them all and return the bodies' results (or exceptions)."""
    labs = [Lab(prefix="ra") for _ in range(count)]
    results: list[Any] = [None] * count
    try:

        def one(i: int) -> None:
            try:
                results[i] = body(i, labs[i])
            except BaseException as exc:
                results[i] = exc
                log(f"lab {i} failed: {exc!r}\n{labs[i].dump_logs(20)}")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for lab in labs:
            lab.close()
    return results


def add_interfaces(host: Host, count: int) -> list[str]:
    """eth1..ethN: more veths from the host into the bridge namespace, each its own segment (not on the bridge:
    the same VRIDs run on every interface), with only an IPv6 link-local address."""
    lab = host.lab
    names = []
    for k in range(1, count + 1):
        eth, port = f"eth{k}", f"x{k}-{host.name}"[:15]
        subprocess.run(
            ["ip", "-n", lab.bridge_ns, "link", "add", port, "type", "veth", "peer", "name", eth, "netns", host.ns],
            check=True,
        )
        subprocess.run(["ip", "-n", lab.bridge_ns, "link", "set", port, "up"], check=True)
        subprocess.run(["ip", "-n", host.ns, "link", "set", eth, "up"], check=True)
        names.append(eth)

    def link_locals() -> bool:
        out = subprocess.run(["ip", "-n", host.ns, "-j", "-6", "addr", "show", "scope", "link"], capture_output=True)
        have = {d["ifname"] for d in json.loads(out.stdout) if d.get("addr_info")}
        return all(n in have for n in names)

    wait_for(link_locals, 10, message="extra interfaces got no link-local")
    return names
