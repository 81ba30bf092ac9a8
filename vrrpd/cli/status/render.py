"""`vrrpctl status` as text: a header, the configuration line, the instance table, then the tracker, unicast,
hook and sync group sections, each only when there is something to show."""

from __future__ import annotations

from typing import Any

from vrrpd.cli.status.config import render_config
from vrrpd.cli.status.groups import render_groups
from vrrpd.cli.status.hooks import render_hooks
from vrrpd.cli.status.instances import render_instances
from vrrpd.cli.status.table import dicts, duration
from vrrpd.cli.status.trackers import render_trackers
from vrrpd.cli.status.unicast import render_unicast


def render_status(result: Any) -> str:
    """The human view of a status result. Tolerates missing fields: an older daemon may send fewer."""
    if not isinstance(result, dict):
        return f"unexpected status from the daemon: {result!r}\n"
    header = f"vrrpd {result.get('version', '?')}, pid {result.get('pid', '?')}, up {duration(result.get('uptime'))}"
    instances = dicts(result.get("instances"))
    if not instances:
        return "\n".join([header, *render_config(result.get("config")), "no instances"]) + "\n"
    lines = [
        header,
        *render_config(result.get("config")),
        *render_instances(instances),
        *render_trackers(instances),
        *render_unicast(instances),
        *render_hooks(instances),
        *render_groups(dicts(result.get("sync_groups"))),
    ]
    return "\n".join(lines) + "\n"
