"""Track scripts: run checks as asyncio subprocesses, so a check that hangs can never stall the loop.

- Each run is its own session and process group (`start_new_session`), never through a shell.
- On `timeout` the whole group gets SIGTERM, then SIGKILL after `KILL_GRACE` seconds; a timeout is a failure.
  Whatever the run leaves behind in its group (a child still holding the output pipe) is killed too.
- One script never runs twice at once: runs are sequential, and an interval tick that falls while the previous
  run is still going is skipped (counted and logged, as keepalived's "expect idle - skipping run").
- Every child is reaped (asyncio's child watcher waits for it), also when the daemon stops mid-run.
- Output (stdout and stderr together) is kept up to `OUTPUT_CAP` bytes and logged, rate-limited, on failure;
  the rest is read and discarded so a chatty check never blocks on a full pipe.
- `user`: resolved once at start-up (a name lookup may block); the child runs with that user's uid, primary
  gid and no supplementary groups.

The rise/fall counting is the pure `vrrpd.protocol.tracking.RiseFall`; this module only turns runs into results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vrrpd.config import ScriptConfig
from vrrpd.protocol.tracking import RiseFall, TrackState
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.periodic import PeriodicTask, survive

log = logging.getLogger("vrrpd.services.scripts")

KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL for a script that timed out (keepalived's value)."""
OUTPUT_CAP = 4096
"""Bytes of a run's output kept for the log."""
_DRAIN_AFTER_EXIT = 0.2
"""How long to keep reading output after the script exited (a grandchild may still hold the pipe)."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """The identity a script runs with (resolved from `user` before the loop needs it)."""

    user: str
    uid: int
    gid: int


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


@dataclass(frozen=True, slots=True)
class RunResult:
    ok: bool
    returncode: int | None
    """The exit status; negative: killed by that signal; None: it could not be started."""
    duration: float
    timed_out: bool = False
    output: bytes = b""
    """At most OUTPUT_CAP bytes of stdout+stderr."""
    truncated: bool = False
    error: str | None = None
    """Why it could not be started (no such file, permission denied...)."""

    def describe(self) -> str:
        if self.error is not None:
            return f"cannot run: {self.error}"
        if self.timed_out:
            return f"timed out after {self.duration:.2f}s (killed)"
        if self.returncode is not None and self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"killed by {name} after {self.duration:.2f}s"
        return f"exit status {self.returncode} after {self.duration:.2f}s"


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def run_once(
    argv: tuple[str, ...] | list[str],
    timeout: float,
    *,
    run_as: RunAs | None = None,
    grace: float = KILL_GRACE,
    cap: int = OUTPUT_CAP,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run one check to completion (or to its timeout and kill). Never raises for the command's own failures.

    `env`: the whole environment of the child (None: the daemon's own); notify hooks use it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    extra: dict[str, object] = {}
    if run_as is not None:
        extra = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            env=env,
            **extra,  # type: ignore[arg-type]
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return RunResult(False, None, loop.time() - started, error=str(exc))
    pgid = proc.pid  # start_new_session: the child leads its own group
    chunks: list[bytes] = []
    kept = 0
    truncated = False

    async def read() -> None:
        nonlocal kept, truncated
        assert proc.stdout is not None
        while data := await proc.stdout.read(65536):
            room = cap - kept
            if room > 0:
                chunks.append(data[:room])
                kept += min(room, len(data))
            if len(data) > room:
                truncated = True  # read on and discard, so the child never blocks on a full pipe

    reader = asyncio.create_task(read())
    timed_out = False
    try:
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
            _signal_group(pgid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                _signal_group(pgid, signal.SIGKILL)
                await proc.wait()
            # Anything else the run started in its group (a child that ignored SIGTERM) goes too.
            _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), _DRAIN_AFTER_EXIT)
    except asyncio.CancelledError:
        # The daemon is stopping: leave nothing running; the child watcher reaps the leader.
        _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        # asyncio.subprocess.Process has no public close(); a pipe still held by something the run left behind
        # would otherwise keep the transport (and its file descriptor) open.
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()
    returncode = proc.returncode
    ok = not timed_out and returncode == 0
    return RunResult(ok, returncode, loop.time() - started, timed_out, b"".join(chunks), truncated)


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
            output = result.output.decode(errors="replace").strip()
            self.ratelog.log(
                logging.WARNING,
                f"script-fail:{cfg.name}",
                "track script %s failed: %s%s",
                cfg.name,
                result.describe(),
                f"; output: {output}{' [truncated]' if result.truncated else ''}" if output else "",
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
