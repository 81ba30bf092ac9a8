#!/usr/bin/env python3
"""Failover benchmark: how long a backup takes to take over when the master dies, stops or loses its link.

Not a test: it prints figures. Run as root from the repository root:

    .venv/bin/python bench/failover.py            # 20 runs x {kill, term, linkdown} x {0.01 s, 1 s} x both daemons
    .venv/bin/python bench/failover.py --quick    # 3 runs at 0.1 s, under a minute

Topology (one lab per daemon and interval, built by netns-tests/lab.py, nothing in the root namespace): a bridge,
router r1 (master, priority 200), router r2 (backup, priority 100) sharing VIP 198.51.100.100/24 on VRID 51, and an
observer host that only listens.

Measurement: the observer holds an AF_PACKET socket with SO_TIMESTAMPNS, so every VRRP advert on the segment is stamped
by the observer's kernel when it arrives (CLOCK_REALTIME). The event time is time.time() (also CLOCK_REALTIME) taken
just before the kill(2) or the netlink request that downs the link. Takeover time = kernel timestamp of the backup's
first advert after the event - event time. Neither the daemons' control socket nor keepalived's notify script (both
polled, both late by milliseconds) are on the measured path; they are only used to check that a run starts settled.

vrrpd runs from a copy of its package taken at start (the working tree, or `--vrrpd-ref REF`), so every run of one
invocation measures the same code even if the tree is edited meanwhile; the header names the copy's source and hash.
It runs under Debian's /usr/bin/python3 (in a bench venv with its dependencies, bench/subject_python.py), or under
`--python PATH`; the header's "software" line names the interpreter and its build flags.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import datetime as dt
import hashlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "netns-tests"))

from lab import Host, Lab, wait_for  # noqa: E402
from peers import Keepalived  # noqa: E402
from subject_python import Interpreter, choose  # noqa: E402
from vrrpd_runner import Vrrpd  # noqa: E402

T = TypeVar("T")

VRID = 51
VIP = "198.51.100.100/24"
MASTER_IP, BACKUP_IP, OBSERVER_IP = "198.51.100.1", "198.51.100.2", "198.51.100.3"
MASTER_PRIO, BACKUP_PRIO = 200, 100
EVENTS = ("kill", "term", "linkdown")
DAEMONS = ("vrrpd", "keepalived")
# Adverts the master must have sent since the backup last advertised before a run counts as settled: by then the
# backup has stepped down, restarted its Master_Down_Timer several times and learned the master's interval.
SETTLE_ADVERTS = 3
# At or above this interval the daemons' batches run side by side (one lab each): scheduling noise from the other
# batch is a few ms against bounds of seconds, and it keeps the default invocation near 10 minutes instead of ~15.
PARALLEL_MIN_INTERVAL = 0.5
MAX_FAILURES_PER_BATCH = 3

METHOD = (
    "kernel receive timestamps (SO_TIMESTAMPNS) of VRRP adverts on an AF_PACKET socket in the observer namespace; "
    "event time = time.time() just before kill(2) / the RTM_NEWLINK request (same CLOCK_REALTIME)"
)

# --- namespaces without subprocesses ---------------------------------------------------------------------------

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def in_netns(ns: str, make: Callable[[], T]) -> T:
    """Run ``make`` in a throw-away thread that has joined namespace ``ns`` and return its result.

    setns(CLONE_NEWNET) affects only the calling thread, and a socket keeps the namespace it was created in, so the
    sockets built this way work from any thread while the rest of this process stays in the root namespace. Python
    3.11 has no os.setns, hence libc.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def body() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(make())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=body, name=f"setns-{ns}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


class LinkSwitch:
    """Sets eth0 of one host up or down with one netlink request, so the event time is not blurred by forking `ip`."""

    _NLMSG = struct.Struct("=IHHII")
    _IFINFO = struct.Struct("=BxHiII")
    _RTM_NEWLINK, _NLMSG_ERROR = 16, 2
    _NLM_F_REQUEST, _NLM_F_ACK = 1, 4
    _IFF_UP = 1

    def __init__(self, host: Host) -> None:
        self.host = host
        self.sock = in_netns(host.ns, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
        self.sock.bind((0, 0))
        self.sock.settimeout(5)
        self.ifindex = int(host._link()["ifindex"])
        self.seq = 0

    def set(self, up: bool) -> float:
        """Return time.time() taken just before the request left."""
        self.seq += 1
        body = self._IFINFO.pack(socket.AF_UNSPEC, 0, self.ifindex, self._IFF_UP if up else 0, self._IFF_UP)
        flags = self._NLM_F_REQUEST | self._NLM_F_ACK
        msg = self._NLMSG.pack(self._NLMSG.size + len(body), self._RTM_NEWLINK, flags, self.seq, 0) + body
        t = time.time()
        self.sock.send(msg)
        reply = self.sock.recv(4096)
        _, kind, _, seq, _ = self._NLMSG.unpack_from(reply)
        (error,) = struct.unpack_from("=i", reply, self._NLMSG.size)
        if kind != self._NLMSG_ERROR or seq != self.seq or error != 0:
            raise OSError(-error, f"{self.host.name}: link {'up' if up else 'down'} failed: {os.strerror(-error)}")
        return t

    def close(self) -> None:
        self.sock.close()


# --- capture ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advert:
    ts: float
    """Observer kernel receive time, epoch seconds."""
    src: str
    prio: int


class Capture:
    """Every IPv4 VRRP advert the observer's eth0 receives, kernel-timestamped, in arrival order."""

    _ETH_P_IP = 0x0800
    _SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; also SCM_TIMESTAMPNS. Not exported by Python 3.11.
    _IPPROTO_VRRP = 112

    def __init__(self, host: Host) -> None:
        self.sock = in_netns(host.ns, lambda: self._open(host.ifname))
        self.adverts: list[Advert] = []
        self.cond = threading.Condition()
        self.untimestamped = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"capture-{host.ns}", daemon=True)
        self._thread.start()

    def _open(self, ifname: str) -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(self._ETH_P_IP))
        sock.setsockopt(socket.SOL_SOCKET, self._SO_TIMESTAMPNS, 1)
        # 100 adverts/s at 0.01 s intervals must not overflow while this thread waits for the GIL.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        # Bound in the namespace: the interface name is resolved there.
        sock.bind((ifname, self._ETH_P_IP))
        # Lets the reader notice close() without a wake-up packet.
        sock.settimeout(0.2)
        return sock

    def _run(self) -> None:
        space = socket.CMSG_SPACE(16)
        while not self._stopping:
            try:
                data, ancdata, _, _ = self.sock.recvmsg(2048, space)
            except TimeoutError:
                continue
            except OSError:
                if self._stopping:
                    return
                raise
            ts = None
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == self._SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack_from("=qq", cdata)
                    ts = sec + nsec * 1e-9
            if ts is None:  # never seen in practice; counted and reported rather than silently mixed in
                ts = time.time()
                self.untimestamped += 1
            if len(data) < 20 or data[9] != self._IPPROTO_VRRP:
                continue
            ihl = (data[0] & 0x0F) * 4
            if len(data) < ihl + 4:
                continue
            advert = Advert(ts, socket.inet_ntoa(data[12:16]), data[ihl + 2])
            with self.cond:
                self.adverts.append(advert)
                self.cond.notify_all()

    def first_from(self, src: str, after: float, timeout: float) -> Advert:
        """The earliest advert from ``src`` stamped after ``after``, waiting up to ``timeout`` for it."""

        def find() -> Advert | None:
            found = None
            for adv in reversed(self.adverts):
                if adv.ts <= after:
                    break
                if adv.src == src:
                    found = adv
            return found

        with self.cond:
            advert = self.cond.wait_for(find, timeout)
        if advert is None:
            raise TimeoutError(f"no advert from {src} within {timeout:.1f} s of the event")
        return advert

    def last_from(self, src: str, before: float) -> Advert | None:
        with self.cond:
            for adv in reversed(self.adverts):
                if adv.src == src and adv.ts < before:
                    return adv
        return None

    def settled_count(self, master: str, backup: str, since: float) -> int:
        """Master adverts (non-zero priority) since ``since`` and since the backup's last advert."""
        count = 0
        with self.cond:
            for adv in reversed(self.adverts):
                if adv.ts <= since or adv.src == backup:
                    break
                if adv.src == master and adv.prio == MASTER_PRIO:
                    count += 1
        return count

    def trim(self, keep_after: float) -> None:
        # At 0.01 s the list grows by ~100 entries a second; runs only ever look back a few seconds.
        with self.cond:
            idx = 0
            while idx < len(self.adverts) and self.adverts[idx].ts < keep_after:
                idx += 1
            del self.adverts[:idx]

    def close(self) -> None:
        self._stopping = True
        self._thread.join(2)
        self.sock.close()


# --- the two daemons behind one interface -----------------------------------------------------------------------


@dataclass(frozen=True)
class VrrpdCode:
    """A private copy of the vrrpd package that every vrrpd process of this benchmark runs from, and the
    interpreter they run under."""

    root: Path
    description: str
    interpreter: Interpreter

    @property
    def python(self) -> str:
        """What vrrpd's processes (vrrpd, vrrpctl) exec."""
        return self.interpreter.python

    def env(self) -> dict[str, str]:
        """The environment of those processes: the snapshot alone on PYTHONPATH, the dependencies from the
        interpreter's own site-packages (its bench venv)."""
        return subject_env(self.root)


def snapshot_vrrpd(ref: str | None, interpreter: Interpreter | None = None) -> VrrpdCode:
    """Copy the vrrpd package (working tree, or a git ref) aside and check that `interpreter` (default: chosen by
    subject_python.choose, Debian's /usr/bin/python3 in its bench venv) imports it from there.

    Every run restarts the master, i.e. re-imports vrrpd: if the package changed under a running benchmark (someone
    editing the tree, a branch switch) later runs would measure other code than earlier ones, or a half-edited mix.
    """
    interpreter = interpreter or choose(None)
    root = Path(tempfile.mkdtemp(prefix="fb-vrrpd-"))
    try:
        if ref is None:
            shutil.copytree(REPO / "vrrpd", root / "vrrpd", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "vrrpd"], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
        digest = hashlib.sha256()
        for path in sorted((root / "vrrpd").rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
        probe = subprocess.run(
            [interpreter.python, "-c", "import vrrpd, vrrpd.cli.daemon; print(vrrpd.__version__, vrrpd.__file__)"],
            capture_output=True,
            text=True,
            cwd=root,
            env=subject_env(root),
            check=True,
        )
        version, location = probe.stdout.split()
        if not Path(location).resolve().is_relative_to(root.resolve()):
            raise RuntimeError(f"the snapshot in {root} is shadowed by {location}")
        git = ["git", "-C", str(REPO)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        if ref is None:
            dirty = subprocess.run([*git, "status", "--porcelain", "vrrpd"], capture_output=True, text=True).stdout
            source = f"working tree (HEAD {head}{', with uncommitted changes' if dirty.strip() else ''})"
        else:
            source = f"git {ref} (HEAD is {head})"
        return VrrpdCode(root, f"vrrpd {version} from {source}, *.py sha256 {digest.hexdigest()[:12]}", interpreter)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def pinned_env(root: Path) -> dict[str, str]:
    """The environment of a helper that runs under the bench's own interpreter but imports the snapshot at `root`
    (section_flood's flooder): PYTHONPATH names the snapshot, so `import vrrpd` finds it and not the tree the
    editable install points at, which may change while a benchmark runs. What PYTHONPATH held comes after it: that
    is how a bench started as /usr/bin/python3 finds the venv's site-packages. vrrpd's own processes use
    subject_env."""
    inherited = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{root}:{inherited}" if inherited else str(root)}


def subject_env(root: Path) -> dict[str, str]:
    """The environment of vrrpd's own processes (VrrpdCode.env): PYTHONPATH is the snapshot at `root` alone, so the
    dependencies come from the chosen interpreter's site-packages, never from the bench's inherited PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHOME"}
    return {**env, "PYTHONPATH": str(root)}


class PinnedVrrpd(Vrrpd):
    """vrrpd_runner.Vrrpd, started from a VrrpdCode snapshot instead of whatever the tree holds at that moment."""

    def __init__(self, host: Host, instances: Sequence[dict[str, object]], code: VrrpdCode) -> None:
        super().__init__(host, instances)
        self.code = code

    @property
    def argv(self) -> list[str]:
        return [self.code.python, *super().argv[1:]]

    def start(self, wait: bool = True) -> PinnedVrrpd:
        # `python -m` puts the working directory first on sys.path, ahead of the editable install's entry.
        with self.log_path.open("ab") as log:
            self.proc = self.host.popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.code.root, env=self.code.env()
            )
        if wait:
            wait_for(self._ready, 15, message=f"vrrpd on {self.host.name} never answered on {self.socket}")
        return self


def vrrpd_instance(priority: int, interval: float) -> dict[str, object]:
    # Only keys every vrrpd version knows; the rest stays at the daemon's defaults, as keepalived's does.
    return {
        "name": "v",
        "interface": "eth0",
        "vrid": VRID,
        "priority": priority,
        "advert_interval": interval,
        "virtual_addresses": [VIP],
    }


class Router:
    """One VRRP router (vrrpd or keepalived) on one lab host; restartable."""

    def __init__(self, daemon: str, host: Host, priority: int, interval: float, code: VrrpdCode) -> None:
        self.daemon = daemon
        self.host = host
        self.impl: Vrrpd | Keepalived
        if daemon == "vrrpd":
            self.impl = PinnedVrrpd(host, [vrrpd_instance(priority, interval)], code)
        elif daemon == "keepalived":
            self.impl = Keepalived(host, VRID, priority, [VIP], advert_int=interval)
        else:
            raise ValueError(f"unknown daemon {daemon!r}")

    def start(self) -> None:
        if isinstance(self.impl, Vrrpd):
            # Waits for the control socket only (not for a state), so a dead-on-arrival daemon fails here loudly.
            self.impl.start(wait=True)
        else:
            self.impl.start()

    @property
    def proc(self) -> subprocess.Popen:
        assert self.impl.proc is not None
        return self.impl.proc

    def running(self) -> bool:
        return self.impl.proc is not None and self.impl.proc.poll() is None

    def state(self) -> str | None:
        return self.impl.state()

    def kill(self) -> float:
        """SIGKILL the process group (keepalived: parent and VRRP child), as a crash would. Returns the event time."""
        t = time.time()
        self.host.kill(self.proc)
        return t

    def term(self) -> float:
        """SIGTERM the leader only (keepalived forwards it to its VRRP child); both send priority 0 on the way out."""
        t = time.time()
        self.proc.send_signal(signal.SIGTERM)
        return t

    def wait_exit(self, timeout: float = 10) -> None:
        if self.impl.proc is None:
            return
        try:
            self.impl.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.host.kill(self.impl.proc)
            raise RuntimeError(f"{self.daemon} on {self.host.name} ignored SIGTERM for {timeout} s") from None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.impl.log().splitlines()[-lines:])


def netns_pids(host: Host) -> list[int]:
    cp = subprocess.run(["ip", "netns", "pids", host.ns], capture_output=True, text=True, timeout=10, check=True)
    return [int(tok) for tok in cp.stdout.split()]


def master_down_interval(interval: float, priority: int = BACKUP_PRIO) -> float:
    return 3 * interval + skew_time(interval, priority)


def skew_time(interval: float, priority: int = BACKUP_PRIO) -> float:
    return (256 - priority) / 256 * interval


def bound(event: str, interval: float) -> float:
    return skew_time(interval) if event == "term" else master_down_interval(interval)


# --- one batch: one daemon, one interval, one lab, one capture ---------------------------------------------------


@dataclass
class Sample:
    event: str
    run: int
    takeover: float
    """Backup's first advert - event time (s)."""
    from_master: float
    """Backup's first advert - master's last advert before it (s); for term that is the priority-0 advert."""
    master_last_prio: int
    backup_prio: int


@dataclass
class Batch:
    daemon: str
    interval: float
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    untimestamped: int = 0
    seconds: float = 0.0


class Bench:
    def __init__(
        self, lab: Lab, daemon: str, interval: float, code: VrrpdCode, verbose: bool, seed: int | None
    ) -> None:
        self.lab = lab
        self.rng = random.Random(seed)
        self.interval = interval
        self.verbose = verbose
        self.batch = Batch(daemon, interval)
        self.r1 = lab.add_host("r1", ipv4=f"{MASTER_IP}/24")
        self.r2 = lab.add_host("r2", ipv4=f"{BACKUP_IP}/24")
        self.obs = lab.add_host("obs", ipv4=f"{OBSERVER_IP}/24")
        self.master = Router(daemon, self.r1, MASTER_PRIO, interval, code)
        self.backup = Router(daemon, self.r2, BACKUP_PRIO, interval, code)
        self.capture = Capture(self.obs)
        try:
            self.link = LinkSwitch(self.r1)
        except BaseException:
            self.capture.close()
            raise
        self.mdi = master_down_interval(interval)
        # Python start-up plus the preempting master's own Master_Down_Interval, with room for a loaded machine.
        self.settle_timeout = 20 + 8 * self.mdi
        self.poll = min(0.02, interval)

    def log(self, text: str) -> None:
        print(f"[{self.batch.daemon} {self.interval:g}s] {text}", file=sys.stderr, flush=True)

    def run(self, runs: int, events: Sequence[str]) -> Batch:
        started = time.monotonic()
        try:
            self.start_pair()
            self.measure(runs, events)
            self.check_no_leaks()
        except Exception as exc:
            # Recorded rather than raised: the other batches' figures are still worth printing.
            self.batch.failures.append(f"batch aborted: {exc}")
            self.log(f"batch aborted: {exc}")
        finally:
            self.batch.seconds = time.monotonic() - started
            self.batch.untimestamped = self.capture.untimestamped
            self.capture.close()
            self.link.close()
        self.log(f"done: {len(self.batch.samples)} samples in {self.batch.seconds:.1f} s")
        return self.batch

    def measure(self, runs: int, events: Sequence[str]) -> None:
        for run in range(runs):
            for event in events:
                try:
                    sample = self.one(event, run)
                except Exception as exc:
                    self.batch.failures.append(f"run {run} {event}: {exc}")
                    self.log(f"FAILED run {run} {event}: {exc}")
                    self.log(f"master log:\n{self.master.log_tail()}\nbackup log:\n{self.backup.log_tail()}")
                    if len(self.batch.failures) >= MAX_FAILURES_PER_BATCH:
                        raise RuntimeError("too many failures") from exc
                    self.reset()
                    continue
                self.batch.samples.append(sample)
                if self.verbose:
                    self.log(
                        f"run {run:2d} {event:8s} takeover {sample.takeover * 1000:9.2f} ms, "
                        f"from master's last advert {sample.from_master * 1000:9.2f} ms"
                    )
            self.capture.trim(time.time() - 10 - 10 * self.mdi)

    def start_pair(self) -> None:
        # Master first, alone, so it becomes master by its own Master_Down_Timer; then the backup joins.
        self.master.start()
        wait_for(lambda: self.master.state() == "MASTER", self.settle_timeout, self.poll, "master never became master")
        since = time.time()
        self.backup.start()
        self.settle(since)

    def settle(self, since: float) -> None:
        def settled() -> bool:
            if self.capture.settled_count(MASTER_IP, BACKUP_IP, since) < SETTLE_ADVERTS:
                return False
            return self.master.state() == "MASTER" and self.backup.state() == "BACKUP"

        wait_for(
            settled,
            self.settle_timeout,
            self.poll,
            f"not settled (master {self.master.state()}, backup {self.backup.state()})",
        )

    def one(self, event: str, run: int) -> Sample:
        # Settling ends right as a master advert arrives, so without this every event would hit the same phase of
        # the advert cycle; a real failure strikes at a uniformly random point of it, which is what spreads
        # kill/linkdown takeovers over [MDI - interval, MDI].
        time.sleep(self.rng.uniform(0, self.interval))
        if event == "kill":
            t = self.master.kill()
        elif event == "term":
            t = self.master.term()
        elif event == "linkdown":
            t = self.link.set(up=False)
        else:
            raise ValueError(event)
        # Nothing polls the daemons from here until the takeover is seen: only the capture thread is awake.
        takeover = self.capture.first_from(BACKUP_IP, after=t, timeout=self.mdi + 5)
        last = self.capture.last_from(MASTER_IP, before=takeover.ts)
        sample = Sample(
            event=event,
            run=run,
            takeover=takeover.ts - t,
            from_master=takeover.ts - last.ts if last else math.nan,
            master_last_prio=last.prio if last else -1,
            backup_prio=takeover.prio,
        )
        self.recover(event, t)
        return sample

    def recover(self, event: str, t: float) -> None:
        if event in ("kill", "term"):
            if event == "term":
                self.master.wait_exit()
            # The old process (keepalived: both of its processes) must be gone before the next one starts.
            wait_for(lambda: not netns_pids(self.r1), 5, 0.01, f"processes left in {self.r1.ns}")
            self.master.start()
        else:
            self.link.set(up=True)
        self.settle(t)

    def reset(self) -> None:
        """After a failed run: both daemons down, link up, and start over as at the beginning of the batch."""
        for router in (self.master, self.backup):
            if router.impl.proc is not None:
                router.host.kill(router.impl.proc)
        with contextlib.suppress(OSError):  # already up
            self.link.set(up=True)
        for host in (self.r1, self.r2):
            wait_for(lambda h=host: not netns_pids(h), 5, 0.01, f"processes left in {host.ns}")
        self.start_pair()

    def check_no_leaks(self) -> None:
        # Exactly the two live daemons, nothing from earlier runs: vrrpd is 1 process, keepalived parent + VRRP child.
        per_daemon = 1 if self.batch.daemon == "vrrpd" else 2
        for router in (self.master, self.backup):
            pids = netns_pids(router.host)
            if len(pids) != per_daemon or router.proc.pid not in pids:
                raise RuntimeError(f"{router.host.ns}: expected {per_daemon} process(es) of ours, found {pids}")


def run_batch(
    lab: Lab,
    daemon: str,
    interval: float,
    code: VrrpdCode,
    runs: int,
    events: Sequence[str],
    verbose: bool,
    seed: int | None,
) -> Batch:
    return Bench(lab, daemon, interval, code, verbose, seed).run(runs, events)


# --- reporting --------------------------------------------------------------------------------------------------


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile: an observed value, honest for n = 20 (the 19th of 20)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def machine(code: VrrpdCode) -> list[str]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ka = subprocess.run(["keepalived", "--version"], capture_output=True, text=True)
    ka_version = (ka.stderr or ka.stdout).splitlines()[0] if (ka.stderr or ka.stdout) else "?"
    return [
        f"date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: nproc {os.cpu_count()} ({model}), kernel {platform.release()}, load {os.getloadavg()[0]:.2f}",
        f"software: {code.description}; vrrpd under {code.interpreter.summary()}; bench script under Python "
        f"{platform.python_version()}; {ka_version}",
    ]


def table(batches: Sequence[Batch], events: Sequence[str]) -> list[str]:
    header = (
        "daemon",
        "interval",
        "event",
        "n",
        "min",
        "median",
        "p95",
        "max (ms)",
        "protocol bound (ms)",
        "from master's last advert: median / max (ms)",
    )
    rows: list[tuple[str, ...]] = []
    for b in sorted(batches, key=lambda b: (b.interval, DAEMONS.index(b.daemon) if b.daemon in DAEMONS else 9)):
        for event in events:
            samples = [s for s in b.samples if s.event == event]
            bnd = f"{bound(event, b.interval) * 1000:.1f}"
            if not samples:
                rows.append((b.daemon, f"{b.interval:g} s", event, "0", "-", "-", "-", "-", bnd, "-"))
                continue
            ms = [s.takeover * 1000 for s in samples]
            fm = [s.from_master * 1000 for s in samples]
            rows.append(
                (
                    b.daemon,
                    f"{b.interval:g} s",
                    event,
                    str(len(ms)),
                    f"{min(ms):.1f}",
                    f"{statistics.median(ms):.1f}",
                    f"{p95(ms):.1f}",
                    f"{max(ms):.1f}",
                    bnd,
                    f"{statistics.median(fm):.1f} / {max(fm):.1f}",
                )
            )
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def fmt(r: tuple[str, ...]) -> str:
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        return "| " + " | ".join(cells) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [fmt(header), sep, *(fmt(r) for r in rows)]


def sanity_notes(batches: Sequence[Batch]) -> list[str]:
    notes = []
    for b in batches:
        for s in b.samples:
            if s.event == "term" and s.master_last_prio != 0:
                notes.append(
                    f"{b.daemon} {b.interval:g}s run {s.run} term: master's last advert had priority "
                    f"{s.master_last_prio}, not 0"
                )
            if s.backup_prio != BACKUP_PRIO:
                notes.append(f"{b.daemon} {b.interval:g}s run {s.run} {s.event}: backup advertised {s.backup_prio}")
        if b.untimestamped:
            notes.append(f"{b.daemon} {b.interval:g}s: {b.untimestamped} packets without a kernel timestamp")
        notes.extend(f"{b.daemon} {b.interval:g}s FAILED {f}" for f in b.failures)
    return notes


# --- main -------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=20, help="runs per (daemon, interval, event); default 20")
    p.add_argument("--intervals", default="0.01,1", help="advert intervals in seconds, comma-separated")
    p.add_argument("--daemons", default=",".join(DAEMONS), help="vrrpd, keepalived or both, comma-separated")
    p.add_argument("--events", default=",".join(EVENTS), help="kill, term, linkdown, comma-separated")
    p.add_argument("--quick", action="store_true", help="3 runs at 0.1 s only (under a minute)")
    p.add_argument(
        "--serial",
        action="store_true",
        help="never run two daemons' batches at once "
        f"(default: side by side at intervals >= {PARALLEL_MIN_INTERVAL} s)",
    )
    # One seed for every batch: each daemon meets the same sequence of event phases, so their event-relative
    # figures compare run for run instead of differing by the luck of the draw (~100 ms on a median at 1 s).
    p.add_argument("--seed", type=int, default=1, help="seed of the random event phases, shared by all batches")
    p.add_argument(
        "--vrrpd-ref",
        metavar="REF",
        help="benchmark vrrpd as of this git ref (default: the working tree, copied aside at start)",
    )
    p.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter for vrrpd (default: /usr/bin/python3 in a bench venv, else this one);\n"
        "used as is when it imports the daemon's dependencies, else in a bench venv of its own",
    )
    p.add_argument("--json", type=Path, help="also write every sample to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="print every sample to stderr")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.intervals = 3, "0.1"
    args.interval_list = [float(x) for x in args.intervals.split(",") if x]
    args.daemon_list = [d for d in args.daemons.split(",") if d]
    args.event_list = [e for e in args.events.split(",") if e]
    for d in args.daemon_list:
        if d not in DAEMONS:
            p.error(f"unknown daemon {d!r}")
    for e in args.event_list:
        if e not in EVENTS:
            p.error(f"unknown event {e!r}")
    for i in args.interval_list:
        if i < 0.01 or abs(i * 100 - round(i * 100)) > 1e-9:
            p.error(f"interval {i}: must be a multiple of 0.01 s (both daemons' minimum is 0.01 s)")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    started = time.monotonic()
    code = snapshot_vrrpd(args.vrrpd_ref, choose(args.python))
    try:
        batches = run_all(args, code)
    finally:
        shutil.rmtree(code.root, ignore_errors=True)
    elapsed = time.monotonic() - started
    report(args, code, batches, elapsed)
    return 1 if any(b.failures for b in batches) else 0


def run_all(args: argparse.Namespace, code: VrrpdCode) -> list[Batch]:
    batches: list[Batch] = []
    for interval in args.interval_list:
        parallel = not args.serial and interval >= PARALLEL_MIN_INTERVAL and len(args.daemon_list) > 1
        # Labs are made (and closed) by the main thread: lab.py installs its SIGTERM/SIGHUP clean-up only there.
        labs = [Lab(prefix="fb") for _ in args.daemon_list]
        try:
            jobs = [
                (lab, daemon, interval, code, args.runs, args.event_list, args.verbose, args.seed)
                for lab, daemon in zip(labs, args.daemon_list, strict=True)
            ]
            if parallel:
                with ThreadPoolExecutor(len(jobs)) as pool:
                    batches.extend(pool.map(lambda job: run_batch(*job), jobs))
            else:
                for job in jobs:
                    batches.append(run_batch(*job))
        finally:
            for lab in labs:
                lab.close()
        leftover = [
            ns
            for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
            if any(ns.startswith(lab.id) for lab in labs)
        ]
        if leftover:
            print(f"LEAK: namespaces left behind: {leftover}", file=sys.stderr)
    return batches


def report(args: argparse.Namespace, code: VrrpdCode, batches: list[Batch], elapsed: float) -> None:
    out = [
        "VRRP failover benchmark (bench/failover.py)",
        *machine(code),
        f"topology: bridge + r1 (master, prio {MASTER_PRIO}) + r2 (backup, prio {BACKUP_PRIO}) + observer; "
        f"VRRPv3 IPv4, VRID {VRID}, VIP {VIP}",
        f"method: {METHOD}",
        f"each event strikes at a random phase of the master's advert cycle (uniform over one interval, seed "
        f"{args.seed}, the same sequence in every batch)",
        "events: kill = SIGKILL to the master's process group; term = SIGTERM (priority-0 advert); "
        "linkdown = eth0 of the master's host set down (brought back up after each run)",
        f"batches with interval >= {PARALLEL_MIN_INTERVAL} s ran the daemons side by side in separate identical labs"
        if not args.serial and any(i >= PARALLEL_MIN_INTERVAL for i in args.interval_list) and len(args.daemon_list) > 1
        else "batches ran one at a time",
        "",
        *table(batches, args.event_list),
        "",
        "takeover = observer timestamp of the backup's first advert - event time. bound: Master_Down_Interval "
        f"= 3*I + (256-{BACKUP_PRIO})/256*I for kill/linkdown, Skew_Time = (256-{BACKUP_PRIO})/256*I for term.",
        "p95 is nearest-rank. 'from master's last advert' = backup's first advert - the master's last advert seen "
        "before it (for term: its priority-0 advert): the backup's own timer, to set against the bound.",
        *sanity_notes(batches),
        f"runtime: {elapsed:.0f} s (load average now {os.getloadavg()[0]:.2f})",
    ]
    print("\n".join(out))
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "daemon": b.daemon,
                        "interval": b.interval,
                        "samples": [asdict(s) for s in b.samples],
                        "failures": b.failures,
                    }
                    for b in batches
                ],
                indent=1,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
