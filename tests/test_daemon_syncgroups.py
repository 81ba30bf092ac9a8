"""Daemon wiring of sync groups, without sockets (issue #5 point 5): member inputs go through the group, group
trackers reach it, `status` and `vrrpctl status` show it."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from ipaddress import ip_address
from typing import Any

from vrrpd.cli.ctl import render_status
from vrrpd.config import parse_config
from vrrpd.daemon import Daemon, Instance
from vrrpd.net.netlink import FakeNetlink
from vrrpd.protocol import Started, State, TimerExpired, VirtualRouter, decode
from vrrpd.protocol.tracking import Tracking, TrackState

CONFIG = """\
control_socket: /tmp/vrrpd-test-unused.sock
track_scripts:
  chk: {command: [/bin/true]}
instances:
  - {name: gw4, interface: eth0, vrid: 51, priority: 200, virtual_addresses: [198.51.100.100/24]}
  - {name: gw5, interface: eth0, vrid: 52, priority: 200, virtual_addresses: [198.51.100.101/24]}
sync_groups:
  gw:
    members: [gw4, gw5]
    track_scripts: [{name: chk, on_failure: fault}]
    track_interfaces: [{interface: eth1, on_failure: fault}]
"""
SOURCE = ip_address("198.51.100.11")


class Tx:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, wire: bytes, source: Any) -> None:
        self.sent.append(wire)

    def priorities(self) -> list[int]:
        return [decode(w, SOURCE, ip_address("224.0.0.18")).advert.priority for w in self.sent]


async def make() -> tuple[Daemon, dict[str, Instance], FakeNetlink, dict[str, Tx]]:
    config = parse_config(textwrap.dedent(CONFIG))
    fake = FakeNetlink()
    fake.add_link("eth0", addresses=["198.51.100.11/24"])
    fake.add_link("eth1")
    daemon = Daemon(config, fake)
    txs: dict[str, Tx] = {}
    for cfg in config.instances:
        txs[cfg.name] = Tx()
        daemon.instances[cfg.name] = Instance(
            cfg,
            VirtualRouter(daemon.sync.router_config(cfg), SOURCE),
            link=None,  # type: ignore[arg-type]
            announcer=None,  # type: ignore[arg-type]
            source=SOURCE,
            tx=txs[cfg.name],  # type: ignore[arg-type]
            tracking=Tracking(cfg.priority, cfg.trackers),
        )
    daemon.sync.build({name: inst.router for name, inst in daemon.instances.items()})
    await daemon._start_tracking()
    return daemon, daemon.instances, fake, txs


def states(instances: dict[str, Instance]) -> dict[str, State]:
    return {name: inst.router.state for name, inst in instances.items()}


def test_group_trackers_and_member_faults_move_every_member(caplog):
    async def body() -> None:
        daemon, insts, fake, txs = await make()
        assert "chk" in daemon.scripts  # only the group tracks it, and its monitor exists
        for inst in insts.values():
            assert inst.router.config.sync_group == "gw"
            daemon._update_tracking(inst)
            daemon._feed(inst, Started())
        daemon._on_script("chk", TrackState.UP)
        daemon._feed(insts["gw4"], TimerExpired(), now=1e9)
        assert states(insts) == {"gw4": State.BACKUP, "gw5": State.BACKUP}  # gw5's own election is still running
        daemon._feed(insts["gw5"], TimerExpired(), now=1e9)
        assert states(insts) == {"gw4": State.MASTER, "gw5": State.MASTER}

        # The group's script fails: both members leave with priority 0 and wait as Backup (not FAULT).
        daemon._on_script("chk", TrackState.DOWN)
        assert states(insts) == {"gw4": State.BACKUP, "gw5": State.BACKUP}
        assert txs["gw4"].priorities()[-1] == 0 and txs["gw5"].priorities()[-1] == 0
        (group,) = daemon._status({})["sync_groups"]
        assert group["state"] == "FAULT" and group["held_by"] == "track script chk failed"
        assert group["trackers"] == [
            {"kind": "interface", "name": "eth1", "state": "up", "effect": "fault"},
            {"kind": "script", "name": "chk", "state": "down", "effect": "fault"},
        ]
        text = render_status(daemon._status({}))
        assert "gw          FAULT  gw4=BACKUP gw5=BACKUP  track script chk failed" in text
        assert "gw          script     chk      down   fault" in text

        # A member's own interface down: that member is FAULT, the other held in BACKUP.
        daemon._on_script("chk", TrackState.UP)
        fake.set_up("eth0", False)
        assert states(insts) == {"gw4": State.FAULT, "gw5": State.FAULT}  # eth0 is both members' own interface
        fake.set_up("eth0", True)
        assert states(insts) == {"gw4": State.BACKUP, "gw5": State.BACKUP}
        fake.set_up("eth1", False)  # a group-tracked interface
        (group,) = daemon._status({})["sync_groups"]
        assert group["state"] == "FAULT" and group["held_by"] == "interface eth1 down"
        fake.set_up("eth1", True)
        (group,) = daemon._status({})["sync_groups"]
        assert group["state"] == "BACKUP" and group["held_by"] is None
        assert group["waiting_for"] == ["gw4", "gw5"]
        assert "sync group gw: MASTER -> FAULT (track script chk failed)" in caplog.text
        await daemon.link_monitor.close()  # type: ignore[union-attr]
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()

    caplog.set_level(logging.INFO, logger="vrrpd")
    asyncio.run(body())


def test_status_without_groups_prints_no_group_section():
    text = render_status({"version": "x", "pid": 1, "uptime": 1, "instances": [{"name": "a"}], "sync_groups": []})
    assert "SYNC_GROUP" not in text
