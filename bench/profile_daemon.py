#!/usr/bin/env python3
"""Profile a running vrrpd with py-spy, as master and as backup, keepalived as the peer (issue #6: a profile before
and after each CPU lever).

Not a test, and py-spy is no dependency of the project: install it for profiling only
(`.venv/bin/pip install py-spy`). Run as root from the repository root:

    .venv/bin/python bench/profile_daemon.py                      # 100 instances at 10 ms, 20 s per side
    .venv/bin/python bench/profile_daemon.py --instances 255 --seconds 30 --sides backup

For each side it starts the pair in a lab (the same set-up as bench/run_all.py's cpu section), samples vrrpd with
`py-spy record --nonblocking` (the daemon is never paused), keeps the collapsed stacks next to the report and prints
the frames with the most samples, inclusive and self. py-spy counts a sample only while it sees the thread active, so
shares are roughly shares of the daemon's CPU time; a frame that ends in a system call (VrrpSocket.send,
EpollSelector.select) includes the kernel's work for it. With --nonblocking some samples taken while the loop sleeps
in epoll_wait may count too (compare the sample count with CPU % x rate x seconds): the selector's share is an
upper bound.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import failover as fo
import subject_python
import subjects
from lab import Lab


def summarize(path: Path, top: int) -> list[str]:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        names = []
        for frame in frames:
            func, _, where = frame.partition(" (")
            names.append(f"{func} ({where.rstrip(')').split('/')[-1].split(':')[0]})")
        for name in set(names):
            inclusive[name] += n
        if names:
            own[names[-1]] += n
    if not total:
        return [f"{path}: no samples"]
    out = [f"{path}: {total} samples", "  inclusive:"]
    # Frames on (nearly) every stack (runpy, click, asyncio.run) say nothing; list the ones below them.
    below = [(name, n) for name, n in inclusive.most_common() if n < total * 0.95][:top]
    out += [f"    {100 * n / total:5.1f}%  {name}" for name, n in below]
    out += ["  self:"]
    out += [f"    {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", type=int, default=100)
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--sides", default="master,backup")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--out", type=Path, default=Path("bench/out"))
    p.add_argument("--vrrpd-ref", metavar="REF", help="profile vrrpd as of this git ref (default: the working tree)")
    p.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter for vrrpd (default: /usr/bin/python3 in a bench venv, else this one); as is when it\n"
        "imports the daemon's dependencies, else in a bench venv of its own",
    )
    args = p.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        print("py-spy not found: `.venv/bin/pip install py-spy` (profiling only, not a project dependency)")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    code = fo.snapshot_vrrpd(args.vrrpd_ref, subject_python.choose(args.python))
    print(code.description)
    print(f"vrrpd under {code.interpreter.summary()}")
    try:
        for side in args.sides.split(","):
            with Lab(prefix="pd") as lab:
                r1, r2 = lab.add_host("r1", ipv4=f"{subjects.R1}/24"), lab.add_host("r2", ipv4=f"{subjects.R2}/24")
                daemons = ("vrrpd", "keepalived") if side == "master" else ("keepalived", "vrrpd")
                master = subjects.make_subject(
                    daemons[0], r1, subjects.instances(args.instances, subjects.MASTER_PRIO, args.interval), code
                )
                backup = subjects.make_subject(
                    daemons[1], r2, subjects.instances(args.instances, subjects.BACKUP_PRIO, args.interval), code
                )
                subjects.start_pair(master, backup, 3)
                subject = master if side == "master" else backup
                path = args.out / f"profile-{side}-{args.instances}x{args.interval:g}.txt"
                argv_spy = [pyspy, "record", "--nonblocking", "-r", str(args.rate), "-d", str(args.seconds)]
                argv_spy += ["-f", "raw", "-o", str(path), "--pid", str(subject.pids()[0])]
                subprocess.run(argv_spy, check=True, capture_output=True)
                print(f"vrrpd {side}, {args.instances} x {args.interval:g} s, keepalived peer")
                print("\n".join(summarize(path, args.top)))
                master.stop()
                backup.stop()
    finally:
        shutil.rmtree(code.root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
