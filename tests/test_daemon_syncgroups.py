"""Daemon wiring of sync groups, without sockets (issue #5 point 5): member inputs go through the group, group
trackers reach it, `status` and `vrrpctl status` show it, its transitions run its hooks and reach the event
stream (issue #5 point 4: notify hooks per group)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import textwrap
from pathlib import Path

import daemoncase
import pytest

from vrrpd.cli.status import render_status
from vrrpd.config import parse_config
from vrrpd.daemon import Daemon, Instance
from vrrpd.net.fakes import FakeNetlink
from vrrpd.protocol import ShutdownRequested, Started, State, TimerExpired, VirtualRouter
from vrrpd.protocol.tracking import Tracking, TrackState
from vrrpd.services.hooks import HookSetupError, Notifier
from vrrpd.services.logsetup import RateLimitedLogger

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


SOURCE = daemoncase.SOURCE


class Tx(daemoncase.Tx):
    def priorities(self) -> list[int]:
        return daemoncase.priorities(self)


async def make(text: str = CONFIG) -> tuple[Daemon, dict[str, Instance], FakeNetlink, dict[str, Tx]]:
    config = parse_config(textwrap.dedent(text))
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


def test_group_transitions_run_the_group_hooks_in_order_and_reach_the_event_stream(tmp_path: Path) -> None:
    """Issue #5 point 4/5: a group's hooks run on the group's own transitions (BACKUP, MASTER once every member
    is, FAULT on a group tracker, STOP at shutdown); the generic notify gets GROUP NAME STATE 0 appended."""
    out = tmp_path / "out"
    record = f'echo "$VRRPD_HOOK $VRRPD_KIND $VRRPD_NAME [$VRRPD_MEMBERS] $VRRPD_OLD_STATE $*" >> {out}'
    hook = [shutil.which("sh"), "-c", record, "hook"]
    notify = {"on_master": hook, "on_fault": hook, "on_stop": hook, "notify": hook, "timeout": 5}
    text = CONFIG + f"    notify: {notify!r}\n"

    async def body() -> None:
        daemon, insts, _, _ = await make(text)
        (group,) = daemon.config.sync_groups
        daemon.notifier.add_group(group)
        for inst in insts.values():
            daemon._update_tracking(inst)
            daemon._feed(inst, Started())
        daemon._on_script("chk", TrackState.UP)
        daemon._feed(insts["gw4"], TimerExpired(), now=1e9)
        daemon._feed(insts["gw5"], TimerExpired(), now=1e9)
        daemon._on_script("chk", TrackState.DOWN)
        (status,) = daemon._status({})["sync_groups"]
        assert status["hooks"]["hooks"] == ["on_master", "on_fault", "on_stop", "notify"]
        for inst in insts.values():
            daemon._feed(inst, ShutdownRequested())
        await daemon.notifier.close(limit=10)
        assert out.read_text().splitlines() == [
            "notify group gw [gw4 gw5] INITIALIZE GROUP gw BACKUP 0",
            "on_master group gw [gw4 gw5] BACKUP ",
            "notify group gw [gw4 gw5] BACKUP GROUP gw MASTER 0",
            "on_fault group gw [gw4 gw5] MASTER ",
            "notify group gw [gw4 gw5] MASTER GROUP gw FAULT 0",
            "on_stop group gw [gw4 gw5] FAULT ",
            "notify group gw [gw4 gw5] FAULT GROUP gw STOP 0",
        ]
        groups = [e for e in daemon.notifier.events.recent(100) if e["kind"] == "group"]
        assert [(e["name"], e["old"], e["new"], e["priority"], e["members"]) for e in groups] == [
            ("gw", "INITIALIZE", "BACKUP", 0, ["gw4", "gw5"]),
            ("gw", "BACKUP", "MASTER", 0, ["gw4", "gw5"]),
            ("gw", "MASTER", "FAULT", 0, ["gw4", "gw5"]),
            ("gw", "FAULT", "STOP", 0, ["gw4", "gw5"]),
        ]
        assert groups[2]["reason"] == "track script chk failed"
        # Members' own transitions are in the same stream, before the group change they caused.
        seqs = [(e["kind"], e["name"], e["new"]) for e in daemon.notifier.events.recent(100)]
        assert seqs.index(("instance", "gw5", "MASTER")) < seqs.index(("group", "gw", "MASTER"))
        await daemon.link_monitor.close()  # type: ignore[union-attr]
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()

    asyncio.run(body())


def test_group_hooks_line_in_vrrpctl_status():
    group = {"name": "gw", "state": "MASTER", "members": [], "hooks": {"hooks": ["notify"], "runs": 3, "failures": 1}}
    text = render_status({"version": "x", "pid": 1, "uptime": 1, "instances": [{"name": "a"}], "sync_groups": [group]})
    assert "sync group gw: hooks (notify): 3 runs, 1 failed" in text


def test_group_hook_user_that_does_not_exist_is_a_setup_error_naming_the_group():
    text = CONFIG + "    notify: {notify: /bin/true, user: no-such-user-vrrpd}\n"
    config = parse_config(textwrap.dedent(text))
    notifier = Notifier(RateLimitedLogger(logging.getLogger("test")))
    with pytest.raises(HookSetupError, match=r"^group gw: notify.user: no such user 'no-such-user-vrrpd'$"):
        notifier.add_group(config.sync_groups[0])
