"""The top-level ``metrics`` section (issue #15): where the Prometheus exporter listens, `metrics_section`.

``metrics: {listen: "ADDR:PORT"}`` with an IPv4 address (``198.51.100.7:9650``) or a bracketed IPv6 one
(``[2001:db8::7]:9650``); port 1..65535. No section, no exporter. Only a literal address is accepted, not a host
name: the daemon must not wait on a resolver to start, and ``0.0.0.0`` / ``[::]`` say "every address" plainly.
A changed ``listen`` is applied at the next restart (a reload warns and keeps the running listener): the exporter
is a read-only view, and a restart is the one moment nothing scrapes a half-moved socket.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from vrrpd.config.checker import Checker, Loc
from vrrpd.config.errors import clip

METRICS_KEYS = ("listen",)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    host: str
    """The literal address to bind, without brackets (``2001:db8::7``)."""
    port: int

    @property
    def listen(self) -> str:
        """As the file writes it: ``198.51.100.7:9650`` or ``[2001:db8::7]:9650``."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def metrics_section(checker: Checker, value: Any, loc: Loc) -> MetricsConfig:
    section = checker.mapping(value, loc, METRICS_KEYS)
    if "listen" not in section:
        raise checker.error(loc, "missing required key listen (ADDR:PORT, e.g. 198.51.100.7:9650)")
    at = loc.key(section, "listen")
    host, port = parse_listen(checker.string(section["listen"], at))
    if host is None or port is None:
        raise checker.error(
            at,
            f"{clip(str(section['listen']))} is not ADDR:PORT: an IPv4 address and a port 1..65535 "
            "(198.51.100.7:9650), or a bracketed IPv6 address and a port ([2001:db8::7]:9650)",
        )
    return MetricsConfig(host, port)


def parse_listen(text: str) -> tuple[str | None, int | None]:
    """(address, port) from ``ADDR:PORT`` / ``[ADDR6]:PORT``; None for the part that is not valid."""
    if text.startswith("["):
        inside, sep, port_text = text[1:].partition("]:")
        host = _address(inside, 6) if sep else None
    else:
        address, sep, port_text = text.rpartition(":")
        host = _address(address, 4) if sep else None
    port = int(port_text) if port_text.isascii() and port_text.isdigit() and len(port_text) <= 5 else None
    if port is not None and not 1 <= port <= 65535:
        port = None
    return host, port


def _address(text: str, version: int) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(address) if address.version == version else None
