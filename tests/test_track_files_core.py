"""Track files in the pure tracking model (issue #5 point 2: "track files (an integer in a file times a weight;
missing file handled explicitly)"; point 3: effective priority clamped to 1..254, the owner stays 255).

keepalived's documented semantics (keepalived.conf(5), track_file): "the value will be multiplied by the weight";
"if the weight configured against the track_file is 0, a non-zero value in the file will be treated as a failure
status". vrrpd spells weight 0 as `on_failure: fault`, and clamps value x weight to -253..253 instead of copying
keepalived's hidden "below -253 means FAULT" rule.
"""

from __future__ import annotations

import pytest

from vrrpd.protocol.tracking import (
    FILE_VALUE_MAX_BYTES,
    MAX_WEIGHT,
    Tracker,
    TrackerKind,
    Tracking,
    TrackState,
    parse_file_value,
)

F, IF = TrackerKind.FILE, TrackerKind.INTERFACE


@pytest.mark.parametrize(
    ("value", "weight", "expected"),
    [
        (0, -10, 0),
        (1, -10, -10),
        (3, -10, -30),
        (-2, 5, -10),  # a negative value with a positive weight lowers the priority (keepalived: same)
        (2, 7, 14),
        (1000, 1, MAX_WEIGHT),  # clamped: one file never moves the priority by more than a weight could
        (-1000, 1, -MAX_WEIGHT),  # clamped, not keepalived's hidden FAULT below -253
        (10**15, -253, -MAX_WEIGHT),
    ],
)
def test_file_contribution_is_value_times_weight_clamped(value: int, weight: int, expected: int) -> None:
    tracker = Tracker(F, "maint", weight)
    assert tracker.contribution(TrackState.UP, value) == expected
    assert tracker.fault_reason(TrackState.UP, value) is None  # a weighted file never faults on its value


def test_file_contributes_nothing_until_read_or_while_missing_with_fault() -> None:
    tracker = Tracker(F, "maint", -10)
    assert tracker.contribution(TrackState.UNKNOWN, 5) == 0
    assert tracker.contribution(TrackState.DOWN, 5) == 0


def test_on_failure_fault_file_faults_while_non_zero_keepalived_weight_0() -> None:
    """keepalived: weight 0 -> "a non-zero value in the file will be treated as a failure status"."""
    tracker = Tracker(F, "maint", None)
    assert tracker.fault_reason(TrackState.UP, 0) is None
    assert tracker.fault_reason(TrackState.UP, 1) == "track file maint holds 1"
    assert tracker.fault_reason(TrackState.UP, -4) == "track file maint holds -4"
    assert tracker.contribution(TrackState.UP, 7) == 0
    assert tracker.effect == "fault if non-zero"
    assert Tracker(F, "maint", -10).effect == "value x -10"


def test_missing_file_with_on_missing_fault_faults_every_tracker_of_it() -> None:
    """on_missing: fault (reported as value None -> DOWN) faults weighted and fault trackers alike."""
    for weight in (None, 5, -5):
        assert Tracker(F, "maint", weight).fault_reason(TrackState.DOWN) == "track file maint missing or unreadable"


def test_tracking_sums_files_with_other_trackers_and_clamps_to_1_254() -> None:
    tracking = Tracking(100, [Tracker(IF, "eth0", None), Tracker(F, "a", -10), Tracker(F, "b", 20)])
    assert tracking.priority == 100  # UNKNOWN: no effect yet
    assert tracking.set_value("a", 2)
    assert tracking.priority == 80
    assert tracking.set_value("b", 3)
    assert tracking.priority == 140
    assert tracking.set_value("b", 100)  # 20 x 100 clamped to 253 per file, then the sum to 254
    assert tracking.priority == 254
    assert tracking.set_value("a", 50) and tracking.set_value("b", 0)  # -500 -> -253 -> priority 1, not below
    assert tracking.priority == 1
    assert tracking.faults == ()
    assert tracking.value(tracking.trackers[1]) == 50
    assert tracking.value(tracking.trackers[0]) is None  # not a file


def test_owner_priority_never_moves_with_files() -> None:
    tracking = Tracking(255, [Tracker(F, "a", -10)])
    tracking.set_value("a", 20)
    assert tracking.priority == 255


def test_set_value_reports_changes_only() -> None:
    tracking = Tracking(100, [Tracker(F, "a", None)])
    assert not tracking.set_value("other", 1)  # not tracked by this router
    assert tracking.set_value("a", 0)
    assert not tracking.set_value("a", 0)
    assert tracking.faults == ()
    assert tracking.set_value("a", 3)
    assert tracking.faults == ("track file a holds 3",)
    assert tracking.set_value("a", None)
    assert tracking.states[(F, "a")] is TrackState.DOWN and tracking.value(tracking.trackers[0]) is None
    assert tracking.faults == ("track file a missing or unreadable",)
    assert not tracking.set_value("a", None)
    assert tracking.set_value("a", 0) and tracking.faults == ()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"5", 5),
        (b"5\n", 5),
        (b"  -12 \r\n", -12),
        (b"+3", 3),
        (b"0", 0),
        (b"", "empty"),
        (b" \n", "empty"),
        (b"5 extra", "'5 extra' is not a whole number"),
        (b"0x10", "'0x10' is not a whole number"),
        (b"1.5", "'1.5' is not a whole number"),
        (b"-", "'-' is not a whole number"),
        ("\u0664".encode(), "'\ufffd\ufffd' is not a whole number"),  # non-ASCII digits are not digits here
        (b"9" * 19, f"'{'9' * 19}' is not a whole number"),  # over 18 digits: not a plausible value
        (b"1" * (FILE_VALUE_MAX_BYTES + 1), f"longer than {FILE_VALUE_MAX_BYTES} bytes"),
    ],
)
def test_parse_file_value_is_strict(data: bytes, expected: int | str) -> None:
    """Garbage is never read as 0 or as a prefix: the caller applies on_missing (issue #5 point 2)."""
    result = parse_file_value(data)
    assert result == expected
