"""keepalived's `vrrp_sync_group` -> vrrpd's top-level `sync_groups` (see vrrpd/config_syncgroups.py).

Mapping:
- `group { A B }` -> `members: [A, B]` (renamed as their instances are; members that were not imported are left
  out with a warning, and a group left without members is not imported).
- `track_script` / `track_interface` with weight 0 (keepalived's "fault") -> `on_failure: fault` group trackers.
  A non-zero weight cannot be imported: vrrpd's group trackers only fault the group (a warning says so).
- Weighted trackers of *member* instances: keepalived ignores them (it logs "ignoring tracked script with
  weights due to SYNC group"), so leaving them out is faithful (a note); with `sync_group_tracking_weight` (or the
  deprecated `global_tracking`) keepalived applies them, which vrrpd refuses, so that is a warning.
- `notify_master/backup/fault/stop` and `notify` of a group -> the group's `notify:` (on_master ... notify),
  converted as an instance's (`_Converter.hooks_out`): the generic notify gets GROUP NAME STATE 0 in both.
  `notify_priority_changes` (keepalived accepts it in a group) has no equivalent: warned. `smtp_alert`: noted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vrrpd.importer.syntax import Statement
from vrrpd.importer.tables import GROUP_NOTIFY_UNMAPPED, GROUP_UNMAPPED_TRACKERS, HOOK_KEYS

if TYPE_CHECKING:
    from vrrpd.importer.convert import _Converter, _Instance


@dataclass
class Group:
    name: str
    stmt: Statement
    members: list[tuple[str, Statement]] = field(default_factory=list)
    track_scripts: list[tuple[str, int | None, bool, Statement]] = field(default_factory=list)
    track_interfaces: list[tuple[str, int, bool, Statement]] = field(default_factory=list)
    hooks: dict[str, Statement] = field(default_factory=dict)
    """keepalived notify keyword -> its statement (the last one given)."""


def read_group(c: _Converter, stmt: Statement) -> None:
    """One `vrrp_sync_group` block; remembers which instance is in which group (`c.sync_groups`)."""
    from vrrpd.importer.convert import _weight

    name = stmt.args[0] if stmt.args else "?"
    group = Group(name, stmt)
    assert stmt.block is not None
    for sub in stmt.block:
        if sub.keyword == "group" and sub.block is not None:
            group.members += [(word, m) for m in sub.block for word in (m.keyword, *m.args)]
        elif sub.keyword in ("track_script", "track_interface"):
            for entry in c.block(sub) or []:
                weight, reverse = _weight(c, entry)
                if sub.keyword == "track_script":
                    group.track_scripts.append((entry.keyword, weight, reverse, entry))
                else:
                    group.track_interfaces.append((entry.keyword, weight or 0, reverse, entry))
        elif sub.keyword in GROUP_UNMAPPED_TRACKERS:
            c.warn(sub, f"vrrp_sync_group {name}: {sub.keyword}: {GROUP_UNMAPPED_TRACKERS[sub.keyword]}; not imported")
        elif sub.keyword in HOOK_KEYS:
            c.remember_hook(group.hooks, f"vrrp_sync_group {name}", sub)
        elif sub.keyword.startswith("notify"):
            c.warn(sub, f"vrrp_sync_group {name}: {sub.keyword}: {GROUP_NOTIFY_UNMAPPED}")
        elif sub.keyword == "smtp_alert":
            c.note(sub, f"vrrp_sync_group {name}: smtp_alert: ignored: vrrpd sends no e-mail; use the journal")
        elif sub.keyword in ("sync_group_tracking_weight", "global_tracking"):
            c.weighted_groups.add(name)
            c.note(
                sub,
                f"vrrp_sync_group {name}: {sub.keyword}: vrrpd refuses weighted trackers on sync group members; "
                "each one gets its own message",
            )
        else:
            c.unknown(sub, f"vrrp_sync_group {name}")
    for member, at in group.members:
        if member in c.sync_groups:
            c.warn(at, f"vrrp_sync_group {name}: {member} is already in sync group {c.sync_groups[member]}; left out")
        else:
            c.sync_groups[member] = name
    c.groups.append(group)


def member_weight(c: _Converter, inst: _Instance, keyword: str, name: str, weight: int, at: Statement) -> None:
    """A weighted tracker of a member: never imported; say whether keepalived used it."""
    group = inst.sync_group
    if group in c.weighted_groups:
        c.warn(
            at,
            f"{keyword} {name} weight {weight}: sync_group_tracking_weight makes keepalived apply this weight to "
            f"a member of {group}, but vrrpd refuses weights on sync group members (a weight moves one member's "
            "priority alone); not imported: use weight 0 (on_failure: fault) to move the whole group",
        )
    else:
        c.note(
            at,
            f"{keyword} {name} weight {weight}: keepalived ignores weighted trackers of sync group members "
            f"({group}) and vrrpd refuses them; not imported, so the behaviour is keepalived's",
        )


def groups_out(c: _Converter, instances: list[_Instance], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The `sync_groups` section for the instances that were imported (empty: no section)."""
    imported = {out["name"] for out in outputs}
    names = {inst.stmt.args[0]: inst.name for inst in instances if inst.stmt.args and inst.name in imported}
    result: dict[str, Any] = {}
    for group in c.groups:
        members: list[str] = []
        for raw, at in group.members:
            if c.sync_groups.get(raw) != group.name:
                continue
            if raw not in names:
                c.warn(at, f"vrrp_sync_group {group.name}: {raw} is not an imported vrrp_instance; left out")
            elif names[raw] not in members:
                members.append(names[raw])
        if not members:
            c.warn(group.stmt, f"vrrp_sync_group {group.name}: no member was imported; group not imported")
            continue
        out: dict[str, Any] = {"members": members}
        scripts = [_tracker(c, group, "track_script", "name", *entry) for entry in group.track_scripts]
        interfaces = [_tracker(c, group, "track_interface", "interface", *entry) for entry in group.track_interfaces]
        if any(scripts):
            out["track_scripts"] = [s for s in scripts if s]
        if any(interfaces):
            out["track_interfaces"] = [i for i in interfaces if i]
        hooks = c.hooks_out(group.hooks, "vrrp_sync_group", group.name, group.stmt)
        if hooks is not None:
            out["notify"] = hooks
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", group.name) or "group"
        if name != group.name:
            hooks_see = f"; its notify script gets GROUP {name}" if "notify" in out else ""
            c.note(
                group.stmt,
                f"vrrp_sync_group {group.name!r}: renamed {name!r} (vrrpd names use A-Z a-z 0-9 _ . -){hooks_see}",
            )
        result[name] = out
    return result


def _tracker(
    c: _Converter, group: Group, keyword: str, key: str, name: str, weight: int | None, reverse: bool, at: Statement
) -> dict[str, Any] | None:
    if keyword == "track_script":
        script = c.scripts.get(name)
        if script is None:
            c.warn(at, f"track_script {name}: no vrrp_script of that name (keepalived ignores it); not imported")
            return None
        if weight is None:
            weight, reverse = script.weight, reverse or script.reverse
        script.used = True
    if weight:
        c.warn(
            at,
            f"vrrp_sync_group {group.name}: {keyword} {name} weight {weight}: vrrpd's group trackers can only fault "
            "the group (on_failure: fault), which has no priority of its own; not imported",
        )
        return None
    return c.tracker(keyword, key, name, 0, reverse, None, at)
