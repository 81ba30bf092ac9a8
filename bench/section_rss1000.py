"""bench/run_all.py's rss1000 section: RSS/PSS with 1000 instances (IPv6, 250 VRIDs on each of 4 interfaces,
separate segments), the daemon alone and master of all, 1 s interval."""

from __future__ import annotations

import argparse
import time
from typing import Any

import failover as fo  # puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports
from figures import Results, fmt, md_table
from lab import Lab
from procstat import sample, usage
from progress import log
from subjects import MASTER_PRIO, R1, Inst, add_interfaces, make_subject, run_labs, start_pair


def run(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    per_if, ifaces = 250, 4
    for daemon in args.daemons:
        log(f"rss1000: {daemon}, {per_if * ifaces} instances on {ifaces} interfaces")

        def body(_: int, lab: Lab, daemon: str = daemon) -> dict[str, Any]:
            r1 = lab.add_host("r1", ipv4=f"{R1}/24")
            names = ["eth0", *add_interfaces(r1, ifaces - 1)]
            insts = [
                Inst(vrid, MASTER_PRIO, 1.0, (f"2001:db8:{k + 1:x}::{vrid:x}/64",), interface=ifname)
                for k, ifname in enumerate(names)
                for vrid in range(1, per_if + 1)
            ]
            subject = make_subject(daemon, r1, insts, code, args.sched[0])
            start_pair(subject, None, args.settle)
            a = sample(subject.pids())
            time.sleep(min(args.window, 10))
            b = sample(subject.pids(), memory=True)
            subject.stop()
            return {
                "daemon": daemon,
                "instances": len(insts),
                "interfaces": ifaces,
                "interval": 1.0,
                **usage(a, b).__dict__,
            }

        (got,) = run_labs(1, body)
        if isinstance(got, BaseException):
            res.notes.append(f"rss1000 {daemon} failed: {got!r}")
        else:
            res.rss1000.append(got)


def render(args: argparse.Namespace, res: Results) -> list[str]:
    """The section's part of the report; nothing if it has no rows."""
    if not res.rss1000:
        return []
    lines = ["", "## 1000 instances (4 interfaces x 250 VRIDs, IPv6, 1 s, all master, alone)", ""]
    lines += md_table(
        ("daemon", "RSS MB", "PSS MB", "CPU %", "processes"),
        [
            (
                r["daemon"],
                fmt(r["rss_kb"] / 1024),
                fmt(r["pss_kb"] / 1024),
                fmt(r["cpu_pct"], 2),
                str(r["processes"]),
            )
            for r in res.rss1000
        ],
    )
    return lines


def planned_seconds(args: argparse.Namespace) -> float:
    """Its share of run_all.py's runtime forecast (overheads measured on the 2-vCPU lab VM)."""
    return len(args.daemons) * (min(args.window, 10) + args.settle + 8)
