"""FakeNetlink keeps the kernel rules the daemon relies on, so daemon unit tests built on it stay honest."""

from __future__ import annotations

import asyncio
import errno
from ipaddress import IPv4Address, IPv6Address, ip_interface

import pytest

from vrrpd.net.fakes import FakeNetlink
from vrrpd.net.netlink import AddressManager, NetlinkError


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def nl() -> FakeNetlink:
    fake = FakeNetlink()
    fake.add_link("eth0", "02:00:00:00:00:01", addresses=["198.51.100.1/24", "fe80::1/64"])
    return fake


def test_satisfies_the_protocol(nl):
    manager: AddressManager = nl
    assert manager is nl


def test_link_lookup(nl):
    link = run(nl.link("eth0"))
    assert (link.name, link.mac, link.up, link.mtu) == ("eth0", "02:00:00:00:00:01", True, 1500)
    with pytest.raises(NetlinkError) as info:
        run(nl.link("eth9"))
    assert info.value.errno == errno.ENODEV


def test_add_and_remove_are_idempotent(nl):
    idx = run(nl.link("eth0")).index
    vip4, vip6 = ip_interface("198.51.100.100/24"), ip_interface("2001:db8::100/64")
    for _ in range(2):
        run(nl.add(idx, vip4))
        run(nl.add(idx, vip6))
    assert run(nl.addresses(idx)).count(vip4) == 1
    assert run(nl.addresses(idx)).count(vip6) == 1
    for _ in range(2):
        run(nl.remove(idx, vip4))
        run(nl.remove(idx, vip6))
    assert vip4 not in run(nl.addresses(idx)) and vip6 not in run(nl.addresses(idx))
    run(nl.remove(999, vip4))  # an interface that is gone took its addresses with it
    assert [c[0] for c in nl.calls] == ["add"] * 4 + ["remove"] * 5


def test_primary_stays_primary_while_vips_come_and_go(nl):
    idx = run(nl.link("eth0")).index
    run(nl.add(idx, ip_interface("198.51.100.100/24")))  # same subnet: secondary
    assert run(nl.primary_ipv4(idx)) == IPv4Address("198.51.100.1")


def test_exclude_skips_a_vip_that_became_primary():
    nl = FakeNetlink()
    idx = nl.add_link("eth0", addresses=["203.0.113.7/32", "198.51.100.1/24"]).index
    assert run(nl.primary_ipv4(idx)) == IPv4Address("203.0.113.7")
    assert run(nl.primary_ipv4(idx, exclude={IPv4Address("203.0.113.7")})) == IPv4Address("198.51.100.1")


def test_link_local_is_none_while_tentative(nl):
    idx = run(nl.link("eth0")).index
    nl.set_tentative(idx, "fe80::1", True)
    assert run(nl.link_local(idx)) is None
    nl.set_tentative(idx, "fe80::1", False)
    assert run(nl.link_local(idx)) == IPv6Address("fe80::1")


def test_injected_failure_hits_the_next_call_only(nl):
    idx = run(nl.link("eth0")).index
    nl.fail_next = NetlinkError(errno.EPERM)
    with pytest.raises(NetlinkError):
        run(nl.add(idx, ip_interface("198.51.100.100/24")))
    run(nl.add(idx, ip_interface("198.51.100.100/24")))


def test_link_state_changes(nl):
    nl.set_up("eth0", False)
    assert run(nl.link("eth0")).up is False


def test_fake_tags_only_what_add_added_as_ours():
    import asyncio
    from ipaddress import ip_interface

    from vrrpd.net.fakes import FakeNetlink

    async def main() -> None:
        nl = FakeNetlink()
        info = nl.add_link("eth0", addresses=["198.51.100.11/24"])
        await nl.add(info.index, ip_interface("198.51.100.100/24"))
        assert await nl.ours(info.index) == {ip_interface("198.51.100.100/24").ip}

    asyncio.run(main())


def test_batch_reports_each_address_and_keeps_going(nl):
    """add_many/remove_many (issue #6's batch path) return one result per address: an injected failure lands on
    the first address only, the others are still added, and the calls are recorded address by address."""
    idx = run(nl.link("eth0")).index
    vips = [ip_interface("198.51.100.100/24"), ip_interface("2001:db8::100/64"), ip_interface("203.0.113.7/32")]
    nl.fail_next = OSError(errno.EPERM, "injected")
    errors = run(nl.add_many(idx, vips))
    assert [e.errno if e else None for e in errors] == [errno.EPERM, None, None]
    assert isinstance(errors[0], NetlinkError)
    assert run(nl.ours(idx)) == {vips[1].ip, vips[2].ip}
    assert run(nl.add_many(999, vips[:1]))[0].errno == errno.ENODEV
    assert run(nl.remove_many(idx, vips)) == [None, None, None]  # the first was never added: still success
    assert not set(vips) & set(run(nl.addresses(idx)))
    assert [c[0] for c in nl.calls] == ["add"] * 4 + ["remove"] * 3
