"""The figures of one bench/run_all.py run (what every section fills in, and the JSON holds) and the helpers that
compute and format them for the report's tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Results:
    # The fields' order is the JSON document's key order.
    cpu: list[dict[str, Any]] = field(default_factory=list)
    rss1000: list[dict[str, Any]] = field(default_factory=list)
    jitter: list[dict[str, Any]] = field(default_factory=list)
    soak: list[dict[str, Any]] = field(default_factory=list)
    vip: list[dict[str, Any]] = field(default_factory=list)
    takeover: list[dict[str, Any]] = field(default_factory=list)
    startup: list[dict[str, Any]] = field(default_factory=list)
    reload: list[dict[str, Any]] = field(default_factory=list)
    flood: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    histograms: list[str] = field(default_factory=list)
    deviations: dict[str, list[float]] = field(default_factory=dict)
    """Jitter samples per 'daemon, load', kept in memory for the optional PNG (not written to the JSON)."""


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: always an observed value."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def fmt(v: float | None, digits: int = 1) -> str:
    """A figure for a table cell; "-" where there is none (section not run, or no sample)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)]


def find_row(rows: Sequence[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    """The first row whose keys hold all of `match`'s values, None if no row does."""
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None
