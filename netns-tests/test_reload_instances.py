"""Live reload on a real kernel (issue #11), instance by instance: a reload that adds an instance starts it, one
that removes an instance stops it as shutdown does (priority 0, VIPs gone, the peer takes over after Skew_Time),
and a VIP moved from one instance to another ends on the second in that one reload, without either flapping.

Host a is the master of every instance, host b its backup; an observer records the adverts on the wire
(helpers/advert_sniffer.py, kernel timestamps).
"""

from __future__ import annotations

import time
from typing import Any

from lab import wait_for
from reload_lab import A_IP, B_IP, Observer, config, hosts, reload, write_file
from vrrpd_runner import Vrrpd, instance, vip_holders

M_VIP, R_VIP, N_VIP = "198.51.100.100/24", "198.51.100.101/24", "198.51.100.102/24"
X_VIP, Y_VIP, MOVED = "198.51.100.103/24", "198.51.100.104/24", "198.51.100.105/24"


def m(priority: int) -> dict[str, Any]:
    return instance("m", vrid=51, priority=priority, addresses=[M_VIP], advert_interval=0.1)


def r(priority: int) -> dict[str, Any]:
    # 1 s: Skew_Time(100) = 0.61 s against Master_Down_Interval 3.61 s, far enough apart to tell which one ran.
    return instance("r", vrid=52, priority=priority, addresses=[R_VIP], advert_interval=1.0)


def n(priority: int) -> dict[str, Any]:
    return instance("n", vrid=53, priority=priority, addresses=[N_VIP], advert_interval=0.1)


def ip(vip: str) -> str:
    return vip.split("/")[0]


def test_a_reload_starts_an_added_instance_and_stops_a_removed_one_as_at_shutdown(lab):
    a, b, obs = hosts(lab)
    da = Vrrpd(a, [m(200), r(200)]).start()
    db = Vrrpd(b, [m(100), r(100)]).start()
    observer = Observer(obs)
    wait_for(lambda: (da.state("m"), da.state("r")) == ("MASTER", "MASTER"), 10, message="a never became master")
    wait_for(lambda: db.instance_status("r")["master_priority"] == 200, 5, message="b never heard a's r")
    assert vip_holders([a, b], R_VIP) == ["a"]
    b_m = db.instance_status("m")["counters"]["transitions"]

    # Added: it starts as at start-up, becomes master (nobody else runs it) and brings its VIP up.
    write_file(da, [m(200), r(200), n(200)])
    assert reload(da) == "2 unchanged, 0 changed, 1 added, 0 removed"
    assert config(da)["last_reload"]["added"] == ["n"]
    wait_for(lambda: da.state("n") == "MASTER", 5, message="the added instance never became master")
    wait_for(lambda: N_VIP in a.addresses(), 2, message="the added instance's VIP never came up")
    wait_for(lambda: observer.adverts(A_IP, 53), 2, message="the added instance never advertised")

    # Removed: a priority-0 advert, its VIP gone from a, and b takes over after Skew_Time, not Master_Down_Interval.
    status = db.instance_status("r")
    skew, mdi = status["skew_time"], status["master_down_interval"]
    removing = time.monotonic()
    write_file(da, [m(200), n(200)])
    assert reload(da) == "2 unchanged, 0 changed, 0 added, 1 removed"
    assert config(da)["last_reload"]["removed"] == ["r"]
    assert [i["name"] for i in da.status()["instances"]] == ["m", "n"]
    zero = wait_for(
        lambda: [x for x in observer.adverts(A_IP, 52, since=removing) if x["priority"] == 0],
        2,
        message="no priority-0 advert for the removed instance",
    )[0]
    assert R_VIP not in a.addresses()
    took_over = wait_for(lambda: observer.adverts(B_IP, 52), mdi + 5, message="b never took r over")[0]
    took = took_over["kernel_time"] - zero["kernel_time"]
    print(
        f"\nr removed: b advertised {took * 1000:.0f} ms after the priority-0 advert (Skew_Time {skew * 1000:.0f} ms,"
        f" Master_Down_Interval {mdi * 1000:.0f} ms)"
    )
    assert took < skew + 0.5 < mdi, f"b took over after {took:.3f} s; Skew_Time {skew:.3f} s, MDI {mdi:.3f} s"
    wait_for(lambda: vip_holders([a, b], R_VIP) == ["b"], 2, message="r's VIP did not end on b alone")
    assert db.instance_status("r")["counters"]["priority_zero_received"] == 1
    # Its last adverts were the priority-0 one: a sends nothing for r after it.
    assert [x["priority"] for x in observer.adverts(A_IP, 52, since=removing)] == [0]

    # m, unchanged by both reloads, never moved.
    assert da.state("m") == "MASTER" and db.state("m") == "BACKUP"
    assert db.instance_status("m")["counters"]["transitions"] == b_m
    assert not observer.adverts(B_IP, 51)


def pair(moved_to: str, priority: int) -> list[dict[str, Any]]:
    """Instances x and y; MOVED is on `moved_to`'s list."""
    return [
        instance("x", vrid=54, priority=priority, addresses=[X_VIP, *([MOVED] if moved_to == "x" else [])]),
        instance("y", vrid=55, priority=priority, addresses=[Y_VIP, *([MOVED] if moved_to == "y" else [])]),
    ]


def test_a_vip_moved_between_instances_ends_on_the_second_in_that_one_reload(lab):
    a, b, obs = hosts(lab)
    da = Vrrpd(a, pair("x", 200)).start()
    db = Vrrpd(b, pair("x", 100)).start()
    observer = Observer(obs)
    wait_for(lambda: (da.state("x"), da.state("y")) == ("MASTER", "MASTER"), 10, message="a never became master")
    wait_for(lambda: db.instance_status("y")["master_priority"] == 200, 5, message="b never heard a's y")
    wait_for(lambda: ip(MOVED) in observer.adverts(A_IP, 54)[-1]["addresses"], 2, message="x does not list it")
    assert MOVED in a.addresses() and vip_holders([a, b], MOVED) == ["a"]
    before = {(d.host.name, n): d.instance_status(n)["counters"]["transitions"] for d in (da, db) for n in "xy"}
    started = time.monotonic()

    # The backup's file first (it holds no address), then the master's: one reload each.
    write_file(db, pair("y", 100))
    assert reload(db) == "0 unchanged, 2 changed, 0 added, 0 removed"
    write_file(da, pair("y", 200))
    assert reload(da) == "0 unchanged, 2 changed, 0 added, 0 removed"
    reloaded = time.time()
    assert config(da)["last_reload"]["changed"] == ["x", "y"]

    def on_y() -> bool:
        x, y = da.instance_status("x"), da.instance_status("y")
        return MOVED not in x["virtual_addresses"] and MOVED in y["virtual_addresses"] and y["state"] == "MASTER"

    wait_for(on_y, 5, message="a's y does not hold the moved VIP")
    wait_for(lambda: vip_holders([a, b], MOVED) == ["a"], 5, message="the moved VIP is not on a alone")

    def adverts_after(vrid: int) -> list[dict[str, Any]]:
        # Stamped 5 ms after vrrpctl answered: sent by the reloaded router, not on their way before it answered.
        return [x for x in observer.adverts(A_IP, vrid) if x["kernel_time"] > reloaded + 0.005 and x["priority"]]

    wait_for(lambda: adverts_after(54) and adverts_after(55), 5, message="x and y stopped advertising")
    assert all(ip(MOVED) in x["addresses"] for x in adverts_after(55)), "y's adverts do not list the moved VIP"
    assert all(ip(MOVED) not in x["addresses"] for x in adverts_after(54)), "x's adverts still list the moved VIP"

    # Neither instance flapped: b never advertised them, a never gave them up, nobody saw a transition.
    from_b = observer.adverts(B_IP, since=started)
    zeros = [x["vrid"] for x in observer.adverts(A_IP, since=started) if x["priority"] == 0]
    flapped = bool(from_b or zeros)
    assert not flapped, (
        f"x and y flapped in the reload: b advertised {len(from_b)} time(s) "
        f"({sorted({x['vrid'] for x in from_b})}), a sent priority 0 for VRIDs {sorted(set(zeros))}"
    )
    after = {(d.host.name, n): d.instance_status(n)["counters"]["transitions"] for d in (da, db) for n in "xy"}
    assert after == before, "an instance changed state in the reload"
