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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vrrpd.importer.render import flow
from vrrpd.importer.syntax import Statement
from vrrpd.protocol.constants import MAX_WEIGHT

if TYPE_CHECKING:
    from vrrpd.importer.convert import _Converter, _Instance

_VALUE_LIMIT = 10**15  # vrrpd.config.track_files.VALUE_LIMIT


@dataclass
class TrackFile:
    name: str
    at: Statement
    path: str | None = None
    weight: int = 1
    """keepalived's default weight for a track_file is 1."""
    reverse: bool = False
    init: int | None = None
    overwrite: bool = False
    used: bool = False
    users: list[str] = field(default_factory=list)


def definition(c: _Converter, stmt: Statement) -> None:
    """A top-level `track_file NAME { file PATH; weight W [reverse]; init_file [V] [overwrite] }`."""
    if not stmt.args:
        c.warn(stmt, f"{stmt.keyword}: has no name; ignored")
        return
    tf = TrackFile(stmt.args[0], stmt)
    assert stmt.block is not None
    for sub in stmt.block:
        key = sub.keyword
        if key == "file":
            tf.path = sub.args[0] if sub.args else None
        elif key == "weight":
            weight = c.integer(sub, -2147483647, 2147483647)
            if weight is not None:
                tf.weight = weight
            tf.reverse = "reverse" in sub.args[1:]
        elif key == "init_file":
            args = list(sub.args)
            tf.overwrite = "overwrite" in args
            values = [a for a in args if a != "overwrite"]
            tf.init = 0
            if values:
                try:
                    tf.init = int(values[0], 10)
                except ValueError:
                    c.warn(sub, f"init_file: {values[0]!r} is not a whole number; 0 is written instead")
                if not -_VALUE_LIMIT <= tf.init <= _VALUE_LIMIT:
                    c.warn(sub, f"init_file: {tf.init} is too large for vrrpd; 0 is written instead")
                    tf.init = 0
        else:
            c.unknown(sub, f"{stmt.keyword} {tf.name}")
    if tf.path is None:
        c.warn(stmt, f"{stmt.keyword} {tf.name}: has no file line; keepalived ignores it, so does the import")
        return
    if not tf.path.startswith("/"):
        c.warn(stmt, f"{stmt.keyword} {tf.name}: file {tf.path!r} is relative; vrrpd needs an absolute path (ignored)")
        return
    c.track_files[tf.name] = tf


def instance_list(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    """An instance's `track_file { NAME [weight W] [reverse|noreverse] }`; resolved in `output`."""
    from vrrpd.importer.convert import _weight  # here, not at the top: convert imports this module

    for entry in c.block(stmt) or []:
        weight, reverse = _weight(c, entry, 254)
        inst.track_files.append((entry.keyword, weight, reverse, entry))


def output(c: _Converter, inst: _Instance) -> list[dict[str, Any]]:
    """The instance's `track_files` list (and marks the definitions used)."""
    entries: list[dict[str, Any]] = []
    for name, weight, reverse, at in inst.track_files:
        tf = c.track_files.get(name)
        if tf is None:
            c.warn(at, f"track_file {name}: no track_file block of that name (keepalived ignores it); not imported")
            continue
        if weight is None:
            weight, reverse = tf.weight, reverse or tf.reverse
        if weight == 0 and reverse:
            c.warn(
                at,
                f"track_file {name}: weight 0 reverse (fault while the value is 0) has no vrrpd form; not imported",
            )
            continue
        if reverse:
            c.note(at, f"track_file {name}: reverse: keepalived negates the weight; mapped to weight {-weight}")
            weight = -weight
        if weight == 0:
            entry: dict[str, Any] = {"name": name, "on_failure": "fault"}
        elif abs(weight) > MAX_WEIGHT:
            clamped = MAX_WEIGHT if weight > 0 else -MAX_WEIGHT
            c.warn(
                at,
                f"track_file {name}: weight {weight} is outside vrrpd's -{MAX_WEIGHT}..{MAX_WEIGHT}; imported as "
                f"{clamped}"
                + (" (keepalived would go to FAULT at value 1; add on_failure: fault)" if weight < 0 else ""),
            )
            entry = {"name": name, "weight": clamped}
        else:
            entry = {"name": name, "weight": weight}
        if inst.sync_group is not None and inst.sync_group not in c.weighted_groups and "weight" in entry:
            c.warn(
                at,
                f"track_file {name}: keepalived IGNORES weighted trackers of sync group members "
                f"({inst.sync_group}); vrrpd will apply weight {entry['weight']}. Drop it if you relied on that",
            )
        if not tf.used:
            tf.used = True
            c.note(
                tf.at,
                f"{tf.at.keyword} {name}: keepalived reads a missing, empty or non-numeric file as 0; mapped to "
                "on_missing: {value: 0} (on_missing: fault makes a deleted file fault the instance instead)",
            )
            c.note(
                tf.at,
                f"{tf.at.keyword} {name}: vrrpd polls the file every second (keepalived reacts at once via "
                "inotify), reads only a plain decimal integer (keepalived also takes 0x2 and '4 junk'), and "
                "clamps value x weight to -253..253 where keepalived goes to FAULT below -253",
            )
        if not c.tracking:
            c.warn(at, f"track_file {name}: this vrrpd cannot track files; would map to track_files: [{flow(entry)}]")
            continue
        entries.append(entry)
    return entries


def top_level(c: _Converter) -> dict[str, Any]:
    """The top-level `track_files` mapping, used definitions only; a note for each unused one."""
    out: dict[str, Any] = {}
    for tf in c.track_files.values():
        if not tf.used:
            c.note(tf.at, f"{tf.at.keyword} {tf.name}: no instance tracks it; not imported")
            continue
        entry: dict[str, Any] = {"path": tf.path, "on_missing": {"value": 0}}
        if tf.init is not None:
            entry["init"] = {"value": tf.init, **({"overwrite": True} if tf.overwrite else {})}
        out[tf.name] = entry
    return out
