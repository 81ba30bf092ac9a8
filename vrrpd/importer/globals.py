"""keepalived's `global_defs` -> `Context.globals`, the defaults every instance starts from.

Only the VRRP keywords change the output (version, strict mode, checksum, lower-priority adverts, GARP timing,
the script user); the rest are recognised so that each gets its own note or warning (see `tables`).
"""

from __future__ import annotations

from vrrpd.importer.model import Context, Garp
from vrrpd.importer.syntax import Statement
from vrrpd.importer.tables import GLOBAL_IGNORED, GLOBAL_UNMAPPED
from vrrpd.importer.unicast import CHECK_SRC_NOTE

STRICT_RESET_GLOBALS = (
    "vrrp_garp_lower_prio_repeat",
    "vrrp_garp_lower_prio_delay",
    "vrrp_higher_prio_send_advert",
    "vrrp_down_timer_adverts",
)
"""global_defs keywords whose value keepalived 2.2.7 resets in each strict-mode instance (vrrp.c,
vrrp_complete_instance)."""

_GARP_KEYWORDS = {
    "garp_master_delay": ("delay", float, 0, 3600),
    "garp_master_repeat": ("repeat", int, 1, 100),
    "garp_master_refresh": ("refresh", float, 0, 86400),
    "garp_master_refresh_repeat": ("refresh_repeat", int, 1, 100),
    "garp_interval": ("interval", float, 0, 10),
    "gna_interval": ("gna_interval", float, 0, 10),
}
"""GARP keyword (global ones without their `vrrp_` prefix) -> (`Garp` attribute, its type, keepalived's bounds)."""


def read_global_defs(ctx: Context, stmt: Statement) -> None:
    """A `global_defs { ... }` block (each one in the file is read, in order)."""
    assert stmt.block is not None
    for sub in stmt.block:
        _read_global(ctx, sub)


def _read_global(ctx: Context, stmt: Statement) -> None:
    g, key = ctx.globals, stmt.keyword
    if key == "vrrp_version":
        value = ctx.integer(stmt, 2, 3)
        if value is not None:
            g.version, g.version_at = value, stmt
    elif key == "vrrp_strict":
        g.strict, g.strict_at = True, stmt
    elif key == "v3_checksum_as_v2":
        g.checksum_as_v2 = bool(ctx.flag(stmt))
    elif key == "vrrp_lower_prio_no_advert":
        g.lower_prio_no_advert = ctx.flag(stmt)
    elif key.startswith("vrrp_") and key.removeprefix("vrrp_") in _GARP_KEYWORDS:
        read_garp(ctx, g.garp, stmt, key.removeprefix("vrrp_"))
    elif key == "script_user":
        user = ctx.arg(stmt)
        if user is not None:
            g.script_user = user
            if len(stmt.args) > 1:
                ctx.warn(
                    stmt,
                    f"script_user: vrrpd runs a script with the user's primary group; group "
                    f"{stmt.args[1]} is not imported",
                )
    elif key == "vrrp_check_unicast_src":
        g.check_unicast_src = True
        ctx.note(stmt, f"{key}: {CHECK_SRC_NOTE}")
    elif key == "vrrp_min_garp":
        if ctx.flag(stmt):
            g.garp.repeat, g.garp.delay, g.garp.refresh = 1, 0.0, 0.0
    elif key in GLOBAL_IGNORED:
        ctx.note(stmt, f"{key}: ignored: {GLOBAL_IGNORED[key]}")
    elif key in GLOBAL_UNMAPPED:
        if key == "vrrp_down_timer_adverts" and stmt.args == ["3"]:
            ctx.note(stmt, f"{key}: 3 is what vrrpd always uses")
        elif key in STRICT_RESET_GLOBALS and (key != "vrrp_higher_prio_send_advert" or ctx.flag(stmt)):
            # keepalived resets these in every strict-mode instance: convert decides once the instances are known
            g.strict_resets.append((stmt, f"{key}: not supported: {GLOBAL_UNMAPPED[key]}"))
        else:
            ctx.warn(stmt, f"{key}: not supported: {GLOBAL_UNMAPPED[key]}")
    elif key.startswith("vrrp_netlink_"):
        ctx.note(stmt, f"{key}: ignored: vrrpd sizes its netlink buffers itself")
    elif key.startswith(("lvs_", "checker_", "smtp_", "bfd_", "snmp_", "dbus_", "notification_")):
        ctx.note(stmt, f"{key}: ignored: not VRRP")
    else:
        ctx.unknown(stmt, "global_defs")


def read_garp(ctx: Context, garp: Garp, stmt: Statement, keyword: str) -> None:
    """A GARP keyword of global_defs or of an instance (`keyword` without `vrrp_`); out of bounds is ignored."""
    attribute, kind, lo, hi = _GARP_KEYWORDS[keyword]
    value = ctx.integer(stmt, lo, hi) if kind is int else ctx.number(stmt, lo, hi)
    if value is None:
        return
    setattr(garp, attribute, value)
    if attribute == "refresh_repeat":
        garp.refresh_repeat_at = stmt  # the warning that vrrpd has no such setting points here
