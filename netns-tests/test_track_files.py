"""Track files on a real kernel (issue #5 point 2): writing a value into the file moves a's effective priority and
hands the VIP to b; deleting the file applies its on_missing rule (an assumed value, or FAULT with a
priority-0 advert).

Two routers, a (priority 200) and b (priority 100); every wait is a condition with a deadline.
"""

from __future__ import annotations

from pathlib import Path

from lab import Host, Lab, wait_for
from vrrpd_runner import Vrrpd, instance, two_hosts, vip_holders

VIP = "198.51.100.100/24"


def tracker(d: Vrrpd, name: str) -> dict:
    return next(t for t in d.instance_status()["trackers"] if t["name"] == name)


def write(path: Path, text: str) -> None:
    """Atomically, as the README asks writers to: a reader never sees the file half-written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def start_pair(lab: Lab, files: dict, a_files: list) -> tuple[tuple[Host, Host], Vrrpd, Vrrpd]:
    ha, hb = two_hosts(lab)
    a = Vrrpd(ha, [instance(priority=200, track_files=a_files)], track_files=files).start()
    b = Vrrpd(hb, [instance(priority=100)]).start()
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10, message="a never became master")
    wait_for(lambda: vip_holders([ha, hb], VIP) == ["a"], 3, message="VIP not on a alone")
    return (ha, hb), a, b


def test_file_value_times_weight_moves_priority_and_fails_over_missing_uses_assumed_value(lab):
    path = lab.workdir / "offset"
    write(path, "0\n")
    files = {"offset": {"path": str(path), "interval": 0.1, "on_missing": {"value": 3}}}
    hosts, a, b = start_pair(lab, files, [{"name": "offset", "weight": -20}])
    assert tracker(a, "offset") == {
        "kind": "file",
        "name": "offset",
        "state": "up",
        "effect": "value x -20",
        "contribution": 0,
        "value": 0,
        "implicit": False,
    }

    write(path, "2\n")  # 200 - 2 x 20 = 160: still above b, a stays master
    wait_for(lambda: a.instance_status()["effective_priority"] == 160, 3, message="priority did not follow the file")
    assert a.state() == "MASTER" and b.state() == "BACKUP"

    write(path, "6\n")  # 200 - 120 = 80 < 100: b preempts
    wait_for(lambda: b.state() == "MASTER" and a.state() == "BACKUP", 5, message="b did not preempt")
    assert tracker(a, "offset")["contribution"] == -120 and tracker(a, "offset")["value"] == 6
    wait_for(lambda: vip_holders(hosts, VIP) == ["b"], 3, message="VIP did not move to b alone")

    write(path, "1\n")  # 180: a preempts back
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 5, message="a did not preempt back")

    path.unlink()  # on_missing: {value: 3} -> 200 - 60 = 140: a stays master, with the assumed value
    wait_for(lambda: a.instance_status()["effective_priority"] == 140, 3, message="on_missing value not applied")
    assert a.state() == "MASTER"
    assert tracker(a, "offset")["value"] == 3
    files_status = a.status()["track_files"][0]
    assert files_status["problem"] == "missing" and files_status["effective_value"] == 3
    assert "track file offset" in a.log() and "missing; on_missing: value 3" in a.log()


def test_deleted_file_with_on_missing_fault_faults_and_recovers(lab):
    drain = lab.workdir / "drain"
    write(drain, "0\n")
    files = {"drain": {"path": str(drain), "interval": 0.1, "on_missing": "fault"}}
    hosts, a, b = start_pair(lab, files, [{"name": "drain", "on_failure": "fault"}])

    write(drain, "1\n")  # on_failure: fault: a non-zero value faults (keepalived's weight 0)
    wait_for(lambda: a.state() == "FAULT" and b.state() == "MASTER", 5, message="a did not fault")
    status = a.instance_status()
    assert status["fault_reason"] == "track file drain holds 1"
    assert status["counters"]["priority_zero_sent"] == 1
    wait_for(lambda: vip_holders(hosts, VIP) == ["b"], 3, message="VIP not removed from a")

    write(drain, "0\n")
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10, message="a did not come back")

    drain.unlink()  # on_missing: fault
    wait_for(lambda: a.state() == "FAULT" and b.state() == "MASTER", 5, message="a did not fault on a deleted file")
    assert a.instance_status()["fault_reason"] == "track file drain missing or unreadable"
    assert tracker(a, "drain")["state"] == "down"

    write(drain, "0\n")
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10, message="a did not come back")
    wait_for(lambda: vip_holders(hosts, VIP) == ["a"], 3)


def test_frequent_file_reads_never_block_the_event_loop(lab):
    """asyncio debug mode reports any callback holding the loop over 100 ms: reading three files ten times a
    second (one of them missing, one garbage) in threads must never do that, nor disturb the adverts."""
    good, garbage = lab.workdir / "good", lab.workdir / "garbage"
    write(good, "1\n")
    write(garbage, "not a number\n")
    files = {
        name: {"path": str(lab.workdir / name), "interval": 0.1, "on_missing": {"value": 0}}
        for name in ("good", "garbage", "missing")
    }
    trackers = [{"name": name, "weight": -10} for name in files]
    ha, hb = two_hosts(lab)
    a = Vrrpd(ha, [instance(priority=200, track_files=trackers)], track_files=files)
    a.start(env={"PYTHONASYNCIODEBUG": "1"})
    b = Vrrpd(hb, [instance(priority=100)]).start()
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10)
    wait_for(lambda: min(f["reads"] for f in a.status()["track_files"]) >= 30, 10, message="too few reads")
    assert a.instance_status()["effective_priority"] == 190  # 1 x -10; garbage and missing: on_missing 0
    assert {f["name"]: f["problem"] for f in a.status()["track_files"]} == {
        "good": None,
        "garbage": "'not a number' is not a whole number",
        "missing": "missing",
    }
    assert b.instance_status()["counters"]["became_master"] == 0
    assert a.stop() == 0
    log = a.log()
    assert "asyncio debug mode is on" in log
    assert " took " not in log, [line for line in log.splitlines() if " took " in line]
    # Each problem is logged once (at WARNING), not at every read.
    assert log.count("track file missing (") == 1 and log.count("track file garbage (") == 1
