"""bench/run_all.py's jitter section: advert interval jitter on the wire, 100 instances at 10 ms.

The subject is master, keepalived the backup; tcpdump in an observer namespace (kernel timestamps, nanosecond pcap)
records the adverts, and each VRID's consecutive adverts are set against the interval. `--jitter` seconds idle, then
(vrrpd only, whose exporter listens throughout, issue #15) as long again with the observer scraping /metrics once a
second, then as long again under the CPU hog. One daemon at a time. The distributions go into the report as ASCII
histograms, and as a PNG where matplotlib happens to be installed.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import failover as fo  # puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports
from cpuhog import Hog
from figures import Results, fmt, md_table
from lab import Host, Lab
from procstat import describe_policies, host_steal, sched_policy
from progress import log
from subjects import (
    BACKUP_PRIO,
    MASTER_PRIO,
    OBS,
    R1,
    R2,
    VrrpdSubject,
    instances,
    make_subject,
    run_labs,
    start_pair,
)
from wire import Tcpdump, histogram, jitter_stats, summarize_devs

METRICS_PORT = 9650
SCRAPE_LOAD = "scrape 1/s"
SCRAPER = """
import sys, time, urllib.request
url = sys.argv[1]
while True:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            print("ok", len(answer.read()), flush=True)
    except OSError as exc:
        print("failed", exc, flush=True)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
"""


@contextlib.contextmanager
def scraping(obs: Host, url: str, res: Results) -> Iterator[None]:
    """A Prometheus-like scraper in the observer namespace: GET `url` once a second while the block runs; how many
    scrapes answered goes to the report's notes (a window whose scrapes all failed measured nothing)."""
    out = obs.lab.workdir / "scrapes.log"
    with out.open("wb") as sink:
        proc = obs.popen([sys.executable, "-c", SCRAPER, url], stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        obs.stop(proc)
        lines = out.read_text(errors="replace").splitlines()
        ok = [line for line in lines if line.startswith("ok ")]
        size = ok[-1].split()[1] if ok else "-"
        failed = next((line for line in reversed(lines) if not line.startswith("ok ")), "")
        res.notes.append(
            f"jitter scrape 1/s: {len(ok)} of {len(lines)} scrapes of {url} answered ({size} bytes){failed and '; '}"
            f"{failed[:200]}"
        )


def run(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    """Each daemon under each of `--sched`'s policies in turn (master and backup both under it)."""
    n, interval = 100, 0.01
    for daemon, sched in ((d, s) for d in args.daemons for s in args.sched):
        log(
            f"jitter: {daemon} master ({n} x {interval:g} s) + keepalived backup, {sched}, {args.jitter:g} s idle + hog"
        )

        def body(_: int, lab: Lab, daemon: str = daemon, sched: str = sched) -> list[dict[str, Any]]:
            r1, r2 = lab.add_host("r1", ipv4=f"{R1}/24"), lab.add_host("r2", ipv4=f"{R2}/24")
            obs = lab.add_host("obs", ipv4=f"{OBS}/24")
            master = make_subject(daemon, r1, instances(n, MASTER_PRIO, interval), code, sched)
            if isinstance(master, VrrpdSubject):
                master.metrics_listen = f"{R1}:{METRICS_PORT}"
                master.write_config()
            backup = make_subject("keepalived", r2, instances(n, BACKUP_PRIO, interval), code, sched)
            start_pair(master, backup, args.settle)
            # Every process of the master (keepalived: parent and VRRP child), as the kernel has it.
            policy = describe_policies([sched_policy(pid) for pid in master.pids()])
            out = []
            loads = ("idle", SCRAPE_LOAD, "cpu hog") if daemon == "vrrpd" else ("idle", "cpu hog")
            for load in loads:
                before = master.transitions() + backup.transitions()
                cap = Tcpdump(obs, f"jitter-{daemon}", f"src host {R1} or src host {R2}")
                if load == "cpu hog":
                    burden: contextlib.AbstractContextManager[Any] = Hog()
                elif load == SCRAPE_LOAD:
                    burden = scraping(obs, f"http://{R1}:{METRICS_PORT}/metrics", res)
                else:
                    burden = contextlib.nullcontext()
                steal = host_steal()
                with burden:
                    time.sleep(args.jitter)
                steal = host_steal() - steal
                dropped = cap.stop()
                adverts = list(cap.adverts())
                devs = jitter_stats(adverts, R1, interval)
                backup_adverts = sum(1 for a in adverts if a[1] == R2)
                after = master.transitions() + backup.transitions()
                label = f"{daemon}, {load}" if sched == "other" else f"{daemon} ({sched}), {load}"
                res.histograms.append(histogram(f"{label}: advert gap - {interval * 1000:g} ms", devs))
                res.deviations[label] = devs
                out.append(
                    {
                        "daemon": daemon,
                        "sched": sched,
                        "policy": policy,
                        "load": load,
                        "instances": n,
                        "interval": interval,
                        "seconds": args.jitter,
                        "dropped_by_kernel": dropped,
                        "steal_s": round(steal, 2),
                        "backup_adverts": backup_adverts,
                        "state_changes": after - before,
                        **summarize_devs(devs),
                    }
                )
                cap.path.unlink()
            master.stop()
            backup.stop()
            return out

        (got,) = run_labs(1, body)
        if isinstance(got, BaseException):
            res.notes.append(f"jitter {daemon} failed: {got!r}")
        else:
            res.jitter.extend(got)


def render(args: argparse.Namespace, res: Results) -> list[str]:
    """The section's part of the report; nothing if it has no rows."""
    if not res.jitter:
        return []
    lines = ["", f"## Advert interval jitter on the wire (100 inst @ 10 ms, {args.jitter:g} s per load)", ""]
    lines += md_table(
        (
            "daemon",
            "policy",
            "load",
            "gaps",
            "p50 |dev| ms",
            "p99 |dev| ms",
            "max |dev| ms",
            "max late ms",
            "backup adverts",
            "state changes",
            "pcap drops",
            "VM steal s",
        ),
        [
            (
                r["daemon"],
                r["policy"],
                r["load"],
                str(r["gaps"]),
                fmt(r["p50_ms"], 3),
                fmt(r["p99_ms"], 3),
                fmt(r["max_ms"], 2),
                fmt(r["max_late_ms"], 2),
                str(r["backup_adverts"]),
                str(r["state_changes"]),
                str(r["dropped_by_kernel"]),
                fmt(r.get("steal_s"), 2),
            )
            for r in res.jitter
        ],
    )
    lines += ["", "```", *res.histograms, "```"]
    return lines


def planned_seconds(args: argparse.Namespace) -> float:
    """Its share of run_all.py's runtime forecast (overheads measured on the 2-vCPU lab VM)."""
    scrape = args.jitter if "vrrpd" in args.daemons else 0.0
    return len(args.sched) * (len(args.daemons) * (2 * args.jitter + args.settle + 5) + scrape)


def plot(deviations: dict[str, list[float]], path: Path) -> None:
    """The jitter distributions as a PNG, only where matplotlib is already installed (it is no dependency of this
    project: the markdown report carries the same distributions as ASCII histograms)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    try:
        fig, ax = plt.subplots(figsize=(9, 5))
        for label, devs in deviations.items():
            ax.hist([max(-2.0, min(10.0, d)) for d in devs], bins=120, range=(-2, 10), histtype="step", label=label)
        ax.set_yscale("log")
        ax.set_xlabel("advert gap - interval (ms), clipped to [-2, 10]")
        ax.set_ylabel("gaps")
        ax.legend()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        log(f"wrote {path}")
    except Exception as exc:  # a plot is a nicety; the figures are already written
        log(f"no jitter plot: {exc!r}")
