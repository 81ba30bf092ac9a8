"""A reload carried out on a running daemon (issue #11), instance by instance, without root: what changes in place
keeps its state, timers and counters, what is re-created stops as at shutdown and starts as at start-up, and the
neighbour (instance b, a Master on the same link, in every test) never notices. docs/reload.md names, key by key,
the test that covers it."""

from __future__ import annotations

import asyncio
import itertools
import logging
from ipaddress import ip_address
from pathlib import Path

import pytest
from daemoncase import Case, until
from reloadcase import (
    TRUE,
    Peer,
    Watch,
    adverts,
    announcements,
    document,
    fake_netlink,
    fake_proc,
    instance,
    lines,
    masters,
    netlink_on,
    reload,
    run,
)

from vrrpd.config.reload import Change
from vrrpd.daemon import vmac as vmac_module
from vrrpd.daemon.model import AnnounceVips
from vrrpd.protocol import AddressCheck, State, decode
from vrrpd.protocol.packet import ChecksumForm, ChecksumMode

A_VIP, B_VIP, C_VIP = "198.51.100.101/24", "198.51.100.102/24", "198.51.100.103/24"
NEW_VIP = "198.51.100.111/24"


def base(out: Path, *more: str, **a: object) -> str:
    """a (VRID 1) and b (VRID 2) on eth0, Masters, then `more` instances; `a`: keys of a (see `instance`)."""
    return document(instance(out, "a", 1, A_VIP, **a), instance(out, "b", 2, B_VIP), *more)


def test_priority_changed_on_a_master_is_advertised_at_once_and_it_stays_master(tmp_path: Path) -> None:
    """Row `priority`, Master (RFC 9568 §6.4.3: the next advert carries it; tracking's rule: at once)."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a = case.inst("a")
        router, counters, sent = a.router, a.router.counters, a.router.counters.adverts_sent
        watch, calls = Watch(case, "b", tmp_path), len(case.netlink.calls)
        plan = await reload(case, base(tmp_path, priority=150))
        assert [(p.name, p.change, p.keys) for p in plan.instances] == [
            ("a", Change.CHANGED, ("priority",)),
            ("b", Change.UNCHANGED, ()),
        ]
        assert a.router is router and router.state is State.MASTER and router.priority == 150
        assert counters is router.counters and counters.adverts_sent >= sent + 1  # one at once
        assert adverts(case.sent("a"), 1)[-1][1].priority == 150
        await asyncio.sleep(0.3)
        assert {advert.priority for _, advert in adverts(case.sent("a"), 1)[sent:]} == {150}
        assert counters.transitions == 2 and netlink_on(case, [A_VIP], calls) == []
        assert lines(tmp_path / "a") == ["a INITIALIZE BACKUP", "a BACKUP MASTER"]
        daemon = case.daemon
        assert daemon.config.instance("a").priority == 150 and a.config.priority == 150 and daemon.config == plan.new
        assert daemon.sync.config is daemon.config and daemon.monitors.config is daemon.config
        assert all(inst.config is plan.new.instance(name) for name, inst in daemon.instances.items())
        await watch.check()

    run(base(tmp_path), body)


def test_priority_changed_on_a_backup_moves_its_election_not_its_state(tmp_path: Path) -> None:
    """Row `priority`, Backup (RFC 9568 §6.4.2: Skew_Time and Master_Down_Interval follow the priority): it stays
    Backup behind the higher master, sends nothing, touches nothing."""

    async def body(case: Case) -> None:
        # a starts with a 1 s interval (Master_Down_Interval 3.6 s, so it hears the peer before it could become
        # Master); the peer's 0.5 s then gives 1.5 s, which a loaded machine's late timer cannot reach in the test.
        peer = Peer(case, 1, 250, [A_VIP], interval=0.5)
        await masters(case, tmp_path, "b")
        await until(lambda: case.inst("a").router.master_priority == 250)
        a = case.inst("a")
        router, down, repeat = a.router, a.router.master_down_interval, a.receiver.repeat
        watch, calls, sent = Watch(case, "b", tmp_path), len(case.netlink.calls), router.counters.adverts_sent
        await reload(case, base(tmp_path, priority=150, advert_interval=1))
        assert a.router is router and router.state is State.BACKUP and router.priority == 150
        assert repeat is not None and a.receiver.repeat is not repeat  # the screen's memo goes with the old file
        assert router.master_down_interval < down  # a higher priority waits less (RFC 9568 §6.1 Skew_Time)
        await asyncio.sleep(0.3)
        assert router.state is State.BACKUP and router.counters.adverts_sent == sent == 0
        assert netlink_on(case, [A_VIP], calls) == [] and lines(tmp_path / "a") == ["a INITIALIZE BACKUP"]
        await watch.check()
        peer.stop()

    run(base(tmp_path, priority=100, advert_interval=1), body)


VMAC = {"virtual_mac": "true", "garp": "{repeat_delay: 0.4}"}


def test_vips_changed_on_a_master_are_removed_and_added_and_only_the_added_one_announced(tmp_path: Path) -> None:
    """Row `virtual_addresses`, Master (RFC 9568 §6.4.3: a Master owns its VIPs; §8.1.2: announced once in place).
    On a virtual MAC, whose macvlan stays up: no protodown, no "down", the takeover's announcement goes on, but its
    second burst (0.4 s after the takeover, after the reload) no longer names the VIP the reload took away."""
    proc = fake_proc(tmp_path / "proc", "eth0", "vrrp4-1")
    out = tmp_path / "hooks"
    out.mkdir()

    async def body(case: Case) -> None:
        await masters(case, out, "a", "b")
        a = case.inst("a")
        assert a.vmac is not None and a.vmac.running
        macvlan, garp = a.vmac.index, a.garp
        ops: list[object] = []
        put = a.ops.put_nowait
        a.ops.put_nowait = lambda op: (ops.append(op), put(op))[1]  # type: ignore[method-assign]
        watch, calls = Watch(case, "b", out), len(case.netlink.calls)
        announcer = a.announcer
        assert hasattr(announcer, "announced")
        before, sent = len(announcer.announced), len(adverts(case.sent("a"), 1))
        await reload(case, base(out, **VMAC, virtual_addresses=f"[{C_VIP}, {NEW_VIP}]"))
        # The new list goes out with the reload, not an interval later.
        assert adverts(case.sent("a"), 1)[sent][1].addresses == (ip_address(C_VIP[:-3]), ip_address(NEW_VIP[:-3]))
        await until(lambda: len(announcer.announced) >= before + 10)  # both bursts of the added ones
        await asyncio.sleep(0.1)
        assert netlink_on(case, [A_VIP, C_VIP, NEW_VIP], calls) == [("remove", A_VIP), ("add", C_VIP), ("add", NEW_VIP)]
        assert [call for call in case.netlink.calls[calls:] if call[0] == "set_link"] == []  # no "down", no "up"
        new = (ip_address(C_VIP[:-3]), ip_address(NEW_VIP[:-3]))
        assert {ip.ip for ip in case.netlink.addresses_of("vrrp4-1")} == set(new)
        assert [type(op).__name__ for op in ops] == ["RemoveVips", "AddVips", "AnnounceVips"]
        assert isinstance(ops[-1], AnnounceVips) and ops[-1].beside
        assert a.garp is garp  # the takeover's announcement and its refresh go on
        assert set(announcer.announced[before:]) == {new}  # the added ones only; A never again
        assert a.router.state is State.MASTER and a.vmac.index == macvlan and a.vmac.running
        assert adverts(case.sent("a"), 1)[-1][1].addresses == new
        await watch.check()

    original = vmac_module.LINK_LOCAL_TIMEOUT
    vmac_module.LINK_LOCAL_TIMEOUT = 0.05  # the fake macvlan never gets an IPv6 link-local: IPv4 needs none
    try:
        run(base(out, **VMAC), body, proc=proc)
    finally:
        vmac_module.LINK_LOCAL_TIMEOUT = original


def test_vips_changed_on_a_backup_are_only_recorded(tmp_path: Path) -> None:
    """Row `virtual_addresses`, Backup (RFC 9568 §6.4.2: a Backup holds no VIP): no netlink call, no announcement;
    its next takeover adds the new list."""

    async def body(case: Case) -> None:
        # a starts with a 1 s interval (Master_Down_Interval 3.6 s, so it hears the peer before it could become
        # Master); the peer's 0.5 s then gives 1.5 s, which a loaded machine's late timer cannot reach in the test.
        peer = Peer(case, 1, 250, [A_VIP], interval=0.5)
        await masters(case, tmp_path, "b")
        await until(lambda: case.inst("a").router.master_priority == 250)
        a = case.inst("a")
        watch, calls, announced = Watch(case, "b", tmp_path), len(case.netlink.calls), announcements(a, A_VIP, NEW_VIP)
        await reload(case, base(tmp_path, virtual_addresses=f"[{NEW_VIP}]"))
        await asyncio.sleep(0.3)
        assert netlink_on(case, [A_VIP, NEW_VIP], calls) == [] and announcements(a, A_VIP, NEW_VIP) == announced
        assert a.router.state is State.BACKUP and a.router.config.addresses == (ip_address(NEW_VIP[:-3]),)
        await watch.check()
        peer.stop()
        await until(lambda: a.router.state is State.MASTER)
        await until(lambda: netlink_on(case, [A_VIP, NEW_VIP], calls) == [("add", NEW_VIP)])

    run(base(tmp_path, priority=100), body)


def test_interval_changed_takes_effect_at_the_next_advert(tmp_path: Path) -> None:
    """Row `advert_interval`, Master (RFC 9568 §6.4.3: Adver_Timer is reset to the interval when it fires): the
    deadline armed keeps its time; the advert it sends carries the new interval, and the next one follows it."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a = case.inst("a")
        deadline, watch = a.router.adver_at, Watch(case, "b", tmp_path)
        await reload(case, base(tmp_path, advert_interval=0.2))
        assert a.router.adver_at == deadline and a.timer_at == deadline
        sent = len(adverts(case.sent("a"), 1))
        await asyncio.sleep(0.7)
        later = adverts(case.sent("a"), 1)[sent:]
        assert [advert.interval_cs for _, advert in later] == [20] * len(later) and len(later) >= 3
        assert later[0][0] - deadline < 0.1  # the deadline armed before the reload fired, not one new interval on
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(later)]
        assert all(0.15 < gap < 0.3 for gap in gaps), gaps  # 0.2 s, where it was 0.05
        assert case.daemon.status()["instances"][0]["advert_interval"] == 0.2
        await watch.check()

    run(base(tmp_path), body)


def test_hooks_changed_run_from_the_next_transition_on_and_none_runs_at_the_reload(tmp_path: Path) -> None:
    """Row `notify`: the reload itself is no transition (no hook, no event); the next one runs the new hooks."""
    other = tmp_path / "other"
    other.mkdir()

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        watch, events = Watch(case, "b", tmp_path), len(case.daemon.notifier.events.recent(1000))
        await reload(case, base(tmp_path).replace(f"{tmp_path}/$VRRPD_NAME", f"{other}/$VRRPD_NAME", 1))
        await asyncio.sleep(0.3)
        assert len(case.daemon.notifier.events.recent(1000)) == events and lines(other / "a") == []
        peer = Peer(case, 1, 250, [A_VIP])
        await until(lambda: lines(other / "a") == ["a MASTER BACKUP"])
        assert lines(tmp_path / "a") == ["a INITIALIZE BACKUP", "a BACKUP MASTER"]
        await watch.check()
        peer.stop()

    run(base(tmp_path), body)


SCRIPTS = (
    f"track_scripts:\n  chk_a: {{command: [{TRUE}], interval: 60}}\n  chk_b: {{command: [{TRUE}], interval: 60}}\n"
)


def tracked(out: Path, interval: int = 60) -> str:
    return document(
        instance(out, "a", 1, A_VIP, track_scripts="[{name: chk_a, weight: -10}]"),
        instance(out, "b", 2, B_VIP, track_scripts="[{name: chk_b, weight: -10}]"),
        head=SCRIPTS.replace("interval: 60}\n  chk_b", f"interval: {interval}}}\n  chk_b"),
    )


def test_a_changed_script_definition_restarts_its_monitor_only_and_keeps_its_state(tmp_path: Path) -> None:
    """Row `track_scripts` (top level): chk_a's new interval restarts chk_a's monitor, from the state it had; chk_b,
    unchanged, keeps its monitor and state. Neither instance's tracker list changed: neither notices."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        monitors = case.daemon.monitors
        await until(lambda: all(m.counters.runs == 1 for m in monitors.scripts.values()))
        old_a, old_b = monitors.scripts["chk_a"], monitors.scripts["chk_b"]
        assert old_a.state.value == old_b.state.value == "up"
        watch_a, watch_b = Watch(case, "a", tmp_path), Watch(case, "b", tmp_path)
        plan = await reload(case, tracked(tmp_path, 30))
        assert [p.change for p in plan.instances] == [Change.UNCHANGED, Change.UNCHANGED]
        new_a = monitors.scripts["chk_a"]
        assert new_a is not old_a and new_a.config.interval == 30 and new_a.started and not old_a.started
        assert new_a.state.value == "up" and monitors.scripts["chk_b"] is old_b and old_b.started
        assert old_b.counters.runs == 1  # not run again
        await until(lambda: new_a.counters.runs == 1)
        await asyncio.sleep(0.3)
        await watch_a.check()
        await watch_b.check()

    run(tracked(tmp_path), body)


def test_accept_mode_flipped_on_a_master_blocks_then_unblocks_its_vips_in_its_worker(tmp_path: Path) -> None:
    """Row `accept_mode`, Master (RFC 9568 §6.1 Accept_Mode): off, the table is made and the VIP it holds blocked;
    on again, unblocked. The VIP itself is not touched."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        firewall, calls, watch = case.firewall, len(case.netlink.calls), Watch(case, "b", tmp_path)
        vip = ip_address(A_VIP[:-3])
        await reload(case, base(tmp_path, accept_mode="false"))
        await until(lambda: firewall.blocked == {vip})
        assert firewall.calls[-2:] == [("start", ()), ("block", (vip,))]
        await reload(case, base(tmp_path))
        await until(lambda: firewall.blocked == set())
        assert firewall.calls[-1] == ("unblock", (vip,))
        await asyncio.sleep(0.3)
        assert netlink_on(case, [A_VIP], calls) == [] and case.inst("a").router.state is State.MASTER
        await watch.check()

    run(base(tmp_path), body)


def test_accept_mode_turned_off_on_a_backup_blocks_nothing_until_it_takes_over(tmp_path: Path) -> None:
    """Row `accept_mode`, Backup: recorded; its next takeover blocks the VIP before adding it (RFC 9568 §6.1)."""

    async def body(case: Case) -> None:
        # a starts with a 1 s interval (Master_Down_Interval 3.6 s, so it hears the peer before it could become
        # Master); the peer's 0.5 s then gives 1.5 s, which a loaded machine's late timer cannot reach in the test.
        peer = Peer(case, 1, 250, [A_VIP], interval=0.5)
        await masters(case, tmp_path, "b")
        await until(lambda: case.inst("a").router.master_priority == 250)
        await reload(case, base(tmp_path, priority=100, accept_mode="false"))
        await asyncio.sleep(0.2)
        assert [call for call in case.firewall.calls if call[0] == "block"] == []
        calls = len(case.netlink.calls)
        peer.stop()
        await until(lambda: netlink_on(case, [A_VIP], calls) == [("add", A_VIP)])
        assert case.firewall.calls[-1] == ("block", (ip_address(A_VIP[:-3]),))

    run(base(tmp_path, priority=100), body)


RECREATED = {
    # key: (keys of a in the new file, the VRID and socket of its new router, its hooks once it is Master again)
    "vrid": ({"vrid": 7}, 7, "eth0", ["a INITIALIZE BACKUP", "a BACKUP MASTER"]),
    "interface": (
        {"interface": "eth1", "virtual_addresses": f"[{A_VIP}]"},
        1,
        "eth1",
        ["a INITIALIZE BACKUP", "a BACKUP MASTER"],
    ),
    "owner": ({"priority": 255}, 1, "eth0", ["a INITIALIZE MASTER"]),
    "unicast": ({"unicast_peers": "[198.51.100.201]"}, 1, "eth0", ["a INITIALIZE BACKUP", "a BACKUP MASTER"]),
}


@pytest.mark.parametrize("key", list(RECREATED))
def test_what_makes_another_router_re_creates_the_instance_as_shutdown_then_start_up(tmp_path: Path, key) -> None:
    """Rows `vrid`, `interface`, `priority` (owner status), `unicast_peers` (multicast to unicast), re-created: the
    old router sends priority 0 (RFC 9568 §6.4.3), its VIP is removed and its on_stop runs, all before the new one
    starts as at start-up (§6.4.1: in Backup, or Master at once as the address owner) and takes the VIP again."""
    keys, vrid, interface, started = RECREATED[key]

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        old, calls, watch = case.inst("a"), len(case.netlink.calls), Watch(case, "b", tmp_path)
        eth0 = case.sockets.socket("eth0")
        before = len(adverts(eth0, 1))
        plan = await reload(case, base(tmp_path, **keys))
        assert [(p.change, p.keys) for p in plan.instances if p.name == "a"] == [(Change.RECREATED, (key,))]
        # The old router's last word (at most an advert of its own at 200 before it), before any of the new.
        assert next(advert.priority for _, advert in adverts(eth0, 1)[before:] if advert.priority != 200) == 0
        new = case.inst("a")
        assert new is not old and new.router is not old.router and old.worker is not None
        await until(old.worker.done)
        await until(lambda: new.router.state is State.MASTER)
        await until(lambda: len(lines(tmp_path / "a")) == 3 + len(started))
        assert lines(tmp_path / "a") == ["a INITIALIZE BACKUP", "a BACKUP MASTER", "a MASTER STOP", *started]
        assert netlink_on(case, [A_VIP], calls) == [("remove", A_VIP), ("add", A_VIP)]
        if key == "unicast":
            await until(lambda: any(str(s.dst) == "198.51.100.201" for s in new.tx.sent))  # type: ignore[attr-defined]
        else:
            own = [advert.priority for _, advert in adverts(case.sockets.socket(interface), vrid)]
            assert own[-1] == new.router.priority
        await watch.check()

    run(base(tmp_path), body)


def test_added_instances_start_as_at_start_up_and_removed_ones_stop_as_at_shutdown(tmp_path: Path) -> None:
    """Rows `instances` (added, removed): c on eth1 opens its link and starts in Backup (RFC 9568 §6.4.1); a sends
    priority 0 (§6.4.3), its VIP goes and its on_stop runs; b never notices."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        calls, watch = len(case.netlink.calls), Watch(case, "b", tmp_path)
        c = instance(tmp_path, "c", 3, "203.0.113.3/24", interface="eth1")
        plan = await reload(case, document(instance(tmp_path, "b", 2, B_VIP), c))
        assert plan.summary() == "1 unchanged, 0 changed, 1 added, 1 removed"
        assert "a" not in case.daemon.instances and adverts(case.sent("b"), 1)[-1][1].priority == 0
        assert netlink_on(case, [A_VIP], calls) == [("remove", A_VIP)]
        assert lines(tmp_path / "a")[-1] == "a MASTER STOP"
        await masters(case, tmp_path, "c")
        assert case.sockets.socket("eth1").sent and [i.name for i in case.daemon.instances.values()] == ["b", "c"]
        assert [cfg.name for cfg in case.daemon.config.instances] == ["b", "c"]
        await watch.check()

    run(base(tmp_path), body)


def test_a_vip_moved_between_instances_ends_on_the_second_in_one_reload(tmp_path: Path) -> None:
    """Row `virtual_addresses`, moved: a and c, both Masters changed in place, swap their VIPs; each VIP is removed
    by the one that had it before the other adds it (never both at once, never lost), and announced by the new one
    only once it holds it (RFC 9568 §8.1.2)."""
    a_then, c_then = instance(tmp_path, "a", 1, A_VIP), instance(tmp_path, "c", 3, C_VIP)
    a_now, c_now = instance(tmp_path, "a", 1, C_VIP), instance(tmp_path, "c", 3, A_VIP)
    b = instance(tmp_path, "b", 2, B_VIP)

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b", "c")
        calls, watch = len(case.netlink.calls), Watch(case, "b", tmp_path)
        a, c = case.inst("a"), case.inst("c")
        announced = len(announcements(a, A_VIP, C_VIP))  # a and c share eth0's announcer
        await reload(case, document(a_now, b, c_now))
        await until(lambda: len(netlink_on(case, [A_VIP, C_VIP], calls)) == 4)
        moves = netlink_on(case, [A_VIP, C_VIP], calls)
        for vip in (A_VIP, C_VIP):
            assert moves.index(("remove", vip)) < moves.index(("add", vip)), moves
        eth0 = {iface.ip for iface in case.netlink.addresses_of("eth0")}
        assert {ip_address(A_VIP[:-3]), ip_address(C_VIP[:-3])} <= eth0
        held = {ip: inst.name for (_, ip), (inst, _) in case.daemon.worker.holders.items()}
        assert held[ip_address(A_VIP[:-3])] == "c" and held[ip_address(C_VIP[:-3])] == "a"
        await until(lambda: len(announcements(a, A_VIP, C_VIP)) >= announced + 10)
        after = set(announcements(a, A_VIP, C_VIP)[announced:])
        assert after == {(ip_address(C_VIP[:-3]),), (ip_address(A_VIP[:-3]),)}  # each by its new holder
        assert a.router.state is c.router.state is State.MASTER
        await watch.check()

    run(document(a_then, b, c_then), body)


def test_a_vip_of_an_instance_removed_or_changed_goes_to_an_instance_added_in_the_same_reload(tmp_path: Path) -> None:
    """Row `instances` (renamed = removed + added) and `virtual_addresses`, moved to an instance that starts: a is
    renamed z (its VIP with it), c gives its VIP to the new d; the starting instances never find a VIP still held
    (start-up's clean-up of stale VIPs would take it), and each ends on the new holder."""
    c_then, c_now = instance(tmp_path, "c", 3, C_VIP), instance(tmp_path, "c", 3, NEW_VIP)
    b = instance(tmp_path, "b", 2, B_VIP)
    z, d = instance(tmp_path, "z", 9, A_VIP), instance(tmp_path, "d", 4, C_VIP)

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b", "c")
        calls, watch = len(case.netlink.calls), Watch(case, "b", tmp_path)
        plan = await reload(case, document(b, c_now, z, d))
        assert {p.name: p.change for p in plan.instances} == {
            "b": Change.UNCHANGED,
            "c": Change.CHANGED,
            "z": Change.ADDED,
            "d": Change.ADDED,
            "a": Change.REMOVED,
        }
        await masters(case, tmp_path, "z", "d")
        await until(lambda: len(netlink_on(case, [A_VIP, C_VIP], calls)) == 4)
        assert netlink_on(case, [A_VIP], calls) == [("remove", A_VIP), ("add", A_VIP)]
        assert netlink_on(case, [C_VIP], calls) == [("remove", C_VIP), ("add", C_VIP)]
        assert lines(tmp_path / "a")[-1] == "a MASTER STOP"
        held = {ip: inst.name for (_, ip), (inst, _) in case.daemon.worker.holders.items()}
        assert held[ip_address(A_VIP[:-3])] == "z" and held[ip_address(C_VIP[:-3])] == "d"
        assert held[ip_address(NEW_VIP[:-3])] == "c"
        await watch.check()

    run(document(instance(tmp_path, "a", 1, A_VIP), b, c_then), body)


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("preempt", "false", "preempt", False),
        ("preempt_delay", 2, "preempt_delay", 2.0),
        ("startup_delay", 3, "startup_delay", 3.0),
        ("address_check", "drop", "address_check", AddressCheck.DROP),
        ("advert_on_lower_priority", "false", "advert_on_lower_priority", False),
    ],
)
def test_router_parameters_change_in_place_and_the_state_stays(tmp_path: Path, key, value, field, expected) -> None:
    """Rows `preempt`, `preempt_delay`, `startup_delay`, `address_check`, `advert_on_lower_priority` (RFC 9568 §6.1
    parameters): the running router takes the value (used from its next decision on); state, deadline, counters,
    VIPs and hooks stay."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a, calls = case.inst("a"), len(case.netlink.calls)
        router, deadline, watch = a.router, a.router.adver_at, Watch(case, "b", tmp_path)
        plan = await reload(case, base(tmp_path, **{key: value}))
        assert [(p.name, p.keys) for p in plan.of(Change.CHANGED)] == [("a", (key,))]
        assert a.router is router and getattr(router.config, field) == expected
        assert router.state is State.MASTER and router.adver_at == deadline and router.counters.transitions == 2
        await asyncio.sleep(0.2)
        assert netlink_on(case, [A_VIP], calls) == [] and lines(tmp_path / "a") == [
            "a INITIALIZE BACKUP",
            "a BACKUP MASTER",
        ]
        await watch.check()

    run(base(tmp_path), body)


def test_vrrpv2_authentication_changes_in_place(tmp_path: Path) -> None:
    """Row `authentication` (RFC 3768 §5.3.6): the next advert carries the new password; the state stays. (An
    address owner, so that it is Master from the start rather than after a VRRPv2 Master_Down_Interval.)"""
    v2 = {"version": 2, "advert_interval": 1, "priority": 255}

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "b")  # a, the owner, is Master from the start (RFC 9568 §6.4.1)
        a, watch = case.inst("a"), Watch(case, "b", tmp_path)
        assert a.router.state is State.MASTER
        await reload(case, base(tmp_path, **v2, authentication="{type: simple, password: secret}"))
        assert a.router.config.auth_data == b"secret" and a.router.state is State.MASTER
        await until(lambda: adverts(case.sent("a"), 1)[-1][1].auth_data == b"secret", timeout=3)
        await watch.check()

    run(base(tmp_path, **v2), body)


def test_unicast_peers_change_in_place_and_the_screen_follows(tmp_path: Path) -> None:
    """Rows `unicast_peers`, `unicast_ttl`, `unicast_min_ttl`: the next adverts go to the new peers with the new
    TTL (a kept peer keeps its counters), the receive screen takes adverts from the new peers only, at the new
    minimum TTL, and its repeat cache is gone; the state stays."""
    unicast = {"unicast_peers": "[198.51.100.201, 198.51.100.202]"}

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a, watch = case.inst("a"), Watch(case, "b", tmp_path)
        assert a.unicast is not None
        kept = a.unicast.peers[1]
        sent = kept.adverts_sent
        await reload(
            case, base(tmp_path, unicast_peers="[198.51.100.202, 198.51.100.203]", unicast_ttl=64, unicast_min_ttl=250)
        )
        assert a.unicast.peers[0] is kept and kept.adverts_sent >= sent
        assert a.receiver.unicast is not None and a.receiver.unicast.peers == {
            ip_address("198.51.100.202"),
            ip_address("198.51.100.203"),
        }
        assert a.receiver.unicast.min_ttl == 250 and a.receiver.repeat is None
        count = len(case.sent("a").sent)
        await asyncio.sleep(0.2)
        later = [s for s in case.sent("a").sent[count:] if not s.dst.is_multicast]  # b's go to the group
        assert {(str(s.dst), s.ttl) for s in later} == {("198.51.100.202", 64), ("198.51.100.203", 64)}
        assert kept.adverts_sent > sent and a.router.state is State.MASTER
        await watch.check()

    run(base(tmp_path, **unicast), body)


def test_checksum_options_change_the_screen_and_the_next_advert(tmp_path: Path) -> None:
    """Rows `checksum`, `accept_checksum` (RFC 9568 §5.2.8): adverts leave with the new form at once (the cached
    encoding is dropped); the screen accepts the new forms and forgets its repeat cache."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a, watch = case.inst("a"), Watch(case, "b", tmp_path)
        screen = a.receiver
        await reload(case, base(tmp_path, checksum="message-only", accept_checksum="strict"))
        assert a.receiver is not screen and a.receiver.repeat is None
        assert a.receiver.checksum_mode is ChecksumMode.MESSAGE_ONLY
        count = len(case.sent("a").sent)
        await asyncio.sleep(0.2)
        for sent in case.sent("a").sent[count:]:
            if sent.payload[1] == 1:
                assert decode(sent.payload, sent.src, sent.dst).checksum_form is ChecksumForm.MESSAGE_ONLY
        await watch.check()

    run(base(tmp_path), body)


def test_garp_refresh_turned_on_while_master_starts_refreshing_every_held_vip(tmp_path: Path) -> None:
    """Row `garp`: the next announcements follow the new settings; a refresh turned on while Master starts at once
    (its addresses were announced when they came)."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a, watch = case.inst("a"), Watch(case, "b", tmp_path)
        await until(lambda: a.garp is not None and a.garp.done())  # count 1, no second burst, no refresh
        before = len(announcements(a, A_VIP))  # a and b share eth0's announcer
        await reload(case, base(tmp_path, garp="{count: 1, repeat_count: 0, repeat_delay: 0, refresh: 0.1}"))
        await asyncio.sleep(0.35)
        refreshed = announcements(a, A_VIP)[before:]
        assert refreshed == [(ip_address(A_VIP[:-3]),)] * len(refreshed) and 2 <= len(refreshed) <= 4
        await watch.check()

    run(base(tmp_path, garp="{count: 1, repeat_count: 0, repeat_delay: 0}"), body)


def test_an_announcement_without_a_second_burst_does_not_wait_for_its_delay(tmp_path: Path) -> None:
    """Row `garp`: with `repeat_count: 0` the takeover's announcement ends with its first burst, not repeat_delay
    (5 s) later, so a reload that turns the refresh on starts it at once (found by
    netns-tests/test_reload_in_place.py)."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a = case.inst("a")
        await until(lambda: a.garp is not None and a.garp.done(), timeout=1.0)
        before = len(announcements(a, A_VIP))
        await reload(case, base(tmp_path, garp="{count: 1, repeat_count: 0, refresh: 0.1}"))
        await asyncio.sleep(0.35)
        assert 2 <= len(announcements(a, A_VIP)[before:]) <= 4

    run(base(tmp_path, garp="{count: 1, repeat_count: 0}"), body)


def test_a_vip_whose_prefix_changes_on_a_master_is_added_again_with_it(tmp_path: Path) -> None:
    """Row `virtual_addresses`, a prefix: the kernel keeps an address's prefix, so the Master removes the VIP as it
    was added and adds it with the new one (nothing to announce: the address and MAC are the same)."""

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a, calls, watch = case.inst("a"), len(case.netlink.calls), Watch(case, "b", tmp_path)
        announced = announcements(a, A_VIP)
        await reload(case, base(tmp_path, virtual_addresses="[198.51.100.101/25]"))
        await until(lambda: len(netlink_on(case, [A_VIP], calls)) == 2)
        assert netlink_on(case, [A_VIP], calls) == [("remove", A_VIP), ("add", "198.51.100.101/25")]
        assert "198.51.100.101/25" in map(str, case.netlink.addresses_of("eth0"))
        assert A_VIP not in map(str, case.netlink.addresses_of("eth0"))
        assert a.router.state is State.MASTER and announcements(a, A_VIP) == announced
        await watch.check()

    run(base(tmp_path), body)


def test_an_owners_new_vip_that_is_one_of_the_hosts_own_addresses_is_never_removed(tmp_path: Path) -> None:
    """Row `virtual_addresses`, address owner (RFC 9568 §1.2: the owner's VIPs are its real addresses): one the
    interface already has, not put there by vrrpd, is kept when the owner stops, as start-up decides."""
    netlink = fake_netlink()
    own = "198.51.100.50/24"
    netlink.add_link("eth2", addresses=["192.0.2.1/24", own.replace("198.51.100", "192.0.2")])
    owner = {"interface": "eth2", "priority": 255}

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "b")
        await until(lambda: case.inst("a").router.state is State.MASTER)
        calls = len(case.netlink.calls)
        mine = own.replace("198.51.100", "192.0.2")
        await reload(case, base(tmp_path, **owner, virtual_addresses=f"[192.0.2.101/24, {mine}]"))
        assert ip_address(mine[:-3]) in case.inst("a").kept
        await reload(case, document(instance(tmp_path, "b", 2, B_VIP)))
        assert netlink_on(case, ["192.0.2.101/24"], calls)[-1] == ("remove", "192.0.2.101/24")
        assert ("remove", mine) not in netlink_on(case, [mine], calls)
        assert mine in map(str, case.netlink.addresses_of("eth2"))

    run(base(tmp_path, **owner, virtual_addresses="[192.0.2.101/24]"), body, netlink=netlink)


@pytest.mark.parametrize("pinned", [False, True])
def test_a_new_log_level_applies_at_once_unless_the_command_line_set_it(tmp_path: Path, pinned: bool) -> None:
    """Row `log_level`: the root logger follows the file's new level (info once the file drops it), and no
    instance notices; with `vrrpd run --log-level` the command line's level stays."""
    root = logging.getLogger()

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        case.daemon.log_level_pinned = pinned
        watch = Watch(case, "b", tmp_path)
        plan = await reload(case, "log_level: debug\n" + base(tmp_path))
        assert not plan.empty and plan.summary() == "2 unchanged, 0 changed, 0 added, 0 removed"
        assert case.daemon.config.log_level == "debug"
        assert root.level == (logging.WARNING if pinned else logging.DEBUG)
        await reload(case, base(tmp_path))
        assert case.daemon.config.log_level is None
        assert root.level == (logging.WARNING if pinned else logging.INFO)
        await watch.check()

    previous = root.level
    root.setLevel(logging.WARNING)  # what the command line set, in the pinned case
    try:
        run(base(tmp_path), body)
    finally:
        root.setLevel(previous)
