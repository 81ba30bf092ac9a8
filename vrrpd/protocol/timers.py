"""Timer arithmetic of RFC 9568 §6.1 (v3) and RFC 3768 §6.1 (v2). Results in seconds (float)."""

from __future__ import annotations


def skew_time(priority: int, master_adver_interval_cs: int, version: int = 3) -> float:
    """Skew_Time in seconds for the *effective* priority.

    v3 (RFC 9568 §6.1): ((256 - Priority) * Active_Adver_Interval) / 256 centiseconds.
    v2 (RFC 3768 §6.1): (256 - Priority) / 256 seconds, independent of the interval.
    """
    if version == 2:
        return (256 - priority) / 256
    return (256 - priority) * master_adver_interval_cs / 256 / 100


def master_down_interval(priority: int, master_adver_interval_cs: int, version: int = 3) -> float:
    """Master_Down_Interval (RFC 9568 §6.1: Active_Down_Interval) = 3 * interval + Skew_Time, in seconds."""
    return 3 * master_adver_interval_cs / 100 + skew_time(priority, master_adver_interval_cs, version)
