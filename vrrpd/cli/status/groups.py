"""The sync group tables of `vrrpctl status`: each group's state, members and what holds it, then its trackers,
then its hooks."""

from __future__ import annotations

from typing import Any

from vrrpd.cli.status.hooks import render_hooks
from vrrpd.cli.status.table import dicts, section

COLUMNS = ("SYNC_GROUP", "STATE", "MEMBERS", "HELD_BY")
TRACKER_COLUMNS = ("SYNC_GROUP", "KIND", "TRACKER", "STATE", "EFFECT")


def render_groups(groups: list[dict[str, Any]]) -> list[str]:
    """Nothing when there are no groups (an older daemon sends no `sync_groups`)."""
    rows: list[tuple[str, ...]] = []
    trackers: list[tuple[str, ...]] = []
    for group in groups:
        name = str(group.get("name", "?"))
        members = dicts(group.get("members"))
        shown = " ".join(f"{m.get('name', '?')}={m.get('state', '?')}" for m in members)
        held = group.get("held_by")
        waiting = group.get("waiting_for")
        if not held and waiting and group.get("state") != "MASTER":
            held = f"waiting for the election of {', '.join(map(str, waiting))}"
        rows.append((name, str(group.get("state", "?")), shown or "-", str(held) if held else "-"))
        for tracker in dicts(group.get("trackers")):
            trackers.append(
                (
                    name,
                    str(tracker.get("kind", "?")),
                    str(tracker.get("name", "?")),
                    str(tracker.get("state", "?")),
                    str(tracker.get("effect", "?")),
                )
            )
    lines = section(COLUMNS, rows) + section(TRACKER_COLUMNS, trackers)
    return lines + render_hooks([{**g, "name": f"sync group {g.get('name', '?')}"} for g in groups])
