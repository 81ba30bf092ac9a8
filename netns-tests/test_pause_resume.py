"""A backup that is paused (SIGSTOP: a stalled VM, a frozen cgroup, a debugger) must not take over on resume while
the master's adverts wait in its socket (issue #13).

During a pause of 500 ms at a 0.1 s interval the backup's Master_Down_Timer (3 x 0.1 s + Skew_Time ≈ 0.36 s) runs
out, but the master's adverts keep arriving in the backup's socket. On resume the timer and the socket are ready at
once; the adverts must be read before the timer may fire (RFC 9568 §6.4.2: an advert received resets
Master_Down_Timer), so the backup stays a backup: by its own status, by the master's (no lower-priority advert
heard), by its addresses, and on the wire (an observer, helpers/advert_sniffer.py, sees no advert from it). The
control: when the master is really gone (killed during the pause), the backup still takes over promptly after
resume.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

from lab import Lab, wait_for
from reload_lab import B_IP, Observer, hosts
from vrrpd_runner import Vrrpd, instance

VIP = "198.51.100.100/24"
INTERVAL = 0.1
PAUSE = 0.5
"""Longer than the backup's Master_Down_Interval (≈ 0.36 s): the timer is due on every resume."""
ROUNDS = 20


@contextlib.contextmanager
def paused(daemon: Vrrpd) -> Iterator[None]:
    """SIGSTOP the daemon (its own pid, nothing else) for the body; SIGCONT whatever happens."""
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)


def start_pair(lab: Lab) -> tuple[Vrrpd, Vrrpd, Observer]:
    a, b, obs = hosts(lab)
    observer = Observer(obs)
    master = Vrrpd(a, [instance(priority=200, addresses=[VIP], advert_interval=INTERVAL)]).start()
    wait_for(lambda: master.state() == "MASTER", 5, message="a never became master")
    backup = Vrrpd(b, [instance(priority=100, addresses=[VIP], advert_interval=INTERVAL)]).start()
    wait_for(lambda: backup.instance_status()["master_priority"] == 200, 5, message="b never heard a")
    return master, backup, observer


def received(daemon: Vrrpd) -> int:
    return int(daemon.instance_status()["counters"]["adverts_received"])


def test_a_paused_backup_does_not_take_over_on_resume_while_the_master_lives(lab: Lab) -> None:
    master, backup, observer = start_pair(lab)
    assert backup.state() == "BACKUP"
    master_transitions = master.instance_status()["counters"]["transitions"]
    mdi = backup.instance_status()["master_down_interval"]
    took_over, became = [], 0
    for round_ in range(ROUNDS):
        # The worst case is a pause that starts in the last interval before the Master_Down deadline the resume
        # set: the timer's wake-up (re-armed lazily, vrrpd.services.deadlines) then comes before the pause's first
        # advert, and on resume the timer is ready ahead of the socket. Each round starts its pause at another
        # point of that interval, counted from the previous resume.
        time.sleep(mdi - INTERVAL + INTERVAL * round_ / ROUNDS)
        before = received(backup)
        with paused(backup):
            time.sleep(PAUSE)  # the stimulus itself: how long the backup is frozen, not a wait for a condition
        # Once the resumed backup answers and has read the adverts queued while it was frozen, it has been past
        # its Master_Down deadline: a takeover, if any, has happened (and this is the next round's "resume").
        wait_for(lambda b=before: received(backup) >= b + 4, 5, message=f"round {round_}: b read no queued advert")
        counters = backup.instance_status()["counters"]
        if counters["became_master"] > became or VIP in backup.host.addresses():
            took_over.append(round_)
        became = counters["became_master"]
    status = backup.instance_status()
    assert took_over == [], f"b took over after resume in {len(took_over)} of {ROUNDS} rounds: {took_over}"
    assert status["state"] == "BACKUP"
    assert status["counters"]["became_master"] == 0
    assert VIP not in backup.host.addresses()
    # The master never heard a rival: no lower-priority advert, no transition of its own.
    mstatus = master.instance_status()
    assert mstatus["state"] == "MASTER"
    assert mstatus["counters"]["lower_priority_received"] == 0
    assert mstatus["counters"]["transitions"] == master_transitions
    assert observer.adverts(), "the observer saw no advert at all"
    assert observer.adverts(src=B_IP) == []


def test_a_paused_backup_takes_over_on_resume_when_the_master_died_meanwhile(lab: Lab) -> None:
    master, backup, _ = start_pair(lab)
    mdi = backup.instance_status()["master_down_interval"]
    with paused(backup):
        time.sleep(PAUSE / 2)  # the master's last adverts wait in b's socket...
        master.crash()  # ...then it dies, during the pause
        time.sleep(PAUSE / 2)
    resumed = time.monotonic()
    wait_for(lambda: backup.state() == "MASTER", 5, message="b did not take over after resume")
    took = time.monotonic() - resumed
    # The queued adverts count from the resume (their processing time), so at most one Master_Down_Interval
    # after it; the margin covers the status polling.
    assert took < mdi + 0.5, f"takeover {took:.3f}s after resume, Master_Down_Interval {mdi:.3f}s"
    wait_for(lambda: VIP in backup.host.addresses(), 5, message="the VIP never came to b")
