"""bench/run_all.py's reload section (issue #11): the same configuration change, N times, to a running vrrpd and
to a running keepalived 2.2.7, and what each reload does to the instance it does not change.

One lab per daemon, one daemon at a time. r1 runs the daemon under test with three instances, all master
(priority 200, `--reload-interval`, 0.1 s by default): m (VRID 1) is never changed; o1 (VRID 2) has its priority
changed (200 <-> 210); o2 (VRID 3) gets a second VIP and loses it again. r2 runs the same daemon with the same
instances at priority 100: the backup of all three, never reloaded. The observer captures every advert (tcpdump,
kernel timestamps); `ip -ts monitor address` in r1 records every address r1 loses.

On r1, per method, two phases of `--reloads` reloads each, one every `SPACING` seconds: the priority change, then
the VIP change, each reload toggling it. keepalived: rewrite keepalived.conf, SIGHUP (its reload). vrrpd: rewrite
vrrpd.yaml, SIGHUP; then the same with `vrrpctl reload`. Per phase:

- m's largest gap on the wire (against the interval), and how many of its gaps exceed 1.5 intervals; the same
  for a quiet window without reloads before the first phase, for comparison;
- m's VIP removed from r1 (RTM_DELADDR), and the changed instance's own VIP (not the toggled one);
- state changes logged by r2 (the peer) for m and for the changed instance, and r2's adverts on the wire (a
  backup advertises only when it takes over);
- state changes logged by r1 for the changed instance (a re-created instance goes through Backup again);
- signal -> the change on the wire: the changed instance's first advert from r1 with the new priority, or the
  new address count (for `vrrpctl reload`, from its exec: its own Python start-up is part of the figure).

A section of run_all.py rather than a script of its own: it measures with the same pieces (subjects.py's daemons
and their labs, wire.py's capture, the vrrpd snapshot both daemons' figures are labelled with, the markdown and
JSON report), and `--only reload` runs it alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import math
import re
import signal
import statistics
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import failover as fo  # puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports
from figures import Results, fmt, md_table
from lab import Lab
from progress import log
from subjects import OBS, R1, R2, Inst, Subject, VrrpdSubject, make_subject, run_labs, start_pair, vip4
from wire import CountedAdvert, Tcpdump, count_episodes

M, O1, O2 = 1, 2, 3
EXTRA_VIP = "203.0.113.99/24"
SPACING = 2.0
"""Seconds between two reloads: more than a SIGHUP's coalescing second and a re-created instance's way back to
Master (Master_Down_Interval at 0.1 s is 0.36 s)."""
QUIET = 10.0
"""Seconds of the quiet window (no reload) before the first phase."""
METHODS = {"keepalived": ("SIGHUP",), "vrrpd": ("SIGHUP", "vrrpctl reload")}
CHANGES = ("priority", "vip", "vip, r1 only")
"""o1's priority on r1; o2's VIP on both routers (r2 first, r1 right after it, as a rolling change would); o2's VIP
on r1 alone (SIGHUP only: what a backup does with adverts that list more or fewer VIPs than it has)."""
_STATE_LINE = {
    "keepalived": re.compile(r"\((\S+)\) Entering (\w+) STATE"),
    "vrrpd": re.compile(r"vrrpd: (\S+): \w+ -> (\w+) "),
}
_DELETED = re.compile(r"^\[(\S+)\]\s+Deleted\s+\d+:\s+\S+\s+inet6?\s+(\S+)")


def layout(priority: int, interval: float, o1_priority: int, extra: bool) -> list[Inst]:
    return [
        Inst(M, priority, interval, (vip4(M),)),
        Inst(O1, o1_priority, interval, (vip4(O1),)),
        Inst(O2, priority, interval, (vip4(O2), *((EXTRA_VIP,) if extra else ()))),
    ]


def name(vrid: int) -> str:
    return Inst(vrid, 0, 0.0, ()).name


def transitions(subject: Subject, offset: int) -> dict[str, int]:
    """State changes per instance that `subject` logged after byte `offset` of its log."""
    counts = {name(v): 0 for v in (M, O1, O2)}
    text = subject.log_path.read_bytes()[offset:].decode(errors="replace")
    for m in _STATE_LINE[subject.daemon].finditer(text):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def reload(subjects: Sequence[Subject], method: str, code: fo.VrrpdCode) -> None:
    """Reload each of `subjects`, in order; `vrrpctl reload` runs for all of them at once and is waited for."""
    if method == "SIGHUP":
        for subject in subjects:
            # keepalived's parent passes it on to its VRRP child, which re-reads the file; vrrpd reloads itself.
            assert subject.proc is not None
            subject.proc.send_signal(signal.SIGHUP)
        return
    ctls = []
    for subject in subjects:
        assert isinstance(subject, VrrpdSubject)
        argv = ["ip", "netns", "exec", subject.host.ns, code.python, "-m", "vrrpd.cli.ctl"]
        argv += ["--socket", str(subject.socket), "reload"]
        ctls.append(
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=code.root, env=code.env())
        )
    for ctl in ctls:
        _, err = ctl.communicate(timeout=150)
        if ctl.returncode != 0:
            raise RuntimeError(f"vrrpctl reload exited {ctl.returncode}: {err.decode(errors='replace').strip()}")


def _phases(daemon: str) -> list[tuple[str, str]]:
    """(method, change) in the order they run; the r1-only change with SIGHUP only."""
    return [(m, c) for m in METHODS[daemon] for c in CHANGES if m == "SIGHUP" or "only" not in c]


def gaps(adverts: Sequence[CountedAdvert], vrid: int, start: float, end: float) -> list[float]:
    """Gaps (s) between r1's consecutive adverts of `vrid` (priority > 0) from the last one before `start` to the
    first one after `end`."""
    stamps = [a[0] for a in adverts if a[1] == R1 and a[2] == vrid and a[3]]
    first = max((i for i, t in enumerate(stamps) if t < start), default=0)
    last = min((i for i, t in enumerate(stamps) if t > end), default=len(stamps) - 1)
    chosen = stamps[first : last + 1]
    return [b - a for a, b in itertools.pairwise(chosen)]


def run(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    interval = args.reload_interval
    for daemon in args.daemons:
        phases = _phases(daemon)
        log(f"reload: {daemon}, {len(phases)} phase(s) of {args.reloads} reloads at {interval:g} s")

        def body(_: int, lab: Lab, daemon: str = daemon, phases: list[tuple[str, str]] = phases) -> list[dict]:
            r1, r2 = lab.add_host("r1", ipv4=f"{R1}/24"), lab.add_host("r2", ipv4=f"{R2}/24")
            obs = lab.add_host("obs", ipv4=f"{OBS}/24")
            master = make_subject(daemon, r1, layout(200, interval, 200, False), code, args.sched[0])
            backup = make_subject(daemon, r2, layout(100, interval, 100, False), code, args.sched[0])
            start_pair(master, backup, args.settle)
            mon_path = lab.workdir / "r1-addresses.txt"
            with mon_path.open("wb") as out:
                r1.popen(["ip", "-ts", "monitor", "address"], stdout=out, stderr=subprocess.STDOUT)
            cap = Tcpdump(obs, "reload", "ip proto 112")
            quiet = (time.time(), time.time() + QUIET)
            time.sleep(QUIET)  # the quiet window: recording, not waiting for anything
            o1_priority, extra = 200, False
            runs = []
            for method, change in phases:
                log(f"reload: {daemon}, {method}, {change} x{args.reloads}")
                offsets = (master.log_path.stat().st_size, backup.log_path.stat().st_size)
                events: list[tuple[float, int, int]] = []  # (signal time, VRID, expected priority or count)
                for _ in range(args.reloads):
                    both = change == "vip"
                    if change == "priority":
                        o1_priority = 410 - o1_priority
                        expected = (O1, o1_priority)
                    else:
                        extra = not extra
                        expected = (O2, 2 if extra else 1)
                    master.write_config(layout(200, interval, o1_priority, extra))
                    if both:
                        backup.write_config(layout(100, interval, 100, extra))
                    t = time.time()
                    reload([backup, master] if both else [master], method, code)
                    events.append((t, *expected))
                    time.sleep(max(0.0, t + SPACING - time.time()))  # pacing the reloads
                end = time.time()
                if extra:  # the next phase starts from the same files on both routers
                    extra = False
                    master.write_config(layout(200, interval, o1_priority, extra))
                    backup.write_config(layout(100, interval, 100, extra))
                    reload([backup, master], method, code)
                    time.sleep(SPACING)  # pacing, as between two reloads
                runs.append(
                    {
                        "method": method,
                        "change": change,
                        "events": events,
                        "end": end,
                        "r1": transitions(master, offsets[0]),
                        "r2": transitions(backup, offsets[1]),
                    }
                )
            dropped = cap.stop()
            adverts = list(cap.counted())
            deleted = [
                (dt.datetime.fromisoformat(m.group(1)).timestamp(), m.group(2).split("/")[0])
                for m in map(_DELETED.match, mon_path.read_text().splitlines())
                if m
            ]
            master.stop()
            backup.stop()
            rows = [quiet_row(daemon, interval, adverts, quiet, dropped)]
            rows += [phase_row(daemon, interval, adverts, deleted, run, dropped) for run in runs]
            return rows

        (got,) = run_labs(1, body)
        if isinstance(got, BaseException):
            res.notes.append(f"reload {daemon} failed: {got!r}")
            continue
        res.reload.extend(got)


def quiet_row(daemon: str, interval: float, adverts: list[CountedAdvert], quiet: tuple[float, float], dropped: int):
    g = gaps(adverts, M, *quiet)
    return {
        "daemon": daemon,
        "method": "(none: quiet window)",
        "change": "-",
        "interval": interval,
        "reloads": 0,
        "seconds": quiet[1] - quiet[0],
        "m_max_gap_ms": max(g) * 1000 if g else math.nan,
        "m_gaps_over_1_5": sum(x > 1.5 * interval for x in g),
        "pcap_drops": dropped,
    }


def phase_row(
    daemon: str,
    interval: float,
    adverts: list[CountedAdvert],
    deleted: list[tuple[float, str]],
    run: dict[str, Any],
    dropped: int,
) -> dict[str, Any]:
    events = run["events"]
    start, end = events[0][0], run["end"]
    vrid = O1 if run["change"] == "priority" else O2  # the changed instance
    g = gaps(adverts, M, start, end)
    visible, late = [], 0
    field = 3 if run["change"] == "priority" else 4  # the new priority, or the new address count
    for t, v, want in events:
        seen = next((a[0] for a in adverts if a[0] > t and a[1:3] == (R1, v) and a[3] and a[field] == want), None)
        if seen is None or seen > t + SPACING:
            late += 1
        else:
            visible.append((seen - t) * 1000)
    in_phase = [a for a in adverts if start <= a[0] <= end]
    peer_episodes, peer_adverts = count_episodes([a[:4] for a in in_phase if a[2] == vrid], R2)
    left = [ip for ts, ip in deleted if start <= ts <= end]
    return {
        "daemon": daemon,
        "method": run["method"],
        "change": run["change"],
        "interval": interval,
        "reloads": len(events),
        "seconds": end - start,
        "m_max_gap_ms": max(g) * 1000 if g else math.nan,
        "m_gaps_over_1_5": sum(x > 1.5 * interval for x in g),
        "m_vip_removed": left.count(vip4(M).split("/")[0]),
        "changed_vip_removed": left.count(vip4(vrid).split("/")[0]),
        "peer_transitions_m": run["r2"][name(M)],
        "peer_transitions_changed": run["r2"][name(vrid)],
        "peer_adverts_changed": peer_adverts,
        "peer_episodes_changed": peer_episodes,
        "peer_adverts_m": sum(1 for a in in_phase if a[1] == R2 and a[2] == M and a[3]),
        "own_transitions_m": run["r1"][name(M)],
        "own_transitions_changed": run["r1"][name(vrid)],
        "visible_median_ms": statistics.median(visible) if visible else math.nan,
        "visible_max_ms": max(visible) if visible else math.nan,
        "not_visible": late,
        "pcap_drops": dropped,
    }


def render(args: argparse.Namespace, res: Results) -> list[str]:
    """The section's part of the report; nothing if it has no rows."""
    if not res.reload:
        return []
    interval = res.reload[0]["interval"]
    lines = [
        "",
        f"## Reload (the same change N times; m unchanged, master @ {interval * 1000:g} ms; r2 the backup)",
        "",
    ]
    lines += md_table(
        (
            "daemon",
            "reload by",
            "change",
            "n",
            "m max gap ms",
            "m gaps > 1.5x",
            "VIP removed m / changed",
            "peer state changes m / changed",
            "peer adverts (episodes), changed",
            "r1 state changes, changed",
            "signal -> wire median / max ms",
        ),
        [
            (
                r["daemon"],
                r["method"],
                r["change"],
                str(r["reloads"]),
                f"{fmt(r['m_max_gap_ms'])} ({r['m_max_gap_ms'] / (interval * 1000):.2f}x)",
                str(r["m_gaps_over_1_5"]),
                f"{r['m_vip_removed']} / {r['changed_vip_removed']}" if r["reloads"] else "-",
                f"{r['peer_transitions_m']} / {r['peer_transitions_changed']}" if r["reloads"] else "-",
                f"{r['peer_adverts_changed']} ({r['peer_episodes_changed']})" if r["reloads"] else "-",
                str(r["own_transitions_changed"]) if r["reloads"] else "-",
                (
                    f"{fmt(r['visible_median_ms'])} / {fmt(r['visible_max_ms'])}"
                    + (f" ({r['not_visible']} not within {SPACING:g} s)" if r["not_visible"] else "")
                )
                if r["reloads"]
                else "-",
            )
            for r in res.reload
        ],
    )
    return lines


def planned_seconds(args: argparse.Namespace) -> float:
    """Its share of run_all.py's runtime forecast (overheads measured on the 2-vCPU lab VM)."""
    phases = sum(len(_phases(d)) for d in args.daemons)
    return len(args.daemons) * (20 + args.settle + QUIET) + phases * args.reloads * SPACING
