"""Tracking arithmetic: tracker states -> effective priority and fault reasons (pure, no I/O).

Rules this module keeps (keepalived's `vrrp_set_effective_priority`, with the weight-0 trap made explicit):
- A tracker is a script or an interface, with either a weight (-253..253, never 0) or `on_failure: fault`.
- A negative weight is subtracted while the tracker is DOWN; a positive weight is added while it is UP.
  UNKNOWN (a script that has not yet reached `rise` successes or `fall` failures) contributes nothing, so a
  starting daemon neither gains nor loses priority until its checks have spoken.
- Effective priority = base + the sum of contributions, clamped to 1..254. The address owner (255) is never
  moved: its priority is what it *is* (RFC 9568 §6.1), not a preference.
- A fault tracker that is DOWN is an active fault reason; faults take precedence over priority (the router goes
  to FAULT whatever its priority). UNKNOWN is not a fault.
- Rise/fall: `rise` consecutive successes make a tracker UP, `fall` consecutive failures make it DOWN; any
  result of the other kind restarts the count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from vrrpd.protocol.router import OWNER_PRIORITY

MIN_PRIORITY = 1
MAX_PRIORITY = 254
MAX_WEIGHT = 253
"""|weight| limit, as keepalived: base 1 + 253 = 254, base 254 - 253 = 1."""


class TrackerKind(StrEnum):
    SCRIPT = "script"
    INTERFACE = "interface"


class TrackState(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Tracker:
    """One tracker as an instance uses it."""

    kind: TrackerKind
    name: str
    """The script's name (top-level `track_scripts`), or the interface name."""
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
        """For status: ``weight +20``, ``weight -150`` or ``fault``."""
        return "fault" if self.weight is None else f"weight {self.weight:+d}"

    def contribution(self, state: TrackState) -> int:
        """What this tracker adds to the base priority in `state` (0 for fault trackers)."""
        if self.weight is None:
            return 0
        if self.weight > 0 and state is TrackState.UP:
            return self.weight
        if self.weight < 0 and state is TrackState.DOWN:
            return self.weight
        return 0

    def fault_reason(self, state: TrackState) -> str | None:
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

    def set_state(self, kind: TrackerKind, name: str, state: TrackState) -> bool:
        """Record a tracker's state; True if this router has such a tracker and its state changed."""
        key = (kind, name)
        if key not in self.states or self.states[key] is state:
            return False
        self.states[key] = state
        return True

    def contribution(self, tracker: Tracker) -> int:
        return tracker.contribution(self.states[tracker.key])

    @property
    def priority(self) -> int:
        return effective_priority(self.base_priority, (self.contribution(t) for t in self.trackers))

    @property
    def faults(self) -> tuple[str, ...]:
        """Active fault reasons, in tracker order (empty: no fault)."""
        reasons = (t.fault_reason(self.states[t.key]) for t in self.trackers)
        return tuple(r for r in reasons if r is not None)


class RiseFall:
    """Consecutive-result counting: `rise` successes in a row -> UP, `fall` failures in a row -> DOWN."""

    def __init__(self, rise: int = 1, fall: int = 1) -> None:
        if rise < 1 or fall < 1:
            raise ValueError("rise and fall must be at least 1")
        self.rise, self.fall = rise, fall
        self.state = TrackState.UNKNOWN
        self._streak = 0
        """Positive: consecutive successes; negative: consecutive failures."""

    def record(self, ok: bool) -> bool:
        """Count one result; True if the state changed."""
        if ok:
            self._streak = min(self._streak, self.rise - 1) + 1 if self._streak > 0 else 1
            new = TrackState.UP if self._streak >= self.rise else self.state
        else:
            self._streak = max(self._streak, 1 - self.fall) - 1 if self._streak < 0 else -1
            new = TrackState.DOWN if -self._streak >= self.fall else self.state
        changed, self.state = new is not self.state, new
        return changed
