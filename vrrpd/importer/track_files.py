"""keepalived `track_file` / `vrrp_track_file` blocks and per-instance `track_file` lists -> vrrpd `track_files`.

keepalived 2.2.7's behaviour, measured in a lab (netns, adverts captured on the wire; weight -10, priority 200):
a missing file, an empty one and `garbage` all read as 0; `0x2` reads as 2 and `4 junk` as 4 (a C strtol prefix);
value x weight below -253 puts the instance in FAULT (documented in keepalived.conf(5) too). The file is
watched with inotify, so a change applies at once.

The mapping: `file` -> `path`; a missing or unreadable file -> `on_missing: {value: 0}` (what keepalived does,
said in a note so the reader can choose `fault`); `init_file [V] [overwrite]` -> `init: {value: V, overwrite:
true}`; the weight (the instance's, else the block's, else 1) -> `weight`, or weight 0 -> `on_failure: fault`;
`reverse` negates the weight, exactly as keepalived applies it. vrrpd reads strictly (hex and trailing text
count as unreadable, so they get on_missing's 0) and clamps value x weight instead of faulting below -253:
both are notes, since ordinary values behave the same.
"""

from __future__ import annotations

from typing import Any

from vrrpd.importer.model import Context, Instance, TrackFile, tracked_definition, unused_reason
from vrrpd.importer.render import flow
from vrrpd.importer.syntax import Statement
from vrrpd.protocol.constants import MAX_WEIGHT

_VALUE_LIMIT = 10**15
"""The largest init value vrrpd's config accepts, either sign (its bound for track file values)."""
_BLOCK_WEIGHT_LIMIT = 2**31 - 1
"""keepalived's bounds for a track_file block's weight (vrrpd's -253..253 applies later, with a warning)."""
_ENTRY_WEIGHT_LIMIT = 254
"""keepalived's bound for the weight of an instance's track_file entry (vrrpd's -253..253 applies later, with a
warning)."""


def read_block(ctx: Context, stmt: Statement) -> None:
    """A top-level `track_file NAME { file PATH; weight W [reverse]; init_file [V] [overwrite] }`."""
    name = ctx.definition_name(stmt)
    if name is None:
        return
    tf = TrackFile(name, stmt)
    assert stmt.block is not None
    for sub in stmt.block:
        key = sub.keyword
        if key == "file":
            tf.path = sub.args[0] if sub.args else None
        elif key == "weight":
            weight, tf.reverse = ctx.definition_weight(sub, _BLOCK_WEIGHT_LIMIT)
            if weight is not None:
                tf.weight = weight
        elif key == "init_file":
            args = list(sub.args)
            tf.overwrite = "overwrite" in args
            values = [a for a in args if a != "overwrite"]
            tf.init = 0
            if values:
                try:
                    tf.init = int(values[0], 10)
                except ValueError:
                    ctx.warn(sub, f"init_file: {values[0]!r} is not a whole number; 0 is written instead")
                if not -_VALUE_LIMIT <= tf.init <= _VALUE_LIMIT:
                    ctx.warn(sub, f"init_file: {tf.init} is too large for vrrpd; 0 is written instead")
                    tf.init = 0
        else:
            ctx.unknown(sub, f"{stmt.keyword} {tf.name}")
    if tf.path is None:
        ctx.warn(stmt, f"{stmt.keyword} {tf.name}: has no file line; keepalived ignores it, so does the import")
        return
    if not tf.path.startswith("/"):
        ctx.warn(
            stmt, f"{stmt.keyword} {tf.name}: file {tf.path!r} is relative; vrrpd needs an absolute path (ignored)"
        )
        return
    ctx.track_files[tf.name] = tf


def read_instance_list(ctx: Context, inst: Instance, stmt: Statement) -> None:
    """An instance's `track_file { NAME [weight W] [reverse|noreverse] }`; resolved in `instance_out`."""
    inst.track_files += ctx.tracker_refs(stmt, inst.track_files, _ENTRY_WEIGHT_LIMIT)


def instance_out(ctx: Context, inst: Instance) -> list[dict[str, Any]]:
    """The instance's `track_files` list (and marks the definitions used)."""
    entries: list[dict[str, Any]] = []
    for ref in inst.track_files:
        found = tracked_definition(ctx, ctx.track_files, "track_file", ref, "track_file block")
        if found is None:
            continue
        tf, weight, reverse = found
        name, at = ref.name, ref.at
        if inst.sync_group is not None and weight != 0:
            weight = _member_weight(ctx, inst.sync_group, name, weight, at)
            if weight is None:
                continue
        if weight == 0 and reverse:
            ctx.warn(
                at,
                f"track_file {name}: weight 0 reverse (fault while the value is 0) has no vrrpd form; not imported",
            )
            continue
        if reverse:
            ctx.note(at, f"track_file {name}: reverse: keepalived negates the weight; mapped to weight {-weight}")
            weight = -weight
        if weight == 0:
            entry: dict[str, Any] = {"name": name, "on_failure": "fault"}
        elif abs(weight) > MAX_WEIGHT:
            clamped = MAX_WEIGHT if weight > 0 else -MAX_WEIGHT
            ctx.warn(
                at,
                f"track_file {name}: weight {weight} is outside vrrpd's -{MAX_WEIGHT}..{MAX_WEIGHT}; imported as "
                f"{clamped}"
                + (" (keepalived would go to FAULT at value 1; add on_failure: fault)" if weight < 0 else ""),
            )
            entry = {"name": name, "weight": clamped}
        else:
            entry = {"name": name, "weight": weight}
        if not tf.used:
            tf.used = True
            ctx.note(
                tf.at,
                f"{tf.at.keyword} {name}: keepalived reads a missing, empty or non-numeric file as 0; mapped to "
                "on_missing: {value: 0} (on_missing: fault makes a deleted file fault the instance instead)",
            )
            ctx.note(
                tf.at,
                f"{tf.at.keyword} {name}: vrrpd polls the file every second (keepalived reacts at once via "
                "inotify), reads only a plain decimal integer (keepalived also takes 0x2 and '4 junk'), and "
                "clamps value x weight to -253..253 where keepalived goes to FAULT below -253",
            )
        if not ctx.tracking:
            ctx.warn(at, f"track_file {name}: this vrrpd cannot track files; would map to track_files: [{flow(entry)}]")
            continue
        entries.append(entry)
    return entries


def _member_weight(ctx: Context, group: str, name: str, weight: int, at: Statement) -> int | None:
    """The weight a sync group member's track_file keeps: keepalived 2.2.7 (vrrp.c, vrrp_complete_instance)
    turns the default weight 1 into 0 and drops any other weight unless the group has sync_group_tracking_weight,
    which vrrpd refuses. None (after a message): not imported."""
    if group in ctx.weighted_groups:
        ctx.warn(
            at,
            f"track_file {name} weight {weight}: sync_group_tracking_weight makes keepalived apply this weight to a "
            f"member of {group}, but vrrpd refuses weights on sync group members; not imported: use weight 0 "
            "(on_failure: fault) to move the whole group",
        )
        return None
    if weight == 1:
        ctx.note(
            at,
            f"track_file {name}: keepalived turns weight 1 of a sync group member ({group}) into weight 0 "
            '("ignoring weight from tracked file ... specify weight 0"): fault while the value is not 0; '
            "mapped to on_failure: fault",
        )
        return 0
    ctx.note(
        at,
        f"track_file {name} weight {weight}: keepalived ignores weighted tracked files of sync group members "
        f"({group}) and vrrpd refuses them; not imported, so the behaviour is keepalived's",
    )
    return None


def section_out(ctx: Context) -> dict[str, Any]:
    """The top-level `track_files` mapping, used definitions only (empty: none, or no tracking support); a note
    for each unused one."""
    out: dict[str, Any] = {}
    for tf in ctx.track_files.values():
        if not tf.used:
            ctx.note(tf.at, f"{tf.at.keyword} {tf.name}: {unused_reason(ctx, 'track_file', tf.name)}; not imported")
            continue
        entry: dict[str, Any] = {"path": tf.path, "on_missing": {"value": 0}}
        if tf.init is not None:
            entry["init"] = {"value": tf.init, **({"overwrite": True} if tf.overwrite else {})}
        out[tf.name] = entry
    return out if ctx.tracking else {}
