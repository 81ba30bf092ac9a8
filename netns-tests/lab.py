"""Network-namespace lab for real-kernel tests.

Topology: one namespace holds a Linux bridge; every host is its own namespace whose ``eth0`` is one end of a veth pair
whose other end is a port of that bridge. Nothing is ever created in the root namespace: each veth is created inside
the bridge namespace with its peer placed straight into the host namespace.

Only the documentation ranges 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32 belong on these links.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeVar

__all__ = ["Host", "Lab", "wait_for"]

T = TypeVar("T")

_ALLOWED_NETS = tuple(
    ipaddress.ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "fe80::/10")
)
_BRIDGE = "br0"
# Interface names are limited to IFNAMSIZ-1 characters.
_IFNAMSIZ = 15


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.02, message: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy and return that value.

    Raises AssertionError (so a timeout reads as a test failure, not an error) carrying ``message`` and the last value
    or exception seen, which is usually what explains the failure.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = predicate()
        except Exception as exc:  # a probe racing the system under test may fail transiently
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            detail = f"{message}: " if message else ""
            raise AssertionError(f"{detail}timed out after {timeout:.3f}s (last result: {last!r})")
        time.sleep(interval)


def check_address(addr: str) -> None:
    # A typo here would put arbitrary addresses on a real link; refuse anything outside the test ranges.
    iface = ipaddress.ip_interface(addr)
    if not any(iface.ip in net for net in _ALLOWED_NETS):
        raise ValueError(f"{addr} is outside the test ranges 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32")


def _ip(argv: list[str], timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return _checked(subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL))


def _checked(cp: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if cp.returncode != 0:
        err = subprocess.CalledProcessError(cp.returncode, cp.args, cp.stdout, cp.stderr)
        # CalledProcessError's message omits the output, which is nearly always what explains the failure.
        err.add_note(f"stdout: {cp.stdout.strip()}\nstderr: {cp.stderr.strip()}")
        raise err
    return cp


def _sysctls(ns: str, settings: dict[str, str]) -> None:
    # One shell writing /proc/sys directly costs one fork instead of one `sysctl` per setting. /proc/sys/net is
    # resolved in the namespace of the writing process, hence `ip netns exec`.
    script = "; ".join(f"echo {value} > /proc/sys/{key.replace('.', '/')}" for key, value in settings.items())
    _ip(["ip", "netns", "exec", ns, "sh", "-ec", script])


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Host:
    """One network namespace with a single interface ``eth0`` on the lab bridge."""

    ifname: str = "eth0"

    def __init__(self, lab: Lab, name: str, ns: str) -> None:
        self.name = name
        self.ns = ns
        self.lab = lab

    def __repr__(self) -> str:
        return f"Host({self.name!r}, ns={self.ns!r})"

    def _argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def run(self, argv: list[str], check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        cp = subprocess.run(self._argv(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return _checked(cp) if check else cp

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        # Its own session makes the process a group leader, so a crash (or cleanup) can reach its children too.
        kwargs["start_new_session"] = True
        # `ip netns exec` execs the target in place, so the Popen pid is the program's own pid.
        proc = subprocess.Popen(self._argv(argv), **kwargs)
        self.lab._track(proc)
        return proc

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> int | None:
        """Send ``sig`` to the process (not its group: a daemon shuts its children down itself) and wait.

        Returns the exit code, or None if it did not exit within ``timeout`` (the group is then SIGKILLed).
        """
        if proc.poll() is not None:
            return proc.returncode
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            return None

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the whole process group, as a crash would."""
        _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    def _link(self) -> dict[str, Any]:
        out = _ip(["ip", "-n", self.ns, "-j", "link", "show", "dev", self.ifname]).stdout
        return json.loads(out)[0]

    @property
    def mac(self) -> str:
        return str(self._link()["address"])

    def _addr_info(self) -> list[dict[str, Any]]:
        out = _ip(["ip", "-n", self.ns, "-j", "addr", "show", "dev", self.ifname]).stdout
        data = json.loads(out)
        return list(data[0].get("addr_info", [])) if data else []

    def _link_local(self) -> str | None:
        for info in self._addr_info():
            if info.get("family") == "inet6" and info.get("scope") == "link":
                return str(info["local"])
        return None

    @property
    def link_local(self) -> str:
        # Appears only once the link has carrier; waiting briefly avoids racing a link that was just brought up.
        return wait_for(self._link_local, 5, message=f"{self.name}: no IPv6 link-local address on {self.ifname}")

    def addresses(self, family: int | None = None) -> list[str]:
        wanted = {None: None, socket.AF_INET: "inet", socket.AF_INET6: "inet6"}[family]
        return [
            f"{info['local']}/{info['prefixlen']}"
            for info in self._addr_info()
            if wanted is None or info.get("family") == wanted
        ]

    def link_set(self, up: bool) -> None:
        _ip(["ip", "-n", self.ns, "link", "set", "dev", self.ifname, "up" if up else "down"])


class Lab:
    """A bridge namespace plus host namespaces; everything it made is removed by close()."""

    def __init__(self, prefix: str = "vt") -> None:
        # pid + random keeps parallel runs (xdist, other engineers) apart while staying short enough to read.
        self.id = f"{prefix}{os.getpid() % 1000}{secrets.token_hex(2)}"
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self._closed = False
        # How long close() lets tracked processes shut down after SIGTERM before SIGKILL.
        self.stop_grace = 3.0
        self._workdir: Path | None = None
        # name -> log file; the pytest fixture dumps these when a test fails: daemon output explains most failures.
        self.logs: dict[str, Path] = {}
        self.bridge_ns = f"{self.id}-sw"
        _register(self)
        try:
            self._create_bridge()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _add_ns(self, ns: str) -> None:
        # Recorded before creation: if `ip netns add` half-succeeds, close() still tries to delete it.
        self._namespaces.append(ns)
        _ip(["ip", "netns", "add", ns])

    def _create_bridge(self) -> None:
        ns = self.bridge_ns
        self._add_ns(ns)
        # No IPv6 in the switch: the bridge would otherwise emit its own RS/MLD noise into every capture.
        _sysctls(ns, {f"net.ipv6.conf.{scope}.disable_ipv6": "1" for scope in ("all", "default")})
        # Snooping must be off: the bridge would otherwise drop IPv6 VRRP adverts (no MLD querier on the segment).
        bridge_opts = ["stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"]
        _ip(["ip", "-n", ns, "link", "add", _BRIDGE, "type", "bridge", *bridge_opts])
        _ip(["ip", "-n", ns, "link", "set", "lo", "up"])
        _ip(["ip", "-n", ns, "link", "set", _BRIDGE, "up"])

    def add_host(self, name: str, ipv4: str | None = None, ipv6: str | None = None) -> Host:
        if self._closed:
            raise RuntimeError("lab is closed")
        if name in self.hosts:
            raise ValueError(f"host {name!r} already exists")
        for addr in (ipv4, ipv6):
            if addr is not None:
                check_address(addr)
        index = len(self._namespaces) - 1
        ns = f"{self.id}-{name}"
        if len(ns) > _IFNAMSIZ or not name.replace("-", "").replace("_", "").isalnum():
            ns = f"{self.id}-h{index}"
        port = f"v{index}-{name}"[:_IFNAMSIZ]
        self._add_ns(ns)
        host = Host(self, name, ns)
        self.hosts[name] = host
        eth = host.ifname

        # Defaults first so eth0 is born with them; eth0 is set again below because a device moved into a
        # namespace is not guaranteed to pick up that namespace's defaults.
        ipv6_conf = {"accept_dad": "0", "dad_transmits": "0", "keep_addr_on_down": "1"}
        _sysctls(ns, {f"net.ipv6.conf.{scope}.{k}": v for scope in ("all", "default") for k, v in ipv6_conf.items()})
        _ip(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Created in the switch namespace with the peer placed directly into the host: never touches the root netns.
        _ip(["ip", "-n", self.bridge_ns, "link", "add", port, "type", "veth", "peer", "name", eth, "netns", ns])
        _ip(["ip", "-n", self.bridge_ns, "link", "set", port, "master", _BRIDGE])
        _ip(["ip", "-n", self.bridge_ns, "link", "set", port, "up"])
        _sysctls(ns, {f"net.ipv6.conf.{eth}.{k}": v for k, v in ipv6_conf.items()})
        if ipv4 is not None:
            _ip(["ip", "-n", ns, "addr", "add", ipv4, "dev", eth])
        if ipv6 is not None:
            _ip(["ip", "-n", ns, "addr", "add", ipv6, "dev", eth, "nodad"])
        host.link_set(True)
        # Callers expect a usable link on return: carrier plus link-local (which VRRPv3 over IPv6 sources from).
        wait_for(host._link_local, 5, message=f"{name}: {eth} never got a link-local address")
        return host

    @property
    def workdir(self) -> Path:
        """A private (0700) scratch directory for configs, logs and pid files; removed by close()."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix=f"{self.id}-"))
        return self._workdir

    def dump_logs(self, tail: int = 200) -> str:
        parts = []
        for name, path in self.logs.items():
            try:
                lines = path.read_text(errors="replace").splitlines()[-tail:]
            except OSError as exc:
                lines = [f"<unreadable: {exc}>"]
            parts.append(f"----- {name} ({path}) -----\n" + "\n".join(lines))
        return "\n".join(parts)

    def _track(self, proc: subprocess.Popen) -> None:
        with self._lock:
            closed = self._closed
            if not closed:
                self._procs.append(proc)
        if closed:
            # Nobody would ever end it: refuse rather than leak a process into a namespace that is going away.
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError("lab is closed")

    def close(self) -> None:
        """End tracked processes, then delete every namespace. Idempotent; never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._teardown(self.stop_grace)

    def _teardown(self, grace: float) -> None:
        # Lists are copied, not cleared: a signal arriving mid-close re-runs this from the start, and every step is
        # safe to repeat (signalling a dead group, deleting a deleted namespace).
        with contextlib.suppress(BaseException):
            self._end_processes(list(self._procs), grace)
        for ns in reversed(list(self._namespaces)):
            try:
                self._kill_stragglers(ns)
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
            except BaseException:
                pass
        if self._workdir is not None and os.environ.get("VRRPD_LAB_KEEP") != "1":
            shutil.rmtree(self._workdir, ignore_errors=True)
        _unregister(self)

    @staticmethod
    def _end_processes(procs: list[subprocess.Popen], grace: float) -> None:
        live = [p for p in procs if p.poll() is None]
        # The leader may already be gone while its children linger (a daemon's worker), so signal groups regardless.
        for p in procs:
            _signal_group(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.0, deadline - time.monotonic()))
        for p in procs:
            _signal_group(p.pid, signal.SIGKILL)
        for p in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
            for stream in (p.stdin, p.stdout, p.stderr):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()

    @staticmethod
    def _kill_stragglers(ns: str) -> None:
        # Anything still inside our namespace was started by this lab (e.g. a child that changed its session); a
        # process left behind would keep the namespace alive after `ip netns del`.
        argv = ["ip", "netns", "pids", ns]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        for pid in (int(tok) for tok in cp.stdout.split() if tok.isdigit()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


# --- interrupted-run cleanup ---
# Fixtures normally close labs; these hooks cover a run killed by SIGTERM/SIGHUP or exiting without unwinding.
_live_labs: weakref.WeakSet[Lab] = weakref.WeakSet()
_hooks_installed = False
_previous_handlers: dict[int, Any] = {}


def _register(lab: Lab) -> None:
    global _hooks_installed
    _live_labs.add(lab)
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_close_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        current = signal.getsignal(sig)
        # Do not displace a handler someone else installed deliberately.
        if current in (signal.SIG_DFL, None):
            _previous_handlers[sig] = current
            signal.signal(sig, _on_signal)


def _unregister(lab: Lab) -> None:
    _live_labs.discard(lab)


def _close_all() -> None:
    for lab in list(_live_labs):
        lab.close()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # The interrupted frame may be inside close() already (holding the lock), so bypass it and tear down directly.
    for lab in list(_live_labs):
        lab._closed = True
        lab._teardown(grace=0.5)
    # Restore the default disposition and re-deliver so the exit status still says "killed by signal".
    signal.signal(signum, _previous_handlers.get(signum) or signal.SIG_DFL)
    os.kill(os.getpid(), signum)
