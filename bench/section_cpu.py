"""bench/run_all.py's cpu section: CPU and memory of each daemon as master and as backup, keepalived the peer.

CPU is utime+stime of every process in the daemon's namespace (/proc/PID/stat), on-CPU and run-queue time
(schedstat) and context switches, over `--window` seconds; RSS/PSS (smaps_rollup) at the window's end. For every
size and interval three labs: vrrpd master + keepalived backup, keepalived master + vrrpd backup, keepalived master +
keepalived backup (keepalived's figures for both sides, each with keepalived as the peer). The labs run side by side,
so both daemons are measured in the same seconds, unless the row exceeds `--parallel-limit` adverts/s per daemon.
A window with a state change in it is flagged in the notes.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import failover as fo  # puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports
from figures import Results, find_row, fmt, md_table, ratio
from lab import Lab
from procstat import describe_policies, sample, sched_policy, usage
from progress import log
from subjects import BACKUP_PRIO, DAEMONS, MASTER_PRIO, R1, R2, instances, make_subject, run_labs, start_pair


def run(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    # (name, master daemon, backup daemon): measured sides are where the subject daemon sits.
    pairs = (
        ("vrrpd-master", "vrrpd", "keepalived"),
        ("vrrpd-backup", "keepalived", "vrrpd"),
        ("ka-ka", *DAEMONS[1:] * 2),
    )
    for interval in args.intervals:
        for n in args.sizes:
            # Side by side while the row is light enough for the 2 vCPUs to carry all three labs (at 255 x 10 ms
            # they would saturate, and a starved daemon measures its starvation); one lab at a time above that.
            together = n / interval <= args.parallel_limit
            groups = [list(range(len(pairs)))] if together else [[i] for i in range(len(pairs))]
            how = "3 labs side by side" if together else "3 labs one at a time"
            log(f"cpu: {n} instances at {interval:g} s, {how}, window {args.window:g} s")
            for group in groups:
                barrier = threading.Barrier(len(group))

                def body(
                    j: int,
                    lab: Lab,
                    n: int = n,
                    interval: float = interval,
                    barrier: threading.Barrier = barrier,
                    group: list[int] = group,
                ) -> Any:
                    _, mdaemon, bdaemon = pairs[group[j]]
                    try:
                        r1, r2 = lab.add_host("r1", ipv4=f"{R1}/24"), lab.add_host("r2", ipv4=f"{R2}/24")
                        master = make_subject(mdaemon, r1, instances(n, MASTER_PRIO, interval), code, args.sched[0])
                        backup = make_subject(bdaemon, r2, instances(n, BACKUP_PRIO, interval), code, args.sched[0])
                        start_pair(master, backup, args.settle)
                    except BaseException:
                        barrier.abort()
                        raise
                    before = master.transitions() + backup.transitions()
                    barrier.wait()  # every lab's window covers the same seconds
                    a = {s: sample(s.pids()) for s in (master, backup)}
                    time.sleep(args.window)
                    b = {s: sample(s.pids(), memory=True) for s in (master, backup)}
                    after = master.transitions() + backup.transitions()
                    out = []
                    for side, s in (("master", master), ("backup", backup)):
                        u = usage(a[s], b[s])
                        out.append(
                            {
                                "daemon": s.daemon,
                                "side": side,
                                "peer": (backup if s is master else master).daemon,
                                "instances": n,
                                "interval": interval,
                                "window_s": round(b[s].t - a[s].t, 2),
                                "labs_side_by_side": len(group),
                                "state_changes_in_window": after - before,
                                "policy": describe_policies([sched_policy(pid) for pid in s.pids()]),
                                **u.__dict__,
                            }
                        )
                    master.stop()
                    backup.stop()
                    return out

                _collect(res, [pairs[i][0] for i in group], run_labs(len(group), body), n, interval)


def _collect(res: Results, names: list[str], results: list[Any], n: int, interval: float) -> None:
    for name, got in zip(names, results, strict=True):
        if isinstance(got, BaseException):
            res.notes.append(f"cpu {n}x{interval:g}s lab {name} failed: {got!r}")
            continue
        for row in got:
            # keepalived's pair gives both its sides; the mixed labs give vrrpd's side only.
            if row["daemon"] == "vrrpd" or name == "ka-ka":
                res.cpu.append(row)
                if row["state_changes_in_window"]:
                    res.notes.append(
                        f"cpu {n}x{interval:g}s {name}: {row['state_changes_in_window']} state "
                        "change(s) during the window: figures not steady-state"
                    )


def render(args: argparse.Namespace, res: Results) -> list[str]:
    """The section's part of the report; nothing if it has no rows."""
    if not res.cpu:
        return []
    table = []
    for interval in sorted({r["interval"] for r in res.cpu}, reverse=True):
        for n in sorted({r["instances"] for r in res.cpu}):
            for side in ("master", "backup"):
                v = find_row(res.cpu, daemon="vrrpd", side=side, instances=n, interval=interval)
                k = find_row(res.cpu, daemon="keepalived", side=side, instances=n, interval=interval)
                if not v and not k:
                    continue
                g = lambda d, key, s=1.0: None if d is None else d[key] / s  # noqa: E731
                r = ratio(g(v, "cpu_pct"), g(k, "cpu_pct"))
                table.append(
                    (
                        str(n),
                        f"{interval:g} s",
                        side,
                        fmt(g(v, "cpu_pct"), 2),
                        fmt(g(k, "cpu_pct"), 2),
                        "-" if r is None else f"{r:.2f}x",
                        f"{fmt(g(v, 'sys_pct'), 2)} / {fmt(g(k, 'sys_pct'), 2)}",
                        f"{fmt(g(v, 'oncpu_pct'), 2)} / {fmt(g(k, 'oncpu_pct'), 2)}",
                        f"{fmt(g(v, 'runq_ms_per_s'), 2)} / {fmt(g(k, 'runq_ms_per_s'), 2)}",
                        f"{fmt(g(v, 'switches_per_s'), 0)} / {fmt(g(k, 'switches_per_s'), 0)}",
                        f"{fmt(g(v, 'rss_kb', 1024), 1)} / {fmt(g(k, 'rss_kb', 1024), 1)}",
                        f"{fmt(g(v, 'pss_kb', 1024), 1)} / {fmt(g(k, 'pss_kb', 1024), 1)}",
                    )
                )
    return [
        "",
        f"## CPU and memory ({args.window:g} s windows; labs side by side up to --parallel-limit)",
        "",
        *md_table(
            (
                "inst",
                "interval",
                "side",
                "vrrpd CPU %",
                "keepalived CPU %",
                "ratio",
                "of which kernel % v / k",
                "on-CPU % (schedstat) v / k",
                "run-queue ms/s v / k",
                "ctx switches/s v / k",
                "RSS MB v / k",
                "PSS MB v / k",
            ),
            table,
        ),
        "",
        "CPU % = utime+stime of every process of the daemon (keepalived: parent + VRRP child) / window, "
        "in % of one core. Scheduling policy: " + ", ".join(sorted({f"{r['daemon']} {r['policy']}" for r in res.cpu})),
    ]


def planned_seconds(args: argparse.Namespace) -> float:
    """Its share of run_all.py's runtime forecast (overheads measured on the 2-vCPU lab VM)."""
    total = 0.0
    for interval in args.intervals:
        for n in args.sizes:
            labs = 1 if n / interval <= args.parallel_limit else 3
            total += labs * (args.window + args.settle + 12)
    return total
