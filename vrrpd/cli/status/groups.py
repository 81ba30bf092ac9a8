"""The sync group section of `vrrpctl status`: each group's state, members and what holds it, then its trackers.

Tolerates an older daemon that sends no `sync_groups` (nothing is printed).
"""

from __future__ import annotations

from typing import Any

from vrrpd.cli.status.hooks import render_hooks

_GROUP_COLUMNS = ("SYNC_GROUP", "STATE", "MEMBERS", "HELD_BY")
_TRACKER_COLUMNS = ("SYNC_GROUP", "KIND", "TRACKER", "STATE", "EFFECT")


def render_groups(result: dict[str, Any]) -> list[str]:
    """Lines to print after the instance and tracker tables (empty if the daemon reports no groups)."""
    groups = [g for g in result.get("sync_groups") or [] if isinstance(g, dict)]
    if not groups:
        return []
    rows: list[tuple[str, ...]] = []
    trackers: list[tuple[str, ...]] = []
    for group in groups:
        name = str(group.get("name", "?"))
        members = [m for m in group.get("members") or [] if isinstance(m, dict)]
        shown = " ".join(f"{m.get('name', '?')}={m.get('state', '?')}" for m in members)
        held = group.get("held_by")
        waiting = group.get("waiting_for")
        if not held and waiting and group.get("state") != "MASTER":
            held = f"waiting for the election of {', '.join(map(str, waiting))}"
        rows.append((name, str(group.get("state", "?")), shown or "-", str(held) if held else "-"))
        for tracker in group.get("trackers") or []:
            if isinstance(tracker, dict):
                trackers.append(
                    (
                        name,
                        str(tracker.get("kind", "?")),
                        str(tracker.get("name", "?")),
                        str(tracker.get("state", "?")),
                        str(tracker.get("effect", "?")),
                    )
                )
    lines = ["", *_table(_GROUP_COLUMNS, rows)]
    if trackers:
        lines += ["", *_table(_TRACKER_COLUMNS, trackers)]
    return lines + render_hooks([{**g, "name": f"sync group {g.get('name', '?')}"} for g in groups])


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    table = [columns, *rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(columns))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
