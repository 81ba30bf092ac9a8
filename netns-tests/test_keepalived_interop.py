"""vrrpd next to real keepalived 2.2.7 (VRRPv3) on one LAN: they agree on the master and fail over both ways."""

from __future__ import annotations

import time

import pytest
from lab import Lab, wait_for
from peers import Keepalived
from vrrpd_runner import Vrrpd, instance, vip_holders

VIPS = {"ipv4": "198.51.100.100/24", "ipv6": "2001:db8::100/64"}
INTERVAL = 0.1
# keepalived keeps µs precision, we keep float seconds: use a priority gap so rounding can never race.
HIGH, LOW = 200, 100


def pair(lab: Lab, family: str, ours_high: bool) -> tuple[Vrrpd, Keepalived, list]:
    vip = VIPS[family]
    ours = lab.add_host("ours", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    theirs = lab.add_host("ka", ipv4="198.51.100.12/24", ipv6="2001:db8::12/64")
    ka = Keepalived(theirs, vrid=51, priority=LOW if ours_high else HIGH, addresses=[vip], advert_int=INTERVAL)
    d = Vrrpd(ours, [instance(priority=HIGH if ours_high else LOW, addresses=[vip], advert_interval=INTERVAL)])
    return d, ka, [ours, theirs]


def agree(d: Vrrpd, ka: Keepalived, master_is_ours: bool) -> bool:
    expected = ("MASTER", "BACKUP") if master_is_ours else ("BACKUP", "MASTER")
    return (d.state(), ka.state()) == expected


@pytest.mark.parametrize("family", VIPS)
def test_vrrpd_master_keepalived_backup_and_failover_both_ways(lab, family):
    d, ka, hosts = pair(lab, family, ours_high=True)
    vip = VIPS[family]
    ka.start()
    wait_for(lambda: ka.state() == "MASTER", 5, message=f"keepalived alone never became master:\n{ka.log()}")
    d.start()
    # We preempt keepalived: it must hear our adverts (pseudo-header checksum, same VIP list) and back off.
    wait_for(lambda: agree(d, ka, True), 5, message=f"no agreement on vrrpd as master:\n{ka.log()[-3000:]}")
    wait_for(lambda: vip_holders(hosts, vip) == ["ours"], 3, message="VIP not on vrrpd alone")
    status = d.instance_status()
    assert status["counters"]["drops"] == {}, status["counters"]

    crashed = time.monotonic()
    d.crash()
    wait_for(lambda: ka.state() == "MASTER", 5, message="keepalived did not take over from crashed vrrpd")
    # keepalived's MDI at priority 100: 3 * 0.1 + 0.061 s; the margin covers its notify script and polling.
    assert time.monotonic() - crashed < 0.361 + 0.6

    restarted = Vrrpd(hosts[0], d.instances).start()
    wait_for(lambda: agree(restarted, ka, True), 5, message="vrrpd did not preempt keepalived back")
    wait_for(lambda: vip_holders(hosts, vip) == ["ours"], 3, message="VIP not back on vrrpd alone")

    # A graceful stop hands over after Skew_Time: keepalived must act on our priority-0 advert.
    stopped = time.monotonic()
    assert restarted.stop() == 0
    wait_for(lambda: ka.state() == "MASTER", 3)
    assert time.monotonic() - stopped < 0.361  # well under keepalived's Master_Down_Interval
    assert vip_holders(hosts, vip) == ["ka"]


@pytest.mark.parametrize("family", VIPS)
def test_keepalived_master_vrrpd_backup_and_failover_both_ways(lab, family):
    d, ka, hosts = pair(lab, family, ours_high=False)
    vip = VIPS[family]
    d.start()
    wait_for(lambda: d.state() == "MASTER", 5)
    ka.start()
    wait_for(lambda: agree(d, ka, False), 5, message=f"no agreement on keepalived as master:\n{ka.log()[-3000:]}")
    wait_for(lambda: vip_holders(hosts, vip) == ["ka"], 3, message="VIP not on keepalived alone")
    status = d.instance_status()
    assert status["master_priority"] == HIGH
    assert status["master_advert_interval"] == pytest.approx(INTERVAL)
    assert status["counters"]["drops"] == {}, status["counters"]
    # keepalived 2.2.7 uses the RFC 5798 pseudo-header form: we accept it without counting a message-only sum.
    assert status["counters"]["message_only_checksums"] == 0

    crashed = time.monotonic()
    ka.crash()
    wait_for(lambda: d.state() == "MASTER", 5, message="vrrpd did not take over from crashed keepalived")
    assert time.monotonic() - crashed < d.instance_status()["master_down_interval"] + 0.5

    ka.start()
    wait_for(lambda: agree(d, ka, False), 5, message=f"keepalived did not preempt back:\n{ka.log()[-3000:]}")
    wait_for(lambda: vip_holders(hosts, vip) == ["ka"], 3)

    # keepalived needs about 1 s to exit, but its priority-0 advert goes out first; so signal it without
    # waiting, and bound SIGTERM -> our takeover by Skew_Time plus a margin well below Master_Down_Interval.
    assert ka.proc is not None
    stopped = time.monotonic()
    ka.proc.terminate()
    wait_for(lambda: d.state() == "MASTER", 3)
    took = time.monotonic() - stopped
    skew = d.instance_status()["skew_time"]
    assert took < skew + 0.25
    assert ka.proc.wait(10) == 0
    assert d.instance_status()["counters"]["priority_zero_received"] >= 1
