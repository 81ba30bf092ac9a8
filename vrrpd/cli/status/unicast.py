"""The unicast table of `vrrpctl status`: each unicast instance's peers, with adverts sent and send errors."""

from __future__ import annotations

from typing import Any

from vrrpd.cli.status.table import dicts, section

COLUMNS = ("INSTANCE", "SOURCE", "PEER", "TTL", "MIN_TTL", "SENT", "SEND_ERRORS", "LAST_ERROR")


def render_unicast(instances: list[dict[str, Any]]) -> list[str]:
    """One row per peer of every unicast instance; nothing when no instance is unicast."""
    rows: list[tuple[str, ...]] = []
    for inst in instances:
        unicast = inst.get("unicast")
        if not isinstance(unicast, dict):
            continue
        for peer in dicts(unicast.get("peers")):
            rows.append(
                (
                    str(inst.get("name", "?")),
                    str(unicast.get("source", "?")),
                    str(peer.get("address", "?")),
                    str(unicast.get("ttl", "?")),
                    str(unicast.get("min_ttl", "?")),
                    str(peer.get("adverts_sent", "?")),
                    str(peer.get("send_errors", "?")),
                    str(peer.get("last_error") or "-"),
                )
            )
    return section(COLUMNS, rows)
