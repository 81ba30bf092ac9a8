"""Tracking on a real kernel: track scripts with a weight or on_failure: fault, the own interface going down,
a tracked second interface, and a hanging script that is killed without disturbing the adverts.

Two routers, a (priority 200) and b (priority 100); every wait is a condition with a deadline.
"""

from __future__ import annotations

import shutil
import time

from lab import Lab, ns_processes, wait_for
from vrrpd_runner import Vrrpd, flag_script, instance, two_hosts, vip_holders

VIP = "198.51.100.100/24"
TEST = shutil.which("test") or "/usr/bin/test"
SLEEP = shutil.which("sleep") or "/bin/sleep"
SH = shutil.which("sh") or "/bin/sh"


def tracker(d: Vrrpd, name: str) -> dict:
    return next(t for t in d.instance_status()["trackers"] if t["name"] == name)


def start_pair(lab: Lab, a_instance: dict, scripts: dict | None = None, interval: float = 0.1):
    ha, hb = two_hosts(lab)
    top = {"track_scripts": scripts} if scripts else {}
    a = Vrrpd(ha, [a_instance], **top).start()
    b = Vrrpd(hb, [instance(priority=100, advert_interval=interval)]).start()
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10, message="a never became master")
    # b starts as Backup at once; it has heard a only once a's next advert arrived.
    wait_for(lambda: b.instance_status()["master_address"] is not None, 3, message="b never heard a")
    wait_for(lambda: vip_holders([ha, hb], VIP) == ["a"], 3, message="VIP not on a alone")
    return (ha, hb), a, b


def test_track_script_negative_weight_fails_over_and_back(lab):
    flag = lab.workdir / "a-check-fails"
    a_inst = instance(priority=200, track_scripts=[{"name": "chk", "weight": -150}])
    hosts, a, b = start_pair(lab, a_inst, {"chk": flag_script(flag)})
    wait_for(lambda: tracker(a, "chk")["state"] == "up", 3, message="the check never passed")
    assert tracker(a, "chk") == {
        "kind": "script",
        "name": "chk",
        "state": "up",
        "effect": "weight -150",
        "contribution": 0,
        "implicit": False,
    }

    flag.touch()
    # 200 - 150 = 50 < 100: a advertises 50 at once and b preempts.
    wait_for(lambda: b.state() == "MASTER" and a.state() == "BACKUP", 5, message="b did not preempt")
    status = a.instance_status()
    assert status["effective_priority"] == 50 and status["priority"] == 200
    assert tracker(a, "chk")["contribution"] == -150 and tracker(a, "chk")["state"] == "down"
    wait_for(lambda: vip_holders(hosts, VIP) == ["b"], 3, message="VIP did not move to b alone")

    flag.unlink()
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 5, message="a did not preempt back")
    assert a.instance_status()["effective_priority"] == 200
    wait_for(lambda: vip_holders(hosts, VIP) == ["a"], 3, message="VIP did not come back to a alone")


def test_track_script_on_failure_fault_sends_priority_zero_and_removes_vips(lab):
    flag = lab.workdir / "a-check-fails"
    a_inst = instance(priority=200, advert_interval=1.0, track_scripts=[{"name": "chk", "on_failure": "fault"}])
    hosts, a, b = start_pair(lab, a_inst, {"chk": flag_script(flag)}, interval=1.0)
    wait_for(lambda: tracker(a, "chk")["state"] == "up", 3)
    b_status = b.instance_status()
    skew, mdi = b_status["skew_time"], b_status["master_down_interval"]

    touched = time.monotonic()
    flag.touch()
    wait_for(lambda: b.state() == "MASTER", 5, message="b did not take over")
    took = time.monotonic() - touched
    # Skew_Time(100) = 0.61 s against a Master_Down_Interval of 3.61 s: only the priority-0 advert explains it.
    assert took < skew + 1.0 < mdi, f"takeover {took:.3f}s; Skew_Time {skew:.3f}s, MDI {mdi:.3f}s"
    status = a.instance_status()
    assert status["state"] == "FAULT" and status["fault_reason"] == "track script chk failed"
    assert status["counters"]["priority_zero_sent"] == 1
    assert b.instance_status()["counters"]["priority_zero_received"] == 1
    wait_for(lambda: vip_holders(hosts, VIP) == ["b"], 3, message="VIP not removed from a")

    flag.unlink()
    # Recovered: a starts again as Backup, then preempts b (lower priority) after its Master_Down_Interval.
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10, message="a did not come back")
    assert "FAULT -> BACKUP" in a.log()
    wait_for(lambda: vip_holders(hosts, VIP) == ["a"], 3)


def test_own_interface_down_is_fault_and_up_returns_as_backup_then_preempts(lab):
    hosts, a, b = start_pair(lab, instance(priority=200))
    ha, _ = hosts
    ha.link_set(False)
    wait_for(lambda: a.state() == "FAULT", 3, message="a did not go to FAULT")
    assert a.instance_status()["fault_reason"] == "interface eth0 down"
    assert tracker(a, "eth0") == {
        "kind": "interface",
        "name": "eth0",
        "state": "down",
        "effect": "fault",
        "contribution": 0,
        "implicit": True,
    }
    wait_for(lambda: b.state() == "MASTER", 3, message="b did not take over")
    # The link is down, but the address still sits on it: a removed the VIP itself.
    wait_for(lambda: VIP not in ha.addresses(), 3, message="VIP left on a's downed interface")

    ha.link_set(True)
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10, message="a did not come back")
    log = a.log()
    assert "FAULT -> BACKUP" in log and log.index("FAULT -> BACKUP") < log.rindex("BACKUP -> MASTER")
    assert a.instance_status()["fault_reason"] is None
    wait_for(lambda: vip_holders(hosts, VIP) == ["a"], 3)


def test_tracked_second_interface_weight_follows_carrier(lab):
    ha, hb = two_hosts(lab)
    # A veth pair inside a's namespace: t1 is tracked; downing its peer takes t1's carrier away.
    ha.run(["ip", "link", "add", "t1", "type", "veth", "peer", "name", "t1p"])
    for name in ("t1", "t1p"):
        ha.run(["ip", "link", "set", name, "up"])
    a = Vrrpd(ha, [instance(priority=200, track_interfaces=[{"interface": "t1", "weight": -150}])]).start()
    b = Vrrpd(hb, [instance(priority=100)]).start()
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10)
    wait_for(lambda: tracker(a, "t1")["state"] == "up", 3)

    ha.run(["ip", "link", "set", "t1p", "down"])  # t1 stays administratively up, without carrier
    wait_for(lambda: b.state() == "MASTER" and a.state() == "BACKUP", 5, message="b did not preempt")
    assert a.instance_status()["effective_priority"] == 50
    assert tracker(a, "t1")["contribution"] == -150

    ha.run(["ip", "link", "set", "t1p", "up"])
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 5, message="a did not preempt back")
    # An interface that goes away counts as down too.
    ha.run(["ip", "link", "del", "t1"])
    wait_for(lambda: b.state() == "MASTER", 5, message="b did not preempt after the interface went away")
    assert tracker(a, "t1")["state"] == "down"


def test_hanging_script_is_killed_counted_as_failure_and_adverts_keep_flowing(lab):
    scripts = {"hang": {"command": [SLEEP, "60"], "interval": 1, "timeout": 0.5}}
    a_inst = instance(priority=200, track_scripts=[{"name": "hang", "weight": -10}])
    hosts, a, b = start_pair(lab, a_inst, scripts)
    ha, _ = hosts

    first_seen: dict[int, float] = {}
    longest = 0.0
    deadline = time.monotonic() + 4.5
    while time.monotonic() < deadline:
        now = time.monotonic()
        procs = ns_processes(ha)
        assert not [p for p, (_, state) in procs.items() if state == "Z"], f"zombies: {procs}"
        sleepers = {pid for pid, (cmd, _) in procs.items() if cmd.startswith(f"{SLEEP} 60")}
        for pid in sleepers:
            first_seen.setdefault(pid, now)
            longest = max(longest, now - first_seen[pid])
        # The backup keeps hearing a: no false failover while a's check hangs.
        status = b.instance_status()
        assert status["state"] == "BACKUP", status
        assert status["master_age"] is not None and status["master_age"] < 0.35, status["master_age"]
        time.sleep(0.05)

    assert len(first_seen) >= 3, first_seen  # one sleep per interval, each killed
    assert longest < 0.5 + 0.5, f"a hanging run lived {longest:.2f}s with timeout 0.5s"
    scripts_status = a.status()["track_scripts"][0]
    assert scripts_status["timeouts"] >= 3 and scripts_status["failures"] == scripts_status["runs"]
    assert "timed out after" in scripts_status["last_result"]
    assert tracker(a, "hang")["state"] == "down" and tracker(a, "hang")["contribution"] == -10
    status = a.instance_status()
    assert status["state"] == "MASTER" and status["effective_priority"] == 190
    assert b.instance_status()["counters"]["became_master"] == 0
    log = a.log()
    assert "track script hang failed: timed out after" in log and "track script hang is now down" in log

    # On stop, a run in progress is killed too: nothing is left in the namespace.
    assert a.stop() == 0
    wait_for(lambda: not ns_processes(ha), 3, message="processes left in a's namespace")


def test_own_interface_down_at_start_is_fault_until_it_comes_up(lab):
    ha, hb = two_hosts(lab)
    b = Vrrpd(hb, [instance(priority=100)]).start()
    wait_for(lambda: b.state() == "MASTER", 5)
    ha.link_set(False)
    a = Vrrpd(ha, [instance(priority=200)]).start()
    wait_for(lambda: a.state() == "FAULT", 3, message="a did not start in FAULT")
    assert a.instance_status()["fault_reason"] == "interface eth0 down"
    assert VIP not in ha.addresses() and b.state() == "MASTER"
    ha.link_set(True)
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10, message="a did not take over once up")


def test_frequent_checks_never_block_the_event_loop(lab):
    """asyncio debug mode reports any callback holding the loop over 100 ms: spawning, reading and reaping
    checks ten times a second (passing and timing out) must never do that."""
    ha, hb = two_hosts(lab)
    scripts = {
        "fast": {"command": [TEST, "-d", "/"], "interval": 0.1},
        "slow": {"command": [SLEEP, "5"], "interval": 0.2, "timeout": 0.1},
    }
    trackers = [{"name": "fast", "weight": 10}, {"name": "slow", "weight": -10}]
    a = Vrrpd(ha, [instance(priority=200, track_scripts=trackers)], track_scripts=scripts)
    a.start(env={"PYTHONASYNCIODEBUG": "1"})
    b = Vrrpd(hb, [instance(priority=100)]).start()
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10)
    wait_for(lambda: sum(s["runs"] for s in a.status()["track_scripts"]) >= 30, 10, message="too few runs")
    assert a.instance_status()["effective_priority"] == 200  # +10 -10
    assert b.instance_status()["counters"]["became_master"] == 0
    assert a.stop() == 0
    log = a.log()
    assert "asyncio debug mode is on" in log
    assert " took " not in log, [line for line in log.splitlines() if " took " in line]


def test_a_check_that_exits_0_leaving_a_child_on_its_output_passes_and_leaves_nothing_behind(lab):
    """Issue #13: a check that exits 0 and leaves a background child holding its stdout read as "timed out" (a
    failover; keepalived says it passed), and the children of finished runs lived on, past vrrpd itself. Now the
    check's exit decides and its group is killed once it has exited. fall 1: one false timeout would fail over."""
    command = [SH, "-c", f"{SLEEP} 30 & exit 0"]
    scripts = {"bg": {"command": command, "interval": 0.5, "timeout": 2, "rise": 1, "fall": 1}}
    a_inst = instance(priority=200, track_scripts=[{"name": "bg", "weight": -150}])
    hosts, a, b = start_pair(lab, a_inst, scripts)
    ha, _ = hosts

    def leftovers() -> int:
        return sum(1 for cmd, state in ns_processes(ha).values() if cmd == f"{SLEEP} 30" and state != "Z")

    most = 0
    deadline = time.monotonic() + 30
    while (script := a.status()["track_scripts"][0])["runs"] < 12:
        assert time.monotonic() < deadline, f"only {script['runs']} runs in 30 s"
        # At most the child of the run in flight, between the check's exit and the kill of its group.
        most = max(most, leftovers())
        assert most <= 1, f"{most} children of finished runs are alive"
        assert b.state() == "BACKUP" and a.state() == "MASTER", "a false failover"
        time.sleep(0.05)
    assert (script["failures"], script["timeouts"]) == (0, 0), script
    assert script["last_result"].startswith("exit status 0 after "), script["last_result"]
    assert tracker(a, "bg")["state"] == "up"
    assert b.instance_status()["counters"]["became_master"] == 0
    print(f"\n12 runs: most children alive at once {most}; last run {script['last_result']}")

    assert a.stop() == 0
    wait_for(lambda: not ns_processes(ha), 5, message="processes left in a's namespace after vrrpd stopped")
