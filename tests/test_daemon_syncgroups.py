"""Daemon wiring of sync groups, without sockets (issue #5 point 5): member inputs go through the group, group
trackers reach it, `status` and `vrrpctl status` show it, its transitions run its hooks and reach the event
stream (issue #5 point 4: notify hooks per group)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import textwrap
from pathlib import Path

import pytest
from daemoncase import SOURCE, Case, priorities, started

from vrrpd.cli.status import render_status
from vrrpd.config import parse_config
from vrrpd.daemon import Instance
from vrrpd.net.fakes import FakeNetlink
from vrrpd.protocol import State, TimerExpired
from vrrpd.protocol.tracking import TrackState
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


async def make(text: str = CONFIG) -> Case:
    fake = FakeNetlink()
    fake.add_link("eth0", addresses=[f"{SOURCE}/24"])
    fake.add_link("eth1")
    return await started(parse_config(textwrap.dedent(text)), fake)


def states(instances: dict[str, Instance]) -> dict[str, State]:
    return {name: inst.router.state for name, inst in instances.items()}


def test_group_trackers_and_member_faults_move_every_member(caplog):
    async def body() -> None:
        case = await make()
        daemon, insts, fake = case.daemon, case.daemon.instances, case.netlink
        assert "chk" in daemon.monitors.scripts  # only the group tracks it, and its monitor exists
        for inst in insts.values():  # started: each has had its tracking's verdict, then its Startup event
            assert inst.router.config.sync_group == "gw"
        daemon.monitors.on_script("chk", TrackState.UP)
        daemon.driver.feed(insts["gw4"], TimerExpired(), now=1e9)
        assert states(insts) == {"gw4": State.BACKUP, "gw5": State.BACKUP}  # gw5's own election is still running
        daemon.driver.feed(insts["gw5"], TimerExpired(), now=1e9)
        assert states(insts) == {"gw4": State.MASTER, "gw5": State.MASTER}

        # The group's script fails: both members leave with priority 0 and wait as Backup (not FAULT).
        daemon.monitors.on_script("chk", TrackState.DOWN)
        assert states(insts) == {"gw4": State.BACKUP, "gw5": State.BACKUP}
        assert priorities(case.sent("gw4"))[-1] == 0 and priorities(case.sent("gw5"))[-1] == 0
        (group,) = daemon.status()["sync_groups"]
        assert group["state"] == "FAULT" and group["held_by"] == "track script chk failed"
        assert group["trackers"] == [
            {"kind": "interface", "name": "eth1", "state": "up", "effect": "fault"},
            {"kind": "script", "name": "chk", "state": "down", "effect": "fault"},
        ]
        text = render_status(daemon.status())
        assert "gw          FAULT  gw4=BACKUP gw5=BACKUP  track script chk failed" in text
        assert "gw          script     chk      down   fault" in text

        # A member's own interface down: that member is FAULT, the other held in BACKUP.
        daemon.monitors.on_script("chk", TrackState.UP)
        fake.set_up("eth0", False)
        assert states(insts) == {"gw4": State.FAULT, "gw5": State.FAULT}  # eth0 is both members' own interface
        fake.set_up("eth0", True)
        assert states(insts) == {"gw4": State.BACKUP, "gw5": State.BACKUP}
        fake.set_up("eth1", False)  # a group-tracked interface
        (group,) = daemon.status()["sync_groups"]
        assert group["state"] == "FAULT" and group["held_by"] == "interface eth1 down"
        fake.set_up("eth1", True)
        (group,) = daemon.status()["sync_groups"]
        assert group["state"] == "BACKUP" and group["held_by"] is None
        assert group["waiting_for"] == ["gw4", "gw5"]
        assert "sync group gw: MASTER -> FAULT (track script chk failed)" in caplog.text
        await case.stop()

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
        case = await make(text)  # started: the group's hooks are registered, each member has had its Startup event
        daemon, insts = case.daemon, case.daemon.instances
        daemon.monitors.on_script("chk", TrackState.UP)
        daemon.driver.feed(insts["gw4"], TimerExpired(), now=1e9)
        daemon.driver.feed(insts["gw5"], TimerExpired(), now=1e9)
        daemon.monitors.on_script("chk", TrackState.DOWN)
        (status,) = daemon.status()["sync_groups"]
        assert status["hooks"]["hooks"] == ["on_master", "on_fault", "on_stop", "notify"]
        await case.stop()  # each member is shut down, then the hooks' queues drain
        assert out.read_text().splitlines() == [
            # Issue #12: held in FAULT until its group script has reported once (keepalived's num_member_init),
            # a wait keepalived notifies nothing for: the event stream below has it, the hooks do not.
            "notify group gw [gw4 gw5] FAULT GROUP gw BACKUP 0",
            "on_master group gw [gw4 gw5] BACKUP ",
            "notify group gw [gw4 gw5] BACKUP GROUP gw MASTER 0",
            "on_fault group gw [gw4 gw5] MASTER ",
            "notify group gw [gw4 gw5] MASTER GROUP gw FAULT 0",
            "on_stop group gw [gw4 gw5] FAULT ",
            "notify group gw [gw4 gw5] FAULT GROUP gw STOP 0",
        ]
        groups = [e for e in daemon.notifier.events.recent(100) if e["kind"] == "group"]
        assert [(e["name"], e["old"], e["new"], e["priority"], e["members"]) for e in groups] == [
            ("gw", "INITIALIZE", "FAULT", 0, ["gw4", "gw5"]),
            ("gw", "FAULT", "BACKUP", 0, ["gw4", "gw5"]),
            ("gw", "BACKUP", "MASTER", 0, ["gw4", "gw5"]),
            ("gw", "MASTER", "FAULT", 0, ["gw4", "gw5"]),
            ("gw", "FAULT", "STOP", 0, ["gw4", "gw5"]),
        ]
        assert groups[0]["reason"] == "track script chk has not reported yet"
        assert groups[3]["reason"] == "track script chk failed"
        # Members' own transitions are in the same stream, before the group change they caused.
        seqs = [(e["kind"], e["name"], e["new"]) for e in daemon.notifier.events.recent(100)]
        assert seqs.index(("instance", "gw5", "MASTER")) < seqs.index(("group", "gw", "MASTER"))

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
