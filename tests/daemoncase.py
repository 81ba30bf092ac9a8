"""Shared by the daemon tests that run without sockets (tests/test_daemon_*.py, tests/test_filetrack.py): an
instance wired into a Daemon with no link or announcer, whose adverts land in a Tx."""

from __future__ import annotations

import struct
from ipaddress import ip_address
from typing import Any

from vrrpd.config import InstanceConfig
from vrrpd.daemon import Daemon, Instance
from vrrpd.protocol import VirtualRouter, decode
from vrrpd.protocol.packet import Advert, encode
from vrrpd.protocol.tracking import Tracking

SOURCE = ip_address("198.51.100.11")


class Tx:
    """Stands in for the instance's socket: keeps every advert it would send."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, wire: bytes, source: Any) -> None:
        self.sent.append(wire)


def priorities(tx: Tx) -> list[int]:
    """The priority of every advert sent so far, in order."""
    return [decode(w, SOURCE, ip_address("224.0.0.18")).advert.priority for w in tx.sent]


def add_instance(daemon: Daemon, cfg: InstanceConfig, tx: Tx) -> Instance:
    """The Instance of `cfg`, added to `daemon`, with SOURCE as its address and `tx` as its socket."""
    inst = Instance(
        cfg,
        VirtualRouter(cfg.router_config(), SOURCE),
        link=None,  # type: ignore[arg-type]
        announcer=None,  # type: ignore[arg-type]
        source=SOURCE,
        tx=tx,  # type: ignore[arg-type]
        tracking=Tracking(cfg.priority, cfg.trackers),
    )
    daemon.instances[cfg.name] = inst
    return inst


def advert_packet(vrid: int, priority: int, src: str, vip: str) -> bytes:
    """A raw IPv4 packet (header included, TTL 255, to 224.0.0.18) carrying one VRRPv3 advert."""
    payload = encode(Advert(vrid=vrid, priority=priority, interval_cs=1, addresses=(ip_address(vip),)), ip_address(src))
    header = bytearray(20)
    header[0], header[8], header[9] = 0x45, 255, 112
    struct.pack_into("!H", header, 2, 20 + len(payload))
    header[12:16], header[16:20] = ip_address(src).packed, ip_address("224.0.0.18").packed
    return bytes(header) + payload
