"""A `vrrp_instance` block -> an `Instance`: one handler per keyword, found in `KEYWORD_HANDLERS`.

The handlers only record what the block says (and warn about a value keepalived would ignore); what depends on
more than one keyword, or on global_defs, is decided in `resolve` once the whole block is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from ipaddress import ip_interface

from vrrpd.importer import routes, track_files, unicast
from vrrpd.importer.globals import read_garp
from vrrpd.importer.hooks import remember_hook
from vrrpd.importer.model import Context, Instance, VirtualAddress, vrrpd_name
from vrrpd.importer.render import yaml_number
from vrrpd.importer.syntax import Statement
from vrrpd.importer.tables import HOOK_KEYS, INSTANCE_IGNORED, INSTANCE_UNMAPPED
from vrrpd.protocol.constants import OWNER_PRIORITY

_MAC = re.compile(r"(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_ADDRESS_RANGE = re.compile(r"[0-9a-fA-F.:]+-[0-9a-fA-F]+(/\d+)?")
_AUTH_PASS_BYTES = 8
"""VRRPv2's authentication data holds 8 bytes; keepalived uses the first 8 of a longer password."""

_VIP_OPTIONS_WITH_VALUE = ("brd", "broadcast", "dev", "scope", "label", "peer", "preferred_lft")
_VIP_OPTIONS_UNSUPPORTED = (
    "home",
    "-nodad",
    "nodad",
    "mngtmpaddr",
    "noprefixroute",
    "autojoin",
    "no_track",
    "track",
    "use_vmac",
)
"""ip-address options of a virtual_ipaddress entry that vrrpd has no form for (besides those taking a value)."""


def read_instance(ctx: Context, stmt: Statement) -> Instance | None:
    """One `vrrp_instance NAME { ... }`; None (after a warning) when it lacks what vrrpd needs."""
    raw_name = stmt.args[0] if stmt.args else ""
    name = vrrpd_name(raw_name, "instance")
    if name != raw_name:
        ctx.note(stmt, f"vrrp_instance {raw_name!r}: renamed {name!r} (vrrpd names use A-Z a-z 0-9 _ . -)")
    # A copy of the global GARP settings: the instance's garp_master_* lines override them for this instance only.
    inst = Instance(stmt, name, sync_group=ctx.group_of.get(raw_name), garp=replace(ctx.globals.garp))
    assert stmt.block is not None
    for sub in stmt.block:
        handler = KEYWORD_HANDLERS.get(sub.keyword)
        if handler is not None:
            handler(ctx, inst, sub)
        elif sub.keyword in INSTANCE_UNMAPPED:
            ctx.warn(sub, f"{sub.keyword}: {INSTANCE_UNMAPPED[sub.keyword]}")
        elif sub.keyword in INSTANCE_IGNORED:
            ctx.note(sub, f"{sub.keyword}: ignored: {INSTANCE_IGNORED[sub.keyword]}")
        else:
            ctx.unknown(sub, f"vrrp_instance {raw_name}")
    for value, what in ((inst.interface, "interface"), (inst.vrid, "virtual_router_id")):
        if value is None:
            ctx.warn(stmt, f"vrrp_instance {raw_name}: has no {what}, which vrrpd needs; instance not imported")
            return None
    if not inst.addresses:
        ctx.warn(
            stmt,
            f"vrrp_instance {raw_name}: has no virtual_ipaddress; vrrpd needs at least one; instance not imported",
        )
        return None
    return inst


# --- the handlers, in the order of KEYWORD_HANDLERS ---------------------------------------------------------


def _interface(ctx: Context, inst: Instance, stmt: Statement) -> None:
    name = ctx.arg(stmt)
    if name is not None and ctx.no_block(stmt):
        inst.interface = name


def _vrid(ctx: Context, inst: Instance, stmt: Statement) -> None:
    value = ctx.integer(stmt, 1, 255)
    if value is not None:
        inst.vrid = value


def _priority(ctx: Context, inst: Instance, stmt: Statement) -> None:
    value = ctx.integer(stmt, 1, OWNER_PRIORITY)
    if value is not None:
        inst.priority = value


def _state(ctx: Context, inst: Instance, stmt: Statement) -> None:
    word = (ctx.arg(stmt) or "").upper()
    if word not in ("MASTER", "BACKUP"):
        ctx.warn(stmt, f"state: {' '.join(stmt.args)!r} is not MASTER or BACKUP; ignored")
        return
    inst.state, inst.state_at = word, stmt
    ctx.note_once(
        "state",
        stmt,
        f"state {word}: vrrpd has no initial state; every router but the owner (priority 255) starts "
        "as backup and takes over when no master is heard (said once for every instance)",
    )


def _advert_int(ctx: Context, inst: Instance, stmt: Statement) -> None:
    value = ctx.number(stmt, 0.01, 255)
    if value is not None:
        inst.advert = (value, stmt)


def _version(ctx: Context, inst: Instance, stmt: Statement) -> None:
    value = ctx.integer(stmt, 2, 3)
    if value is not None:
        inst.version, inst.version_at = value, stmt


def _nopreempt(ctx: Context, inst: Instance, stmt: Statement) -> None:
    inst.nopreempt_at = stmt


def _preempt_delay(ctx: Context, inst: Instance, stmt: Statement) -> None:
    value = ctx.number(stmt, 0, 1000)
    if value is not None:
        inst.preempt_delay, inst.preempt_delay_at = yaml_number(value), stmt


def _accept(ctx: Context, inst: Instance, stmt: Statement) -> None:
    inst.accept = stmt.keyword == "accept"


def _virtual_ipaddress(ctx: Context, inst: Instance, stmt: Statement) -> None:
    """`ADDRESS[/LEN] [ip-address options]` lines: vrrpd takes the address; each option it has no form for gets a
    warning (`dev` waits for resolve, which knows the instance's interface)."""
    for entry in ctx.block(stmt) or []:
        address = _address(ctx, entry)
        if address is None:
            continue
        _address_options(ctx, inst, entry)
        inst.addresses.append((address, entry))


def _address(ctx: Context, entry: Statement) -> VirtualAddress | None:
    text = entry.keyword
    if entry.block is not None:
        ctx.warn(entry, f"virtual_ipaddress {text}: unexpected {{ }} block; ignored")
    try:
        if "/" in text:
            return ip_interface(text)
        address = ip_interface(text)
        return ip_interface(f"{address.ip}/{address.max_prefixlen}")
    except ValueError:
        pass
    if _ADDRESS_RANGE.fullmatch(text):
        ctx.warn(
            entry,
            f"virtual_ipaddress {text}: address ranges are not expanded by the import; list the "
            "addresses one by one (not imported)",
        )
    else:
        ctx.warn(entry, f"virtual_ipaddress {text}: not an IP address; not imported")
    return None


def _address_options(ctx: Context, inst: Instance, entry: Statement) -> None:
    """The options after the address, as `ip address add` takes them; a missing value ends the list."""
    args = entry.args
    i = 0
    while i < len(args):
        option = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        takes_value = option in _VIP_OPTIONS_WITH_VALUE
        if takes_value and value is None:
            ctx.warn(entry, f"virtual_ipaddress {entry.keyword}: {option} without a value; ignored")
            break
        if option == "dev":
            assert value is not None
            inst.devs.append((value, entry))  # checked once the instance's interface is known
        elif option == "scope":
            if value != "global":
                ctx.warn(
                    entry,
                    f"virtual_ipaddress {entry.keyword}: scope {value}: vrrpd adds addresses with "
                    "the kernel's default scope; ignored",
                )
        elif option == "label":
            ctx.warn(
                entry,
                f"virtual_ipaddress {entry.keyword}: label {value}: vrrpd does not label addresses "
                "(it tags them with its own protocol id); ignored. Scripts that look for the label must "
                "match the address instead",
            )
        elif option in ("brd", "broadcast", "peer", "preferred_lft"):
            ctx.warn(entry, f"virtual_ipaddress {entry.keyword}: {option} {value}: not supported by vrrpd; ignored")
        elif option in _VIP_OPTIONS_UNSUPPORTED:
            ctx.warn(entry, f"virtual_ipaddress {entry.keyword}: {option}: not supported by vrrpd; ignored")
        else:
            ctx.warn(entry, f"virtual_ipaddress {entry.keyword}: unknown option {option!r}; ignored")
        i += 2 if takes_value else 1


def _authentication(ctx: Context, inst: Instance, stmt: Statement) -> None:
    block = ctx.block(stmt)
    if block is None:
        return
    kind: str | None = None
    password: Statement | None = None
    for sub in block:
        if sub.keyword == "auth_type":
            kind = (ctx.arg(sub) or "").upper()
        elif sub.keyword == "auth_pass":
            password = sub
        else:
            ctx.unknown(sub, "authentication")
    if kind == "AH":
        inst.auth_ah_at = stmt  # a warning unless strict mode makes keepalived drop it too (resolve)
        return
    if kind != "PASS" or password is None:
        ctx.warn(stmt, "authentication: needs auth_type PASS and auth_pass; ignored")
        return
    text = password.args[0] if password.args else ""
    data = text.encode()
    if len(data) > _AUTH_PASS_BYTES:
        cut = data[:_AUTH_PASS_BYTES].decode(errors="ignore")
        if len(cut.encode()) != _AUTH_PASS_BYTES:
            ctx.warn(
                password,
                "auth_pass: its first 8 bytes end inside a UTF-8 character, which YAML cannot hold; "
                "choose an ASCII password on every router (not imported)",
            )
            return
        ctx.note(
            password, f"auth_pass: longer than 8 bytes; keepalived uses only the first 8 ({cut!r}), so does the import"
        )
        text = cut
    if not text:
        ctx.warn(password, "auth_pass: empty; ignored")
        return
    inst.auth = (text, stmt)


def _use_vmac(ctx: Context, inst: Instance, stmt: Statement) -> None:
    inst.virtual_mac = True
    for arg in stmt.args:
        if _MAC.fullmatch(arg):
            inst.strict_resets.append(
                (
                    stmt,
                    f"use_vmac: MAC {arg}: vrrpd always uses the RFC 9568 MAC 00:00:5e:00:01:VRID "
                    "(00:00:5e:00:02:VRID for IPv6); ignored",
                )
            )
        elif arg in ("netlink_notify_msg", "group") or arg.isdigit():
            ctx.note(stmt, f"use_vmac: {arg}: ignored")
        else:
            ctx.note(
                stmt,
                f"use_vmac: the name {arg} is ignored; vrrpd names the macvlan vrrp4-<vrid> "
                "(vrrp6-<vrid> for IPv6). Update scripts or firewall rules that use the name",
            )


def _checksum_as_v2(ctx: Context, inst: Instance, stmt: Statement) -> None:
    inst.checksum_as_v2 = ctx.flag(stmt)


def _lower_prio_no_advert(ctx: Context, inst: Instance, stmt: Statement) -> None:
    inst.lower_prio_no_advert = ctx.flag(stmt)


def _strict_mode(ctx: Context, inst: Instance, stmt: Statement) -> None:
    inst.strict = ctx.flag(stmt)
    inst.strict_at = stmt


def _garp(ctx: Context, inst: Instance, stmt: Statement) -> None:
    read_garp(ctx, inst.garp, stmt, stmt.keyword)


def _higher_prio_send_advert(ctx: Context, inst: Instance, stmt: Statement) -> None:
    if ctx.flag(stmt):
        inst.strict_resets.append(
            (stmt, "higher_prio_send_advert: vrrpd does not send an extra advert before yielding; ignored")
        )


def _down_timer_adverts(ctx: Context, inst: Instance, stmt: Statement) -> None:
    if stmt.args == ["3"]:
        ctx.note(stmt, "down_timer_adverts: 3 is what vrrpd always uses")
    else:
        inst.strict_resets.append(
            (stmt, "down_timer_adverts: vrrpd always waits 3 adverts (RFC 9568); raise advert_interval instead")
        )


def _strict_reset(ctx: Context, inst: Instance, stmt: Statement) -> None:
    """A keyword vrrpd has no form for, which keepalived resets in strict mode (so it then maps faithfully)."""
    inst.strict_resets.append((stmt, f"{stmt.keyword}: {INSTANCE_UNMAPPED[stmt.keyword]}"))


def _track_script(ctx: Context, inst: Instance, stmt: Statement) -> None:
    inst.track_scripts += ctx.tracker_refs(stmt, inst.track_scripts)


def _track_interface(ctx: Context, inst: Instance, stmt: Statement) -> None:
    inst.track_interfaces += ctx.tracker_refs(stmt, inst.track_interfaces)


def _notify(ctx: Context, inst: Instance, stmt: Statement) -> None:
    remember_hook(ctx, inst.hooks, f"vrrp_instance {inst.name}", stmt)


KEYWORD_HANDLERS: dict[str, Callable[[Context, Instance, Statement], None]] = {
    "interface": _interface,
    "virtual_router_id": _vrid,
    "priority": _priority,
    "state": _state,
    "advert_int": _advert_int,
    "version": _version,
    "nopreempt": _nopreempt,
    "preempt_delay": _preempt_delay,
    "accept": _accept,
    "no_accept": _accept,
    "virtual_ipaddress": _virtual_ipaddress,
    "virtual_ipaddress_excluded": lambda ctx, inst, stmt: routes.read_excluded(
        ctx, inst, stmt, _address, _address_options
    ),
    "virtual_routes": routes.read_routes,
    "virtual_rules": routes.read_rules,
    "authentication": _authentication,
    "use_vmac": _use_vmac,
    "v3_checksum_as_v2": _checksum_as_v2,
    "lower_prio_no_advert": _lower_prio_no_advert,
    "strict_mode": _strict_mode,
    "garp_master_delay": _garp,
    "garp_master_repeat": _garp,
    "garp_master_refresh": _garp,
    "garp_master_refresh_repeat": _garp,
    "higher_prio_send_advert": _higher_prio_send_advert,
    "down_timer_adverts": _down_timer_adverts,
    "garp_lower_prio_delay": _strict_reset,
    "garp_lower_prio_repeat": _strict_reset,
    "vmac_xmit_base": _strict_reset,
    "track_script": _track_script,
    "track_interface": _track_interface,
    "track_file": track_files.read_instance_list,
    **dict.fromkeys(unicast.KEYWORDS, unicast.read_keyword),
    **dict.fromkeys(HOOK_KEYS, _notify),
}
"""vrrp_instance keyword -> its handler; keywords not here are looked up in the tables (unmapped, ignored)."""
