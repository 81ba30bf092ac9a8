"""bench/run_all.py's soak section: false failovers over `--soak` seconds (the CPU hog on for the second half).

100 instances at 10 ms; a vrrpd pair and a keepalived pair side by side. Any advert from a backup is a false failover,
counted per VRID and episode.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import failover as fo  # puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports
from cpuhog import Hog
from figures import Results, md_table
from lab import Lab
from procstat import describe_policies, sched_policy
from progress import log
from subjects import BACKUP_PRIO, MASTER_PRIO, OBS, R1, R2, instances, make_subject, run_labs, start_pair
from wire import Tcpdump, count_episodes


def run(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    """One soak per policy of `--sched` (both pairs, all four daemons, under it)."""
    for sched in args.sched:
        run_one(args, code, res, sched)


def run_one(args: argparse.Namespace, code: fo.VrrpdCode, res: Results, sched: str) -> None:
    n, interval = 100, 0.01
    log(f"soak: {args.soak:g} s, {n} x {interval:g} s, {sched}, {' and '.join(args.daemons)} pairs, hog 2nd half")
    barrier = threading.Barrier(len(args.daemons))
    hog_on = threading.Event()

    def body(i: int, lab: Lab) -> dict[str, Any]:
        daemon = args.daemons[i]
        try:
            r1, r2 = lab.add_host("r1", ipv4=f"{R1}/24"), lab.add_host("r2", ipv4=f"{R2}/24")
            obs = lab.add_host("obs", ipv4=f"{OBS}/24")
            master = make_subject(daemon, r1, instances(n, MASTER_PRIO, interval), code, sched)
            backup = make_subject(daemon, r2, instances(n, BACKUP_PRIO, interval), code, sched)
            start_pair(master, backup, args.settle)
            # Every process of both routers (keepalived: parent and VRRP child), as the kernel has it.
            policy = describe_policies([sched_policy(pid) for pid in (*master.pids(), *backup.pids())])
            # Only the backup's adverts: a backup that advertises has taken over, i.e. a false failover.
            cap = Tcpdump(obs, f"soak-{daemon}", f"src host {R2}")
        except BaseException:
            barrier.abort()
            raise
        before = master.transitions() + backup.transitions()
        barrier.wait()
        t0 = time.time()
        if i == 0:
            time.sleep(args.soak / 2)
            with Hog():
                hog_on.set()
                time.sleep(args.soak / 2)
        else:
            time.sleep(args.soak)
        dropped = cap.stop()
        adverts = list(cap.adverts())
        half = t0 + args.soak / 2
        quiet = count_episodes([a for a in adverts if a[0] < half], R2)
        hog = count_episodes([a for a in adverts if a[0] >= half], R2)
        after = master.transitions() + backup.transitions()
        master.stop()
        backup.stop()
        return {
            "daemon": daemon,
            "sched": sched,
            "policy": policy,
            "instances": n,
            "interval": interval,
            "seconds": args.soak,
            "false_failovers_quiet": quiet[0],
            "false_failovers_hog": hog[0],
            "backup_adverts": quiet[1] + hog[1],
            "state_changes": after - before,
            "dropped_by_kernel": dropped,
        }

    for got in run_labs(len(args.daemons), body):
        if isinstance(got, BaseException):
            res.notes.append(f"soak failed: {got!r}")
        else:
            res.soak.append(got)


def render(args: argparse.Namespace, res: Results) -> list[str]:
    """The section's part of the report; nothing if it has no rows."""
    if not res.soak:
        return []
    lines = [
        "",
        f"## Soak ({args.soak:g} s, 100 inst @ 10 ms, hog in the second half, both pairs side by side)",
        "",
    ]
    lines += md_table(
        (
            "daemon pair",
            "policy",
            "false failovers quiet",
            "false failovers hog",
            "backup adverts",
            "state changes",
            "pcap drops",
        ),
        [
            (
                r["daemon"],
                r["policy"],
                str(r["false_failovers_quiet"]),
                str(r["false_failovers_hog"]),
                str(r["backup_adverts"]),
                str(r["state_changes"]),
                str(r["dropped_by_kernel"]),
            )
            for r in res.soak
        ],
    )
    return lines


def planned_seconds(args: argparse.Namespace) -> float:
    """Its share of run_all.py's runtime forecast (overheads measured on the 2-vCPU lab VM)."""
    return len(args.sched) * (args.soak + args.settle + 5)
