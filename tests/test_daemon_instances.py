"""Adding and removing one instance in a running daemon (the seam a configuration reload builds on), without root:
the instance comes and goes as at start-up and shutdown (RFC 9568 §6.4.1, §6.4.3), and the others never notice."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import Awaitable, Callable
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from daemoncase import SOURCE, Case, started, until

from vrrpd.config import parse_config
from vrrpd.daemon import StartupError
from vrrpd.net.fakes import FakeNetlink, FakeVrrpSocket
from vrrpd.protocol import Family, Input, State, TimerExpired, decode

INTERVAL = 0.05
SH, TRUE = shutil.which("sh"), shutil.which("true")


def config_text(out: Path, *names: str) -> str:
    """Instances a and b on eth0, c on eth1 (each its own VRID, VIP, track script and notify hook), all masters."""
    instances = {
        "a": ("eth0", 1, "198.51.100.101/24"),
        "b": ("eth0", 2, "198.51.100.102/24"),
        "c": ("eth1", 3, "203.0.113.3/24"),
    }
    hook = f'[{SH}, -c, "echo $VRRPD_NAME $VRRPD_OLD_STATE $VRRPD_STATE >> {out}/$VRRPD_NAME"]'
    lines = [
        "track_scripts:",
        *(f"  chk_{n}: {{command: [{TRUE}], interval: 60}}" for n in instances),
        "instances:",
    ]
    for name in names:
        interface, vrid, vip = instances[name]
        lines.append(
            f"  - {{name: {name}, interface: {interface}, vrid: {vrid}, priority: 200, advert_interval: {INTERVAL},"
            f" virtual_addresses: [{vip}], track_scripts: [{{name: chk_{name}, weight: -10}}],"
            f" notify: {{notify: {hook}}}}}"
        )
    return "\n".join(lines) + "\n"


def adverts(sock: FakeVrrpSocket, vrid: int) -> list[tuple[float, int]]:
    """(time, priority) of each advert of `vrid` sent on `sock`."""
    out = []
    for sent in sock.sent:
        advert = decode(sent.payload, sent.src, sent.dst).advert
        if advert.vrid == vrid:
            out.append((sent.at, advert.priority))
    return out


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def run(out: Path, body: Callable[[Case], Awaitable[None]]) -> None:
    """`body` on a started daemon of a and b (their scripts running), stopped whatever `body` does."""

    async def main() -> None:
        fake = FakeNetlink()
        fake.add_link("eth0", addresses=[f"{SOURCE}/24"])
        fake.add_link("eth1", addresses=["203.0.113.11/24"])
        case = await started(parse_config(config_text(out, "a", "b")), fake, hold=False)
        try:
            await body(case)
        finally:
            await case.stop()

    asyncio.run(main())


def test_add_a_third_remove_the_first_and_the_second_never_notices(tmp_path: Path, monkeypatch: Any) -> None:
    """b runs on the same link as a throughout; c is added on a link of its own, then a and c are removed. b's
    router sees nothing but its own timer, its deadlines follow each other one interval apart, it misses no
    advert, its counters go on, none of its VIPs is touched and no hook of it runs."""

    async def body(case: Case) -> None:
        daemon, eth0 = case.daemon, case.sockets.socket("eth0")
        b = case.inst("b")
        await until(lambda: all(inst.router.state is State.MASTER for inst in daemon.instances.values()))
        await until(lambda: len(lines(tmp_path / "b")) == 2)  # its hooks: INITIALIZE -> BACKUP -> MASTER
        await asyncio.sleep(0.2)
        router, worker, counters = b.router, b.worker, b.router.counters
        sent_before, transitions = counters.adverts_sent, counters.transitions
        b_hooks = lines(tmp_path / "b")
        b_events = [e for e in daemon.notifier.events.recent(1000) if e["name"] == "b"]
        netlink_before = len(case.netlink.calls)
        fed: list[tuple[str, Input]] = []
        deadlines: list[float | None] = []
        scheduler = daemon.scheduler
        assert scheduler is not None
        feed, arm = daemon.driver.feed, scheduler.set

        def spy_feed(inst: Any, event: Input, now: float | None = None) -> None:
            fed.append((inst.config.name, event))
            feed(inst, event, now)

        def spy_arm(key: str, deadline: float | None) -> None:
            if key == "b":
                deadlines.append(deadline)
            arm(key, deadline)

        monkeypatch.setattr(daemon.driver, "feed", spy_feed)
        monkeypatch.setattr(scheduler, "set", spy_arm)

        # --- add c, on a link nobody used yet ---
        (c_cfg,) = parse_config(config_text(tmp_path, "c")).instances
        c = await daemon.add_instance(c_cfg)
        assert daemon.instances["c"] is c and [cfg.name for cfg in daemon.config.instances] == ["a", "b", "c"]
        assert set(daemon.monitors.scripts) == {"chk_a", "chk_b", "chk_c"} and daemon.monitors.scripts["chk_c"].started
        eth1 = case.sockets.socket("eth1")
        assert c.link is daemon.links[("eth1", Family.IPV4)] and c.link.sock is eth1
        await until(lambda: c.router.state is State.MASTER)
        await until(lambda: ip_address("203.0.113.3") in {a.ip for a in case.netlink.addresses_of("eth1")})
        assert adverts(eth1, 3) and adverts(eth1, 3)[-1][1] == 200
        await asyncio.sleep(0.2)

        # --- remove a, a master on b's link: priority 0, VIPs gone, on_stop; the link stays for b ---
        a = case.inst("a")
        await daemon.remove_instance("a")
        assert "a" not in daemon.instances and [cfg.name for cfg in daemon.config.instances] == ["b", "c"]
        assert adverts(eth0, 1)[-1][1] == 0  # RFC 9568 §6.4.3
        assert ip_address("198.51.100.101") not in {x.ip for x in case.netlink.addresses_of("eth0")}
        assert lines(tmp_path / "a") == ["a INITIALIZE BACKUP", "a BACKUP MASTER", "a MASTER STOP"]
        assert a.worker is not None and a.worker.done()
        assert set(daemon.monitors.scripts) == {"chk_b", "chk_c"}
        assert not eth0.closed and daemon.links[("eth0", Family.IPV4)].routers == {2: b}
        assert [e["new"] for e in daemon.notifier.events.recent(1000) if e["name"] == "a"][-1] == "STOP"
        await asyncio.sleep(0.2)

        # --- b never noticed ---
        assert b.router is router and b.worker is worker and not worker.done()
        assert router.state is State.MASTER and counters is router.counters and counters.transitions == transitions
        b_inputs = {type(event) for name, event in fed if name == "b"}
        assert b_inputs == {TimerExpired}  # nothing but its own timer reached it
        assert None not in deadlines, "b's timer was stopped"
        steps = [later - earlier for earlier, later in itertools.pairwise(d for d in deadlines if d is not None)]
        assert len(steps) >= 8 and all(INTERVAL - 1e-9 <= step < 2 * INTERVAL for step in steps), steps
        b_adverts = adverts(eth0, 2)
        assert counters.adverts_sent == len(b_adverts) >= sent_before + 8  # its counters go on
        assert {priority for _, priority in b_adverts} == {200}
        gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(b_adverts)]
        assert max(gaps) < 2 * INTERVAL, f"an advert of b was missed: {max(gaps):.3f} s between two"
        vip_b = ip_address("198.51.100.102")
        assert [call for call in case.netlink.calls[netlink_before:] if getattr(call[2], "ip", None) == vip_b] == []
        assert vip_b in {x.ip for x in case.netlink.addresses_of("eth0")}
        assert lines(tmp_path / "b") == b_hooks
        assert [e for e in daemon.notifier.events.recent(1000) if e["name"] == "b"] == b_events

        # --- remove c, the last on eth1: its link and announcer close ---
        await daemon.remove_instance("c")
        assert ("eth1", Family.IPV4) not in daemon.links and eth1.closed
        assert [ann.closed for ann in case.sockets.announcers if ann.ifname == "eth1"] == [True]
        assert [ann.closed for ann in case.sockets.announcers if ann.ifname == "eth0"] == [False]
        assert set(daemon.monitors.scripts) == {"chk_b"}
        assert lines(tmp_path / "c") == ["c INITIALIZE BACKUP", "c BACKUP MASTER", "c MASTER STOP"]
        assert b.router.state is State.MASTER and [i["name"] for i in daemon.status()["instances"]] == ["b"]

    run(tmp_path, body)


def test_a_failed_add_leaves_nothing_behind_and_bad_adds_are_refused(tmp_path: Path) -> None:
    async def body(case: Case) -> None:
        daemon = case.daemon
        opened = len(case.sockets.opened)

        def unchanged() -> None:
            assert set(daemon.instances) == {"a", "b"} and [cfg.name for cfg in daemon.config.instances] == ["a", "b"]
            assert set(daemon.links) == {("eth0", Family.IPV4)} and set(daemon.monitors.scripts) == {"chk_a", "chk_b"}
            assert all(sock.closed for sock in case.sockets.opened[opened:])
            assert all(ann.closed for ann in case.sockets.announcers if ann.ifname != "eth0")

        missing = config_text(tmp_path, "c").replace("interface: eth1", "interface: eth9")
        with pytest.raises(StartupError, match=r"^interface eth9: not found"):
            await daemon.add_instance(parse_config(missing).instances[0])
        unchanged()
        # Its link and announcer are open by the time its hooks' user turns out not to exist: both close again.
        (c_cfg,) = parse_config(
            config_text(tmp_path, "c").replace("notify: {", "notify: {user: nosuchuser-x, ")
        ).instances
        with pytest.raises(StartupError, match=r"^instance c: notify.user: no such user 'nosuchuser-x'"):
            await daemon.add_instance(c_cfg)
        assert len(case.sockets.opened) > opened and any(ann.ifname == "eth1" for ann in case.sockets.announcers)
        unchanged()
        refused = {
            "exists already": config_text(tmp_path, "a"),
            "VRID 2 on eth0 is b's": config_text(tmp_path, "c").replace("eth1, vrid: 3", "eth0, vrid: 2"),
            "198.51.100.102 is a virtual address of b": config_text(tmp_path, "c")
            .replace("eth1, vrid: 3", "eth0, vrid: 3")
            .replace("203.0.113.3/24", "198.51.100.102/24"),
            "script chk_d is not defined": config_text(tmp_path, "c")
            .replace("name: chk_c", "name: chk_d")
            .replace("track_scripts:", "track_scripts:\n  chk_d: {command: [/bin/true]}", 1),
        }
        for message, text in refused.items():
            with pytest.raises(ValueError, match=message):
                await daemon.add_instance(parse_config(text).instances[0])
        unchanged()
        with pytest.raises(KeyError):
            await daemon.remove_instance("nope")
        assert all(inst.router.state is not State.INITIALIZE for inst in daemon.instances.values())

    run(tmp_path, body)
