"""The unicast section of `vrrpctl status`: each unicast instance's peers, with adverts sent and send errors.

Kept apart from vrrpd.cli.ctl like the tracker section; prints nothing when no instance is unicast (or the daemon
is older and sends no `unicast`).
"""

from __future__ import annotations

from typing import Any

_COLUMNS = ("INSTANCE", "SOURCE", "PEER", "TTL", "MIN_TTL", "SENT", "SEND_ERRORS", "LAST_ERROR")


def render_unicast(instances: list[dict[str, Any]]) -> list[str]:
    """Lines to print after the instance table: one row per peer of every unicast instance."""
    rows: list[tuple[str, ...]] = []
    for inst in instances:
        unicast = inst.get("unicast")
        if not isinstance(unicast, dict):
            continue
        for peer in unicast.get("peers") or []:
            if not isinstance(peer, dict):
                continue
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
    if not rows:
        return []
    table = [_COLUMNS, *rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(_COLUMNS))]
    return ["", *("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)]
