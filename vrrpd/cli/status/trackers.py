"""The tracker section of `vrrpctl status`: every tracker's state, effect and contribution, per instance.

Kept apart from vrrpd.cli.ctl so the status table only needs one call; tolerates an older daemon that sends
no `trackers` (nothing is printed).
"""

from __future__ import annotations

from typing import Any

_COLUMNS = ("INSTANCE", "KIND", "TRACKER", "STATE", "EFFECT", "CONTRIB")


def render_trackers(instances: list[dict[str, Any]]) -> list[str]:
    """Lines to print after the instance table (empty if no instance reports trackers)."""
    rows: list[tuple[str, ...]] = []
    for inst in instances:
        trackers = inst.get("trackers")
        if not isinstance(trackers, list):
            continue
        for tracker in trackers:
            if not isinstance(tracker, dict):
                continue
            name = str(tracker.get("name", "?"))
            if tracker.get("implicit"):
                name += " (own)"
            contribution = tracker.get("contribution")
            state = str(tracker.get("state", "?"))
            if tracker.get("kind") == "file" and isinstance(tracker.get("value"), int):
                state += f" (value {tracker['value']})"  # the integer the file holds, or the assumed one
            rows.append(
                (
                    str(inst.get("name", "?")),
                    str(tracker.get("kind", "?")),
                    name,
                    state,
                    str(tracker.get("effect", "?")),
                    f"{contribution:+d}" if isinstance(contribution, int) and contribution else "0",
                )
            )
    if not rows:
        return []
    table = [_COLUMNS, *rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(_COLUMNS))]
    return ["", *("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)]
