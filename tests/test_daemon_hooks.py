"""Daemon wiring of notify hooks and events, without sockets: a transition's protocol actions happen at once, its
hooks later, in order; a hanging hook never delays the next transition (issue #5 point 4). RFC 9568 §6.4.3: on
shutdown the priority-0 advert leaves before on_stop runs."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from daemoncase import Case, priorities, started, until

from vrrpd.config import parse_config
from vrrpd.daemon.status import instance_status
from vrrpd.protocol import State, TimerExpired
from vrrpd.services import hooks

SH, SLEEP = shutil.which("sh"), shutil.which("sleep")


async def make(notify: dict[str, Any]) -> Case:
    doc = {
        "control_socket": "/tmp/vrrpd-test-unused.sock",
        "instances": [
            {
                "name": "gw",
                "interface": "eth0",
                "vrid": 51,
                "priority": 200,
                "virtual_addresses": ["198.51.100.100/24"],
                "notify": notify,
            }
        ],
    }
    return await started(parse_config(yaml.safe_dump(doc)))


def test_hanging_hook_does_not_delay_the_next_transition_and_hooks_stay_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    notify = {
        "on_backup": [SH, "-c", f"echo backup >> {out}; exec {SLEEP} 60"],
        "on_master": [SH, "-c", f"echo master >> {out}"],
        "on_stop": [SH, "-c", f"echo stop >> {out}"],
        "timeout": 0.5,
    }

    async def body() -> None:
        case = await make(notify)  # started: the router has had its Startup event
        daemon, inst, tx = case.daemon, case.inst("gw"), case.sent("gw")
        runner = daemon.notifier.runners[0]
        assert inst.router.state is State.BACKUP
        await until(lambda: out.exists() and runner.current is not None)  # on_backup now hangs

        # The master-down timer fires while on_backup hangs: the router takes over and its advert leaves
        # within this very call, not after the hook.
        daemon.driver.feed(inst, TimerExpired(), now=1e9)
        assert inst.router.state is State.MASTER
        assert priorities(tx) == [200]
        assert runner.current is not None and runner.current[1] == "on_backup"
        assert runner.pending == 1  # on_master waits its turn

        await runner.drain()
        assert out.read_text().splitlines() == ["backup", "master"]
        hooks = instance_status(inst, 0.0, daemon.notifier)["hooks"]
        assert hooks["runs"] == 2 and hooks["timeouts"] == 1 and hooks["failures"] == 1

        # Shutdown: the priority-0 advert is sent before on_stop runs (the daemon stops the hooks' queue only
        # once the adverts are out and the VIPs removed).
        sent_at_stop: list[tuple[list[int], list[str]]] = []
        submit = runner.submit

        def spy(transition: Any) -> None:
            sent_at_stop.append((priorities(tx), out.read_text().splitlines()))
            submit(transition)

        monkeypatch.setattr(runner, "submit", spy)
        await case.stop()
        assert sent_at_stop == [([200, 0], ["backup", "master"])]
        assert out.read_text().splitlines() == ["backup", "master", "stop"]

        events = daemon.notifier.events.recent(10)
        assert [(e["seq"], e["old"], e["new"]) for e in events] == [
            (1, "INITIALIZE", "BACKUP"),
            (2, "BACKUP", "MASTER"),
            (3, "MASTER", "STOP"),
        ]
        assert events[1]["reason"] == "master down timer expired" and events[1]["priority"] == 200

    asyncio.run(body())


def test_stopping_with_a_saturated_hook_queue_still_runs_on_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown must never drop on_stop, however long the queue: here on_backup hangs and 100 transitions of a
    flapping instance wait behind it when the daemon is told to stop."""
    monkeypatch.setattr(hooks, "AHEAD_LIMIT", 0.3)
    out = tmp_path / "out"
    notify = {
        "on_backup": [SH, "-c", f"echo backup >> {out}; exec {SLEEP} 60"],
        "on_master": [SH, "-c", f"echo master >> {out}; exec {SLEEP} 60"],
        "on_stop": [SH, "-c", f"echo stop $VRRPD_OLD_STATE >> {out}"],
        "timeout": 60,
    }

    async def body() -> dict[str, Any]:
        case = await make(notify)
        daemon, inst = case.daemon, case.inst("gw")
        runner = daemon.notifier.runners[0]
        await until(lambda: out.exists() and runner.current is not None)  # on_backup hangs
        for _ in range(50):  # what a flapping instance leaves queued
            daemon.notifier.transition("instance", "gw", "BACKUP", "MASTER", "flap", 200)
            daemon.notifier.transition("instance", "gw", "MASTER", "BACKUP", "flap", 200)
        assert runner.pending == 100
        loop = asyncio.get_running_loop()
        started = loop.time()
        await case.stop()
        took = loop.time() - started
        assert took < hooks.SHUTDOWN_LIMIT, took
        assert inst.router.state is State.INITIALIZE
        return runner.counters

    counters = asyncio.run(body())
    assert out.read_text().splitlines() == ["backup", "stop BACKUP"]
    # The 100 waiting transitions and the hanging on_backup; on_stop ran and passed.
    assert (counters.cancelled, counters.runs, counters.failures) == (101, 1, 0)


def test_the_daemon_summarises_what_its_rate_limiter_suppressed_when_it_stops(caplog: pytest.LogCaptureFixture) -> None:
    """The daemon's rate limiter runs on its loop (a summary when a window ends) and is closed at stop, so a flood
    that ends with the daemon is summarised too (issue #13: the summary never appeared)."""

    async def body() -> None:
        case = await make({})
        ratelog = case.daemon.ratelog
        for i in range(12):
            ratelog.warning(("ttl", "eth0"), "bad advert %d", i)
        await case.stop()

    with caplog.at_level(logging.WARNING, logger="vrrpd"):
        asyncio.run(body())
    shown = [r.getMessage() for r in caplog.records if "bad advert" in r.getMessage() or "suppressed" in r.getMessage()]
    assert shown[:5] == [f"bad advert {i}" for i in range(5)]
    assert len(shown) == 6 and shown[5].startswith("7 similar messages suppressed (ttl eth0) within ")
