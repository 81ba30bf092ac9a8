#!/usr/bin/env python3
"""vrrpd against keepalived, side by side in one run: CPU, memory, timer jitter, VIP bring-up, takeover, start-up,
live reload.

Not a test: it prints one table (issue #6's targets with pass/miss) and writes it as markdown and JSON. Run as root
from the repository root:

    .venv/bin/python bench/run_all.py             # the whole plan, about 34 minutes on the 2-vCPU lab VM
    .venv/bin/python bench/run_all.py --quick     # short windows for development, about 6-7 minutes; figures noisy
    .venv/bin/python bench/run_all.py --only cpu,startup --window 20

Every lab is built by netns-tests/lab.py (a bridge namespace plus one namespace per host, nothing in the root
namespace); keepalived 2.2.7 is the peer. The sections (`--only`):

cpu       CPU (utime+stime of every process in the daemon's namespace, from /proc/PID/stat; on-CPU and run-queue
          time from /proc/PID/task/*/schedstat; context switches) and RSS/PSS (smaps_rollup) over `--window`
          seconds, for 1, 100 and 255 instances at 1 s and 10 ms. Three labs per size and interval: vrrpd master +
          keepalived backup, keepalived master + vrrpd backup, keepalived master + keepalived backup (this one gives
          keepalived's figures for both sides, each with keepalived as the peer); side by side, so both daemons are
          measured in the same seconds, unless the row exceeds `--parallel-limit` adverts/s per daemon (255 x 10 ms
          would saturate 2 vCPUs). A window with a state change in it is flagged in the notes.
rss1000   RSS/PSS with 1000 instances (IPv6, 250 VRIDs on each of 4 interfaces), daemon alone, all master, 1 s.
jitter    Advert interval jitter on the wire, 100 instances at 10 ms, subject master + keepalived backup: tcpdump in an
          observer namespace (kernel timestamps, nanosecond pcap) records the master's adverts; deviation of each
          VRID's consecutive adverts from the configured interval. `--jitter` seconds idle, then (vrrpd) as long again
          with the observer scraping its /metrics once a second, then as long again with one busy-loop process pinned
          to each CPU (started and killed by PID here). One daemon at a time.
soak      False failovers over `--soak` seconds (hog on for the second half): 100 instances at 10 ms, a vrrpd pair and
          a keepalived pair side by side; any advert from a backup is a false failover (counted per VRID and episode).
vip       VIP bring-up: the subject starts alone (0.1 s interval), becomes master; time from its first advert on the
          wire (observer's pcap timestamp) to the last VIP's RTM_NEWADDR (`ip -ts monitor address` in its namespace),
          for 100 IPv4 VIPs (one instance) and 1000 IPv6 VIPs (four instances of 250, the advert's limit is 255).
takeover  bench/failover.py's batches (kill -9, SIGTERM, link down) at 10 ms, 100 ms and 1 s, with the RFC bound.
startup   exec (just before fork of `ip netns exec`) to READY=1 on a NOTIFY_SOCKET we bind; keepalived sends READY=1
          too (its unit is Type=notify). Master_Down_Interval is not part of it: vrrpd is READY once its routers
          start (in Initialize/Backup). 1 and 100 instances.
reload    Live reload (issue #11): the same change `--reloads` times (a priority of another instance, then a VIP
          added to / removed from another instance) to a master of three instances at `--reload-interval` with the
          same daemon as its backup; keepalived by rewrite + SIGHUP, vrrpd by rewrite + SIGHUP and + `vrrpctl
          reload`. The unchanged instance's largest advert gap on the wire, its VIP, the peer's state changes and
          adverts, the time from the signal to the change on the wire.
flood     Garbage flood (issue #13): master + backup of one daemon, `--flood` seconds of invalid VRRP from a third
          host at 0.1 s and 0.01 s adverts (bench/section_flood.py); the backup's false failovers, its kernel drops.

`--sched other,rr` (issue #16) runs jitter and soak once per scheduling policy, both daemons under it: rr is
`chrt --rr 1` around the daemon's command (systemd's CPUSchedulingPolicy=rr without a priority), no reset-on-fork
so keepalived's VRRP child inherits it; the hog stays at the default policy. Other sections take the first policy.

vrrpd runs from a copy of its package taken at start (bench/failover.py's snapshot), so the whole run measures one
version of the code even if the tree is edited meanwhile.

vrrpd (and vrrpctl) run under Debian's /usr/bin/python3 by default, the interpreter hosts run it under (an optimised
build: ~25-35% less CPU per advert than a pyenv build without PGO/LTO), in a venv of its own with the daemon's
runtime dependencies pinned by debian/requirements.txt: bench/.venv/<name>-<version>-<hash>/, built on first use
(pip may reach the package registry) and reused while the pins and the interpreter stay the same
(bench/subject_python.py). `--python PATH` chooses another interpreter, used as is when it imports the dependencies
(e.g. `--python .venv/bin/python`, the development venv), else in a bench venv of its own. Without /usr/bin/python3
the bench's own interpreter is the default. This script itself runs under whatever Python launched it; the report's
header and JSON (`vrrpd_python`) name vrrpd's interpreter and its build flags (PGO, LTO, -O level, compiler).

This file holds the options and the plan (which sections run, in what order, the report at the end). Each section
is a module, bench/section_<name>.py, with its run, its part of the report and its share of the forecast; they share
bench/subjects.py (the daemons in their labs), procstat.py, wire.py, cpuhog.py (the measurements), figures.py (the
Results they fill in) and report.py (targets, markdown, JSON).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import failover as fo  # noqa: E402  (also puts netns-tests/ on sys.path)
import report  # noqa: E402
import section_cpu  # noqa: E402
import section_flood  # noqa: E402
import section_jitter  # noqa: E402
import section_reload  # noqa: E402
import section_rss1000  # noqa: E402
import section_soak  # noqa: E402
import section_startup  # noqa: E402
import section_takeover  # noqa: E402
import section_vip  # noqa: E402
import subject_python  # noqa: E402
from figures import Results  # noqa: E402
from progress import log  # noqa: E402
from subjects import DAEMONS, RR_PRIORITY, SCHED_POLICIES  # noqa: E402


class Section(Protocol):
    """What a section_*.py module offers the plan."""

    def run(self, args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None: ...

    def render(self, args: argparse.Namespace, res: Results) -> list[str]: ...

    def planned_seconds(self, args: argparse.Namespace) -> float: ...


# `--only` names, in the report's order (the sections run in `--only`'s order, the report keeps this one).
SECTIONS: dict[str, Section] = {
    "cpu": section_cpu,
    "rss1000": section_rss1000,
    "jitter": section_jitter,
    "soak": section_soak,
    "vip": section_vip,
    "takeover": section_takeover,
    "startup": section_startup,
    "reload": section_reload,
    "flood": section_flood,
}


_DEFAULT: dict[str, Any] = {
    "window": 60.0,
    "settle": 6.0,
    "jitter": 30.0,
    "soak": 600.0,
    "vip_runs": 5,
    "startup_runs": 10,
    "takeover": "0.01:10,0.1:5,1:3",
    "reloads": 20,
    "flood": 40.0,
}
_QUICK: dict[str, Any] = {
    "window": 10.0,
    "settle": 2.0,
    "jitter": 10.0,
    "soak": 30.0,
    "vip_runs": 2,
    "startup_runs": 3,
    "takeover": "0.01:3,0.1:3,1:1",
    "reloads": 5,
    "flood": 8.0,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short windows and few runs, for development (~6 min)")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"sections, comma-separated: {', '.join(SECTIONS)}")
    p.add_argument("--daemons", default=",".join(DAEMONS), help="vrrpd, keepalived or both")
    p.add_argument("--window", type=float, help="CPU/RSS window in seconds (default 60)")
    p.add_argument("--sizes", default="1,100,255", help="instance counts of the CPU section (default 1,100,255)")
    p.add_argument("--intervals", default="1,0.01", help="advert intervals of the CPU section (default 1,0.01)")
    p.add_argument(
        "--parallel-limit",
        type=float,
        default=10000,
        help="cpu: a row's three labs run side by side up to this many adverts/s per daemon (default 10000),\n"
        "one at a time above it",
    )
    p.add_argument("--settle", type=float, help="seconds after settling before measuring (GARP bursts)")
    p.add_argument("--jitter", type=float, help="jitter window per load in seconds (default 30)")
    p.add_argument("--soak", type=float, help="soak seconds (default 600; hog in the second half)")
    p.add_argument("--vip-runs", type=int, help="VIP bring-up runs per daemon and size (default 5)")
    p.add_argument("--startup-runs", type=int, help="start-up runs per daemon and size (default 10)")
    p.add_argument(
        "--takeover",
        help="INTERVAL:RUNS per event, comma-separated (default 0.01:10,0.1:5,1:3)",
    )
    p.add_argument("--reloads", type=int, help="reload: reloads per daemon, method and change (default 20)")
    p.add_argument(
        "--reload-interval", type=float, default=0.1, help="reload: advert interval of the instances (default 0.1)"
    )
    p.add_argument("--flood", type=float, help="flood: seconds of garbage per daemon and interval (default 40)")
    p.add_argument(
        "--sched",
        default="other",
        help="scheduling policies, comma-separated (other, rr): jitter and soak run once under each, both daemons\n"
        f"(rr: `chrt --rr {RR_PRIORITY}`, what systemd's CPUSchedulingPolicy=rr gives); other sections use the first",
    )
    p.add_argument("--vrrpd-ref", metavar="REF", help="benchmark vrrpd as of this git ref (default: working tree)")
    p.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter for vrrpd and vrrpctl (default: /usr/bin/python3 in a bench venv, else this one);\n"
        "used as is when it imports the daemon's dependencies, else in a bench venv of its own",
    )
    p.add_argument("--out", type=Path, help="directory for results.md/results.json (default bench/out/<UTC time>)")
    args = p.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    # An option given explicitly wins over both plans.
    plan = _QUICK if args.quick else _DEFAULT
    for key, value in plan.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.sections = [s for s in args.only.split(",") if s]
    args.daemons = [d for d in args.daemons.split(",") if d]
    args.sched = [s for s in args.sched.split(",") if s]
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    args.intervals = [float(x) for x in args.intervals.split(",") if x]
    args.takeover_plan = [(float(a), int(b)) for a, b in (x.split(":") for x in args.takeover.split(",") if x)]
    for s in args.sections:
        if s not in SECTIONS:
            p.error(f"unknown section {s!r}")
    for d in args.daemons:
        if d not in DAEMONS:
            p.error(f"unknown daemon {d!r}")
    if not args.sched or any(s not in SCHED_POLICIES for s in args.sched) or len(set(args.sched)) < len(args.sched):
        p.error(f"--sched: one or more of {', '.join(SCHED_POLICIES)}, each once")
    if any(not 1 <= n <= 255 for n in args.sizes):
        p.error("--sizes: 1..255 instances (one interface)")
    return args


def planned_seconds(args: argparse.Namespace) -> float:
    """A rough runtime forecast from the plan; overheads measured on the 2-vCPU lab VM (daemon start-up, the
    Master_Down wait, lab set-up), so the default plan can be checked against its 30-minute budget before it runs."""
    return sum(SECTIONS[name].planned_seconds(args) for name in args.sections)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    out = args.out or REPO / "bench" / "out" / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"plan: {', '.join(args.sections)}; forecast ~{planned_seconds(args) / 60:.0f} min")
    interpreter = subject_python.choose(args.python)
    log(f"vrrpd runs under {interpreter.summary()}")
    code = fo.snapshot_vrrpd(args.vrrpd_ref, interpreter)
    res = Results()
    try:
        for name in args.sections:
            t = time.monotonic()
            SECTIONS[name].run(args, code, res)
            log(f"{name}: {time.monotonic() - t:.0f} s")
    finally:
        shutil.rmtree(code.root, ignore_errors=True)
    elapsed = time.monotonic() - started
    text = report.markdown(args, code, res, elapsed, [section.render for section in SECTIONS.values()])
    print(text)
    report.write(out, text, report.document(args, code, res, elapsed))
    if res.deviations:
        section_jitter.plot(res.deviations, out / "jitter.png")
    return 1 if res.notes and any("failed" in n for n in res.notes) else 0


if __name__ == "__main__":
    sys.exit(main())
