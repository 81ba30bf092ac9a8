"""Track scripts: run checks as asyncio subprocesses, so a check that hangs can never stall the loop.

- Each run is `vrrpd.services.childproc.run_once`: its own session and process group, never through a shell; the
  check's own exit status decides (0: passed), even if a child it left behind still holds its output; then the
  group is killed, so nothing a finished run started lives on.
- On `timeout` the whole group gets SIGTERM, then SIGKILL after `KILL_GRACE` seconds; a timeout is a failure.
- One script never runs twice at once: runs are sequential, and an interval tick that falls while the previous
  run is still going is skipped (counted and logged, as keepalived's "expect idle - skipping run").
- Every child is reaped, also when the daemon stops mid-run.
- Output (stdout and stderr together) is kept up to `OUTPUT_CAP` bytes and logged, rate-limited, on failure,
  escaped onto one line and capped; the rest is read and discarded so a chatty check never blocks on a full pipe.
- `user`: resolved once at start-up (a name lookup may block); the child runs with that user's uid, primary
  gid and no supplementary groups.

The rise/fall counting is the pure `vrrpd.protocol.tracking.RiseFall`; this module only turns runs into results.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass

from vrrpd.config import ScriptConfig
from vrrpd.protocol.tracking import RiseFall, TrackState
from vrrpd.services.childproc import KILL_GRACE, RunAs, RunResult, run_once
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.periodic import PeriodicTask, survive

log = logging.getLogger("vrrpd.services.scripts")

CAP_SETGID = 6
CAP_SETUID = 7


def effective_capabilities(status_path: str = "/proc/self/status") -> int:
    """The CapEff bit mask of this process (0 if it cannot be read)."""
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def resolve_user(name: str, capabilities: int | None = None) -> RunAs:
    """Raises KeyError for an unknown user, and PermissionError when this process could not switch to it (it
    lacks CAP_SETUID/CAP_SETGID: the shipped systemd unit does not grant them), so the problem is a start-up
    error instead of a check or hook that fails at every run. Blocking (NSS): call at start-up only."""
    entry = pwd.getpwnam(name)
    run_as = RunAs(name, entry.pw_uid, entry.pw_gid)
    if (run_as.uid, run_as.gid) == (os.geteuid(), os.getegid()):
        return run_as
    caps = effective_capabilities() if capabilities is None else capabilities
    missing = [cap for bit, cap in ((CAP_SETUID, "CAP_SETUID"), (CAP_SETGID, "CAP_SETGID")) if not caps >> bit & 1]
    if missing:
        raise PermissionError(
            f"user {name!r} needs {' and '.join(missing)}, which vrrpd does not have (the shipped systemd unit "
            "grants only CAP_NET_ADMIN and CAP_NET_RAW): add CAP_SETUID CAP_SETGID to both AmbientCapabilities= "
            "and CapabilityBoundingSet= with `systemctl edit vrrpd`, or remove user"
        )
    return run_as


def resolve_user_for(what: str, name: str) -> RunAs:
    """resolve_user for a start-up check: every problem as one ValueError naming `what` (e.g. "track script
    chk_web" or "group gw: notify.user")."""
    try:
        return resolve_user(name)
    except KeyError:
        raise ValueError(f"{what}: no such user {name!r}") from None
    except PermissionError as exc:
        raise ValueError(f"{what}: {exc}") from None


@dataclass
class ScriptCounters:
    runs: int = 0
    failures: int = 0
    timeouts: int = 0
    skipped: int = 0
    """Interval ticks that fell while the previous run was still going."""


class ScriptMonitor(PeriodicTask):
    """Runs one track script every `interval` and reports its rise/fall state through `on_change`.

    One monitor per script, shared by every instance that tracks it.
    """

    def __init__(
        self,
        config: ScriptConfig,
        on_change: Callable[[str, TrackState], None],
        ratelog: RateLimitedLogger,
        run_as: RunAs | None = None,
        grace: float = KILL_GRACE,
        state: TrackState | None = None,
    ) -> None:
        """`state`: where the rise/fall count starts (a reload that changes a script's definition carries its
        state over, so the instances tracking it see no change until the new check has spoken); None = the
        script's `initial_state`."""
        self.config = config
        self.on_change = on_change
        self.ratelog = ratelog
        self.run_as = run_as
        self.grace = grace
        self.counter = RiseFall(config.rise, config.fall, config.initial_state if state is None else state)
        self.counters = ScriptCounters()
        self.last: RunResult | None = None
        self.running = False

    @property
    def state(self) -> TrackState:
        return self.counter.state

    def _task_name(self) -> str:
        return f"vrrpd-script-{self.config.name}"

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.interval
        tick = loop.time()
        while True:
            await survive(self.run_now(), log, "track script %s: unexpected error", self.config.name)
            now = loop.time()
            tick += interval
            if now > tick:
                missed = int((now - tick) // interval) + 1
                self.counters.skipped += missed
                tick += missed * interval
                self.ratelog.log(
                    logging.WARNING,
                    f"script-skip:{self.config.name}",
                    "track script %s: still running at its next interval (%gs); skipped %d run(s)",
                    self.config.name,
                    interval,
                    missed,
                )
            await asyncio.sleep(max(0.0, tick - loop.time()))

    async def run_now(self) -> RunResult:
        cfg = self.config
        self.running = True
        try:
            result = await run_once(cfg.command, cfg.timeout, run_as=self.run_as, grace=self.grace)
        finally:
            self.running = False
        self.last = result
        self.counters.runs += 1
        if not result.ok:
            self.counters.failures += 1
            if result.timed_out:
                self.counters.timeouts += 1
            self.ratelog.log(
                logging.WARNING,
                f"script-fail:{cfg.name}",
                "track script %s failed: %s%s",
                cfg.name,
                result.describe(),
                result.shown_output(),
            )
        if self.counter.record(result.ok):
            log.info("track script %s is now %s (%s)", cfg.name, self.counter.state.value, result.describe())
            self.on_change(cfg.name, self.counter.state)
        return result

    def status(self) -> dict[str, object]:
        last = self.last
        return {
            "name": self.config.name,
            "command": list(self.config.command),
            "state": self.state.value,
            "running": self.running,
            "last_result": last.describe() if last else None,
            "runs": self.counters.runs,
            "failures": self.counters.failures,
            "timeouts": self.counters.timeouts,
            "skipped": self.counters.skipped,
        }
