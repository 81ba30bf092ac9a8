"""bench/run_all.py's takeover section: bench/failover.py's batches (kill -9, SIGTERM, link down) per interval,
the backup's own timer set against the RFC bound."""

from __future__ import annotations

import argparse
import math
import statistics

import failover as fo  # puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports
from figures import Results, fmt, md_table, pct
from progress import log


def run(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    for interval, runs in args.takeover_plan:
        log(f"takeover: bench/failover.py batches at {interval:g} s, {runs} run(s) per event")
        fargs = argparse.Namespace(
            interval_list=[interval],
            daemon_list=list(args.daemons),
            event_list=list(fo.EVENTS),
            runs=runs,
            serial=False,
            verbose=False,
            seed=1,
        )
        for batch in fo.run_all(fargs, code):
            for event in fo.EVENTS:
                samples = [s for s in batch.samples if s.event == event]
                bound = fo.bound(event, interval) * 1000
                tk = [s.takeover * 1000 for s in samples]
                fm = [s.from_master * 1000 for s in samples]
                res.takeover.append(
                    {
                        "daemon": batch.daemon,
                        "interval": interval,
                        "event": event,
                        "n": len(samples),
                        "takeover_median_ms": statistics.median(tk) if tk else math.nan,
                        "takeover_max_ms": max(tk) if tk else math.nan,
                        "bound_ms": bound,
                        "own_timer_p99_ms": pct(fm, 99),
                        "over_bound_p99_ms": pct(fm, 99) - bound,
                    }
                )
            res.notes.extend(f"takeover {batch.daemon} {interval:g}s: {f}" for f in batch.failures)


def render(args: argparse.Namespace, res: Results) -> list[str]:
    """The section's part of the report; nothing if it has no rows."""
    if not res.takeover:
        return []
    lines = ["", "## Takeover (bench/failover.py method)", ""]
    lines += md_table(
        (
            "daemon",
            "interval",
            "event",
            "n",
            "takeover median ms",
            "takeover max ms",
            "bound ms",
            "own timer p99 ms",
            "p99 - bound ms",
        ),
        [
            (
                r["daemon"],
                f"{r['interval']:g} s",
                r["event"],
                str(r["n"]),
                fmt(r["takeover_median_ms"]),
                fmt(r["takeover_max_ms"]),
                fmt(r["bound_ms"]),
                fmt(r["own_timer_p99_ms"]),
                fmt(r["over_bound_p99_ms"], 2),
            )
            for r in sorted(res.takeover, key=lambda r: (r["interval"], r["event"]))
        ],
    )
    lines.append(
        "\n'own timer' = the backup's first advert - the master's last advert (for term its priority-0 advert): "
        "what the backup's timer took, set against the RFC bound (Master_Down_Interval, or Skew_Time for term)."
    )
    return lines


def planned_seconds(args: argparse.Namespace) -> float:
    """Its share of run_all.py's runtime forecast (overheads measured on the 2-vCPU lab VM)."""
    total = 0.0
    for interval, runs in args.takeover_plan:
        per_run = 0.6 + fo.master_down_interval(interval) + 4 * interval
        together = interval >= fo.PARALLEL_MIN_INTERVAL
        total += len(fo.EVENTS) * runs * per_run * (1 if together else len(args.daemons)) + 5
    return total
