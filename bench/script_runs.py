"""Figures for track script and hook runs (issue #13 item 6): no root, no namespaces; prints, asserts nothing.

- a check that exits 0 leaving a background child on its stdout: time to report its pass, children left alive;
- a check that floods its output (`yes`) until its timeout: the loop's worst lag meanwhile (a 10 ms ticker),
  and the bytes read and discarded;
- a check that writes 10 MB and exits 0: time to report it.

    PYTHONPATH=. .venv/bin/python bench/script_runs.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from vrrpd.services.childproc import run_once

SH, SLEEP, YES = (shutil.which(c) or c for c in ("sh", "sleep", "yes"))


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def background_child(runs: int, pidfile: Path) -> None:
    times, passed = [], 0
    for _ in range(runs):
        result = await run_once([SH, "-c", f"{SLEEP} 30 & echo $! >> {pidfile}; exit 0"], 2.0)
        times.append(result.duration * 1000)
        passed += result.ok
    await asyncio.sleep(0.3)
    pids = [int(p) for p in pidfile.read_text().split()]
    left = [p for p in pids if alive(p)]
    for pid in left:  # ours: started by the runs above
        os.kill(pid, 9)
    print(
        f"exit 0 + background child on stdout: {passed}/{runs} passed, report after median "
        f"{statistics.median(times):.1f} ms, max {max(times):.1f} ms; children alive afterwards: {len(left)}"
    )


async def flood(argv: list[str], what: str) -> None:
    loop = asyncio.get_running_loop()
    worst = 0.0
    run = loop.create_task(run_once(argv, 1.0, grace=0.2))
    last = loop.time()
    while not run.done():
        await asyncio.sleep(0.01)
        now = loop.time()
        worst, last = max(worst, now - last - 0.01), now
    result = run.result()
    print(
        f"{what} until its 1 s timeout: {result.output_size / 1e6:.0f} MB read, {len(result.output)} B kept; "
        f"worst extra lag of a 10 ms ticker meanwhile {worst * 1000:.1f} ms"
    )


async def ten_megabytes() -> None:
    result = await run_once([SH, "-c", "head -c 10485760 /dev/zero; exit 0"], 30)
    print(f"10 MB of output then exit 0: {result.describe()}, {len(result.output)} B kept")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(background_child(args.runs, Path(tmp) / "pids"))
    asyncio.run(flood([SLEEP, "30"], "`sleep 30` (no output, for comparison)"))
    asyncio.run(flood([YES], "`yes`"))
    asyncio.run(ten_megabytes())


if __name__ == "__main__":
    main()
