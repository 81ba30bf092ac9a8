"""The daemon's life cycle: config -> virtual routers -> adapters on one asyncio loop, started, changed and stopped.

`Daemon` only composes and sequences; each job lives in its own module:
- vrrpd.daemon.assembly builds an instance (its link, macvlan, announcer, router, hooks) and takes it apart again;
- vrrpd.daemon.driver feeds the routers and carries out their actions; deadlines go to the scheduler
  (vrrpd.services.scheduler: all of them on one timerfd). Router time is `loop.time()` (monotonic);
- vrrpd.daemon.worker runs each instance's netlink, nftables and announcement work in order (RFC 9568 §8.1.2:
  an announcement never precedes its address; Accept_Mode, §6.1: the drop is in place before a VIP appears);
- vrrpd.daemon.receive reads the sockets and screens each packet (RFC 9568 §7.1, vrrpd.protocol.receive);
- vrrpd.daemon.tracking, vrrpd.daemon.vmac and vrrpd.daemon.syncgroups are tracking, virtual MACs (§7.3) and
  sync groups; vrrpd.daemon.status renders the status the control socket serves.

The loop never blocks: sockets are non-blocking with `add_reader` (or drained from the scheduler's tick when a link
carries many adverts), netlink and nftables are asynchronous and run in the workers, scripts and hooks are
asynchronous subprocesses.

Instances (and the sync groups they make up) can be added to and removed from a running daemon without the others
noticing: vrrpd.daemon.seam, the seam a configuration reload (vrrpd.daemon.reload) builds on.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from vrrpd import __version__
from vrrpd.config import Config
from vrrpd.config.reload import ReloadPlan
from vrrpd.daemon.assembly import Assembly, StartupError
from vrrpd.daemon.drain import Drainer
from vrrpd.daemon.driver import Driver
from vrrpd.daemon.model import Instance, Link, Openers
from vrrpd.daemon.receive import Listener
from vrrpd.daemon.reload import apply_plan
from vrrpd.daemon.reloader import Reloader, ReloadOutcome
from vrrpd.daemon.seam import InstanceSeam
from vrrpd.daemon.status import daemon_status, summary
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.daemon.tracking import TrackingError, TrackingMonitors
from vrrpd.daemon.vmac import VirtualMacs
from vrrpd.daemon.worker import Worker
from vrrpd.net.firewall import Firewall
from vrrpd.net.netlink import AddressManager, Netlink
from vrrpd.net.sysctl import Sysctls
from vrrpd.protocol import Family, ShutdownRequested
from vrrpd.services import sdnotify
from vrrpd.services.control import ControlError, ControlServer, StreamHandler
from vrrpd.services.drainstate import DrainFile, state_directory
from vrrpd.services.eventlog import EventLog
from vrrpd.services.hooks import HookSetupError, Notifier
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.metrics import metrics_registry
from vrrpd.services.metrics_http import MetricsServer
from vrrpd.services.scheduler import Scheduler

log = logging.getLogger("vrrpd")


class Daemon(InstanceSeam):
    """One vrrpd: `run()` starts it, waits for SIGTERM/SIGINT (or `request_stop()`), then stops it gracefully.

    `netlink`, `openers` and `firewall` default to the real ones (root needed); tests pass the doubles of
    vrrpd.net.fakes and run a whole daemon without root or side effects. `state_dir` holds the drained state file
    (default: $STATE_DIRECTORY, else /var/lib/vrrpd; vrrpd.services.drainstate)."""

    def __init__(
        self,
        config: Config,
        netlink: AddressManager | None = None,
        *,
        openers: Openers | None = None,
        firewall: Firewall | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.netlink: AddressManager = netlink or Netlink()
        self.links: dict[tuple[str, Family], Link] = {}
        self.instances: dict[str, Instance] = {}
        self._loop = asyncio.get_running_loop()
        openers = openers or Openers()
        restore = config.control_socket.with_name(config.control_socket.name + ".sysctl-restore.json")
        self.sysctls = Sysctls(restore)
        self.firewall = firewall or Firewall()
        self.vmacs = VirtualMacs(self.netlink, self.sysctls, self._loop, openers)
        self.control: ControlServer | None = None
        self.metrics: MetricsServer | None = None
        """The Prometheus exporter (`metrics` in the file; vrrpd.services.metrics), rendering `status()`."""
        self.scheduler: Scheduler | None = None
        self.sync = SyncGroups(config)
        self.started_at = time.monotonic()
        self.ratelog = RateLimitedLogger(log, loop=self._loop)
        self.notifier = Notifier(self.ratelog)
        """Transitions -> the event stream (`vrrpctl events`) and notify hooks (vrrpd.services.hooks)."""
        self.driver = Driver(self.instances, self.sync, self.notifier, self.ratelog, self._loop)
        self.worker = Worker(self.netlink, self.firewall, self.vmacs, self.ratelog, self._loop)
        self.listener = Listener(self.driver, self.ratelog, self._loop)
        self.assembly = Assembly(
            self.netlink, openers, self.vmacs, self.notifier, self.sync, self.links, self.instances
        )
        self.monitors = TrackingMonitors(
            config,
            self.netlink,
            self.sync,
            self.ratelog,
            self.instances,
            self.driver.update_tracking,
            self.driver.update_groups,
        )
        self.config = config
        self.drainer = Drainer(
            DrainFile(state_dir or state_directory()), self.instances, self.sync, self.driver, self.notifier
        )
        """`vrrpctl drain` and `vrrpctl resume`, and the drained state file (vrrpd.daemon.drain)."""
        self._stop = asyncio.Event()
        self.reloader = Reloader(
            Path(config.source),
            lambda: self.config,
            self._apply_plan,
            lambda: summary(self.instances.values()),
            self._loop,
            on_outcome=self._reloaded,
        )
        """`vrrpctl reload` and SIGHUP (vrrpd.daemon.reloader)."""

    # --- life cycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        # Before the first await: a SIGTERM during start-up is recorded and acted on once started.
        self._install_signals()
        try:
            await self.assembly.build(self.config.instances, self.config.instances)
            self.sync.build({name: inst.router for name, inst in self.instances.items()})
            self.drainer.load()
            await self.drainer.prune(self.config)
            for group in self.config.sync_groups:
                try:
                    self.notifier.add_group(group)
                except HookSetupError as exc:
                    raise StartupError(str(exc)) from None
            try:
                await self.monitors.create()
            except TrackingError as exc:
                raise StartupError(str(exc)) from None
            if any(not cfg.accepts_traffic for cfg in self.config.instances):
                await self.firewall.start()
            else:
                await self.firewall.remove_stale()
                self.firewall.reason = "not needed: every instance accepts (accept_mode or owner)"
            self.control = ControlServer(
                str(self.config.control_socket),
                {
                    "status": self.status,
                    "reload": self.reload_request,
                    "drain": self.drainer.drain,
                    "resume": self.drainer.resume,
                },
                streams={"events": events_stream(self.notifier.events)},
            )
            await self.control.start()
            if (listen := self.config.metrics) is not None:
                self.metrics = MetricsServer(listen.host, listen.port, metrics_registry(self.status))
                try:
                    await self.metrics.start()
                except OSError as exc:
                    why = exc.strerror or exc
                    raise StartupError(f"metrics.listen {listen.listen}: cannot listen: {why}") from None
        except BaseException:
            await self._close_io()
            raise
        self.scheduler = self.driver.scheduler = Scheduler(self._loop, self.driver.on_deadline, self.driver.slack)
        for inst in self.instances.values():
            self.run_instance(inst, "vrrpd started")
        self.monitors.start()
        for link in self.links.values():
            self.listener.attach(link, self.scheduler)
        # Everything built so far lives as long as the daemon: out of the collector's sight, so that a full
        # collection (set off by what a reload or a burst of hooks allocates) scans only what came after. With
        # the whole heap it took 21-33 ms on the loop, two missed adverts at a 10 ms interval.
        gc.collect()
        gc.freeze()
        sdnotify.ready(summary(self.instances.values()))
        if (interval := sdnotify.watchdog_interval()) is not None:
            # Pinged from the loop itself: if the loop stalls, systemd notices and restarts us.
            self._watchdog(interval / 2)
        if self._loop.get_debug():
            log.warning(
                "asyncio debug mode is on: callbacks over %.0f ms will be reported",
                self._loop.slow_callback_duration * 1000,
            )
        log.info(
            "vrrpd %s started: %d instance(s), control socket %s",
            __version__,
            len(self.instances),
            self.config.control_socket,
        )

    async def run(self) -> None:
        await self.start()
        try:
            await self._stop.wait()
        finally:
            await self.stop()

    def _watchdog(self, every: float) -> None:
        sdnotify.watchdog()
        if not self._stop.is_set():
            self._loop.call_later(every, self._watchdog, every)

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        await self.reloader.close()  # a reload half done would leave instances neither old nor new
        self.driver.stopping = True
        sdnotify.stopping()
        for link in self.links.values():
            self.listener.detach(link, None)
        if self.scheduler is not None:
            self.scheduler.stop_polling()
        # RFC 9568 §6.4.3: each master sends priority 0 so a backup takes over after Skew_Time, not MDI.
        for inst in self.instances.values():
            self.driver.feed(inst, ShutdownRequested())
        # Running checks are killed (their whole process group) and reaped before we go.
        await self.monitors.stop()
        instances = list(self.instances.values())
        await self.worker.drain(instances)
        await self.notifier.close()  # on_stop hooks, bounded; after the priority-0 adverts and the removals
        self.worker.cancel(instances)
        if self.scheduler is not None:
            self.scheduler.close()
        await self._close_io()
        gc.unfreeze()  # what start-up froze may go now (a process that embeds the daemon lives on)
        self.ratelog.close()  # what was suppressed and not yet summarised
        log.info("vrrpd stopped")

    async def _close_io(self) -> None:
        """Undo start-up: also after a failed start, so each step copes with what was never made."""
        if self.control:
            await self.control.close()
        if self.metrics:
            await self.metrics.close()
        if self.monitors.link_monitor is not None:
            await self.monitors.link_monitor.close()
        self.assembly.close()
        await self.vmacs.close()
        self.sysctls.restore()
        await self.firewall.close()
        await self.netlink.close()

    def _install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self.request_stop)
        self._loop.add_signal_handler(signal.SIGHUP, self.reloader.signalled)

    # --- reload ----------------------------------------------------------------------------------------------------

    async def _apply_plan(self, plan: ReloadPlan) -> None:
        """A reload carries its plan out while no drain or resume runs; then the drained state file loses what the
        configuration no longer has (vrrpd.daemon.drain)."""
        async with self.drainer.lock:
            try:
                await apply_plan(self, plan)
            finally:
                await self.drainer.prune(self.config)

    def _reloaded(self, outcome: ReloadOutcome) -> None:
        """Every reload's outcome, in the event stream (`"type": "reload"`)."""
        self.notifier.events.publish(
            {
                "result": outcome.result,
                "error": outcome.error,
                "generation": self.reloader.generation,
                "unchanged": outcome.unchanged,
                "changed": len(outcome.changed),
                "added": len(outcome.added),
                "removed": len(outcome.removed),
            },
            "reload",
        )

    async def reload_request(self, request: dict[str, Any] | None = None) -> dict[str, Any]:
        """The control socket's `reload` (`vrrpctl reload`): answered once the reload is done. A rejected file is
        the request's error (its one sentence); a reload that failed in part answers with its `error` set."""
        outcome = await self.reloader.request()
        if outcome.result == "rejected":
            raise ControlError(outcome.error or "reload rejected")
        return {"summary": outcome.summary, **outcome.status()}

    # --- status ----------------------------------------------------------------------------------------------------

    def status(self, request: dict[str, Any] | None = None) -> dict[str, Any]:
        """The control socket's `status` (`vrrpctl status --json`)."""
        return daemon_status(
            now=self._loop.time(),
            pid=os.getpid(),
            uptime=time.monotonic() - self.started_at,
            config=self.reloader.status(),
            instances=self.instances.values(),
            links=self.links.values(),
            scripts=self.monitors.scripts.values(),
            files=self.monitors.files.values(),
            sync=self.sync,
            notifier=self.notifier,
            firewall=self.firewall,
            sysctls=self.sysctls,
            drain_state=self.drainer.status(),
        )


def events_stream(events: EventLog) -> StreamHandler:
    """The control socket's `events` stream over `events`: a bad argument is the request's error, worded as the
    event log words it."""

    def open_stream(args: dict[str, Any]) -> tuple[Any, Any]:
        try:
            return events.open_stream(args)
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    return open_stream
