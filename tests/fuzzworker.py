"""Runs `vrrpd check` on many files, each in a child of its own with bounded memory and CPU, for
tests/test_config_fuzz.py.

    python tests/fuzzworker.py DIR    (prints one JSON line per file of DIR, sorted by name)

The worker imports vrrpd once, then forks a child per file (a fresh interpreter per file would cost more than
most checks take). Each child gets:
- RLIMIT_AS = the worker's own address space + `MEMORY_HEADROOM`: what the check may allocate on top of what Python
  and vrrpd's modules have mapped already (about 60 MB here), so the bound holds whatever the interpreter's
  baseline is. A check past it gets MemoryError, which ends as a traceback: a failure.
- RLIMIT_CPU = `CPU_LIMIT` seconds: CPU time, not wall time, so a loaded CI machine does not make a check look
  slow; past it the kernel sends SIGXCPU. A wall-clock alarm (`WALL_LIMIT`) catches a check that blocks.
Each result gives the exit status (negative: the signal), the wall and CPU time, the child's peak RSS and what it
wrote to stderr.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

from vrrpd.cli.daemon import main as vrrpd_main

MEMORY_HEADROOM = 200 * 1024 * 1024
CPU_LIMIT = 2
WALL_LIMIT = 30


def address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def child(path: Path, out: Path, err: Path, limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT + 1))
    signal.alarm(WALL_LIMIT)
    with open(out, "wb") as o, open(err, "wb") as e:
        os.dup2(o.fileno(), 1)
        os.dup2(e.fileno(), 2)
    code = 0
    try:
        vrrpd_main(["check", "-c", str(path)], prog_name="vrrpd")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(path: Path, scratch: Path, limit: int) -> dict[str, object]:
    out, err = scratch / "stdout", scratch / "stderr"
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        child(path, out, err, limit)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    return {
        "file": path.name,
        "code": code,
        "wall": round(wall, 4),
        "cpu": round(usage.ru_utime + usage.ru_stime, 4),
        "maxrss_kb": usage.ru_maxrss,
        "stderr": err.read_bytes().decode("utf-8", "backslashreplace"),
    }


def main() -> None:
    cases = Path(sys.argv[1])
    scratch = cases / ".scratch"
    scratch.mkdir(exist_ok=True)
    limit = address_space() + MEMORY_HEADROOM
    print(json.dumps({"baseline_vmsize_kb": address_space() // 1024, "limit_kb": limit // 1024}), flush=True)
    for path in sorted(p for p in cases.iterdir() if p.is_file()):
        print(json.dumps(run(path, scratch, limit)), flush=True)


if __name__ == "__main__":
    main()
