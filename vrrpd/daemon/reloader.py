"""Reload requests: one reload at a time, storms coalesced, the file read off the loop, every outcome recorded.

A reload re-reads the file the daemon was started with, plans it against the running configuration
(vrrpd.config.reload) and has the daemon carry the plan out (vrrpd.daemon.reload). A file that does not parse or
validate, or a change a reload cannot make, is *rejected*: the daemon keeps running the old configuration
entirely, and the outcome carries the one-sentence error (file, key, line).

- `request()` (the control socket's ``reload``, so `vrrpctl reload` and systemd's ExecReload) starts a reload at
  once, or, while one runs, joins the next one: every caller is answered by a reload that began after it asked,
  so it saw the file as it was then, and any number of requests during one reload make exactly one more.
- `signalled()` (SIGHUP) does the same, but a signal within `SIGNAL_SPACING` of the previous reload's start waits
  until that much time has passed: fifty SIGHUPs in a second are at most two reloads.
- Reading and validating the file runs in a worker thread, with the plan: a file of a thousand instances takes
  longer to parse than the shortest advert interval, and the loop must keep serving the timers meanwhile. Only
  carrying the plan out runs on the loop, where the routers are.
- systemd hears RELOADING=1 when a reload starts and READY=1 with a fresh STATUS= when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrrpd.config import Config, ConfigError, load_config
from vrrpd.config.reload import Change, ReloadPlan, plan_reload
from vrrpd.daemon.reload import ReloadRefused
from vrrpd.services import sdnotify
from vrrpd.services.eventlog import iso_time

log = logging.getLogger("vrrpd")

SIGNAL_SPACING = 1.0
"""Seconds between the starts of two reloads asked for by SIGHUP."""
PARSE_SWITCH_INTERVAL = 0.0005
"""The interpreter's thread switch interval while the worker thread parses (seconds; Python's default is 5 ms).
Parsing is pure Python and holds the GIL; a timer due on the loop waits for the parser to let go of it, which by
default can take 5 ms: half a 10 ms advert interval. bench/reload_parse.py: 1000 instances take 0.34 s to parse."""


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one reload did."""

    time: float
    """When it ended (seconds since the epoch)."""
    result: str
    """``applied`` or ``rejected`` (nothing changed)."""
    error: str | None = None
    """Why it was rejected, or what could not be applied (then `result` is ``applied`` for the rest)."""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    """Instances changed in place or re-created."""
    unchanged: int = 0

    @property
    def summary(self) -> str:
        """``N unchanged, N changed, N added, N removed``: what `vrrpctl reload` prints."""
        return (
            f"{self.unchanged} unchanged, {len(self.changed)} changed, {len(self.added)} added, "
            f"{len(self.removed)} removed"
        )

    def status(self) -> dict[str, Any]:
        return {
            "time": iso_time(self.time),
            "result": self.result,
            "error": self.error,
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
        }


@dataclass(eq=False)  # a service, not a value: compared and hashed by identity
class Reloader:
    """The reloads of one daemon, started with the configuration read from `path`."""

    path: Path
    current: Callable[[], Config]
    """The configuration the daemon runs now."""
    apply: Callable[[ReloadPlan], Awaitable[None]]
    """Carries a plan out (raises ReloadRefused when it changed nothing)."""
    summary: Callable[[], str]
    """The daemon's STATUS= line (instances by state)."""
    loop: asyncio.AbstractEventLoop
    on_outcome: Callable[[ReloadOutcome], None] | None = None
    """Told every reload's outcome once it is recorded (the daemon's event stream)."""
    generation: int = 1
    """1 for the configuration read at start-up, one more for each reload that changed something."""
    loaded_at: float = field(default_factory=time.time)
    """When the running configuration was read (seconds since the epoch)."""
    last: ReloadOutcome | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"applied": 0, "rejected": 0})
    """Reloads done since start-up, by `ReloadOutcome.result` (the exporter's vrrpd_reloads_total)."""
    closed: bool = False
    """The daemon is stopping: no reload starts any more."""
    _running: asyncio.Task[ReloadOutcome] | None = field(default=None, init=False)
    _next: asyncio.Future[ReloadOutcome] | None = field(default=None, init=False)
    """The reload after the running one, shared by everyone who asked meanwhile."""
    _signal_timer: asyncio.TimerHandle | None = field(default=None, init=False)
    _started_at: float | None = field(default=None, init=False)
    """When the last reload started (loop time)."""

    def request(self) -> asyncio.Future[ReloadOutcome]:
        """A reload that starts now, or the next one if one is running (shared with whoever else asked meanwhile)."""
        if self._running is None:
            self._start()
            assert self._running is not None
            return asyncio.ensure_future(self._running)
        if self._next is None:
            self._next = self.loop.create_future()
        return self._next

    def signalled(self) -> None:
        """SIGHUP: a reload, at most one per `SIGNAL_SPACING` seconds; the outcome goes to the journal only."""
        if self._signal_timer is not None or self.closed:
            return  # one is already scheduled: this signal is part of it
        wait = 0.0 if self._started_at is None else self._started_at + SIGNAL_SPACING - self.loop.time()
        if wait > 0:
            self._signal_timer = self.loop.call_later(wait, self._signal_due)
        else:
            self._signal_due()

    async def close(self, timeout: float = 30.0) -> None:
        """No reload starts from now on; one that is running is let finish (at most `timeout` seconds), so the
        shutdown that follows finds every instance either as it was or as the new file has it."""
        self.closed = True
        if self._signal_timer is not None:
            self._signal_timer.cancel()
            self._signal_timer = None
        if self._running is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._running), timeout)
            except TimeoutError:
                log.error("a reload still running %gs after shutdown began; stopping anyway", timeout)

    def status(self) -> dict[str, Any]:
        """The status' ``config`` entry."""
        return {
            "path": str(self.path),
            "generation": self.generation,
            "loaded_at": iso_time(self.loaded_at),
            "last_reload": self.last.status() if self.last is not None else None,
            "reloads": dict(self.counts),
        }

    # --- internals -------------------------------------------------------------------------------------------------

    def _signal_due(self) -> None:
        self._signal_timer = None
        if not self.closed:
            self.request()  # its outcome is logged by _run

    def _start(self) -> None:
        self._started_at = self.loop.time()
        self._running = self.loop.create_task(self._run(), name="vrrpd-reload")
        self._running.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[ReloadOutcome]) -> None:
        self._running = None
        waiting, self._next = self._next, None
        if waiting is None:
            return
        if self.closed:
            waiting.set_result(self._rejected("vrrpd is stopping"))
            return
        self._start()
        assert self._running is not None
        running: asyncio.Task[ReloadOutcome] = self._running
        running.add_done_callback(lambda done: _copy(done, waiting))

    async def _run(self) -> ReloadOutcome:
        if self.closed:
            return self._rejected("vrrpd is stopping")
        sdnotify.reloading()
        try:
            outcome = await self._reload()
        finally:
            sdnotify.ready(self.summary())
        self.last = outcome
        self.counts[outcome.result] = self.counts.get(outcome.result, 0) + 1
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        if outcome.result == "rejected":
            log.error("reload of %s rejected, the running configuration is kept: %s", self.path, outcome.error)
        elif outcome.error is not None:
            log.error("reload of %s applied in part (%s): %s", self.path, outcome.summary, outcome.error)
        else:
            log.info("reload of %s applied: %s", self.path, outcome.summary)
        return outcome

    async def _reload(self) -> ReloadOutcome:
        old = self.current()
        previous = sys.getswitchinterval()
        sys.setswitchinterval(PARSE_SWITCH_INTERVAL)
        try:
            plan = await asyncio.to_thread(_load_and_plan, self.path, old)
        except ConfigError as exc:
            return self._rejected(str(exc))
        finally:
            sys.setswitchinterval(previous)
        if self.closed:
            return self._rejected("vrrpd is stopping")
        try:
            await self.apply(plan)
        except ReloadRefused as exc:
            return self._rejected(str(exc))
        except Exception as exc:  # a step failed midway: what was done stays done, and the outcome says what failed
            log.exception("reload of %s failed midway", self.path)
            return self._outcome(plan, "applied", str(exc) or type(exc).__name__)
        return self._outcome(plan, "applied")

    def _outcome(self, plan: ReloadPlan, result: str, error: str | None = None) -> ReloadOutcome:
        if not plan.empty:
            self.generation += 1
        self.loaded_at = time.time()
        names = {change: tuple(p.name for p in plan.of(change)) for change in Change}
        return ReloadOutcome(
            time.time(),
            result,
            error,
            added=names[Change.ADDED],
            removed=names[Change.REMOVED],
            changed=names[Change.CHANGED] + names[Change.RECREATED],
            unchanged=len(names[Change.UNCHANGED]),
        )

    def _rejected(self, error: str) -> ReloadOutcome:
        return ReloadOutcome(time.time(), "rejected", error)


def _load_and_plan(path: Path, old: Config) -> ReloadPlan:
    """In the worker thread: parse and validate the file, then plan it (both pure; `old` is immutable)."""
    return plan_reload(old, load_config(path))


def _copy(done: asyncio.Task[ReloadOutcome], into: asyncio.Future[ReloadOutcome]) -> None:
    if into.done():
        return
    if done.cancelled():
        into.cancel()
    elif (exc := done.exception()) is not None:
        into.set_exception(exc)
    else:
        into.set_result(done.result())
