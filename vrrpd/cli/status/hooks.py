"""The hook lines of `vrrpctl status`: per instance with notify hooks, what ran and what went wrong.

Kept apart from vrrpd.cli.ctl like the tracker section; tolerates an older daemon that sends no `hooks`."""

from __future__ import annotations

from typing import Any


def render_hooks(instances: list[dict[str, Any]]) -> list[str]:
    """One line per instance that has hooks (nothing for the others)."""
    lines: list[str] = []
    for inst in instances:
        hooks = inst.get("hooks")
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
        lines.append(f"{inst.get('name', '?')}: hooks{shown}: {', '.join(counts)}")
    return ["", *lines] if lines else []
