"""`vrrpctl drain` / `vrrpctl resume` on a real kernel (issue #15): two vrrpd routers in network namespaces.

Timing bounds are the protocol's (RFC 9568 §6.4.2, §6.4.3): with a 1 s advert interval the peer's Skew_Time is 0.61 s
and its Master_Down_Interval 3.61 s; a drained master's priority-0 advert must get the peer to take over in under 2 s.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from lab import Host, wait_for
from vrrpd_runner import Vrrpd, instance, two_hosts, vip_holders

VIP = "198.51.100.100/24"
OWNED = "198.51.100.101/24"


def ctl(host: Host, d: Vrrpd, *args: str, check: bool = False):
    return host.run([sys.executable, "-m", "vrrpd.cli.ctl", "--socket", str(d.socket), *args], check=check, timeout=30)


def events(host: Host, d: Vrrpd, *args: str) -> list[dict]:
    out = ctl(host, d, "events", "--replay", "1000", *args, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def stays(predicate: Callable[[], bool], seconds: float, message: str) -> None:
    """`predicate` holds whenever it is looked at, every 50 ms for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert predicate(), message
        time.sleep(0.05)


def test_9568_6_4_3_a_drained_master_hands_over_after_skew_time_and_stays_drained_across_a_restart(lab):
    ha, hb = two_hosts(lab)
    a = Vrrpd(ha, [instance(priority=200, addresses=[VIP], advert_interval=1.0)]).start()
    b = Vrrpd(hb, [instance(priority=150, addresses=[VIP], advert_interval=1.0)]).start()
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10, message="a never became master")
    wait_for(lambda: vip_holders([ha, hb], VIP) == ["a"], 5, message="the VIP is not on a alone")
    mdi = b.instance_status()["master_down_interval"]

    drained = time.monotonic()
    result = ctl(ha, a, "drain", "v")
    assert (result.returncode, result.stdout) == (0, "drained (hard): v\n"), result.stderr
    wait_for(lambda: b.state() == "MASTER", 5, message="b never took over")
    took = time.monotonic() - drained
    # Skew_Time (0.61 s) after the priority-0 advert, not Master_Down_Interval (3.61 s).
    assert took < 2.0 < mdi, f"b took over {took:.2f} s after the drain (Master_Down_Interval {mdi:.2f} s)"
    wait_for(lambda: vip_holders([ha, hb], VIP) == ["b"], 3, message="the VIP did not move to b alone")
    status = a.instance_status()
    assert (status["state"], status["drained"]) == ("BACKUP", True)
    assert a.status()["drain_state"]["error"] is None
    assert "v: drained: never Master (vrrpctl resume v)" in ctl(ha, a, "status", check=True).stdout

    # kill -9 and start again: still drained (the state file), so a does not preempt b, nor take over when b goes.
    a.crash()
    a.start()
    assert a.instance_status()["drained"] is True
    stays(lambda: a.state() == "BACKUP", 2 * mdi, "a drained took the VIP back after its restart")
    b.stop()
    stays(lambda: a.state() == "BACKUP" and vip_holders([ha], VIP) == [], mdi + 1.5, "a drained became master")
    assert "nobody serves the virtual addresses" in a.log()

    result = ctl(ha, a, "resume", "v")
    assert (result.returncode, result.stdout) == (0, "resumed: v\n"), result.stderr
    wait_for(lambda: a.state() == "MASTER", 3, message="a resumed, alone, never took over")
    found = [(e["mode"], e["reason"].split("; ")[-1]) for e in events(ha, a, "--type", "drain", "--count", "2")]
    assert found == [("hard", "vrrpd started"), ("resumed", "vrrpctl resume")]


def test_soft_drain_of_the_last_router_keeps_the_vip_and_resume_preempts(lab):
    ha, hb = two_hosts(lab)
    level = lab.workdir / "level"
    level.write_text("0\n")
    top = {"track_files": {"level": {"path": str(level), "interval": 0.1, "on_missing": {"value": 0}}}}
    v = instance(priority=200, addresses=[VIP], track_files=[{"name": "level", "weight": 5}])
    owner = instance("o", vrid=52, priority=255, addresses=[OWNED])
    a = Vrrpd(ha, [v, owner], **top).start()
    wait_for(lambda: a.state() == "MASTER" and a.state("o") == "MASTER", 10, message="a never became master")

    # Draining an address owner is refused, and changes nothing.
    result = ctl(ha, a, "drain", "o")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("o is the address owner of VRID 52 (priority 255): no other router can take")
    assert a.instance_status("o")["drained"] is False

    # Soft, and alone: the VIP never leaves; a stands with priority 1.
    assert ctl(ha, a, "drain", "--soft", "v").stdout == "drained (soft): v\n"
    stays(lambda: a.state() == "MASTER" and vip_holders([ha], VIP) == ["a"], 1.5, "the soft-drained a dropped the VIP")
    assert a.instance_status()["drained"] == "soft" and a.instance_status()["master_priority"] == 1

    # Another router comes: it wins (a stands with 1), and the VIP moves to it.
    b = Vrrpd(hb, [instance(priority=150, addresses=[VIP])]).start()
    wait_for(lambda: b.state() == "MASTER" and a.state() == "BACKUP", 5, message="b never took over from soft a")
    wait_for(lambda: vip_holders([ha, hb], VIP) == ["b"], 3, message="the VIP did not move to b alone")

    # Resume, preempt on: a takes back as usual (b's lower adverts run its Master_Down timer out).
    assert ctl(ha, a, "resume", "--all").stdout == "resumed: v; not drained: o\n"
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 3, message="a never took back")
    wait_for(lambda: vip_holders([ha, hb], VIP) == ["a"], 3, message="the VIP did not come back to a alone")

    # A tracker moves the priority, and a reload is applied: each has its event.
    level.write_text("2\n")
    wait_for(lambda: a.instance_status()["effective_priority"] == 210, 3, message="the track file never counted")
    assert ctl(ha, a, "reload").returncode == 0
    (priority,) = events(ha, a, "--type", "priority", "--count", "1")
    assert (priority["name"], priority["old"], priority["new"]) == ("v", 200, 210)
    assert priority["reason"] == "base 200, track file level up (value 2) +10"
    (reload,) = events(ha, a, "--type", "reload", "--count", "1")
    assert (reload["result"], reload["unchanged"], reload["changed"]) == ("applied", 2, 0)
    drains = [(e["name"], e["mode"]) for e in events(ha, a, "--type", "drain", "--count", "2")]
    assert drains == [("v", "soft"), ("v", "resumed")]
