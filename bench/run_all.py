#!/usr/bin/env python3
"""vrrpd against keepalived, side by side in one run: CPU, memory, timer jitter, VIP bring-up, takeover, start-up.

Not a test: it prints one table (issue #6's targets with pass/miss) and writes it as markdown and JSON. Run as root
from the repository root:

    .venv/bin/python bench/run_all.py             # the whole plan, about 28 minutes on the 2-vCPU lab VM
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
          VRID's consecutive adverts from the configured interval. `--jitter` seconds idle, then as long again with one
          busy-loop process pinned to each CPU (started and killed by PID here). One daemon at a time.
soak      False failovers over `--soak` seconds (hog on for the second half): 100 instances at 10 ms, a vrrpd pair and
          a keepalived pair side by side; any advert from a backup is a false failover (counted per VRID and episode).
vip       VIP bring-up: the subject starts alone (0.1 s interval), becomes master; time from its first advert on the
          wire (observer's pcap timestamp) to the last VIP's RTM_NEWADDR (`ip -ts monitor address` in its namespace),
          for 100 IPv4 VIPs (one instance) and 1000 IPv6 VIPs (four instances of 250, the advert's limit is 255).
takeover  bench/failover.py's batches (kill -9, SIGTERM, link down) at 10 ms, 100 ms and 1 s, with the RFC bound.
startup   exec (just before fork of `ip netns exec`) to READY=1 on a NOTIFY_SOCKET we bind; keepalived sends READY=1
          too (its unit is Type=notify). Master_Down_Interval is not part of it: vrrpd is READY once its routers
          start (in Initialize/Backup). 1 and 100 instances.

vrrpd runs from a copy of its package taken at start (bench/failover.py's snapshot), so the whole run measures one
version of the code even if the tree is edited meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import ipaddress
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import failover as fo  # noqa: E402  (also puts netns-tests/ on sys.path)
from cpuhog import Hog  # noqa: E402
from figures import Results, find_row, fmt, md_table, pct, ratio  # noqa: E402
from lab import Host, Lab, wait_for  # noqa: E402
from procstat import sample, sched_policy, usage  # noqa: E402
from progress import log  # noqa: E402
from subjects import (  # noqa: E402
    BACKUP_PRIO,
    DAEMONS,
    MASTER_PRIO,
    OBS,
    R1,
    R2,
    Inst,
    add_interfaces,
    instances,
    make_subject,
    run_labs,
    start_pair,
)
from wire import Tcpdump, count_episodes, histogram, jitter_stats, summarize_devs  # noqa: E402

SECTIONS = ("cpu", "rss1000", "jitter", "soak", "vip", "takeover", "startup")


# --- sections --------------------------------------------------------------------------------------------------


def section_cpu(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
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
                        master = make_subject(mdaemon, r1, instances(n, MASTER_PRIO, interval), code)
                        backup = make_subject(bdaemon, r2, instances(n, BACKUP_PRIO, interval), code)
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
                                "policy": sched_policy(s.pids()[0]),
                                **u.__dict__,
                            }
                        )
                    master.stop()
                    backup.stop()
                    return out

                _collect_cpu(res, [pairs[i][0] for i in group], run_labs(len(group), body), n, interval)


def _collect_cpu(res: Results, names: list[str], results: list[Any], n: int, interval: float) -> None:
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


def section_rss1000(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
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
            subject = make_subject(daemon, r1, insts, code)
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


def section_jitter(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    n, interval = 100, 0.01
    for daemon in args.daemons:
        log(f"jitter: {daemon} master ({n} x {interval:g} s) + keepalived backup, {args.jitter:g} s idle + hog")

        def body(_: int, lab: Lab, daemon: str = daemon) -> list[dict[str, Any]]:
            r1, r2 = lab.add_host("r1", ipv4=f"{R1}/24"), lab.add_host("r2", ipv4=f"{R2}/24")
            obs = lab.add_host("obs", ipv4=f"{OBS}/24")
            master = make_subject(daemon, r1, instances(n, MASTER_PRIO, interval), code)
            backup = make_subject("keepalived", r2, instances(n, BACKUP_PRIO, interval), code)
            start_pair(master, backup, args.settle)
            out = []
            for load in ("idle", "cpu hog"):
                before = master.transitions() + backup.transitions()
                cap = Tcpdump(obs, f"jitter-{daemon}", f"src host {R1} or src host {R2}")
                with Hog() if load == "cpu hog" else contextlib.nullcontext():
                    time.sleep(args.jitter)
                dropped = cap.stop()
                adverts = list(cap.adverts())
                devs = jitter_stats(adverts, R1, interval)
                backup_adverts = sum(1 for a in adverts if a[1] == R2)
                after = master.transitions() + backup.transitions()
                res.histograms.append(histogram(f"{daemon}, {load}: advert gap - {interval * 1000:g} ms", devs))
                res.deviations[f"{daemon}, {load}"] = devs
                out.append(
                    {
                        "daemon": daemon,
                        "load": load,
                        "instances": n,
                        "interval": interval,
                        "seconds": args.jitter,
                        "dropped_by_kernel": dropped,
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


def section_soak(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    n, interval = 100, 0.01
    log(f"soak: {args.soak:g} s, {n} x {interval:g} s, a vrrpd pair and a keepalived pair side by side, hog 2nd half")
    barrier = threading.Barrier(len(args.daemons))
    hog_on = threading.Event()

    def body(i: int, lab: Lab) -> dict[str, Any]:
        daemon = args.daemons[i]
        try:
            r1, r2 = lab.add_host("r1", ipv4=f"{R1}/24"), lab.add_host("r2", ipv4=f"{R2}/24")
            obs = lab.add_host("obs", ipv4=f"{OBS}/24")
            master = make_subject(daemon, r1, instances(n, MASTER_PRIO, interval), code)
            backup = make_subject(daemon, r2, instances(n, BACKUP_PRIO, interval), code)
            start_pair(master, backup, args.settle)
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


_IP_TS = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]\s+(Deleted\s+)?\d+:\s+\S+\s+inet6?\s+(\S+)")


def section_vip(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    interval = 0.1
    layouts = {
        100: [Inst(1, MASTER_PRIO, interval, tuple(f"203.0.113.{h}/24" for h in range(1, 101)))],
        # IPv6 (the IPv4 documentation ranges hold ~500 addresses), 12 instances of 83-84: 84 addresses fill a
        # 1392-byte advert; more would make the advert exceed the 1500-byte MTU.
        1000: [
            Inst(
                vrid,
                MASTER_PRIO,
                interval,
                tuple(f"2001:db8:{vrid}::{h:x}/64" for h in range(1, 1 + 1000 // 12 + (vrid <= 1000 % 12))),
            )
            for vrid in range(1, 13)
        ],
    }
    for count, insts in layouts.items():
        for daemon in args.daemons:
            log(f"vip: {daemon}, {count} VIPs, {args.vip_runs} run(s)")

            def body(_: int, lab: Lab, daemon: str = daemon, insts: list[Inst] = insts) -> list[float]:
                r1, obs = lab.add_host("r1", ipv4=f"{R1}/24"), lab.add_host("obs", ipv4=f"{OBS}/24")
                wanted = {str(ipaddress.ip_interface(v).ip) for i in insts for v in i.vips}
                r1_ll = r1.link_local
                times = []
                for run in range(args.vip_runs):
                    subject = make_subject(daemon, r1, insts, code)
                    mon_path = lab.workdir / f"mon-{run}.txt"
                    with mon_path.open("wb") as out:
                        mon = r1.popen(["ip", "-ts", "monitor", "address"], stdout=out, stderr=subprocess.STDOUT)
                    cap = Tcpdump(obs, "vip")
                    time.sleep(0.3)  # ip monitor has no "ready" signal; the daemon needs longer than this anyway
                    subject.launch()
                    subject.wait_states("MASTER", 30)
                    wait_for(lambda: wanted <= set(_addresses(r1)), 30, 0.05, f"{daemon}: VIPs not all present")
                    time.sleep(0.3)
                    cap.stop()
                    r1.stop(mon, signal.SIGTERM, 5)
                    first = min((a[0] for a in cap.adverts() if a[1] in (R1, r1_ll) and a[3]), default=None)
                    added: dict[str, float] = {}
                    for line in mon_path.read_text().splitlines():
                        m = _IP_TS.match(line)
                        if m and not m.group(2):
                            ip = m.group(3).split("/")[0]
                            if ip in wanted:
                                added.setdefault(ip, dt.datetime.fromisoformat(m.group(1)).timestamp())
                    if first is None or set(added) != wanted:
                        raise RuntimeError(f"run {run}: first advert {first}, {len(added)}/{len(wanted)} VIPs seen")
                    t0 = min(first, min(added.values()))
                    times.append((max(added.values()) - t0) * 1000)
                    lead = (min(added.values()) - first) * 1000
                    log(f"vip: {daemon} {len(wanted)} run {run}: {times[-1]:.1f} ms (first VIP {lead:+.1f} ms after)")
                    subject.stop()
                    wait_for(lambda: not (wanted & set(_addresses(r1))), 30, 0.05, "VIPs left after stop")
                return times

            (got,) = run_labs(1, body)
            if isinstance(got, BaseException):
                res.notes.append(f"vip {daemon} {count} failed: {got!r}")
                continue
            res.vip.append(
                {
                    "daemon": daemon,
                    "vips": count,
                    "runs": len(got),
                    "median_ms": statistics.median(got),
                    "max_ms": max(got),
                    "samples_ms": got,
                }
            )


def _addresses(host: Host) -> list[str]:
    out = subprocess.run(["ip", "-n", host.ns, "-j", "addr", "show", "dev", "eth0"], capture_output=True, check=True)
    data = json.loads(out.stdout)
    return [i["local"] for i in data[0].get("addr_info", [])] if data else []


def section_takeover(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
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


def section_startup(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
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
                        subject = make_subject(daemon, r1, instances(n, MASTER_PRIO, 1.0), code)
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


# --- report ----------------------------------------------------------------------------------------------------


def summary(res: Results) -> list[dict[str, Any]]:
    """One row per issue #6 target: both daemons, the ratio, the target, pass/miss."""
    out: list[dict[str, Any]] = []

    def row(metric: str, v: float | None, k: float | None, target: str, ok: bool | None, unit: str) -> None:
        out.append(
            {
                "metric": metric,
                "unit": unit,
                "vrrpd": v,
                "keepalived": k,
                "ratio": ratio(v, k),
                "target": target,
                "verdict": "-" if ok is None else "pass" if ok else "MISS",
            }
        )

    for side, limit in (("master", 0.5), ("backup", 1.0)):
        v = find_row(res.cpu, daemon="vrrpd", side=side, instances=100, interval=0.01)
        k = find_row(res.cpu, daemon="keepalived", side=side, instances=100, interval=0.01)
        vv, kk = (v or {}).get("cpu_pct"), (k or {}).get("cpu_pct")
        r = ratio(vv, kk)
        row(
            f"CPU, 100 inst @ 10 ms, {side}",
            vv,
            kk,
            f"<= {limit}x keepalived",
            None if r is None else r <= limit,
            "% core",
        )
    v = find_row(res.cpu, daemon="vrrpd", side="master", instances=100, interval=0.01)
    k = find_row(res.cpu, daemon="keepalived", side="master", instances=100, interval=0.01)
    vv, kk = (v or {}).get("rss_kb"), (k or {}).get("rss_kb")
    r = ratio(vv, kk)
    row(
        "RSS, 100 inst (master)",
        vv and vv / 1024,
        kk and kk / 1024,
        "<= 2.0x keepalived",
        None if r is None else r <= 2.0,
        "MB",
    )
    for daemon in DAEMONS:
        one = find_row(res.cpu, daemon=daemon, side="master", instances=1, interval=1.0)
        big = find_row(res.rss1000, daemon=daemon)
        if one and big:
            growth = (big["rss_kb"] - one["rss_kb"]) / (big["instances"] - 1)
            if daemon == "vrrpd":
                vgrowth = growth
            else:
                kgrowth = growth
    vg, kg = locals().get("vgrowth"), locals().get("kgrowth")
    row("RSS growth per instance, 1 -> 1000", vg, kg, "<= 20 KB", None if vg is None else vg <= 20, "KB")
    for load in ("idle", "cpu hog"):
        v = find_row(res.jitter, daemon="vrrpd", load=load)
        k = find_row(res.jitter, daemon="keepalived", load=load)
        vv, kk = (v or {}).get("p99_ms"), (k or {}).get("p99_ms")
        row(f"jitter p99, 100 inst @ 10 ms, {load}", vv, kk, "<= 1 ms", None if vv is None else vv <= 1.0, "ms")
    v, k = find_row(res.soak, daemon="vrrpd"), find_row(res.soak, daemon="keepalived")
    vv = v and v["false_failovers_quiet"] + v["false_failovers_hog"]
    kk = k and k["false_failovers_quiet"] + k["false_failovers_hog"]
    secs = (v or k or {}).get("seconds", 0)
    row(f"false failovers, {secs:g} s soak", vv, kk, "0", None if vv is None else vv == 0, "count")
    for count, target in ((100, 15.0), (1000, None)):
        v, k = find_row(res.vip, daemon="vrrpd", vips=count), find_row(res.vip, daemon="keepalived", vips=count)
        vv, kk = (v or {}).get("max_ms"), (k or {}).get("max_ms")
        ok = None if vv is None or target is None else vv <= target
        row(f"VIP bring-up, {count} VIPs (max of runs)", vv, kk, f"<= {target:g} ms" if target else "-", ok, "ms")
    for t in res.takeover:
        if t["daemon"] != "vrrpd":
            continue
        k = find_row(res.takeover, daemon="keepalived", interval=t["interval"], event=t["event"])
        vv, kk = t["over_bound_p99_ms"], (k or {}).get("over_bound_p99_ms")
        row(
            f"takeover {t['event']} @ {t['interval']:g} s: own timer p99 - bound ({t['bound_ms']:.1f} ms)",
            vv,
            kk,
            "<= 2 ms",
            None if math.isnan(vv) else vv <= 2.0,
            "ms",
        )
    for n in (1, 100):
        v, k = (
            find_row(res.startup, daemon="vrrpd", instances=n),
            find_row(res.startup, daemon="keepalived", instances=n),
        )
        vv, kk = (v or {}).get("median_ms"), (k or {}).get("median_ms")
        row(f"start-up to READY=1, {n} inst (median)", vv, kk, "<= 300 ms", None if vv is None else vv <= 300, "ms")
    return out


def render(args: argparse.Namespace, code: fo.VrrpdCode, res: Results, elapsed: float) -> list[str]:
    rows = summary(res)
    lines = [
        "# vrrpd vs keepalived (bench/run_all.py)",
        "",
        *(f"- {m}" for m in fo.machine(code)),
        f"- command: `{' '.join(['bench/run_all.py', *args.argv])}`; runtime {elapsed:.0f} s, "
        f"load average at the end {os.getloadavg()[0]:.2f}",
        "",
        "## Targets (issue #6)",
        "",
        *md_table(
            ("metric", "unit", "vrrpd", "keepalived", "ratio", "target", "verdict"),
            [
                (
                    r["metric"],
                    r["unit"],
                    fmt(r["vrrpd"], 2),
                    fmt(r["keepalived"], 2),
                    (fmt(r["ratio"], 2) + "x") if r["ratio"] is not None else "-",
                    r["target"],
                    r["verdict"],
                )
                for r in rows
            ],
        ),
    ]
    if res.cpu:
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
        lines += [
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
            "in % of one core. Scheduling policy: "
            + ", ".join(sorted({f"{r['daemon']} {r['policy']}" for r in res.cpu})),
        ]
    if res.rss1000:
        lines += ["", "## 1000 instances (4 interfaces x 250 VRIDs, IPv6, 1 s, all master, alone)", ""]
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
    if res.jitter:
        lines += ["", f"## Advert interval jitter on the wire (100 inst @ 10 ms, {args.jitter:g} s per load)", ""]
        lines += md_table(
            (
                "daemon",
                "load",
                "gaps",
                "p50 |dev| ms",
                "p99 |dev| ms",
                "max |dev| ms",
                "max late ms",
                "backup adverts",
                "state changes",
                "pcap drops",
            ),
            [
                (
                    r["daemon"],
                    r["load"],
                    str(r["gaps"]),
                    fmt(r["p50_ms"], 3),
                    fmt(r["p99_ms"], 3),
                    fmt(r["max_ms"], 2),
                    fmt(r["max_late_ms"], 2),
                    str(r["backup_adverts"]),
                    str(r["state_changes"]),
                    str(r["dropped_by_kernel"]),
                )
                for r in res.jitter
            ],
        )
        lines += ["", "```", *res.histograms, "```"]
    if res.soak:
        lines += [
            "",
            f"## Soak ({args.soak:g} s, 100 inst @ 10 ms, hog in the second half, both pairs side by side)",
            "",
        ]
        lines += md_table(
            (
                "daemon pair",
                "false failovers quiet",
                "false failovers hog",
                "backup adverts",
                "state changes",
                "pcap drops",
            ),
            [
                (
                    r["daemon"],
                    str(r["false_failovers_quiet"]),
                    str(r["false_failovers_hog"]),
                    str(r["backup_adverts"]),
                    str(r["state_changes"]),
                    str(r["dropped_by_kernel"]),
                )
                for r in res.soak
            ],
        )
    if res.vip:
        lines += ["", "## VIP bring-up (first advert on the wire -> last VIP's RTM_NEWADDR)", ""]
        lines += md_table(
            ("daemon", "VIPs", "runs", "median ms", "max ms", "samples ms"),
            [
                (
                    r["daemon"],
                    str(r["vips"]),
                    str(r["runs"]),
                    fmt(r["median_ms"]),
                    fmt(r["max_ms"]),
                    " ".join(f"{s:.1f}" for s in r["samples_ms"]),
                )
                for r in res.vip
            ],
        )
    if res.takeover:
        lines += ["", "## Takeover (bench/failover.py method)", ""]
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
    if res.startup:
        lines += ["", "## Start-up: exec -> READY=1 on NOTIFY_SOCKET", ""]
        lines += md_table(
            ("daemon", "instances", "runs", "median ms", "max ms"),
            [
                (r["daemon"], str(r["instances"]), str(r["runs"]), fmt(r["median_ms"]), fmt(r["max_ms"]))
                for r in res.startup
            ],
        )
    if res.notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in res.notes)]
    return lines


# --- main ------------------------------------------------------------------------------------------------------


_DEFAULT: dict[str, Any] = {
    "window": 60.0,
    "settle": 6.0,
    "jitter": 30.0,
    "soak": 600.0,
    "vip_runs": 5,
    "startup_runs": 10,
    "takeover": "0.01:10,0.1:5,1:3",
}
_QUICK: dict[str, Any] = {
    "window": 10.0,
    "settle": 2.0,
    "jitter": 10.0,
    "soak": 30.0,
    "vip_runs": 2,
    "startup_runs": 3,
    "takeover": "0.01:3,0.1:3,1:1",
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
    p.add_argument("--vrrpd-ref", metavar="REF", help="benchmark vrrpd as of this git ref (default: working tree)")
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
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    args.intervals = [float(x) for x in args.intervals.split(",") if x]
    args.takeover_plan = [(float(a), int(b)) for a, b in (x.split(":") for x in args.takeover.split(",") if x)]
    for s in args.sections:
        if s not in SECTIONS:
            p.error(f"unknown section {s!r}")
    for d in args.daemons:
        if d not in DAEMONS:
            p.error(f"unknown daemon {d!r}")
    if any(not 1 <= n <= 255 for n in args.sizes):
        p.error("--sizes: 1..255 instances (one interface)")
    return args


def planned_seconds(args: argparse.Namespace) -> float:
    """A rough runtime forecast from the plan; overheads measured on the 2-vCPU lab VM (daemon start-up, the
    Master_Down wait, lab set-up), so the default plan can be checked against its 30-minute budget before it runs."""
    total = 0.0
    for name in args.sections:
        if name == "cpu":
            for interval in args.intervals:
                for n in args.sizes:
                    labs = 1 if n / interval <= args.parallel_limit else 3
                    total += labs * (args.window + args.settle + 12)
        elif name == "rss1000":
            total += len(args.daemons) * (min(args.window, 10) + args.settle + 8)
        elif name == "jitter":
            total += len(args.daemons) * (2 * args.jitter + args.settle + 5)
        elif name == "soak":
            total += args.soak + args.settle + 5
        elif name == "vip":
            total += 2 * len(args.daemons) * (1 + 1.5 * args.vip_runs)
        elif name == "takeover":
            for interval, runs in args.takeover_plan:
                per_run = 0.6 + fo.master_down_interval(interval) + 4 * interval
                together = interval >= fo.PARALLEL_MIN_INTERVAL
                total += len(fo.EVENTS) * runs * per_run * (1 if together else len(args.daemons)) + 5
        elif name == "startup":
            total += 2 * len(args.daemons) * (1 + 0.5 * args.startup_runs)
    return total


def plot_jitter(deviations: dict[str, list[float]], path: Path) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    out = args.out or REPO / "bench" / "out" / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"plan: {', '.join(args.sections)}; forecast ~{planned_seconds(args) / 60:.0f} min")
    code = fo.snapshot_vrrpd(args.vrrpd_ref)
    res = Results()
    try:
        for name in args.sections:
            t = time.monotonic()
            globals()[f"section_{name}"](args, code, res)
            log(f"{name}: {time.monotonic() - t:.0f} s")
    finally:
        shutil.rmtree(code.root, ignore_errors=True)
    elapsed = time.monotonic() - started
    lines = render(args, code, res, elapsed)
    text = "\n".join(lines) + "\n"
    print(text)
    (out / "results.md").write_text(text)
    doc = {k: v for k, v in res.__dict__.items() if k not in ("histograms", "deviations")}
    doc["summary"] = summary(res)
    doc["machine"] = fo.machine(code)
    doc["argv"] = args.argv
    doc["runtime_s"] = elapsed
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    log(f"wrote {out / 'results.md'} and {out / 'results.json'}")
    if res.deviations:
        plot_jitter(res.deviations, out / "jitter.png")
    return 1 if res.notes and any("failed" in n for n in res.notes) else 0


if __name__ == "__main__":
    sys.exit(main())
