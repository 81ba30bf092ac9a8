"""YAML top-level `sync_groups:` -> `SyncGroupConfig`, checked against the instances (issue #5 point 5).

```yaml
sync_groups:
  web:                                  # name -> group
    members: [web4, web6]               # instance names; each in at most one group
    track_scripts:                      # optional: group trackers, on_failure: fault only
      - {name: chk_haproxy, on_failure: fault}
    track_interfaces:
      - {interface: bond0, on_failure: fault}
    notify:                             # optional: group hooks, the same keys as an instance's notify:
      on_master: /usr/local/bin/web-up
      notify: /etc/keepalived/notify.sh # gets GROUP web MASTER 0 appended, as keepalived passes it
```

Decisions:
- A weighted tracker on a member is an error, never ignored: a weight moves that member's priority alone, and
  a group only preempts when every member wins its own election (vrrpd.protocol.syncgroup), so a positive weight
  could never move the group and a negative one only when it alone crosses the peer's priority on that member.
  keepalived silently ignores these weights (unless `sync_group_tracking_weight`, documented as "probably
  won't work"); its users lost failovers to that (keepalived #2105, #1813).
- A group's own trackers take `on_failure: fault` only: a group has no priority to add a weight to.
- Fewer than two members is allowed with a warning: one member is an ordinary instance plus the group's
  trackers, which may be a step in a migration, not a mistake worth refusing.
- Warnings for member settings that change the whole group: `preempt: false` on some members only (the group
  then never preempts), and an address owner as a member (it waits for the group instead of starting as master).
- Group hooks (`notify:`) are an instance's `notify:` section (vrrpd.config.hooks.parse_hooks): they run on the
  group's own transitions (`GroupStateChanged` from the pure core: MASTER when every member is, FAULT when a
  member or a group tracker is, BACKUP otherwise, STOP when the daemon stops), one at a time in order, in their
  own queue beside the members' hooks; the generic `notify` gets ``GROUP NAME STATE 0`` appended (a group has
  no priority), as keepalived passes it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vrrpd.config.checker import Checker, Loc
from vrrpd.config.errors import clip
from vrrpd.config.hooks import HooksConfig, parse_hooks
from vrrpd.config.instance import InstanceConfig
from vrrpd.config.tracking import trackers
from vrrpd.config.yamlsrc import Map
from vrrpd.protocol.constants import OWNER_PRIORITY
from vrrpd.protocol.tracking import Tracker, TrackerKind

GROUP_KEYS = ("members", "track_scripts", "track_interfaces", "notify")


@dataclass(frozen=True, slots=True)
class SyncGroupConfig:
    """Instances that are Master together or not at all."""

    name: str
    members: tuple[str, ...]
    track_scripts: tuple[Tracker, ...] = ()
    """Scripts (by name, from the top-level `track_scripts`) whose failure holds every member out of Master."""
    track_interfaces: tuple[Tracker, ...] = ()
    line: int = field(default=0, compare=False)
    notify: HooksConfig = field(default_factory=HooksConfig)
    """Hooks run on the group's own transitions (none by default)."""

    @property
    def trackers(self) -> tuple[Tracker, ...]:
        return (*self.track_interfaces, *self.track_scripts)


class _Grouped(Protocol):
    """A `Config` as far as `group_of` needs it (document.py, which defines Config, imports this module)."""

    @property
    def sync_groups(self) -> tuple[SyncGroupConfig, ...]: ...


def group_of(config: _Grouped, instance: str) -> SyncGroupConfig | None:
    for group in config.sync_groups:
        if instance in group.members:
            return group
    return None


def check_sync_groups(
    checker: Checker, doc: Any, top: Loc, instances: Sequence[InstanceConfig]
) -> tuple[SyncGroupConfig, ...]:
    """The `sync_groups` section (empty if absent), after the instances were checked."""
    if "sync_groups" not in doc:
        return ()
    at = top.key(doc, "sync_groups")
    raw_section = doc["sync_groups"]
    # Any group name is a key; a value that is no mapping at all (a number, nothing) gets mapping()'s sentence.
    names = tuple(k for k in raw_section if isinstance(k, str)) if isinstance(raw_section, Map) else ()
    section = checker.mapping(raw_section, at, names)
    by_name = {inst.name: i for i, inst in enumerate(instances)}
    owner: dict[str, SyncGroupConfig] = {}  # the group each instance already belongs to
    groups: list[SyncGroupConfig] = []
    for name in section:
        loc = at.key(section, name)
        checker.name(name, loc)
        raw = checker.mapping(section[name], loc, GROUP_KEYS)
        if "members" not in raw:
            raise checker.error(loc, "missing required key members")
        members_loc = loc.key(raw, "members")
        members = _members(checker, raw["members"], members_loc, list(by_name), owner)
        scripts = _group_trackers(checker, raw, loc, "track_scripts", TrackerKind.SCRIPT)
        interfaces = _group_trackers(checker, raw, loc, "track_interfaces", TrackerKind.INTERFACE)
        notify = parse_hooks(checker, raw["notify"], loc.key(raw, "notify")) if "notify" in raw else HooksConfig()
        group = SyncGroupConfig(name, members, scripts, interfaces, loc.line, notify)
        if len(members) < 2:
            checker.warn(
                members_loc,
                f"sync group {name} has only one member ({members[0]}), so there is nothing to keep in step; "
                "its trackers act like on_failure: fault trackers of that instance",
            )
        for member in members:
            owner[member] = group
            _refuse_member_weights(checker, doc, top, instances[by_name[member]], by_name[member], group)
        _warn_members(checker, members_loc, group, [instances[by_name[m]] for m in members])
        groups.append(group)
    return tuple(groups)


def _members(
    checker: Checker, value: Any, loc: Loc, instances: list[str], owner: dict[str, SyncGroupConfig]
) -> tuple[str, ...]:
    items = checker.sequence(value, loc)
    members: list[str] = []
    for index, item in enumerate(items):
        item_loc = loc.item(items, index)
        member = checker.string(item, item_loc)
        if member not in instances:
            close = difflib.get_close_matches(member, instances, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (instances: {', '.join(instances)})"
            raise checker.error(item_loc, f"{clip(member)} is not the name of an instance{hint}")
        if member in members:
            raise checker.error(item_loc, f"{member!r} is already listed at {loc.path}[{members.index(member)}]")
        if member in owner:
            other = owner[member]
            raise checker.error(
                item_loc,
                f"{member!r} is already a member of sync group {other.name!r} (line {other.line}); an instance "
                "can follow only one group",
            )
        members.append(member)
    return tuple(members)


def _group_trackers(checker: Checker, raw: Map, loc: Loc, key: str, kind: TrackerKind) -> tuple[Tracker, ...]:
    if key not in raw:
        return ()
    key_loc = loc.key(raw, key)
    parsed = trackers(checker, raw[key], key_loc, kind)
    for index, tracker in enumerate(parsed):
        if tracker.weight is not None:
            entry_loc = key_loc.item(raw[key], index)
            raise checker.error(
                entry_loc.key(raw[key][index], "weight"),
                "a sync group's trackers can only fault the group, which has no priority of its own to "
                "add a weight to; use on_failure: fault",
            )
    return parsed


def _refuse_member_weights(
    checker: Checker, doc: Any, top: Loc, inst: InstanceConfig, index: int, group: SyncGroupConfig
) -> None:
    lists = (
        ("track_scripts", inst.track_scripts),
        ("track_interfaces", inst.track_interfaces),
        ("track_files", inst.track_files),
    )
    for key, listed in lists:
        weighted = [i for i, t in enumerate(listed) if t.weight is not None]
        if not weighted:
            continue
        # Point at the weight where it was written: in the instance, or in `defaults` (shared by every instance).
        items = doc["instances"]
        raw = items[index]
        if key in raw:
            where, inherited = top.key(doc, "instances").item(items, index).key(raw, key), ""
            entries = raw[key]
        else:
            where = top.key(doc, "defaults").key(doc["defaults"], key)
            entries = doc["defaults"][key]
            inherited = f" (inherited by instance {inst.name} from defaults)"
        i = weighted[0]
        weight_loc = where.item(entries, i).key(entries[i], "weight")
        raise checker.error(
            weight_loc,
            f"instance {inst.name} is a member of sync group {group.name} (line {group.line}){inherited}, where a "
            "weight cannot work: it moves this member's priority alone, and a group only takes over when every "
            "member wins its own election, so a positive weight never moves the group and a negative one only when "
            "it alone crosses the peer's priority; keepalived silently ignores such weights (unless "
            "sync_group_tracking_weight), vrrpd refuses them: use on_failure: fault, here or in the group's "
            "track_scripts/track_interfaces",
        )


def _warn_members(checker: Checker, loc: Loc, group: SyncGroupConfig, members: list[InstanceConfig]) -> None:
    """Member settings that change what the whole group does, which their authors may not expect."""
    calm = [m.name for m in members if not m.preempt and m.priority != OWNER_PRIORITY]
    if calm and len(calm) < len(members):
        checker.warn(
            loc,
            f"preempt is false on {', '.join(calm)} only, which makes the whole sync group {group.name} "
            "non-preempting: a group takes over from a lower-priority peer only when every member would",
        )
    for owner in (m.name for m in members if m.priority == OWNER_PRIORITY):
        if len(members) > 1:
            checker.warn(
                loc,
                f"{owner} is an address owner (priority 255), which RFC 9568 §6.4.1 makes master at once; in sync "
                f"group {group.name} it waits until every member's own election says master",
            )
