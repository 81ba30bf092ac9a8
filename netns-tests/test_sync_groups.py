"""Sync groups on a real kernel (issue #5 point 5): two vrrpd daemons, two instances each (VRIDs 51 and 52 on
eth0) in one sync group per host; a fault moves both VIPs to the other host together, and recovery brings both
back; the group's own notify hooks (issue #5 point 4) run on its transitions and `vrrpctl events` shows them.
Every wait is a condition with a deadline."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from lab import Host, Lab, wait_for
from vrrpd_runner import Vrrpd, follow_events, instance, json_lines, vip_holders

VIP_X = "198.51.100.100/24"
VIP_Y = "198.51.100.101/24"
TEST = shutil.which("test") or "/usr/bin/test"
SH = shutil.which("sh") or "/bin/sh"
# One line per group hook run: what it saw in its environment and arguments.
RECORD = 'echo "$VRRPD_HOOK|$VRRPD_KIND|$VRRPD_NAME|$VRRPD_MEMBERS|$VRRPD_OLD_STATE|$VRRPD_STATE|$VRRPD_SEQ|$*" >> "$0"'


def members(px: int, py: int, **x_extra) -> list[dict]:
    return [
        instance("x", vrid=51, priority=px, addresses=[VIP_X], **x_extra),
        instance("y", vrid=52, priority=py, addresses=[VIP_Y]),
    ]


def states(d: Vrrpd) -> tuple[str | None, str | None]:
    return d.state("x"), d.state("y")


def holders(hosts: list[Host]) -> tuple[list[str], list[str]]:
    return vip_holders(hosts, VIP_X), vip_holders(hosts, VIP_Y)


def group(d: Vrrpd) -> dict:
    (g,) = d.status()["sync_groups"]
    return g


def start_pair(
    lab: Lab,
    a_members: list[dict],
    a_top: dict | None = None,
    b_prio: tuple[int, int] = (100, 100),
    b_group: dict | None = None,
):
    ha = lab.add_host("a", ipv4="198.51.100.11/24")
    hb = lab.add_host("b", ipv4="198.51.100.12/24")
    a = Vrrpd(ha, a_members, **{"sync_groups": {"g": {"members": ["x", "y"]}}, **(a_top or {})}).start()
    b = Vrrpd(hb, members(*b_prio), sync_groups={"g": {"members": ["x", "y"], **(b_group or {})}}).start()
    wait_for(lambda: states(a) == ("MASTER", "MASTER"), 10, message="a's group never became master")
    wait_for(lambda: states(b) == ("BACKUP", "BACKUP"), 5, message="b's group not backup")
    wait_for(lambda: holders([ha, hb]) == (["a"], ["a"]), 3, message="VIPs not on a alone")
    return [ha, hb], a, b


def test_group_tracker_fault_moves_both_vips_to_the_peer_and_recovery_brings_both_back(lab):
    flag: Path = lab.workdir / "a-group-check-fails"
    top = {
        "track_scripts": {"chk": {"command": [TEST, "!", "-e", str(flag)], "interval": 0.1, "timeout": 1}},
        "sync_groups": {"g": {"members": ["x", "y"], "track_scripts": [{"name": "chk", "on_failure": "fault"}]}},
    }
    # b's group has hooks (issue #5 point 4: notify hooks per group): each run appends a line to b_hooks.
    b_hooks, b_events = lab.workdir / "b-group-hooks", lab.workdir / "b-events"
    hook = [SH, "-c", RECORD, str(b_hooks)]
    notify = {"on_master": hook, "on_backup": hook, "on_stop": hook, "notify": hook, "timeout": 5}
    hosts, a, b = start_pair(lab, members(200, 200), top, b_group={"notify": notify})
    follower = follow_events(hosts[1], b, b_events, "--replay", "10")
    wait_for(lambda: group(a)["trackers"][0]["state"] == "up", 3, message="the group check never passed")

    touched = time.monotonic()
    flag.touch()
    wait_for(lambda: states(b) == ("MASTER", "MASTER"), 5, message="b's group did not take over")
    took = time.monotonic() - touched
    # Both of a's members sent priority 0 (RFC 9568 §6.4.3), so b took over after Skew_Time, not the full MDI.
    assert took < b.instance_status("x")["master_down_interval"] + 0.5, took
    assert states(a) == ("BACKUP", "BACKUP")  # healthy members are held in BACKUP, not FAULT
    g = group(a)
    assert g["state"] == "FAULT" and g["held_by"] == "track script chk failed"
    assert [a.instance_status(n)["counters"]["priority_zero_sent"] for n in "xy"] == [1, 1]
    wait_for(lambda: holders(hosts) == (["b"], ["b"]), 3, message="VIPs did not move to b together")

    flag.unlink()
    wait_for(lambda: states(a) == ("MASTER", "MASTER"), 10, message="a's group did not preempt back")
    wait_for(lambda: states(b) == ("BACKUP", "BACKUP"), 5)
    wait_for(lambda: holders(hosts) == (["a"], ["a"]), 3, message="VIPs did not come back to a together")
    log = a.log()
    assert "sync group g: MASTER -> FAULT (track script chk failed)" in log
    assert "x: MASTER -> BACKUP (sync group g: track script chk failed)" in log

    # b's group went BACKUP, MASTER (a's group failed), BACKUP (a preempted back), STOP (b stops): each time
    # its own hook, then the generic notify with keepalived's GROUP NAME STATE 0, one at a time, in order.
    wait_for(lambda: len(hook_runs(b_hooks)) == 6, 10, message=f"b's group hooks did not all run: {hook_runs(b_hooks)}")
    assert b.stop() == 0
    assert follower.wait(10) == 1  # the daemon ended the stream
    group_events = [e for e in json_lines(b_events) if e["kind"] == "group"]
    transitions = [("INITIALIZE", "BACKUP"), ("BACKUP", "MASTER"), ("MASTER", "BACKUP"), ("BACKUP", "STOP")]
    assert [(e["old"], e["new"]) for e in group_events] == transitions
    for e in group_events:
        assert (e["type"], e["name"], e["priority"], e["members"]) == ("transition", "g", 0, ["x", "y"])
    assert group_events[1]["reason"] == "every member's master down timer expired"
    expected = []
    for (old, new), event in zip(transitions, group_events, strict=True):
        specific = {"BACKUP": "on_backup", "MASTER": "on_master", "STOP": "on_stop"}[new]
        seq = str(event["seq"])
        expected += [(specific, old, new, seq, ""), ("notify", old, new, seq, f"GROUP g {new} 0")]
    runs = hook_runs(b_hooks)
    assert [(r["hook"], r["old"], r["state"], r["seq"], r["args"]) for r in runs] == expected
    assert {(r["kind"], r["name"], r["members"]) for r in runs} == {("group", "g", "x y")}
    # The members' own transitions are in the same stream, each before the group change it caused.
    kinds = [(e["kind"], e["name"], e["new"]) for e in json_lines(b_events)]
    assert kinds.index(("instance", "y", "MASTER")) < kinds.index(("group", "g", "MASTER"))
    assert (group(a)["hooks"], b.log().count("hook on_master (BACKUP -> MASTER")) == (None, 1)


def hook_runs(out: Path) -> list[dict[str, str]]:
    keys = ("hook", "kind", "name", "members", "old", "state", "seq", "args")
    lines = out.read_text().splitlines() if out.exists() else []
    return [dict(zip(keys, line.split("|"), strict=True)) for line in lines]


def test_member_fault_takes_the_whole_group_to_the_peer(lab):
    ha = lab.add_host("a", ipv4="198.51.100.11/24")
    # A veth pair inside a's namespace: x faults when t1 loses its carrier.
    ha.run(["ip", "link", "add", "t1", "type", "veth", "peer", "name", "t1p"])
    for name in ("t1", "t1p"):
        ha.run(["ip", "link", "set", name, "up"])
    hb = lab.add_host("b", ipv4="198.51.100.12/24")
    groups = {"g": {"members": ["x", "y"]}}
    a = Vrrpd(ha, members(200, 200, track_interfaces=[{"interface": "t1", "on_failure": "fault"}]), sync_groups=groups)
    a.start()
    b = Vrrpd(hb, members(100, 100), sync_groups=groups).start()
    wait_for(lambda: states(a) == ("MASTER", "MASTER") and states(b) == ("BACKUP", "BACKUP"), 10)

    ha.run(["ip", "link", "set", "t1p", "down"])
    wait_for(lambda: states(b) == ("MASTER", "MASTER"), 5, message="b did not take both members")
    assert states(a) == ("FAULT", "BACKUP")
    assert group(a)["held_by"] == "member x is in FAULT (interface t1 down)"
    wait_for(lambda: holders([ha, hb]) == (["b"], ["b"]), 3)
    # Held: y's own election says MASTER (b.y has the lower priority), but the group keeps it BACKUP.
    wait_for(lambda: a.instance_status("y")["state"] == "BACKUP" and group(a)["members"][1]["wants_master"], 3)
    assert b.status()["instances"][1]["counters"]["became_master"] == 1

    ha.run(["ip", "link", "set", "t1p", "up"])
    wait_for(lambda: states(a) == ("MASTER", "MASTER") and states(b) == ("BACKUP", "BACKUP"), 10)
    wait_for(lambda: holders([ha, hb]) == (["a"], ["a"]), 3)


def test_peer_higher_on_one_member_only_does_not_preempt_or_flap(lab):
    """b outranks a on y only: b.y wants MASTER but b.x defers to a.x, so b's group never preempts."""
    hosts, a, b = start_pair(lab, members(200, 100), b_prio=(100, 200))
    wait_for(lambda: group(b)["held_by"] == "member x defers to master 198.51.100.11 (priority 200)", 5)
    before = [b.instance_status(n)["counters"]["transitions"] for n in "xy"]
    deadline = time.monotonic() + 3  # 30 advert intervals
    while time.monotonic() < deadline:
        assert states(a) == ("MASTER", "MASTER") and states(b) == ("BACKUP", "BACKUP")
        time.sleep(0.1)
    assert [b.instance_status(n)["counters"]["transitions"] for n in "xy"] == before
    assert holders(hosts) == (["a"], ["a"])


def test_mirrored_priorities_started_together_settle_on_one_host(lab):
    """a is higher on x, b on y, both start at once: they may both go MASTER first, but the address tie-break
    (vrrpd/protocol/syncgroup.py) leaves one host with both VIPs, and nothing moves after that."""
    ha = lab.add_host("a", ipv4="198.51.100.11/24")
    hb = lab.add_host("b", ipv4="198.51.100.12/24")
    groups = {"g": {"members": ["x", "y"]}}
    a = Vrrpd(ha, members(200, 100), sync_groups=groups).start(wait=False)
    b = Vrrpd(hb, members(100, 200), sync_groups=groups).start(wait=False)
    wait_for(lambda: a._ready() and b._ready(), 15, message="daemons did not come up")

    def one_holder() -> bool:
        sa, sb = states(a), states(b)
        return {sa, sb} == {("MASTER", "MASTER"), ("BACKUP", "BACKUP")}

    wait_for(one_holder, 10, message="the groups did not settle on one host")
    winner, loser = (a, b) if states(a) == ("MASTER", "MASTER") else (b, a)
    wait_for(lambda: holders([ha, hb]) == ([winner.host.name], [winner.host.name]), 3)
    before = [loser.instance_status(n)["counters"]["transitions"] for n in "xy"]
    deadline = time.monotonic() + 3  # 30 advert intervals
    while time.monotonic() < deadline:
        assert states(winner) == ("MASTER", "MASTER") and states(loser) == ("BACKUP", "BACKUP")
        time.sleep(0.1)
    assert [loser.instance_status(n)["counters"]["transitions"] for n in "xy"] == before
