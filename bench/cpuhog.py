"""The CPU load bench/run_all.py's jitter and soak sections put the daemons under."""

from __future__ import annotations

import contextlib
import os
import subprocess


class Hog:
    """One busy-loop process per CPU, each pinned to its CPU, at the daemons' own (default) scheduling priority."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Hog:
        for cpu in sorted(os.sched_getaffinity(0)):
            self.procs.append(
                subprocess.Popen(
                    ["taskset", "-c", str(cpu), "sh", "-c", "while :; do :; done"], stdin=subprocess.DEVNULL
                )
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:  # ours, by PID
            with contextlib.suppress(ProcessLookupError):
                p.kill()
        for p in self.procs:
            p.wait(5)
