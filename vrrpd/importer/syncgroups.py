"""keepalived's `vrrp_sync_group` -> vrrpd's top-level `sync_groups`.

Mapping:
- `group { A B }` -> `members: [A, B]` (renamed as their instances are; members that were not imported are left
  out with a warning, and a group left without members is not imported).
- `track_script` / `track_interface` with weight 0 (keepalived's "fault") -> `on_failure: fault` group trackers.
  A non-zero weight cannot be imported: vrrpd's group trackers only fault the group (a warning says so).
- Weighted trackers of *member* instances: keepalived ignores weighted scripts (it logs "ignoring tracked script
  with weights due to SYNC group"), so leaving them out is faithful (a note); it keeps a weighted interface as
  weight 0, a fault tracker, and so does the import (`tracking`); with `sync_group_tracking_weight` (or the
  deprecated `global_tracking`) keepalived applies them, which vrrpd refuses, so that is a warning.
- `notify_master/backup/fault/stop` and `notify` of a group -> the group's `notify:` (on_master ... notify),
  converted as an instance's (`hooks.hooks_out`): the generic notify gets GROUP NAME STATE 0 in both.
  `notify_priority_changes` (keepalived accepts it in a group) has no equivalent: warned. `smtp_alert`: noted.
"""

from __future__ import annotations

from typing import Any

from vrrpd.importer.hooks import hooks_out, remember_hook
from vrrpd.importer.model import Context, Group, Instance, TrackerRef, tracked_definition, vrrpd_name
from vrrpd.importer.syntax import Statement
from vrrpd.importer.tables import GROUP_NOTIFY_UNMAPPED, GROUP_UNMAPPED_TRACKERS, HOOK_KEYS
from vrrpd.importer.tracking import tracker


def read_group(ctx: Context, stmt: Statement) -> None:
    """One `vrrp_sync_group` block; remembers which instance is in which group (`ctx.group_of`)."""
    name = stmt.args[0] if stmt.args else "?"
    group = Group(name, stmt)
    assert stmt.block is not None
    for sub in stmt.block:
        if sub.keyword == "group" and sub.block is not None:
            group.members += [(word, m) for m in sub.block for word in (m.keyword, *m.args)]
        elif sub.keyword == "track_script":
            group.track_scripts += ctx.tracker_refs(sub, group.track_scripts)
        elif sub.keyword == "track_interface":
            group.track_interfaces += ctx.tracker_refs(sub, group.track_interfaces)
        elif sub.keyword in GROUP_UNMAPPED_TRACKERS:
            ctx.warn(
                sub, f"vrrp_sync_group {name}: {sub.keyword}: {GROUP_UNMAPPED_TRACKERS[sub.keyword]}; not imported"
            )
        elif sub.keyword in HOOK_KEYS:
            remember_hook(ctx, group.hooks, f"vrrp_sync_group {name}", sub)
        elif sub.keyword.startswith("notify"):
            ctx.warn(sub, f"vrrp_sync_group {name}: {sub.keyword}: {GROUP_NOTIFY_UNMAPPED}")
        elif sub.keyword == "smtp_alert":
            ctx.note(sub, f"vrrp_sync_group {name}: smtp_alert: ignored: vrrpd sends no e-mail; use the journal")
        elif sub.keyword in ("sync_group_tracking_weight", "global_tracking"):
            ctx.weighted_groups.add(name)
            ctx.note(
                sub,
                f"vrrp_sync_group {name}: {sub.keyword}: vrrpd refuses weighted trackers on sync group members; "
                "each one gets its own message",
            )
        else:
            ctx.unknown(sub, f"vrrp_sync_group {name}")
    for member, at in group.members:
        if member in ctx.group_of:
            ctx.warn(at, f"vrrp_sync_group {name}: {member} is already in sync group {ctx.group_of[member]}; left out")
        else:
            ctx.group_of[member] = name
    ctx.groups.append(group)


def section_out(ctx: Context, instances: list[Instance], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The `sync_groups` section for the instances that were imported (empty: no section)."""
    imported = {out["name"] for out in outputs}
    names = {inst.stmt.args[0]: inst.name for inst in instances if inst.stmt.args and inst.name in imported}
    section: dict[str, Any] = {}
    for group in ctx.groups:
        members: list[str] = []
        for raw, at in group.members:
            if ctx.group_of.get(raw) != group.name:
                continue
            if raw not in names:
                ctx.warn(at, f"vrrp_sync_group {group.name}: {raw} is not an imported vrrp_instance; left out")
            elif names[raw] not in members:
                members.append(names[raw])
        if not members:
            ctx.warn(group.stmt, f"vrrp_sync_group {group.name}: no member was imported; group not imported")
            continue
        out: dict[str, Any] = {"members": members}
        scripts = [_group_tracker(ctx, group, "track_script", ref) for ref in group.track_scripts]
        interfaces = [_group_tracker(ctx, group, "track_interface", ref) for ref in group.track_interfaces]
        if any(scripts):
            out["track_scripts"] = [s for s in scripts if s]
        if any(interfaces):
            out["track_interfaces"] = [i for i in interfaces if i]
        hooks = hooks_out(ctx, group.hooks, "vrrp_sync_group", group.name, group.stmt)
        if hooks is not None:
            out["notify"] = hooks
        name = vrrpd_name(group.name, "group")
        if name != group.name:
            hooks_see = f"; its notify script gets GROUP {name}" if "notify" in out else ""
            ctx.note(
                group.stmt,
                f"vrrp_sync_group {group.name!r}: renamed {name!r} (vrrpd names use A-Z a-z 0-9 _ . -){hooks_see}",
            )
        section[name] = out
    return section


def _group_tracker(ctx: Context, group: Group, keyword: str, ref: TrackerRef) -> dict[str, Any] | None:
    weight, reverse = ref.weight, ref.reverse
    if keyword == "track_script":
        found = tracked_definition(ctx, ctx.scripts, keyword, ref, "vrrp_script")
        if found is None:
            return None
        script, weight, reverse = found
        script.used = True
    if weight:
        ctx.warn(
            ref.at,
            f"vrrp_sync_group {group.name}: {keyword} {ref.name} weight {weight}: vrrpd's group trackers can only "
            "fault the group (on_failure: fault), which has no priority of its own; not imported",
        )
        return None
    return tracker(ctx, keyword, ref.name, 0, reverse, ref.at)
