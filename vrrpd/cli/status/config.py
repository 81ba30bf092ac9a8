"""The configuration line of `vrrpctl status`: which file runs, which generation, and what the last reload did."""

from __future__ import annotations

from typing import Any


def render_config(config: Any) -> list[str]:
    """One line, or two after a reload that failed (nothing from an older daemon that sends no `config`)."""
    if not isinstance(config, dict):
        return []
    generation, loaded = config.get("generation", "?"), config.get("loaded_at", "?")
    line = f"config {config.get('path', '?')}, generation {generation}, loaded {loaded}"
    last = config.get("last_reload")
    if not isinstance(last, dict):
        return [line]
    changes = {key: last.get(key) for key in ("changed", "added", "removed")}
    counts = ", ".join(f"{len(v) if isinstance(v, list) else '?'} {key}" for key, v in changes.items())
    result = last.get("result", "?")
    shown = f"{line}; last reload {last.get('time', '?')}: {result}"
    if result == "applied":
        shown += f" ({counts})"
    lines = [shown]
    if last.get("error"):
        lines.append(f"last reload error: {last['error']}")
    return lines
