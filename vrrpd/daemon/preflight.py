"""What a reload checks before it touches anything: what start-up would refuse about the instances it starts, and
what the in-place changes need, read without side effects, so that a reload that cannot work changes nothing.

Checked, with the very checks start-up makes (vrrpd.daemon.assembly, vrrpd.daemon.vmac, the users' lookups):
- every instance that starts (added, or re-created): its interface exists and has an address to send adverts from
  (RFC 9568 §5.1.1.1, §5.1.2.1), its advert fits the interface's MTU, its unicast source is ours and some peer is
  not, its virtual MAC's macvlan name is free, its hooks' user exists;
- every instance changed in place: an advert that grows still fits, new unicast peers leave some peer that is not
  ours, new hooks' user exists;
- every script the new configuration runs for the first time or differently: its user exists; every sync group
  built or changed: its hooks' user exists;
- every command of the new configuration (track scripts, hooks): it exists, is executable and, run as root, is
  writable by root only (vrrpd.services.commands, as `vrrpd run` checks at start-up).

The users looked up here are handed on (`Checked`), so the steps that follow use them rather than asking NSS again.
Netlink is only read; users are looked up in threads (NSS may block: LDAP, sssd), never on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field

from vrrpd.config import InstanceConfig
from vrrpd.config.hooks import HooksConfig
from vrrpd.config.reload import Change, ReloadPlan
from vrrpd.daemon.assembly import StartupError, UnicastError, check_advert_fits, probe_link, unicast_choice
from vrrpd.daemon.model import Instance
from vrrpd.daemon.seam import InstanceSeam
from vrrpd.daemon.vmac import VirtualMacError, name_of
from vrrpd.protocol.constants import OWNER_PRIORITY
from vrrpd.protocol.packet import IPAddress
from vrrpd.services.commands import command_problems
from vrrpd.services.scripts import RunAs, resolve_user_for

REREGISTER = frozenset({"notify", "virtual_addresses"})
"""The keys of an instance changed in place that register its hooks again (VRRPD_VIRTUAL_ADDRESSES is theirs)."""
UNICAST_KEYS = frozenset({"unicast_peers", "unicast_ttl", "unicast_min_ttl"})
"""The keys of an instance changed in place that make its unicast peers again (`unicast_choice` answers again)."""


class ReloadRefused(Exception):
    """The plan cannot be carried out; nothing was changed. `str()` says why, in one sentence."""


@dataclass
class Checked:
    """What the preflight looked up, for the steps that follow."""

    hook_users: dict[tuple[str, str], RunAs | None] = field(default_factory=dict)
    """By (kind, name): the user of the hooks of each instance and group a reload registers again."""
    script_users: dict[str, RunAs | None] = field(default_factory=dict)
    """By script name: the user of each script whose monitor a reload creates."""


async def preflight(daemon: InstanceSeam, plan: ReloadPlan) -> Checked:
    """Check `plan` against the running `daemon` (see the module's docstring). Raises ReloadRefused."""
    checked = Checked()
    # Every command, not only new ones: the file is refused as `vrrpd run` would refuse it (a script that became
    # writable by others since start-up included). Threaded: stat() and NSS may block.
    problems = await asyncio.to_thread(command_problems, plan.new)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ReloadRefused(sentence(f"{problems[0]}{more}"))
    stopping = {p.name for p in plan.instances if p.change in (Change.REMOVED, Change.RECREATED)}
    vips = {a.ip for c in plan.new.instances if c.priority != OWNER_PRIORITY for a in c.virtual_addresses}
    for p in plan.instances:
        if p.change in (Change.ADDED, Change.RECREATED):
            assert p.new is not None
            await refused_unless(p.name, starts(daemon, p.new, plan.new.instances, stopping, vips))
            await look_up_hooks(checked, "instance", p.name, p.new.notify)
        elif p.change is Change.CHANGED:
            assert p.new is not None
            inst = daemon.instances[p.name]
            if {"virtual_addresses", *UNICAST_KEYS} & set(p.keys):
                await refused_unless(p.name, fits(daemon, inst, p.new))
            if REREGISTER & set(p.keys):
                await look_up_hooks(checked, "instance", p.name, p.new.notify)
    built = {g.name for g in (*plan.groups.added, *plan.groups.changed)} | set(plan.groups_recreated)
    for group in plan.new.sync_groups:
        if group.name in built:
            await look_up_hooks(checked, "group", group.name, group.notify)
    used = {t.name for c in (*plan.new.instances, *plan.new.sync_groups) for t in c.track_scripts}
    redefined = {s.name for s in (*plan.scripts.added, *plan.scripts.changed)}
    for script in plan.new.track_scripts:
        if script.user is None or script.name not in used:
            continue
        if script.name in redefined or script.name not in daemon.monitors.scripts:
            try:
                what = f"track script {script.name}"
                checked.script_users[script.name] = await asyncio.to_thread(resolve_user_for, what, script.user)
            except ValueError as exc:
                raise ReloadRefused(sentence(str(exc))) from None
    return checked


async def starts(
    daemon: InstanceSeam,
    cfg: InstanceConfig,
    every: Iterable[InstanceConfig],
    stopping: set[str],
    vips: set[IPAddress],
) -> None:
    """What building `cfg` would refuse, found without building it: its link (the running one when an instance
    that stays is on it, else the interface as it is now), its advert's size, its unicast peers, its macvlan."""
    link = daemon.links.get((cfg.interface, cfg.family))
    if link is not None and any(inst.name not in stopping for inst in link.routers.values()):
        info, primary = link.info, link.primary
    else:
        info, primary = await probe_link(daemon.netlink, cfg.interface, cfg.family, vips)
    check_advert_fits(cfg, info)
    if cfg.unicast_peers:
        unicast_choice(cfg, primary, info.index, daemon.assembly.openers.is_local)
    if cfg.virtual_mac:
        await daemon.vmacs.existing(name_of(cfg, info, every), info)


async def fits(daemon: InstanceSeam, inst: Instance, cfg: InstanceConfig) -> None:
    """What an in-place change of `inst` to `cfg` would run into: an advert too large for its link, unicast peers
    that are all this host's own."""
    check_advert_fits(cfg, inst.link.info)
    if cfg.unicast_peers:
        unicast_choice(cfg, inst.link.primary, inst.link.info.index, daemon.assembly.openers.is_local)


async def refused_unless(name: str, check: Awaitable[None]) -> None:
    """Await `check`; a problem it finds refuses the reload, in a sentence naming instance `name`."""
    try:
        await check
    except (StartupError, UnicastError, VirtualMacError) as exc:
        problem = str(exc).removeprefix(f"{name}: ")
        raise ReloadRefused(sentence(f"instance {name}: {problem}")) from None


async def look_up_hooks(checked: Checked, kind: str, name: str, hooks: HooksConfig) -> None:
    if hooks.empty or hooks.user is None:
        return
    try:
        checked.hook_users[(kind, name)] = await asyncio.to_thread(
            resolve_user_for, f"{kind} {name}: notify.user", hooks.user
        )
    except ValueError as exc:
        raise ReloadRefused(sentence(str(exc))) from None


def sentence(problem: str) -> str:
    return f"cannot reload: {problem}; nothing was changed"
