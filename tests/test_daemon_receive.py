"""The daemon's receive path without sockets: a repeated advert skips decoding, never the checks that depend on
the packet rather than its bytes (RFC 9568 §7.1)."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from daemoncase import FAST_BACKUP, advert_packet, started
from reloadcase import reload

from vrrpd.config import parse_config
from vrrpd.daemon import StartupError
from vrrpd.daemon.assembly import check_advert_fits
from vrrpd.net.netlink import LinkInfo
from vrrpd.net.sockets import parse_ipv4
from vrrpd.protocol import Family, PriorityChanged, State
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


def test_a_backups_repeats_take_the_raw_lane_and_anything_else_the_whole_path() -> None:
    """RFC 9568 §6.4.2: every advert of the followed master restarts Master_Down_Timer. Its repeats skip parsing and
    the screen (Link.repeats); a packet that differs in any byte the checks read, or one the router would handle
    otherwise, is screened and handled in full."""

    async def body() -> None:
        case = await started(FAST_BACKUP)
        inst, link = case.inst("v1"), case.daemon.links[("eth0", Family.IPV4)]
        sock = case.sockets.socket("eth0")
        raw = advert_packet(1, 200, "198.51.100.2", "203.0.113.1")
        listener = case.daemon.listener
        with mock.patch.object(listener, "receive", wraps=listener.receive) as whole_path:
            for _ in range(5):
                sock.deliver(parse_ipv4(raw, 2))
            listener.on_readable(link)
            assert whole_path.call_count == 1  # the first only
            assert inst.router.counters.adverts_received == 5
            assert list(link.repeats) == [raw[12:]]
            deadline = inst.router.master_down_at
            assert deadline is not None and case.daemon.scheduler.deadlines.get("v1") == deadline
            hop = bytearray(raw)
            hop[8] = 254  # the same bytes one router away: screened, and dropped (§7.1)
            sock.deliver(parse_ipv4(bytes(hop), 2))
            listener.on_readable(link)
            assert inst.router.counters.drops == {"ttl": 1} and whole_path.call_count == 2
            # A drop is no input: the router still follows its master, and the lane still serves it.
            sock.deliver(parse_ipv4(raw, 2))
            listener.on_readable(link)
            assert whole_path.call_count == 2 and inst.router.counters.adverts_received == 6
            # Another input in between (a priority change): the next repeat takes the whole path, once.
            case.daemon.driver.feed(inst, PriorityChanged(90))
            for _ in range(3):
                sock.deliver(parse_ipv4(raw, 2))
            listener.on_readable(link)
            assert whole_path.call_count == 3 and inst.router.counters.adverts_received == 9
            # A new priority from the master: new bytes, a new entry in place of the old one.
            lower = advert_packet(1, 150, "198.51.100.2", "203.0.113.1")
            for _ in range(2):
                sock.deliver(parse_ipv4(lower, 2))
            listener.on_readable(link)
            assert whole_path.call_count == 4 and inst.router.master_priority == 150
            assert list(link.repeats) == [lower[12:]] and link.repeat_keys == {1: lower[12:]}
            assert inst.router.state is State.BACKUP
        await case.stop()

    asyncio.run(body())


def test_a_router_that_leaves_its_link_leaves_no_raw_repeat_behind() -> None:
    """A reload that re-creates an instance must not feed the old router: its entry goes with it."""

    async def body() -> None:
        case = await started(FAST_BACKUP)
        inst, link = case.inst("v1"), case.daemon.links[("eth0", Family.IPV4)]
        sock = case.sockets.socket("eth0")
        sock.deliver(parse_ipv4(advert_packet(1, 200, "198.51.100.2", "203.0.113.1"), 2))
        case.daemon.listener.on_readable(link)
        assert link.repeat_keys == {1: link.repeat_keys[1]}
        link.remove(inst)
        assert link.repeats == {} and link.repeat_keys == {}
        link.add(inst)
        await case.stop()

    asyncio.run(body())


def test_a_sync_group_member_never_takes_the_shortcut() -> None:
    """The group looks at every input of its members (vrrpd.protocol.syncgroup): each advert goes the whole way."""
    config = FAST_BACKUP + "sync_groups:\n  g:\n    members: [v1]\n"

    async def body() -> None:
        case = await started(config)
        inst, link = case.inst("v1"), case.daemon.links[("eth0", Family.IPV4)]
        sock = case.sockets.socket("eth0")
        raw = advert_packet(1, 200, "198.51.100.2", "203.0.113.1")
        fed = mock.patch.object(case.daemon.driver, "feed", wraps=case.daemon.driver.feed)
        with fed as feed:
            for _ in range(4):
                sock.deliver(parse_ipv4(raw, 2))
            case.daemon.listener.on_readable(link)
            assert feed.call_count == 4 and inst.router.counters.adverts_received == 4
        await case.stop()

    asyncio.run(body())


def test_a_change_in_place_sends_the_next_repeat_through_the_screen_again() -> None:
    """docs/reload.md, row `accept_checksum` (RFC 9568 §5.2.8): a reload that changes only what the screen accepts
    feeds the router nothing, so the raw lane must forget its repeat too: the master's next advert is screened
    under the new setting (here: refused, its checksum form is no longer accepted)."""

    async def body() -> None:
        case = await started(FAST_BACKUP)
        inst, link = case.inst("v1"), case.daemon.links[("eth0", Family.IPV4)]
        sock = case.sockets.socket("eth0")
        raw = advert_packet(1, 200, "198.51.100.2", "203.0.113.1")  # the pseudo-header form
        sock.deliver(parse_ipv4(raw, 2))
        case.daemon.listener.on_readable(link)
        assert link.repeat_keys == {1: raw[12:]} and inst.router.counters.adverts_received == 1
        strict = FAST_BACKUP.replace(
            "advert_interval: 0.01,", "advert_interval: 0.01, checksum: message-only, accept_checksum: strict,"
        )
        await reload(case, strict)
        assert case.inst("v1") is inst and link.repeats == {}
        sock.deliver(parse_ipv4(raw, 2))
        case.daemon.listener.on_readable(link)
        assert inst.router.counters.drops == {"checksum": 1} and inst.router.counters.adverts_received == 1
        await case.stop()

    asyncio.run(body())
