"""What a Master owns besides the addresses on its own interface, on the fakes: an address on another interface
(keepalived's ``virtual_ipaddress { ADDR dev OTHER }``), excluded addresses (``virtual_ipaddress_excluded``),
routes and rules (``virtual_routes``, ``virtual_rules``). Added while Master, removed at Backup, Fault and stop,
never anything vrrpd did not install itself."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address, ip_interface

from daemoncase import Case, advert_packet, until
from reloadcase import adverts, fake_netlink, reload, run

from vrrpd.daemon.status import instance_status
from vrrpd.net.fakes import FakeAnnouncer, FakeNetlink
from vrrpd.net.routes import KernelRoute, KernelRule
from vrrpd.net.sockets import parse_ipv4
from vrrpd.protocol import Family, State

OWNED = """\
instances:
  - name: gw
    interface: eth0
    vrid: 7
    advert_interval: 0.01
    virtual_addresses: [198.51.100.70/24, {address: 203.0.113.70/24, interface: eth1}]
    excluded_addresses: [198.51.100.80/24, {address: "2001:db8::80/64", interface: eth1}]
"""

ROUTED = """\
instances:
  - name: gw
    interface: eth0
    vrid: 7
    advert_interval: 0.01
    virtual_addresses: [198.51.100.70/24]
    routes:
      - {to: 203.0.113.128/25, via: 198.51.100.1, interface: eth0, table: 100, metric: 10}
      - {to: 198.51.100.128/25, type: blackhole}
    rules:
      - {from: 198.51.100.0/24, table: 100, priority: 1000}
"""

TABLE_100 = KernelRoute(dst="203.0.113.128/25", gateway="198.51.100.1", oif=2, table=100, metric=10)
"""oif 2: eth0 on `fake_netlink` (the fake numbers its links from 2, after lo)."""
BLACKHOLE = KernelRoute(dst="198.51.100.128/25", type="blackhole")
RULE = KernelRule(family=4, table=100, src="198.51.100.0/24", priority=1000)


def on(case: Case, ifname: str) -> set[str]:
    return {str(a) for a in case.netlink.addresses_of(ifname)}


def take_over_from(case: Case, name: str) -> None:
    """A peer with priority 200 advertises: the Master becomes Backup (RFC 9568 §6.4.3)."""
    link = case.daemon.links[("eth0", Family.IPV4)]
    case.sockets.socket("eth0").deliver(parse_ipv4(advert_packet(7, 200, "198.51.100.2", "198.51.100.70"), 2))
    case.daemon.listener.on_readable(link)
    assert case.inst(name).router.state is State.BACKUP


def test_an_address_on_another_interface_and_excluded_ones_come_with_master_and_only_the_vips_are_advertised():
    """keepalived 2.2.7 vrrp.c (vrrp_build_vrrp_v3 / v2) puts every virtual_ipaddress entry of the instance's
    family in the advert, a ``dev OTHER`` one too, and none of virtual_ipaddress_excluded; vrrp_ipaddress.c adds
    each address to its own interface, and vrrp_arp / vrrp_ndisc announce it there."""

    async def body(case: Case) -> None:
        inst = case.inst("gw")
        await until(lambda: "203.0.113.70/24" in on(case, "eth1") and "2001:db8::80/64" in on(case, "eth1"))
        assert {"198.51.100.70/24", "198.51.100.80/24"} <= on(case, "eth0")
        assert "203.0.113.70/24" not in on(case, "eth0")
        advertised = {a.addresses for _, a in adverts(case.sent("gw"), 7)}
        assert advertised == {(ip_address("198.51.100.70"), ip_address("203.0.113.70"))}
        eth1 = inst.devices["eth1"].announcer
        assert isinstance(eth1, FakeAnnouncer) and isinstance(inst.announcer, FakeAnnouncer)
        await until(lambda: bool(eth1.announced) and bool(inst.announcer.announced))  # type: ignore[union-attr]
        assert set(eth1.announced[0]) == {ip_address("203.0.113.70"), ip_address("2001:db8::80")}
        assert set(inst.announcer.announced[0]) == {ip_address("198.51.100.70"), ip_address("198.51.100.80")}
        shown = instance_status(inst, 0.0, case.daemon.notifier)
        assert shown["excluded_addresses"] == ["198.51.100.80/24", "2001:db8::80/64"]
        assert shown["address_interfaces"] == {"203.0.113.70": "eth1", "2001:db8::80": "eth1"}
        take_over_from(case, "gw")
        await until(lambda: on(case, "eth1") == {"203.0.113.11/24"} and on(case, "eth0") == {"198.51.100.11/24"})

    run(OWNED, body)


def test_routes_and_rules_are_installed_while_master_and_a_route_already_there_is_never_removed():
    """keepalived 2.2.7 vrrp.c vrrp_state_become_master adds the addresses, then the routes, then the rules;
    vrrp_state_leave_master removes the rules, then the routes, then the addresses. A route that was in the kernel
    before (the add answers EEXIST) is someone else's: keepalived (vrrp_iproute.c: not `set`) and vrrpd leave it in
    place; vrrpd shows it as not ours."""

    async def body(case: Case) -> None:
        inst = case.inst("gw")
        await until(lambda: RULE in case.netlink.rules)
        assert case.netlink.routes == {TABLE_100, BLACKHOLE}
        shown = instance_status(inst, 0.0, case.daemon.notifier)
        assert shown["routes"] == [
            {"route": "203.0.113.128/25 via 198.51.100.1 dev eth0 table 100 metric 10", "state": "installed"},
            {"route": "blackhole 198.51.100.128/25", "state": "not ours"},
        ]
        assert shown["rules"] == [{"rule": "from 198.51.100.0/24 lookup 100 priority 1000", "state": "installed"}]
        take_over_from(case, "gw")
        await until(lambda: not case.netlink.rules and "198.51.100.70/24" not in on(case, "eth0"))
        assert case.netlink.routes == {BLACKHOLE}
        # In keepalived's order: the address, the routes, the rule; then back out in reverse.
        steps = [op for op, _, _ in case.netlink.calls if op != "set_link"]
        assert steps == ["add", "add_route", "add_route", "add_rule", "remove_rule", "remove_route", "remove"]
        assert ("remove_route", 0, BLACKHOLE) not in case.netlink.calls

    netlink = fake_netlink()
    netlink.routes.add(BLACKHOLE)  # the administrator's own, there before vrrpd starts
    run(ROUTED, body, netlink=netlink)


def test_routes_go_on_fault_and_on_stop():
    """Leaving Master for Fault (its interface down) or stopping removes them as leaving for Backup does."""

    async def body(case: Case) -> None:
        await until(lambda: RULE in case.netlink.rules and TABLE_100 in case.netlink.routes)
        case.netlink.set_up("eth0", False)
        await until(lambda: not case.netlink.routes and not case.netlink.rules)
        assert case.inst("gw").router.state is State.FAULT
        case.netlink.set_up("eth0", True)
        await until(lambda: RULE in case.netlink.rules and len(case.netlink.routes) == 2)
        await case.daemon.stop()
        assert not case.netlink.routes and not case.netlink.rules

    run(ROUTED, body)


def test_owned_keys_changed_by_a_reload_on_a_master_follow_at_once():
    """docs/reload.md: a Master's excluded addresses, routes and rules change in place (removed ones deleted,
    added ones installed), as keepalived 2.2.7's reload (vrrp.c clear_diff_vrrp_vip, clear_diff_vrrp_vroutes,
    clear_diff_vrrp_vrules remove what the new file dropped; the Master then adds the rest)."""
    changed = (
        OWNED.replace("198.51.100.80/24", "198.51.100.81/24")
        + """    routes: [{to: 203.0.113.128/25, via: 198.51.100.1, table: 100}]\n"""
        + """    rules: [{to: 203.0.113.0/24, table: 100}]\n"""
    )

    async def body(case: Case) -> None:
        await until(lambda: "198.51.100.80/24" in on(case, "eth0"))
        plan = await reload(case, changed)
        assert set(plan.instances[0].keys) == {"excluded_addresses", "routes", "rules"}
        await until(lambda: "198.51.100.81/24" in on(case, "eth0") and bool(case.netlink.rules))
        assert "198.51.100.80/24" not in on(case, "eth0")
        assert case.netlink.routes == {KernelRoute(dst="203.0.113.128/25", gateway="198.51.100.1", table=100)}
        assert case.netlink.rules == {KernelRule(family=4, table=100, dst="203.0.113.0/24")}
        await reload(case, OWNED)
        await until(lambda: not case.netlink.routes and not case.netlink.rules)

    run(OWNED, body)


def test_owned_keys_changed_by_a_reload_on_a_backup_are_only_recorded():
    """A Backup holds nothing (RFC 9568 §6.4.2): the change is recorded, and its next takeover installs it."""
    backup = OWNED.replace("advert_interval: 0.01", "advert_interval: 0.01\n    priority: 50")

    async def body(case: Case) -> None:
        take_over_from(case, "gw")
        since = len(case.netlink.calls)
        await reload(case, backup.replace("198.51.100.80/24", "198.51.100.81/24") + ROUTED.split("\n", 6)[6])
        await case.daemon.worker.drain([case.inst("gw")])
        assert case.netlink.calls[since:] == []
        assert case.inst("gw").config.routes

    run(backup, body)


def test_an_address_whose_interface_a_reload_changes_moves_at_once_on_a_master():
    async def body(case: Case) -> None:
        await until(lambda: "203.0.113.70/24" in on(case, "eth1"))
        await reload(case, OWNED.replace("{address: 203.0.113.70/24, interface: eth1}", "203.0.113.70/24"))
        await until(lambda: "203.0.113.70/24" in on(case, "eth0"))
        assert "203.0.113.70/24" not in on(case, "eth1")

    run(OWNED, body)


def test_a_missing_interface_of_an_address_is_a_start_up_error():
    netlink = fake_netlink()
    netlink.remove_link("eth1")
    try:
        run(OWNED, lambda case: until(lambda: True), netlink=netlink)
    except Exception as exc:
        assert "interface eth1 of its addresses" in str(exc)
    else:
        raise AssertionError("started without eth1")


def test_leftovers_of_a_crash_on_the_other_interface_and_excluded_ones_go_at_start_but_never_the_hosts_own():
    """RFC 9568 §6.4.2: a Backup holds none of the addresses; after a crash the ones vrrpd added (IFA_PROTO tag)
    are removed at start-up wherever they live. An excluded address vrrpd did not add is the host's own: kept."""
    slow = OWNED.replace("advert_interval: 0.01", "advert_interval: 10")
    netlink = FakeNetlink()
    netlink.add_link("eth0", addresses=["198.51.100.11/24", "198.51.100.80/24"])  # .80: the administrator's
    eth1 = netlink.add_link("eth1", addresses=["203.0.113.11/24"])

    async def body(case: Case) -> None:
        assert case.inst("gw").router.state is not State.MASTER
        assert on(case, "eth1") == {"203.0.113.11/24"}  # the crash's 203.0.113.70 and 2001:db8::80 are gone
        assert "198.51.100.80/24" in on(case, "eth0")  # the administrator's own: kept

    async def leave_crash_leftovers() -> None:
        await netlink.add(eth1.index, ip_interface("203.0.113.70/24"))  # tagged as vrrpd's, as a crash leaves them
        await netlink.add(eth1.index, ip_interface("2001:db8::80/64"))

    asyncio.run(leave_crash_leftovers())
    run(slow, body, netlink=netlink)
