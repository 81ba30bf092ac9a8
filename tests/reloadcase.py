"""Shared by the reload tests (tests/test_daemon_reload*.py): a daemon on the fakes of tests/daemoncase.py, reloaded
with another configuration text; a neighbour watched to prove that it never notices; a peer master that keeps an
instance in Backup; a /proc/sys of its own for the virtual MAC's sysctls."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shutil
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from daemoncase import SOURCE, Case, daemon_on_fakes, until

from vrrpd.config import parse_config
from vrrpd.config.reload import ReloadPlan, plan_reload
from vrrpd.daemon import Instance
from vrrpd.daemon.reload import apply_plan
from vrrpd.net.fakes import FakeAnnouncer, FakeNetlink, FakeVrrpSocket
from vrrpd.net.sockets import parse_ipv4
from vrrpd.protocol import Input, State, TimerExpired, decode
from vrrpd.protocol.packet import Advert, IPAddress, encode

INTERVAL = 0.05
SH, TRUE, FALSE = shutil.which("sh"), shutil.which("true"), shutil.which("false")
PEER = "198.51.100.250"
"""The address a `Peer` master sends from."""


def hook(out: Path) -> str:
    """A notify hook appending ``NAME OLD NEW`` to out/NAME."""
    return f'[{SH}, -c, "echo $VRRPD_NAME $VRRPD_OLD_STATE $VRRPD_STATE >> {out}/$VRRPD_NAME"]'


def instance(out: Path, name: str, number: int, *vips: str, **keys: object) -> str:
    """One instance line of an `instances:` list: on eth0, VRID `number`, priority 200, advertising every INTERVAL,
    with a notify hook; `keys` (YAML text or numbers) add keys or replace those."""
    keys = {
        "interface": "eth0",
        "vrid": number,
        "priority": 200,
        "advert_interval": INTERVAL,
        "virtual_addresses": f"[{', '.join(vips)}]",
        "notify": f"{{notify: {hook(out)}}}",
        **keys,
    }
    return f"  - {{name: {name}, {', '.join(f'{key}: {value}' for key, value in keys.items())}}}\n"


def document(*instances: str, head: str = "") -> str:
    return f"{head}instances:\n{''.join(instances)}"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def adverts(sock: FakeVrrpSocket, vrid: int) -> list[tuple[float, Advert]]:
    """(time, advert) of each advert of `vrid` sent on `sock`."""
    out = []
    for sent in sock.sent:
        advert = decode(sent.payload, sent.src, sent.dst).advert
        if advert.vrid == vrid:
            out.append((sent.at, advert))
    return out


def announcements(inst: Instance, *vips: str) -> list[tuple[IPAddress, ...]]:
    """What the instance's announcer was asked to announce that names one of `vips` (instances without a virtual
    MAC share their interface's announcer)."""
    wanted = {ip_address(v.split("/")[0]) for v in vips}
    announcer = inst.announcer
    assert isinstance(announcer, FakeAnnouncer)
    return [ips for ips in announcer.announced if wanted & set(ips)]


def netlink_on(case: Case, addresses: Iterable[str], since: int = 0) -> list[tuple[str, str]]:
    """The netlink calls since call number `since` that touched any of `addresses`, as (operation, address)."""
    wanted = {ip_address(a.split("/")[0]) for a in addresses}
    return [(op, str(iface)) for op, _, iface in case.netlink.calls[since:] if getattr(iface, "ip", None) in wanted]


def fake_netlink(eth0_mtu: int = 1500) -> FakeNetlink:
    """eth0 (198.51.100.11/24) and eth1 (203.0.113.11/24)."""
    fake = FakeNetlink()
    fake.add_link("eth0", addresses=[f"{SOURCE}/24"], mtu=eth0_mtu)
    fake.add_link("eth1", addresses=["203.0.113.11/24"])
    return fake


def run(
    text: str,
    body: Callable[[Case], Awaitable[None]],
    *,
    proc: Path | None = None,
    netlink: FakeNetlink | None = None,
) -> None:
    """`body` on a started daemon of `text` on eth0 and eth1 (`fake_netlink`, or `netlink`; track scripts
    running), stopped whatever it does. `proc`: a directory that stands in for /proc/sys (instances with a virtual
    MAC write their sysctls there)."""

    async def main() -> None:
        case = daemon_on_fakes(parse_config(text), netlink or fake_netlink())
        if proc is not None:
            case.daemon.sysctls.root = proc
        try:
            await case.daemon.start()
            await body(case)
        finally:
            await case.stop()

    asyncio.run(main())


async def reload(case: Case, text: str) -> ReloadPlan:
    """Plan `text` against what the daemon runs, and carry the plan out."""
    new = dataclasses.replace(parse_config(text, "vrrpd.yaml"), control_socket=case.daemon.config.control_socket)
    plan = plan_reload(case.daemon.config, new)
    await apply_plan(case.daemon, plan)
    return plan


async def masters(case: Case, out: Path, *names: str) -> None:
    """Until every one of `names` is Master and its hooks have run (INITIALIZE -> BACKUP -> MASTER)."""
    await until(lambda: all(case.inst(n).router.state is State.MASTER for n in names))
    await until(lambda: all(len(lines(out / n)) >= 2 for n in names))


class Watch:
    """An instance a reload must leave alone. From its creation on it records what reaches the instance's router
    and every deadline armed for it; `check()` then proves the instance never noticed: the same router in the same
    state, nothing but its own timer fed to it, its deadlines and adverts one interval apart with none missed, its
    counters going on, no netlink call on its VIPs, no hook run and no event."""

    def __init__(self, case: Case, name: str, out: Path) -> None:
        self.case, self.name, self.out = case, name, out
        inst = case.inst(name)
        self.inst, self.router, self.worker = inst, inst.router, inst.worker
        self.state, self.transitions = inst.router.state, inst.router.counters.transitions
        self.sent_before = inst.router.counters.adverts_sent
        self.calls_before = len(case.netlink.calls)
        self.hooks = lines(out / name)
        self.events = self.own_events()
        self.fed: list[Input] = []
        self.deadlines: list[float | None] = []
        daemon, scheduler = case.daemon, case.daemon.scheduler
        assert scheduler is not None
        feed, arm = daemon.driver.feed, scheduler.set

        def spy_feed(inst: Any, event: Input, now: float | None = None) -> None:
            if inst.config.name == name:
                self.fed.append(event)
            feed(inst, event, now)

        def spy_arm(key: str, deadline: float | None) -> None:
            if key == name:
                self.deadlines.append(deadline)
            arm(key, deadline)

        daemon.driver.feed = spy_feed  # type: ignore[method-assign]
        scheduler.set = spy_arm  # type: ignore[method-assign]

    def own_events(self) -> list[dict[str, Any]]:
        return [e for e in self.case.daemon.notifier.events.recent(10000) if e.get("name") == self.name]

    async def check(self, adverts_at_least: int = 5) -> None:
        """Once the instance has sent `adverts_at_least` adverts since the watch began (the loop runs meanwhile)."""
        await until(lambda: self.inst.router.counters.adverts_sent >= self.sent_before + adverts_at_least)
        inst = self.case.inst(self.name)
        assert inst is self.inst and inst.router is self.router and inst.worker is self.worker
        assert self.worker is not None and not self.worker.done()
        assert inst.router.state is self.state and inst.router.counters.transitions == self.transitions
        assert {type(event) for event in self.fed} <= {TimerExpired}, self.fed  # nothing but its own timer
        assert None not in self.deadlines, "its timer was stopped"
        steps = [later - earlier for earlier, later in itertools.pairwise(d for d in self.deadlines if d is not None)]
        assert all(INTERVAL - 1e-9 <= step < 2 * INTERVAL for step in steps), steps
        sent = [at for at, _ in adverts(self.case.sent(self.name), inst.config.vrid)]
        assert inst.router.counters.adverts_sent == len(sent)
        gaps = [later - earlier for earlier, later in itertools.pairwise(sent[self.sent_before - 1 :])]
        assert max(gaps) < 2 * INTERVAL, f"an advert of {self.name} was missed: {max(gaps):.3f} s between two"
        vips = [str(a) for a in inst.config.virtual_addresses]
        assert netlink_on(self.case, vips, self.calls_before) == []
        assert lines(self.out / self.name) == self.hooks and self.own_events() == self.events


class Peer:
    """A master on the LAN (from PEER) advertising VRID `vrid` at `priority` every `interval` into eth0's
    socket: an instance of that VRID with a lower priority stays Backup while it runs."""

    def __init__(self, case: Case, vrid: int, priority: int, vips: Iterable[str], interval: float = 0.1) -> None:
        self.case, self.vrid, self.priority, self.interval = case, vrid, priority, interval
        self.vips = tuple(ip_address(v.split("/")[0]) for v in vips)
        self.task = asyncio.create_task(self.advertise())

    def packet(self) -> bytes:
        advert = Advert(self.vrid, self.priority, round(self.interval * 100), self.vips)
        payload = encode(advert, ip_address(PEER))
        header = bytearray(20)
        header[0], header[8], header[9] = 0x45, 255, 112
        struct.pack_into("!H", header, 2, 20 + len(payload))
        header[12:16], header[16:20] = ip_address(PEER).packed, ip_address("224.0.0.18").packed
        return bytes(header) + payload

    async def advertise(self) -> None:
        sock = self.case.sockets.socket("eth0")
        while True:
            sock.deliver(parse_ipv4(self.packet(), 2))
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        self.task.cancel()


def fake_proc(root: Path, *ifnames: str) -> Path:
    """A /proc/sys of `ifnames`' conf sysctls (all 0), for the virtual MAC's set-up."""
    for family, keys in ((4, ("arp_ignore", "arp_announce", "rp_filter")), (6, ("accept_dad",))):
        for ifname in ("all", *ifnames):
            conf = root / f"net/ipv{family}/conf/{ifname}"
            conf.mkdir(parents=True, exist_ok=True)
            for key in keys:
                (conf / key).write_text("0\n")
    return root


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
