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

Instances can be added to and removed from a running daemon (`add_instance`, `remove_instance`) without the others
noticing: the seam a configuration reload builds on. A member of a sync group cannot (yet): its group would change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from vrrpd import __version__
from vrrpd.config import Config, InstanceConfig
from vrrpd.daemon.assembly import Assembly, StartupError
from vrrpd.daemon.driver import Driver
from vrrpd.daemon.model import Instance, Link, Openers
from vrrpd.daemon.receive import Listener
from vrrpd.daemon.reload import apply_plan
from vrrpd.daemon.reloader import Reloader
from vrrpd.daemon.status import daemon_status, summary
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.daemon.tracking import TrackingError, TrackingMonitors
from vrrpd.daemon.vmac import VirtualMacs
from vrrpd.daemon.worker import Worker
from vrrpd.net.firewall import Firewall
from vrrpd.net.netlink import AddressManager, Netlink
from vrrpd.net.sysctl import Sysctls
from vrrpd.protocol import Family, ShutdownRequested, Started
from vrrpd.services import sdnotify
from vrrpd.services.control import ControlError, ControlServer, StreamHandler
from vrrpd.services.eventlog import EventLog
from vrrpd.services.hooks import HookSetupError, Notifier
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.scheduler import Scheduler

log = logging.getLogger("vrrpd")


class Daemon:
    """One vrrpd: `run()` starts it, waits for SIGTERM/SIGINT (or `request_stop()`), then stops it gracefully.

    `netlink`, `openers` and `firewall` default to the real ones (root needed); tests pass the doubles of
    vrrpd.net.fakes and run a whole daemon without root or side effects."""

    def __init__(
        self,
        config: Config,
        netlink: AddressManager | None = None,
        *,
        openers: Openers | None = None,
        firewall: Firewall | None = None,
    ) -> None:
        self.config = config
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
        self.scheduler: Scheduler | None = None
        self.sync = SyncGroups(config)
        self.started_at = time.monotonic()
        self.ratelog = RateLimitedLogger(log)
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
        self._stop = asyncio.Event()
        self.reloader = Reloader(
            Path(config.source),
            lambda: self.config,
            lambda plan: apply_plan(self, plan),
            lambda: summary(self.instances.values()),
            self._loop,
        )
        """`vrrpctl reload` and SIGHUP (vrrpd.daemon.reloader)."""

    # --- life cycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        # Before the first await: a SIGTERM during start-up is recorded and acted on once started.
        self._install_signals()
        try:
            await self.assembly.build(self.config.instances, self.config.instances)
            self.sync.build({name: inst.router for name, inst in self.instances.items()})
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
                {"status": self.status, "reload": self.reload_request},
                streams={"events": events_stream(self.notifier.events)},
            )
            await self.control.start()
        except BaseException:
            await self._close_io()
            raise
        self.scheduler = self.driver.scheduler = Scheduler(self._loop, self.driver.on_deadline, self.driver.slack)
        for inst in self.instances.values():
            self._run(inst)
        self.monitors.start()
        for link in self.links.values():
            self.listener.attach(link, self.scheduler)
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

    def _run(self, inst: Instance) -> None:
        """Set a built instance going: its worker, its tracking's verdict (an interface already down: FAULT from
        the start), then the router's Startup event (RFC 9568 §6.4.1)."""
        self.worker.start(inst)
        self.driver.update_tracking(inst)
        self.driver.feed(inst, Started())

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
        log.info("vrrpd stopped")

    async def _close_io(self) -> None:
        """Undo start-up: also after a failed start, so each step copes with what was never made."""
        if self.control:
            await self.control.close()
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

    # --- one instance at a time: the seam of a configuration reload ------------------------------------------------

    async def add_instance(self, cfg: InstanceConfig) -> Instance:
        """Build and start one more instance in the running daemon, as start-up does for each (its link opened when
        it is the first on it, its stale VIPs removed, its trackers primed); the others are not touched.

        Raises StartupError for what would stop the daemon from starting with it (the instance is then not
        added, and nothing of it is left), ValueError for what the configuration check would refuse."""
        if self.scheduler is None or self.driver.stopping:
            raise RuntimeError("add_instance: the daemon is not running")
        self.assembly.check_addable(cfg, self.config)
        every = (*self.config.instances, cfg)
        reading = set(self.links)
        try:
            (inst,) = await self.assembly.build([cfg], every)
            await self.monitors.add([inst])
        except TrackingError as exc:
            await self._discard(cfg)
            raise StartupError(str(exc)) from None
        except BaseException:
            await self._discard(cfg)
            raise
        if not cfg.accepts_traffic and all(other.accepts_traffic for other in self.config.instances):
            await self.firewall.start()  # the first instance that needs the Accept_Mode table
        self.config = dataclasses.replace(self.config, instances=every)
        for key, link in self.links.items():
            if key not in reading:
                self.listener.attach(link, self.scheduler)
        self._run(inst)
        self.monitors.start()
        log.info("%s: added", cfg.name)
        return inst

    async def remove_instance(self, name: str) -> None:
        """Stop one instance as shutdown stops them all (a master sends priority 0, RFC 9568 §6.4.3; its VIPs are
        removed in its worker; then its on_stop hook), and take it apart: its worker ends, its link closes when no
        other instance uses it, its monitors stop when no other instance tracks them. The others are not touched."""
        if self.scheduler is None or self.driver.stopping:
            raise RuntimeError("remove_instance: the daemon is not running")
        inst = self.instances.get(name)
        if inst is None:
            raise KeyError(f"no instance {name}")
        if self.sync.of(name) is not None:
            raise ValueError(f"instance {name} is in a sync group: groups cannot change while running")
        # Out of the receive path, the tracking and the status first: nothing but its own stop reaches it now.
        del self.instances[name]
        if inst.link.routers.get(inst.config.vrid) is inst:
            del inst.link.routers[inst.config.vrid]
        self.driver.feed(inst, ShutdownRequested())  # its timer goes with its last deadline
        await self.worker.drain([inst])
        await self.notifier.remove("instance", name)
        self.worker.cancel([inst])
        await self._discard(inst.config, inst)
        log.info("%s: removed", name)

    async def _discard(self, cfg: InstanceConfig, inst: Instance | None = None) -> None:
        """Forget whatever exists of `cfg` (a removed instance, or what a failed add built): its hooks, the monitors
        only it used, its macvlan, and the link and announcer only it used."""
        await self.notifier.remove("instance", cfg.name)
        await self.monitors.release([other for other in self.instances.values() if other.config is not cfg])
        await self.assembly.tear_down(cfg, lambda link: self.listener.detach(link, self.scheduler), inst)
        self.config = dataclasses.replace(
            self.config, instances=tuple(c for c in self.config.instances if c.name != cfg.name)
        )

    # --- reload ----------------------------------------------------------------------------------------------------

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
