"""The tracker table of `vrrpctl status`: every tracker's state, effect and contribution, per instance."""

from __future__ import annotations

from typing import Any

from vrrpd.cli.status.table import dicts, section

COLUMNS = ("INSTANCE", "KIND", "TRACKER", "STATE", "EFFECT", "CONTRIB")


def render_trackers(instances: list[dict[str, Any]]) -> list[str]:
    """Nothing when no instance reports trackers (an older daemon sends none)."""
    rows: list[tuple[str, ...]] = []
    for inst in instances:
        for tracker in dicts(inst.get("trackers")):
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
    return section(COLUMNS, rows)
