"""vrrpd.services.hooks: notify hooks run one at a time per instance, in transition order, each with a timeout, and
never make the state machine wait (issue #5 point 4; keepalived's notify scripts race each other). Real tiny
commands (sh, sleep)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from processes import gone

from vrrpd.config import parse_config
from vrrpd.config.hooks import HooksConfig
from vrrpd.services import hooks
from vrrpd.services.eventlog import EventLog
from vrrpd.services.hooks import HookRunner, HookSetupError, Notifier, Transition
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.scripts import resolve_user

SH, SLEEP = shutil.which("sh"), shutil.which("sleep")
assert SH and SLEEP


def recorder(out: Path, tag: str, hold: float = 0.0) -> tuple[str, ...]:
    """A hook that appends `tag start ARGS`, optionally sleeps, then appends `tag end` (argv, no shell parsing
    of ours: sh -c is the command the user would write)."""
    script = f'echo "$0 start $*" >> {out}; '
    if hold:
        script += f"{SLEEP} {hold}; "
    script += f'echo "$0 end" >> {out}'
    return (SH, "-c", script, tag)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def transition(new: str, seq: int, old: str = "BACKUP", priority: int = 100, name: str = "gw") -> Transition:
    return Transition("instance", name, old, new, f"test {seq}", priority, seq, (("VRRPD_VRID", "51"),))


def runner(config: HooksConfig, **kw) -> HookRunner:
    return HookRunner("instance", "gw", config, RateLimitedLogger(logging.getLogger("test.hooks")), grace=0.2, **kw)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_specific_hook_then_generic_notify_with_keepalived_arguments(tmp_path):
    """Issue #5 point 4: on_master runs first, then notify with INSTANCE NAME STATE PRIORITY appended."""
    out = tmp_path / "out"
    config = HooksConfig(
        on_master=recorder(out, "on_master"), on_backup=recorder(out, "on_backup"), notify=recorder(out, "notify")
    )

    async def body() -> HookRunner:
        r = runner(config)
        r.submit(transition("MASTER", 1, priority=150))
        await r.drain()
        await r.stop()
        return r

    r = asyncio.run(body())
    assert lines(out) == [
        "on_master start ",
        "on_master end",
        "notify start INSTANCE gw MASTER 150",
        "notify end",
    ]
    assert r.counters.runs == 2 and r.counters.failures == 0


def test_every_hook_gets_the_transition_in_its_environment(tmp_path):
    out = tmp_path / "env"
    names = (
        "VRRPD_HOOK VRRPD_KIND VRRPD_NAME VRRPD_STATE VRRPD_OLD_STATE VRRPD_PRIORITY VRRPD_REASON VRRPD_SEQ VRRPD_VRID"
    )
    dump = f'for v in {names}; do eval "echo $v=\\$$v"; done >> {out}; echo "NOTIFY_SOCKET=$NOTIFY_SOCKET" >> {out}'
    config = HooksConfig(on_fault=(SH, "-c", dump))

    async def body() -> None:
        r = runner(config, base_env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        r.submit(Transition("instance", "gw", "MASTER", "FAULT", "interface eth0 down", 90, 7, (("VRRPD_VRID", "51"),)))
        await r.drain()
        await r.stop()

    asyncio.run(body())
    assert lines(out) == [
        "VRRPD_HOOK=on_fault",
        "VRRPD_KIND=instance",
        "VRRPD_NAME=gw",
        "VRRPD_STATE=FAULT",
        "VRRPD_OLD_STATE=MASTER",
        "VRRPD_PRIORITY=90",
        "VRRPD_REASON=interface eth0 down",
        "VRRPD_SEQ=7",
        "VRRPD_VRID=51",
        "NOTIFY_SOCKET=",
    ]


def test_daemon_systemd_variables_are_not_inherited(monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("VRRPD_STATE", "stale")
    monkeypatch.setenv("KEEP_ME", "1")
    r = runner(HooksConfig(notify=("/bin/true",)))
    assert "NOTIFY_SOCKET" not in r.base_env and "VRRPD_STATE" not in r.base_env
    assert r.base_env["KEEP_ME"] == "1"


def test_two_quick_transitions_run_strictly_one_after_another_in_order(tmp_path):
    """The BACKUP hook of keepalived can finish after the MASTER hook that followed it; here it cannot."""
    out = tmp_path / "out"
    config = HooksConfig(
        on_master=recorder(out, "on_master", 0.2),
        on_backup=recorder(out, "on_backup", 0.3),
        notify=recorder(out, "notify", 0.1),
    )

    async def body() -> float:
        r = runner(config)
        started = time.monotonic()
        r.submit(transition("BACKUP", 1, old="INITIALIZE"))
        r.submit(transition("MASTER", 2))
        submitted = time.monotonic() - started
        assert r.pending == 2 or r.pending == 1  # queued, not run: submit never waits
        await r.drain()
        await r.stop()
        return submitted

    submitted = asyncio.run(body())
    assert submitted < 0.05, submitted
    assert lines(out) == [
        "on_backup start ",
        "on_backup end",
        "notify start INSTANCE gw BACKUP 100",
        "notify end",
        "on_master start ",
        "on_master end",
        "notify start INSTANCE gw MASTER 100",
        "notify end",
    ]


def test_timeout_kills_the_hooks_process_group_counts_and_logs_it(tmp_path, caplog):
    pids = tmp_path / "pids"
    out = tmp_path / "out"
    # The hook and a child in its group both sleep; both must be gone after the timeout.
    hang = (SH, "-c", f"{SLEEP} 60 & echo $$ $! > {pids}; wait")
    config = HooksConfig(on_master=hang, notify=recorder(out, "notify"), timeout=0.3)

    async def body() -> tuple[HookRunner, float]:
        r = runner(config)
        started = time.monotonic()
        r.submit(transition("MASTER", 1))
        await r.drain()
        took = time.monotonic() - started
        await r.stop()
        return r, took

    with caplog.at_level(logging.WARNING, logger="test.hooks"):
        r, took = asyncio.run(body())
    assert 0.3 <= took < 0.3 + 0.2 + 1.0, took
    for pid in map(int, pids.read_text().split()):
        assert gone(pid), pid
    assert (r.counters.runs, r.counters.failures, r.counters.timeouts) == (2, 1, 1)
    # The queue moved on: the generic notify still ran after the hanging on_master was killed.
    assert lines(out) == ["notify start INSTANCE gw MASTER 100", "notify end"]
    assert "instance gw: hook on_master (BACKUP -> MASTER, seq 1) failed: timed out after" in caplog.text
    assert r.status()["last_result"].startswith("exit status 0")


def test_failure_is_logged_with_its_output_and_counted(caplog):
    config = HooksConfig(on_backup=(SH, "-c", "echo cannot reach the load balancer >&2; exit 3"))

    async def body() -> HookRunner:
        r = runner(config)
        r.submit(transition("BACKUP", 4, old="MASTER"))
        await r.drain()
        await r.stop()
        return r

    with caplog.at_level(logging.WARNING, logger="test.hooks"):
        r = asyncio.run(body())
    assert (r.counters.runs, r.counters.failures, r.counters.timeouts) == (1, 1, 0)
    assert "hook on_backup (MASTER -> BACKUP, seq 4) failed: exit status 3" in caplog.text
    assert "output: cannot reach the load balancer" in caplog.text


def test_success_output_goes_to_the_log(caplog):
    config = HooksConfig(on_master=(SH, "-c", "echo moved the elastic IP"))

    async def body() -> None:
        r = runner(config)
        r.submit(transition("MASTER", 2))
        await r.drain()
        await r.stop()

    with caplog.at_level(logging.INFO, logger="vrrpd.services.hooks"):
        asyncio.run(body())
    assert "hook on_master (BACKUP -> MASTER, seq 2): exit status 0" in caplog.text
    assert "output: moved the elastic IP" in caplog.text


def test_a_hook_that_cannot_start_is_a_failure_and_the_queue_moves_on(tmp_path, caplog):
    out = tmp_path / "out"
    config = HooksConfig(on_master=("/nonexistent/hook",), notify=recorder(out, "notify"))

    async def body() -> HookRunner:
        r = runner(config)
        r.submit(transition("MASTER", 1))
        await r.drain()
        await r.stop()
        return r

    with caplog.at_level(logging.WARNING, logger="test.hooks"):
        r = asyncio.run(body())
    assert (r.counters.runs, r.counters.failures) == (2, 1)
    assert "hook on_master (BACKUP -> MASTER, seq 1) failed: cannot run: " in caplog.text
    assert "No such file" in caplog.text
    assert lines(out) == ["notify start INSTANCE gw MASTER 100", "notify end"]


def test_states_without_hooks_queue_nothing():
    async def body() -> HookRunner:
        r = runner(HooksConfig(on_master=("/bin/true",)))
        r.submit(transition("BACKUP", 1))
        r.submit(transition("FAULT", 2))
        assert r.pending == 0
        await r.stop()
        return r

    assert asyncio.run(body()).counters.runs == 0


def test_submit_never_waits_and_the_loop_stays_free_while_a_hook_hangs():
    """The state machine calls submit from its action handler: it must return at once, and the loop must keep
    running timers (10 ms ticker) while a hook hangs."""

    async def body() -> tuple[float, float]:
        r = runner(HooksConfig(on_master=(SLEEP, "60"), timeout=0.6))
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        for seq in range(1, 51):
            r.submit(transition("MASTER" if seq % 2 else "BACKUP", seq))
        submit_took = time.monotonic() - t0
        worst, last = 0.0, loop.time()
        end = last + 0.5
        while loop.time() < end:
            await asyncio.sleep(0.01)
            now = loop.time()
            worst, last = max(worst, now - last), now
        await r.stop()
        return submit_took, worst

    submit_took, worst = asyncio.run(body())
    assert submit_took < 0.05, submit_took
    assert worst < 0.1, worst


def test_a_pile_up_keeps_order_and_drops_only_the_oldest_waiting_beyond_the_bound(tmp_path, caplog):
    out = tmp_path / "out"
    config = HooksConfig(notify=(SH, "-c", f'echo "$3 $0" >> {out}; {SLEEP} 0.1', "x"))

    async def body() -> HookRunner:
        r = runner(config, max_pending=3)
        # seq 1 starts at once (the worker picks it up on its first turn); 2..6 wait, only 3 fit.
        r.submit(transition("MASTER", 1))
        await until(lambda: r.current is not None)
        for seq in range(2, 7):
            r.submit(transition("MASTER" if seq % 2 else "BACKUP", seq))
        assert r.pending == 3
        await r.drain()
        await r.stop()
        return r

    with caplog.at_level(logging.WARNING, logger="test.hooks"):
        r = asyncio.run(body())
    assert lines(out) == ["MASTER x", "BACKUP x", "MASTER x", "BACKUP x"]  # seq 1, then 4, 5, 6
    assert r.counters.dropped == 2
    assert "dropped the oldest waiting (seq 2" in caplog.text


def test_notifier_maps_shutdown_to_stop_numbers_events_and_runs_on_stop(tmp_path):
    out = tmp_path / "out"
    notify = {
        "on_stop": [SH, "-c", f"echo stop $VRRPD_INTERFACE $VRRPD_VIRTUAL_ADDRESSES >> {out}"],
        "notify": [SH, "-c", f'echo "$*" >> {out}', "n"],
    }
    inst = {"name": "gw", "interface": "eth0", "vrid": 51, "priority": 150, "virtual_addresses": ["198.51.100.1/24"]}
    cfg = parse_config(yaml.safe_dump({"instances": [{**inst, "notify": notify}]})).instances[0]

    async def body() -> tuple[Notifier, list[dict]]:
        n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")), EventLog(clock=lambda: 1_800_000_000.25))
        n.add_instance(cfg)
        events = [
            n.transition("instance", "gw", "INITIALIZE", "BACKUP", "started", 150),
            n.transition("instance", "gw", "BACKUP", "INITIALIZE", "shutdown", 150),
        ]
        await n.close(limit=5)
        return n, events

    n, events = asyncio.run(body())
    assert events[1] == {
        "type": "transition",
        "seq": 2,
        "time": "2027-01-15T08:00:00.250Z",
        "timestamp": 1_800_000_000.25,
        "kind": "instance",
        "name": "gw",
        "old": "BACKUP",
        "new": "STOP",
        "reason": "shutdown",
        "priority": 150,
        "vrid": 51,
        "interface": "eth0",
        "family": "IPv4",
    }
    assert lines(out) == ["INSTANCE gw BACKUP 150", "stop eth0 198.51.100.1/24", "INSTANCE gw STOP 150"]
    assert n.status("instance", "gw")["runs"] == 3


def test_shutdown_waits_for_on_stop_but_only_up_to_its_limit(tmp_path):
    pids = tmp_path / "pids"
    hang = (SH, "-c", f"{SLEEP} 60 & echo $! > {pids}; wait")
    config = HooksConfig(on_stop=hang, timeout=30)

    async def body() -> tuple[Notifier, float]:
        n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")), grace=0.2)
        n.add("instance", "gw", config)
        n.transition("instance", "gw", "MASTER", "INITIALIZE", "shutdown", 100)
        n.transition("instance", "gw", "MASTER", "INITIALIZE", "shutdown", 100)  # one more waits behind it
        started = time.monotonic()
        await n.close(limit=0.5)
        return n, time.monotonic() - started

    n, took = asyncio.run(body())
    assert 0.5 <= took < 2.0, took
    assert gone(int(pids.read_text().split()[0]))
    status = n.status("instance", "gw")
    assert status["cancelled"] == 2 and status["pending"] == 0 and status["running"] is None


def test_unknown_hook_user_is_a_setup_error():
    n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")))
    with pytest.raises(HookSetupError, match=r"instance gw: notify\.user: no such user 'nosuchuser-x'"):
        n.add("instance", "gw", HooksConfig(notify=("/bin/true",), user="nosuchuser-x"))


def test_instances_without_hooks_still_get_events():
    n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")))
    n.add("instance", "quiet", HooksConfig())
    event = n.transition("instance", "quiet", "INITIALIZE", "BACKUP", "started", 100)
    assert event["seq"] == 1 and event["new"] == "BACKUP"
    assert n.status("instance", "quiet") is None and n.runners == []


def test_recording_a_transition_never_raises_into_the_state_machine(caplog, monkeypatch):
    """It runs inside the daemon's action handling: an error here must not skip the actions that follow."""
    n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")))
    n.add("instance", "gw", HooksConfig(notify=("/bin/true",)))

    def broken(transition: Transition) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(n.runners[0], "submit", broken)
    with caplog.at_level(logging.ERROR, logger="vrrpd.services.hooks"):
        assert n.transition("instance", "gw", "BACKUP", "MASTER", "test", 100) is None
    assert "instance gw: cannot record the transition BACKUP -> MASTER" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_hooks_run_as_the_configured_user():
    async def body() -> HookRunner:
        n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")))
        n.add("instance", "gw", HooksConfig(on_master=("id", "-u"), user="nobody"))
        n.transition("instance", "gw", "BACKUP", "MASTER", "test", 100)
        (r,) = n.runners
        await r.drain()
        await r.stop()
        return r

    r = asyncio.run(body())
    assert r.last is not None and r.last.ok
    assert r.last.output.decode().strip() == str(resolve_user("nobody").uid)


def test_group_kind_gets_keepalived_group_arguments_and_events(tmp_path):
    """Ready for sync groups: keepalived passes GROUP NAME STATE 0 to a group's generic notify."""
    out = tmp_path / "out"

    async def body() -> dict:
        n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")))
        n.add("group", "G1", HooksConfig(notify=(SH, "-c", f'echo "$* $VRRPD_KIND" >> {out}', "n")))
        event = n.transition("group", "G1", "BACKUP", "MASTER", "members became master", 0)
        await n.close(limit=5)
        assert event is not None
        return event

    event = asyncio.run(body())
    assert (event["kind"], event["name"], event["new"], event["priority"]) == ("group", "G1", "MASTER", 0)
    assert lines(out) == ["GROUP G1 MASTER 0 group"]


def test_a_reload_that_changes_the_hooks_keeps_the_queue_and_each_transition_runs_its_own(tmp_path):
    """Issue #11: registering an instance again (a reload changed its notify) keeps its runner and queue; the
    transitions queued before run the hooks configured when they happened, later ones the new hooks; hooks taken
    away altogether leave no hooks entry in the status once the queue is done."""
    out = tmp_path / "out"
    old = HooksConfig(on_backup=recorder(out, "old", hold=0.3), on_master=recorder(out, "old"))
    new = HooksConfig(on_backup=recorder(out, "new"), on_master=recorder(out, "new"))

    async def body() -> None:
        n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")), grace=0.2)
        n.add("instance", "gw", old)
        runner = n.subjects[("instance", "gw")].runner
        n.transition("instance", "gw", "INITIALIZE", "BACKUP", "started", 100)
        n.transition("instance", "gw", "BACKUP", "MASTER", "timer", 100)
        await until(lambda: runner is not None and runner.current is not None)
        n.add("instance", "gw", new, {"vrid": 9})
        assert n.subjects[("instance", "gw")].runner is runner and runner.pending == 1
        n.transition("instance", "gw", "MASTER", "BACKUP", "higher priority", 100)
        assert runner is not None
        await runner.drain()
        assert [line for line in lines(out) if line.endswith(" end")] == ["old end", "old end", "new end"]
        assert n.events.recent(1)[0]["vrid"] == 9
        n.add("instance", "gw", HooksConfig())
        n.transition("instance", "gw", "BACKUP", "MASTER", "timer", 100)
        assert runner.idle and n.status("instance", "gw") is None and runner.counters.runs == 3
        await n.close()

    asyncio.run(body())


def test_a_hook_that_exits_leaving_a_child_on_its_output_does_not_hold_the_queue(tmp_path):
    """The issue's case for hooks: the hook's exit ends it, so the next transition's hooks run at once (they
    waited for the child's pipe, up to the timeout, before), and the child does not live on."""
    out, pidfile = tmp_path / "out", tmp_path / "child"
    config = HooksConfig(
        on_master=(SH, "-c", f"{SLEEP} 30 & echo $! > {pidfile}; echo master >> {out}"),
        on_backup=(SH, "-c", f"echo backup >> {out}"),
        timeout=20,
    )

    async def body() -> tuple[HookRunner, float]:
        r = runner(config)
        loop = asyncio.get_running_loop()
        started = loop.time()
        r.submit(transition("MASTER", 1))
        r.submit(transition("BACKUP", 2, old="MASTER"))
        await r.drain()
        took = loop.time() - started
        await r.stop()
        return r, took

    r, took = asyncio.run(body())
    assert lines(out) == ["master", "backup"]
    assert took < 20  # not the hook's timeout
    assert (r.counters.runs, r.counters.failures, r.counters.timeouts) == (2, 0, 0)
    assert gone(int(pidfile.read_text()))


def test_shutdown_never_loses_on_stop_behind_a_long_queue(tmp_path, caplog, monkeypatch):
    """100 transitions queued behind slow hooks, then the daemon stops: the waiting ones are dropped, the running
    one is killed after AHEAD_LIMIT, and on_stop (then the generic notify) runs, well within the limit."""
    monkeypatch.setattr(hooks, "AHEAD_LIMIT", 0.3)
    out = tmp_path / "out"
    slow = recorder(out, "slow", hold=30)
    config = HooksConfig(
        on_master=slow,
        on_backup=slow,
        on_stop=(SH, "-c", f"echo on_stop $VRRPD_SEQ >> {out}"),
        notify=(SH, "-c", f'echo "notify $*" >> {out}', "n"),
        timeout=60,
    )

    async def body() -> tuple[Notifier, float]:
        n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")), grace=0.2)
        n.add("instance", "gw", config)
        for i in range(100):
            n.transition("instance", "gw", "BACKUP", "MASTER" if i % 2 == 0 else "BACKUP", "flap", 100)
        n.transition("instance", "gw", "MASTER", "INITIALIZE", "shutdown", 100)
        runner_ = n.runners[0]
        await until(lambda: lines(out) == ["slow start "])
        assert runner_.pending == 100
        loop = asyncio.get_running_loop()
        started = loop.time()
        await n.close(limit=12)
        took = loop.time() - started
        # A transition after shutdown began (a tracker failing as it is killed) runs nothing.
        n.transition("instance", "gw", "MASTER", "FAULT", "late", 100)
        return n, took

    with caplog.at_level(logging.WARNING, logger="vrrpd.services.hooks"):
        n, took = asyncio.run(body())
    assert lines(out) == ["slow start ", "on_stop 101", "notify INSTANCE gw STOP 100"]
    assert took < 12, took  # the limit was never needed
    status = n.status("instance", "gw")
    # 99 dropped while waiting, the one killed, and the late one.
    assert status["cancelled"] == 101 and status["pending"] == 0 and status["running"] is None
    assert "hooks of seq 102 (FAULT) not run" in caplog.text
    assert "99 transition(s) still waiting for hooks after 0.3s dropped (seq 2 to 100)" in caplog.text
    assert "killed hook on_master (seq 1, BACKUP -> MASTER)" in caplog.text


def test_a_hook_that_ends_within_the_grace_at_shutdown_finishes_before_on_stop(tmp_path):
    out = tmp_path / "out"
    config = HooksConfig(on_master=recorder(out, "master", hold=0.3), on_stop=recorder(out, "stop"), timeout=10)

    async def body() -> Notifier:
        n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")), grace=0.2)
        n.add("instance", "gw", config)
        n.transition("instance", "gw", "BACKUP", "MASTER", "won", 100)
        await until(lambda: lines(out) != [])
        n.transition("instance", "gw", "MASTER", "INITIALIZE", "shutdown", 100)
        await n.close(limit=12)
        return n

    n = asyncio.run(body())
    assert [line.strip() for line in lines(out)] == ["master start", "master end", "stop start", "stop end"]
    status = n.status("instance", "gw")
    assert (status["runs"], status["failures"], status["cancelled"]) == (2, 0, 0)


def test_at_shutdown_quick_hooks_queued_ahead_of_on_stop_still_run_in_order(tmp_path):
    """Only what does not finish within AHEAD_LIMIT is cut: a short queue runs whole, in order, then on_stop."""
    out = tmp_path / "out"
    hook = (SH, "-c", f'echo "$VRRPD_HOOK $VRRPD_SEQ" >> {out}')
    config = HooksConfig(on_master=hook, on_backup=hook, on_stop=hook, timeout=10)

    async def body() -> Notifier:
        n = Notifier(RateLimitedLogger(logging.getLogger("test.hooks")), grace=0.2)
        n.add("instance", "gw", config)
        for i in range(6):
            n.transition("instance", "gw", "BACKUP", "MASTER" if i % 2 == 0 else "BACKUP", "flap", 100)
        n.transition("instance", "gw", "MASTER", "INITIALIZE", "shutdown", 100)
        await n.close(limit=12)
        return n

    n = asyncio.run(body())
    expected = [f"on_{'master' if i % 2 == 0 else 'backup'} {i + 1}" for i in range(6)] + ["on_stop 7"]
    assert lines(out) == expected
    assert n.status("instance", "gw")["cancelled"] == 0
