"""Start-up with a fault track script on a real kernel, vrrpd and keepalived 2.2.7 side by side (issue #12, rule 5).

A lone router (priority 200, adverts every 0.1 s: Master_Down_Interval about 0.36 s) tracks a script with
`on_failure: fault` (keepalived: weight 0) whose first run takes 1.5 s. keepalived keeps the instance in FAULT
until the script has reported (vrrp_track.c `initialise_track_script_state`, `num_script_init`; vrrp_scheduler.c
`vrrp_init_state`), so no advert and no VIP appear before then; then a failure keeps it in FAULT and a pass starts
it (Backup, Master after Master_Down_Interval, RFC 9568 §6.4.1). vrrpd used to become Master at 0.36 s and drop
the VIP when the check failed: a VIP flap at every start. An observer namespace records the adverts
(helpers/advert_sniffer.py), and the VIP on the router's eth0 is watched all along.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable

import pytest
from lab import Host, Lab, wait_for
from peers import Keepalived
from reload_lab import Observer
from vrrpd_runner import Vrrpd, instance

VIP = "198.51.100.100/24"
A_IP = "198.51.100.11"
FIRST_REPORT = 1.5
"""Seconds the check takes: nothing can have reported before the router has run this long."""


def check_script(lab: Lab, exit_status: int) -> str:
    """A check that answers after FIRST_REPORT seconds. Root-owned, not writable by others, in the lab's 0700
    workdir: keepalived's script security accepts it."""
    path = lab.workdir / f"check-{exit_status}.sh"
    path.write_text(f"#!/bin/sh\nsleep {FIRST_REPORT}\nexit {exit_status}\n")
    os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return str(path)


class KeepalivedWithScript(Keepalived):
    """keepalived with a `vrrp_script chk` (weight 0) tracked by its instance."""

    def __init__(self, host: Host, script: str) -> None:
        super().__init__(host, 51, 200, [VIP], advert_int=0.1, extra_instance_config=["track_script {", "    chk", "}"])
        self.script = script

    def config(self) -> str:
        block = f"vrrp_script chk {{\n    script {self.script}\n    interval 10\n    timeout 5\n    weight 0\n}}\n"
        return block + super().config()


class Router:
    """The router under test, either implementation: start it, and say whether its check has reported."""

    def __init__(self, lab: Lab, host: Host, impl: str, script: str) -> None:
        self.impl, self.host = impl, host
        if impl == "vrrpd":
            inst = instance(priority=200, track_scripts=[{"name": "chk", "on_failure": "fault"}])
            self.vrrpd = Vrrpd(host, [inst], track_scripts={"chk": {"command": [script], "interval": 10, "timeout": 5}})
        else:
            self.keepalived = KeepalivedWithScript(host, script)

    def start(self) -> float:
        """Start it; the time.monotonic() just before (the script cannot answer before this + FIRST_REPORT)."""
        started = time.monotonic()
        if self.impl == "vrrpd":
            self.vrrpd.start(wait=False)
        else:
            self.keepalived.start()
        return started

    def reported(self) -> bool:
        if self.impl == "vrrpd":
            try:
                trackers = self.vrrpd.instance_status()["trackers"]
            except Exception:  # not answering yet
                return False
            return next(t for t in trackers if t["name"] == "chk")["state"] != "unknown"
        return "VRRP_Script(chk)" in self.keepalived.log()

    def status(self) -> tuple[str | None, str | None]:
        """vrrpd: (state, fault reason); keepalived: (its last notified state, None)."""
        if self.impl == "vrrpd":
            status = self.vrrpd.instance_status()
            return status["state"], status["fault_reason"]
        return self.keepalived.state(), None


def watch_until_reported(router: Router, started: float) -> list[str]:
    """Poll the VIP on the router's eth0 until its check has reported; every time it was seen, described."""
    seen: list[str] = []

    def probe() -> bool:
        if VIP in router.host.addresses() and not seen:  # the first sighting says enough
            seen.append(f"VIP on eth0 {time.monotonic() - started:.2f}s after the start")
        return router.reported()

    wait_for(probe, 15, message=f"{router.impl}: the check never reported")
    if VIP in router.host.addresses():  # the last look, after the report: only the pass case may have it by now
        seen.append("VIP on eth0 when the report was seen")
    return seen


def run_start(lab: Lab, impl: str, exit_status: int) -> tuple[Router, Observer, float, list[str]]:
    a = lab.add_host("a", ipv4=f"{A_IP}/24")
    observer = Observer(lab.add_host("obs", ipv4="198.51.100.50/24"))
    router = Router(lab, a, impl, check_script(lab, exit_status))
    started = router.start()
    seen = watch_until_reported(router, started)
    return router, observer, started, seen


def early_adverts(observer: Observer, started: float) -> list[float]:
    """Adverts from the router sent before its check could have answered (seconds after the start)."""
    return [round(r["time"] - started, 2) for r in observer.adverts(src=A_IP) if r["time"] < started + FIRST_REPORT]


def hold(predicate: Callable[[], bool], seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), message
        time.sleep(0.05)


@pytest.mark.parametrize("impl", ["vrrpd", "keepalived"])
def test_a_failing_first_check_keeps_the_router_in_fault_without_a_vip_or_an_advert(lab: Lab, impl: str) -> None:
    """(a) and (c): FAULT from the start, never Master, no VIP and no advert, before the check answers and after."""
    router, observer, started, seen = run_start(lab, impl, exit_status=1)
    assert seen == [], f"{impl}: {seen}"
    reported = time.monotonic()
    assert reported - started >= FIRST_REPORT
    if impl == "vrrpd":
        assert router.status() == ("FAULT", "track script chk failed")
    hold(lambda: VIP not in router.host.addresses(), 1.5, f"{impl}: the VIP appeared after the check failed")
    assert observer.adverts(src=A_IP) == [], f"{impl} advertised"
    if impl == "keepalived":
        wait_for(lambda: router.keepalived.state() == "FAULT", 5, message="keepalived did not report FAULT")
        assert "MASTER" not in router.keepalived.transitions()


@pytest.mark.parametrize("impl", ["vrrpd", "keepalived"])
def test_a_passing_first_check_starts_the_router_only_then(lab: Lab, impl: str) -> None:
    """(a) and (b): no VIP and no advert before the check answers, then a normal start: Master after
    Master_Down_Interval (alone on the link), the VIP on eth0."""
    router, observer, started, seen = run_start(lab, impl, exit_status=0)
    assert [s for s in seen if "after the start" in s] == [], f"{impl}: {seen}"
    wait_for(lambda: VIP in router.host.addresses(), 5, message=f"{impl}: the VIP never came")
    wait_for(lambda: observer.adverts(src=A_IP), 5, message=f"{impl}: no advert")
    assert early_adverts(observer, started) == [], f"{impl} advertised before its check answered"
    if impl == "vrrpd":
        assert router.status() == ("MASTER", None)
    else:
        wait_for(lambda: router.keepalived.state() == "MASTER", 5, message="keepalived did not report MASTER")
