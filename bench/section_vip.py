"""bench/run_all.py's vip section: VIP bring-up, from the subject's first advert on the wire (the observer's pcap
timestamp) to the last VIP's RTM_NEWADDR (`ip -ts monitor address` in its namespace).

The subject starts alone (0.1 s interval) and becomes master; 100 IPv4 VIPs on one instance, 1000 IPv6 VIPs on twelve
(an advert carries 84 of them within the MTU).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import re
import signal
import statistics
import subprocess
import time

import failover as fo  # puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports
from figures import Results, fmt, md_table
from lab import Host, Lab, wait_for
from progress import log
from subjects import MASTER_PRIO, OBS, R1, Inst, make_subject, run_labs
from wire import Tcpdump

_IP_TS = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]\s+(Deleted\s+)?\d+:\s+\S+\s+inet6?\s+(\S+)")


def run(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
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
                for nth in range(args.vip_runs):
                    subject = make_subject(daemon, r1, insts, code, args.sched[0])
                    mon_path = lab.workdir / f"mon-{nth}.txt"
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
                        raise RuntimeError(f"run {nth}: first advert {first}, {len(added)}/{len(wanted)} VIPs seen")
                    t0 = min(first, min(added.values()))
                    times.append((max(added.values()) - t0) * 1000)
                    lead = (min(added.values()) - first) * 1000
                    log(f"vip: {daemon} {len(wanted)} run {nth}: {times[-1]:.1f} ms (first VIP {lead:+.1f} ms after)")
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


def render(args: argparse.Namespace, res: Results) -> list[str]:
    """The section's part of the report; nothing if it has no rows."""
    if not res.vip:
        return []
    lines = ["", "## VIP bring-up (first advert on the wire -> last VIP's RTM_NEWADDR)", ""]
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
    return lines


def planned_seconds(args: argparse.Namespace) -> float:
    """Its share of run_all.py's runtime forecast (overheads measured on the 2-vCPU lab VM)."""
    return 2 * len(args.daemons) * (1 + 1.5 * args.vip_runs)
