"""The instance table of `vrrpctl status`, then a line for each instance in FAULT, in an owner conflict or drained."""

from __future__ import annotations

from typing import Any

from vrrpd.cli.status.table import seconds, table, text

COLUMNS = (
    "NAME",
    "IFACE",
    "FAMILY",
    "VRID",
    "STATE",
    "PRIO(EFF)",
    "INTERVAL",
    "MASTER",
    "MDI",
    "ADV_TX",
    "ADV_RX",
    "DROPS",
)


def render_instances(instances: list[dict[str, Any]]) -> list[str]:
    lines = table(COLUMNS, [_row(inst) for inst in instances])
    for inst in instances:
        if inst.get("fault_reason"):
            lines.append(f"{inst.get('name', '?')}: fault: {inst['fault_reason']}")
        if inst.get("conflict"):
            age = inst.get("conflict_age")
            seen = f" (last seen {seconds(age, digits=1)} ago)" if age is not None else ""
            lines.append(f"{inst.get('name', '?')}: CONFLICT: {inst['conflict']}{seen}")
        drained = inst.get("drained")
        if drained:
            name = inst.get("name", "?")
            what = "Master only while no other router is heard" if drained == "soft" else "never Master"
            lines.append(f"{name}: drained{' (soft)' if drained == 'soft' else ''}: {what} (vrrpctl resume {name})")
    return lines


def _row(inst: dict[str, Any]) -> tuple[str, ...]:
    counters = inst.get("counters") if isinstance(inst.get("counters"), dict) else {}
    priority, effective = inst.get("priority"), inst.get("effective_priority")
    interval, master_interval = inst.get("advert_interval"), inst.get("master_advert_interval")
    shown_interval = seconds(interval)
    if master_interval is not None and master_interval != interval:
        shown_interval += f" ({seconds(master_interval)})"
    return (
        text(inst.get("name")),
        text(inst.get("interface")),
        text(inst.get("family")),
        text(inst.get("vrid")),
        text(inst.get("state")),
        f"{text(priority)}({text(effective if effective is not None else priority)})",
        shown_interval,
        _master(inst),
        seconds(inst.get("master_down_interval")),
        text(counters.get("adverts_sent")),
        text(counters.get("adverts_received")),
        _drops(counters.get("drops")),
    )


def _master(inst: dict[str, Any]) -> str:
    address = inst.get("master_address")
    if address is None:
        return "-"
    parts = [str(address)]
    if inst.get("master_priority") is not None:
        parts.append(f"prio={inst['master_priority']}")
    age = inst.get("master_age")
    if age is not None:
        parts.append(f"age={seconds(age, digits=1)}")
    elif inst.get("state") == "MASTER":
        parts.append("(self)")
    return " ".join(parts)


def _drops(drops: Any) -> str:
    if not isinstance(drops, dict) or not drops:
        return "0"
    counts = {str(k): v for k, v in drops.items() if isinstance(v, int) and v}
    if not counts:
        return "0"
    reasons = ",".join(f"{k}={v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{sum(counts.values())} ({reasons})"
