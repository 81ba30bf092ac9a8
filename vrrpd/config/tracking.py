"""Tracking: the top-level ``track_scripts`` (checks defined by name, `ScriptConfig`), every tracker list (an
instance's or a sync group's ``track_scripts``, ``track_interfaces`` and ``track_files``), and the warnings for
trackers that cannot do what their author probably wants.

Each tracker has a non-zero ``weight`` or ``on_failure: fault``, never both and never neither. ``weight: 0`` is an
error: keepalived reads it as "fault on failure", which its users often did not mean. Commands are argv lists (a
string is split like a shell would, with shlex) and are never run through a shell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vrrpd.config.checker import Checker, Loc, Val, number, pick, quote, what
from vrrpd.config.yamlsrc import Map, Seq
from vrrpd.protocol.constants import MAX_PRIORITY, MAX_WEIGHT, MIN_PRIORITY, OWNER_PRIORITY
from vrrpd.protocol.tracking import Tracker, TrackerKind, TrackState, effective_priority

SCRIPT_KEYS = ("command", "interval", "timeout", "rise", "fall", "user", "initial_state")
TRACKER_KEYS = {
    TrackerKind.SCRIPT: ("name", "weight", "on_failure"),
    TrackerKind.INTERFACE: ("interface", "weight", "on_failure"),
    TrackerKind.FILE: ("name", "weight", "on_failure"),
}
"""The keys of one entry of a tracker list of each kind; the first names what is tracked and is required."""
_INITIAL_STATES = ("unknown", "down")
_SECTIONS = {TrackerKind.SCRIPT: "track_scripts", TrackerKind.FILE: "track_files"}
"""The top-level section that defines the names a tracker list of this kind refers to."""
_WEIGHTS = f"-{MAX_WEIGHT}..{MAX_WEIGHT}"
_ELECTION_REFERENCE = 100
"""The default priority (ours and keepalived's): the peer priority a weight warning assumes."""


@dataclass(frozen=True, slots=True)
class ScriptConfig:
    """A check command (top-level `track_scripts`), run every `interval` seconds; exit status 0 = pass."""

    name: str
    command: tuple[str, ...]
    """argv; executed directly, never through a shell."""
    interval: float = 1.0
    """Seconds from the start of one run to the start of the next; a run still going at its next start skips it."""
    timeout: float = 1.0
    """Seconds before the run's process group gets SIGTERM (then SIGKILL); a timeout counts as a failure.
    Default: the interval."""
    rise: int = 1
    """Consecutive passes before the script counts as up."""
    fall: int = 1
    """Consecutive failures before the script counts as down."""
    user: str | None = None
    """Run as this user (and its primary group, no supplementary groups); None = the daemon's own user."""
    initial_state: TrackState = TrackState.UNKNOWN
    """Before the first run: UNKNOWN (no weight applies, and an `on_failure: fault` tracker holds a starting
    instance in FAULT until the first result, which decides at once), or DOWN (keepalived's `init_fail`: counted
    as failed, so it needs `rise` passes to come up)."""
    line: int = field(default=0, compare=False)


def script_section(checker: Checker, value: Any, loc: Loc) -> dict[str, ScriptConfig]:
    """The top-level `track_scripts` mapping -> name -> ScriptConfig."""
    section = checker.name_mapping(value, loc, "script name")
    for key in section:
        checker.string_key(section, key, loc, "script name")
    return {name: _script(checker, name, section[name], loc.key(section, name)) for name in section}


def _script(checker: Checker, name: str, value: Any, loc: Loc) -> ScriptConfig:
    checker.identifier(name, loc, "script name")
    entry = checker.mapping(value, loc, SCRIPT_KEYS)
    if "command" not in entry:
        raise checker.error(loc, "missing required key command")
    argv = checker.command(entry["command"], loc.key(entry, "command"))
    interval = (
        checker.seconds(entry["interval"], loc.key(entry, "interval"), 0.01, 86400) if "interval" in entry else 1.0
    )
    timeout = (
        checker.seconds(entry["timeout"], loc.key(entry, "timeout"), 0.01, 86400) if "timeout" in entry else interval
    )
    rise = checker.integer(entry["rise"], loc.key(entry, "rise"), 1, 100) if "rise" in entry else 1
    fall = checker.integer(entry["fall"], loc.key(entry, "fall"), 1, 100) if "fall" in entry else 1
    user = checker.user_name(entry["user"], loc.key(entry, "user")) if "user" in entry else None
    initial = TrackState.UNKNOWN
    if "initial_state" in entry:
        initial_loc = loc.key(entry, "initial_state")
        if entry["initial_state"] not in _INITIAL_STATES:
            shown = quote(entry["initial_state"], initial_loc)
            raise checker.error(initial_loc, f"{shown} is not one of {', '.join(_INITIAL_STATES)}")
        initial = TrackState(entry["initial_state"])
    return ScriptConfig(name, argv, interval, timeout, rise, fall, user, initial, line=loc.line)


def trackers(checker: Checker, value: Any, loc: Loc, kind: TrackerKind) -> tuple[Tracker, ...]:
    """A tracker list; scripts and files must be defined at the top level, and count as used from here on."""
    if isinstance(value, Seq) and not value:
        return ()
    key = TRACKER_KEYS[kind][0]
    items = checker.sequence(value, loc)
    result: list[Tracker] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        at = loc.item(items, index)
        entry = checker.mapping(item, at, TRACKER_KEYS[kind])
        if key not in entry:
            raise checker.error(at, f"missing required key {key}")
        name_loc = at.key(entry, key)
        if kind is TrackerKind.INTERFACE:
            name = checker.interface(entry[key], name_loc)
        else:
            name = checker.reference(entry[key], name_loc, _SECTIONS[kind])
        if name in seen:
            raise checker.error(name_loc, f"{name!r} is already listed at {loc.path}[{seen[name]}]")
        seen[name] = index
        result.append(Tracker(kind, name, _weight(checker, entry, at, kind)))
    return tuple(result)


def _weight(checker: Checker, entry: Map, at: Loc, kind: TrackerKind) -> int | None:
    """The tracker's weight; None for on_failure: fault."""
    has_weight, has_fault = "weight" in entry, "on_failure" in entry
    if has_weight and has_fault:
        raise checker.error(at.key(entry, "on_failure"), "give either weight or on_failure: fault, not both")
    if not has_weight and not has_fault:
        raise checker.error(at, f"needs weight ({_WEIGHTS}, not 0) or on_failure: fault (there is no default)")
    if not has_weight:
        fault_loc = at.key(entry, "on_failure")
        if entry["on_failure"] != "fault":
            shown = quote(entry["on_failure"], fault_loc)
            raise checker.error(fault_loc, f"{shown} is not supported (only fault; for a priority change use weight)")
        return None
    weight_loc = at.key(entry, "weight")
    raw = entry["weight"]
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise checker.error(weight_loc, f"expected a whole number {_WEIGHTS}, got {what(raw, weight_loc)}")
    if raw == 0:
        raise checker.error(
            weight_loc,
            "weight 0 is not allowed: keepalived reads it as 'fault on failure', which is easy to "
            "miss; write on_failure: fault for that, or give a non-zero weight"
            + (" (for a file: fault while its value is non-zero)" if kind is TrackerKind.FILE else ""),
        )
    if not -MAX_WEIGHT <= raw <= MAX_WEIGHT:
        raise checker.error(
            weight_loc,
            f"{number(raw, weight_loc)} is outside {_WEIGHTS} "
            f"(the effective priority stays within {MIN_PRIORITY}..{MAX_PRIORITY})",
        )
    return raw


def default_is_reference(items: Any, default: Any) -> bool:
    """Whether the weight warnings may assume a peer at the default priority (100). Not when the file shows a
    scheme of its own: two or more instances below the owner's 255, none of them at 100 (e.g. 200 and 190 on an
    active-active pair). One instance alone shows no scheme, so the usual 150/100 pair still gets the warning.
    `items` is the raw instances list, `default` the priority of `defaults:` (None: the built-in 100)."""
    base = default if isinstance(default, int) else _ELECTION_REFERENCE
    priorities = [
        item.get("priority", base) if isinstance(item, dict) else base
        for item in (items if isinstance(items, list) else [])
    ]
    others = [p for p in priorities if p != OWNER_PRIORITY]
    return len(others) < 2 or _ELECTION_REFERENCE in others


def check_tracking(checker: Checker, vals: dict[str, Val], loc: Loc, default_reference: bool = True) -> None:
    """Warnings for an instance's trackers that cannot do what their author probably wants (`default_reference`:
    see `default_is_reference`)."""
    interfaces, files = vals["track_interfaces"], vals["track_files"]
    interface = vals["interface"].value
    for tracker in interfaces.value:
        if tracker.name == interface:
            effect = "so this entry has no effect" if tracker.weight is not None else "so this entry is redundant"
            checker.warn(
                pick(loc, interfaces),
                f"{interface}{interfaces.note()} is the instance's own interface, which always puts the "
                f"instance in FAULT when it goes down, {effect}",
            )
    _check_weights(checker, vals, loc, default_reference)
    # A file's weight multiplies a value only known at run time, so only the owner case is certain for files.
    if vals["priority"].value == OWNER_PRIORITY and any(t.weight is not None for t in files.value):
        _warn_owner_weights(checker, pick(loc, files), f"track file weights{files.note()}")


def _check_weights(checker: Checker, vals: dict[str, Val], loc: Loc, default_reference: bool) -> None:
    """Script and interface weights that cannot move this router across the default priority."""
    scripts, interfaces = vals["track_scripts"], vals["track_interfaces"]
    interface = vals["interface"].value
    weights = [t.weight for t in (*scripts.value, *interfaces.value) if t.weight is not None and t.name != interface]
    if not weights:
        return
    at = pick(loc, scripts, interfaces)
    base = vals["priority"].value
    note = scripts.note() or interfaces.note()
    if base == OWNER_PRIORITY:
        _warn_owner_weights(checker, at, f"tracker weights{note}")
        return
    # vrrpd sees only its own side of the election, so the test is against the default priority (100), which
    # is what a peer has unless configured otherwise; the text says so, and what would make the weight work.
    # A file whose priorities show another base by design has no use for a test against 100.
    if not default_reference:
        return
    ref = _ELECTION_REFERENCE
    lowest = effective_priority(base, [w for w in weights if w < 0])
    highest = effective_priority(base, [w for w in weights if w > 0])
    if base > ref and any(w < 0 for w in weights) and lowest >= ref:
        checker.warn(
            at,
            f"with every negative-weight tracker{note} failing, priority {base} only drops to {lowest}, which is "
            f"not below {ref} (the default priority): a backup at priority {ref} would never take over. Each "
            f"failure only causes a failover to a backup whose priority is above {lowest}; make the weights "
            f"more negative than {ref - base} in total, or use on_failure: fault",
        )
    if base < ref and any(w > 0 for w in weights) and highest <= ref:
        checker.warn(
            at,
            f"with every positive-weight tracker{note} passing, priority {base} only rises to {highest}, which is "
            f"not above {ref} (the default priority): this router would never preempt a master at priority "
            f"{ref}; it only preempts a master whose priority is below {highest}",
        )


def _warn_owner_weights(checker: Checker, at: Loc, weights: str) -> None:
    checker.warn(
        at,
        f"{weights} have no effect: the address owner (priority 255) is never moved by tracking; "
        "use on_failure: fault to make it give up the addresses",
    )
