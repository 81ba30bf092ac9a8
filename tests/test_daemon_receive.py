"""The daemon's receive path without sockets: a repeated advert skips decoding, never the checks that depend on
the packet rather than its bytes (RFC 9568 §7.1)."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from daemoncase import FAST_BACKUP, advert_packet, started

from vrrpd.config import parse_config
from vrrpd.daemon import StartupError
from vrrpd.daemon.assembly import check_advert_fits
from vrrpd.net.netlink import LinkInfo
from vrrpd.net.sockets import parse_ipv4
from vrrpd.protocol import Family, State
from vrrpd.protocol import receive as receive_module


def test_a_repeated_advert_is_decoded_once_but_a_changed_ttl_is_still_dropped() -> None:
    async def body() -> None:
        case = await started(FAST_BACKUP)
        inst, link = case.inst("v1"), case.daemon.links[("eth0", Family.IPV4)]
        sock = case.sockets.socket("eth0")
        raw = advert_packet(1, 200, "198.51.100.2", "203.0.113.1")
        with mock.patch.object(receive_module, "decode", wraps=receive_module.decode) as decode:
            for _ in range(5):
                sock.deliver(parse_ipv4(raw, 2))
            case.daemon.listener.on_readable(link)
            assert decode.call_count == 1
            assert inst.router.counters.adverts_received == 5
            assert inst.router.state is State.BACKUP
            hop = bytearray(raw)
            hop[8] = 254  # one router away: RFC 9568 §7.1 wants 255
            sock.deliver(parse_ipv4(bytes(hop), 2))
            case.daemon.listener.on_readable(link)
            assert inst.router.counters.drops == {"ttl": 1}
            assert inst.router.counters.adverts_received == 5
            # Other bytes (a new priority): decoded again, and the router follows the new priority.
            lower = advert_packet(1, 150, "198.51.100.2", "203.0.113.1")
            sock.deliver(parse_ipv4(lower, 2))
            case.daemon.listener.on_readable(link)
            assert decode.call_count == 2
            assert inst.router.master_priority == 150
        await case.stop()

    asyncio.run(body())


def test_an_advert_larger_than_the_link_mtu_refuses_to_start() -> None:
    """A fragmented advert is dropped or mishandled by peers: say so at start-up, with the count that fits."""
    addresses = ", ".join(f'"2001:db8::{i:x}/64"' for i in range(1, 92))
    text = f"instances:\n  - {{name: a, interface: eth0, vrid: 1, virtual_addresses: [{addresses}]}}\n"
    cfg = parse_config(text).instances[0]
    eth0 = LinkInfo(index=2, name="eth0", mac="02:00:00:00:00:01", up=True, mtu=1500)
    with pytest.raises(StartupError, match=r"1504 bytes with 91 addresses.*instances of at most 90"):
        check_advert_fits(cfg, eth0)
    check_advert_fits(cfg, LinkInfo(index=2, name="eth0", mac="02:00:00:00:00:01", up=True, mtu=9000))
