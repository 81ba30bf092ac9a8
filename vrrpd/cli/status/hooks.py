"""The hook lines of `vrrpctl status`: for each instance (or sync group) with notify hooks, what ran and what
went wrong. Lines, not a table: the counts that are zero are left out."""

from __future__ import annotations

from typing import Any


def render_hooks(subjects: list[dict[str, Any]]) -> list[str]:
    """One line per subject that has hooks (nothing for the others)."""
    lines: list[str] = []
    for subject in subjects:
        hooks = subject.get("hooks")
        if not isinstance(hooks, dict):
            continue
        counts = [f"{hooks.get('runs', '?')} runs", f"{hooks.get('failures', '?')} failed"]
        for key, label in (("timeouts", "timed out"), ("dropped", "dropped"), ("pending", "waiting")):
            if hooks.get(key):
                counts.append(f"{hooks[key]} {label}")
        if hooks.get("running"):
            counts.append(f"running {hooks['running']}")
        names = hooks.get("hooks")
        shown = f" ({', '.join(map(str, names))})" if isinstance(names, list) and names else ""
        lines.append(f"{subject.get('name', '?')}: hooks{shown}: {', '.join(counts)}")
    return ["", *lines] if lines else []
