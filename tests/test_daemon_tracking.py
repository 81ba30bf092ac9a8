"""Daemon wiring of tracking, without sockets: link and script changes reach the router as PriorityChanged,
Faulted and Recovered, and status shows every tracker."""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

import pytest
from daemoncase import SOURCE, Case, priorities, started

from vrrpd.config import parse_config
from vrrpd.daemon import StartupError
from vrrpd.daemon.status import instance_status
from vrrpd.net.fakes import FakeLinkMonitor, FakeNetlink
from vrrpd.net.netlink import NetlinkLinkMonitor
from vrrpd.protocol import State, TimerExpired
from vrrpd.protocol.tracking import TrackState

CONFIG = """\
control_socket: /tmp/vrrpd-test-unused.sock
track_scripts:
  chk_web: {command: [/bin/true]}
  chk_db: {command: [/bin/true]}
instances:
  - name: gw
    interface: eth0
    vrid: 51
    priority: 200
    virtual_addresses: [198.51.100.100/24]
    track_scripts:
      - {name: chk_web, weight: -150}
      - {name: chk_db, on_failure: fault}
    track_interfaces:
      - {interface: eth1, weight: 20}
"""


async def make(text: str = CONFIG, *, eth0_up: bool = True) -> Case:
    fake = FakeNetlink()
    fake.add_link("eth0", addresses=[f"{SOURCE}/24"], up=eth0_up)
    fake.add_link("eth1", up=False)
    return await started(parse_config(textwrap.dedent(text)), fake)


def test_tracking_drives_the_router_and_status():
    async def body() -> None:
        case = await make()
        daemon, inst, fake, tx = case.daemon, case.inst("gw"), case.netlink, case.sent("gw")
        assert isinstance(daemon.monitors.link_monitor, FakeLinkMonitor)
        assert set(daemon.monitors.scripts) == {"chk_web", "chk_db"}
        assert inst.tracking.states[("interface", "eth1")] is TrackState.DOWN  # from the initial dump
        # Issue #12: the fault script chk_db has not run yet, so the instance waits in FAULT for it.
        assert inst.router.state is State.FAULT
        assert inst.router.fault_reason == "track script chk_db has not reported yet"
        daemon.monitors.on_script("chk_db", TrackState.UP)
        assert inst.router.state is State.BACKUP and inst.router.priority == 200
        # Become master by the timer, then let the weighted script fail: priority 200 - 150.
        daemon.driver.feed(inst, TimerExpired(), now=1e9)
        assert inst.router.state is State.MASTER
        daemon.monitors.on_script("chk_web", TrackState.DOWN)
        assert inst.router.priority == 50 and priorities(tx)[-1] == 50  # advertised at once
        fake.set_up("eth1", True)
        assert inst.router.priority == 70
        status = instance_status(inst, 0.0, daemon.notifier)
        assert status["effective_priority"] == 70
        assert status["trackers"] == [
            {
                "kind": "interface",
                "name": "eth0",
                "state": "up",
                "effect": "fault",
                "contribution": 0,
                "implicit": True,
            },
            {
                "kind": "interface",
                "name": "eth1",
                "state": "up",
                "effect": "weight +20",
                "contribution": 20,
                "implicit": False,
            },
            {
                "kind": "script",
                "name": "chk_web",
                "state": "down",
                "effect": "weight -150",
                "contribution": -150,
                "implicit": False,
            },
            {
                "kind": "script",
                "name": "chk_db",
                "state": "up",
                "effect": "fault",
                "contribution": 0,
                "implicit": False,
            },
        ]
        # A fault script: master -> FAULT with a priority-0 advert; both faults are named.
        daemon.monitors.on_script("chk_db", TrackState.DOWN)
        assert inst.router.state is State.FAULT and priorities(tx)[-1] == 0
        assert inst.router.fault_reason == "track script chk_db failed"
        fake.set_up("eth0", False)
        assert inst.router.fault_reason == "interface eth0 down; track script chk_db failed"
        daemon.monitors.on_script("chk_db", TrackState.UP)
        assert inst.router.state is State.FAULT and inst.router.fault_reason == "interface eth0 down"
        fake.set_up("eth0", True)
        assert inst.router.state is State.BACKUP and inst.router.fault_reason is None
        assert inst.router.priority == 70
        await case.stop()

    asyncio.run(body())


def test_own_interface_down_at_start_is_fault_from_the_start():
    async def body() -> None:
        case = await make(eth0_up=False)
        inst = case.inst("gw")
        reason = "interface eth0 down; track script chk_db has not reported yet"
        assert inst.router.state is State.FAULT and inst.router.fault_reason == reason
        assert inst.router.counters.transitions == 1  # INITIALIZE -> FAULT, never through BACKUP
        await case.stop()

    asyncio.run(body())


def test_unknown_user_is_a_startup_error():

    text = CONFIG.replace("[/bin/true]}\n  chk_db", "[/bin/true], user: nosuchuser-x}\n  chk_db")

    async def body() -> None:
        with pytest.raises(StartupError, match="no such user 'nosuchuser-x'"):
            await make(text)

    asyncio.run(body())


def test_real_link_monitor_dumps_this_namespace():
    """Read-only: subscribe and dump the links of the namespace the tests run in (lo is always there)."""

    async def body() -> None:
        changes: list[Any] = []
        monitor = NetlinkLinkMonitor()
        links = await monitor.start(lambda name, info: changes.append((name, info)))
        try:
            assert links["lo"].index == 1
            assert all(name == info.name for name, info in links.items())
        finally:
            await monitor.close()

    asyncio.run(body())
