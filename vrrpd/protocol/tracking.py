"""Tracking arithmetic: tracker states -> effective priority and fault reasons (pure, no I/O).

Rules this module keeps (keepalived's `vrrp_set_effective_priority`, with the weight-0 trap made explicit):
- A tracker is a script or an interface, with either a weight (-253..253, never 0) or `on_failure: fault`.
- A negative weight is subtracted while the tracker is DOWN; a positive weight is added while it is UP.
  UNKNOWN (a script that has not reported yet) contributes nothing, so a starting daemon neither gains nor
  loses priority until its checks have spoken (keepalived 2.2.7 likewise adds no weight for a script still in its
  init state: vrrp_track.c, `initialise_track_script_state`).
- Effective priority = base + the sum of contributions, clamped to 1..254. The address owner (255) is never
  moved: its priority is what it *is* (RFC 9568 §6.1), not a preference.
- A fault tracker that is DOWN is an active fault reason; faults take precedence over priority (the router goes
  to FAULT whatever its priority).
- Start-up (issue #12): a fault script that has not reported yet is a fault reason too ("has not reported yet"),
  so a starting router waits in FAULT for its check instead of taking the addresses and dropping them seconds
  later; keepalived 2.2.7 counts such scripts in `num_script_init` and keeps the instance (and its sync group,
  `num_member_init`) in FAULT until they have run (vrrp_scheduler.c `vrrp_init_state`, vrrp_track.c
  `process_script_update_priority`). Only what a `Tracking` starts with waits: a fault script that a reload adds
  to a running router does not hold it (keepalived's SCRIPT_INIT_STATE_INIT_RELOAD), it faults once it fails
  (`carry_over`). Interfaces and track files are known before a router starts, so they never wait.
- Rise/fall: `rise` consecutive successes make a tracker UP, `fall` consecutive failures make it DOWN; any
  result of the other kind restarts the count. The first result of a script not yet known decides at once,
  whatever `rise` and `fall` say (keepalived starts a script's count at `rise - 1`, "one success is enough", and
  a failure in the init state goes down at once: vrrp_scheduler.c `vrrp_init_script`, `vrrp_script_child_thread`).
  A script configured `initial_state: down` (keepalived's `init_fail`) starts DOWN and needs `rise` successes.
- Track files (issue #5 point 2; keepalived's `track_file`): the file holds an integer. UP means a value is
  known (read, or assumed by `on_missing: {value: N}`), DOWN means the file is missing or unreadable and its
  `on_missing` is `fault`, which faults every instance tracking it whatever its weight. A weighted file
  tracker contributes value x weight, clamped to -253..253 (keepalived's documented rule: "the value will be
  multiplied by the weight"); keepalived additionally goes to FAULT when the product is below -253, a hidden
  rule vrrpd does not copy: the product is clamped and the priority bottoms out at 1 (use `on_failure: fault`
  to fault). `on_failure: fault` (keepalived's weight 0) faults while the value is non-zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from vrrpd.protocol.constants import MAX_PRIORITY, MAX_WEIGHT, MIN_PRIORITY, OWNER_PRIORITY


class TrackerKind(StrEnum):
    SCRIPT = "script"
    INTERFACE = "interface"
    FILE = "file"


class TrackState(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Tracker:
    """One tracker as an instance uses it."""

    kind: TrackerKind
    name: str
    """The script's name (top-level `track_scripts`), the interface name, or the file's name (top-level
    `track_files`)."""
    weight: int | None
    """-253..253 except 0; None = `on_failure: fault`."""

    def __post_init__(self) -> None:
        if self.weight is not None and (self.weight == 0 or not -MAX_WEIGHT <= self.weight <= MAX_WEIGHT):
            raise ValueError(f"weight {self.weight} outside -{MAX_WEIGHT}..{MAX_WEIGHT} or 0 (use on_failure: fault)")

    @property
    def key(self) -> tuple[TrackerKind, str]:
        return (self.kind, self.name)

    @property
    def is_fault(self) -> bool:
        return self.weight is None

    @property
    def effect(self) -> str:
        """For status: ``weight +20``, ``weight -150`` or ``fault``; for a file ``value x -10`` or
        ``fault if non-zero``."""
        if self.kind is TrackerKind.FILE:
            return "fault if non-zero" if self.weight is None else f"value x {self.weight:+d}"
        return "fault" if self.weight is None else f"weight {self.weight:+d}"

    def contribution(self, state: TrackState, value: int = 0) -> int:
        """What this tracker adds to the base priority in `state` (0 for fault trackers); `value` is a track
        file's integer (ignored for other kinds)."""
        if self.weight is None:
            return 0
        if self.kind is TrackerKind.FILE:
            if state is not TrackState.UP:
                return 0
            return max(-MAX_WEIGHT, min(MAX_WEIGHT, value * self.weight))
        if self.weight > 0 and state is TrackState.UP:
            return self.weight
        if self.weight < 0 and state is TrackState.DOWN:
            return self.weight
        return 0

    def fault_reason(self, state: TrackState, value: int = 0) -> str | None:
        if self.kind is TrackerKind.FILE:
            if state is TrackState.DOWN:
                return f"track file {self.name} missing or unreadable"
            if self.weight is None and state is TrackState.UP and value != 0:
                return f"track file {self.name} holds {value}"
            return None
        if self.weight is not None or state is not TrackState.DOWN:
            return None
        if self.kind is TrackerKind.INTERFACE:
            return f"interface {self.name} down"
        return f"track script {self.name} failed"


def effective_priority(base: int, contributions: Iterable[int]) -> int:
    """Base plus contributions, clamped to 1..254; the owner (255) stays 255."""
    if base == OWNER_PRIORITY:
        return OWNER_PRIORITY
    return max(MIN_PRIORITY, min(MAX_PRIORITY, base + sum(contributions)))


class Tracking:
    """The trackers of one virtual router and their states; answers the effective priority and the faults."""

    def __init__(self, base_priority: int, trackers: Iterable[Tracker]) -> None:
        self.base_priority = base_priority
        self.trackers: tuple[Tracker, ...] = tuple(trackers)
        keys = [t.key for t in self.trackers]
        if len(set(keys)) != len(keys):
            raise ValueError("a tracker is listed twice")
        self.states: dict[tuple[TrackerKind, str], TrackState] = dict.fromkeys(keys, TrackState.UNKNOWN)
        self.values: dict[tuple[TrackerKind, str], int] = {k: 0 for k in keys if k[0] is TrackerKind.FILE}
        """Track files' last known integer (meaningful while the state is UP)."""
        self.awaiting: set[tuple[TrackerKind, str]] = {
            t.key for t in self.trackers if t.is_fault and t.kind is TrackerKind.SCRIPT
        }
        """Fault scripts whose first result this router waits for in FAULT: each is UNKNOWN, since a key leaves as
        soon as `set_state` knows its state."""

    def carry_over(self, old: Tracking) -> None:
        """A reload replaced `old` (a running router's) by this one: every tracker both have keeps its state and
        value, and only a fault script `old` was still waiting for keeps holding; a new one (or one that was
        weighted) does not knock a running router into FAULT before it has spoken, it faults once it fails."""
        for key in self.states.keys() & old.states.keys():
            self.states[key] = old.states[key]
            if key in old.values:
                self.values[key] = old.values[key]
        self.awaiting &= old.awaiting

    def set_state(self, kind: TrackerKind, name: str, state: TrackState) -> bool:
        """Record a tracker's state; True if this router has such a tracker and its state changed."""
        key = (kind, name)
        if key not in self.states or self.states[key] is state:
            return False
        self.states[key] = state
        if state is not TrackState.UNKNOWN:
            self.awaiting.discard(key)
        return True

    def set_value(self, name: str, value: int | None) -> bool:
        """Record a track file's reading: an integer (UP), or None when it is missing or unreadable and its
        `on_missing` is `fault` (DOWN). True if this router tracks the file and its state or value changed."""
        key = (TrackerKind.FILE, name)
        if key not in self.states:
            return False
        state = TrackState.DOWN if value is None else TrackState.UP
        new_value = self.values[key] if value is None else value
        if self.states[key] is state and self.values[key] == new_value:
            return False
        self.states[key], self.values[key] = state, new_value
        return True

    def value(self, tracker: Tracker) -> int | None:
        """A track file's current integer (None for other kinds, or while not UP)."""
        if tracker.kind is not TrackerKind.FILE or self.states[tracker.key] is not TrackState.UP:
            return None
        return self.values[tracker.key]

    def contribution(self, tracker: Tracker) -> int:
        return tracker.contribution(self.states[tracker.key], self.values.get(tracker.key, 0))

    @property
    def priority(self) -> int:
        return effective_priority(self.base_priority, (self.contribution(t) for t in self.trackers))

    @property
    def faults(self) -> tuple[str, ...]:
        """Active fault reasons, in tracker order (empty: no fault)."""
        reasons = (self.fault_reason(t) for t in self.trackers)
        return tuple(r for r in reasons if r is not None)

    @property
    def only_waiting(self) -> bool:
        """There are faults, and each is a fault script that has not reported yet (a start-up wait, for which
        keepalived runs no notify script: vrrp_scheduler.c `vrrp_init_state` notifies a FAULT "(init)" only when
        `num_script_if_fault` is set, that is when something has failed)."""
        waiting = self.awaiting
        return bool(waiting) and all(self.fault_reason(t) is None for t in self.trackers if t.key not in waiting)

    def fault_reason(self, tracker: Tracker) -> str | None:
        if tracker.key in self.awaiting:
            return f"track script {tracker.name} has not reported yet"
        return tracker.fault_reason(self.states[tracker.key], self.values.get(tracker.key, 0))


class RiseFall:
    """Consecutive-result counting: `rise` successes in a row -> UP, `fall` failures in a row -> DOWN."""

    def __init__(self, rise: int = 1, fall: int = 1, state: TrackState = TrackState.UNKNOWN) -> None:
        """`state`: the state before any result (a count restarted by a reload keeps the verdict so far)."""
        if rise < 1 or fall < 1:
            raise ValueError("rise and fall must be at least 1")
        self.rise, self.fall = rise, fall
        self.state = state
        self._streak = 0
        """Positive: consecutive successes; negative: consecutive failures."""

    def record(self, ok: bool) -> bool:
        """Count one result; True if the state changed. The first result of a script not yet known decides."""
        if self.state is TrackState.UNKNOWN:
            self._streak = self.rise if ok else -self.fall
            self.state = TrackState.UP if ok else TrackState.DOWN
            return True
        if ok:
            self._streak = min(self._streak, self.rise - 1) + 1 if self._streak > 0 else 1
            new = TrackState.UP if self._streak >= self.rise else self.state
        else:
            self._streak = max(self._streak, 1 - self.fall) - 1 if self._streak < 0 else -1
            new = TrackState.DOWN if -self._streak >= self.fall else self.state
        changed, self.state = new is not self.state, new
        return changed


FILE_VALUE_MAX_BYTES = 64
"""A track file holds one integer; anything longer is not one (and a size cap keeps every read small)."""
_MAX_FILE_DIGITS = 18


def parse_file_value(data: bytes) -> int | str:
    """A track file's content -> its integer, or a short description of why it is not one.

    Accepted: optional surrounding whitespace (a trailing newline from `echo`), an optional sign, decimal
    digits. Anything else (empty, `5 extra`, `0x10`, binary) is not silently read as 0 or as a prefix: the
    caller applies the file's `on_missing` rule, as for a missing file.
    """
    if len(data) > FILE_VALUE_MAX_BYTES:
        return f"longer than {FILE_VALUE_MAX_BYTES} bytes"
    text = data.strip(b" \t\r\n")
    if not text:
        return "empty"
    digits = text[1:] if text[:1] in (b"+", b"-") else text
    if not digits.isdigit() or not digits.isascii() or len(digits) > _MAX_FILE_DIGITS:
        shown = text[:20].decode("ascii", errors="replace")
        return f"{shown!r} is not a whole number"
    return int(text)
