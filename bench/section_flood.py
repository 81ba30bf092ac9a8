#!/usr/bin/env python3
"""bench/run_all.py's flood section (issue #13), also runnable alone: a master and a backup of the same daemon,
flooded with invalid VRRP from a third host (netns-tests/helpers/flood.py: bad checksums on the configured VRID,
TTL 64, bad version and type, counts that lie, fragments, adverts for 200 unconfigured VRIDs) for `--flood`
seconds at each advert interval; vrrpd and keepalived one after the other, each in a lab of its own.

Printed per daemon and interval: packets/s the flooder reached, the backup's state changes and takeovers (it
should have none: the master never stopped), the master's state changes, and the backup's kernel receive-queue
drops (vrrpd: its status; keepalived: the drops column of /proc/net/raw in its namespace, its protocol-112
sockets). Run as root from the repository root:

    /usr/bin/python3 bench/section_flood.py --quick        # 8 s floods
    /usr/bin/python3 bench/section_flood.py --flood 40     # the issue's 40 s

(with PYTHONPATH=.venv/lib/python3.11/site-packages, as bench/failover.py explains; the daemons and the flooder
run on the interpreter that runs this.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import failover as fo  # noqa: E402  (also puts netns-tests/ on sys.path)
from figures import Results, fmt, md_table  # noqa: E402
from lab import Host, Lab  # noqa: E402
from progress import log  # noqa: E402
from subjects import (  # noqa: E402
    BACKUP_PRIO,
    DAEMONS,
    MASTER_PRIO,
    OBS,
    R1,
    R2,
    Inst,
    Subject,
    VrrpdSubject,
    make_subject,
    start_pair,
    vip4,
)

FLOOD = REPO / "netns-tests" / "helpers" / "flood.py"
VRID = 51
INTERVALS = (0.1, 0.01)


def raw_drops(host: Host) -> int:
    """The drops of every protocol-112 raw socket in `host`'s namespace (/proc/net/raw: the last column)."""
    out = host.run(["cat", "/proc/net/raw"]).stdout.splitlines()[1:]
    return sum(int(line.split()[-1]) for line in out if line.split()[1].endswith(":0070"))


def kernel_drops(subject: Subject) -> int:
    """vrrpd's own figure where it has one (since issue #13), else the kernel's for the namespace."""
    if isinstance(subject, VrrpdSubject):
        status = subject.status()
        if status is not None and all("kernel_drops" in i for i in status["interfaces"]):
            return sum(i["kernel_drops"] for i in status["interfaces"])
    return raw_drops(subject.host)


def one(
    daemon: str, interval: float, seconds: float, code: fo.VrrpdCode, settle: float, mix: str, optmem: int | None
) -> dict[str, Any]:
    with Lab(prefix="fl") as lab:
        r1 = lab.add_host("r1", ipv4=f"{R1}/24")
        r2 = lab.add_host("r2", ipv4=f"{R2}/24")
        if optmem is not None:  # per namespace since Linux 6.9: a kernel with an older default, in the lab
            for host in (r1, r2):
                host.run(["sysctl", "-q", "-w", f"net.core.optmem_max={optmem}"])
        flooder = lab.add_host("fl", ipv4=f"{OBS}/24")
        inst = [Inst(VRID, MASTER_PRIO, interval, (vip4(VRID),))]
        master = make_subject(daemon, r1, inst, code)
        backup = make_subject(daemon, r2, [Inst(VRID, BACKUP_PRIO, interval, (vip4(VRID),))], code)
        start_pair(master, backup, settle)
        m0, b0 = master.transitions(), backup.transitions()
        became0 = backup.log_text().count("Entering MASTER") if daemon == "keepalived" else became_master(backup)
        drops0 = kernel_drops(backup)
        argv = [sys.executable, str(FLOOD), "eth0", OBS, "--vrid", str(VRID), "--seconds", str(seconds), "--mix", mix]
        proc = flooder.popen(argv, stdout=subprocess.PIPE, text=True, env=fo.pinned_env(code.root))
        out, _ = proc.communicate(timeout=seconds + 60)
        sent = json.loads(out.splitlines()[-1])
        time.sleep(max(1.0, 5 * interval))  # let a takeover that was under way show in the counters
        m1, b1 = master.transitions(), backup.transitions()
        became1 = backup.log_text().count("Entering MASTER") if daemon == "keepalived" else became_master(backup)
        row = {
            "daemon": daemon,
            "interval": interval,
            "mix": mix,
            "optmem": optmem,
            "seconds": sent["seconds"],
            "pps": sent["pps"],
            "backup_transitions": b1 - b0,
            "backup_takeovers": became1 - became0,
            "master_transitions": m1 - m0,
            "backup_kernel_drops": kernel_drops(backup) - drops0,
        }
        master.stop()
        backup.stop()
        return row


def became_master(subject: Subject) -> int:
    status = subject.status() if isinstance(subject, VrrpdSubject) else None
    if status is None:
        raise RuntimeError(f"{subject.daemon} on {subject.host.name} does not answer")
    return sum(i["counters"]["became_master"] for i in status["instances"])


def run(args: argparse.Namespace, code: fo.VrrpdCode, res: Results) -> None:
    for interval in getattr(args, "flood_intervals", INTERVALS):
        for daemon in args.daemons:
            log(f"flood: {daemon} at {interval:g} s adverts, {args.flood:g} s of garbage")
            mix = getattr(args, "flood_mix", "all")
            row = one(daemon, interval, args.flood, code, args.settle, mix, getattr(args, "optmem", None))
            log(f"flood: {row}")
            res.flood.append(row)


def render(args: argparse.Namespace, res: Results) -> list[str]:
    if not res.flood:
        return []
    lines = ["", "## Garbage flood (issue #13)", ""]
    lines += md_table(
        (
            "daemon",
            "interval",
            "mix",
            "optmem_max",
            "flood s",
            "pkt/s sent",
            "backup state changes",
            "backup takeovers",
            "master state changes",
            "backup kernel drops",
        ),
        [
            (
                r["daemon"],
                f"{r['interval']:g} s",
                r["mix"],
                "default" if r.get("optmem") is None else str(r["optmem"]),
                fmt(r["seconds"], 0),
                str(r["pps"]),
                str(r["backup_transitions"]),
                str(r["backup_takeovers"]),
                str(r["master_transitions"]),
                str(r["backup_kernel_drops"]),
            )
            for r in sorted(res.flood, key=lambda r: (-r["interval"], r["mix"], r["daemon"]))
        ],
    )
    lines.append(
        "\nOne flooder (netns-tests/helpers/flood.py) on the same bridge as master and backup; any backup state "
        "change is a false failover. Kernel drops: receive-queue overflows of the backup's VRRP sockets."
    )
    return lines


def planned_seconds(args: argparse.Namespace) -> float:
    return len(getattr(args, "flood_intervals", INTERVALS)) * len(args.daemons) * (args.flood + args.settle + 15)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="8 s floods (default 40 s)")
    p.add_argument("--flood", type=float, help="seconds of flood per daemon and interval")
    p.add_argument("--daemons", default=",".join(DAEMONS))
    p.add_argument("--settle", type=float, default=6.0, help="seconds after start-up before the flood")
    p.add_argument("--intervals", default="0.1,0.01", help="advert intervals, comma-separated")
    p.add_argument(
        "--flood-mix",
        choices=("all", "checksum", "passing"),
        default="all",
        help="all: every kind of garbage; checksum: only bad checksums on the configured VRID; passing: what the\n"
        "kernel filter cannot refuse (flood.py --mix)",
    )
    p.add_argument(
        "--optmem",
        type=int,
        metavar="BYTES",
        help="net.core.optmem_max in the routers' namespaces (20480: Debian 12's kernel, where vrrpd's checksum\n"
        "filter does not fit; docs/hostile.md)",
    )
    p.add_argument("--vrrpd-ref", metavar="REF", help="benchmark vrrpd as of this git ref (default: working tree)")
    args = p.parse_args()
    args.flood = args.flood or (8.0 if args.quick else 40.0)
    args.daemons = [d for d in args.daemons.split(",") if d]
    args.flood_intervals = [float(x) for x in args.intervals.split(",") if x]
    code = fo.snapshot_vrrpd(args.vrrpd_ref)
    res = Results()
    try:
        run(args, code, res)
    finally:
        shutil.rmtree(code.root, ignore_errors=True)
    print("\n".join([f"- {m}" for m in fo.machine(code)] + render(args, res)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
