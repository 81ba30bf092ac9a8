"""Start-up work of the daemon, without sockets (issue #6: exec -> READY <= 300 ms with 100 instances)."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address, ip_interface
from typing import Any

from daemoncase import started

from vrrpd.config import parse_config
from vrrpd.daemon import driver as driver_module
from vrrpd.net.fakes import FakeNetlink
from vrrpd.protocol import TimerExpired

CONFIG = """\
control_socket: /tmp/vrrpd-test-unused.sock
instances:
  - {name: owner, interface: eth0, vrid: 1, priority: 255, virtual_addresses: [198.51.100.11/24]}
  - {name: stale, interface: eth0, vrid: 2, priority: 100, virtual_addresses: [198.51.100.20/24, 198.51.100.21/24]}
  - {name: clean, interface: eth0, vrid: 3, priority: 100, virtual_addresses: [198.51.100.30/24]}
  - {name: other, interface: eth1, vrid: 4, priority: 100, virtual_addresses: [203.0.113.40/24]}
"""


class CountingNetlink(FakeNetlink):
    """FakeNetlink that counts address dumps per interface."""

    def __init__(self) -> None:
        super().__init__()
        self.dumps: dict[tuple[str, int], int] = {}

    def _count(self, kind: str, ifindex: int) -> None:
        self.dumps[(kind, ifindex)] = self.dumps.get((kind, ifindex), 0) + 1

    async def addresses(self, ifindex: int) -> list[Any]:
        self._count("addresses", ifindex)
        return await super().addresses(ifindex)

    async def ours(self, ifindex: int) -> set[Any]:
        self._count("ours", ifindex)
        return await super().ours(ifindex)


def test_stale_vips_removed_owner_kept_with_one_dump_per_interface():
    """RFC 9568 §6.4.2: a VIP a crash left (tagged as ours) goes; the owner's admin address stays (§1.2);
    issue #6: each interface is dumped once however many instances share it."""

    async def body() -> None:
        config = parse_config(CONFIG)
        fake = CountingNetlink()
        eth0 = fake.add_link("eth0", addresses=["198.51.100.11/24"])
        eth1 = fake.add_link("eth1", addresses=["203.0.113.1/24"])
        await fake.add(eth0.index, ip_interface("198.51.100.20/24"))  # tagged ours: a crash left it
        await fake.add(eth1.index, ip_interface("203.0.113.40/24"))
        fake.calls.clear()
        case = await started(config, fake)
        dumps = dict(fake.dumps)
        stale = [
            ("remove", eth0.index, ip_interface("198.51.100.20/24")),
            ("remove", eth1.index, ip_interface("203.0.113.40/24")),
        ]
        assert [call for call in fake.calls if call[0] == "remove"] == stale
        kept = {name: inst.kept for name, inst in case.daemon.instances.items() if inst.kept}
        assert kept == {"owner": {ip_address("198.51.100.11")}}
        assert [str(a) for a in await fake.addresses(eth0.index)] == ["198.51.100.11/24"]
        assert dumps == {(kind, info.index): 1 for kind in ("addresses", "ours") for info in (eth0, eth1)}
        await case.stop()  # the owner master releases its addresses, but never its admin address
        assert [call for call in fake.calls if call[0] == "remove"] == stale
        assert [str(a) for a in await fake.addresses(eth0.index)] == ["198.51.100.11/24"]

    asyncio.run(body())


def test_status_is_sent_once_per_loop_iteration_with_the_latest_summary(monkeypatch):
    """Issue #6: 100 instances entering Backup at start-up send one STATUS= (of the final counts), not 100
    summaries of 100 instances; none follows STOPPING=1."""
    sent: list[str] = []
    monkeypatch.setattr(driver_module.sdnotify, "status", sent.append)
    text = "instances:\n" + "".join(
        f"  - {{name: v{n}, interface: eth0, vrid: {n}, virtual_addresses: [198.51.100.{n}/24]}}\n"
        for n in range(1, 101)
    )

    async def body() -> None:
        fake = FakeNetlink()
        fake.add_link("eth0", addresses=["192.0.2.1/24"])
        case = await started(text, fake)  # each router has had its Startup event
        assert sent == []  # queued, not yet sent
        await asyncio.sleep(0)
        assert sent == ["100 backup"]
        case.daemon.driver.feed(case.inst("v1"), TimerExpired(), now=1e9)
        await case.stop()
        assert sent == ["100 backup"]  # the master transition came too late: we are stopping

    asyncio.run(body())
