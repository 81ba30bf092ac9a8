"""bench/run_all.py's startup section: exec to READY=1 on a NOTIFY_SOCKET the bench binds, 1 and 100 instances.

keepalived sends READY=1 only under systemd, so its VRRP child's "Startup complete" log line stands in for it.
Master_Down_Interval is not part of the figure: vrrpd is READY once its routers start (in Initialize/Backup).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import time

import failover as fo  # puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports
from figures import Results, fmt, md_table
from lab import Lab, wait_for
from progress import log
from subjects import MASTER_PRIO, R1, instances, make_subject, run_labs


def run(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    for n in (1, 100):
        for daemon in args.daemons:
            log(f"startup: {daemon}, {n} instance(s), {args.startup_runs} run(s)")

            def body(_: int, lab: Lab, daemon: str = daemon, n: int = n) -> list[float]:
                r1 = lab.add_host("r1", ipv4=f"{R1}/24")
                path = str(lab.workdir / "notify.sock")
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.bind(path)
                try:
                    times = []
                    for _ in range(args.startup_runs):
                        subject = make_subject(daemon, r1, instances(n, MASTER_PRIO, 1.0), code, args.sched[0])
                        sock.settimeout(30)
                        offset = subject.log_path.stat().st_size if subject.log_path.exists() else 0
                        t0 = time.monotonic()
                        subject.launch({"NOTIFY_SOCKET": path})
                        if daemon == "vrrpd":
                            while True:
                                msg = sock.recv(4096)
                                if b"READY=1" in msg.split(b"\n"):
                                    times.append((time.monotonic() - t0) * 1000)
                                    break
                        else:
                            # keepalived sends no READY=1 here (it does under systemd): its VRRP child's "Startup
                            # complete", polled every millisecond, is the nearest equivalent.
                            wait_for(
                                lambda s=subject, o=offset: b"Startup complete" in s.log_path.read_bytes()[o:],
                                30,
                                0.001,
                                "keepalived: no 'Startup complete'",
                            )
                            times.append((time.monotonic() - t0) * 1000)
                        subject.stop()
                        sock.settimeout(0)
                        with contextlib.suppress(BlockingIOError):
                            while True:
                                sock.recv(4096)
                    return times
                finally:
                    sock.close()

            (got,) = run_labs(1, body)
            if isinstance(got, BaseException):
                res.notes.append(f"startup {daemon} {n} failed: {got!r}")
                continue
            res.startup.append(
                {
                    "daemon": daemon,
                    "instances": n,
                    "runs": len(got),
                    "median_ms": statistics.median(got),
                    "max_ms": max(got),
                    "samples_ms": got,
                }
            )


def render(args: argparse.Namespace, res: Results) -> list[str]:
    """The section's part of the report; nothing if it has no rows."""
    if not res.startup:
        return []
    lines = ["", "## Start-up: exec -> READY=1 on NOTIFY_SOCKET", ""]
    lines += md_table(
        ("daemon", "instances", "runs", "median ms", "max ms"),
        [
            (r["daemon"], str(r["instances"]), str(r["runs"]), fmt(r["median_ms"]), fmt(r["max_ms"]))
            for r in res.startup
        ],
    )
    return lines


def planned_seconds(args: argparse.Namespace) -> float:
    """Its share of run_all.py's runtime forecast (overheads measured on the 2-vCPU lab VM)."""
    return 2 * len(args.daemons) * (1 + 0.5 * args.startup_runs)
