"""What /proc says about a daemon's processes, for bench/run_all.py: CPU ticks, schedstat, context switches,
RSS/PSS, scheduling policy.

A sample sums every process of the daemon (keepalived is a parent plus a VRRP child); two samples make a Usage.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcSample:
    t: float
    ticks: int = 0
    sys_ticks: int = 0
    run_ns: int = 0
    wait_ns: int = 0
    switches: int = 0
    rss_kb: int = 0
    pss_kb: int = 0
    pids: tuple[int, ...] = ()


def sample(pids: Sequence[int], memory: bool = False) -> ProcSample:
    s = ProcSample(time.monotonic(), pids=tuple(sorted(pids)))
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            s.ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
            s.sys_ticks += int(fields[12])
            for task in Path(f"/proc/{pid}/task").iterdir():
                run, wait, _ = (task / "schedstat").read_text().split()
                s.run_ns += int(run)
                s.wait_ns += int(wait)
                for line in (task / "status").read_text().splitlines():
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        s.switches += int(line.split()[1])
            if memory:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        s.rss_kb += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        s.pss_kb += int(line.split()[1])
    return s


@dataclass
class Usage:
    cpu_pct: float
    """utime+stime, percent of one core."""
    sys_pct: float
    """stime alone (kernel work on the daemon's behalf: system calls, softirqs run in its context)."""
    oncpu_pct: float
    """schedstat on-CPU time, percent of one core (finer-grained than the tick counts)."""
    runq_ms_per_s: float
    """schedstat run-queue wait: how long runnable tasks waited for a CPU, per second."""
    switches_per_s: float
    rss_kb: int
    pss_kb: int
    processes: int


def usage(a: ProcSample, b: ProcSample) -> Usage:
    if a.pids != b.pids:
        raise RuntimeError(f"processes changed during the window: {a.pids} -> {b.pids}")
    dt_ = b.t - a.t
    return Usage(
        cpu_pct=100 * (b.ticks - a.ticks) / CLK_TCK / dt_,
        sys_pct=100 * (b.sys_ticks - a.sys_ticks) / CLK_TCK / dt_,
        oncpu_pct=100 * (b.run_ns - a.run_ns) / 1e9 / dt_,
        runq_ms_per_s=(b.wait_ns - a.wait_ns) / 1e6 / dt_,
        switches_per_s=(b.switches - a.switches) / dt_,
        rss_kb=b.rss_kb,
        pss_kb=b.pss_kb,
        processes=len(b.pids),
    )


def policy_name(policy: int, priority: int) -> str:
    """`other`, `rr/1`, ...: sched_getscheduler(2)'s policy and its priority (shown when not 0); `+reset` when the
    policy carries SCHED_RESET_ON_FORK (systemd's CPUSchedulingResetOnFork=yes): children start at SCHED_OTHER."""
    names = {os.SCHED_OTHER: "other", os.SCHED_FIFO: "fifo", os.SCHED_RR: "rr", os.SCHED_BATCH: "batch"}
    base = policy & ~os.SCHED_RESET_ON_FORK
    reset = "+reset" if policy & os.SCHED_RESET_ON_FORK else ""
    return f"{names.get(base, str(base))}{f'/{priority}' if priority else ''}{reset}"


def sched_policy(pid: int) -> str:
    with contextlib.suppress(OSError):
        return policy_name(os.sched_getscheduler(pid), os.sched_getparam(pid).sched_priority)
    return "?"


def describe_policies(policies: Sequence[str]) -> str:
    """Every process's policy in one cell: `rr/1` when all share it, else each with its count (`other x1, rr/1 x1`)."""
    counts = {p: policies.count(p) for p in sorted(set(policies))}
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{p} x{n}" for p, n in counts.items()) or "-"


def steal_seconds(stat: str) -> float:
    """CPU time the hypervisor gave to others while this VM wanted it (steal, the 8th figure of /proc/stat's `cpu`
    line), all CPUs summed: stalls no scheduling policy inside the guest can prevent."""
    for line in stat.splitlines():
        if line.startswith("cpu "):
            fields = line.split()
            return int(fields[8]) / CLK_TCK if len(fields) > 8 else 0.0
    raise ValueError("no cpu line in /proc/stat")


def host_steal() -> float:
    return steal_seconds(Path("/proc/stat").read_text())
