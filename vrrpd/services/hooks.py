"""Notify hooks: commands run on transitions, one at a time per instance, in order, each with a timeout.

keepalived runs notify scripts fire-and-forget: concurrently, unordered and without a timeout, so a BACKUP
script can finish after the MASTER script that followed it. Here:

- Each instance and each sync group has one `HookRunner`: a queue and one worker task. A transition queues
  its hooks; the worker runs them strictly one after another in transition order: for each transition the
  state's own hook (on_master, on_backup, on_fault, on_stop), then the generic `notify`.
- The state machine never waits for a hook: `submit` only appends to the queue. A hook runs as
  `vrrpd.services.scripts.run_once` runs track scripts: its own process group, never through a shell, SIGTERM to the
  group at `timeout`, SIGKILL after `KILL_GRACE`, every child reaped. A failing or timed-out hook is counted and
  logged (rate-limited) and the queue moves on.
- A transition runs the hooks configured when it happened: a reload that changes them (`Notifier.add` of a
  registered instance or group) keeps the queue, and only later transitions run the new hooks.
- Transitions that pile up behind a slow hook are all kept, in order, up to `MAX_PENDING` per instance; beyond
  that the oldest waiting ones are dropped (counted and logged), so a flapping instance with a hanging hook
  cannot grow memory without bound, and the newest state always gets its hooks.
- The generic `notify` gets keepalived's arguments appended (``INSTANCE|GROUP NAME STATE PRIORITY``), so
  existing keepalived notify scripts work unchanged. Every hook also gets the transition in its environment
  (`Transition.environment`).
- A hook is done when its command exits (`vrrpd.services.childproc`): a child it leaves in the background, even one
  holding its output, neither holds the queue nor lives on.
- At shutdown the daemon first sends its priority-0 adverts, then queues on_stop, then `finish`es every runner, for
  at most `SHUTDOWN_LIMIT` seconds in all (systemd's stop timeout for the unit is 20 s). on_stop is never lost
  behind a long queue: the hooks queued ahead of it get `AHEAD_LIMIT` seconds to run, in order as ever; what is
  left of them then is dropped (waiting: their states are history by then) or killed (running), and the STOP
  transition's hooks run in the time left. Whatever still runs at the limit is killed. All of it is counted
  (`cancelled`) and logged; later transitions other than STOP run no hooks. Taking an instance out of a running
  daemon (a reload) does the same.
- Output (stdout and stderr together, at most `OUTPUT_CAP` bytes) goes to the log, escaped onto one line.

Sync groups plug in the same way: ``Notifier.add_group(SyncGroupConfig)`` with the group's `notify:`
(parsed by `vrrpd.config.hooks.parse_hooks`), then ``Notifier.transition("group", NAME, old, new,
reason, 0)`` per group transition: the generic hook then gets ``GROUP NAME STATE 0``, as keepalived passes it, and
the event stream carries ``"kind": "group"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vrrpd.config import InstanceConfig
from vrrpd.config.hooks import HOOK_KEYS, HooksConfig
from vrrpd.config.syncgroups import SyncGroupConfig
from vrrpd.services.childproc import KILL_GRACE, RunAs, RunResult, run_once
from vrrpd.services.eventlog import EventLog
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.scripts import resolve_user_for

log = logging.getLogger("vrrpd.services.hooks")

MAX_PENDING = 1000
"""Transitions waiting for one runner before the oldest waiting one is dropped."""
SHUTDOWN_LIMIT = 12.0
"""Seconds the daemon waits at shutdown for every runner's queue (on_stop included) to drain."""
AHEAD_LIMIT = 2.0
"""Seconds the hooks queued ahead of on_stop when shutdown begins may still run before they are cut short so that
on_stop can run: the rest of SHUTDOWN_LIMIT is on_stop's."""
EVENT_FLUSH_LIMIT = 1.0
"""Seconds the daemon waits at shutdown for event followers to be sent what they have queued."""
STOP = "STOP"
"""The state hooks and events report when the daemon stops an instance (the router's Initialize)."""
_NOT_INHERITED = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")
"""The daemon's own systemd hand-over variables: a hook must not talk to systemd on our behalf."""


class HookSetupError(Exception):
    """A hook cannot be set up (its user does not exist)."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change as hooks see it."""

    kind: str
    """"instance" or "group"."""
    name: str
    old: str
    """MASTER, BACKUP, FAULT or INITIALIZE (the first transition after start)."""
    new: str
    """MASTER, BACKUP, FAULT or STOP."""
    reason: str
    priority: int
    seq: int
    """The event's number in the event stream (`vrrpctl events`)."""
    extra_env: tuple[tuple[str, str], ...] = ()
    """More VRRPD_* variables (an instance's VRID, interface, family and addresses)."""

    def arguments(self) -> tuple[str, ...]:
        """keepalived's notify arguments: INSTANCE|GROUP, name, state, priority."""
        return (self.kind.upper(), self.name, self.new, str(self.priority))

    def environment(self, hook: str) -> dict[str, str]:
        return {
            "VRRPD_HOOK": hook,
            "VRRPD_KIND": self.kind,
            "VRRPD_NAME": self.name,
            "VRRPD_STATE": self.new,
            "VRRPD_OLD_STATE": self.old,
            "VRRPD_PRIORITY": str(self.priority),
            "VRRPD_REASON": self.reason,
            "VRRPD_SEQ": str(self.seq),
            **dict(self.extra_env),
        }


@dataclass
class HookCounters:
    runs: int = 0
    failures: int = 0
    """Runs that did not exit 0 (timeouts and commands that could not start included)."""
    timeouts: int = 0
    dropped: int = 0
    """Waiting transitions discarded because more than MAX_PENDING were queued."""
    cancelled: int = 0
    """Transitions whose hooks were killed or never run because the daemon stopped."""


class HookRunner:
    """Runs one instance's (or group's) hooks one at a time, in transition order."""

    def __init__(
        self,
        kind: str,
        name: str,
        config: HooksConfig,
        ratelog: RateLimitedLogger,
        run_as: RunAs | None = None,
        *,
        grace: float = KILL_GRACE,
        max_pending: int = MAX_PENDING,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.config = config
        self.ratelog = ratelog
        self.run_as = run_as
        self.grace = grace
        self.max_pending = max_pending
        self.base_env = dict(base_env if base_env is not None else _inherited_env())
        self.counters = HookCounters()
        self.current: tuple[Transition, str] | None = None
        """The transition and hook running now."""
        self.last: RunResult | None = None
        self._pending: deque[tuple[Transition, HooksConfig, RunAs | None]] = deque()
        """Each waiting transition with the hooks (and their user) configured when it happened."""
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._run: asyncio.Task[RunResult] | None = None
        """The hook running now."""
        self._closing = False
        """`finish` began: later transitions other than STOP run no hooks."""
        self._cutting = False
        """`finish` cut the hooks ahead of on_stop short: only the STOP transition's hooks run from now on."""
        self._ahead_done = asyncio.Event()
        """Set by the worker when nothing but STOP transitions is left to run."""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def idle(self) -> bool:
        """Nothing running and nothing waiting."""
        return not self._pending and self.current is None

    def reconfigure(self, config: HooksConfig, run_as: RunAs | None) -> None:
        """Run `config`'s hooks (as `run_as`) from the next transition on; the queued ones keep theirs."""
        self.config, self.run_as = config, run_as

    def submit(self, transition: Transition) -> None:
        """Queue the hooks of `transition`; never waits (called from the state machine's action handler)."""
        if not self.config.commands(transition.new):
            return
        if self._closing and transition.new != STOP:
            self.counters.cancelled += 1
            log.warning("%s: shutting down; hooks of seq %d (%s) not run", self.label, transition.seq, transition.new)
            return
        if len(self._pending) >= self.max_pending:
            dropped = self._pending.popleft()[0]
            self.counters.dropped += 1
            self.ratelog.log(
                logging.WARNING,
                f"hook-drop:{self.label}",
                "%s: %d transitions waiting for hooks; dropped the oldest waiting (seq %d, %s -> %s)",
                self.label,
                self.max_pending,
                dropped.seq,
                dropped.old,
                dropped.new,
            )
        self._pending.append((transition, self.config, self.run_as))
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work(), name=f"vrrpd-hooks-{self.name}")

    async def _work(self) -> None:
        while True:
            while not self._pending:
                self._idle.set()
                self._ahead_done.set()
                self._wake.clear()
                await self._wake.wait()
            transition, hooks, run_as = self._pending.popleft()
            if transition.new == STOP and self._only_stop_waits():
                self._ahead_done.set()
            try:
                await self._handle(transition, hooks, run_as)
            except asyncio.CancelledError:
                raise
            except Exception:  # our bug: keep serving later transitions rather than stall the queue for good
                log.exception("%s: hooks for seq %d failed unexpectedly", self.label, transition.seq)

    async def _handle(self, transition: Transition, hooks: HooksConfig, run_as: RunAs | None) -> None:
        for hook, argv in hooks.commands(transition.new):
            if self._cutting and transition.new != STOP:
                return  # `finish` counted it
            if hook == "notify":
                argv = (*argv, *transition.arguments())
            env = {**self.base_env, **transition.environment(hook)}
            self.current = (transition, hook)
            # A task of its own, so that `finish` can kill this one hook and the queue goes on to on_stop.
            run = self._run = asyncio.get_running_loop().create_task(
                run_once(argv, hooks.timeout, run_as=run_as, grace=self.grace, env=env)
            )
            try:
                await asyncio.wait([run])
            except asyncio.CancelledError:
                run.cancel()  # `stop`: kill its group and reap it, then end
                await asyncio.wait([run])
                raise
            finally:
                self.current = self._run = None
            if run.cancelled():
                return  # killed by `finish`, which counted and logged it
            self._record(transition, hook, run.result())

    def _record(self, transition: Transition, hook: str, result: RunResult) -> None:
        self.last = result
        self.counters.runs += 1
        shown = result.shown_output()
        what = f"{self.label}: hook {hook} ({transition.old} -> {transition.new}, seq {transition.seq})"
        if result.ok:
            log.info("%s: %s%s", what, result.describe(), shown)
            return
        self.counters.failures += 1
        if result.timed_out:
            self.counters.timeouts += 1
        self.ratelog.log(
            logging.WARNING, f"hook-fail:{self.label}:{hook}", "%s failed: %s%s", what, result.describe(), shown
        )

    async def drain(self) -> None:
        """Until every queued transition's hooks have run."""
        await self._idle.wait()

    async def finish(self, limit: float = SHUTDOWN_LIMIT) -> None:
        """Shutdown (or the instance is taken out): run the STOP transition's hooks, whatever the queue held before
        it, within `limit` seconds; then `stop`. See the module's docstring."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        self._closing = True
        ahead = min(AHEAD_LIMIT, limit)
        running_stop = self.current is None or self.current[0].new == STOP
        if not (running_stop and self._only_stop_waits()):
            self._ahead_done.clear()
            try:
                await asyncio.wait_for(self._ahead_done.wait(), ahead)
            except TimeoutError:
                await self._cut(ahead)
        if not self.idle:
            try:
                await asyncio.wait_for(self.drain(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.error("%s: hooks still running %gs after shutdown began; killing them", self.label, limit)
        await self.stop()

    def _only_stop_waits(self) -> bool:
        return all(p[0].new == STOP for p in self._pending)

    async def _cut(self, after: float) -> None:
        """Drop the transitions waiting ahead of on_stop and kill the hook of an earlier one that is running."""
        self._cutting = True
        waiting = [p for p in self._pending if p[0].new != STOP]
        if waiting:
            self._pending = deque(p for p in self._pending if p[0].new == STOP)
            self.counters.cancelled += len(waiting)
            log.warning(
                "%s: shutting down: %d transition(s) still waiting for hooks after %gs dropped (seq %d to %d), so "
                "that on_stop runs",
                self.label,
                len(waiting),
                after,
                waiting[0][0].seq,
                waiting[-1][0].seq,
            )
        run, current = self._run, self.current
        if run is not None and current is not None and current[0].new != STOP:
            self.counters.cancelled += 1
            log.warning(
                "%s: shutting down: killed hook %s (seq %d, %s -> %s) still running after %gs, so that on_stop runs",
                self.label,
                current[1],
                current[0].seq,
                current[0].old,
                current[0].new,
                after,
            )
            run.cancel()
            await asyncio.wait([run])

    async def stop(self) -> None:
        """Kill what runs now (its whole process group), forget what waits; count both."""
        lost = len(self._pending) + (1 if self.current is not None else 0)
        if lost:
            self.counters.cancelled += lost
            running = f"; killed hook {self.current[1]}" if self.current is not None else ""
            log.warning("%s: stopping with %d transition(s) whose hooks did not finish%s", self.label, lost, running)
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._idle.set()

    def status(self) -> dict[str, Any]:
        c = self.counters
        return {
            "hooks": [hook for hook in HOOK_KEYS if getattr(self.config, hook)],
            "timeout": self.config.timeout,
            "runs": c.runs,
            "failures": c.failures,
            "timeouts": c.timeouts,
            "dropped": c.dropped,
            "cancelled": c.cancelled,
            "pending": len(self._pending),
            "running": self.current[1] if self.current is not None else None,
            "last_result": self.last.describe() if self.last is not None else None,
        }


@dataclass
class _Subject:
    event_fields: dict[str, Any]
    extra_env: tuple[tuple[str, str], ...]
    runner: HookRunner | None = None


@dataclass
class Notifier:
    """The daemon's side of transitions: numbers them into the event log and hands them to each runner."""

    ratelog: RateLimitedLogger
    events: EventLog = field(default_factory=EventLog)
    grace: float = KILL_GRACE
    subjects: dict[tuple[str, str], _Subject] = field(default_factory=dict)

    def add_instance(self, cfg: InstanceConfig, run_as: RunAs | None = None) -> None:
        """Register an instance. Its hooks run as `run_as` when the caller has looked their user up already
        (`resolve_user`, off the loop); else the user is looked up here, which may block on NSS."""
        family = "IPv4" if cfg.family.value == 4 else "IPv6"
        fields = {"vrid": cfg.vrid, "interface": cfg.interface, "family": family}
        env = (
            ("VRRPD_VRID", str(cfg.vrid)),
            ("VRRPD_INTERFACE", cfg.interface),
            ("VRRPD_FAMILY", family),
            ("VRRPD_VIRTUAL_ADDRESSES", " ".join(str(a) for a in cfg.virtual_addresses)),
        )
        self.add("instance", cfg.name, cfg.notify, fields, env, run_as)

    def add_group(self, cfg: SyncGroupConfig, run_as: RunAs | None = None) -> None:
        """Register a sync group (as `add_instance`): its events name the members, and so does VRRPD_MEMBERS
        (space-separated) for its hooks."""
        members = (("VRRPD_MEMBERS", " ".join(cfg.members)),)
        self.add("group", cfg.name, cfg.notify, {"members": list(cfg.members)}, members, run_as)

    def add(
        self,
        kind: str,
        name: str,
        hooks: HooksConfig,
        event_fields: dict[str, Any] | None = None,
        extra_env: tuple[tuple[str, str], ...] = (),
        run_as: RunAs | None = None,
    ) -> None:
        """Register an instance or (kind "group") a sync group with its hooks (run as `run_as`, or as their
        `user:` looked up here). One registered already (a reload changed it, or re-created it under the same
        name) keeps its runner, so the transitions queued so far still run, first and with their own hooks."""
        if run_as is None and not hooks.empty and hooks.user is not None:
            run_as = self.user_of(kind, name, hooks.user)
        subject = self.subjects.get((kind, name))
        if subject is None:
            subject = self.subjects[(kind, name)] = _Subject({}, ())
        subject.event_fields, subject.extra_env = dict(event_fields or {}), extra_env
        if subject.runner is not None:
            subject.runner.reconfigure(hooks, run_as)
        elif not hooks.empty:
            subject.runner = HookRunner(kind, name, hooks, self.ratelog, run_as, grace=self.grace)

    def user_of(self, kind: str, name: str, user: str) -> RunAs:
        """The hooks' `user:` looked up (NSS: may block); HookSetupError naming the instance or group."""
        try:
            return resolve_user_for(f"{kind} {name}: notify.user", user)
        except ValueError as exc:
            raise HookSetupError(str(exc)) from None

    async def resolve_user(self, kind: str, name: str, hooks: HooksConfig) -> RunAs | None:
        """`user_of` in a thread, so that a lookup that hangs (LDAP, sssd) never holds the loop the other
        instances run on; None when the hooks run as the daemon."""
        if hooks.empty or hooks.user is None:
            return None
        return await asyncio.to_thread(self.user_of, kind, name, hooks.user)

    async def remove(self, kind: str, name: str, limit: float = SHUTDOWN_LIMIT) -> None:
        """Forget an instance (or group) taken out of a running daemon, as `close` does for all at shutdown: its
        queued hooks (on_stop included) run first, for at most `limit` seconds, then what is left is killed."""
        subject = self.subjects.pop((kind, name), None)
        runner = subject.runner if subject is not None else None
        if runner is not None:
            await runner.finish(limit)

    def transition(
        self, kind: str, name: str, old: str, new: str, reason: str, priority: int, hooks: bool = True
    ) -> dict[str, Any] | None:
        """Record a transition (old and new as the router names them) and queue its hooks (unless `hooks` is
        False: `run_hooks` may run them later); never waits, and never raises: it runs inside the state machine's
        action handling, whose remaining actions must happen."""
        try:
            return self._transition(kind, name, str(old), str(new), reason, priority, hooks)
        except Exception:
            log.exception("%s %s: cannot record the transition %s -> %s", kind, name, old, new)
            return None

    def _transition(
        self, kind: str, name: str, old: str, new: str, reason: str, priority: int, hooks: bool
    ) -> dict[str, Any]:
        if new == "INITIALIZE":  # the router only returns to Initialize when the daemon stops it
            new = STOP
        subject = self.subjects.get((kind, name))
        fields = subject.event_fields if subject is not None else {}
        event = self.events.publish(
            {"kind": kind, "name": name, "old": old, "new": new, "reason": reason, "priority": priority, **fields}
        )
        if hooks and subject is not None and subject.runner is not None:
            extra = subject.extra_env
            subject.runner.submit(Transition(kind, name, old, new, reason, priority, event["seq"], extra))
        return event

    def record(self, event_type: str, kind: str, name: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Publish an event other than a transition (a drain, a priority change) about a registered instance or
        group, with its identifying fields (vrid, interface, family; a group's members) after `fields`. Runs no
        hook, and never raises (as `transition`)."""
        try:
            subject = self.subjects.get((kind, name))
            extra = subject.event_fields if subject is not None else {}
            return self.events.publish({"kind": kind, "name": name, **fields, **extra}, event_type)
        except Exception:
            log.exception("%s %s: cannot record the %s event", kind, name, event_type)
            return None

    def run_hooks(self, kind: str, name: str, event: Mapping[str, Any], reason: str, priority: int) -> None:
        """Queue the hooks of a transition recorded without them (`transition(hooks=False)`), with its sequence
        number and states, and the reason and priority of now."""
        subject = self.subjects.get((kind, name))
        if subject is not None and subject.runner is not None:
            old, new, seq = str(event["old"]), str(event["new"]), int(event["seq"])
            subject.runner.submit(Transition(kind, name, old, new, reason, priority, seq, subject.extra_env))

    def status(self, kind: str, name: str) -> dict[str, Any] | None:
        runner = subject.runner if (subject := self.subjects.get((kind, name))) is not None else None
        # A runner whose hooks a reload removed is shown while it still has work, as if it had none once done.
        return runner.status() if runner is not None and not (runner.config.empty and runner.idle) else None

    @property
    def runners(self) -> list[HookRunner]:
        return [s.runner for s in self.subjects.values() if s.runner is not None]

    async def close(self, limit: float = SHUTDOWN_LIMIT) -> None:
        """Shutdown: every runner runs its on_stop (`HookRunner.finish`), all at once and within `limit` seconds,
        then the event streams end once their followers have been sent what was queued for them."""
        await asyncio.gather(*(r.finish(limit) for r in self.runners))
        await self.events.close(EVENT_FLUSH_LIMIT)


def _inherited_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED and not k.startswith("VRRPD_")}
