"""An instance's `track_script` / `track_interface` lists -> its `track_scripts` / `track_interfaces` (and, through
`track_files`, its `track_files`), and the one tracker entry sync groups share.

keepalived's weights: 0 = fault while failing; > 0 added while OK; < 0 subtracted while failing. vrrpd has the
same, written `on_failure: fault` for 0; `reverse` has no vrrpd form. keepalived ignores weighted scripts of sync
group members and makes their weighted interfaces fault trackers (unless the group has sync_group_tracking_weight,
whose weights vrrpd refuses).
"""

from __future__ import annotations

from typing import Any

from vrrpd.importer import track_files
from vrrpd.importer.model import Context, Instance, tracked_definition
from vrrpd.importer.render import flow
from vrrpd.importer.scripts import script_out
from vrrpd.importer.syntax import Statement

_ENTRY_KEYS = {"track_script": ("name", "track_scripts"), "track_interface": ("interface", "track_interfaces")}
"""keepalived list keyword -> (the key naming the tracker in vrrpd's entry, vrrpd's list key)."""


def tracker(ctx: Context, keyword: str, name: str, weight: int, reverse: bool, at: Statement) -> dict[str, Any] | None:
    """The vrrpd entry for one tracker of a `keyword` list; None (after a warning) when it cannot be imported."""
    if reverse:
        ctx.warn(at, f"{keyword} {name}: reverse is not supported by vrrpd; invert the check itself (not imported)")
        return None
    key, section = _ENTRY_KEYS[keyword]
    entry: dict[str, Any] = {key: name}
    if weight == 0:
        entry["on_failure"] = "fault"
        meaning = "the instance goes to fault while it fails"
    else:
        entry["weight"] = weight
        meaning = f"priority +{weight} while it is OK" if weight > 0 else f"priority {weight} while it fails"
    if not ctx.tracking:
        ctx.warn(at, f"{keyword} {name}: vrrpd cannot track yet ({meaning}); would map to {section}: [{flow(entry)}]")
        return None
    return entry


def member_weight(ctx: Context, inst: Instance, keyword: str, name: str, weight: int, at: Statement) -> None:
    """A weighted tracker of a sync group member: never imported; say whether keepalived used it."""
    group = inst.sync_group
    if group in ctx.weighted_groups:
        ctx.warn(
            at,
            f"{keyword} {name} weight {weight}: sync_group_tracking_weight makes keepalived apply this weight to "
            f"a member of {group}, but vrrpd refuses weights on sync group members (a weight moves one member's "
            "priority alone); not imported: use weight 0 (on_failure: fault) to move the whole group",
        )
    else:
        ctx.note(
            at,
            f"{keyword} {name} weight {weight}: keepalived ignores weighted trackers of sync group members "
            f"({group}) and vrrpd refuses them; not imported, so the behaviour is keepalived's",
        )


def tracking_out(ctx: Context, inst: Instance, out: dict[str, Any]) -> None:
    """Add the instance's tracker lists to `out` (an instance being written); without tracking support, a warning
    for each instead."""
    scripts = _scripts_out(ctx, inst)
    interfaces = _interfaces_out(ctx, inst)
    files = track_files.instance_out(ctx, inst)
    if not ctx.tracking:
        _describe_scripts(ctx, inst)
        return
    if scripts:
        out["track_scripts"] = scripts
    if interfaces:
        out["track_interfaces"] = interfaces
    if files:
        out["track_files"] = files


def _scripts_out(ctx: Context, inst: Instance) -> list[dict[str, Any]]:
    entries = []
    for ref in inst.track_scripts:
        found = tracked_definition(ctx, ctx.scripts, "track_script", ref, "vrrp_script")
        if found is None:
            continue
        script, weight, reverse = found
        if inst.sync_group is not None and weight != 0:
            member_weight(ctx, inst, "track_script", ref.name, weight, ref.at)
            continue
        script.used = True
        entry = tracker(ctx, "track_script", ref.name, weight, reverse, ref.at)
        if entry is not None:
            entries.append(entry)
    return entries


def _interfaces_out(ctx: Context, inst: Instance) -> list[dict[str, Any]]:
    entries = []
    for name, given_weight, reverse, at in inst.track_interfaces:
        weight = given_weight or 0  # keepalived's default for an interface: fault while it is down
        if name == inst.interface:
            if weight == 0:
                ctx.note(
                    at,
                    f"track_interface {name}: the instance's own interface; vrrpd always tracks it "
                    "(down = fault), so it is not listed",
                )
            else:
                ctx.warn(
                    at,
                    f"track_interface {name} weight {weight}: the instance's own interface always "
                    "faults the instance in vrrpd when it goes down; the weight is not imported",
                )
            continue
        if inst.sync_group is not None and weight != 0:
            if inst.sync_group in ctx.weighted_groups:
                member_weight(ctx, inst, "track_interface", name, weight, at)
                continue
            ctx.note(
                at,
                f"track_interface {name} weight {weight}: keepalived sets the weight of a sync group member's "
                f'({inst.sync_group}) tracked interface to 0 ("ignoring weight ... due to SYNC group"): fault '
                "while it is down; mapped to on_failure: fault",
            )
            weight = 0
        entry = tracker(ctx, "track_interface", name, weight, reverse, at)
        if entry is not None:
            entries.append(entry)
    return entries


def _describe_scripts(ctx: Context, inst: Instance) -> None:
    """Without tracking support, show once per script the top-level entry it would get."""
    for ref in inst.track_scripts:
        script = ctx.scripts.get(ref.name)
        if script is not None and ref.name not in ctx.described_scripts:
            ctx.described_scripts.add(ref.name)
            ctx.warn(
                script.at,
                f"vrrp_script {ref.name}: vrrpd cannot run track scripts yet; would map to top-level "
                f"track_scripts: {{{ref.name}: {flow(script_out(ctx, script))}}}",
            )
