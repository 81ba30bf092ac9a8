"""The one table renderer of `vrrpctl status`, and the cell formats the tables share.

Every section is columns of left-aligned cells, two spaces apart, trailing blanks cut. Each cell format tolerates
whatever an older (or newer) daemon sends: a missing or odd value prints as `-` or `?`, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The header and its rows, each column as wide as its widest cell."""
    lines = [tuple(columns), *rows]
    widths = [max(len(row[c]) for row in lines) for c in range(len(columns))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in lines]


def section(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A table after a blank line, or nothing at all when there are no rows."""
    return ["", *table(columns, rows)] if rows else []


def dicts(value: Any) -> list[dict[str, Any]]:
    """The mappings of a list the daemon sent (anything else in it, or instead of it, is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def text(value: Any) -> str:
    return "-" if value is None else str(value)


def seconds(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    shown = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return f"{shown}s"


def duration(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return "?"
    left = int(value)
    days, left = divmod(left, 86400)
    hours, left = divmod(left, 3600)
    minutes, left = divmod(left, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{left:02d}s"
    return f"{left}s"
