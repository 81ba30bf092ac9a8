"""Maintenance drain on the running daemon: `vrrpctl drain` and `vrrpctl resume`, kept across restarts and reloads.

What a drain does to a router is the protocol core's (vrrpd.protocol.drain); this decides which instances
are drained, keeps that in the state file (vrrpd.services.drainstate) and feeds the routers:

- `drain` / `resume` (the control socket's commands) name instances, or all of them. Refused with one sentence, and
  nothing changed, for an unknown name, an address owner (priority 255: nobody can take its addresses over), some
  members of a sync group without the others (a group is Master together or not at all: drain its members
  together), or a state file that cannot be written (the drain would not survive a restart). Otherwise the file is
  written first (off the loop), then each instance gets a `drain` event and its `Drained` / `Resumed` input.
- An instance about to start (start-up, or a reload that adds or re-creates it) is drained before its Startup
  event if the file says so (`apply`): it starts as Backup and stays there.
- The file lists configured instances only: at start-up and after every reload, entries of instances no longer in
  the configuration (removed, renamed) and of address owners are dropped, and the file rewritten (`prune`).
- One at a time: a drain or resume waits for a running reload (and a reload for it), so neither acts on an
  instance the other is taking apart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from vrrpd.config import Config
from vrrpd.daemon.driver import Driver
from vrrpd.daemon.model import Instance
from vrrpd.daemon.syncgroups import SyncGroups
from vrrpd.protocol import Drain, Drained, Resumed
from vrrpd.services.control import ControlError
from vrrpd.services.drainstate import DrainFile, DrainFileError
from vrrpd.services.hooks import Notifier

log = logging.getLogger("vrrpd")

DONE = {"drain": "drained", "resume": "resumed"}
SHOWN_NAMES = 10
"""Instance names an error lists before "...": the sentence stays one line."""


class Drainer:
    """The drained instances of one daemon and the file that keeps them."""

    def __init__(
        self, file: DrainFile, instances: Mapping[str, Instance], sync: SyncGroups, driver: Driver, notifier: Notifier
    ) -> None:
        self.file = file
        self.instances = instances
        self.sync = sync
        self.driver = driver
        self.notifier = notifier
        self.drained: dict[str, Drain] = {}
        """What the file holds (once written): the instances drained, by name."""
        self.error: str | None = None
        """Why the file could not be read at start-up or written since (None once a write succeeded)."""
        self.lock = asyncio.Lock()
        """Held by each drain, resume and reload."""

    # --- start-up and reloads ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the file (start-up). One that cannot be used is an error in the log and the status, and nothing is
        drained from it; the daemon starts all the same."""
        try:
            self.drained = self.file.load()
        except DrainFileError as exc:
            self.error = str(exc)
            log.error(
                "%s; starting with no instance drained from it: drain again what should be (vrrpctl drain), "
                "which replaces the file",
                exc,
            )
            return
        if self.drained:
            listed = ", ".join(f"{name} ({mode.value})" for name, mode in self.drained.items())
            log.warning("drained by %s: %s", self.file.path, listed)

    def apply(self, inst: Instance, why: str) -> None:
        """`inst` is about to start (`why`: "vrrpd started"...): drained before its Startup event if the file says so
        (never an owner: `prune` drops it)."""
        mode = self.drained.get(inst.name)
        if mode is None or inst.router.config.is_owner:
            return
        reason = f"state file {self.file.path}; {why}"
        self.notifier.record("drain", "instance", inst.name, {"mode": mode.value, "reason": reason})
        self.driver.feed(inst, Drained(mode))

    async def prune(self, config: Config) -> None:
        """Drop the entries of instances `config` does not have, or has as address owners, and rewrite the file
        when any went (a failure to is only logged: what runs is right, the file is stale until the next write)."""
        owners = {cfg.name for cfg in config.instances if cfg.router_config().is_owner}
        names = {cfg.name for cfg in config.instances} - owners
        gone = [name for name in self.drained if name not in names]
        if not gone:
            return
        for name in gone:
            why = "it is an address owner now (priority 255)" if name in owners else "no such instance any more"
            log.warning("%s: no longer drained (%s)", name, why)
        kept = {name: mode for name, mode in self.drained.items() if name in names}
        try:
            await self.save(kept)
        except OSError as exc:
            log.error("cannot rewrite %s without %s: %s", self.file.path, ", ".join(gone), exc)
        self.drained = kept

    async def save(self, drained: dict[str, Drain]) -> None:
        await asyncio.to_thread(self.file.save, drained)
        if self.error is not None:
            log.warning("%s written anew, replacing the one that could not be used (%s)", self.file.path, self.error)
            self.error = None

    # --- the control socket ------------------------------------------------------------------------------------

    async def drain(self, args: dict[str, Any]) -> dict[str, Any]:
        """The control socket's ``drain``: ``{"names": [...] | "all": true, "soft": bool}``."""
        names, soft = self._arguments("drain", args, ("names", "all", "soft"))
        mode = Drain.SOFT if soft else Drain.HARD
        async with self.lock:
            targets = self._targets("drain", names)
            changed = [name for name in targets if self.drained.get(name) is not mode]
            await self._record("drain", {**self.drained, **dict.fromkeys(changed, mode)})
            for name in changed:
                inst = self.instances[name]
                log.warning("%s: drained (%s) by vrrpctl drain", name, mode.value)
                self.notifier.record("drain", "instance", name, {"mode": mode.value, "reason": "vrrpctl drain"})
                self.driver.feed(inst, Drained(mode))
        return _answer(targets, changed, f"drained ({mode.value})", f"already drained ({mode.value})")

    async def resume(self, args: dict[str, Any]) -> dict[str, Any]:
        """The control socket's ``resume``: ``{"names": [...] | "all": true}``."""
        names, _ = self._arguments("resume", args, ("names", "all"))
        async with self.lock:
            targets = self._targets("resume", names)
            changed = [name for name in targets if name in self.drained]
            await self._record("resume", {n: m for n, m in self.drained.items() if n not in changed})
            for name in changed:
                log.warning("%s: resumed by vrrpctl resume", name)
                self.notifier.record("drain", "instance", name, {"mode": "resumed", "reason": "vrrpctl resume"})
                self.driver.feed(self.instances[name], Resumed())
        return _answer(targets, changed, "resumed", "not drained")

    def status(self) -> dict[str, Any]:
        """The status' ``drain_state`` entry."""
        return {"path": str(self.file.path), "error": self.error}

    # --- internals ---------------------------------------------------------------------------------------------

    def _arguments(self, command: str, args: dict[str, Any], known: tuple[str, ...]) -> tuple[list[str] | None, bool]:
        """(the names, or None for all; soft) from a request, or ControlError saying what is wrong with it."""
        if unknown := sorted(set(args) - set(known)):
            raise ControlError(f"{command}: unknown argument {unknown[0]!r} (known: {', '.join(known)})")
        names, every, soft = args.get("names"), args.get("all", False), args.get("soft", False)
        if not isinstance(every, bool) or not isinstance(soft, bool):
            raise ControlError(f"{command}: all and soft are true or false")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise ControlError(f"{command}: names is a list of instance names")
        if every and names:
            raise ControlError(f"{command}: name instances or say all, not both")
        if not every and not names:
            raise ControlError(f"{command}: name the instances to {command}, or say all (vrrpctl {command} --all)")
        return (None if every else list(dict.fromkeys(names or ()))), soft

    def _targets(self, command: str, names: list[str] | None) -> list[str]:
        """The instances a request acts on, or ControlError (see the module's docstring) before anything is done."""
        if self.driver.stopping:
            raise ControlError("vrrpd is stopping")
        targets = list(self.instances) if names is None else names
        for name in targets:
            if name not in self.instances:
                known = list(self.instances)
                listed = ", ".join(known[:SHOWN_NAMES]) + (", ..." if len(known) > SHOWN_NAMES else "")
                raise ControlError(f"no instance {name} (instances: {listed or 'none'}); nothing was {DONE[command]}")
            inst = self.instances[name]
            if command == "drain" and inst.router.config.is_owner:
                some = "" if names is not None else " (--all: name the others to drain them)"
                raise ControlError(
                    f"{name} is the address owner of VRID {inst.config.vrid} (priority 255): no other router can take "
                    f"its addresses over, so it cannot be drained{some}; nothing was drained"
                )
            group = self.sync.of(name)
            if group is not None and (missing := [m for m in group.members if m not in targets]):
                raise ControlError(
                    f"{name} is in sync group {group.name}, whose members are Master together or not at all: "
                    f"{command} the sync group's members together: vrrpctl {command} {' '.join(group.members)} "
                    f"({missing[0]} is missing); nothing was {DONE[command]}"
                )
        return targets

    async def _record(self, command: str, drained: dict[str, Drain]) -> None:
        """Write `drained` to the file before anything changes (ControlError if it cannot be), and keep it."""
        if drained == self.drained:
            return
        try:
            await self.save(drained)
        except OSError as exc:
            raise ControlError(
                f"cannot record the {command} in {self.file.path} ({exc.strerror or exc}), so it would not survive a "
                f"restart; nothing was {DONE[command]}"
            ) from None
        self.drained = drained


def _answer(targets: list[str], changed: list[str], did: str, already: str) -> dict[str, Any]:
    """A drain's or resume's answer: ``{"summary": "did: a, b; already: c", "changed": [...], "unchanged": [...]}``."""
    same = [name for name in targets if name not in changed]
    parts = [f"{label}: {', '.join(names)}" for label, names in ((did, changed), (already, same)) if names]
    return {"summary": "; ".join(parts) or "no instances", "changed": changed, "unchanged": same}
