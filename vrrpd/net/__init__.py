"""I/O adapters: the raw VRRP socket, ARP/NA announcements and netlink address management.

Everything here is non-blocking; the daemon drives the sockets from its asyncio loop (`loop.add_reader`).
"""

from vrrpd.net.announce import Announcer, build_garp, build_unsolicited_na
from vrrpd.net.netlink import (
    AddressManager,
    FakeLinkMonitor,
    FakeNetlink,
    LinkInfo,
    LinkMonitor,
    Netlink,
    NetlinkError,
    NetlinkLinkMonitor,
)
from vrrpd.net.sockets import Received, VrrpSocket

__all__ = [
    "AddressManager",
    "Announcer",
    "FakeLinkMonitor",
    "FakeNetlink",
    "LinkInfo",
    "LinkMonitor",
    "Netlink",
    "NetlinkError",
    "NetlinkLinkMonitor",
    "Received",
    "VrrpSocket",
    "build_garp",
    "build_unsolicited_na",
]
